//! Redacting wrappers for every secret oauth-link handles.
//!
//! API keys, link tokens, authorization codes, link state and signing keys are each a
//! distinct type so they cannot be mixed up. None of them implements `Display` or
//! `PartialEq`; `Debug` prints `Name([redacted])`; the value is reachable only through
//! [`expose`](ApiKey::expose), which makes every place that reveals a secret easy to find.
//! The inner string is zeroed on drop (via `secrecy`).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
                f.write_str(concat!(stringify!($name), "([redacted])"))
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

/// Replaces every occurrence of each secret in `text` with `[redacted]`.
///
/// Used to scrub provider response bodies before they are kept in an error, since some
/// platforms echo request data back.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        if out.contains(secret) {
            out = out.replace(secret, "[redacted]");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
