//! The whole [oauth-link](https://example.invalid/oauth-link) connect flow as an axum
//! [`Router`](axum::Router): an app nests it under a prefix of its choice and its users
//! connect, list and remove their third-party accounts, on any configured platform.
//!
//! ```no_run
//! # async fn app(provider: oauth_link_core::SharedLinkProvider) -> Result<(), Box<dyn std::error::Error>> {
//! use oauth_link_axum::{user_fn, CookieKey, LinkRouter};
//!
//! let links = LinkRouter::builder(CookieKey::from_env()?, user_fn(|parts| my_session_user(parts)))
//!     .provider(provider)                        // one or several, served under /{kind}/...
//!     .public_url("https://app.example/oauth")   // where the router is nested
//!     .success_url("/settings/connections")      // ?provider=&connection=&target=
//!     .failure_url("/settings/connections")      // ?provider=&error=<class>&code=<code>
//!     .build()?;
//! let app: axum::Router = axum::Router::new().nest("/oauth", links);
//! # Ok(()) }
//! # fn my_session_user(_: &axum::http::request::Parts) -> Option<String> { None }
//! ```
//!
//! # Routes
//!
//! | route | what |
//! |---|---|
//! | `GET`, `POST /{provider}/connect/{target}` | starts a link for the signed-in user (query or form: `scope`, `params` as `key=value` lines, `param.<name>`, `reconnect=<connection id>` to re-authorise one of the user's connections to `target`), keeps it in a cookie, 303 to the platform (JSON `{url, expires_at}` with `Accept: application/json`) |
//! | `GET /{provider}/callback` | completes the link this browser started, clears its cookie, 303 to the success or failure URL (JSON with `Accept: application/json`, or when none is set) |
//! | `GET /{provider}/connections` | the signed-in user's connections, JSON (`?target=` filters) |
//! | `DELETE /{provider}/connections/{id}` | removes one of them, 204 |
//! | `POST /{provider}/connections/{id}/disconnect` | the same for an HTML form: 303 to the success URL with `disconnected={id}` |
//! | `GET /{provider}/targets` | the platform's catalogue, JSON |
//! | `POST /{provider}/webhooks` | the platform's signed webhook deliveries: verified with the provider's `webhook_secret`, deduplicated on the delivery id, each [`ConnectionEvent`](oauth_link_core::webhook::ConnectionEvent) handed to [`on_event`](LinkRouterBuilder::on_event); 204 with [`WEBHOOK_OUTCOME_HEADER`] `handled`, `replayed` or `ignored`; a forged, tampered or stale delivery 401 `webhook-rejected` (see `docs/webhooks.md`) |
//!
//! Every error is `application/problem+json` (RFC 9457) with a stable `type` per code and
//! the status it means: see [`Problem`].
//!
//! # Security
//!
//! - **The user** comes from the app ([`UserSource`]), never from the request. A link is
//!   bound to the user who started it and to the provider: completing it in another user's
//!   session is refused (`state-user-mismatch`) before the platform is asked anything, so
//!   nothing of the first user's is consumed (login CSRF, session fixation).
//! - **The link cookie** (one per link in progress, at most
//!   [`max_pending_links`](LinkRouterBuilder::max_pending_links), the oldest evicted) is
//!   sealed with the [`CookieKey`] by [`oauth_link_core::seal`], the code that seals link
//!   state (AES-256-GCM-SIV, the cookie's name as associated data, base64url):
//!   `HttpOnly`, `Secure` (switch off only for http on localhost), `SameSite=Lax`, `Path` =
//!   the router's prefix, `Max-Age` = what is left of the link's lifetime. It holds the
//!   provider, the user, the target and the sealed state; the browser can read none, alter
//!   none, nor move a value to another cookie. Cookies sealed by earlier builds
//!   (AES-256-GCM, axum-extra's private cookies) do not open: a link in progress across
//!   that upgrade is refused (`state-invalid`, the cookie cleared) and its user starts
//!   again; the cookie key itself carries over.
//! - **App-redirect platforms** bring the state back on the callback URL: it must match a
//!   link this browser started. **Hosted platforms** bring nothing: the newest link in
//!   progress for that provider is completed. Both look the same to the app.
//! - **Single use** is the providers' [`ReplayGuard`](oauth_link_core::ReplayGuard): give
//!   every instance of the app the same one (Redis) through the
//!   [`LinkContext`](oauth_link_core::LinkContext) the providers are built with.
//! - **Redirects** go only to the configured success and failure URLs (absolute http(s) or
//!   a same-origin path, checked by [`LinkRouterBuilder::build`]) and to the platform's link.
//! - **POST and DELETE** from another site are refused: `Sec-Fetch-Site: cross-site`, or,
//!   from a browser that does not send that header, an `Origin` that is neither the `Host`
//!   nor the public URL's.
//! - No state, cookie value or key appears in a body, a log line or a `Debug` output.
//!
//! The router holds no global state; its state is one `Arc`, cloned per request, and it
//! works behind any `tower_http` layer.
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod builder;
mod key;
mod pending;
mod problem;
mod redirect;
mod routes;
mod user;
mod webhook;

pub use builder::{BuildError, LinkRouterBuilder, DEFAULT_MAX_PENDING_LINKS, MAX_PENDING_LINKS};
pub use key::{CookieKey, COOKIE_KEY_ENV, COOKIE_KEY_LEN, MIN_MASTER_LEN, STATE_SECRET_ENV};
pub use problem::{problem_codes, Problem, PROBLEM_JSON, PROBLEM_TYPE_PREFIX};
pub use user::{user_fn, UserFn, UserSource};
pub use webhook::WEBHOOK_OUTCOME_HEADER;

/// Re-exported so apps implement [`UserSource`] with the same macro version.
pub use async_trait::async_trait;

/// Entry point: [`LinkRouter::builder`].
#[derive(Debug)]
pub struct LinkRouter(());

impl LinkRouter {
    /// Starts a router whose cookies are sealed with `key` and whose users come from `users`.
    pub fn builder(key: CookieKey, users: impl UserSource) -> LinkRouterBuilder {
        LinkRouterBuilder::new(key, std::sync::Arc::new(users))
    }
}
