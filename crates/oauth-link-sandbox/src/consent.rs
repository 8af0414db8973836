//! Consent pages: rendering, outcomes, and dispatch for `/__sandbox/approve|deny`.

use std::collections::HashMap;

use axum::response::Response;
use http::{header, StatusCode};
use serde::Serialize;

use crate::config::Platform;
use crate::state::{esc, html_response, Inner};

/// What answering a consent page produced.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// A redirect (303 after a form POST, 307 for Junction's GET error redirects).
    Redirect { status: StatusCode, location: String },
    /// An HTML page.
    Page { status: StatusCode, html: String },
    /// A plain-text answer (Novu's `OAuth error: ...`).
    Text { status: StatusCode, body: String },
    /// A JSON answer (a platform's error DTO, e.g. Novu's callback refusing to create a record).
    Json { status: StatusCode, body: serde_json::Value },
}

impl Outcome {
    pub(crate) fn into_response(self) -> Response {
        match self {
            Outcome::Redirect { status, location } => {
                let mut r = Response::new(axum::body::Body::empty());
                *r.status_mut() = status;
                if let Ok(v) = http::HeaderValue::from_str(&location) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            Outcome::Page { status, html } => html_response(status, html),
            Outcome::Text { status, body } => {
                let mut r = Response::new(axum::body::Body::from(body));
                *r.status_mut() = status;
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain; charset=utf-8"));
                r
            }
            Outcome::Json { status, body } => crate::state::json_response(status, &body),
        }
    }

    pub(crate) fn into_result(self, platform: Platform, link_id: &str) -> ConsentResult {
        let (status, location, body) = match self {
            Outcome::Redirect { status, location } => (status, Some(location), None),
            Outcome::Page { status, html } => (status, None, Some(html)),
            Outcome::Text { status, body } => (status, None, Some(body)),
            Outcome::Json { status, body } => (status, None, Some(body.to_string())),
        };
        ConsentResult { platform, link_id: link_id.to_string(), status: status.as_u16(), location, body }
    }
}

/// The result of approving or denying a link without a browser (`POST /__sandbox/approve`,
/// [`crate::Sandbox::approve`]): what the browser would have received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentResult {
    /// Platform of the link (`alloy-headless`, `alloy-connectors`, `novu`, `junction`).
    pub platform: Platform,
    /// The link id (Junction: the link token).
    pub link_id: String,
    /// HTTP status the browser would get (303 for redirects).
    pub status: u16,
    /// The redirect `Location`, if any.
    pub location: Option<String>,
    /// The page or text body when there is no redirect.
    pub body: Option<String>,
}

/// Extra form fields posted by a consent page (Junction: `provider`, `username`, `password`,
/// `error_type`).
pub(crate) type Form = HashMap<String, String>;

/// Renders a consent page with the two stable forms `approve` and `deny`.
pub(crate) fn consent_page(
    platform: &str,
    id: &str,
    heading: &str,
    details: &[(&str, String)],
    approve_fields: &str,
) -> String {
    let rows: String =
        details.iter().map(|(k, v)| format!("<tr><th>{}</th><td>{}</td></tr>\n", esc(k), esc(v))).collect();
    let id_e = esc(id);
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{platform} sandbox consent</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:3em auto}}th{{text-align:left;padding-right:1em}}form{{display:inline-block;margin:1em 1em 0 0}}button{{font-size:1.1em;padding:.4em 1.2em}}</style>
</head>
<body>
<p><small>oauth-link sandbox &middot; {platform} &middot; link <code id="link-id">{id_e}</code></small></p>
<h1>{heading}</h1>
<table>
{rows}</table>
<form id="approve" method="post" action="{id_e}/approve">
{approve_fields}<button type="submit" id="approve-button">Approve</button>
</form>
<form id="deny" method="post" action="{id_e}/deny">
<button type="submit" id="deny-button">Deny</button>
</form>
</body>
</html>
"#,
        platform = esc(platform),
        heading = esc(heading),
    )
}

