//! Sealed, expiring, single-use link state.
//!
//! A state token is `v2.<sealed>`: `<sealed>` is base64url (no padding) of the claims'
//! compact JSON sealed with AES-256-GCM-SIV ([`seal`](crate::seal)): a random 12-byte
//! nonce, the encrypted claims and a 16-byte tag that also authenticates the `v2` prefix.
//! The key is derived once from the state secret for the purpose `"link state"`, so the
//! token reveals nothing of the claims but their length, and no one without the secret can
//! make or alter one. Verification opens the token with each configured key (newest first),
//! then checks provider, expiry and issue time. Single use is the
//! [`ReplayGuard`](crate::ReplayGuard)'s job.
//!
//! Earlier builds issued *signed* states (`v1.<base64url JSON>.<HMAC-SHA256>`, readable by
//! anyone). They are refused unless [`StateCodec::accept_signed_states`] opens an upgrade
//! window of one state lifetime.

mod signed;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::seal::{self, SealKeys};
use crate::secret::{SigningKey, StateToken};
use crate::types::LinkRequest;

use signed::SignedKeys;

/// Default state lifetime.
pub const DEFAULT_STATE_TTL: Duration = Duration::from_secs(10 * 60);
/// Shortest signing key accepted, in bytes.
pub const MIN_KEY_LEN: usize = 32;
/// Longest state token accepted for verification, in bytes.
pub const MAX_TOKEN_LEN: usize = 4096;
/// How far in the future an issue time may lie (clock skew between app instances).
const ISSUED_SKEW: Duration = Duration::from_secs(60);
/// The version of the tokens issued; also the associated data of every seal.
const VERSION: &str = "v2";
/// What the state keys are derived for ([`SealKeys::derive`]).
const SEAL_PURPOSE: &str = "link state";

/// A random 128-bit value that makes every state unique; the replay guard's key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nonce(pub [u8; 16]);

impl Nonce {
    /// A fresh random nonce.
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes);
        Self(bytes)
    }

    /// The nonce as one integer (compact map key).
    pub fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }
}

impl std::fmt::Display for Nonce {
    /// The nonce as base64url text (22 characters), as it appears in a token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&B64.encode(self.0))
    }
}

impl std::fmt::Debug for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nonce({self})")
    }
}

impl Serialize for Nonce {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Nonce {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = B64.decode(text).map_err(serde::de::Error::custom)?;
        let bytes = <[u8; 16]>::try_from(bytes).map_err(|_| serde::de::Error::custom("nonce must be 16 bytes"))?;
        Ok(Nonce(bytes))
    }
}

/// What a state token asserts. The token carries it sealed: encrypted and authenticated,
/// so neither the browser nor the platforms and logs that see the redirect URI can read or
/// change it (its length shows). Still, keep credentials out of `extra`: the state is a
/// bearer value for one link, and what it holds comes back to the app on completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateClaims {
    /// Provider kind that issued it.
    #[serde(rename = "p")]
    pub provider: String,
    /// The app's id for the end user.
    #[serde(rename = "u")]
    pub user: String,
    /// What is being connected.
    #[serde(rename = "t")]
    pub target: String,
    /// Uniqueness, for single use.
    #[serde(rename = "n")]
    pub nonce: Nonce,
    /// Issue time.
    #[serde(rename = "i", with = "chrono::serde::ts_milliseconds")]
    pub issued_at: DateTime<Utc>,
    /// Expiry time.
    #[serde(rename = "e", with = "chrono::serde::ts_milliseconds")]
    pub expires_at: DateTime<Utc>,
    /// Adapter-specific facts needed at completion (e.g. a platform user id).
    #[serde(rename = "x", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, String>,
    /// The app's tags ([`LinkRequest::with_tag`](crate::LinkRequest::with_tag)), returned on
    /// the completed connection. Absent from states issued before tags existed.
    #[serde(rename = "g", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The connection a reconnect link re-authorises
    /// ([`LinkRequest::reconnect`](crate::LinkRequest::reconnect)); `None` for a new one.
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    pub reconnect: Option<String>,
}

/// A state token just issued by [`StateCodec::issue`]: the token, and what the issuing
/// adapter still needs to know about it (its nonce, issue and expiry times).
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The sealed token.
    pub token: StateToken,
    /// Its nonce (the replay guard's key).
    pub nonce: Nonce,
    /// Issue time.
    pub issued_at: DateTime<Utc>,
    /// Expiry time.
    pub expires_at: DateTime<Utc>,
}

/// Keys for link state, derived once from the state secrets; supports rotation.
///
/// States are sealed with the newest secret; keep the previous secrets until every state
/// they sealed has expired (one state lifetime).
#[derive(Clone)]
pub struct StateKeys {
    seal: SealKeys,
    /// For signed (v1) states during an upgrade window only.
    signed: SignedKeys,
}

impl StateKeys {
    /// Keys from the state secret and older secrets still accepted.
    ///
    /// Each secret must be at least [`MIN_KEY_LEN`] bytes.
    pub fn new(signing: &SigningKey, previous: &[SigningKey]) -> Result<Self> {
        let check = |key: &SigningKey, name: &str| -> Result<()> {
            if key.expose().len() < MIN_KEY_LEN {
                return Err(Error::config(
                    name,
                    format!(
                        "the state secret `{name}` is {} bytes; use at least {MIN_KEY_LEN} random bytes (e.g. `openssl rand -hex 32`) in OAUTH_LINK_STATE_SECRET",
                        key.expose().len()
                    ),
                ));
            }
            Ok(())
        };
        check(signing, "state_secret")?;
        previous.iter().try_for_each(|key| check(key, "state_previous_secrets"))?;
        Ok(Self {
            seal: SealKeys::derive(SEAL_PURPOSE, signing, previous),
            signed: SignedKeys::new(std::iter::once(signing).chain(previous)),
        })
    }

