//! The key that encrypts and authenticates the link cookies.

use axum_extra::extract::cookie::Key;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::BuildError;

/// Environment variable holding the cookie key: at least 64 bytes, hex or base64 encoded.
pub const COOKIE_KEY_ENV: &str = "OAUTH_LINK_AXUM_COOKIE_KEY";

/// Environment variable of the state secret (the facade's `OAUTH_LINK_STATE_SECRET`), from
/// which [`CookieKey::from_env_or_state_secret`] derives a key in development.
pub const STATE_SECRET_ENV: &str = "OAUTH_LINK_STATE_SECRET";

/// Bytes a cookie key needs: 32 to authenticate, 32 to encrypt (AES-256-GCM).
pub const COOKIE_KEY_LEN: usize = 64;

/// Shortest secret [`CookieKey::derive_from`] accepts.
pub const MIN_MASTER_LEN: usize = 32;

/// The key of the router's private cookies (AES-256-GCM, the cookie's name authenticated
/// with its value), so the browser can neither read nor alter what a link cookie holds.
///
/// Where it comes from, best first:
/// - [`CookieKey::from_env`]: `OAUTH_LINK_AXUM_COOKIE_KEY`, 64 random bytes or more (hex or
///   base64). Every instance of the app must share it; rotating it forgets links in
///   progress (their users start again).
/// - [`CookieKey::derive_from`] / [`CookieKey::from_env_or_state_secret`]: derived from the
///   state secret with HMAC-SHA256 under a fixed label. Convenient in development: one
///   secret less to configure. The two secrets then rotate together; give production its
///   own cookie key.
/// - [`CookieKey::generate`]: random per process (demos, tests): links do not survive a
///   restart and are not shared between instances.
///
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct CookieKey(pub(crate) Key);

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey([redacted])")
    }
}

impl CookieKey {
    /// A key from raw bytes (at least [`COOKIE_KEY_LEN`]; the first 64 are used).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BuildError> {
        Key::try_from(bytes)
            .map(Self)
            .map_err(|_| BuildError::CookieKey { reason: too_short("the cookie key", bytes.len(), COOKIE_KEY_LEN) })
    }

    /// A key from its text form: hex (128 characters or more) or base64 (standard or
    /// URL-safe, padded or not), 64 bytes or more once decoded.
    pub fn from_text(text: &str) -> Result<Self, BuildError> {
        let text = text.trim();
        let bytes = decode_hex(text)
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .or_else(|| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text).ok())
            .or_else(|| base64::engine::general_purpose::URL_SAFE.decode(text).ok())
            .or_else(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok())
            .ok_or_else(|| BuildError::CookieKey {
                reason: format!("{COOKIE_KEY_ENV} is neither hex nor base64; generate one with `openssl rand -hex 64`"),
            })?;
        Self::from_bytes(&bytes)
    }

    /// The key in `OAUTH_LINK_AXUM_COOKIE_KEY`.
    pub fn from_env() -> Result<Self, BuildError> {
        match std::env::var(COOKIE_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::from_text(&text),
            _ => Err(BuildError::CookieKey {
                reason: format!("{COOKIE_KEY_ENV} is not set; generate one with `openssl rand -hex 64`"),
            }),
        }
    }

    /// `OAUTH_LINK_AXUM_COOKIE_KEY` when set, else a key derived from
    /// `OAUTH_LINK_STATE_SECRET` (see [`CookieKey::derive_from`]).
    pub fn from_env_or_state_secret() -> Result<Self, BuildError> {
        match std::env::var(COOKIE_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::from_text(&text),
            _ => match std::env::var(STATE_SECRET_ENV) {
                Ok(secret) if !secret.is_empty() => Self::derive_from(secret.as_bytes()),
                _ => Err(BuildError::CookieKey {
                    reason: format!("neither {COOKIE_KEY_ENV} nor {STATE_SECRET_ENV} is set"),
                }),
            },
        }
    }

    /// A key derived from a secret of at least [`MIN_MASTER_LEN`] bytes (e.g. the state
    /// secret): `HMAC-SHA256(secret, label || 1) || HMAC-SHA256(secret, label || 2)`. The
    /// label keeps it distinct from every other use of the secret.
    pub fn derive_from(secret: &[u8]) -> Result<Self, BuildError> {
        if secret.len() < MIN_MASTER_LEN {
            return Err(BuildError::CookieKey {
                reason: too_short("the secret to derive the cookie key from", secret.len(), MIN_MASTER_LEN),
            });
        }
        let mut bytes = Vec::with_capacity(COOKIE_KEY_LEN);
        for block in [1u8, 2] {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
                .map_err(|_| BuildError::CookieKey { reason: "unusable secret".into() })?;
            mac.update(b"oauth-link-axum cookie key v1");
            mac.update(&[block]);
            bytes.extend_from_slice(&mac.finalize().into_bytes());
        }
        Self::from_bytes(&bytes)
    }

    /// A fresh random key (demos and tests: cookies do not survive a restart).
    pub fn generate() -> Self {
        let bytes: [u8; COOKIE_KEY_LEN] = std::array::from_fn(|_| rand::random());
        Self(Key::from(&bytes))
    }
}

fn too_short(what: &str, got: usize, need: usize) -> String {
    format!("{what} is {got} bytes, it needs at least {need}; generate one with `openssl rand -hex 64`")
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_lengths_and_derivation() {
        let hex: String = (0..64u8).map(|b| format!("{b:02x}")).collect();
        assert!(CookieKey::from_text(&hex).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
        assert!(CookieKey::from_text(&b64).is_ok());
        let short = CookieKey::from_text(&hex[..100]).unwrap_err().to_string();
        assert!(short.contains("50 bytes") && short.contains("at least 64"), "{short}");
        assert!(CookieKey::from_text("not a key!").is_err());
        assert!(CookieKey::derive_from(&[1u8; 31]).unwrap_err().to_string().contains("at least 32"));
        let a = CookieKey::derive_from(&[1u8; 32]).unwrap();
        let b = CookieKey::derive_from(&[1u8; 32]).unwrap();
        assert_eq!(a.0.master(), b.0.master());
        assert_eq!(format!("{a:?}"), "CookieKey([redacted])");
    }
}
