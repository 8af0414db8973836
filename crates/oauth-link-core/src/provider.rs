//! The provider-agnostic trait.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{Error, Result};
use crate::target::Target;
use crate::types::{Callback, Capabilities, Connection, ConnectionQuery, Link, LinkRequest};
use crate::webhook::ConnectionEvent;

/// A platform that brokers OAuth connections to third-party accounts.
///
/// Apps hold an `Arc<dyn LinkProvider>` ([`DynLinkProvider`]) chosen by configuration, so
/// the same code runs against every platform.
///
/// # Contract
///
/// - **Input** is validated before anything is sent: a bad id, target, parameter or
///   redirect URI fails with [`Error::InvalidInput`] and no request leaves.
/// - **Retries**: idempotent platform calls (GET, DELETE, and POSTs carrying an
///   idempotency key the platform honours) are retried on 408/429/502/503/504 and
///   network failures with jittered exponential backoff, honouring `Retry-After`, within
///   the adapter's retry budget. Other POSTs and single-use code exchanges are sent once.
///   What outlasts the retries comes back typed: [`Error::RateLimited`],
///   [`Error::Provider`], [`Error::Transport`]; [`Error::is_retryable`] tells whether the
///   app may try again.
/// - **Errors** always name the provider, never contain a secret, and say what to do.
#[async_trait]
pub trait LinkProvider: std::fmt::Debug + Send + Sync {
    /// The provider kind (`alloy-headless`, `alloy-connectors`, `novu`, `junction`...).
    fn kind(&self) -> &'static str;

    /// What this provider can do.
    fn capabilities(&self) -> Capabilities;

    /// Creates a link for `request.user` to connect `request.target`.
    ///
    /// Returns the URL to send the browser to and a signed, single-use state. When
    /// [`Capabilities::state_in_redirect`] is false the app must keep `Link::state` (e.g. in
    /// an HttpOnly cookie) and pass it back in the [`Callback`].
    ///
    /// Not idempotent on every platform (a new platform link each call), but harmless to
    /// repeat: an unused link simply expires. Errors: [`Error::InvalidInput`] (nothing
    /// sent), platform rejections ([`Error::Unauthenticated`], [`Error::NotFound`] for an
    /// unknown target, ...), transient failures.
    async fn generate_link(&self, request: &LinkRequest) -> Result<Link>;

    /// Completes a link after the browser came back.
    ///
    /// Verifies the state (signature, provider, expiry) and consumes it, reads the
    /// platform's error parameters, then confirms the new connection on the platform
    /// (polling for a bounded time where the platform creates it asynchronously).
    ///
    /// Errors: [`Error::StateInvalid`], [`Error::StateExpired`], [`Error::StateReplayed`]
    /// (a state completes once), [`Error::Denied`] (consent refused or link failed),
    /// [`Error::Pending`] (not confirmed in time). Only a connection or a denial uses the
    /// state up: after any other error the same callback may be completed again.
    async fn complete_callback(&self, callback: &Callback) -> Result<Connection>;

    /// Lists the user's connections (every page), optionally only those to one target.
    /// Read-only and idempotent.
    async fn list_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>>;

    /// The platform's catalogue: every target a link may name, with its display name,
    /// logo, auth kind and the extra parameters it needs. Read-only and idempotent (retried
    /// like every read). Default: [`Error::Unsupported`].
    async fn list_targets(&self) -> Result<Vec<Target>> {
        Err(Error::Unsupported { provider: self.kind(), operation: "list_targets" })
    }

    /// Removes a connection. Idempotent where the platform is (a second call may answer
    /// [`Error::NotFound`]). Default: [`Error::Unsupported`].
    async fn disconnect(&self, user: &str, connection_id: &str) -> Result<()> {
        let _ = (user, connection_id);
        Err(Error::Unsupported { provider: self.kind(), operation: "disconnect" })
    }

    /// Verifies a webhook delivery (its headers and raw body, byte for byte) with the
    /// configured webhook secret, and turns a platform event about a connection into a
    /// [`ConnectionEvent`]. `Ok(None)`: authentic, but about something else.
    ///
    /// Does not deduplicate: resent deliveries (same [`ConnectionEvent::delivery_id`]) give
    /// the same event; see [`webhook::DeliveryDedupe`](crate::webhook::DeliveryDedupe).
    ///
    /// Errors: [`Error::WebhookRejected`] (unsigned, forged, tampered, stale: answer 400),
    /// [`Error::Config`] (no webhook secret configured), [`Error::Decode`] (authentic but
    /// unreadable), and the transient errors of any call the adapter makes to name the
    /// user (answer 5xx: the platform resends). Default: [`Error::Unsupported`], for
    /// platforms that send no connection events.
    async fn webhook_event(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<Option<ConnectionEvent>> {
        let _ = (headers, body);
        Err(Error::Unsupported { provider: self.kind(), operation: "webhook events" })
    }
}

/// The trait object apps pass around.
pub type DynLinkProvider = dyn LinkProvider;

/// A shared provider chosen at run time.
pub type SharedLinkProvider = Arc<DynLinkProvider>;
