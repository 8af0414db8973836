//! The signed state format of earlier builds (`v1`), verification only: accepted during the
//! upgrade window of [`StateCodec::accept_signed_states`](super::StateCodec::accept_signed_states).
//! Remove this file with that option.
//!
//! A v1 token is `v1.<payload>.<mac>`: base64url (no padding) of the claims' JSON, and of
//! HMAC-SHA256 over `v1.<payload>` keyed with the state secret itself.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::secret::SigningKey;

type HmacSha256 = Hmac<Sha256>;

/// The version prefix of a signed state.
pub(super) const VERSION: &str = "v1";

/// The HMAC keys v1 states were signed with, newest first.
#[derive(Clone)]
pub(super) struct SignedKeys(Vec<HmacSha256>);

impl SignedKeys {
    /// Keys from the state secrets (any length: their length is checked by the caller).
    pub(super) fn new<'k>(secrets: impl IntoIterator<Item = &'k SigningKey>) -> Self {
        let mac = |key: &SigningKey| {
            HmacSha256::new_from_slice(key.expose().as_bytes()).expect("HMAC takes a key of any length")
        };
        Self(secrets.into_iter().map(mac).collect())
    }

    /// The claims' JSON of a whole v1 `token` whose mac one of the keys made. A malformed
    /// mac and a wrong one get the same answer: no oracle for forgers.
    pub(super) fn open(&self, token: &str) -> Result<Vec<u8>, &'static str> {
        const FORGED: &str = "signature does not match (tampered, or signed with an unknown key)";
        let (signed, tag) = token.rsplit_once('.').ok_or(FORGED)?;
        let payload = signed.strip_prefix("v1.").ok_or(FORGED)?;
        let mut tag_bytes = [0u8; 32];
        let well_formed = matches!(B64.decode_slice(tag, &mut tag_bytes), Ok(32));
        let authentic = well_formed
            && self.0.iter().any(|key| {
                let mut mac = key.clone();
                mac.update(signed.as_bytes());
                mac.verify_slice(&tag_bytes).is_ok()
            });
        if !authentic {
            return Err(FORGED);
        }
        B64.decode(payload).map_err(|_| "state payload is malformed")
    }
}
