//! Shared test support: a router over in-memory providers, a tiny cookie-keeping browser,
//! and an app-redirect provider.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use oauth_link_axum::{user_fn, CookieKey, LinkRouter, LinkRouterBuilder};
use oauth_link_core::adapter::{async_trait, redirect_with_state};
use oauth_link_core::clock::ManualClock;
use oauth_link_core::testing::MemoryProvider;
use oauth_link_core::{
    Callback, CallbackModel, Capabilities, Connection, ConnectionQuery, ConnectionStatus, Error, Link, LinkContext,
    LinkProvider, LinkRequest, MemoryReplayGuard, SharedLinkProvider, StateCodec, StateKeys, Url,
};
use tower::ServiceExt as _;

/// The header the test app's "session" names its user with.
pub const USER_HEADER: &str = "x-test-user";

/// An app-redirect platform: its consent page sends the browser back to the request's
/// redirect URI with the state on it (`?back=` of the link URL is that address).
#[derive(Debug)]
pub struct RedirectProvider {
    ctx: LinkContext,
    connections: std::sync::Mutex<Vec<Connection>>,
}

pub const REDIRECT_KIND: &str = "redirecting";

impl RedirectProvider {
    pub fn new(ctx: LinkContext) -> Self {
        Self { ctx, connections: Default::default() }
    }
}

#[async_trait]
impl LinkProvider for RedirectProvider {
    fn kind(&self) -> &'static str {
        REDIRECT_KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(CallbackModel::AppRedirect)
    }

    async fn generate_link(&self, request: &LinkRequest) -> oauth_link_core::Result<Link> {
        request.validate(REDIRECT_KIND)?;
        let redirect = request
            .redirect_uri
            .clone()
            .ok_or_else(|| Error::invalid_input(REDIRECT_KIND, "redirect_uri", "required"))?;
        let claims = self.ctx.claims(REDIRECT_KIND, &request.user, &request.target);
        let state = self.ctx.sign(&claims);
        let mut url = Url::parse("https://platform.example/consent").expect("static");
        url.query_pairs_mut().append_pair("back", &redirect_with_state(&redirect, state.expose()));
        Ok(Link::new(REDIRECT_KIND, url, state, claims.expires_at))
    }

    async fn complete_callback(&self, callback: &Callback) -> oauth_link_core::Result<Connection> {
        let denied = callback.param("error").map(str::to_owned);
        self.ctx
            .complete(REDIRECT_KIND, callback, |claims| async move {
                if let Some(code) = denied {
                    return Err(Error::Denied { provider: REDIRECT_KIND, code, reason: "the user said no".into() });
                }
                let mut list = self.connections.lock().unwrap();
                let id = format!("red_{}", list.len() + 1);
                let connection =
                    Connection::new(id, REDIRECT_KIND, &claims.user, &claims.target, ConnectionStatus::Connected);
                list.push(connection.clone());
                Ok(connection)
            })
            .await
    }

    async fn list_connections(&self, query: &ConnectionQuery) -> oauth_link_core::Result<Vec<Connection>> {
        Ok(self.connections.lock().unwrap().iter().filter(|c| c.user == query.user).cloned().collect())
    }
}

/// A router over a hosted (memory) and an app-redirect provider, nested under `/oauth`.
pub struct Harness {
    pub app: Router,
    pub clock: ManualClock,
    pub ctx: LinkContext,
    pub key: CookieKey,
    pub memory: SharedLinkProvider,
    pub redirecting: SharedLinkProvider,
}

pub fn context(clock: &ManualClock) -> LinkContext {
    let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
    LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()))
}

pub fn users() -> impl oauth_link_axum::UserSource {
    user_fn(|parts| parts.headers.get(USER_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned))
}

pub fn harness(configure: impl FnOnce(LinkRouterBuilder) -> LinkRouterBuilder) -> Harness {
    let clock = ManualClock::starting_now();
    let ctx = context(&clock);
    let key = CookieKey::generate();
    let memory: SharedLinkProvider = Arc::new(MemoryProvider::new(ctx.clone()).auto_approving());
    let redirecting: SharedLinkProvider = Arc::new(RedirectProvider::new(ctx.clone()));
    let builder = LinkRouter::builder(key.clone(), users())
        .provider(memory.clone())
        .provider_returning_here(redirecting.clone())
        .public_url("https://app.example/oauth");
    let links = configure(builder).build().expect("router");
    Harness { app: Router::new().nest("/oauth", links), clock, ctx, key, memory, redirecting }
}

/// What came back.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    pub fn content_type(&self) -> &str {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// A browser: a user header (the app's session) and the cookies the router set.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    pub user: Option<String>,
    pub cookies: BTreeMap<String, String>,
    pub accept_json: bool,
}

impl Browser {
    pub fn signed_in(user: &str) -> Self {
        Self { user: Some(user.into()), ..Self::default() }
    }

    pub fn request(&self, method: &str, uri: &str, body: Option<&str>) -> Request<Body> {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(user) = &self.user {
            req = req.header(USER_HEADER, user);
        }
        if !self.cookies.is_empty() {
            let text: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header(header::COOKIE, text.join("; "));
        }
        if self.accept_json {
            req = req.header(header::ACCEPT, "application/json");
        }
        match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(b.to_owned()))
                .unwrap(),
            None => req.body(Body::empty()).unwrap(),
        }
    }

    /// Sends a request and keeps the cookies the answer sets.
    pub async fn send(&mut self, app: &Router, req: Request<Body>) -> Answer {
        let answer = send(app, req).await;
        for line in answer.set_cookies() {
            let pair = line.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || line.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        answer
    }

    pub async fn get(&mut self, app: &Router, uri: &str) -> Answer {
        let req = self.request("GET", uri, None);
        self.send(app, req).await
    }

    pub async fn post(&mut self, app: &Router, uri: &str, body: &str) -> Answer {
        let req = self.request("POST", uri, Some(body));
        self.send(app, req).await
    }
}

pub async fn send(app: &Router, req: Request<Body>) -> Answer {
    let response = app.clone().oneshot(req).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("body").to_bytes();
    Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

/// The path and query of the platform's `back` address (where an app-redirect platform
/// sends the browser after consent).
pub fn back_address(link: &str) -> String {
    let url = Url::parse(link).expect("link URL");
    let back = url.query_pairs().find(|(k, _)| k == "back").map(|(_, v)| v.into_owned()).expect("back");
    let back = Url::parse(&back).expect("back URL");
    format!("{}?{}", back.path(), back.query().unwrap_or(""))
}

pub const TEN_MINUTES_AND_A_BIT: Duration = Duration::from_secs(601);
