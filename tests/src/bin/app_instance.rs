//! One app instance, as an app deploys several of them: the provider is built from the
//! environment only (`oauth_link::from_env()`: `OAUTH_LINK_PROVIDER`, the adapter's
//! `OAUTH_LINK_<KIND>_*`, `OAUTH_LINK_STATE_SECRET`, `OAUTH_LINK_REDIS_URL`), the same code
//! for every provider kind. Used by `tests/multi_instance.rs`.
//!
//! It serves a tiny JSON API on a free loopback port and prints `listening <addr>` on its
//! first stdout line:
//!
//! - `POST /link` `{"user", "target"}` → 200 `{"link": {"url", "state", "expires_at"}}`
//! - `POST /complete` `{"callback_url"?, "state"}` → 200 `{"connection": {...}}`
//! - `POST /connections` `{"user"}` → 200 `{"connections": [...]}`
//!
//! Every answer also carries `attempts` and `errors` (the typed error kind of each failed
//! attempt). A failure answers 400 (caller), 403 (rejected) or 503 (transient) with
//! `{"error": {"kind", "retryable", "class", "message"}}`. Like an app, the instance retries
//! typed retryable errors ([`oauth_link::Error::is_retryable`]) itself, at most
//! `APP_RETRY_ATTEMPTS` attempts (default 5) with exponential backoff from
//! `APP_RETRY_BASE_MS` (default 150 ms), or the platform's `Retry-After` when longer.
#![deny(missing_docs)]

use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use oauth_link::{Callback, ConnectionQuery, Error, ErrorClass, LinkRequest, SharedLinkProvider, StateToken};
use serde_json::{json, Value};

/// The app's retry policy for one request.
#[derive(Debug, Clone, Copy)]
struct Retry {
    attempts: u32,
    base: Duration,
}

#[derive(Clone)]
struct App {
    provider: SharedLinkProvider,
    retry: Retry,
}

/// A typed error as the instance reports it.
fn error_json(e: &Error) -> Value {
    let class = match e.class() {
        ErrorClass::Caller => "caller",
        ErrorClass::Rejected => "rejected",
        ErrorClass::Transient => "transient",
    };
    json!({ "kind": kind(e), "retryable": e.is_retryable(), "class": class, "message": e.to_string() })
}

/// The variant name of a typed error.
fn kind(e: &Error) -> &'static str {
    match e {
        Error::InvalidInput { .. } => "InvalidInput",
        Error::Config { .. } => "Config",
        Error::UnknownProvider { .. } => "UnknownProvider",
        Error::ProviderNotCompiled { .. } => "ProviderNotCompiled",
        Error::Unauthenticated { .. } => "Unauthenticated",
        Error::Forbidden { .. } => "Forbidden",
        Error::NotFound { .. } => "NotFound",
        Error::Conflict { .. } => "Conflict",
        Error::RateLimited { .. } => "RateLimited",
        Error::Denied { .. } => "Denied",
        Error::StateInvalid { .. } => "StateInvalid",
        Error::StateExpired { .. } => "StateExpired",
        Error::StateReplayed { .. } => "StateReplayed",
        Error::ReplayGuard { .. } => "ReplayGuard",
        Error::Pending { .. } => "Pending",
        Error::Provider { .. } => "Provider",
        Error::Transport { .. } => "Transport",
        Error::Decode { .. } => "Decode",
        Error::Unsupported { .. } => "Unsupported",
        Error::WebhookRejected { .. } => "WebhookRejected",
        #[allow(unreachable_patterns)]
        _ => "Other",
    }
}

