//! Webhooks: verifying a platform's signed deliveries, remembering which were handled, and
//! the provider-neutral [`ConnectionEvent`] they become.
//!
//! # Verifying
//!
//! [`WebhookVerifier`] implements the symmetric scheme of the
//! [Standard Webhooks](https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md)
//! specification, which is Svix's
//! ([Verifying Webhooks Manually](https://docs.svix.com/receiving/verifying-payloads/how-manual)):
//!
//! - three headers, `webhook-id`, `webhook-timestamp` (Unix seconds) and
//!   `webhook-signature`, or the same with the `svix-` prefix (Junction sends `svix-*`, Novu's
//!   outbound webhooks `webhook-*`); each is read under either name;
//! - the signed content is `"{id}.{timestamp}.{body}"`, the raw body byte for byte;
//! - the signature is HMAC-SHA256 keyed by the secret, base64; the secret is `whsec_`
//!   followed by base64 (the prefix is optional);
//! - `webhook-signature` lists space-separated `v1,<base64>` entries (several during a
//!   secret rotation); a delivery is authentic when **any** `v1` entry matches **any**
//!   configured secret. Other versions (`v1a` asymmetric signatures) are ignored;
//! - the timestamp must be within a tolerance of now ([`DEFAULT_TOLERANCE`], 5 minutes, in
//!   both directions), which bounds how long a captured delivery can be replayed.
//!
//! Signatures are compared in constant time (hmac's `verify_slice`). Secrets are held as
//! bytes that are zeroed on drop, and never appear in `Debug`, an error or a log.
//!
//! ```
//! use oauth_link_core::webhook::{WebhookSigner, WebhookVerifier};
//!
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let body = br#"{"event_type":"provider.connection.created"}"#;
//! let now = chrono::Utc::now();
//! // What the platform sends...
//! let headers = WebhookSigner::new(secret)?.svix_headers("msg_1", now.timestamp(), body);
//! // ...and what the app checks.
//! let delivery = WebhookVerifier::new("junction", [secret])?.verify_at(&headers, body, now)?;
//! assert_eq!(delivery.id, "msg_1");
//! # Ok::<(), oauth_link_core::Error>(())
//! ```
//!
//! # Deduplicating
//!
//! Platforms deliver at least once: Svix resends a delivery, with the same id, until it is
//! answered 2xx. A [`DeliveryDedupe`] records each delivery's [`DeliveryKey`] (the
//! provider and the id) for [`DEFAULT_DEDUPE_TTL`], so a resent delivery is handled once:
//! [`MemoryDedupe`] in one process, [`FileReplayGuard`] across the processes of one
//! machine, `RedisDedupe` (crate `oauth-link-redis`) across hosts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::expiring::ExpiringMap;
use crate::raw::RawRecord;
use crate::replay::ReplayGuard;
use crate::replay_file::FileReplayGuard;
use crate::state::Nonce;

/// Largest accepted difference between a delivery's timestamp and now, either way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The prefix of a Standard Webhooks / Svix secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Longest accepted delivery id, in bytes (Svix's are about 30).
pub const MAX_DELIVERY_ID_LEN: usize = 256;

/// Most `v1` signatures read from one signature header.
const MAX_SIGNATURES: usize = 16;

type HmacSha256 = Hmac<Sha256>;

/// Which spelling of the three headers a delivery used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderStyle {
    /// `svix-id`, `svix-timestamp`, `svix-signature` (Svix's branded names; Junction).
    Svix,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks; Novu).
    Standard,
}

impl HeaderStyle {
    /// The id header.
    pub fn id(self) -> &'static str {
        match self {
            HeaderStyle::Svix => "svix-id",
            HeaderStyle::Standard => "webhook-id",
        }
    }

    /// The timestamp header.
    pub fn timestamp(self) -> &'static str {
        match self {
            HeaderStyle::Svix => "svix-timestamp",
            HeaderStyle::Standard => "webhook-timestamp",
        }
    }

    /// The signature header.
    pub fn signature(self) -> &'static str {
        match self {
            HeaderStyle::Svix => "svix-signature",
            HeaderStyle::Standard => "webhook-signature",
        }
    }
}

