//! `oauth-link demo`: a small server-rendered web app that runs the whole connect flow in a
//! browser.
//!
//! Pick a provider, a user and a target, press **Connect**, consent on the platform's page,
//! come back to `/callback`, and see the user's connections with **Disconnect** buttons.
//!
//! - **Sandbox mode** (default): the [`oauth_link_sandbox`] emulator runs in-process under
//!   `/sandbox` on the same server, and all four adapters point at it.
//! - **Real-platform mode** ([`DemoOptions::settings`], from `OAUTH_LINK_PROVIDER` and the
//!   platform's keys): only that provider is offered. Without `OAUTH_LINK_STATE_SECRET` a
//!   random secret is used ([`RunningDemo::notes`] says so).
//!
//! | route | what |
//! |---|---|
//! | `GET /` | one Connect form per provider (user, target, extra `key=value` params), the link in progress |
//! | `POST /connect` | `generate_link`, keeps the state in a signed cookie, 303 to the platform |
//! | `GET /callback` | `complete_callback`, then 303 to `/connections`, or an error page |
//! | `GET /connections?provider=&user=` | `list_connections` with Disconnect buttons |
//! | `POST /disconnect` | `disconnect`, then 303 back to the list |
//! | `POST /cancel` | forgets the link in progress |
//! | `/sandbox/...` | the sandbox (sandbox mode only) |
//!
//! What the platform does not carry back (the link state of hosted-callback platforms) is
//! kept in a signed, HttpOnly, SameSite=Lax cookie bound to the provider kind, and cleared
//! once the callback completed or failed for good. Error pages name what went wrong from
//! the typed [`Error`] (400 for the caller's or the user's side, 409 for a replayed state,
//! 502 for the platform) and never show a secret.
//!
//! ```no_run
//! # async fn demo() -> oauth_link::Result<()> {
//! let demo = oauth_link_cli::demo::start(oauth_link_cli::demo::DemoOptions::default()).await?;
//! println!("open {}", demo.url());
//! demo.shutdown().await;
//! # Ok(()) }
//! ```

mod pages;
mod routes;
mod setup;
mod state;

use routes::*;
use setup::*;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use oauth_link::{
    clock::Clock,
    core::adapter::{LinkState, STATE_PARAM},
    AdapterConfig, Callback, CallbackModel, ConfigMap, Connection, ConnectionQuery, Error, LinkContext, LinkRequest,
    MemoryReplayGuard, Settings, SharedLinkProvider, StateCodec, StateKeys, StateToken, Target, Url, DEFAULT_STATE_TTL,
};
use oauth_link_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use pages::{ErrorView, ProviderCard, TargetHint};
use state::{CookieJar, Flash, PendingLink, Read, FLASH_COOKIE, LINK_COOKIE};

/// The four platform kinds, in the order the index page shows them.
const SANDBOX_KINDS: [&str; 4] = ["alloy-headless", "alloy-connectors", "novu", "junction"];

/// The user the forms start with.
pub const DEFAULT_USER: &str = "demo-user";

/// How the demo is started.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Port on 127.0.0.1 for [`start`] (0 picks a free one).
    pub port: u16,
    /// Real-platform mode: the settings naming the provider and its keys. `None` runs the
    /// sandbox in-process and offers all four platforms.
    pub settings: Option<Settings>,
    /// How long `/callback` waits for the platform to show the new connection (sandbox
    /// mode; real platforms use their configured `poll_timeout_ms`).
    pub poll_timeout: Duration,
    /// Time source of the link states (sandbox mode), so tests can expire them.
    pub clock: Option<Arc<dyn Clock>>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self { port: 0, settings: None, poll_timeout: Duration::from_secs(3), clock: None }
    }
}

/// A demo server running on a background task.
#[derive(Debug)]
pub struct RunningDemo {
    addr: SocketAddr,
    url: String,
    notes: Vec<String>,
    sandbox: Option<Sandbox>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningDemo {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The root URL, `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Things the operator should know (e.g. a random state secret is in use), one line each.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The in-process sandbox, in sandbox mode.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// Stops accepting connections, lets in-flight requests finish (at most 5 s), and waits
    /// for the server task.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for RunningDemo {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds 127.0.0.1 on [`DemoOptions::port`] and serves the demo on a background task.
pub async fn start(options: DemoOptions) -> oauth_link::Result<RunningDemo> {
    let port = options.port;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| Error::config("port", format!("cannot listen on 127.0.0.1:{port}: {e}; pick another --port")))?;
    serve(listener, options).await
}

/// Serves the demo on an already bound listener (on a background task) and returns at once.
///
/// Fails when the real-platform settings are incomplete, naming what to set.
pub async fn serve(listener: TcpListener, options: DemoOptions) -> oauth_link::Result<RunningDemo> {
    let addr =
        listener.local_addr().map_err(|e| Error::config("port", format!("cannot read the listening address: {e}")))?;
    let root = format!("http://{addr}");
    let (app, sandbox, notes) = match &options.settings {
        None => sandbox_app(&root, &options)?,
        Some(settings) => real_app(&root, settings)?,
    };
    let mut router = routes(Arc::new(app));
    if let Some(sandbox) = &sandbox {
        router = router.nest("/sandbox", sandbox.router());
    }
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await
    });
    Ok(RunningDemo { addr, url: format!("{root}/"), notes, sandbox, shutdown: Some(tx), task: Some(task) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_key_value_lines() {
        let ok = parse_params("x", "a=1\n\n b = two words \n").unwrap();
        assert_eq!(ok, vec![("a".to_owned(), "1".to_owned()), ("b".to_owned(), "two words".to_owned())]);
        assert!(matches!(parse_params("x", "novalue"), Err(Error::InvalidInput { .. })));
        assert!(matches!(parse_params("x", "=v"), Err(Error::InvalidInput { .. })));
    }
}
