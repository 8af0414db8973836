//! What oauth-link tells operators: one `tracing` span per provider operation, and, with
//! the cargo feature `metrics`, counters and a latency histogram through the
//! [`metrics`](https://docs.rs/metrics/0.24) facade crate.
//!
//! # Spans
//!
//! [`observe`] wraps a provider so each trait operation (`generate_link`,
//! `complete_callback`, `list_connections`, `list_targets`, `disconnect`, `webhook_event`)
//! runs in one `oauth_link.operation` span (level INFO) with the fields
//! `oauth_link.provider`, `oauth_link.operation`, `otel.name`
//! (`oauth_link.<operation>`), and, once it ends, `oauth_link.outcome` (an [`Outcome`]);
//! a failure also sets `error.type` (the outcome) and `otel.status_code = "ERROR"`. The
//! `oauth_link.http` span of each platform request (see [`crate::http`]) is its child. No
//! field carries a user id, a connection id, a token or a state. The `oauth-link` facade
//! wraps every provider it builds; an app that builds an adapter directly wraps it itself.
//!
//! # Metrics (feature `metrics`)
//!
//! | name | kind | labels | recorded |
//! |---|---|---|---|
//! | [`LINKS_ISSUED`] | counter | `provider` | each `generate_link` that returned a link |
//! | [`CALLBACKS`] | counter | `provider`, `outcome` | each `complete_callback`, by [`Outcome`] |
//! | [`PLATFORM_RETRIES`] | counter | `provider`, `operation` | each retry of a platform request |
//! | [`PLATFORM_REQUEST_DURATION`] | histogram (seconds) | `provider`, `operation` | each HTTP attempt, retries included |
//! | [`REPLAY_REFUSALS`] | counter | `provider` | each callback whose state the replay guard had already seen |
//!
//! The `operation` label of the platform metrics is the platform call's name (the HTTP
//! span's `oauth_link.operation`, e.g. `list_credentials`), a fixed set per adapter. The
//! metrics are described (unit and help text) when [`observe`] wraps a provider. Install any
//! `metrics` recorder (a Prometheus or OpenTelemetry exporter) to export them; without the
//! feature nothing is recorded and the `metrics` crate is not a dependency.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tracing::Instrument;

use crate::error::{Error, ErrorClass, Result};
use crate::provider::{LinkProvider, SharedLinkProvider};
use crate::target::Target;
use crate::types::{Callback, Capabilities, Connection, ConnectionQuery, Link, LinkRequest};
use crate::webhook::ConnectionEvent;

/// Counter: links issued (`generate_link` returned a link), by `provider`.
pub const LINKS_ISSUED: &str = "oauth_link_links_issued_total";
/// Counter: completed callbacks (`complete_callback` returned), by `provider` and `outcome`.
pub const CALLBACKS: &str = "oauth_link_callbacks_total";
/// Counter: platform requests sent again after a transient failure, by `provider` and
/// `operation`.
pub const PLATFORM_RETRIES: &str = "oauth_link_platform_retries_total";
/// Histogram, seconds: the duration of each HTTP attempt to the platform (one sample per
/// attempt), by `provider` and `operation`.
pub const PLATFORM_REQUEST_DURATION: &str = "oauth_link_platform_request_duration_seconds";
/// Counter: callbacks refused because the replay guard had already seen their state (a
/// double submit, or a replayed state), by `provider`.
pub const REPLAY_REFUSALS: &str = "oauth_link_replay_refusals_total";

/// How an operation ended: a small closed set, for span fields and metric labels.
///
/// Derived from the [`Error`]: the variants operators watch on their own (refused state,
/// denial, pending confirmation, replay guard, configuration) get a class each; every other
/// error falls in the class of its [`Error::class`]: caller → `invalid_request`, rejected →
/// `platform`, transient → `unavailable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Succeeded.
    Ok,
    /// The caller's input was refused before anything was sent ([`Error::InvalidInput`]),
    /// the operation is unsupported, or a webhook delivery was refused.
    InvalidRequest,
    /// The link state was malformed, forged, tampered with, expired, or already used.
    StateRefused,
    /// The user declined consent, or the platform reported the link failed.
    Denied,
    /// The platform rejected the request (401, 403, 404, 409, other 4xx).
    Platform,
    /// A transient failure that outlasted the retries: network, timeout, 5xx, 429, an
    /// unreadable answer.
    Unavailable,
    /// The platform has not confirmed the connection yet; the state was kept.
    Pending,
    /// The replay guard could not record the state (its store is unreachable or full).
    ReplayGuard,
    /// A configuration error.
    Config,
}