/// Why a webhook delivery was refused; carried by
/// [`Error::WebhookRejected`]. Each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A header is absent under both its names.
    #[error(
        "header `{header}` (or `{}`) is missing; the request is no signed webhook delivery, or a proxy dropped the header",
        svix_name(header)
    )]
    MissingHeader {
        /// The Standard Webhooks name (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
        header: &'static str,
    },

    /// A header is present but unreadable (not ASCII, not a number, no `v1` signature...).
    #[error("header `{header}` {problem}")]
    MalformedHeader {
        /// The header as the delivery named it.
        header: &'static str,
        /// What is wrong with it.
        problem: String,
    },

    /// The delivery's timestamp is older than the tolerance.
    #[error(
        "the delivery was signed {age_secs}s ago, more than the {tolerance_secs}s tolerated: a replayed request, or this server's clock is behind (check NTP); the platform resends with a fresh timestamp"
    )]
    Stale {
        /// How old the timestamp is.
        age_secs: u64,
        /// The tolerance in force.
        tolerance_secs: u64,
    },

    /// The delivery's timestamp is further in the future than the tolerance.
    #[error(
        "the delivery is dated {ahead_secs}s in the future, more than the {tolerance_secs}s tolerated: this server's clock is behind or the sender's ahead (check NTP)"
    )]
    Future {
        /// How far ahead the timestamp is.
        ahead_secs: u64,
        /// The tolerance in force.
        tolerance_secs: u64,
    },

    /// No listed signature matches any configured secret.
    #[error(
        "no signature matches a configured webhook secret: set `webhook_secret` to the endpoint's signing secret (during a rotation list the new and the old, comma-separated), and verify the raw body as received (parsing and re-serialising it breaks the signature)"
    )]
    BadSignature,

    /// The delivery was already handled: the platform resent it.
    #[error("delivery `{id}` was already handled (the platform resent it); answer 2xx and do nothing more")]
    Replayed {
        /// The delivery id.
        id: String,
    },
}

fn svix_name(standard: &str) -> String {
    standard.replacen("webhook-", "svix-", 1)
}

impl WebhookError {
    /// True for a delivery that is authentic but was already handled.
    pub fn is_replay(&self) -> bool {
        matches!(self, WebhookError::Replayed { .. })
    }
}

/// Decodes `whsec_<base64>` (prefix optional) into key bytes.
fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    let secret = secret.trim();
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD.decode(encoded).ok().filter(|key| !key.is_empty())
}

fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length: this never fails.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The delivery id of a request (`svix-id`, else `webhook-id`), when present and text.
/// Only an id [`WebhookVerifier`] accepted is authentic.
pub fn delivery_id(headers: &HeaderMap) -> Option<&str> {
    [HeaderStyle::Svix, HeaderStyle::Standard]
        .into_iter()
        .find_map(|style| headers.get(style.id()))
        .and_then(|value| value.to_str().ok())
}

/// What a successful verification proved about a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedDelivery {
    /// The provider kind whose secret verified it.
    pub provider: &'static str,
    /// The delivery id (`svix-id` / `webhook-id`): the same on every resend.
    pub id: String,
    /// When the platform signed this attempt.
    pub timestamp: DateTime<Utc>,
    /// The header spelling the delivery used.
    pub style: HeaderStyle,
}

impl VerifiedDelivery {
    /// The key to deduplicate this delivery with.
    pub fn key(&self) -> DeliveryKey {
        DeliveryKey::new(self.provider, &self.id)
    }
}

