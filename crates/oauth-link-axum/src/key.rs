//! The key that encrypts and authenticates the link cookies.

use base64::Engine as _;
use oauth_link_core::seal::SealKeys;
use oauth_link_core::SigningKey;

use crate::BuildError;

/// Environment variable holding the cookie key: at least 32 bytes, hex or base64 encoded.
pub const COOKIE_KEY_ENV: &str = "OAUTH_LINK_AXUM_COOKIE_KEY";

/// Environment variable of the state secret (the facade's `OAUTH_LINK_STATE_SECRET`), from
/// which [`CookieKey::from_env_or_state_secret`] derives a key in development.
pub const STATE_SECRET_ENV: &str = "OAUTH_LINK_STATE_SECRET";

/// The facade's comma-separated previous state secrets: a cookie key derived from the state
/// secret keeps opening cookies sealed under them.
const STATE_PREVIOUS_SECRETS_ENV: &str = "OAUTH_LINK_STATE_PREVIOUS_SECRETS";

/// Fewest bytes a cookie key takes (the state secret's minimum); longer keys (the 64-byte
/// keys of earlier versions) are used whole.
pub const COOKIE_KEY_LEN: usize = oauth_link_core::adapter::MIN_KEY_LEN;

/// Shortest secret [`CookieKey::derive_from`] accepts.
pub const MIN_MASTER_LEN: usize = oauth_link_core::adapter::MIN_KEY_LEN;

/// What the cookie keys are derived for: no other use of the same secret (link state above
/// all) derives the same key.
const PURPOSE: &str = "oauth-link-axum cookie";

/// How to make a key, for error messages.
const GENERATE: &str = "generate one with `openssl rand -hex 32`";

/// The key of the router's link cookies: AES-256-GCM-SIV through
/// [`oauth_link_core::seal`] (the code that seals link state), the cookie's name
/// authenticated with its value, so the browser can neither read nor alter what a link
/// cookie holds, nor move a value to another cookie.
///
/// Where it comes from, best first:
/// - [`CookieKey::from_env`]: `OAUTH_LINK_AXUM_COOKIE_KEY`, 32 random bytes or more (hex or
///   base64; the 64-byte keys of earlier versions are accepted as they are). Every instance
///   of the app must share it. To rotate it without failing links in progress, keep the old
///   key for their lifetime with [`CookieKey::with_previous`]; without that, their users
///   start again.
/// - [`CookieKey::derive_from`] / [`CookieKey::from_env_or_state_secret`]: derived from the
///   state secret for the purpose `"oauth-link-axum cookie"` (distinct from the link-state
///   key). Convenient in development: one secret less to configure. The two secrets then
///   rotate together; give production its own cookie key.
/// - [`CookieKey::generate`]: random per process (demos, tests): links do not survive a
///   restart and are not shared between instances.
///
/// The key material is derived once, here; `Debug` never shows it.
#[derive(Clone)]
pub struct CookieKey {
    /// What the keys derive from, newest first (kept so [`CookieKey::with_previous`] can
    /// derive again).
    secrets: Vec<SigningKey>,
    seal: SealKeys,
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey([redacted])")
    }
}

