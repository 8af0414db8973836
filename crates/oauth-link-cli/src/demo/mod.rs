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
mod state;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use oauth_link::core::http::{HttpRequest, HttpSettings, HttpTransport, ReqwestTransport};
use oauth_link::{
    AdapterConfig, Callback, CallbackModel, Clock, ConfigMap, Connection, ConnectionQuery, Error, LinkContext,
    LinkRequest, LinkState, MemoryReplayGuard, Settings, SharedLinkProvider, StateCodec, StateKeys, StateToken, Url,
    DEFAULT_STATE_TTL, STATE_PARAM,
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

/// Everything the handlers share.
#[derive(Debug)]
struct App {
    /// `http://127.0.0.1:PORT`.
    root: String,
    /// Offered providers, in display order.
    providers: Vec<Entry>,
    cards: Vec<ProviderCard>,
    cookies: CookieJar,
    /// How long a link cookie lives at most.
    link_ttl: Duration,
    /// One line about the mode, for the index page.
    mode_line: String,
    /// Sandbox mode: how to make sure an Alloy user exists (a real app does it at sign-up).
    alloy_users: Option<AlloyUsers>,
}

#[derive(Debug)]
struct Entry {
    provider: SharedLinkProvider,
    /// Redirect URI to put on each request (real mode, app-redirect platforms without one
    /// configured).
    redirect: Option<Url>,
}

impl App {
    fn find(&self, kind: &str) -> Option<&Entry> {
        self.providers.iter().find(|e| e.provider.kind() == kind)
    }
}

/// Creates the sandbox's Alloy users on first use.
#[derive(Debug)]
struct AlloyUsers {
    transport: ReqwestTransport,
    users_url: Url,
    api_key: String,
}

impl AlloyUsers {
    /// `POST /alloy/users {username}`; "already exists" is fine, other failures surface
    /// later as the adapter's own error.
    async fn ensure(&self, user: &str) {
        let mut headers = HeaderMap::new();
        if let Ok(mut auth) = HeaderValue::from_str(&format!("bearer {}", self.api_key)) {
            auth.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, auth);
        }
        headers.insert(HeaderName::from_static("x-api-version"), HeaderValue::from_static("2025-09"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let body = serde_json::to_vec(&serde_json::json!({ "username": user })).unwrap_or_default();
        let request =
            HttpRequest { method: Method::POST, url: self.users_url.clone(), headers, body: Some(body.into()) };
        if let Err(e) = self.transport.send(request, 64 * 1024).await {
            tracing::warn!(error = %e.message, "could not create the sandbox Alloy user");
        }
    }
}

fn sandbox_app(root: &str, options: &DemoOptions) -> oauth_link::Result<(App, Option<Sandbox>, Vec<String>)> {
    let callback = format!("{root}/callback");
    let back = |kind: &str| format!("{callback}?provider={kind}");
    let sandbox_root = format!("{root}/sandbox");
    let sandbox = Sandbox::new(
        SandboxConfig::default()
            .public_url(&sandbox_root)
            .alloy_return_url(back("alloy-headless"))
            .novu_redirect_url("slack", back("novu"))
            .novu_redirect_url("msteams", back("novu")),
    );
    let catalogue = Sandbox::catalogue();
    let settings = sandbox.settings_for(&sandbox_root);
    let codec = StateCodec::new(StateKeys::random());
    let codec = match &options.clock {
        Some(clock) => codec.with_clock(clock.clone()),
        None => codec,
    };
    // One context for all four providers: one state key, one replay guard.
    let ctx = LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()));
    let connectors: Vec<&str> =
        list(&catalogue, &["alloy", "connectors"]).filter_map(|c| str_at(c, "connectorId")).collect();
    let mut providers = Vec::new();
    let mut cards = Vec::new();
    for kind in SANDBOX_KINDS {
        let mut map: HashMap<String, String> = HashMap::new();
        for key in ["base_url", "api_key"] {
            if let Some(v) = settings.get(kind).and_then(|s| s.get(key)).and_then(Value::as_str) {
                map.insert(key.to_owned(), v.to_owned());
            }
        }
        map.insert("poll_timeout_ms".into(), options.poll_timeout.as_millis().to_string());
        map.insert("poll_interval_ms".into(), "50".into());
        map.insert("max_retries".into(), "1".into());
        map.insert("request_timeout_ms".into(), "10000".into());
        match kind {
            "alloy-connectors" => {
                map.insert("redirect_uri".into(), callback.clone());
                map.insert("connectors".into(), connectors.join(","));
            }
            "junction" => {
                map.insert("redirect_url".into(), callback.clone());
            }
            _ => {}
        }
        let provider = AdapterConfig::parse(kind, ConfigMap::from_map(static_kind(kind), &map))?.build(ctx.clone())?;
        cards.push(card(&provider, sandbox_targets(&catalogue, kind), true, sandbox_notes(kind)));
        providers.push(Entry { provider, redirect: None });
    }
    let alloy_users = match (
        settings.get("alloy-headless").and_then(|s| s.get("base_url")).and_then(Value::as_str),
        settings.get("alloy-headless").and_then(|s| s.get("api_key")).and_then(Value::as_str),
    ) {
        (Some(base), Some(key)) => Some(AlloyUsers {
            transport: ReqwestTransport::new(&HttpSettings {
                connect_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(10),
            })?,
            users_url: Url::parse(&format!("{base}/users"))
                .map_err(|e| Error::config("base_url", format!("sandbox URL is not valid: {e}")))?,
            api_key: key.to_owned(),
        }),
        _ => None,
    };
    let app = App {
        root: root.to_owned(),
        providers,
        cards,
        cookies: CookieJar::random(),
        link_ttl: DEFAULT_STATE_TTL,
        mode_line: format!(
            "Sandbox mode: Alloy (headless and connectors), Novu and Junction are emulated in this process under {sandbox_root}/. \
Set OAUTH_LINK_PROVIDER and the platform's keys to use a real platform."
        ),
        alloy_users,
    };
    Ok((app, Some(sandbox), Vec::new()))
}

