//! Sealing: small values encrypted and authenticated with AES-256-GCM-SIV (RFC 8452), for
//! values that travel through places oauth-link does not control (a redirect URI a platform
//! logs, a browser cookie).
//!
//! A sealed value is `nonce (12 bytes) || ciphertext || tag (16 bytes)`: a fresh random
//! nonce per seal, the plaintext encrypted, and a tag that authenticates
//! the ciphertext and the caller's *associated data* (a version prefix, a cookie name:
//! context that is not secret but must match). Only the length of the plaintext shows.
//! GCM-SIV is nonce-misuse resistant: were two random nonces ever to repeat, whatever the
//! number of instances sealing under one key, it would show at most that two values are
//! equal (and every sealed link state holds its own random nonce), never the key or the
//! plaintexts.
//!
//! Keys are derived once, when [`SealKeys`] are built, from the app's existing secrets
//! ([`SigningKey`]) with a *purpose*: `HMAC-SHA256(secret, "oauth-link seal v2 " + purpose)`.
//! Two purposes (link state, a cookie) get unrelated keys from one secret, and neither is
//! the secret itself. Rotation works as for link state: seal with the newest secret, open
//! with any of the newest and the previous ones.
//!
//! ```
//! use oauth_link_core::seal::SealKeys;
//! use oauth_link_core::SigningKey;
//!
//! let old = SigningKey::new("an old secret of at least 32 random bytes....");
//! let new = SigningKey::new("the new secret of at least 32 random bytes...");
//! let before = SealKeys::derive("cookie", &old, &[]);
//! let sealed = before.seal_base64(b"oauth_link_pending", b"ada@example.com");
//! assert!(!sealed.contains("ada"));
//! // After rotation, what the old secret sealed still opens; the other purpose's keys fail.
//! let after = SealKeys::derive("cookie", &new, &[old.clone()]);
//! assert_eq!(after.open_base64(b"oauth_link_pending", &sealed).unwrap(), b"ada@example.com");
//! assert!(SealKeys::derive("link state", &old, &[]).open_base64(b"oauth_link_pending", &sealed).is_err());
//! ```

use aes_gcm_siv::aead::AeadInOut;
use aes_gcm_siv::{Aes256GcmSiv, KeyInit, Nonce, Tag};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::SigningKey;

/// Length of the random nonce a sealed value starts with, in bytes.
pub const NONCE_LEN: usize = 12;
/// Length of the authentication tag a sealed value ends with, in bytes.
pub const TAG_LEN: usize = 16;
/// What sealing adds to a plaintext, in bytes (nonce and tag).
pub const OVERHEAD: usize = NONCE_LEN + TAG_LEN;
/// The label every derived key starts from; the purpose follows it.
const LABEL: &str = "oauth-link seal v2 ";

/// A sealed value did not open: it was altered, cut, made up, sealed for another purpose
/// or associated data, or sealed under a secret no longer configured. Deliberately one
/// answer for all of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenError;

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "sealed value does not open: tampered, truncated, or sealed with a secret that is not configured (keep a rotated secret among the previous ones for one lifetime of what it sealed)",
        )
    }
}

impl std::error::Error for OpenError {}

/// Keys for one purpose: the newest seals, every one opens. Cheap to clone (a few 32-byte
/// keys); the key material is zeroed on drop and never printed.
#[derive(Clone)]
pub struct SealKeys {
    purpose: Box<str>,
    /// Newest first.
    keys: Vec<Aes256GcmSiv>,
}

impl SealKeys {
    /// Derives the keys for `purpose` from the newest secret and the previous ones still
    /// accepted (newest first). Derivation happens here, once: sealing and opening reuse
    /// the derived keys.
    ///
    /// The secrets should be at least [`MIN_KEY_LEN`](crate::adapter::MIN_KEY_LEN) random
    /// bytes; [`StateKeys::new`](crate::StateKeys::new) checks that for the state secret. The
    /// purpose names what is sealed (`"link state"`, `"pending cookie"`): keys derived for
    /// different purposes open nothing of each other's.
    pub fn derive(purpose: &str, newest: &SigningKey, previous: &[SigningKey]) -> Self {
        let keys = std::iter::once(newest).chain(previous).map(|secret| derive_key(purpose, secret)).collect();
        Self { purpose: purpose.into(), keys }
    }

    /// The purpose the keys were derived for.
    pub fn purpose(&self) -> &str {
        &self.purpose
    }