impl CookieKey {
    /// A key from raw bytes (at least [`COOKIE_KEY_LEN`], all of them used).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BuildError> {
        if bytes.len() < COOKIE_KEY_LEN {
            return Err(BuildError::CookieKey { reason: too_short("the cookie key", bytes.len(), COOKIE_KEY_LEN) });
        }
        Ok(Self::from_secrets(vec![SigningKey::new(encode_hex(bytes))]))
    }

    /// A key from its text form: hex (64 characters or more) or base64 (standard or
    /// URL-safe, padded or not), 32 bytes or more once decoded.
    pub fn from_text(text: &str) -> Result<Self, BuildError> {
        let text = text.trim();
        let bytes = decode_hex(text)
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .or_else(|| base64::engine::general_purpose::STANDARD_NO_PAD.decode(text).ok())
            .or_else(|| base64::engine::general_purpose::URL_SAFE.decode(text).ok())
            .or_else(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).ok())
            .ok_or_else(|| BuildError::CookieKey {
                reason: format!("{COOKIE_KEY_ENV} is neither hex nor base64; {GENERATE}"),
            })?;
        Self::from_bytes(&bytes)
    }

    /// The key in `OAUTH_LINK_AXUM_COOKIE_KEY`.
    pub fn from_env() -> Result<Self, BuildError> {
        match std::env::var(COOKIE_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::from_text(&text),
            _ => Err(BuildError::CookieKey { reason: format!("{COOKIE_KEY_ENV} is not set; {GENERATE}") }),
        }
    }

    /// `OAUTH_LINK_AXUM_COOKIE_KEY` when set, else a key derived from
    /// `OAUTH_LINK_STATE_SECRET` (see [`CookieKey::derive_from`]), which also opens cookies
    /// sealed under the secrets in `OAUTH_LINK_STATE_PREVIOUS_SECRETS` (comma-separated), so
    /// rotating the state secret does not fail links in progress.
    pub fn from_env_or_state_secret() -> Result<Self, BuildError> {
        match std::env::var(COOKIE_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::from_text(&text),
            _ => match std::env::var(STATE_SECRET_ENV) {
                Ok(secret) if !secret.is_empty() => {
                    let previous = std::env::var(STATE_PREVIOUS_SECRETS_ENV).unwrap_or_default();
                    previous
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .try_fold(Self::derive_from(secret.as_bytes())?, |key, old| {
                            Ok(key.with_previous(&Self::derive_from(old.as_bytes())?))
                        })
                }
                _ => Err(BuildError::CookieKey {
                    reason: format!("neither {COOKIE_KEY_ENV} nor {STATE_SECRET_ENV} is set; {GENERATE}"),
                }),
            },
        }
    }

    /// A key derived from a secret of at least [`MIN_MASTER_LEN`] bytes (e.g. the state
    /// secret): `HMAC-SHA256(secret, "oauth-link seal v2 oauth-link-axum cookie")`, see
    /// [`SealKeys::derive`]. The purpose keeps it distinct from every other use of the
    /// secret, the link-state key included.
    pub fn derive_from(secret: &[u8]) -> Result<Self, BuildError> {
        if secret.len() < MIN_MASTER_LEN {
            return Err(BuildError::CookieKey {
                reason: too_short("the secret to derive the cookie key from", secret.len(), MIN_MASTER_LEN),
            });
        }
        // A text secret (the state secret) is taken as the state codec takes it.
        let text = std::str::from_utf8(secret).map_or_else(|_| encode_hex(secret), str::to_owned);
        Ok(Self::from_secrets(vec![SigningKey::new(text)]))
    }

    /// A fresh random key (demos and tests: cookies do not survive a restart).
    pub fn generate() -> Self {
        let bytes: [u8; COOKIE_KEY_LEN] = rand::random();
        Self::from_secrets(vec![SigningKey::new(encode_hex(&bytes))])
    }

    /// This key, still opening the cookies `previous` (and the keys it kept) sealed: after
    /// a rotation, keep the old key this way for one link lifetime (ten minutes by
    /// default). New cookies are sealed with this key only.
    pub fn with_previous(mut self, previous: &CookieKey) -> Self {
        self.secrets.extend(previous.secrets.iter().cloned());
        Self::from_secrets(self.secrets)
    }

    /// Derives the sealing keys from `secrets` (newest first, never empty).
    fn from_secrets(secrets: Vec<SigningKey>) -> Self {
        let seal = SealKeys::derive(PURPOSE, &secrets[0], &secrets[1..]);
        Self { secrets, seal }
    }

    /// `plaintext` sealed under the newest key for the cookie `name`, as base64url text.
    pub(crate) fn seal(&self, name: &str, plaintext: &[u8]) -> String {
        self.seal.seal_base64(name.as_bytes(), plaintext)
    }

    /// The plaintext of the cookie `name` holding `value`, when some key opens it.
    pub(crate) fn open(&self, name: &str, value: &str) -> Option<Vec<u8>> {
        self.seal.open_base64(name.as_bytes(), value).ok()
    }
}