/// Checks Standard Webhooks / Svix signatures with one or more secrets (see the
/// [module docs](self)).
///
/// `Debug` shows how many secrets it holds, never one.
#[derive(Clone)]
pub struct WebhookVerifier {
    provider: &'static str,
    keys: Arc<[SecretSlice<u8>]>,
    tolerance: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("provider", &self.provider)
            .field("secrets", &self.keys.len())
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// A verifier for `provider`'s deliveries accepting any of `secrets` (`whsec_<base64>`,
    /// the prefix optional): list the new and the old secret during a rotation.
    ///
    /// Fails with [`Error::Config`] (key `webhook_secret`) when none is given or one is not
    /// base64; the message numbers the secret at fault and never shows it.
    pub fn new<I, S>(provider: &'static str, secrets: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys = Vec::new();
        for (n, secret) in secrets.into_iter().enumerate() {
            let key = decode_secret(secret.as_ref()).ok_or_else(|| {
                Error::config(
                    "webhook_secret",
                    format!(
                        "webhook secret #{} of {provider} is not `whsec_` followed by base64; copy the endpoint's signing secret from the platform's dashboard",
                        n + 1
                    ),
                )
            })?;
            keys.push(SecretSlice::from(key));
        }
        if keys.is_empty() {
            return Err(Error::config(
                "webhook_secret",
                format!("no webhook secret configured for {provider}; set `webhook_secret` to the endpoint's signing secret"),
            ));
        }
        Ok(Self { provider, keys: keys.into(), tolerance: DEFAULT_TOLERANCE, clock: Arc::new(SystemClock) })
    }

    /// Sets the timestamp tolerance (default [`DEFAULT_TOLERANCE`]).
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Sets the time source (default the system clock).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The provider kind this verifier checks deliveries of.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// How many secrets are accepted.
    pub fn secrets(&self) -> usize {
        self.keys.len()
    }

    /// The timestamp tolerance in force.
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Verifies a delivery from its headers and raw body, at the clock's now.
    ///
    /// Errors: [`Error::WebhookRejected`] with the [`WebhookError`] (answer 400/401: the
    /// platform's retries will not help, except for a stale timestamp after a clock fix).
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<VerifiedDelivery> {
        self.verify_at(headers, body, self.clock.now())
    }

    /// [`verify`](Self::verify) at `now`.
    pub fn verify_at(&self, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Result<VerifiedDelivery> {
        let (id, style) = self.header(headers, HeaderStyle::id)?;
        let (timestamp, _) = self.header(headers, HeaderStyle::timestamp)?;
        let (signature, _) = self.header(headers, HeaderStyle::signature)?;
        self.check(style, [id, timestamp, signature], body, now).map_err(|reason| self.rejected(reason))
    }

    /// Verifies a delivery from the three header values (id, timestamp, signature) and the
    /// raw body, at `now`; errors name the headers with their `webhook-` names.
    pub fn verify_parts(
        &self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<VerifiedDelivery> {
        self.check(HeaderStyle::Standard, [id, timestamp, signature], body, now).map_err(|reason| self.rejected(reason))
    }

    fn rejected(&self, reason: WebhookError) -> Error {
        Error::WebhookRejected { provider: self.provider, reason }
    }

    /// A header under its `svix-` name, else its `webhook-` name.
    fn header<'h>(
        &self,
        headers: &'h HeaderMap,
        name: fn(HeaderStyle) -> &'static str,
    ) -> Result<(&'h str, HeaderStyle)> {
        for style in [HeaderStyle::Svix, HeaderStyle::Standard] {
            if let Some(value) = headers.get(name(style)) {
                let text = value.to_str().map_err(|_| {
                    self.rejected(WebhookError::MalformedHeader {
                        header: name(style),
                        problem: "is not visible ASCII".into(),
                    })
                })?;
                return Ok((text, style));
            }
        }
        Err(self.rejected(WebhookError::MissingHeader { header: name(HeaderStyle::Standard) }))
    }

    fn check(
        &self,
        style: HeaderStyle,
        [id, timestamp, signature]: [&str; 3],
        body: &[u8],
        now: DateTime<Utc>,
    ) -> std::result::Result<VerifiedDelivery, WebhookError> {
        let malformed =
            |header: &'static str, problem: &str| WebhookError::MalformedHeader { header, problem: problem.to_owned() };
        if id.is_empty() || id.len() > MAX_DELIVERY_ID_LEN || id.contains(|c: char| c.is_ascii_whitespace()) {
            return Err(malformed(
                style.id(),
                &format!("must be 1 to {MAX_DELIVERY_ID_LEN} characters without spaces"),
            ));
        }
        let seconds: i64 =
            timestamp.parse().map_err(|_| malformed(style.timestamp(), "must be Unix seconds (digits only)"))?;
        let signed_at = DateTime::from_timestamp(seconds, 0)
            .ok_or_else(|| malformed(style.timestamp(), "is out of the representable range"))?;
        let tolerance_secs = self.tolerance.as_secs();
        let age = now.timestamp().saturating_sub(seconds);
        if age > 0 && age.unsigned_abs() > tolerance_secs {
            return Err(WebhookError::Stale { age_secs: age.unsigned_abs(), tolerance_secs });
        }
        if age < 0 && age.unsigned_abs() > tolerance_secs {
            return Err(WebhookError::Future { ahead_secs: age.unsigned_abs(), tolerance_secs });
        }
        let candidates: Vec<Vec<u8>> = signature
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|sig| STANDARD.decode(sig).ok())
            .take(MAX_SIGNATURES)
            .collect();
        if candidates.is_empty() {
            return Err(malformed(style.signature(), "holds no `v1,<base64>` signature"));
        }
        for key in self.keys.iter() {
            let mac = mac(key.expose_secret(), id, timestamp, body);
            // verify_slice compares in constant time.
            if candidates.iter().any(|candidate| mac.clone().verify_slice(candidate).is_ok()) {
                return Ok(VerifiedDelivery {
                    provider: self.provider,
                    id: id.to_owned(),
                    timestamp: signed_at,
                    style,
                });
            }
        }
        Err(WebhookError::BadSignature)
    }
}