    /// Fresh random keys, for sandboxes, demos and tests (states do not survive a restart).
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        let key = SigningKey::new(B64.encode(bytes));
        Self::new(&key, &[]).expect("a random 43-byte key is long enough")
    }
}

impl std::fmt::Debug for StateKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateKeys").field("seal", &self.seal).finish_non_exhaustive()
    }
}

/// Issues and verifies state tokens.
#[derive(Debug, Clone)]
pub struct StateCodec {
    keys: StateKeys,
    ttl: Duration,
    clock: Arc<dyn Clock>,
    /// When signed (v1) states began to be accepted again, if they are.
    signed_since: Option<DateTime<Utc>>,
}

impl StateCodec {
    /// A codec with the default lifetime and the system clock. It issues sealed states
    /// only and accepts no signed state of earlier builds.
    pub fn new(keys: StateKeys) -> Self {
        Self { keys, ttl: DEFAULT_STATE_TTL, clock: Arc::new(SystemClock), signed_since: None }
    }

    /// Sets how long a state stays valid.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the time source. An upgrade window already open
    /// ([`StateCodec::accept_signed_states`]) restarts on it.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        if let Some(since) = &mut self.signed_since {
            *since = self.clock.now();
        }
        self
    }

    /// During an upgrade from a build that signed states (`v1`, readable), also accepts
    /// such states when their signature matches one of the keys, for one state lifetime
    /// counted from now (on the codec's clock; the codec is typically built once at
    /// start-up): long enough for every link started before the upgrade to complete. After
    /// the window, and always when `accept` is false (the default), a signed state is
    /// refused with [`Error::StateInvalid`] saying the link predates the upgrade and a new
    /// one should be started. Sealed states are the only ones issued either way.
    ///
    /// With several instances upgraded one after another, each counts from its own start,
    /// and a signed state an old instance issues meanwhile is accepted only until the window
    /// of the instance that completes it closes: finish the rollout well within one state
    /// lifetime.
    pub fn accept_signed_states(mut self, accept: bool) -> Self {
        self.signed_since = accept.then(|| self.clock.now());
        self
    }

    /// When the upgrade window for signed states closes (`None`: they are not accepted).
    pub fn signed_states_until(&self) -> Option<DateTime<Utc>> {
        self.signed_since.map(|since| later_by(since, self.ttl))
    }

    /// The configured lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The time source.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// New claims for a link, expiring after the codec's lifetime.
    pub fn claims(&self, provider: &str, user: &str, target: &str) -> StateClaims {
        let issued_at = self.clock.now();
        let expires_at = later_by(issued_at, self.ttl);
        StateClaims {
            provider: provider.to_owned(),
            user: user.to_owned(),
            target: target.to_owned(),
            nonce: Nonce::random(),
            issued_at,
            expires_at,
            extra: BTreeMap::new(),
            tags: BTreeMap::new(),
            reconnect: None,
        }
    }

    /// New claims for `request`: its user and target (a reconnect's target as the provider
    /// resolved it into the request), its tags and the connection it reconnects.
    pub fn claims_for(&self, provider: &str, request: &LinkRequest) -> StateClaims {
        let mut claims = self.claims(provider, &request.user, &request.target);
        claims.tags = request.tags.clone();
        claims.reconnect = request.reconnect.clone();
        claims
    }

    /// Issues a sealed state for `request` in one step: [`StateCodec::claims_for`] with
    /// `extra` added (as [`StateCodec::issue`] does).
    pub fn issue_for(&self, provider: &str, request: &LinkRequest, extra: &[(&str, &str)]) -> IssuedToken {
        let mut claims = self.claims_for(provider, request);
        claims.extra.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let token = self.sign(&claims);
        IssuedToken { token, nonce: claims.nonce, issued_at: claims.issued_at, expires_at: claims.expires_at }
    }

    /// Issues a sealed state in one step: [`StateCodec::claims`] with `extra` added (the
    /// last value of a repeated key wins, as in a map), sealed by [`StateCodec::sign`].
    pub fn issue(&self, provider: &str, user: &str, target: &str, extra: &[(&str, &str)]) -> IssuedToken {
        let mut claims = self.claims(provider, user, target);
        claims.extra.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let token = self.sign(&claims);
        IssuedToken { token, nonce: claims.nonce, issued_at: claims.issued_at, expires_at: claims.expires_at }
    }

    /// Seals claims into a token: `v2.<base64url of nonce, encrypted claims JSON and tag>`,
    /// under the newest key. Two tokens of the same claims differ (a fresh nonce each).
    pub fn sign(&self, claims: &StateClaims) -> StateToken {
        // The claims' JSON is written right after room for the nonce, and sealed there.
        let mut sealed = Vec::with_capacity(256);
        sealed.resize(seal::NONCE_LEN, 0);
        serde_json::to_writer(&mut sealed, claims).expect("state claims always serialize");
        self.keys.seal.seal_in_place(VERSION.as_bytes(), &mut sealed);
        let mut token = String::with_capacity(VERSION.len() + 1 + seal::base64_len(sealed.len()));
        token.push_str(VERSION);
        token.push('.');
        B64.encode_string(&sealed, &mut token);
        StateToken::new(token)
    }

    /// Opens a token, checks its provider and times, and returns its claims.
    ///
    /// Errors: [`Error::StateInvalid`] (malformed, forged, tampered, sealed under an unknown
    /// key, other provider, issued in the future, signed by an earlier build outside the
    /// upgrade window), [`Error::StateExpired`]. Never panics, whatever the input.
    pub fn verify(&self, provider: &'static str, token: &StateToken) -> Result<StateClaims> {
        let token = token.expose();
        if token.len() > MAX_TOKEN_LEN {
            return Err(Error::state_invalid(provider, "state is too long"));
        }
        let (version, body) =
            token.split_once('.').ok_or_else(|| Error::state_invalid(provider, "state is malformed"))?;
        let claims = match version {
            VERSION => {
                // Text that is no base64 gets the same answer as a forgery.
                let mut sealed = B64.decode(body).unwrap_or_default();
                let json = self.keys.seal.open_in_place(VERSION.as_bytes(), &mut sealed).map_err(|_| {
                    Error::state_invalid(provider, "state does not open (tampered, or sealed with an unknown key)")
                })?;
                parse(provider, json)?
            }
            signed::VERSION => {
                let json = self.open_signed(provider, token)?;
                parse(provider, &json)?
            }
            _ => return Err(Error::state_invalid(provider, "unknown state version")),
        };
        if claims.provider != provider {
            return Err(Error::state_invalid(provider, format!("state was issued by provider `{}`", claims.provider)));
        }
        let now = self.clock.now();
        if now >= claims.expires_at {
            return Err(Error::StateExpired { provider, expired_at: claims.expires_at });
        }
        if claims.issued_at > now + chrono::Duration::from_std(ISSUED_SKEW).unwrap_or_default() {
            return Err(Error::state_invalid(provider, "state was issued in the future"));
        }
        Ok(claims)
    }

    /// The claims' JSON of a signed (v1) token, if the upgrade window is open and its
    /// signature matches.
    fn open_signed(&self, provider: &'static str, token: &str) -> Result<Vec<u8>> {
        let Some(until) = self.signed_states_until() else {
            return Err(Error::state_invalid(
                provider,
                "state is signed (v1): the link predates the upgrade to sealed states, which are the only ones accepted: start a new link",
            ));
        };
        if self.clock.now() >= until {
            return Err(Error::state_invalid(
                provider,
                "state is signed (v1): the link predates the upgrade to sealed states and the upgrade window has closed: start a new link",
            ));
        }
        self.keys.signed.open(token).map_err(|reason| Error::state_invalid(provider, reason))
    }
}

