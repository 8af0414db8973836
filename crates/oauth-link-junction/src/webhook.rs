//! Verifying and parsing Junction's webhook deliveries (sent through Svix).
//!
//! Svix signs `"{svix-id}.{svix-timestamp}.{body}"` with HMAC-SHA256, keyed by the
//! base64-decoded part of the endpoint secret after `whsec_`, and sends
//! `svix-signature: v1,<base64> [v1,<base64> ...]`. A delivery is accepted when any
//! listed `v1` signature matches any configured secret (several secrets during rotation)
//! and its timestamp is within [`TOLERANCE`] of `now`, in either direction.
//!
//! ```
//! use oauth_link_junction::webhook::{JunctionEvent, WebhookVerifier};
//! # fn handle(headers: &http::HeaderMap, body: &[u8]) -> oauth_link_core::Result<()> {
//! let verifier = WebhookVerifier::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])?;
//! match verifier.verify(headers, body, chrono::Utc::now())? {
//!     JunctionEvent::ConnectionCreated(event) => println!("{} connected {}", event.client_user_id, event.provider.slug),
//!     JunctionEvent::ConnectionError(event) => println!("{} failed: {:?}", event.provider.slug, event.error_type),
//!     JunctionEvent::Unknown { event_type, .. } => println!("ignored {event_type}"),
//!     _ => {}
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use oauth_link_core::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::KIND;

/// Largest accepted clock difference between the delivery's timestamp and `now`.
pub const TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// Header names Svix uses.
pub const ID_HEADER: &str = "svix-id";
/// Unix seconds of the delivery attempt.
pub const TIMESTAMP_HEADER: &str = "svix-timestamp";
/// Space-separated `v1,<base64>` signatures.
pub const SIGNATURE_HEADER: &str = "svix-signature";

type HmacSha256 = Hmac<Sha256>;

/// Checks Svix signatures with one or more endpoint secrets.
#[derive(Clone)]
pub struct WebhookVerifier {
    keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier").field("secrets", &self.keys.len()).finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// A verifier accepting any of `secrets` (`whsec_<base64>`; the prefix is optional).
    ///
    /// Fails with [`Error::Config`] (key `webhook_secrets`) when none is given or one is
    /// not base64; the message never shows a secret.
    pub fn new<I, S>(secrets: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys = Vec::new();
        for (n, secret) in secrets.into_iter().enumerate() {
            let secret = secret.as_ref().trim();
            let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
            let key = STANDARD.decode(encoded).ok().filter(|k| !k.is_empty()).ok_or_else(|| {
                Error::config(
                    "webhook_secrets",
                    format!("webhook secret #{} is not `whsec_` followed by base64; copy the endpoint's Signing Secret from the Junction dashboard", n + 1),
                )
            })?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(Error::config("webhook_secrets", "no webhook secret configured; set `webhook_secrets`"));
        }
        Ok(Self { keys })
    }

    /// Verifies a delivery from its HTTP headers and raw body, then parses the event.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8], now: DateTime<Utc>) -> Result<JunctionEvent> {
        let header = |name: &'static str| -> Result<&str> {
            let value = headers.get(name).ok_or_else(|| Error::invalid_input(KIND, name, "header is missing"))?;
            value.to_str().map_err(|_| Error::invalid_input(KIND, name, "header is not visible ASCII"))
        };
        self.verify_parts(header(ID_HEADER)?, header(TIMESTAMP_HEADER)?, header(SIGNATURE_HEADER)?, body, now)
    }

    /// Verifies a delivery from the three Svix header values and the raw body, then
    /// parses the event.
    ///
    /// Errors: [`Error::InvalidInput`] naming the header for a missing, malformed, stale
    /// or non-matching signature (answer the delivery with 400/401); [`Error::Decode`]
    /// when an authentic body is not a Junction event.
    pub fn verify_parts(
        &self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<JunctionEvent> {
        self.check_signature(id, timestamp, signature, body, now)?;
        JunctionEvent::parse(body)
    }

    /// Checks only the signature and timestamp.
    pub fn check_signature(
        &self,
        id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<()> {
        if id.trim().is_empty() {
            return Err(Error::invalid_input(KIND, ID_HEADER, "header is empty"));
        }
        let seconds: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| Error::invalid_input(KIND, TIMESTAMP_HEADER, "must be Unix seconds"))?;
        let skew = (now.timestamp() - seconds).unsigned_abs();
        if skew > TOLERANCE.as_secs() {
            return Err(Error::invalid_input(
                KIND,
                TIMESTAMP_HEADER,
                format!(
                    "delivery is {skew}s away from now, more than the {}s tolerated (replayed or clock skew)",
                    TOLERANCE.as_secs()
                ),
            ));
        }
        let candidates: Vec<Vec<u8>> = signature
            .split(' ')
            .filter_map(|entry| entry.strip_prefix("v1,"))
            .filter_map(|sig| STANDARD.decode(sig).ok())
            .collect();
        if candidates.is_empty() {
            return Err(Error::invalid_input(KIND, SIGNATURE_HEADER, "holds no `v1,<base64>` signature"));
        }
        for key in &self.keys {
            let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(timestamp.as_bytes());
            mac.update(b".");
            mac.update(body);
            for candidate in &candidates {
                // verify_slice compares in constant time.
                if mac.clone().verify_slice(candidate).is_ok() {
                    return Ok(());
                }
            }
        }
        Err(Error::invalid_input(KIND, SIGNATURE_HEADER, "no signature matches a configured webhook secret"))
    }
}