fn real_app(root: &str, settings: &Settings) -> oauth_link::Result<(App, Option<Sandbox>, Vec<String>)> {
    let config = oauth_link::configure(settings, None)?;
    let kind = config.kind();
    if !SANDBOX_KINDS.contains(&kind) {
        return Err(Error::config(
            oauth_link::PROVIDER_ENV,
            format!(
                "the demo needs a platform with a consent page; `{kind}` has none. Unset OAUTH_LINK_PROVIDER to use the built-in sandbox"
            ),
        ));
    }
    let mut notes = Vec::new();
    let ctx = if settings.state.secret.is_some() {
        settings.state.context()?
    } else {
        notes.push(format!(
            "note: {} is not set; using a random state secret for this run (links do not survive a restart)",
            oauth_link::STATE_SECRET_ENV
        ));
        settings.state.ephemeral_context()?
    };
    let provider = config.build(ctx)?;
    let callback = format!("{root}/callback");
    let adapter = settings.adapter(kind);
    let configured = adapter.contains("redirect_uri") || adapter.contains("redirect_url");
    let redirect = if provider.capabilities().callback == CallbackModel::AppRedirect && !configured {
        Some(Url::parse(&callback).map_err(|e| Error::config("port", format!("bad callback URL: {e}")))?)
    } else {
        None
    };
    let mut card_notes = Vec::new();
    match kind {
        "alloy-headless" => card_notes.push(format!(
            "User is an Alloy userId (POST /users). Alloy hosts the callback: set the return address to {callback}?provider=alloy-headless where your Alloy account allows it."
        )),
        "novu" => card_notes.push(format!(
            "User is the Novu subscriberId. Set the integration's redirect URL to {callback}?provider=novu. If consent is denied, Novu shows its own error page and does not come back."
        )),
        _ => card_notes.push(format!("The platform sends the browser back to {callback}.")),
    }
    let targets = sandbox_targets(&Sandbox::catalogue(), kind);
    let cards = vec![card(&provider, targets, false, card_notes)];
    let app = App {
        root: root.to_owned(),
        providers: vec![Entry { provider, redirect }],
        cards,
        cookies: CookieJar::random(),
        link_ttl: settings.state.ttl,
        mode_line: format!("Real platform: {kind} (from {}).", settings.source()),
        alloy_users: None,
    };
    Ok((app, None, notes))
}

/// The `&'static str` of a known kind.
fn static_kind(kind: &str) -> &'static str {
    SANDBOX_KINDS.iter().copied().find(|k| *k == kind).unwrap_or("unknown")
}

