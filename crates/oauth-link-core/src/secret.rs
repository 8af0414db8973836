//! Secrets, and the one redaction policy of oauth-link.
//!
//! API keys, link tokens, authorization codes, link state and signing keys are each a
//! distinct type so they cannot be mixed up. None of them implements `Display` or
//! `PartialEq`; `Debug` prints `Name([redacted])`; the value is reachable only through
//! [`expose`](ApiKey::expose), which makes every place that reveals a secret easy to find.
//! The inner string is zeroed on drop (via `secrecy`).
//!
//! # Redaction policy
//!
//! No secret reaches `Debug`, `Display`, an error, a log or a kept record. Six rules, one
//! implementation each, masking with [`REDACTED`] (inside a URL, [`URL_MASK`]):
//!
//! 1. **Values oauth-link holds** are the types of this module: `Debug` prints
//!    `Name([redacted])`, `Serialize` writes `"[redacted]"` (a field that hands a secret to its
//!    owner opts in with [`serialize_exposed`]).
//! 2. **Text that may echo a value the caller knows** (a platform's message, a body excerpt):
//!    [`scrub`] replaces every occurrence of each such value. The HTTP client applies it
//!    to every error a call produces, with the sensitive header values the call sent
//!    ([`Error::scrubbed`](crate::Error::scrubbed)).
//! 3. **Records kept from a platform** lose every field, at any depth, whose *name* marks it
//!    secret, before anything else sees them: [`RawRecord::scrubbed`](crate::adapter::RawRecord::scrubbed)
//!    and [`RawRecord::from_scan`](crate::adapter::RawRecord::from_scan), given the adapter's predicate
//!    for those names.
//! 4. **URLs in logs** keep scheme, host and port only
//!    ([`redacted_url`](crate::adapter::redacted_url)): a link URL is a bearer credential.
//! 5. **Body text kept in an error** ([`excerpt`](crate::adapter::excerpt)) loses the value of every
//!    secret-named field ([`is_secret_field_name`]) by [`mask_secret_values`], which reads the
//!    text as written: a body cut short or garbled is no JSON, but its `"accessToken":"...`
//!    is still masked.
//!
//! 6. **Connection URLs** (a Redis URL) print with their password as [`URL_MASK`], which
//!    stays valid inside a URL, and messages about the connection lose it
//!    ([`CredentialUrl`]).

mod credentials;

pub use credentials::{CredentialUrl, URL_MASK};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// What a secret prints as.
pub const REDACTED: &str = "[redacted]";

macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(SecretString::from(value.into()))
            }

            /// Reveals the secret. Call it only where the value must leave the process
            /// (a request header, a URL the browser follows, a cookie).
            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }

            /// True when the secret is the empty string.
            pub fn is_empty(&self) -> bool {
                self.expose().is_empty()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({REDACTED})", stringify!($name))
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self::new(value)
            }
        }

        /// Serializes as `"[redacted]"`: a config or record that derives `Serialize` cannot
        /// leak the value. Fields meant to hand a secret to its owner opt in with
        /// [`serialize_exposed`].
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(REDACTED)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::new)
            }
        }
    };
}

secret_type!(
    /// A platform API key (Alloy bearer key, Novu secret key, Junction team key).
    ApiKey
);
secret_type!(
    /// A short-lived platform link token (e.g. Junction `link_token`).
    LinkToken
);
secret_type!(
    /// A single-use OAuth authorization code brought back by a redirect.
    AuthCode
);
secret_type!(
    /// The signed, single-use link state that ties a callback to the link that started it.
    StateToken
);
secret_type!(
    /// Key material used to sign or verify link state.
    SigningKey
);
secret_type!(
    /// An access or refresh token a platform returned (e.g. a Novu channel connection's token).
    AccessToken
);
secret_type!(
    /// A connection URL that may carry a password (e.g. `redis://:password@host`).
    SecretUrl
);

/// Serializes a secret in clear text. Use it with `#[serde(serialize_with = "...")]` only on
/// fields whose purpose is to hand the secret to its owner (e.g. [`Link::state`](crate::Link)).
pub fn serialize_exposed<S: Serializer>(secret: &StateToken, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose())
}

/// Replaces every occurrence of each secret in `text` with [`REDACTED`] (rule 2).
///
/// Used to scrub provider response bodies before they are kept in an error, since some
/// platforms echo request data back. Secrets shorter than 4 characters are left alone: they
/// would garble the text and are no real key.
///
/// An excerpt may cut a secret short: a start of one (4 characters or more) right before
/// the cut mark `…` is replaced too.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
        if out.contains('…') {
            out = mask_cut_secret(&out, secret);
        }
    }
    out
}