/// `time + by`, or the latest time there is when that is beyond it (an enormous TTL).
fn later_by(time: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(by).ok().and_then(|by| time.checked_add_signed(by)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Claims from authenticated JSON.
fn parse(provider: &'static str, json: &[u8]) -> Result<StateClaims> {
    serde_json::from_slice(json).map_err(|_| Error::state_invalid(provider, "state payload is malformed"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::types::MAX_ID_LEN;

    fn key(s: &str) -> SigningKey {
        SigningKey::new(format!("{s:0<40}"))
    }

    fn codec(clock: &ManualClock) -> StateCodec {
        StateCodec::new(StateKeys::new(&key("a"), &[]).unwrap()).with_clock(Arc::new(clock.clone()))
    }

    /// The claims' JSON inside a sealed token.
    fn payload(codec: &StateCodec, token: &StateToken) -> Vec<u8> {
        let body = token.expose().strip_prefix("v2.").unwrap();
        codec.keys.seal.open_base64(b"v2", body).unwrap()
    }

    /// A signed (v1) token as earlier builds made them.
    fn sign_v1(secret: &SigningKey, claims: &StateClaims) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        let signed = format!("v1.{}", B64.encode(serde_json::to_vec(claims).unwrap()));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.expose().as_bytes()).unwrap();
        mac.update(signed.as_bytes());
        format!("{signed}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    fn reason(result: Result<StateClaims>) -> String {
        match result {
            Err(Error::StateInvalid { reason, .. }) => reason,
            other => panic!("expected StateInvalid, got {other:?}"),
        }
    }

    #[test]
    fn issue_seals_what_sign_seals_for_the_same_claims() {
        let clock = ManualClock::starting_now();
        let c = codec(&clock);
        for extra in [&[][..], &[("integration", "slack"), ("kind", "user")], &[("uid", "é \"quoted\" \u{1}")]] {
            let issued = c.issue("novu", "user \"1\"", "slack", extra);
            let claims = StateClaims {
                provider: "novu".into(),
                user: "user \"1\"".into(),
                target: "slack".into(),
                nonce: issued.nonce,
                issued_at: issued.issued_at,
                expires_at: issued.expires_at,
                extra: extra.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
                tags: BTreeMap::new(),
                reconnect: None,
            };
            // Byte for byte the same plaintext; the tokens differ by their seal's nonce.
            let signed = c.sign(&claims);
            assert_eq!(payload(&c, &issued.token), serde_json::to_vec(&claims).unwrap(), "{extra:?}");
            assert_eq!(payload(&c, &signed), payload(&c, &issued.token));
            assert_ne!(issued.token.expose(), signed.expose());
            assert_eq!(issued.token.expose().len(), signed.expose().len());
            assert_eq!(c.verify("novu", &issued.token).unwrap(), claims);
            assert_eq!(issued.expires_at - issued.issued_at, chrono::Duration::from_std(DEFAULT_STATE_TTL).unwrap());
        }
    }

    const GOLDEN_ISSUED_AT: i64 = 1_767_225_600_123;

    fn golden_claims() -> StateClaims {
        let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        StateClaims {
            provider: "novu".into(),
            user: "user \"1\" é".into(),
            target: "slack".into(),
            nonce: Nonce([7; 16]),
            issued_at: at(GOLDEN_ISSUED_AT),
            expires_at: at(GOLDEN_ISSUED_AT + 600_000),
            extra: BTreeMap::new(),
            tags: BTreeMap::new(),
            reconnect: None,
        }
    }

    /// A sealed token made by this format's first build (under `key("golden")`): later
    /// builds open it. Sealing is randomised, so it is pinned, not reproduced.
    #[test]
    fn sealed_tokens_of_earlier_builds_open() {
        let at = DateTime::from_timestamp_millis(GOLDEN_ISSUED_AT).unwrap();
        let codec =
            StateCodec::new(StateKeys::new(&key("golden"), &[]).unwrap()).with_clock(Arc::new(ManualClock::new(at)));
        let mut claims = golden_claims();
        claims.extra.insert("kind".into(), "user".into());
        claims.tags.insert("org".into(), "acme".into());
        claims.reconnect = Some("conn-1".into());
        let golden = "v2.sRHDkWHmUXE0R9MZaArVZ9CWnKDKol19DSLKjFZZ6abDg3j06MlDzDsawoc9oaA8_5y5DLnd8gFSlPlJsGqqjzXGqRekDlVxElWX-lXtGXqZ7RrYKms_49iq9n7px92NTZ9F7xi24ugYclNxfWTTz0j7js27UGLpjWSw74m0GcspdrQvLlpA8pQNMvdoAeuNa187QSK3N9J-FqQhjK0HwaPnTHHBbB2LVYwGpquTH7r1J_BiCD33F11UD5Hf";
        let opened = codec.verify("novu", &golden.into());
        let opened =
            opened.unwrap_or_else(|e| panic!("{e}; this build seals them as {}", codec.sign(&claims).expose()));
        assert_eq!(opened, claims);
        assert_eq!(golden.len(), codec.sign(&claims).expose().len());
    }

    /// Signed (v1) tokens of earlier builds: refused by default; with the upgrade window,
    /// they verify for one state lifetime from when the window opened, then are refused
    /// with a reason that says the link predates the upgrade.
    #[test]
    fn signed_tokens_of_earlier_builds_verify_only_within_the_upgrade_window() {
        let keys = || StateKeys::new(&key("golden"), &[]).unwrap();
        let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        let clock = ManualClock::new(at(GOLDEN_ISSUED_AT));
        let refusing = StateCodec::new(keys()).with_clock(Arc::new(clock.clone()));
        // A 5-minute lifetime, so the window closes before the 10-minute tokens expire.
        let upgrading = StateCodec::new(keys())
            .with_ttl(Duration::from_secs(300))
            .accept_signed_states(true)
            .with_clock(Arc::new(clock.clone()));
        assert_eq!(upgrading.signed_states_until(), Some(at(GOLDEN_ISSUED_AT + 300_000)));
        assert_eq!(refusing.signed_states_until(), None);
        let mut claims = golden_claims();
        let plain = "v1.eyJwIjoibm92dSIsInUiOiJ1c2VyIFwiMVwiIMOpIiwidCI6InNsYWNrIiwibiI6IkJ3Y0hCd2NIQndjSEJ3Y0hCd2NIQnciLCJpIjoxNzY3MjI1NjAwMTIzLCJlIjoxNzY3MjI2MjAwMTIzfQ.AuvBl0dqv5XZEDoYrV3zUAn9tyJY5NE5sHdMnkLcONE";
        assert_eq!(sign_v1(&key("golden"), &claims), plain, "the test signer is the earlier builds' one");
        claims.extra.insert("kind".into(), "user".into());
        claims.extra.insert("integration".into(), "slack\u{1}".into());
        let with_extra = "v1.eyJwIjoibm92dSIsInUiOiJ1c2VyIFwiMVwiIMOpIiwidCI6InNsYWNrIiwibiI6IkJ3Y0hCd2NIQndjSEJ3Y0hCd2NIQnciLCJpIjoxNzY3MjI1NjAwMTIzLCJlIjoxNzY3MjI2MjAwMTIzLCJ4Ijp7ImludGVncmF0aW9uIjoic2xhY2tcdTAwMDEiLCJraW5kIjoidXNlciJ9fQ.rMM1UYSt7D8GBEkbMrRtHIrATNIJAwb0gn9N-umzjCI";
        for (token, expected) in [(plain, golden_claims()), (with_extra, claims)] {
            let refused = reason(refusing.verify("novu", &token.into()));
            assert!(refused.contains("predates the upgrade") && refused.contains("start a new link"), "{refused}");
            assert_eq!(upgrading.verify("novu", &token.into()).unwrap(), expected);
            // Tampered or foreign v1 states stay refused inside the window.
            let forged = token.replace("novu", "nova").replacen(".eyJ", ".eyK", 1);
            assert!(reason(upgrading.verify("novu", &forged.into())).contains("signature does not match"));
            let other_key = StateCodec::new(StateKeys::new(&key("other"), &[]).unwrap())
                .accept_signed_states(true)
                .with_clock(Arc::new(clock.clone()));
            assert!(reason(other_key.verify("novu", &token.into())).contains("signature does not match"));
        }
        clock.advance(Duration::from_millis(299_999));
        upgrading.verify("novu", &plain.into()).unwrap();
        clock.advance(Duration::from_millis(1));
        let closed = reason(upgrading.verify("novu", &plain.into()));
        assert!(closed.contains("upgrade window has closed") && closed.contains("start a new link"), "{closed}");
        // The window never outlives a token: past its expiry a signed state is expired.
        let long = StateCodec::new(keys()).accept_signed_states(true).with_clock(Arc::new(clock.clone()));
        clock.advance(Duration::from_secs(300));
        assert!(matches!(long.verify("novu", &plain.into()), Err(Error::StateExpired { .. })));
        // A signed token made under a previous secret verifies after rotation, in the window.
        let rotated = StateCodec::new(StateKeys::new(&key("new"), &[key("golden")]).unwrap())
            .accept_signed_states(true)
            .with_clock(Arc::new(ManualClock::new(at(GOLDEN_ISSUED_AT))));
        assert_eq!(rotated.verify("novu", &plain.into()).unwrap(), golden_claims());
    }

    #[test]
    fn tags_and_reconnect_are_sealed_under_short_names_and_old_states_lack_them() {
        let clock = ManualClock::starting_now();
        let c = codec(&clock);
        let request = LinkRequest::reconnect("u", "uid/oura").with_tag("org", "acme").with_tag("plan", "pro");
        let mut request = request;
        request.target = "oura".into();
        let issued = c.issue_for("junction", &request, &[("jid", "uid")]);
        let json: serde_json::Value = serde_json::from_slice(&payload(&c, &issued.token)).unwrap();
        assert_eq!(json["g"], serde_json::json!({"org": "acme", "plan": "pro"}));
        assert_eq!(json["r"], "uid/oura");
        assert_eq!(json["x"], serde_json::json!({"jid": "uid"}));
        let back = c.verify("junction", &issued.token).unwrap();
        assert_eq!(back.tags, request.tags);
        assert_eq!(back.reconnect.as_deref(), Some("uid/oura"));
        assert_eq!((back.user.as_str(), back.target.as_str()), ("u", "oura"));
        // A plain request adds neither field: its payload is what earlier builds held.
        let plain = c.issue_for("novu", &LinkRequest::new("u", "slack"), &[]);
        let json: serde_json::Value = serde_json::from_slice(&payload(&c, &plain.token)).unwrap();
        assert!(json.get("g").is_none() && json.get("r").is_none(), "{json}");
        // A signed state of an earlier build without them reads as none, in the window.
        let upgrading = codec(&clock).accept_signed_states(true);
        let old = sign_v1(&key("a"), &c.claims("novu", "u", "slack"));
        let back = upgrading.verify("novu", &old.into()).unwrap();
        assert!(back.tags.is_empty() && back.reconnect.is_none());
    }

    #[test]
    fn issue_sorts_extra_pairs_given_out_of_order() {
        let clock = ManualClock::starting_now();
        let c = codec(&clock);
        let issued = c.issue("novu", "u", "t", &[("kind", "user"), ("integration", "slack"), ("kind", "workspace")]);
        let claims = c.verify("novu", &issued.token).unwrap();
        let extra: Vec<_> = claims.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(extra, [("integration", "slack"), ("kind", "workspace")]);
        assert_eq!(claims.nonce, issued.nonce);
    }

    #[test]
    fn sign_then_verify_roundtrips() {
        let clock = ManualClock::starting_now();
        let codec = codec(&clock);
        let mut claims = codec.claims("novu", "user-1", "slack");
        claims.extra.insert("kind".into(), "endpoint".into());
        let token = codec.sign(&claims);
        assert!(token.expose().starts_with("v2."));
        assert!(token.expose()[3..].bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)));
        let json = serde_json::to_vec(&claims).unwrap();
        assert_eq!(token.expose().len(), 3 + seal::base64_len(json.len() + seal::OVERHEAD));
        let back = codec.verify("novu", &token).unwrap();
        assert_eq!(back.user, "user-1");
        assert_eq!(back.extra["kind"], "endpoint");
        assert_eq!(back.nonce, claims.nonce);
        assert_eq!(back.issued_at.timestamp_millis(), claims.issued_at.timestamp_millis());
    }

    #[test]
    fn long_claims_roundtrip() {
        let clock = ManualClock::starting_now();
        let codec = codec(&clock);
        let mut claims = codec.claims("novu", &"u".repeat(900), "slack");
        claims.extra.insert("k".into(), "v".repeat(900));
        let token = codec.sign(&claims);
        assert!(token.expose().len() < MAX_TOKEN_LEN && token.expose().len() > 2000);
        assert_eq!(codec.verify("novu", &token).unwrap(), claims_at_millis(claims));
    }

    /// The largest request `validate` accepts (as in `types::tests`): every id at its limit
    /// and made of quotes (escaped in the JSON), a reconnect, tags full of quotes up to their
    /// total bound, adapter facts as large as Novu's. Its token, pinned here, stays within
    /// `MAX_TOKEN_LEN` and verifies; a token as long as `MAX_TOKEN_LEN` fits the buffer.
    #[test]
    fn the_largest_valid_request_seals_a_state_that_verifies() {
        let quotes = |n: usize| "\"".repeat(n);
        let mut request = LinkRequest::new(quotes(MAX_ID_LEN), quotes(MAX_ID_LEN)).with_reconnect(quotes(MAX_ID_LEN));
        for i in 0..LinkRequest::MAX_TAGS {
            request = request.with_tag(format!("{i:0>32}"), quotes(0));
        }
        let room = LinkRequest::MAX_TAG_BYTES - request.tags.keys().map(String::len).sum::<usize>();
        request = request.with_tag(format!("{:0>32}", 0), quotes(room / 2));
        request.validate("novu").unwrap();
        let extra = "e".repeat(600);
        let clock = ManualClock::starting_now();
        let codec = codec(&clock);
        let issued = codec.issue_for("novu", &request, &[("x", &extra)]);
        let json = payload(&codec, &issued.token);
        // v1 was `v1.` + base64(json) + `.` + 43; sealing adds 28 bytes before base64.
        let v1_len = 3 + seal::base64_len(json.len()) + 1 + 43;
        let len = issued.token.expose().len();
        assert_eq!((json.len(), v1_len, len), (2_813, 3_798, 3_791));
        assert!(len <= MAX_TOKEN_LEN);
        let back = codec.verify("novu", &issued.token).unwrap();
        assert_eq!(back.tags, request.tags);
        // The longest possible token is judged on its seal.
        let longest = format!("v2.{}", "A".repeat(MAX_TOKEN_LEN - 3));
        assert!(reason(codec.verify("novu", &longest.into())).contains("does not open"));
    }

    /// Claims as they come back: times at millisecond precision.
    fn claims_at_millis(mut claims: StateClaims) -> StateClaims {
        let ms = |t: DateTime<Utc>| DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap();
        claims.issued_at = ms(claims.issued_at);
        claims.expires_at = ms(claims.expires_at);
        claims
    }

    #[test]
    fn nonces_differ() {
        let clock = ManualClock::starting_now();
        let codec = codec(&clock);
        assert_ne!(codec.claims("a", "u", "t").nonce, codec.claims("a", "u", "t").nonce);
    }

    #[test]
    fn tampering_is_detected() {
        let clock = ManualClock::starting_now();
        let codec = codec(&clock).accept_signed_states(true);
        let token = codec.sign(&codec.claims("novu", "user-1", "slack"));
        let text = token.expose();
        // Another token's seal on this one's prefix, and the two spliced.
        let other = codec.sign(&codec.claims("novu", "admin", "slack"));
        let spliced = format!("{}{}", &text[..text.len() / 2], &other.expose()[text.len() / 2..]);
        assert!(reason(codec.verify("novu", &spliced.into())).contains("does not open"));
        // The version is authenticated: relabelled either way, a token is refused.
        let relabelled = text.replacen("v2.", "v1.", 1);
        assert!(reason(codec.verify("novu", &relabelled.into())).contains("signature does not match"));
        let v1 = sign_v1(&key("a"), &codec.claims("novu", "u", "slack"));
        let relabelled = v1.replacen("v1.", "v2.", 1);
        assert!(reason(codec.verify("novu", &relabelled.into())).contains("does not open"));
        let swapped = v1.splitn(3, '.').collect::<Vec<_>>();
        let swapped = format!("v1.{}.{}", swapped[2], swapped[1]);
        assert!(reason(codec.verify("novu", &swapped.into())).contains("signature does not match"));
        let body_first = format!("{}.v2", &text[3..]);
        assert!(matches!(codec.verify("novu", &body_first.into()), Err(Error::StateInvalid { .. })));
        for junk in [
            "",
            ".",
            "v2.",
            "v2..",
            "v1..",
            "v2.a.b",
            "v1.a.b",
            "v1.!!.AAAA",
            "v3.AAAA",
            &"x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(matches!(codec.verify("novu", &junk.into()), Err(Error::StateInvalid { .. })), "{junk}");
        }
    }

    #[test]
    fn any_altered_character_gives_the_same_reason() {
        let clock = ManualClock::starting_now();
        let codec = codec(&clock);
        let token = codec.sign(&codec.claims("novu", "u", "slack"));
        let text = token.expose();
        for i in 3..text.len() {
            for c in ['A', 'B', 'g', '_', '-', '.', '='] {
                let mut altered = text.to_owned();
                if altered[i..].starts_with(c) {
                    continue;
                }
                altered.replace_range(i..i + 1, &c.to_string());
                let err = reason(codec.verify("novu", &altered.into()));
                assert!(err.contains("does not open"), "{i} {c}: {err}");
            }
        }
    }

    #[test]
    fn an_enormous_lifetime_saturates_instead_of_panicking() {
        let clock = ManualClock::starting_now();
        let codec = codec(&clock).with_ttl(Duration::MAX).accept_signed_states(true);
        assert_eq!(codec.signed_states_until(), Some(DateTime::<Utc>::MAX_UTC));
        let claims = codec.claims("novu", "u", "t");
        assert_eq!(claims.expires_at, DateTime::<Utc>::MAX_UTC);
        assert_eq!(codec.verify("novu", &codec.sign(&claims)).unwrap().user, "u");
    }

    #[test]
    fn other_provider_is_rejected() {
        let clock = ManualClock::starting_now();
        let codec = codec(&clock);
        let token = codec.sign(&codec.claims("junction", "u", "oura"));
        let err = codec.verify("novu", &token).unwrap_err();
        assert!(err.to_string().contains("issued by provider `junction`"), "{err}");
    }

    #[test]
    fn expiry_is_enforced() {
        let clock = ManualClock::starting_now();
        let codec = codec(&clock).with_ttl(Duration::from_secs(60));
        let token = codec.sign(&codec.claims("novu", "u", "slack"));
        clock.advance(Duration::from_secs(59));
        codec.verify("novu", &token).unwrap();
        clock.advance(Duration::from_secs(1));
        assert!(matches!(codec.verify("novu", &token), Err(Error::StateExpired { .. })));
    }

    #[test]
    fn future_issue_time_is_rejected() {
        let clock = ManualClock::starting_now();
        let codec = codec(&clock);
        let mut claims = codec.claims("novu", "u", "slack");
        claims.issued_at += chrono::Duration::minutes(5);
        claims.expires_at += chrono::Duration::minutes(5);
        let token = codec.sign(&claims);
        assert!(matches!(codec.verify("novu", &token), Err(Error::StateInvalid { .. })));
    }

    #[test]
    fn key_rotation() {
        let clock = ManualClock::starting_now();
        let old = StateCodec::new(StateKeys::new(&key("old"), &[]).unwrap()).with_clock(Arc::new(clock.clone()));
        let rotated =
            StateCodec::new(StateKeys::new(&key("new"), &[key("old")]).unwrap()).with_clock(Arc::new(clock.clone()));
        let new_only = StateCodec::new(StateKeys::new(&key("new"), &[]).unwrap()).with_clock(Arc::new(clock.clone()));
        let unknown = StateCodec::new(StateKeys::new(&key("unknown"), &[]).unwrap());
        let old_token = old.sign(&old.claims("novu", "u", "t"));
        assert_eq!(rotated.verify("novu", &old_token).unwrap().user, "u");
        assert!(reason(new_only.verify("novu", &old_token)).contains("unknown key"));
        let new_token = rotated.sign(&rotated.claims("novu", "u", "t"));
        new_only.verify("novu", &new_token).unwrap();
        assert!(reason(old.verify("novu", &new_token)).contains("unknown key"));
        let foreign = unknown.sign(&unknown.claims("novu", "u", "t"));
        assert!(reason(rotated.verify("novu", &foreign)).contains("unknown key"));
    }

    #[test]
    fn short_keys_are_refused() {
        let err = StateKeys::new(&SigningKey::new("short"), &[]).unwrap_err();
        assert!(err.to_string().contains("OAUTH_LINK_STATE_SECRET"), "{err}");
        let err = StateKeys::new(&key("ok"), &[SigningKey::new("short")]).unwrap_err();
        assert!(matches!(err, Error::Config { ref key, .. } if key == "state_previous_secrets"));
    }

    #[test]
    fn nonces_are_exactly_16_bytes_of_base64url() {
        let nonce = Nonce([7; 16]);
        let text = serde_json::to_string(&nonce).unwrap();
        assert_eq!(text, format!("\"{nonce}\""));
        assert_eq!(serde_json::from_str::<Nonce>(&text).unwrap(), nonce);
        for bad in [B64.encode([7u8; 15]), B64.encode([7u8; 17]), B64.encode([7u8; 40]), "!!".into(), String::new()] {
            assert!(serde_json::from_str::<Nonce>(&format!("\"{bad}\"")).is_err(), "{bad}");
        }
        // A state whose nonce is malformed is refused, even sealed with the right key.
        let clock = ManualClock::starting_now();
        let codec = codec(&clock);
        let json = serde_json::to_string(&codec.claims("novu", "u", "t")).unwrap();
        let start = json.find("\"n\":\"").unwrap() + 5;
        let forged = format!("{}AAAA{}", &json[..start], &json[start + 22..]);
        let token = format!("v2.{}", codec.keys.seal.seal_base64(b"v2", forged.as_bytes()));
        assert!(reason(codec.verify("novu", &token.into())).contains("payload is malformed"));
    }

    #[test]
    fn debug_of_keys_and_codec_hides_material() {
        let keys = StateKeys::new(&key("topsecretkey"), &[key("oldsecretkey")]).unwrap();
        let printed = format!("{keys:?} {:?}", StateCodec::new(keys.clone()));
        assert!(!printed.contains("secretkey") && printed.contains("keys: 2"), "{printed}");
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// Every byte string that base64url text decodes to at any offset: the four
        /// alignments, each cut at characters outside the alphabet (`.`), so any substring's
        /// decoding is inside one of them.
        fn decodings(text: &str) -> Vec<Vec<u8>> {
            let sextet = |c: u8| match c {
                b'A'..=b'Z' => Some(c - b'A'),
                b'a'..=b'z' => Some(c - b'a' + 26),
                b'0'..=b'9' => Some(c - b'0' + 52),
                b'-' => Some(62),
                b'_' => Some(63),
                _ => None,
            };
            let mut runs = Vec::new();
            for offset in 0..4 {
                let mut run = Vec::new();
                for group in text.as_bytes().get(offset..).unwrap_or_default().chunks(4) {
                    let bits: Option<Vec<u8>> = group.iter().map(|&c| sextet(c)).collect();
                    match bits {
                        Some(bits) => {
                            let word = bits.iter().fold(0u32, |w, b| w << 6 | u32::from(*b)) << (6 * (4 - bits.len()));
                            let bytes = word.to_be_bytes();
                            run.extend_from_slice(&bytes[1..1 + bits.len() * 6 / 8]);
                        }
                        None => runs.push(std::mem::take(&mut run)),
                    }
                }
                runs.push(run);
            }
            runs
        }

        fn contains(haystack: &[u8], needle: &[u8]) -> bool {
            haystack.windows(needle.len()).any(|w| w == needle)
        }

        /// A claim value: an email, plain text or any text at all (at least 6 characters, so
        /// that it cannot turn up in random base64 by chance).
        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                "[a-z][a-z0-9._%+-]{4,20}@[a-z0-9-]{2,12}\\.(com|org|example)",
                "[A-Za-z0-9 _-]{6,40}",
                "\\PC{6,30}",
            ]
        }

        proptest! {
            // A fixed seed: the same inputs on every run.
            #![proptest_config(ProptestConfig {
                failure_persistence: None,
                rng_seed: proptest::test_runner::RngSeed::Fixed(2026),
                ..ProptestConfig::default()
            })]
            #[test]
            fn verify_never_panics(input in ".{0,600}") {
                let clock = ManualClock::starting_now();
                let _ = codec(&clock).accept_signed_states(true).verify("novu", &StateToken::new(input));
            }

            #[test]
            fn verify_never_panics_on_near_valid(
                v1 in "v1\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,50}",
                v2 in "v2\\.[A-Za-z0-9_-]{0,200}",
            ) {
                let clock = ManualClock::starting_now();
                let codec = codec(&clock).accept_signed_states(true);
                prop_assert!(codec.verify("novu", &StateToken::new(v1)).is_err());
                prop_assert!(codec.verify("novu", &StateToken::new(v2)).is_err());
            }

            #[test]
            fn any_claims_roundtrip(user in "\\PC{1,40}", target in "\\PC{1,40}") {
                let clock = ManualClock::starting_now();
                let codec = codec(&clock);
                let token = codec.sign(&codec.claims("novu", &user, &target));
                let back = codec.verify("novu", &token).unwrap();
                prop_assert_eq!(back.user, user);
                prop_assert_eq!(back.target, target);
            }

            /// No claim can be read from a token: not in its text, not in any base64
            /// decoding of any part of it. The same search finds them in a signed (v1) token,
            /// which shows it would notice.
            #[test]
            fn no_claim_is_readable(
                user in value(), target in value(), tag in value(), reconnect in value(), extra in value(),
            ) {
                let clock = ManualClock::starting_now();
                let codec = codec(&clock);
                let request = LinkRequest::new(&user, &target).with_tag("org", &tag).with_reconnect(&reconnect);
                let claims = {
                    let mut claims = codec.claims_for("novu", &request);
                    claims.extra.insert("uid".into(), extra.clone());
                    claims
                };
                let token = codec.sign(&claims);
                let readable = |text: &str, value: &str| {
                    let json = serde_json::to_string(value).unwrap();
                    let forms = [value.as_bytes(), json.trim_matches('"').as_bytes()];
                    text.contains(value) || decodings(text).iter().any(|d| forms.iter().any(|f| contains(d, f)))
                };
                for value in [&user, &target, &tag, &reconnect, &extra] {
                    prop_assert!(!readable(token.expose(), value), "{value:?} readable in {}", token.expose());
                    prop_assert!(readable(&sign_v1(&key("a"), &claims), value), "{value:?}");
                }
                // Equal claims, different tokens.
                let again = codec.sign(&claims);
                prop_assert_ne!(token.expose(), again.expose());
                prop_assert_eq!(codec.verify("novu", &token).unwrap(), claims_at_millis(claims));
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 24,
                failure_persistence: None,
                rng_seed: proptest::test_runner::RngSeed::Fixed(2026),
                ..ProptestConfig::default()
            })]
            /// Any tampering is refused: every character changed (to a character drawn per
            /// case), every cut, extensions, and the v1 / v2 prefix swapped.
            #[test]
            fn any_tampering_is_refused(
                user in value(),
                target in value(),
                replacement in proptest::sample::select(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ".to_vec(),
                ),
                tail in "[A-Za-z0-9_-]{1,8}",
            ) {
                let clock = ManualClock::starting_now();
                let codec = codec(&clock).accept_signed_states(true);
                let token = codec.sign(&codec.claims("novu", &user, &target));
                let text = token.expose();
                let refused = |candidate: String| codec.verify("novu", &candidate.into()).is_err();
                for i in 0..text.len() {
                    let mut altered = text.as_bytes().to_vec();
                    if altered[i] == replacement {
                        continue;
                    }
                    altered[i] = replacement;
                    prop_assert!(refused(String::from_utf8(altered).unwrap()), "changed at {i}");
                }
                for len in 0..text.len() {
                    prop_assert!(refused(text[..len].to_owned()), "cut at {len}");
                }
                for extended in [format!("{text}{tail}"), format!("{tail}{text}"), format!("{text}.{tail}")] {
                    prop_assert!(refused(extended.clone()), "{}", extended);
                }
                prop_assert!(refused(text.replacen("v2.", "v1.", 1)));
                let v1 = sign_v1(&key("a"), &codec.claims("novu", &user, &target));
                prop_assert!(!refused(v1.clone()), "the window is open");
                prop_assert!(refused(v1.replacen("v1.", "v2.", 1)));
                prop_assert!(codec.verify("novu", &token).is_ok());
            }
        }
    }
}