fn list<'a>(v: &'a Value, path: &[&str]) -> impl Iterator<Item = &'a Value> {
    let mut cur = Some(v);
    for p in path {
        cur = cur.and_then(|c| c.get(p));
    }
    cur.and_then(Value::as_array).into_iter().flatten()
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Valid targets per provider, from the sandbox catalogue (the real platforms use the same
/// names).
fn sandbox_targets(catalogue: &Value, kind: &str) -> Vec<TargetHint> {
    let hint = |id: &str, label: &str, params: Vec<String>| TargetHint { id: id.into(), label: label.into(), params };
    let mut out: Vec<TargetHint> = match kind {
        "alloy-headless" => list(catalogue, &["alloy", "apps"])
            .filter(|a| a.get("isOauth").and_then(Value::as_bool) == Some(true))
            .filter_map(|a| {
                let params = list(a, &["properties"]).filter_map(|p| str_at(p, "name")).map(str::to_owned).collect();
                Some(hint(str_at(a, "app")?, str_at(a, "displayName")?, params))
            })
            .collect(),
        "alloy-connectors" => list(catalogue, &["alloy", "connectors"])
            .filter_map(|c| Some(hint(str_at(c, "connectorId")?, str_at(c, "displayName")?, Vec::new())))
            .collect(),
        "novu" => list(catalogue, &["novu", "integrations"])
            .filter_map(|i| Some(hint(str_at(i, "integrationIdentifier")?, str_at(i, "userEndpointType")?, Vec::new())))
            .collect(),
        "junction" => list(catalogue, &["junction", "providers"])
            .filter(|p| str_at(p, "auth_type") == Some("oauth"))
            .filter_map(|p| Some(hint(str_at(p, "slug")?, str_at(p, "name")?, Vec::new())))
            .collect(),
        _ => Vec::new(),
    };
    // Targets that need extra parameters go last, so the default choice works as is.
    out.sort_by_key(|t| !t.params.is_empty());
    out
}

fn sandbox_notes(kind: &str) -> Vec<String> {
    match kind {
        "alloy-headless" => vec![
            "Hosted by Alloy: the demo keeps the link state in a cookie; the sandbox's return URL brings the browser back to /callback?provider=alloy-headless.".into(),
            "shopify needs an extra parameter: shopSubdomain=your-shop. The sandbox user is created on first use, as your app would do at sign-up.".into(),
        ],
        "alloy-connectors" => vec!["App redirect: the browser comes back to /callback with the state on the URL.".into()],
        "novu" => vec![
            "Hosted by Novu: after Approve, Novu sends the browser to the integration's redirect URL (/callback?provider=novu).".into(),
            "If you press Deny, Novu shows its own page (\"OAuth error: access_denied\") and does not come back here: use your browser's Back button to return, then cancel the link in progress.".into(),
        ],
        "junction" => vec!["App redirect: Junction adds state=success (or state=error&error_type=...) to /callback.".into()],
        _ => Vec::new(),
    }
}

fn card(
    provider: &SharedLinkProvider,
    targets: Vec<TargetHint>,
    closed_list: bool,
    notes: Vec<String>,
) -> ProviderCard {
    let kind = static_kind(provider.kind());
    let title = match kind {
        "alloy-headless" => "Alloy Embedded (headless)",
        "alloy-connectors" => "Alloy Connectivity API",
        "novu" => "Novu (Slack, MS Teams)",
        "junction" => "Junction (wearables)",
        _ => "Provider",
    };
    let callback = match provider.capabilities().callback {
        CallbackModel::Hosted => "hosted",
        CallbackModel::AppRedirect => "app redirect",
    };
    ProviderCard { kind, title, callback, targets, closed_list, notes }
}

fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/connect", post(connect))
        .route("/callback", get(callback))
        .route("/connections", get(connections))
        .route("/disconnect", post(disconnect))
        .route("/cancel", post(cancel))
        .fallback(not_found)
        .with_state(app)
}

type AppState = State<Arc<App>>;

// ------------------------------------------------------------------ responses

fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

fn html(status: StatusCode, body: String, cookies: &[String]) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure_headers(r.headers_mut());
    with_cookies(r, cookies)
}

fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    match HeaderValue::from_str(location) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => {
            return page(
                StatusCode::BAD_GATEWAY,
                "platform",
                "Unusable link",
                "The platform returned a link that is not a valid URL.",
                "Try again, or check the platform's configuration.",
                None,
                cookies,
            );
        }
    }
    secure_headers(r.headers_mut());
    with_cookies(r, cookies)
}

#[allow(clippy::too_many_arguments)]
fn page(
    status: StatusCode,
    kind: &str,
    title: &str,
    message: &str,
    hint: &str,
    retry: Option<&str>,
    cookies: &[String],
) -> Response {
    let body = pages::error(&ErrorView { kind, title, message, hint, retry, status: status.as_u16() });
    html(status, body, cookies)
}