/// Signs deliveries as a Standard Webhooks / Svix sender does: for the sandbox, which plays
/// the platforms, and for tests. `Debug` never shows the secret.
#[derive(Clone)]
pub struct WebhookSigner {
    key: SecretSlice<u8>,
}

impl std::fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSigner([redacted])")
    }
}

impl WebhookSigner {
    /// A signer with `secret` (`whsec_<base64>`, the prefix optional).
    ///
    /// Fails with [`Error::Config`] (key `webhook_secret`) when it is not base64.
    pub fn new(secret: &str) -> Result<Self> {
        let key = decode_secret(secret)
            .ok_or_else(|| Error::config("webhook_secret", "the webhook secret is not `whsec_` followed by base64"))?;
        Ok(Self { key: SecretSlice::from(key) })
    }

    /// The `v1,<base64>` signature of `body` sent as delivery `id` at `timestamp` (Unix seconds).
    pub fn signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mac = mac(self.key.expose_secret(), id, &timestamp.to_string(), body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The three headers of a delivery, spelled `style`.
    pub fn headers(&self, style: HeaderStyle, id: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            (style.id(), id.to_owned()),
            (style.timestamp(), timestamp.to_string()),
            (style.signature(), self.signature(id, timestamp, body)),
        ] {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        headers
    }

    /// [`headers`](Self::headers) with the `svix-` names.
    pub fn svix_headers(&self, id: &str, timestamp: i64, body: &[u8]) -> HeaderMap {
        self.headers(HeaderStyle::Svix, id, timestamp, body)
    }
}

// ---------------------------------------------------------------------------- dedupe

/// How long a handled delivery is remembered: longer than the ~27.6 hours over which Svix
/// resends an unanswered delivery (immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h and 10 h; Junction's `docs/webhooks/retry-policy.mdx` documents the same).
pub const DEFAULT_DEDUPE_TTL: Duration = Duration::from_secs(48 * 3600);

/// Default bound on the deliveries [`MemoryDedupe`] remembers.
pub const DEFAULT_DEDUPE_CAPACITY: usize = 100_000;

/// What a [`DeliveryDedupe`] remembers of a delivery: 128 bits of SHA-256 over the provider
/// kind and the delivery id. Fixed-size whatever the id, and shaped like a link state's
/// [`Nonce`], so the replay guards' stores (a directory, Redis) keep it the same way.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryKey([u8; 16]);

impl DeliveryKey {
    /// The key of delivery `id` from `provider`.
    pub fn new(provider: &str, id: &str) -> Self {
        let digest = Sha256::new().chain_update(provider).chain_update([0]).chain_update(id).finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Self(bytes)
    }

