//! Rule 6 of the redaction policy: a connection URL's password (a Redis URL, say) prints
//! as [`URL_MASK`], which stays valid inside a URL, and messages about the connection are
//! scrubbed of it.

use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// What a password prints as inside a redacted URL (URL-safe, unlike [`super::REDACTED`]).
pub const URL_MASK: &str = "***";
const MASK: &str = URL_MASK;

/// A connection URL split into a printable form and the secrets it held.
pub struct CredentialUrl {
    /// The URL with its password (userinfo or `pass=`/`password=` query value) replaced by
    /// [`URL_MASK`].
    pub redacted: String,
    /// Every form of the password found in the URL (as written and percent-decoded), so
    /// messages coming back from the Redis client can be scrubbed of it.
    secrets: Vec<SecretString>,
}

impl std::fmt::Debug for CredentialUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialUrl").field("redacted", &self.redacted).finish_non_exhaustive()
    }
}

impl CredentialUrl {
    /// Splits `url`; `None` when it is not a URL at all.
    pub fn parse(url: &str) -> Option<Self> {
        let mut parsed = Url::parse(url).ok()?;
        let mut secrets = Vec::new();
        if let Some(password) = parsed.password().filter(|p| !p.is_empty()).map(str::to_owned) {
            push_forms(&mut secrets, &password);
            // Cannot fail: a URL with a password has a host.
            let _ = parsed.set_password(Some(MASK));
        }
        if parsed.query().is_some() {
            let pairs: Vec<(String, String)> =
                parsed.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            let mut query = parsed.query_pairs_mut();
            query.clear();
            for (key, value) in pairs {
                if key == "pass" || key == "password" {
                    push_forms(&mut secrets, &value);
                    query.append_pair(&key, MASK);
                } else {
                    query.append_pair(&key, &value);
                }
            }
            drop(query);
        }
        // Anything the URL spelled oddly is scrubbed in its raw form too.
        if let Some(raw) = raw_userinfo_password(url) {
            push_forms(&mut secrets, raw);
        }
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose_secret().len()));
        Some(Self { redacted: parsed.to_string(), secrets })
    }

    /// `text` with every form of the password replaced by [`URL_MASK`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            let secret = secret.expose_secret();
            if !secret.is_empty() && out.contains(secret) {
                out = out.replace(secret, MASK);
            }
        }
        out
    }
}

fn push_forms(secrets: &mut Vec<SecretString>, value: &str) {
    for form in [value.to_owned(), percent_decode(value)] {
        if !form.is_empty() && !secrets.iter().any(|s| s.expose_secret() == form) {
            secrets.push(SecretString::from(form));
        }
    }
}

/// The password between `scheme://user:` and `@` exactly as written in `url`.
fn raw_userinfo_password(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    let password = &userinfo[userinfo.find(':')? + 1..];
    (!password.is_empty()).then_some(password)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b))) {
            (b'%', Some(hi), Some(lo)) => {
                // hi and lo are below 16, so the byte fits.
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_password_is_masked() {
        let url = CredentialUrl::parse("redis://:hunter2-secret@127.0.0.1:6380/2").unwrap();
        assert_eq!(url.redacted, "redis://:***@127.0.0.1:6380/2");
        assert_eq!(url.scrub("AUTH hunter2-secret failed"), "AUTH *** failed");
    }

    #[test]
    fn user_is_kept_and_encoded_password_is_scrubbed_in_both_forms() {
        let url = CredentialUrl::parse("redis://app:p%40ss%3Aword@localhost/").unwrap();
        assert_eq!(url.redacted, "redis://app:***@localhost/");
        assert_eq!(url.scrub("a p@ss:word b p%40ss%3Aword"), "a *** b ***");
    }

    #[test]
    fn unix_socket_query_password_is_masked() {
        let url = CredentialUrl::parse("redis+unix:///run/redis.sock?db=1&pass=sock-secret").unwrap();
        assert!(!url.redacted.contains("sock-secret"), "{}", url.redacted);
        assert!(url.redacted.contains("pass=***") && url.redacted.contains("db=1"), "{}", url.redacted);
        assert_eq!(url.scrub("x sock-secret"), "x ***");
    }

    #[test]
    fn urls_without_password_are_unchanged_and_nothing_is_scrubbed() {
        let url = CredentialUrl::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(url.redacted, "redis://127.0.0.1:6379");
        assert_eq!(url.scrub("connection refused"), "connection refused");
        assert!(CredentialUrl::parse("not a url").is_none());
    }

    #[test]
    fn percent_decoding_tolerates_malformed_escapes() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(raw_userinfo_password("redis://u:pw@h/x@y"), Some("pw"));
        assert_eq!(raw_userinfo_password("redis://h/x"), None);
    }
}