/// The error page for an oauth-link error: status, a stable kind, a title and what to do.
fn error_page(err: &Error, retry: Option<&str>, cookies: &[String]) -> Response {
    let (status, kind, title, hint) = match err {
        Error::Denied { .. } => (
            StatusCode::BAD_REQUEST,
            "denied",
            "Consent was not given",
            "Nothing was connected. Start a new link to try again.",
        ),
        Error::StateReplayed { .. } => (
            StatusCode::CONFLICT,
            "replayed",
            "This link was already completed",
            "Each link completes once. Your connections page shows what is connected; start a new link to connect again.",
        ),
        Error::StateExpired { .. } => {
            (StatusCode::BAD_REQUEST, "expired", "This link expired", "Start a new link and finish it sooner.")
        }
        Error::StateInvalid { .. } => (
            StatusCode::BAD_REQUEST,
            "state_invalid",
            "This callback does not match a link started here",
            "Start a new link from this page.",
        ),
        Error::InvalidInput { .. } => (StatusCode::BAD_REQUEST, "invalid_input", "Invalid input", "Check what was entered and try again, or start a new link from the start page."),
        Error::Unsupported { .. } => (StatusCode::BAD_REQUEST, "unsupported", "Not supported", "This platform cannot do that."),
        Error::Conflict { .. } => (
            StatusCode::CONFLICT,
            "conflict",
            "The platform reported a conflict",
            "Reload the connections page to see the current state.",
        ),
        Error::Pending { .. } => (
            StatusCode::BAD_GATEWAY,
            "pending",
            "The platform has not confirmed the connection yet",
            "If you approved, try again in a moment: the link stays usable. If you denied consent, cancel the link from the start page.",
        ),
        Error::Config { .. } | Error::UnknownProvider { .. } | Error::ProviderNotCompiled { .. } | Error::ReplayGuard { .. } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "config",
            "The demo is not configured correctly",
            "Check the settings the demo was started with.",
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "platform",
            "The platform returned an error",
            if err.is_retryable() { "This may be temporary: try again shortly." } else { "Check the platform's settings and keys." },
        ),
    };
    let retry = if err.is_retryable() { retry } else { None };
    page(status, kind, title, &err.to_string(), hint, retry, cookies)
}

fn bad_request(title: &str, message: &str) -> Response {
    page(StatusCode::BAD_REQUEST, "bad_request", title, message, "Go back to the start page and try again.", None, &[])
}

async fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        "There is no page here.",
        "Start from the demo's first page.",
        None,
        &[],
    )
}

/// The provider kind a state token claims, unverified (used only to pick the provider,
/// which then verifies the signature).
fn issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<LinkState>(&json).ok().map(|claims| claims.provider)
}

fn form_fields(raw: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

fn field<'a>(fields: &'a HashMap<String, String>, name: &str) -> &'a str {
    fields.get(name).map(|v| v.trim()).unwrap_or("")
}

/// Reads the one-time message, and the `Set-Cookie` that clears it.
fn take_flash(app: &App, headers: &HeaderMap) -> (Option<Flash>, Vec<String>) {
    match app.cookies.read::<Flash>(headers, FLASH_COOKIE) {
        Read::Valid(f) => (Some(f), vec![CookieJar::clear(FLASH_COOKIE)]),
        Read::Invalid => (None, vec![CookieJar::clear(FLASH_COOKIE)]),
        Read::Absent => (None, Vec::new()),
    }
}

fn flash_cookie(app: &App, level: &str, text: String) -> String {
    app.cookies.set(FLASH_COOKIE, &Flash { level: level.into(), text }, Duration::from_secs(60))
}

fn connections_location(provider: &str, user: &str) -> String {
    format!("/connections?{}", pages::query(&[("provider", provider), ("user", user)]))
}

// ------------------------------------------------------------------ handlers