    /// The key as one integer.
    pub fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// The key as a [`Nonce`], for a store built on a [`ReplayGuard`].
    pub fn as_nonce(&self) -> Nonce {
        Nonce(self.0)
    }
}

impl std::fmt::Display for DeliveryKey {
    /// 32 hexadecimal digits.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.as_u128())
    }
}

impl std::fmt::Debug for DeliveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeliveryKey({self})")
    }
}

/// Remembers which webhook deliveries were handled, so a resent one is handled once.
///
/// Implementations make [`first_delivery`](Self::first_delivery) atomic: of two concurrent
/// calls with the same key exactly one returns `true`. When the store cannot be asked they
/// return [`Error::ReplayGuard`] (fail closed: the app answers 503 and the platform resends
/// later) rather than `true`.
#[async_trait]
pub trait DeliveryDedupe: std::fmt::Debug + Send + Sync {
    /// Records `key` until `expires_at`. `true` the first time, `false` when it is already
    /// recorded (a resent delivery).
    async fn first_delivery(&self, key: DeliveryKey, expires_at: DateTime<Utc>) -> Result<bool>;

    /// Forgets `key`, so the platform's next resend is handled again (call it when handling
    /// the delivery failed after it was recorded).
    async fn forget(&self, key: DeliveryKey) -> Result<()>;
}

/// In-process [`DeliveryDedupe`]: bounded and expiring (core's [`ExpiringMap`]).
///
/// Holds at most `capacity` deliveries; when full, the oldest is forgotten to make room (a
/// resend of it after that would be handled again; with the default capacity that takes
/// 100,000 deliveries within [`DEFAULT_DEDUPE_TTL`]). Suits one app instance; several
/// need a shared store (Redis).
#[derive(Debug)]
pub struct MemoryDedupe {
    seen: Mutex<ExpiringMap<u128, ()>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryDedupe {
    fn default() -> Self {
        Self::new(DEFAULT_DEDUPE_CAPACITY)
    }
}

impl MemoryDedupe {
    /// Remembers at most `capacity` deliveries (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self { seen: Mutex::new(ExpiringMap::new(capacity)), clock: Arc::new(SystemClock) }
    }

    /// Sets the time source.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Deliveries remembered (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when none is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ExpiringMap<u128, ()>> {
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl DeliveryDedupe for MemoryDedupe {
    async fn first_delivery(&self, key: DeliveryKey, expires_at: DateTime<Utc>) -> Result<bool> {
        let now = self.clock.now();
        let mut seen = self.lock();
        if seen.get(&key.as_u128(), now).is_some() {
            return Ok(false);
        }
        seen.insert(key.as_u128(), (), expires_at, now);
        Ok(true)
    }

    async fn forget(&self, key: DeliveryKey) -> Result<()> {
        self.lock().remove(&key.as_u128());
        Ok(())
    }
}

/// The directory guard remembers deliveries as it remembers used states: one marker file
/// per key, created atomically (for a command-line tool, or workers on one host). Give it
/// its own directory.
#[async_trait]
impl DeliveryDedupe for FileReplayGuard {
    async fn first_delivery(&self, key: DeliveryKey, expires_at: DateTime<Utc>) -> Result<bool> {
        self.consume(key.as_nonce(), expires_at).await
    }

    async fn forget(&self, key: DeliveryKey) -> Result<()> {
        self.release(key.as_nonce()).await
    }
}

/// Records delivery `id` of `provider` in `store` for [`DEFAULT_DEDUPE_TTL`].
///
/// Errors: [`Error::WebhookRejected`] with [`WebhookError::Replayed`] when it was already
/// handled; [`Error::ReplayGuard`] when the store cannot be asked.
pub async fn dedupe_delivery(store: &dyn DeliveryDedupe, provider: &'static str, id: &str) -> Result<()> {
    let expires_at = Utc::now() + chrono::TimeDelta::from_std(DEFAULT_DEDUPE_TTL).unwrap_or(chrono::TimeDelta::MAX);
    if store.first_delivery(DeliveryKey::new(provider, id), expires_at).await? {
        Ok(())
    } else {
        Err(Error::WebhookRejected { provider, reason: WebhookError::Replayed { id: id.to_owned() } })
    }
}

// ---------------------------------------------------------------------------- events

/// What happened to a connection, as a platform's webhook said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConnectionEventKind {
    /// A user connected an account (a link completed; also a reconnection).
    Created,
    /// The connection stopped working until the user authorises it again (a revoked or
    /// expired token, missing scopes, a changed password): offer a reconnect.
    NeedsReauthorization,
    /// The connection failed for a reason the user cannot fix by reconnecting.
    Failed,
    /// The connection was removed (by the user at the third party, or on the platform).
    Removed,
}

