//! What the demo keeps in the browser: signed, HttpOnly, SameSite=Lax cookies.
//!
//! A cookie value is `base64url(json).base64url(HMAC-SHA256(name "=" base64url(json)))`:
//! the MAC covers the cookie's name too, so one cookie cannot be passed off as another.
//! The key is random per process: cookies from an earlier run are simply refused.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Name of the cookie holding the link in progress.
pub(crate) const LINK_COOKIE: &str = "oauth_link_demo_link";
/// Name of the cookie holding a one-time message for the next page.
pub(crate) const FLASH_COOKIE: &str = "oauth_link_demo_flash";

/// The link in progress, bound to the provider kind that issued it.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct PendingLink {
    /// Provider kind.
    pub(crate) provider: String,
    /// The signed link state (itself HMAC-signed by oauth-link).
    pub(crate) state: String,
    /// The user the link is for.
    pub(crate) user: String,
    /// What is being connected.
    pub(crate) target: String,
}

impl std::fmt::Debug for PendingLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLink")
            .field("provider", &self.provider)
            .field("state", &"[redacted]")
            .field("user", &self.user)
            .field("target", &self.target)
            .finish()
    }
}

/// A one-time message shown on the next page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Flash {
    /// `ok` or `info`.
    pub(crate) level: String,
    /// The text (escaped when rendered).
    pub(crate) text: String,
}

/// Signs and reads the demo's cookies.
#[derive(Clone)]
pub(crate) struct CookieJar {
    key: [u8; 32],
}

impl std::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieJar([redacted])")
    }
}

/// What reading a cookie found.
#[derive(Debug)]
pub(crate) enum Read<T> {
    /// No such cookie.
    Absent,
    /// A cookie this process signed.
    Valid(T),
    /// A cookie that is malformed, tampered with, or from another run of the demo.
    Invalid,
}

impl CookieJar {
    /// A jar with a fresh random key.
    pub(crate) fn random() -> Self {
        Self { key: rand::random() }
    }

    fn mac(&self, name: &str, payload: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(name.as_bytes());
        mac.update(b"=");
        mac.update(payload.as_bytes());
        mac
    }

    /// The `Set-Cookie` value that stores `value` under `name` for `max_age`.
    pub(crate) fn set<T: Serialize>(&self, name: &str, value: &T, max_age: Duration) -> String {
        let json = serde_json::to_vec(value).unwrap_or_default();
        let payload = B64.encode(json);
        let tag = B64.encode(self.mac(name, &payload).finalize().into_bytes());
        format!("{name}={payload}.{tag}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax", max_age.as_secs().max(1))
    }

    /// The `Set-Cookie` value that removes `name`.
    pub(crate) fn clear(name: &str) -> String {
        format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
    }

    /// Reads and verifies `name` from the request's `Cookie` headers.
    pub(crate) fn read<T: for<'de> Deserialize<'de>>(&self, headers: &axum::http::HeaderMap, name: &str) -> Read<T> {
        let Some(raw) = find_cookie(headers, name) else {
            return Read::Absent;
        };
        let Some((payload, tag)) = raw.split_once('.') else {
            return Read::Invalid;
        };
        let Ok(tag) = B64.decode(tag) else {
            return Read::Invalid;
        };
        if self.mac(name, payload).verify_slice(&tag).is_err() {
            return Read::Invalid;
        }
        match B64.decode(payload).ok().and_then(|json| serde_json::from_slice(&json).ok()) {
            Some(value) => Read::Valid(value),
            None => Read::Invalid,
        }
    }
}

/// The value of cookie `name` (the first one, across every `Cookie` header).
fn find_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        h
    }

    fn value_of(set_cookie: &str) -> &str {
        set_cookie.split(';').next().unwrap()
    }

    #[test]
    fn roundtrip_tamper_and_foreign_keys() {
        let jar = CookieJar::random();
        let link =
            PendingLink { provider: "novu".into(), state: "v1.x.y".into(), user: "u".into(), target: "slack".into() };
        let set = jar.set(LINK_COOKIE, &link, Duration::from_secs(600));
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Max-Age=600"), "{set}");
        let h = headers(&format!("other=1; {}", value_of(&set)));
        match jar.read::<PendingLink>(&h, LINK_COOKIE) {
            Read::Valid(back) => assert_eq!((back.provider.as_str(), back.state.as_str()), ("novu", "v1.x.y")),
            other => panic!("expected a valid cookie, got {other:?}"),
        }
        // Another process's key, a flipped character, the same value under another name.
        assert!(matches!(CookieJar::random().read::<PendingLink>(&h, LINK_COOKIE), Read::Invalid));
        let mut flipped = value_of(&set).to_owned().into_bytes();
        let at = LINK_COOKIE.len() + 3;
        flipped[at] = if flipped[at] == b'A' { b'B' } else { b'A' };
        let h2 = headers(std::str::from_utf8(&flipped).unwrap());
        assert!(matches!(jar.read::<PendingLink>(&h2, LINK_COOKIE), Read::Invalid));
        let renamed = value_of(&set).replacen(LINK_COOKIE, FLASH_COOKIE, 1);
        assert!(matches!(jar.read::<Flash>(&headers(&renamed), FLASH_COOKIE), Read::Invalid));
        assert!(matches!(jar.read::<Flash>(&headers("a=b"), FLASH_COOKIE), Read::Absent));
        assert!(CookieJar::clear(LINK_COOKIE).contains("Max-Age=0"));
        assert!(!format!("{link:?}").contains("v1.x.y"));
    }
}