    /// Seals `plaintext` under the newest key, binding `aad` (associated data: not secret,
    /// not stored in the output, and needed again to open). Returns
    /// `nonce || ciphertext || tag`, [`OVERHEAD`] bytes longer than `plaintext`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut sealed = Vec::with_capacity(plaintext.len() + OVERHEAD);
        sealed.extend_from_slice(&[0; NONCE_LEN]);
        sealed.extend_from_slice(plaintext);
        self.seal_in_place(aad, &mut sealed);
        sealed
    }

    /// Seals in place: `buffer` holds [`NONCE_LEN`] bytes of room (any value) followed by the
    /// plaintext; on return it holds `nonce || ciphertext || tag`. Lets a caller write its
    /// plaintext straight into the buffer that is sealed (no copy). A buffer shorter than
    /// [`NONCE_LEN`] is first padded with zeros (an empty plaintext).
    pub fn seal_in_place(&self, aad: &[u8], buffer: &mut Vec<u8>) {
        if buffer.len() < NONCE_LEN {
            buffer.resize(NONCE_LEN, 0);
        }
        let (nonce, text) = buffer.split_at_mut(NONCE_LEN);
        rand::fill(nonce);
        // The only failure is a plaintext over 256 GiB, which no `Vec` here can hold.
        let nonce: &Nonce = (&*nonce).try_into().expect("split at NONCE_LEN");
        let tag = self.keys[0]
            .encrypt_inout_detached(nonce, aad, text.into())
            .expect("a plaintext held in memory is far below AES-GCM-SIV's 64 GiB limit");
        buffer.extend_from_slice(&tag);
    }

    /// Seals `plaintext` (as [`SealKeys::seal`]) and returns it as base64url text without
    /// padding: URL-, header- and cookie-safe.
    pub fn seal_base64(&self, aad: &[u8], plaintext: &[u8]) -> String {
        let mut text = String::new();
        self.seal_base64_into(aad, plaintext, &mut text);
        text
    }

    /// Seals `plaintext` and appends it to `out` as base64url text without padding (after a
    /// prefix the caller wrote, say).
    pub fn seal_base64_into(&self, aad: &[u8], plaintext: &[u8], out: &mut String) {
        let sealed = self.seal(aad, plaintext);
        out.reserve(base64_len(sealed.len()));
        B64.encode_string(&sealed, out);
    }

    /// Opens a value [`SealKeys::seal`] made, trying the newest key first, and returns the
    /// plaintext. `aad` must be what it was sealed with.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let mut buffer = sealed.to_vec();
        let len = self.open_in_place(aad, &mut buffer)?.len();
        buffer.copy_within(NONCE_LEN..NONCE_LEN + len, 0);
        buffer.truncate(len);
        Ok(buffer)
    }

    /// Opens a sealed value in place and returns the plaintext, a slice of `buffer` (the
    /// rest of `buffer` is left as it was). No allocation.
    pub fn open_in_place<'b>(&self, aad: &[u8], buffer: &'b mut [u8]) -> Result<&'b [u8], OpenError> {
        if buffer.len() < OVERHEAD {
            return Err(OpenError);
        }
        let (nonce, rest) = buffer.split_at_mut(NONCE_LEN);
        let (text, tag) = rest.split_at_mut(rest.len() - TAG_LEN);
        let nonce: &Nonce = (&*nonce).try_into().expect("split at NONCE_LEN");
        let tag: &Tag = (&*tag).try_into().expect("split at TAG_LEN from the end");
        // A key that does not authenticate leaves the text untouched (the tag is checked
        // before anything is decrypted), so the next key sees the same bytes.
        let opened =
            self.keys.iter().any(|key| key.decrypt_inout_detached(nonce, aad, (&mut *text).into(), tag).is_ok());
        if opened {
            Ok(&buffer[NONCE_LEN..buffer.len() - TAG_LEN])
        } else {
            Err(OpenError)
        }
    }

    /// Opens base64url text (no padding) that [`SealKeys::seal_base64`] made. Text that is
    /// not base64url gets the same [`OpenError`] as a forgery.
    pub fn open_base64(&self, aad: &[u8], text: &str) -> Result<Vec<u8>, OpenError> {
        let sealed = B64.decode(text).map_err(|_| OpenError)?;
        self.open(aad, &sealed)
    }
}

impl std::fmt::Debug for SealKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKeys")
            .field("purpose", &self.purpose)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

/// `HMAC-SHA256(secret, LABEL + purpose)`, as an AES-256-GCM-SIV key.
fn derive_key(purpose: &str, secret: &SigningKey) -> Aes256GcmSiv {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes a key of any length");
    mac.update(LABEL.as_bytes());
    mac.update(purpose.as_bytes());
    Aes256GcmSiv::new(&mac.finalize().into_bytes())
}