impl ConnectionEventKind {
    /// The wire name (`created`, `needs_reauthorization`, `failed`, `removed`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionEventKind::Created => "created",
            ConnectionEventKind::NeedsReauthorization => "needs_reauthorization",
            ConnectionEventKind::Failed => "failed",
            ConnectionEventKind::Removed => "removed",
        }
    }
}

impl std::fmt::Display for ConnectionEventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A verified platform event about a connection, normalised across platforms: what
/// [`LinkProvider::webhook_event`](crate::LinkProvider::webhook_event) returns.
///
/// Serialises as one flat JSON object (`event` is the kind). Adapters build it with
/// [`ConnectionEvent::new`] and the `with_*` setters; fields may be added later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ConnectionEvent {
    /// What happened.
    #[serde(rename = "event")]
    pub kind: ConnectionEventKind,
    /// Provider kind (`junction`...).
    pub provider: String,
    /// The user: the app's own id (as in [`LinkRequest::user`](crate::LinkRequest)) when
    /// `user_mapped`, else the platform's id for the user.
    pub user: String,
    /// True when `user` is the app's id; false when the event named only the platform's
    /// user and the adapter could not map it back.
    pub user_mapped: bool,
    /// The platform's own id for the user, when the event gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_user: Option<String>,
    /// What was connected (as in [`Connection::target`](crate::Connection)).
    pub target: String,
    /// The connection's id, as [`Connection::id`](crate::Connection) and
    /// [`disconnect`](crate::LinkProvider::disconnect) know it, when the event identifies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    /// The platform's reason (error type and message), for the kinds other than `created`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The platform's event type as sent (`provider.connection.error`...).
    pub platform_event: String,
    /// The delivery id: the same on every resend (deduplicate on it).
    pub delivery_id: String,
    /// When the platform signed the delivery.
    pub delivered_at: DateTime<Utc>,
    /// The event's body as sent, fields whose names mark them secret removed.
    #[serde(default, skip_serializing_if = "RawRecord::is_none")]
    pub raw: RawRecord,
}

impl ConnectionEvent {
    /// An event of `kind` about `user`'s connection to `target`, from `delivery`; the user is
    /// taken as the app's id (unless [`with_user_mapped`](Self::with_user_mapped) says
    /// otherwise).
    pub fn new(
        kind: ConnectionEventKind,
        delivery: &VerifiedDelivery,
        platform_event: impl Into<String>,
        user: impl Into<String>,
        target: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            provider: delivery.provider.to_owned(),
            user: user.into(),
            user_mapped: true,
            platform_user: None,
            target: target.into(),
            connection_id: None,
            reason: None,
            platform_event: platform_event.into(),
            delivery_id: delivery.id.clone(),
            delivered_at: delivery.timestamp,
            raw: RawRecord::none(),
        }
    }

    /// Sets the platform's id for the user.
    pub fn with_platform_user(mut self, platform_user: impl Into<String>) -> Self {
        self.platform_user = Some(platform_user.into());
        self
    }

    /// Says whether `user` is the app's id (`true`) or the platform's, which the adapter
    /// could not map to the app's (`false`).
    pub fn with_user_mapped(mut self, mapped: bool) -> Self {
        self.user_mapped = mapped;
        self
    }

    /// Sets the connection id.
    pub fn with_connection_id(mut self, id: impl Into<String>) -> Self {
        self.connection_id = Some(id.into());
        self
    }

    /// Sets the platform's reason.
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Keeps the event's body (already scrubbed of secrets).
    pub fn with_raw(mut self, raw: RawRecord) -> Self {
        self.raw = raw;
        self
    }
}

