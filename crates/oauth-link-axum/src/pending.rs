//! The links in progress, one private cookie each.
//!
//! A cookie `oauth_link_pending_<id>` holds, encrypted and authenticated (AES-256-GCM, its name as
//! associated data): the provider kind, the user who started the link, the target, the
//! signed state and when the link was issued. The browser sees an opaque value.

use axum::http::HeaderMap;
use axum_extra::extract::cookie::{Cookie, CookieJar, PrivateCookieJar, SameSite};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

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
    /// The signed state.
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
}

/// The link cookies a request carried.
pub(crate) struct Pending {
    /// Readable links, with their cookie names.
    pub(crate) links: Vec<(String, PendingLink)>,
    /// Names of link cookies that could not be decrypted or read (tampered with, from
    /// another key, or malformed).
    pub(crate) unreadable: Vec<String>,
}

/// How the router writes its cookies.
#[derive(Debug, Clone)]
pub(crate) struct CookiePolicy {
    pub(crate) secure: bool,
    pub(crate) max_links: usize,
}

impl Pending {
    pub(crate) fn read(headers: &HeaderMap, jar: &PrivateCookieJar) -> Self {
        let mut links = Vec::new();
        let mut unreadable = Vec::new();
        for cookie in CookieJar::from_headers(headers).iter() {
            let name = cookie.name();
            if !name.starts_with(COOKIE_PREFIX) {
                continue;
            }
            match jar.get(name).and_then(|c| serde_json::from_str::<PendingLink>(c.value()).ok()) {
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

    /// `cookie` with its value encrypted under `key`.
    pub(crate) fn encrypt(cookie: Cookie<'static>, key: &cookie::Key) -> Option<Cookie<'static>> {
        let name = cookie.name().to_owned();
        let mut jar = cookie::CookieJar::new();
        jar.private_mut(key).add(cookie);
        jar.get(&name).cloned()
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
