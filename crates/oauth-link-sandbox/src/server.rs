//! `Sandbox`, its router, and a running server.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{FaultConfig, Platform, SandboxConfig};
use crate::consent::{self, ConsentResult};
use crate::error::{Result, SandboxError};
use crate::state::{json_response, lock, FaultState, Inner, Shared};

/// The `settings()` JSON for a sandbox rooted at `root`.
pub(crate) fn settings_json(root: &str, config: &SandboxConfig) -> Value {
    let mut m = serde_json::Map::new();
    for p in Platform::ALL {
        m.insert(
            p.settings_key().into(),
            json!({ "base_url": format!("{root}/{}", p.prefix()), "api_key": config.api_key(p) }),
        );
    }
    Value::Object(m)
}

/// The adapter settings an app uses for `kind` against a sandbox whose
/// [`settings`](RunningSandbox::settings) are `settings`: its `base_url` and `api_key`, and
/// for the kinds that send the browser back to the app a `redirect_uri` under `app_url`
/// (`{app_url}/alloy/callback`, `{app_url}/junction/callback`; Alloy Connectivity also lists
/// the catalogue's `slack,notion,hubspot` as its `connectors`). Empty for a kind it does not
/// know.
pub fn adapter_settings(settings: &Value, kind: &str, app_url: &str) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = ["base_url", "api_key"]
        .into_iter()
        .filter_map(|key| Some((key.to_owned(), settings.get(kind)?.get(key)?.as_str()?.to_owned())))
        .collect();
    match kind {
        "alloy-connectors" => {
            map.insert("redirect_uri".into(), format!("{app_url}/alloy/callback"));
            map.insert("connectors".into(), "slack,notion,hubspot".into());
        }
        "junction" => {
            map.insert("redirect_uri".into(), format!("{app_url}/junction/callback"));
        }
        _ => {}
    }
    map
}

/// An in-memory sandbox: its state plus the [`Router`] that serves it.
///
/// Cloning is cheap and clones share state. Use [`Sandbox::start`] to run it on a port,
/// or [`Sandbox::router`] to mount it in another axum app.
#[derive(Debug, Clone)]
pub struct Sandbox {
    inner: Shared,
}

impl Sandbox {
    /// Every webhook delivery attempt so far (Junction's events, see
    /// [`SandboxConfig::junction_webhook`]), oldest first, at most the last 1000.
    pub fn webhook_attempts(&self) -> Vec<crate::DeliveryAttempt> {
        self.inner.webhooks.attempts()
    }

    /// Creates a sandbox with empty state. Invalid fault settings are replaced by "off"
    /// (use [`Sandbox::set_faults`] to get the error).
    pub fn new(config: SandboxConfig) -> Self {
        let mut config = config;
        if config.faults.validate().is_err() {
            tracing::warn!("invalid fault configuration ignored");
            config.faults = FaultConfig::default();
        }
        Sandbox { inner: Arc::new(Inner::new(config)) }
    }

    /// The axum router serving `/alloy`, `/novu`, `/junction` and `/__sandbox`. It can be
    /// nested in another app (`Router::new().nest("/sandbox", sandbox.router())`): link URLs
    /// then use the request's `Host` and the mount path unless a public URL is configured.
    pub fn router(&self) -> Router {
        let s = self.inner.clone();
        Router::new()
            .nest("/alloy", crate::alloy::router())
            .nest("/novu", crate::novu::router())
            .nest("/junction", crate::junction::router())
            .nest("/__sandbox", crate::admin::router())
            .fallback(|| async {
                json_response(
                    http::StatusCode::NOT_FOUND,
                    &json!({"error": "not found; platforms live under /alloy, /novu, /junction, admin under /__sandbox"}),
                )
            })
            .layer(axum::middleware::from_fn_with_state(s.clone(), crate::middleware::log_and_faults))
            .layer(axum::middleware::from_fn_with_state(s.clone(), crate::middleware::root_url))
            .with_state(s)
    }