/// Runs `op` until it succeeds, fails with an error that is not retryable, or has made
/// `retry.attempts` attempts; answers with the outcome, the attempts and each error's kind.
async fn with_retry<T, F, Fut>(retry: Retry, field: &str, op: F) -> (StatusCode, Json<Value>)
where
    T: serde::Serialize,
    F: Fn() -> Fut,
    Fut: Future<Output = oauth_link::Result<T>>,
{
    let mut errors = Vec::new();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match op().await {
            Ok(value) => {
                let value = serde_json::to_value(&value).unwrap_or_else(|e| json!({ "unserializable": e.to_string() }));
                return (StatusCode::OK, Json(json!({ field: value, "attempts": attempt, "errors": errors })));
            }
            Err(e) => {
                errors.push(kind(&e));
                if !e.is_retryable() || attempt >= retry.attempts {
                    let status = match e.class() {
                        ErrorClass::Caller => StatusCode::BAD_REQUEST,
                        ErrorClass::Rejected => StatusCode::FORBIDDEN,
                        ErrorClass::Transient => StatusCode::SERVICE_UNAVAILABLE,
                    };
                    let body = json!({ "error": error_json(&e), "attempts": attempt, "errors": errors });
                    return (status, Json(body));
                }
                let backoff = retry.base.saturating_mul(1 << (attempt - 1).min(10));
                tokio::time::sleep(backoff.max(e.retry_after().unwrap_or_default())).await;
            }
        }
    }
}

/// A request body the instance cannot use: 400 in the same shape as a typed error.
fn bad_request(message: &str) -> (StatusCode, Json<Value>) {
    let error = json!({ "kind": "BadRequest", "retryable": false, "class": "caller", "message": message });
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error, "attempts": 0, "errors": [] })))
}

fn field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Value::as_str)
}

async fn link(State(app): State<App>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let (Some(user), Some(target)) = (field(&body, "user"), field(&body, "target")) else {
        return bad_request("expected {\"user\", \"target\"}");
    };
    let request = LinkRequest::new(user, target);
    with_retry(app.retry, "link", || app.provider.generate_link(&request)).await
}

async fn complete(State(app): State<App>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let Some(state) = field(&body, "state") else { return bad_request("expected {\"callback_url\"?, \"state\"}") };
    let kind = app.provider.kind();
    let back = match field(&body, "callback_url") {
        Some(url) => match Callback::from_url(kind, url) {
            Ok(back) => back,
            Err(e) => {
                let body = json!({ "error": error_json(&e), "attempts": 0, "errors": [] });
                return (StatusCode::BAD_REQUEST, Json(body));
            }
        },
        None => Callback::default(),
    };
    let callback = back.with_state(StateToken::new(state));
    with_retry(app.retry, "connection", || app.provider.complete_callback(&callback)).await
}

async fn connections(State(app): State<App>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let Some(user) = field(&body, "user") else { return bad_request("expected {\"user\"}") };
    let query = ConnectionQuery::user(user);
    with_retry(app.retry, "connections", || app.provider.list_connections(&query)).await
}

fn env_number(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().map_err(|_| format!("{name} must be a whole number, got {v:?}")),
        Err(_) => Ok(default),
    }
}

async fn serve() -> Result<(), String> {
    let attempts = env_number("APP_RETRY_ATTEMPTS", 5)?;
    let base = env_number("APP_RETRY_BASE_MS", 150)?;
    let retry =
        Retry { attempts: u32::try_from(attempts.clamp(1, 100)).unwrap_or(5), base: Duration::from_millis(base) };
    // Built inside the runtime: the Redis replay guard connects lazily.
    let provider = oauth_link::from_env().map_err(|e| format!("configuration: {e}"))?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| format!("bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| format!("bind: {e}"))?;
    let app = App { provider: Arc::clone(&provider), retry };
    let router = Router::new()
        .route("/link", post(link))
        .route("/complete", post(complete))
        .route("/connections", post(connections))
        .with_state(app);
    println!("listening {addr}");
    use std::io::Write as _;
    std::io::stdout().flush().map_err(|e| format!("stdout: {e}"))?;
    axum::serve(listener, router).await.map_err(|e| format!("serve: {e}"))
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
