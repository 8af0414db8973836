//! Junction's webhooks, delivered as Svix delivers them (Junction's webhooks go through
//! Svix: Junction docs `webhooks/introduction.mdx`).
//!
//! When [`SandboxConfig::junction_webhook`](crate::SandboxConfig::junction_webhook) is set,
//! the sandbox POSTs Junction's two documented connection events to the URL:
//!
//! | when | event |
//! |---|---|
//! | a link is approved (a new connection, or a reconnection of the user's provider) | `provider.connection.created` |
//! | the admin API puts a connection in error (`POST /__sandbox/junction/connection-error`) | `provider.connection.error` with its `error_type` and message |
//!
//! The bodies follow `@junction-api/sdk`'s `ClientFacingProviderConnectionCreatedEvent` and
//! `ClientFacingProviderConnectionErrorEvent`. Junction documents no event for a consent
//! the user refused or a connection the app deregistered (`DELETE /v2/user/{user_id}/{provider}`),
//! so the sandbox sends none for them.
//!
//! Each delivery has one id (`svix-id: msg_<27 alphanumerics>`) and is signed per attempt
//! (`svix-timestamp` = the attempt's time, `svix-signature: v1,<base64 HMAC-SHA256 of
//! "{id}.{timestamp}.{body}">`, keyed by the base64 after `whsec_`), as Svix's "Verifying
//! Webhooks Manually" describes; this signer is the sandbox's own, not oauth-link's verifier.
//! A delivery answered anything but 2xx (or not answered within 15 s) is tried again after
//! the next pause of the retry schedule: Svix's, which Junction's `webhooks/retry-policy.mdx`
//! repeats (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), or a shorter one for
//! tests ([`SandboxConfig::webhook_retry_schedule`](crate::SandboxConfig::webhook_retry_schedule)).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::Utc;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngExt;
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

use crate::state::lock;

/// Svix's retry schedule: the pause before each attempt (the first is immediate).
pub const SVIX_RETRY_SCHEDULE: [Duration; 8] = [
    Duration::ZERO,
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// How long one attempt may take before it counts as failed (Svix's documented timeout
/// for an endpoint's answer is 15 s).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);

/// Where the sandbox delivers Junction's events, and with which secret.
#[derive(Clone)]
pub struct WebhookTarget {
    pub(crate) url: String,
    key: Arc<Vec<u8>>,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget").field("url", &self.url).field("secret", &"[redacted]").finish()
    }
}

/// The URL, and the secret as `[redacted]`.
impl Serialize for WebhookTarget {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("WebhookTarget", 2)?;
        out.serialize_field("url", &self.url)?;
        out.serialize_field("secret", "[redacted]")?;
        out.end()
    }
}

impl WebhookTarget {
    /// Deliveries to `url` signed with `secret` (`whsec_<base64>`, the prefix optional);
    /// `None` when the secret is not base64 or the URL not http(s).
    pub fn new(url: &str, secret: &str) -> Option<Self> {
        let parsed = url::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https"))?;
        let encoded = secret.trim().strip_prefix("whsec_").unwrap_or(secret.trim());
        let key = STANDARD.decode(encoded).ok().filter(|k| !k.is_empty())?;
        Some(Self { url: parsed.to_string(), key: Arc::new(key) })
    }

    /// `v1,<base64>` for `body` sent as `id` at `timestamp`.
    fn signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// One attempt at a delivery, as the sandbox saw it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeliveryAttempt {
    /// The delivery id (`svix-id`), the same on every attempt.
    pub id: String,
    /// The event type.
    pub event_type: String,
    /// 1 for the first attempt.
    pub attempt: usize,
    /// The status the endpoint answered, `None` when it did not answer.
    pub status: Option<u16>,
}

/// Sends the events; cheap to clone.
#[derive(Clone, Default)]
pub(crate) struct Emitter {
    target: Option<WebhookTarget>,
    schedule: Vec<Duration>,
    client: Option<reqwest::Client>,
    attempts: Arc<Mutex<Vec<DeliveryAttempt>>>,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter").field("target", &self.target).field("schedule", &self.schedule).finish()
    }
}

/// Most attempts kept for [`Emitter::attempts`].
const ATTEMPT_LOG: usize = 1000;

impl Emitter {
    pub(crate) fn new(target: Option<WebhookTarget>, schedule: Vec<Duration>) -> Self {
        let client = target.as_ref().and_then(|_| reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).build().ok());
        Self { target, schedule, client, attempts: Arc::default() }
    }

    /// Every attempt so far, oldest first (at most the last 1000).
    pub(crate) fn attempts(&self) -> Vec<DeliveryAttempt> {
        lock(&self.attempts).clone()
    }

    /// Delivers `event` after `after` (the connection becomes visible then), retrying on the
    /// schedule, on a task of its own. Nothing when no target is configured or no Tokio
    /// runtime runs.
    pub(crate) fn emit(&self, event: Value, after: Duration) {
        let (Some(target), Some(client)) = (self.target.clone(), self.client.clone()) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let schedule = if self.schedule.is_empty() { vec![Duration::ZERO] } else { self.schedule.clone() };
        let attempts = self.attempts.clone();
        runtime.spawn(async move {
            tokio::time::sleep(after).await;
            deliver(&client, &target, &schedule, &event, &attempts).await;
        });
    }
}

/// A Svix-shaped message id: `msg_` and 27 alphanumerics.
fn message_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let tail: String = (0..27).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    format!("msg_{tail}")
}

async fn deliver(
    client: &reqwest::Client,
    target: &WebhookTarget,
    schedule: &[Duration],
    event: &Value,
    attempts: &Mutex<Vec<DeliveryAttempt>>,
) {
    let id = message_id();
    let body = serde_json::to_vec(event).unwrap_or_default();
    let event_type = event["event_type"].as_str().unwrap_or_default().to_owned();
    for (n, pause) in schedule.iter().enumerate() {
        tokio::time::sleep(*pause).await;
        let timestamp = Utc::now().timestamp();
        let answer = client
            .post(&target.url)
            .header("content-type", "application/json")
            .header("svix-id", &id)
            .header("svix-timestamp", timestamp.to_string())
            .header("svix-signature", target.signature(&id, timestamp, &body))
            .body(body.clone())
            .send()
            .await;
        let status = answer.as_ref().ok().map(|r| r.status().as_u16());
        {
            let mut log = lock(attempts);
            if log.len() >= ATTEMPT_LOG {
                log.remove(0);
            }
            log.push(DeliveryAttempt { id: id.clone(), event_type: event_type.clone(), attempt: n + 1, status });
        }
        match status {
            Some(200..=299) => return,
            _ => {
                tracing::debug!(%id, attempt = n + 1, ?status, "sandbox webhook delivery failed; retrying on schedule")
            }
        }
    }
    tracing::warn!(%id, "sandbox webhook delivery failed on every attempt of the schedule");
}