// ---------------------------------------------------------------------------- completion

/// How many events a [`ConnectionNotifier`] buffers for a slow waiter (one that falls
/// further behind re-checks the platform at once).
const NOTIFIER_CAPACITY: usize = 256;

/// Wakes a completion that waits for a connection when a verified webhook event announces
/// it: completion without polling, where the platform sends events.
///
/// Every [`LinkContext`](crate::LinkContext) holds one (shared by its clones, so by every
/// adapter built with it). An adapter whose platform sends events feeds it from
/// [`LinkProvider::webhook_event`](crate::LinkProvider::webhook_event) (so the axum
/// webhook route and the CLI feed it without more code), and its `complete_callback`
/// re-checks the platform as soon as a matching event arrives instead of at the next poll
/// ([`poll_or_event`]); polling stays the fallback. An app that receives events some other
/// way (a queue) calls [`notify`](Self::notify) itself. In-process only: with several app
/// instances, an event reaching another instance leaves this one polling.
#[derive(Debug, Clone)]
pub struct ConnectionNotifier {
    sender: tokio::sync::broadcast::Sender<Arc<ConnectionEvent>>,
}

impl Default for ConnectionNotifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ConnectionNotifier {
    /// A notifier nobody listens to yet.
    pub fn new() -> Self {
        Self { sender: tokio::sync::broadcast::channel(NOTIFIER_CAPACITY).0 }
    }

    /// Tells every waiting completion about `event` (nothing happens when none waits).
    pub fn notify(&self, event: &ConnectionEvent) {
        if self.sender.receiver_count() > 0 {
            let _ = self.sender.send(Arc::new(event.clone()));
        }
    }

    /// Starts listening; events notified from now on reach the watch. Subscribe before the
    /// first look at the platform, so an event arriving in between is not missed.
    pub fn subscribe(&self) -> ConnectionWatch {
        ConnectionWatch { receiver: self.sender.subscribe() }
    }

    /// How many completions are waiting.
    pub fn waiting(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// A completion's subscription to a [`ConnectionNotifier`].
#[derive(Debug)]
pub struct ConnectionWatch {
    receiver: tokio::sync::broadcast::Receiver<Arc<ConnectionEvent>>,
}

impl ConnectionWatch {
    /// Waits at most `timeout` for an event `wanted` accepts. `true` when one came, or when
    /// events were missed (too many at once): either way the caller should look again now.
    pub async fn wait(&mut self, timeout: Duration, wanted: &(dyn Fn(&ConnectionEvent) -> bool + Sync)) -> bool {
        let matching = async {
            loop {
                match self.receiver.recv().await {
                    Ok(event) if wanted(&event) => return true,
                    Ok(_) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return true,
                    // The notifier is gone: nothing will come, sleep the timeout out.
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        };
        tokio::time::timeout(timeout, matching).await.unwrap_or(false)
    }
}

/// [`PollPolicy::poll`](crate::adapter::PollPolicy::poll), woken early: calls `probe`
/// until it yields a value or the policy's timeout passes (`Ok(None)`), pausing between
/// looks as the policy says, except that an event `wanted` accepts ends the pause at once.
/// Without a watch it is exactly the policy's polling. Probe errors end it at once.
pub async fn poll_or_event<T, F, Fut>(
    policy: &crate::adapter::PollPolicy,
    mut watch: Option<ConnectionWatch>,
    wanted: &(dyn Fn(&ConnectionEvent) -> bool + Sync),
    mut probe: F,
) -> Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>>>,
{
    let started = tokio::time::Instant::now();
    let mut interval = policy.interval;
    loop {
        if let Some(value) = probe().await? {
            return Ok(Some(value));
        }
        let elapsed = started.elapsed();
        if elapsed >= policy.timeout {
            return Ok(None);
        }
        let pause = interval.min(policy.timeout - elapsed);
        match watch.as_mut() {
            Some(watch) => {
                watch.wait(pause, wanted).await;
            }
            None => tokio::time::sleep(pause).await,
        }
        interval = (interval * 2).min(policy.max_interval);
    }
}

#[cfg(test)]
mod tests;
