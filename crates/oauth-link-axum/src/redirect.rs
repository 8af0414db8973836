//! Where the browser goes after a callback: only addresses the app configured.

use url::Url;

use crate::BuildError;

/// A success or failure address, checked when the router is built: an absolute `http(s)`
/// URL, or a same-origin path (one leading `/`, not `//`, no backslash, no control
/// character or space, no fragment). Nothing a request carries can change it: the router
/// only appends its own query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ReturnUrl {
    Absolute(Url),
    Path(String),
}

impl ReturnUrl {
    pub(crate) fn parse(which: &'static str, text: &str) -> Result<Self, BuildError> {
        let refuse = |reason: &str| BuildError::UnsafeReturnUrl { which, reason: reason.to_owned() };
        if text.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
            return Err(refuse("contains a space, a control character or a backslash"));
        }
        if text.contains('#') {
            return Err(refuse("contains a #fragment"));
        }
        if text.starts_with('/') {
            if text.starts_with("//") {
                return Err(refuse("starts with `//` (another host)"));
            }
            return Ok(ReturnUrl::Path(text.to_owned()));
        }
        let url = Url::parse(text).map_err(|_| refuse("is neither a path starting with `/` nor an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(refuse("must be an http(s) URL with a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry a user name or password"));
        }
        Ok(ReturnUrl::Absolute(url))
    }

    /// The address with `pairs` appended to its query.
    pub(crate) fn with_query(&self, pairs: &[(&str, &str)]) -> String {
        match self {
            ReturnUrl::Absolute(url) => {
                let mut url = url.clone();
                url.query_pairs_mut().extend_pairs(pairs);
                url.into()
            }
            ReturnUrl::Path(path) => {
                let mut out = path.clone();
                if !pairs.is_empty() {
                    out.push(match path.split_once('?') {
                        None => '?',
                        Some((_, "")) => '\0',
                        Some(_) => '&',
                    });
                    out.retain(|c| c != '\0');
                    out.push_str(&url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish());
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_absolute_urls_and_same_origin_paths() {
        for ok in ["/done", "/done?x=1", "https://app.example/done", "http://localhost:3000/x"] {
            assert!(ReturnUrl::parse("success_url", ok).is_ok(), "{ok}");
        }
        for bad in [
            "//evil.example/x",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "data:text/html,x",
            "evil.example/x",
            "https://user:pw@app.example/",
            "/done#frag",
            "/ done",
            "/done\n",
            "",
            "ftp://app.example/",
        ] {
            assert!(ReturnUrl::parse("success_url", bad).is_err(), "{bad:?} accepted");
        }
        let path = ReturnUrl::parse("s", "/done").unwrap();
        assert_eq!(path.with_query(&[("a", "1 2"), ("b", "&")]), "/done?a=1+2&b=%26");
        assert_eq!(ReturnUrl::parse("s", "/d?x=1").unwrap().with_query(&[("a", "1")]), "/d?x=1&a=1");
        assert_eq!(ReturnUrl::parse("s", "/d?").unwrap().with_query(&[("a", "1")]), "/d?a=1");
        let abs = ReturnUrl::parse("s", "https://app.example/d").unwrap();
        assert_eq!(abs.with_query(&[("a", "1")]), "https://app.example/d?a=1");
    }
}