impl Outcome {
    /// Every outcome, in declaration order.
    pub const ALL: [Outcome; 9] = [
        Outcome::Ok,
        Outcome::InvalidRequest,
        Outcome::StateRefused,
        Outcome::Denied,
        Outcome::Platform,
        Outcome::Unavailable,
        Outcome::Pending,
        Outcome::ReplayGuard,
        Outcome::Config,
    ];

    /// The outcome of a result.
    pub fn of<T>(result: &Result<T>) -> Self {
        match result {
            Ok(_) => Outcome::Ok,
            Err(err) => Outcome::of_error(err),
        }
    }

    /// The outcome an error means.
    pub fn of_error(err: &Error) -> Self {
        match err {
            Error::StateInvalid { .. } | Error::StateExpired { .. } | Error::StateReplayed { .. } => {
                Outcome::StateRefused
            }
            Error::Denied { .. } => Outcome::Denied,
            Error::Pending { .. } => Outcome::Pending,
            Error::ReplayGuard { .. } => Outcome::ReplayGuard,
            Error::Config { .. } | Error::UnknownProvider { .. } | Error::ProviderNotCompiled { .. } => Outcome::Config,
            _ => match err.class() {
                ErrorClass::Caller => Outcome::InvalidRequest,
                ErrorClass::Rejected => Outcome::Platform,
                ErrorClass::Transient => Outcome::Unavailable,
            },
        }
    }

    /// The label value: `ok`, `invalid_request`, `state_refused`, `denied`, `platform`,
    /// `unavailable`, `pending`, `replay_guard`, `config`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::InvalidRequest => "invalid_request",
            Outcome::StateRefused => "state_refused",
            Outcome::Denied => "denied",
            Outcome::Platform => "platform",
            Outcome::Unavailable => "unavailable",
            Outcome::Pending => "pending",
            Outcome::ReplayGuard => "replay_guard",
            Outcome::Config => "config",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `provider` with one span per operation and the operation metrics (links issued,
/// callbacks by outcome); describes the metrics to the installed recorder. The `oauth-link`
/// facade does this for every provider it builds: wrap only an adapter built by hand, and
/// only once (each wrapping adds a span and counts again).
pub fn observe(provider: SharedLinkProvider) -> SharedLinkProvider {
    describe_metrics();
    Arc::new(Observed { inner: provider })
}

/// A provider whose operations are traced and counted (see [`observe`]).
struct Observed {
    inner: SharedLinkProvider,
}

impl std::fmt::Debug for Observed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Observed").field(&self.inner).finish()
    }
}

/// A trait operation: its name, and its span's name for OpenTelemetry.
#[derive(Clone, Copy)]
struct Op(&'static str, &'static str);

const GENERATE_LINK: Op = Op("generate_link", "oauth_link.generate_link");
const COMPLETE_CALLBACK: Op = Op("complete_callback", "oauth_link.complete_callback");
const LIST_CONNECTIONS: Op = Op("list_connections", "oauth_link.list_connections");
const LIST_TARGETS: Op = Op("list_targets", "oauth_link.list_targets");
const DISCONNECT: Op = Op("disconnect", "oauth_link.disconnect");
const WEBHOOK_EVENT: Op = Op("webhook_event", "oauth_link.webhook_event");

