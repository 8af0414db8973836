//! Junction's webhook deliveries (sent through Svix): verified by core's
//! [`WebhookVerifier`], parsed here into [`JunctionEvent`], and normalised into a
//! [`ConnectionEvent`](oauth_link_core::webhook::ConnectionEvent) by
//! [`JunctionProvider::webhook_event`](crate::JunctionProvider).
//!
//! Junction documents two connection events (`@junction-api/sdk`
//! `ClientFacingProviderConnectionCreatedEvent`, `ClientFacingProviderConnectionErrorEvent`;
//! Junction docs `webhooks/introduction.mdx`, `event-catalog/provider.connection.created.mdx`):
//!
//! | `event_type` | `data` | [`ConnectionEventKind`] |
//! |---|---|---|
//! | `provider.connection.created` | `{user_id, provider: {name, slug, logo}, source (deprecated copy), external_user_id?, resource_availability}` | `created` |
//! | `provider.connection.error` with `error_type` `token_refresh_failed`, `required_scopes_not_granted`, `provider_credential_error`, `provider_password_expired` | `{provider: "<slug>", user_id, message, error_type, error_details: "<text>"}` | `needs_reauthorization` |
//! | `provider.connection.error` with `deregistered_per_provider` | same | `removed` (the user deregistered at the provider) |
//! | `provider.connection.error` with `webhook_registration_failed`, `user_not_found`, `unknown` or another type | same | `failed` |
//! | anything else (`daily.data.*`, `provider.device.*`...) | | none (`Ok(None)`) |
//!
//! Both events carry `user_id` (Junction's), `client_user_id` (the app's) and `team_id` at
//! the top level. Junction documents no event for a connection removed through the API
//! (`DELETE /v2/user/{user_id}/{provider}`): the app that removed it knows.
//!
//! ```
//! use oauth_link_junction::webhook::{verifier, JunctionEvent};
//! # fn handle(headers: &http::HeaderMap, body: &[u8]) -> oauth_link_core::Result<()> {
//! let verifier = verifier(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])?;
//! let delivery = verifier.verify(headers, body)?;
//! match JunctionEvent::parse(body)? {
//!     JunctionEvent::ConnectionCreated(event) => println!("{} connected {}", event.client_user_id, event.provider.slug),
//!     JunctionEvent::ConnectionError(event) => println!("{} failed: {:?}", event.provider.slug, event.error_type),
//!     JunctionEvent::Unknown { event_type, .. } => println!("ignored {event_type} ({})", delivery.id),
//!     _ => {}
//! }
//! # Ok(()) }
//! ```

use oauth_link_core::webhook::ConnectionEventKind;
pub use oauth_link_core::webhook::WebhookVerifier;
use oauth_link_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::KIND;

/// `event_type` of a new connection.
pub const CONNECTION_CREATED: &str = "provider.connection.created";
/// `event_type` of a failed connection.
pub const CONNECTION_ERROR: &str = "provider.connection.error";

/// A verifier of Junction's deliveries accepting any of `secrets` (`whsec_...`, the
/// endpoint's Signing Secret in the Junction dashboard; list the new and the old during a
/// rotation). Errors: [`Error::Config`] (key `webhook_secret`), never showing a secret.
pub fn verifier<I, S>(secrets: I) -> Result<WebhookVerifier>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    WebhookVerifier::new(KIND, secrets)
}

/// What a `provider.connection.error` of `error_type` means for the connection (see the
/// table in the [module docs](self)).
pub fn error_kind(error_type: Option<&str>) -> ConnectionEventKind {
    match error_type {
        Some(
            "token_refresh_failed"
            | "required_scopes_not_granted"
            | "provider_credential_error"
            | "provider_password_expired",
        ) => ConnectionEventKind::NeedsReauthorization,
        Some("deregistered_per_provider") => ConnectionEventKind::Removed,
        _ => ConnectionEventKind::Failed,
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
    /// The app's id for the user (required by the SDK's schema; tolerated missing).
    pub client_user_id: Option<String>,
    /// Junction team.
    pub team_id: Option<String>,
    /// The provider.
    pub provider: EventProvider,
    /// Error category (`token_refresh_failed`...).
    pub error_type: Option<String>,
    /// Human-readable message.
    pub message: Option<String>,
    /// Error details as sent (text in the SDK's schema).
    pub error_details: serde_json::Value,
    /// The whole event.
    pub raw: serde_json::Value,
}

impl ConnectionErrored {
    /// `error_type: message` (either alone when the other is missing; `unknown` for none).
    pub fn reason(&self) -> String {
        let kind = self.error_type.as_deref().filter(|t| !t.is_empty()).unwrap_or("unknown");
        match self.message.as_deref().filter(|m| !m.is_empty()) {
            Some(message) => format!("{kind}: {message}"),
            None => kind.to_owned(),
        }
    }
}

/// A Junction webhook event.
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
    ///
    /// Errors: [`Error::Decode`] for a body that is not a Junction event, or a connection
    /// event without its user or provider.
    pub fn parse(body: &[u8]) -> Result<Self> {
        let raw: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Error::decode(KIND, format!("webhook body is not JSON: {e}"), body))?;
        let envelope: Envelope = serde_json::from_value(raw.clone())
            .map_err(|e| Error::decode(KIND, format!("webhook body has no event_type: {e}"), body))?;
        let data = &envelope.data;
        let text = |v: &serde_json::Value, key: &str| v.get(key).and_then(|x| x.as_str()).map(str::to_owned);
        let provider = || -> Result<EventProvider> {
            let field = data.get("provider").or_else(|| data.get("source")).cloned().unwrap_or_default();
            match serde_json::from_value::<ProviderField>(field) {
                Ok(ProviderField::Object(p)) if !p.slug.is_empty() => Ok(p),
                Ok(ProviderField::Slug(slug)) if !slug.is_empty() => Ok(EventProvider { slug, name: None, logo: None }),
                _ => Err(Error::decode(KIND, "webhook data.provider is missing or has no slug", body)),
            }
        };
        let user_id = || {
            envelope
                .user_id
                .clone()
                .or_else(|| text(data, "user_id"))
                .filter(|id| !id.is_empty())
                .ok_or_else(|| Error::decode(KIND, "webhook event has no user_id", body))
        };
        match envelope.event_type.as_str() {
            CONNECTION_CREATED => Ok(JunctionEvent::ConnectionCreated(ConnectionCreated {
                user_id: user_id()?,
                client_user_id: envelope
                    .client_user_id
                    .clone()
                    .ok_or_else(|| Error::decode(KIND, "webhook event has no client_user_id", body))?,
                team_id: envelope.team_id.clone().unwrap_or_default(),
                provider: provider()?,
                external_user_id: text(data, "external_user_id"),
                resource_availability: data.get("resource_availability").cloned().unwrap_or_default(),
                raw,
            })),
            CONNECTION_ERROR => Ok(JunctionEvent::ConnectionError(ConnectionErrored {
                user_id: user_id()?,
                client_user_id: envelope.client_user_id.clone(),
                team_id: envelope.team_id.clone(),
                provider: provider()?,
                error_type: text(data, "error_type"),
                message: text(data, "message"),
                error_details: data.get("error_details").cloned().unwrap_or_default(),
                raw,
            })),
            _ => Ok(JunctionEvent::Unknown { event_type: envelope.event_type, raw }),
        }
    }
}
