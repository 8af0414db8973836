//! `oauth-link demo`: a small server-rendered web app that runs the whole connect flow in a
//! browser, the first user of [`oauth_link_axum`].
//!
//! Sign in as any user, press **Connect** on a target, consent on the platform's page, come
//! back, and see the user's connections with **Disconnect** buttons.
//!
//! - **Sandbox mode** (default): the [`oauth_link_sandbox`] emulator runs in-process under
//!   `/sandbox` on the same server, and all four adapters point at it.
//! - **Real-platform mode** ([`DemoOptions::settings`], from `OAUTH_LINK_PROVIDER` and the
//!   platform's keys): only that provider is offered. Without `OAUTH_LINK_STATE_SECRET` a
//!   random secret is used ([`RunningDemo::notes`] says so).
//!
//! | route | what |
//! |---|---|
//! | `GET /` | who is signed in, one card per provider: a Connect button per target, extra `key=value` params |
//! | `POST /login` | the demo's fake login: a cookie holding the user name |
//! | `GET /connections?provider=` | the signed-in user's connections with Disconnect buttons (the router's success page) |
//! | `GET /failed?provider=&error=&code=` | what went wrong and what to do (the router's failure page) |
//! | `/oauth/...` | the [`oauth_link_axum`] router: connect, callback, disconnect, JSON API |
//! | `/sandbox/...` | the sandbox (sandbox mode only) |
//!
//! Everything about links (state cookies, callbacks, user binding, errors) is the router's;
//! the demo only renders its pages.
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

use routes::*;
use setup::*;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use oauth_link::{
    clock::Clock, ConfigMap, Error, LinkContext, MemoryReplayGuard, ProviderConfig, Settings, SharedLinkProvider,
    StateCodec, StateKeys, Target,
};
use oauth_link_axum::{user_fn, CookieKey, LinkRouter, LinkRouterBuilder};
use oauth_link_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use pages::{ProviderCard, TargetHint};

/// Where the connect router is nested.
const LINKS_PREFIX: &str = "/oauth";

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
    let built = match &options.settings {
        None => sandbox_app(&root, &options)?,
        Some(settings) => real_app(&root, settings)?,
    };
    let links = built.links.build().map_err(|e| Error::config("demo", e.to_string()))?;
    let mut router = routes(Arc::new(built.app)).nest(LINKS_PREFIX, links);
    let (sandbox, notes) = (built.sandbox, built.notes);
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
    fn the_session_user_is_the_cookie_or_the_default() {
        let parts = |cookie: &str| {
            let req = axum::http::Request::builder().header("cookie", cookie).body(()).unwrap();
            req.into_parts().0
        };
        assert_eq!(session_user(&parts("a=1; oauth_link_demo_user=ada")).as_deref(), Some("ada"));
        assert_eq!(session_user(&parts("oauth_link_demo_user=<b>")).as_deref(), Some(DEFAULT_USER));
        assert_eq!(session_user(&parts("x=y")).as_deref(), Some(DEFAULT_USER));
    }
}