async fn index(State(app): AppState, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let query = form_fields(uri.query().unwrap_or("").as_bytes());
    let user = match field(&query, "user") {
        "" => DEFAULT_USER,
        u => u,
    };
    let (flash, mut cookies) = take_flash(&app, &headers);
    let pending = match app.cookies.read::<PendingLink>(&headers, LINK_COOKIE) {
        Read::Valid(p) => Some(p),
        Read::Invalid => {
            cookies.push(CookieJar::clear(LINK_COOKIE));
            None
        }
        Read::Absent => None,
    };
    let pending_note = pending.as_ref().and_then(|p| {
        let hosted = app.find(&p.provider).is_some_and(|e| !e.provider.capabilities().state_in_redirect);
        match p.provider.as_str() {
            "novu" => Some("Novu sends the browser back here only after Approve. If you denied consent, Novu showed its own error page (\"OAuth error: access_denied\") and will not come back: cancel this link."),
            _ if hosted => Some("The platform hosts the callback. If you approved and were not sent back, finish the link; if you denied, cancel it."),
            _ => None,
        }
    });
    let body = pages::index(&pages::IndexView {
        mode: &app.mode_line,
        cards: &app.cards,
        user,
        flash: flash.as_ref(),
        pending: pending.as_ref(),
        pending_note,
    });
    html(StatusCode::OK, body, &cookies)
}

/// Parses the extra-parameters field: `key=value`, one per line.
fn parse_params(kind: &'static str, text: &str) -> oauth_link::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => out.push((k.trim().to_owned(), v.trim().to_owned())),
            _ => {
                return Err(Error::invalid_input(
                    kind,
                    "params",
                    format!("`{line}` is not key=value (one parameter per line)"),
                ))
            }
        }
    }
    Ok(out)
}