/// `text` with any start of `secret` (4 characters or more) that ends right at a `…`
/// replaced by [`REDACTED`].
fn mask_cut_secret(text: &str, secret: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('…') {
        let before = &rest[..at];
        let cut = (4..secret.len())
            .rev()
            .filter(|len| secret.is_char_boundary(*len))
            .find(|len| before.ends_with(&secret[..*len]));
        match cut {
            Some(len) => {
                out.push_str(&before[..before.len() - len]);
                out.push_str(REDACTED);
            }
            None => out.push_str(before),
        }
        out.push('…');
        rest = &rest[at + '…'.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// Field names that mark a secret, compared case-insensitively with `_` and `-` ignored:
/// any name ending in `token` or `secret` (`accessToken`, `refresh_token`, `id-token`,
/// `clientSecret`...) and the exact names `password`, `apikey`, `privatekey`, `code`,
/// `authorization`.
pub fn is_secret_field_name(name: &str) -> bool {
    // Compared byte by byte, folding as it goes: it runs on every key of every record.
    let folded = || name.bytes().filter(|b| !matches!(b, b'_' | b'-')).map(|b| b.to_ascii_lowercase());
    let ends_with = |end: &str| {
        let mut tail = folded().rev();
        end.bytes().rev().all(|b| tail.next() == Some(b))
    };
    ["token", "secret"].into_iter().any(ends_with)
        || ["password", "apikey", "privatekey", "code", "authorization"]
            .into_iter()
            .any(|word| folded().eq(word.bytes()))
}

/// `text` with the string value of every field whose name `is_secret` accepts replaced by
/// `"[redacted]"` (rule 5), at any depth, read as written: text cut short, garbled or not
/// JSON at all is masked as far as it goes, and a value cut off runs to the end.
pub fn mask_secret_values(text: &str, is_secret: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let (key, after) = split_string(rest);
        out.push_str(&rest[..rest.len() - after.len()]);
        rest = after;
        let Some(value) = rest.trim_start().strip_prefix(':').map(str::trim_start) else { continue };
        if !value.starts_with('"') || !is_secret(key.trim_end_matches('"')) {
            continue;
        }
        out.push_str(&rest[..rest.len() - value.len()]);
        out.push('"');
        out.push_str(REDACTED);
        out.push('"');
        rest = split_string(&value[1..]).1;
    }
    out.push_str(rest);
    out
}

/// Splits the text after an opening quote at the end of its JSON string: (the string with
/// its closing quote, what follows). Escapes are honoured; an unclosed string takes it all.
fn split_string(text: &str) -> (&str, &str) {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '"' if !escaped => return text.split_at(i + 1),
            _ => escaped = false,
        }
    }
    (text, "")
}

/// Whether a key at any depth of the JSON `text` is one `is_secret` accepts (rule 3).
///
/// Every occurrence counts, a repeated key's too: a `Value` keeps only the last of them, so
/// it cannot tell whether the text as written is clean. Text that is not JSON counts as
/// holding a secret.
pub(crate) fn has_secret_key(text: &str, is_secret: &impl Fn(&str) -> bool) -> bool {
    use serde::de::DeserializeSeed as _;
    let mut json = serde_json::Deserializer::from_str(text);
    KeyScan { is_secret, key: false }.deserialize(&mut json).unwrap_or(true)
}

/// Walks a JSON value: `true` when a map key is secret-looking. `key` marks the seed that
/// reads a map key (a string that counts) rather than a value (a string that does not).
struct KeyScan<'f, F> {
    is_secret: &'f F,
    key: bool,
}

impl<'de, F: Fn(&str) -> bool> serde::de::DeserializeSeed<'de> for KeyScan<'_, F> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, F: Fn(&str) -> bool> serde::de::Visitor<'de> for KeyScan<'_, F> {
    type Value = bool;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E>(self, text: &str) -> Result<bool, E> {
        Ok(self.key && (self.is_secret)(text))
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(inner) = items.next_element_seed(KeyScan { key: false, ..self })? {
            found |= inner;
        }
        Ok(found)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(secret_key) = map.next_key_seed(KeyScan { key: true, ..self })? {
            found |= secret_key | map.next_value_seed(KeyScan { key: false, ..self })?;
        }
        Ok(found)
    }
}