fn too_short(what: &str, got: usize, need: usize) -> String {
    format!("{what} is {got} bytes, it needs at least {need}; {GENERATE}")
}

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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

    fn opens(sealer: &CookieKey, opener: &CookieKey) -> bool {
        let sealed = sealer.seal("oauth_link_pending_1", b"link");
        opener.open("oauth_link_pending_1", &sealed).as_deref() == Some(&b"link"[..])
    }

    #[test]
    fn text_forms_lengths_and_derivation() {
        let hex: String = (0..32u8).map(|b| format!("{b:02x}")).collect();
        let from_hex = CookieKey::from_text(&hex).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode((0..32u8).collect::<Vec<_>>());
        assert!(opens(&from_hex, &CookieKey::from_text(&b64).unwrap()), "hex and base64 of one key agree");
        assert!(opens(&from_hex, &CookieKey::from_text(&hex.to_uppercase()).unwrap()));
        let short = CookieKey::from_text(&hex[..62]).unwrap_err().to_string();
        assert!(short.contains("31 bytes") && short.contains("at least 32"), "{short}");
        assert!(CookieKey::from_text("not a key!").unwrap_err().to_string().contains("openssl rand -hex 32"));
        assert!(CookieKey::derive_from(&[1u8; 31]).unwrap_err().to_string().contains("at least 32"));
        let a = CookieKey::derive_from(&[1u8; 32]).unwrap();
        let b = CookieKey::derive_from(&[1u8; 32]).unwrap();
        assert!(opens(&a, &b) && !opens(&a, &CookieKey::derive_from(&[2u8; 32]).unwrap()));
        assert!(!opens(&a, &CookieKey::generate()) && !opens(&CookieKey::generate(), &a));
        assert_eq!(format!("{a:?}"), "CookieKey([redacted])");
    }

    #[test]
    fn keys_of_earlier_versions_are_accepted_whole() {
        // 64 bytes, `openssl rand -hex 64` as earlier versions asked: every byte counts.
        let long: String = (0..64u8).map(|b| format!("{b:02x}")).collect();
        let key = CookieKey::from_text(&long).unwrap();
        let mut other = long.clone();
        other.replace_range(126.., "ff");
        assert!(opens(&key, &CookieKey::from_text(&long).unwrap()));
        assert!(!opens(&key, &CookieKey::from_text(&other).unwrap()), "the last byte matters");
    }

    #[test]
    fn the_cookie_key_derived_from_a_secret_is_not_its_link_state_key() {
        let secret = "a state secret of at least thirty-two bytes";
        let sealed = CookieKey::derive_from(secret.as_bytes()).unwrap().seal("n", b"x");
        let state_keys = SealKeys::derive("link state", &SigningKey::new(secret), &[]);
        assert!(state_keys.open_base64(b"n", &sealed).is_err());
    }

    /// The only test of this binary that touches these variables.
    #[test]
    fn from_env_prefers_the_cookie_key_and_follows_a_rotated_state_secret() {
        let (old, new) =
            ("an old state secret of thirty-two bytes or more", "the new state secret, thirty-two bytes or more");
        std::env::remove_var(COOKIE_KEY_ENV);
        std::env::remove_var(STATE_SECRET_ENV);
        assert!(CookieKey::from_env_or_state_secret().unwrap_err().to_string().contains("neither"));
        std::env::set_var(STATE_SECRET_ENV, new);
        std::env::set_var(STATE_PREVIOUS_SECRETS_ENV, format!(" {old} ,"));
        let derived = CookieKey::from_env_or_state_secret().unwrap();
        assert!(opens(&CookieKey::derive_from(old.as_bytes()).unwrap(), &derived), "a previous secret still opens");
        assert!(opens(&derived, &CookieKey::derive_from(new.as_bytes()).unwrap()), "the newest seals");
        std::env::set_var(STATE_PREVIOUS_SECRETS_ENV, "too short");
        assert!(CookieKey::from_env_or_state_secret().unwrap_err().to_string().contains("at least 32"));
        let hex: String = (0..32u8).map(|b| format!("{b:02x}")).collect();
        std::env::set_var(COOKIE_KEY_ENV, &hex);
        let configured = CookieKey::from_env_or_state_secret().unwrap();
        assert!(opens(&configured, &CookieKey::from_env().unwrap()));
        assert!(opens(&configured, &CookieKey::from_text(&hex).unwrap()) && !opens(&configured, &derived));
        for var in [COOKIE_KEY_ENV, STATE_SECRET_ENV, STATE_PREVIOUS_SECRETS_ENV] {
            std::env::remove_var(var);
        }
        assert!(CookieKey::from_env().unwrap_err().to_string().contains("is not set"));
    }

    #[test]
    fn rotation_opens_what_the_previous_key_sealed() {
        let (old, new) = (CookieKey::generate(), CookieKey::generate());
        let rotated = new.clone().with_previous(&old);
        assert!(opens(&old, &rotated) && opens(&new, &rotated));
        assert!(opens(&rotated, &new), "the newest key seals");
        assert!(!opens(&rotated, &old));
        let twice = CookieKey::generate().with_previous(&rotated);
        assert!(opens(&old, &twice), "previous keys are carried along");
    }
}
