//! The links in progress, one private cookie each.
//!
//! A cookie `oauth_link_pending_<id>` holds, sealed with the [`CookieKey`]
//! (AES-256-GCM-SIV, its name as associated data, base64url): the provider kind, the user
//! who started the link, the target, the sealed state and when the link was issued. The
//! browser sees an opaque value, and a value moved to another cookie's name does not open.

use axum::http::{header, HeaderMap};
use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::key::CookieKey;

/// Prefix of the link cookies' names.
pub(crate) const COOKIE_PREFIX: &str = "oauth_link_pending_";

/// A link in progress, as its cookie holds it.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct PendingLink {
    /// Provider kind.
    pub(crate) p: String,
    /// The app's user id of whoever started the link.
    pub(crate) u: String,
    /// Target.
    pub(crate) t: String,
    /// The sealed state.
    pub(crate) s: String,
    /// Issued at, Unix nanoseconds (orders the cookies: eviction, newest hosted link).
    pub(crate) i: i64,
}

impl std::fmt::Debug for PendingLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLink")
            .field("provider", &self.p)
            .field("user", &self.u)
            .field("target", &self.t)
            .field("state", &"[redacted]")
            .finish_non_exhaustive()
    }
}

impl PendingLink {
    /// True when `state` is this link's state (constant time).
    pub(crate) fn has_state(&self, state: &str) -> bool {
        bool::from(self.s.as_bytes().ct_eq(state.as_bytes()))
    }

    /// This link sealed as the value of the cookie `name`.
    pub(crate) fn seal(&self, key: &CookieKey, name: &str) -> String {
        // Serializing plain strings and an integer cannot fail.
        key.seal(name, &serde_json::to_vec(self).unwrap_or_default())
    }

    /// The link the cookie `name` holds, when `value` opens under `key` for that name.
    pub(crate) fn open(key: &CookieKey, name: &str, value: &str) -> Option<Self> {
        serde_json::from_slice(&key.open(name, value)?).ok()
    }
}

/// The link cookies a request carried.
pub(crate) struct Pending {
    /// Readable links, with their cookie names.
    pub(crate) links: Vec<(String, PendingLink)>,
    /// Names of link cookies that could not be opened or read (tampered with, from another
    /// key or cookie, or malformed).
    pub(crate) unreadable: Vec<String>,
}

/// How the router writes its cookies.
#[derive(Debug, Clone)]
pub(crate) struct CookiePolicy {
    pub(crate) secure: bool,
    pub(crate) max_links: usize,
}

impl Pending {
    /// The link cookies in `headers`' `Cookie` lines, opened with `key`. A name sent twice
    /// counts once, as the browser sent it first (the most specific path).
    pub(crate) fn read(headers: &HeaderMap, key: &CookieKey) -> Self {
        let mut links: Vec<(String, PendingLink)> = Vec::new();
        let mut unreadable: Vec<String> = Vec::new();
        let lines = headers.get_all(header::COOKIE).into_iter().filter_map(|v| v.to_str().ok());
        for cookie in lines.flat_map(Cookie::split_parse).flatten() {
            let name = cookie.name();
            let seen = || links.iter().any(|(n, _)| n == name) || unreadable.iter().any(|n| n == name);
            if !name.starts_with(COOKIE_PREFIX) || seen() {
                continue;
            }
            match PendingLink::open(key, name, cookie.value()) {
                Some(link) => links.push((name.to_owned(), link)),
                None => unreadable.push(name.to_owned()),
            }
        }
        links.sort_by_key(|(_, l)| l.i);
        Self { links, unreadable }
    }
}

impl CookiePolicy {
    /// A cookie carrying `value` under `name`, scoped to `path`, living `max_age` seconds.
    pub(crate) fn cookie(&self, name: String, value: String, path: &str, max_age: i64) -> Cookie<'static> {
        Cookie::build((name, value))
            .path(path.to_owned())
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(cookie::time::Duration::seconds(max_age.max(1)))
            .build()
    }

    /// The cookie that deletes `name` (same path, so the browser matches it).
    pub(crate) fn removal(&self, name: &str, path: &str) -> Cookie<'static> {
        let mut cookie = Cookie::build((name.to_owned(), ""))
            .path(path.to_owned())
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .build();
        cookie.make_removal();
        cookie
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_state() {
        let link = PendingLink { p: "novu".into(), u: "ada".into(), t: "slack".into(), s: "v1.secret".into(), i: 1 };
        let text = format!("{link:?}");
        assert!(!text.contains("v1.secret") && text.contains("ada"), "{text}");
        assert!(link.has_state("v1.secret") && !link.has_state("v1.secreT"));
    }
}