    /// Binds 127.0.0.1 on the configured port (ephemeral by default) and serves the sandbox
    /// on a background task.
    pub async fn start(config: SandboxConfig) -> Result<RunningSandbox> {
        config.faults.validate().map_err(SandboxError::Config)?;
        let port = config.port;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| SandboxError::Bind { port, source })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind { port, source })?;
        let root = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
        let config = SandboxConfig { public_url: Some(root.clone()), ..config };
        let sandbox = Sandbox::new(config);
        sandbox.inner.io_drop.store(true, std::sync::atomic::Ordering::Relaxed);
        let app = sandbox.router();
        let listener = crate::dropio::DropListener(listener);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        tracing::info!(%addr, "oauth-link sandbox listening");
        Ok(RunningSandbox { sandbox, addr, root, shutdown: Some(tx), task: Some(task) })
    }

    /// The configuration this sandbox runs with.
    pub fn config(&self) -> &SandboxConfig {
        &self.inner.config
    }

    /// The `settings()` JSON for this sandbox reachable at `root_url` (e.g. `http://host/sandbox`).
    pub fn settings_for(&self, root_url: &str) -> Value {
        settings_json(root_url.trim_end_matches('/'), &self.inner.config)
    }

    /// Clears all platform state, the request log and the clock offset, and restarts the
    /// fault sequence (`POST /__sandbox/reset`).
    pub fn reset(&self) {
        self.inner.reset();
    }

    /// What was created, per platform (`GET /__sandbox/state`).
    pub fn state(&self) -> Value {
        self.inner.snapshot()
    }

    /// The request log (`GET /__sandbox/requests`), oldest first.
    pub fn requests(&self) -> Vec<Value> {
        crate::admin::filtered_requests(&self.inner, &[])
    }

    /// The current fault setting (`GET /__sandbox/faults`).
    pub fn faults(&self) -> FaultConfig {
        lock(&self.inner.faults).config.clone()
    }

    /// Replaces the fault setting and restarts its random sequence (`POST /__sandbox/faults`).
    pub fn set_faults(&self, faults: FaultConfig) -> Result<()> {
        faults.validate().map_err(SandboxError::Config)?;
        *lock(&self.inner.faults) = FaultState::new(faults);
        Ok(())
    }

    /// Approves a link (its URL or id) as if the user clicked Approve; returns what the
    /// browser would get. `None` for an unknown link.
    pub fn approve(&self, link: &str) -> Option<ConsentResult> {
        consent::resolve(&self.inner, link, true, &HashMap::new())
    }

    /// Like [`Sandbox::approve`] with consent-form fields (Junction: `provider`, `username`).
    pub fn approve_with(&self, link: &str, form: &HashMap<String, String>) -> Option<ConsentResult> {
        consent::resolve(&self.inner, link, true, form)
    }

    /// Denies a link (its URL or id) as if the user clicked Deny.
    pub fn deny(&self, link: &str) -> Option<ConsentResult> {
        consent::resolve(&self.inner, link, false, &HashMap::new())
    }

    /// Turns context-HMAC protection of a Novu integration on or off (as its
    /// `credentials.hmac`; see [`SandboxConfig::novu_integration_hmac`]). `false` when no
    /// OAuth-capable Novu integration has that identifier. [`Sandbox::reset`] restores the
    /// configured setting.
    pub fn set_novu_integration_hmac(&self, integration_identifier: &str, enabled: bool) -> bool {
        crate::admin::set_novu_hmac(&self.inner, integration_identifier, enabled)
    }

    /// Puts a Junction user's connection to `provider` in `error` state with
    /// `error_details {error_type, error_message, errored_at}` (as after a failed token
    /// refresh), so a re-link of an errored provider can be tested. `false` when the user
    /// (`user_id`, Junction's uuid) has no connection to `provider`.
    pub fn set_junction_connection_error(
        &self,
        user_id: &str,
        provider: &str,
        error_type: &str,
        error_message: &str,
    ) -> bool {
        crate::junction::set_connection_error(&self.inner, user_id, provider, error_type, error_message)
    }

    /// Puts the connection `connection_id`, named as oauth-link names it (a Junction
    /// `<user_id>/<slug>`, a Novu channel connection's identifier), in error as its platform
    /// reports one (`POST /__sandbox/connections/{id}/error`): Junction `status: error` with
    /// `error_details` (`error_type` default `token_refresh_failed`), a Novu channel
    /// connection's rotating refresh token expired. Returns what was done; an error message for
    /// an unknown id, or for Novu channel endpoints and Alloy credentials, which carry no
    /// health state.
    pub fn put_connection_in_error(
        &self,
        connection_id: &str,
        error_type: Option<&str>,
        error_message: Option<&str>,
    ) -> std::result::Result<Value, String> {
        crate::admin::put_in_error(&self.inner, connection_id, error_type, error_message).map_err(|(_, e)| e)
    }

    /// Moves the sandbox clock forward (link expiry, idempotency window).
    pub fn advance_clock(&self, by: Duration) {
        let d = chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        *lock(&self.inner.clock_offset) += d;
    }

    /// The built-in catalogue as JSON (`GET /__sandbox/catalogue`).
    pub fn catalogue() -> Value {
        crate::catalogue::catalogue_json()
    }
}

/// A sandbox served on 127.0.0.1. Dropping it stops the server (not gracefully); prefer
/// [`RunningSandbox::shutdown`].
#[derive(Debug)]
pub struct RunningSandbox {
    sandbox: Sandbox,
    addr: SocketAddr,
    root: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningSandbox {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The root URL, e.g. `http://127.0.0.1:PORT` (admin endpoints are under `/__sandbox`).
    pub fn url(&self) -> &str {
        &self.root
    }

    /// The `base_url` an adapter for `platform` should use, e.g. `http://127.0.0.1:PORT/novu`.
    pub fn base_url(&self, platform: Platform) -> String {
        format!("{}/{}", self.root, platform.prefix())
    }

    /// The API key the sandbox accepts for `platform`.
    pub fn api_key(&self, platform: Platform) -> &str {
        self.sandbox.config().api_key(platform)
    }

    /// `{"novu": {"base_url", "api_key"}, "alloy-headless": {...}, "alloy-connectors": {...},
    /// "junction": {...}}`: adapter settings for every platform.
    pub fn settings(&self) -> Value {
        settings_json(&self.root, self.sandbox.config())
    }

    /// The sandbox behind the server (state, faults, approve/deny, clock).
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// Stops accepting connections, lets in-flight requests finish (at most 5 s), and waits
    /// for the server task.
    pub async fn shutdown(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => return Err(SandboxError::Server(e.to_string())),
                Ok(Err(e)) => return Err(SandboxError::Server(e.to_string())),
                Err(_) => task.abort(),
            }
        }
        Ok(())
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