/// Removes every field whose name `is_secret` accepts, at any depth (rule 3).
pub(crate) fn remove_secret_fields(value: &mut Value, is_secret: &impl Fn(&str) -> bool) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !is_secret(k));
            map.values_mut().for_each(|v| remove_secret_fields(v, is_secret));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| remove_secret_fields(v, is_secret)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_cut_short_by_an_excerpt_is_masked() {
        let key = "sk_test_no_leak_1234567890";
        let body = format!("<html>{}{key}</html>", "x".repeat(240));
        let excerpt = crate::error::excerpt(body.as_bytes());
        assert!(excerpt.ends_with('…') && excerpt.contains("sk_test"), "the cut falls inside the key: {excerpt}");
        let scrubbed = scrub(&excerpt, &[key]);
        assert!(scrubbed.ends_with("[redacted]…") && !scrubbed.contains("sk_test"), "{scrubbed}");
        // A start shorter than 4 characters, or text that only looks alike, stays.
        assert_eq!(scrub("ab sk_…", &[key]), "ab sk_…");
        assert_eq!(scrub("sk_tesX…", &[key]), "sk_tesX…");
        assert_eq!(scrub("a sk_test… b sk_test_no… c", &[key]), "a [redacted]… b [redacted]… c");
    }

    #[test]
    fn secret_values_are_masked_in_text_cut_short_or_garbled() {
        let mask = |text: &str| mask_secret_values(text, is_secret_field_name);
        assert_eq!(
            mask(r#"{"auth":{"accessToken":"xoxb-1\"2","refresh_token" : "r-9"},"a":"token"}"#),
            r#"{"auth":{"accessToken":"[redacted]","refresh_token" : "[redacted]"},"a":"token"}"#
        );
        assert_eq!(
            mask(r#"{"data":[{"credentialId":"c1","accessToken":"at-secr"#),
            r#"{"data":[{"credentialId":"c1","accessToken":"[redacted]""#
        );
        assert_eq!(mask(r#"<html>"clientSecret": "cs-1" x</html>"#), r#"<html>"clientSecret": "[redacted]" x</html>"#);
        for untouched in
            [r#""accessToken" is missing"#, r#"{"accessToken":null}"#, r#"{"statusCode":401,"message":"no"}"#, "\"", ""]
        {
            assert_eq!(mask(untouched), untouched);
        }
        assert!(is_secret_field_name("id-token") && is_secret_field_name("API_KEY") && is_secret_field_name("code"));
        assert!(!is_secret_field_name("credentialId") && !is_secret_field_name("statusCode"));
        // Folding byte by byte reads as folding the whole name first would.
        let folded_first = |name: &str| {
            let folded: String =
                name.chars().filter(|c| !matches!(c, '_' | '-')).map(|c| c.to_ascii_lowercase()).collect();
            ["token", "secret"].iter().any(|end| folded.ends_with(end))
                || ["password", "apikey", "privatekey", "code", "authorization"].contains(&folded.as_str())
        };
        for name in [
            "",
            "t",
            "token",
            "Token",
            "accessToken",
            "refresh_token",
            "id-token",
            "TOKENS",
            "tokenType",
            "secret",
            "client-Secret",
            "_secret_",
            "secretName",
            "password",
            "pass_word",
            "passwords",
            "apiKey",
            "api-key",
            "API_KEY",
            "privateKey",
            "code",
            "CODE",
            "zipcode",
            "codes",
            "authorization",
            "Authorization_",
            "é_token",
            "tokén",
            "日本token",
            "sécret",
            "-",
            "__",
            "ok",
        ] {
            assert_eq!(is_secret_field_name(name), folded_first(name), "{name:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_value() {
        let key = ApiKey::new("sk_live_supersecret");
        let token = LinkToken::new("lt_supersecret");
        let code = AuthCode::new("code-supersecret");
        let state = StateToken::new("v1.state.supersecret");
        let printed = format!("{key:?} {token:?} {code:?} {state:?} {:?}", SigningKey::new("k"));
        assert!(!printed.contains("supersecret"), "{printed}");
        assert_eq!(format!("{key:?}"), "ApiKey([redacted])");
    }

    #[test]
    fn serialize_redacts_unless_asked() {
        #[derive(Serialize)]
        struct Config {
            api_key: ApiKey,
            #[serde(serialize_with = "serialize_exposed")]
            state: StateToken,
        }
        let json = serde_json::to_string(&Config { api_key: "sk_123".into(), state: "st_456".into() }).unwrap();
        assert_eq!(json, r#"{"api_key":"[redacted]","state":"st_456"}"#);
    }

    #[test]
    fn expose_returns_the_value() {
        assert_eq!(ApiKey::new("abc").expose(), "abc");
        assert!(ApiKey::new("").is_empty());
    }

    #[test]
    fn scrub_removes_secrets_but_ignores_tiny_ones() {
        let body = r#"{"message":"bad key sk_live_123 for a"}"#;
        assert_eq!(scrub(body, &["sk_live_123", "a"]), r#"{"message":"bad key [redacted] for a"}"#);
    }
}