async fn connect(State(app): AppState, body: Bytes) -> Response {
    let form = form_fields(&body);
    let kind = field(&form, "provider");
    let Some(entry) = app.find(kind) else {
        return bad_request("Unknown provider", &format!("`{kind}` is not offered by this demo."));
    };
    let provider = &entry.provider;
    let kind = provider.kind();
    let mut request = LinkRequest::new(field(&form, "user"), field(&form, "target"));
    match parse_params(kind, form.get("params").map(String::as_str).unwrap_or("")) {
        Ok(params) => request.params.extend(params),
        Err(e) => return error_page(&e, None, &[]),
    }
    if let Some(uri) = &entry.redirect {
        request = request.with_redirect_uri(uri.clone());
    }
    if let Err(e) = request.validate(kind) {
        return error_page(&e, None, &[]);
    }
    if kind.starts_with("alloy") {
        if let Some(users) = &app.alloy_users {
            users.ensure(&request.user).await;
        }
    }
    match provider.generate_link(&request).await {
        Ok(link) => {
            let pending = PendingLink {
                provider: kind.to_owned(),
                state: link.state.expose().to_owned(),
                user: request.user.clone(),
                target: request.target.clone(),
            };
            let left = (link.expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
            let cookie = app.cookies.set(LINK_COOKIE, &pending, left.min(app.link_ttl));
            redirect(link.url.as_str(), &[cookie])
        }
        Err(e) => error_page(&e, None, &[]),
    }
}

async fn callback(State(app): AppState, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let query = uri.query().unwrap_or("");
    let fields = form_fields(query.as_bytes());
    // The provider: named on the return URL (hosted platforms), else the one that issued
    // the state on the URL (app-redirect platforms); complete_callback verifies it.
    let named = fields.get("provider").cloned().or_else(|| fields.get(STATE_PARAM).and_then(|s| issuer(s)));
    let pending = match app.cookies.read::<PendingLink>(&headers, LINK_COOKIE) {
        Read::Valid(p) => Some(p),
        Read::Absent => None,
        Read::Invalid => {
            return page(
                StatusCode::BAD_REQUEST,
                "state_invalid",
                "The link cookie is not valid",
                "The cookie holding the link in progress was altered, or comes from an earlier run of the demo.",
                "Start a new link.",
                None,
                &[CookieJar::clear(LINK_COOKIE)],
            )
        }
    };
    let kind = match (&pending, named.as_deref()) {
        (Some(p), Some(n)) if p.provider != n => {
            return page(
                StatusCode::BAD_REQUEST,
                "state_invalid",
                "This callback is for another provider",
                &format!("The link in progress is for {}, but the browser came back from {}.", p.provider, n),
                "Finish or cancel the link in progress from the start page, then start a new one.",
                None,
                &[],
            )
        }
        (Some(p), _) => p.provider.clone(),
        (None, Some(n)) => n.to_owned(),
        (None, None) => {
            return page(
                StatusCode::BAD_REQUEST,
                "no_state",
                "No link in progress",
                "This browser has no link in progress and the callback does not name a provider.",
                "Start a new link from the start page.",
                None,
                &[],
            )
        }
    };
    let Some(entry) = app.find(&kind) else {
        return bad_request("Unknown provider", &format!("`{kind}` is not offered by this demo."));
    };
    let provider = &entry.provider;
    let kind = provider.kind();
    let full = format!("{}{}", app.root, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/callback"));
    let mut cb = match Callback::from_url(kind, &full) {
        Ok(cb) => cb,
        Err(e) => return error_page(&e, None, &[]),
    };
    match &pending {
        Some(p) => cb = cb.with_state(StateToken::new(p.state.clone())),
        None if !provider.capabilities().state_in_redirect => {
            return page(
                StatusCode::BAD_REQUEST,
                "no_state",
                "No link in progress in this browser",
                &format!("{kind} does not carry the link state back, and this browser holds none: the link was already completed or cancelled, its cookie expired, or cookies are blocked."),
                "Each link completes once. Start a new link from the start page.",
                None,
                &[],
            )
        }
        None => {}
    }
    match provider.complete_callback(&cb).await {
        Ok(connection) => {
            let text =
                format!("Connected {} for {} (connection {}).", connection.target, connection.user, connection.id);
            let cookies = [CookieJar::clear(LINK_COOKIE), flash_cookie(&app, "ok", text)];
            redirect(&connections_location(kind, &connection.user), &cookies)
        }
        // A transient failure leaves the state usable: keep the cookie, offer to retry.
        Err(e) if e.is_retryable() => error_page(&e, Some(&full), &[]),
        Err(e) => error_page(&e, None, &[CookieJar::clear(LINK_COOKIE)]),
    }
}

async fn connections(State(app): AppState, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let query = form_fields(uri.query().unwrap_or("").as_bytes());
    let Some(entry) = app.find(field(&query, "provider")) else {
        return bad_request("Unknown provider", "Pass ?provider= one of the providers offered on the start page.");
    };
    let kind = entry.provider.kind();
    let q = ConnectionQuery::user(field(&query, "user"));
    if let Err(e) = q.validate(kind) {
        return error_page(&e, None, &[]);
    }
    if kind.starts_with("alloy") {
        if let Some(users) = &app.alloy_users {
            users.ensure(&q.user).await;
        }
    }
    let list: Vec<Connection> = match entry.provider.list_connections(&q).await {
        Ok(list) => list,
        Err(e) => {
            let retry = format!("/connections?{}", uri.query().unwrap_or(""));
            return error_page(&e, Some(&retry), &[]);
        }
    };
    let (flash, cookies) = take_flash(&app, &headers);
    let body = pages::connections(&pages::ConnectionsView {
        provider: kind,
        user: &q.user,
        connections: &list,
        flash: flash.as_ref(),
    });
    html(StatusCode::OK, body, &cookies)
}

async fn disconnect(State(app): AppState, body: Bytes) -> Response {
    let form = form_fields(&body);
    let Some(entry) = app.find(field(&form, "provider")) else {
        return bad_request("Unknown provider", "The form names no provider offered by this demo.");
    };
    let kind = entry.provider.kind();
    let (user, connection) = (field(&form, "user"), field(&form, "connection"));
    for (name, value) in [("user", user), ("connection", connection)] {
        if let Err(e) = oauth_link::validate_id(kind, name, value) {
            return error_page(&e, None, &[]);
        }
    }
    match entry.provider.disconnect(user, connection).await {
        Ok(()) => {
            let cookie = flash_cookie(&app, "info", format!("Disconnected {connection}."));
            redirect(&connections_location(kind, user), &[cookie])
        }
        Err(e) => error_page(&e, None, &[]),
    }
}

async fn cancel(State(app): AppState) -> Response {
    let cookies =
        [CookieJar::clear(LINK_COOKIE), flash_cookie(&app, "info", "The link in progress was cancelled.".into())];
    redirect("/", &cookies)
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

    #[test]
    fn every_sandbox_provider_gets_targets_that_work_by_default() {
        let catalogue = Sandbox::catalogue();
        for kind in SANDBOX_KINDS {
            let targets = sandbox_targets(&catalogue, kind);
            assert!(!targets.is_empty(), "{kind}");
            assert!(targets[0].params.is_empty(), "{kind}: the default target needs no parameter");
        }
        let alloy = sandbox_targets(&catalogue, "alloy-headless");
        let shopify = alloy.iter().find(|t| t.id == "shopify").unwrap();
        assert_eq!(shopify.params, vec!["shopSubdomain".to_owned()]);
        assert!(!alloy.iter().any(|t| t.id == "netsuite"), "non-OAuth apps are not offered");
    }
}