impl Observed {
    /// Runs `operation` in its span and records how it ended on the span.
    async fn run<T>(&self, op: Op, operation: impl Future<Output = Result<T>>) -> Result<T> {
        let Op(name, otel_name) = op;
        let span = tracing::info_span!(
            "oauth_link.operation",
            otel.name = otel_name,
            oauth_link.provider = self.inner.kind(),
            oauth_link.operation = name,
            oauth_link.outcome = tracing::field::Empty,
            error.type = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let result = operation.instrument(span.clone()).await;
        let outcome = Outcome::of(&result);
        span.record("oauth_link.outcome", outcome.as_str());
        if outcome != Outcome::Ok {
            span.record("error.type", outcome.as_str());
            span.record("otel.status_code", "ERROR");
        }
        result
    }
}

#[async_trait]
impl LinkProvider for Observed {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn generate_link(&self, request: &LinkRequest) -> Result<Link> {
        let link = self.run(GENERATE_LINK, self.inner.generate_link(request)).await;
        if link.is_ok() {
            link_issued(self.inner.kind());
        }
        link
    }

    async fn complete_callback(&self, callback: &Callback) -> Result<Connection> {
        let connection = self.run(COMPLETE_CALLBACK, self.inner.complete_callback(callback)).await;
        callback_completed(self.inner.kind(), Outcome::of(&connection));
        connection
    }

    async fn list_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>> {
        self.run(LIST_CONNECTIONS, self.inner.list_connections(query)).await
    }

    async fn list_targets(&self) -> Result<Vec<Target>> {
        self.run(LIST_TARGETS, self.inner.list_targets()).await
    }

    async fn disconnect(&self, user: &str, connection_id: &str) -> Result<()> {
        self.run(DISCONNECT, self.inner.disconnect(user, connection_id)).await
    }

    async fn webhook_event(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<Option<ConnectionEvent>> {
        self.run(WEBHOOK_EVENT, self.inner.webhook_event(headers, body)).await
    }
}

// One function per event, so each recording point is one line. Without the `metrics`
// feature they are empty and inlined away.

/// Describes every metric (unit, help text) to the installed recorder.
fn describe_metrics() {
    #[cfg(feature = "metrics")]
    {
        use metrics::{describe_counter, describe_histogram, Unit};
        describe_counter!(LINKS_ISSUED, Unit::Count, "Links issued (generate_link returned a link), by provider.");
        describe_counter!(CALLBACKS, Unit::Count, "Callbacks completed or refused, by provider and outcome class.");
        describe_counter!(
            PLATFORM_RETRIES,
            Unit::Count,
            "Platform requests sent again after a transient failure, by provider and platform operation."
        );
        describe_histogram!(
            PLATFORM_REQUEST_DURATION,
            Unit::Seconds,
            "Duration of each HTTP attempt to the platform, by provider and platform operation."
        );
        describe_counter!(
            REPLAY_REFUSALS,
            Unit::Count,
            "Callbacks refused because their link state was already used (double submits or replays), by provider."
        );
    }
}

/// A link was issued.
#[inline]
fn link_issued(provider: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(LINKS_ISSUED, "provider" => provider).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = provider;
}

/// A callback ended with `outcome`.
#[inline]
fn callback_completed(provider: &'static str, outcome: Outcome) {
    #[cfg(feature = "metrics")]
    metrics::counter!(CALLBACKS, "provider" => provider, "outcome" => outcome.as_str()).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, outcome);
}

/// The HTTP layer is about to send a platform request again.
#[inline]
pub(crate) fn platform_retry(provider: &'static str, operation: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(PLATFORM_RETRIES, "provider" => provider, "operation" => operation).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, operation);
}

/// One HTTP attempt to the platform took `latency` (answered or failed).
#[inline]
pub(crate) fn platform_latency(provider: &'static str, operation: &'static str, latency: Duration) {
    #[cfg(feature = "metrics")]
    metrics::histogram!(PLATFORM_REQUEST_DURATION, "provider" => provider, "operation" => operation)
        .record(latency.as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = (provider, operation, latency);
}

/// The replay guard refused a state it had already seen.
#[inline]
pub(crate) fn replay_refused(provider: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!(REPLAY_REFUSALS, "provider" => provider).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = provider;
}

#[cfg(test)]
mod tests;