/// A provider as events name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventProvider {
    /// Slug (`oura`, `fitbit`...).
    pub slug: String,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Logo URL.
    #[serde(default)]
    pub logo: Option<String>,
}

/// `provider.connection.created`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionCreated {
    /// Junction `user_id`.
    pub user_id: String,
    /// The app's id for the user.
    pub client_user_id: String,
    /// Junction team.
    pub team_id: String,
    /// The connected provider.
    pub provider: EventProvider,
    /// The provider-side user id, when known.
    pub external_user_id: Option<String>,
    /// Resource availability as sent.
    pub resource_availability: serde_json::Value,
    /// The whole event.
    pub raw: serde_json::Value,
}

/// `provider.connection.error`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConnectionErrored {
    /// Junction `user_id`.
    pub user_id: String,
    /// The app's id for the user.
    pub client_user_id: Option<String>,
    /// Junction team.
    pub team_id: Option<String>,
    /// The provider.
    pub provider: EventProvider,
    /// Error category (`token_refresh_failed`...).
    pub error_type: Option<String>,
    /// Human-readable message.
    pub message: Option<String>,
    /// Error details as sent.
    pub error_details: serde_json::Value,
    /// The whole event.
    pub raw: serde_json::Value,
}

/// A verified Junction webhook event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum JunctionEvent {
    /// A user connected a provider.
    ConnectionCreated(ConnectionCreated),
    /// A connection failed.
    ConnectionError(ConnectionErrored),
    /// Any other event type, kept as sent.
    Unknown {
        /// `event_type` of the delivery.
        event_type: String,
        /// The whole event.
        raw: serde_json::Value,
    },
}

#[derive(Deserialize)]
struct Envelope {
    event_type: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    client_user_id: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    data: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ProviderField {
    Object(EventProvider),
    Slug(String),
}

impl JunctionEvent {
    /// Parses an (already verified) event body.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let raw: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Error::decode(KIND, format!("webhook body is not JSON: {e}"), body))?;
        let envelope: Envelope = serde_json::from_value(raw.clone())
            .map_err(|e| Error::decode(KIND, format!("webhook body has no event_type: {e}"), body))?;
        let data = &envelope.data;
        let text = |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_str()).map(str::to_owned);
        let provider = |body: &[u8]| -> Result<EventProvider> {
            let field = data.get("provider").or_else(|| data.get("source")).cloned().unwrap_or_default();
            match serde_json::from_value::<ProviderField>(field) {
                Ok(ProviderField::Object(p)) => Ok(p),
                Ok(ProviderField::Slug(slug)) => Ok(EventProvider { slug, name: None, logo: None }),
                Err(_) => Err(Error::decode(KIND, "webhook data.provider is missing or has no slug", body)),
            }
        };
        let user_id = |body: &[u8]| {
            envelope
                .user_id
                .clone()
                .or_else(|| text(data, "user_id"))
                .ok_or_else(|| Error::decode(KIND, "webhook event has no user_id", body))
        };
        match envelope.event_type.as_str() {
            "provider.connection.created" => Ok(JunctionEvent::ConnectionCreated(ConnectionCreated {
                user_id: user_id(body)?,
                client_user_id: envelope
                    .client_user_id
                    .clone()
                    .ok_or_else(|| Error::decode(KIND, "webhook event has no client_user_id", body))?,
                team_id: envelope.team_id.clone().unwrap_or_default(),
                provider: provider(body)?,
                external_user_id: text(data, "external_user_id"),
                resource_availability: data.get("resource_availability").cloned().unwrap_or_default(),
                raw,
            })),
            "provider.connection.error" => Ok(JunctionEvent::ConnectionError(ConnectionErrored {
                user_id: user_id(body)?,
                client_user_id: envelope.client_user_id.clone(),
                team_id: envelope.team_id.clone(),
                provider: provider(body)?,
                error_type: text(data, "error_type"),
                message: text(data, "message"),
                error_details: data.get("error_details").cloned().unwrap_or_default(),
                raw,
            })),
            _ => Ok(JunctionEvent::Unknown { event_type: envelope.event_type, raw }),
        }
    }
}