/// The page shown when there is nowhere to redirect to.
pub(crate) fn close_tab_page(status: StatusCode, message: &str) -> Outcome {
    Outcome::Page {
        status,
        html: format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>oauth-link sandbox</title></head>\n<body><p id=\"message\">{}</p>\n<script>window.close();</script></body></html>\n",
            esc(message)
        ),
    }
}

/// The page for an unknown, used or expired link.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Outcome {
    Outcome::Page {
        status,
        html: format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>oauth-link sandbox</title></head>\n<body><h1>Link not usable</h1><p id=\"error\">{}</p></body></html>\n",
            esc(message)
        ),
    }
}

/// Parses a consent link URL or bare id into (prefix hint, id).
pub(crate) fn parse_link_ref(link: &str) -> (Option<String>, String) {
    let path = match url::Url::parse(link) {
        Ok(u) => u.path().to_string(),
        Err(_) => link.split('?').next().unwrap_or(link).to_string(),
    };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if let Some(pos) = segs.iter().position(|s| *s == "consent") {
        if let Some(id) = segs.get(pos + 1) {
            let prefix = if pos >= 1 { Some(segs[pos - 1].to_string()) } else { None };
            return (prefix, (*id).to_string());
        }
    }
    (None, link.trim().to_string())
}

/// Approves or denies a link by URL or id, trying the platform named in the URL first.
pub(crate) fn resolve(s: &Inner, link: &str, approve: bool, form: &Form) -> Option<ConsentResult> {
    let (prefix, id) = parse_link_ref(link);
    // A Junction link_web_url may also carry the token as `?token=`.
    let id = if id.is_empty() {
        url::Url::parse(link)
            .ok()
            .and_then(|u| u.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()))
            .unwrap_or_default()
    } else {
        id
    };
    let order: Vec<&str> = match prefix.as_deref() {
        Some("novu") => vec!["novu", "alloy", "junction"],
        Some("junction") => vec!["junction", "alloy", "novu"],
        _ => vec!["alloy", "novu", "junction"],
    };
    let mut merged = form.clone();
    if let Ok(u) = url::Url::parse(link) {
        for (k, v) in u.query_pairs() {
            if k == "provider" {
                merged.entry(k.into_owned()).or_insert_with(|| v.into_owned());
            }
        }
    }
    for p in order {
        let r = match p {
            "alloy" => crate::alloy::complete(s, &id, approve).map(|(pl, o)| o.into_result(pl, &id)),
            "novu" => crate::novu::complete(s, &id, approve).map(|o| o.into_result(Platform::Novu, &id)),
            _ => crate::junction::complete(s, &id, approve, &merged).map(|o| o.into_result(Platform::Junction, &id)),
        };
        if r.is_some() {
            return r;
        }
    }
    None
}

/// Parses an `application/x-www-form-urlencoded` body (any content type accepted).
pub(crate) fn parse_form(body: &[u8]) -> Form {
    url::form_urlencoded::parse(body).into_owned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_refs_parse_from_urls_and_ids() {
        assert_eq!(
            parse_link_ref("http://127.0.0.1:9/novu/consent/abc?x=1"),
            (Some("novu".to_string()), "abc".to_string())
        );
        assert_eq!(
            parse_link_ref("http://h/sandbox/junction/consent/tok/approve"),
            (Some("junction".to_string()), "tok".to_string())
        );
        assert_eq!(parse_link_ref("abc"), (None, "abc".to_string()));
    }

    #[test]
    fn consent_page_has_stable_forms_and_escapes() {
        let html = consent_page("Novu", "i<d", "Hi & bye", &[("k", "<v>".into())], "");
        assert!(html.contains(r#"<form id="approve" method="post" action="i&lt;d/approve">"#));
        assert!(html.contains(r#"<form id="deny" method="post" action="i&lt;d/deny">"#));
        assert!(html.contains("&lt;v&gt;") && html.contains("Hi &amp; bye"));
    }
}
