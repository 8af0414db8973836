//! `POST /{provider}/webhooks`: the platform's signed deliveries, verified, deduplicated and
//! handed to the app as [`ConnectionEvent`]s.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use oauth_link_core::webhook::{
    dedupe_delivery, delivery_id, ConnectionEvent, DeliveryDedupe, MemoryDedupe, WebhookError,
};
use oauth_link_core::Error;

use crate::builder::Shared;
use crate::problem::Problem;

/// The response header saying what became of a delivery answered 204: `handled` (an event
/// was handed to the app), `replayed` (already handled: nothing done), `ignored` (authentic,
/// not about a connection).
pub const WEBHOOK_OUTCOME_HEADER: &str = "x-oauth-link-webhook";

/// Where the router hands each connection event.
pub(crate) type EventHandler = Arc<dyn Fn(ConnectionEvent) + Send + Sync>;

/// What the webhook route uses.
pub(crate) struct Webhooks {
    pub(crate) dedupe: Arc<dyn DeliveryDedupe>,
    pub(crate) handlers: Vec<EventHandler>,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self { dedupe: Arc::new(MemoryDedupe::default()), handlers: Vec::new() }
    }
}

fn outcome(what: &'static str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(WEBHOOK_OUTCOME_HEADER, HeaderValue::from_static(what));
    response
}

pub(crate) async fn webhook(
    State(shared): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let Path(kind) = path.map_err(crate::routes::path_problem)?;
        let provider = &shared.entry(&kind)?.provider;
        let kind = provider.kind();
        let event = match provider.webhook_event(&headers, &body).await {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(outcome("ignored")),
            Err(e) => {
                if matches!(e, Error::WebhookRejected { .. }) {
                    tracing::info!(provider = kind, error = %e, "webhook delivery refused");
                }
                return Err(Problem::from_error(&e));
            }
        };
        // webhook_event verified the id: a resend of a handled delivery stops here.
        let id = delivery_id(&headers).unwrap_or(&event.delivery_id);
        match dedupe_delivery(shared.0.webhooks.dedupe.as_ref(), kind, id).await {
            Ok(()) => {}
            Err(Error::WebhookRejected { reason: WebhookError::Replayed { .. }, .. }) => {
                tracing::debug!(provider = kind, delivery = id, "webhook delivery already handled");
                return Ok(outcome("replayed"));
            }
            Err(e) => return Err(Problem::from_error(&e)),
        }
        tracing::debug!(provider = kind, delivery = id, event = %event.kind, "webhook delivery handled");
        for handler in &shared.0.webhooks.handlers {
            handler(event.clone());
        }
        Ok(outcome("handled"))
    }
    .await;
    let response = match result {
        Ok(response) => response,
        Err(problem) => problem.into_response(),
    };
    crate::routes::Reply::new().finish(response)
}