/// Length of `len` bytes as base64 without padding.
pub(crate) const fn base64_len(len: usize) -> usize {
    (len * 4).div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secret(s: &str) -> SigningKey {
        SigningKey::new(format!("{s:0<40}"))
    }

    fn keys() -> SealKeys {
        SealKeys::derive("test", &secret("a"), &[])
    }

    #[test]
    fn seal_then_open_roundtrips_every_length() {
        let k = keys();
        for len in [0, 1, 15, 16, 17, 63, 64, 65, 300, 3000] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let sealed = k.seal(b"ctx", &plain);
            assert_eq!(sealed.len(), len + OVERHEAD);
            assert_eq!(k.open(b"ctx", &sealed).unwrap(), plain, "{len}");
            let text = k.seal_base64(b"ctx", &plain);
            assert_eq!(text.len(), base64_len(len + OVERHEAD));
            assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)), "{text}");
            assert_eq!(k.open_base64(b"ctx", &text).unwrap(), plain, "{len}");
        }
    }

    #[test]
    fn in_place_sealing_and_opening_agree_with_the_copying_ones() {
        let k = keys();
        let mut buffer = vec![9; NONCE_LEN];
        buffer.extend_from_slice(b"hello");
        k.seal_in_place(b"", &mut buffer);
        assert_eq!(k.open(b"", &buffer).unwrap(), b"hello");
        let mut copy = buffer.clone();
        assert_eq!(k.open_in_place(b"", &mut copy).unwrap(), b"hello");
        // Too short a buffer is an empty plaintext, not a panic.
        let mut short = vec![1, 2, 3];
        k.seal_in_place(b"", &mut short);
        assert_eq!(short.len(), OVERHEAD);
        assert_eq!(k.open(b"", &short).unwrap(), b"");
    }

    #[test]
    fn equal_plaintexts_seal_differently() {
        let k = keys();
        let a = k.seal(b"", b"same");
        let b = k.seal(b"", b"same");
        assert_ne!(a, b);
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
    }

    #[test]
    fn the_associated_data_and_the_purpose_must_match() {
        let k = keys();
        let sealed = k.seal(b"v2", b"claims");
        assert_eq!(k.open(b"v1", &sealed), Err(OpenError));
        assert_eq!(k.open(b"", &sealed), Err(OpenError));
        assert_eq!(SealKeys::derive("other", &secret("a"), &[]).open(b"v2", &sealed), Err(OpenError));
    }

    #[test]
    fn rotation_opens_with_previous_keys_and_refuses_unknown_ones() {
        let old = SealKeys::derive("p", &secret("old"), &[]);
        let rotated = SealKeys::derive("p", &secret("new"), &[secret("older"), secret("old")]);
        let new_only = SealKeys::derive("p", &secret("new"), &[]);
        let sealed = old.seal(b"", b"x");
        assert_eq!(rotated.open(b"", &sealed).unwrap(), b"x");
        assert_eq!(new_only.open(b"", &sealed), Err(OpenError));
        let fresh = rotated.seal(b"", b"y");
        assert_eq!(new_only.open(b"", &fresh).unwrap(), b"y", "the newest key seals");
        assert_eq!(old.open(b"", &fresh), Err(OpenError));
    }

    #[test]
    fn derived_keys_are_not_the_secret() {
        let s = secret("k");
        let raw = Aes256GcmSiv::new_from_slice(&s.expose().as_bytes()[..32]).unwrap();
        let sealed = SealKeys { purpose: "raw".into(), keys: vec![raw] }.seal(b"", b"x");
        assert_eq!(SealKeys::derive("", &s, &[]).open(b"", &sealed), Err(OpenError));
        assert_eq!(SealKeys::derive("test", &s, &[]).open(b"", &sealed), Err(OpenError));
    }

    #[test]
    fn short_or_garbled_input_is_refused_without_panicking() {
        let k = keys();
        for bad in [&b""[..], &[0; OVERHEAD - 1], &[0; OVERHEAD], &[7; 200]] {
            assert_eq!(k.open(b"", bad), Err(OpenError), "{}", bad.len());
        }
        for bad in ["", "!!", "A", "AAAA", "====", "a b"] {
            assert_eq!(k.open_base64(b"", bad), Err(OpenError), "{bad}");
        }
    }

    #[test]
    fn debug_hides_key_material() {
        let printed = format!("{:?}", SealKeys::derive("pending cookie", &secret("topsecret"), &[secret("x")]));
        assert_eq!(printed, r#"SealKeys { purpose: "pending cookie", keys: 2, .. }"#);
        assert!(!OpenError.to_string().is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(2026),
            ..ProptestConfig::default()
        })]

        /// Every single-byte change, every cut and every extension is refused.
        #[test]
        fn any_altered_byte_is_refused(plain in proptest::collection::vec(any::<u8>(), 0..64), flip in 1u8..=255) {
            let k = keys();
            let sealed = k.seal(b"aad", &plain);
            for i in 0..sealed.len() {
                let mut altered = sealed.clone();
                altered[i] ^= flip;
                prop_assert_eq!(k.open(b"aad", &altered), Err(OpenError));
            }
            for len in 0..sealed.len() {
                prop_assert_eq!(k.open(b"aad", &sealed[..len]), Err(OpenError));
            }
            let mut longer = sealed.clone();
            longer.push(flip);
            prop_assert_eq!(k.open(b"aad", &longer), Err(OpenError));
            prop_assert_eq!(k.open(b"aad", &sealed).unwrap(), plain);
        }

        #[test]
        fn open_never_panics(input in proptest::collection::vec(any::<u8>(), 0..200), text in ".{0,120}") {
            let k = keys();
            prop_assert!(k.open(b"", &input).is_err());
            prop_assert!(k.open_base64(b"", &text).is_err());
        }
    }
}
