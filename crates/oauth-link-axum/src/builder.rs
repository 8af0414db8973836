//! Configuring the router: providers, who the user is, the cookie key, where to go after.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use oauth_link_core::webhook::{ConnectionEvent, DeliveryDedupe};
use oauth_link_core::{SharedLinkProvider, Url};

use crate::key::CookieKey;
use crate::pending::CookiePolicy;
use crate::redirect::ReturnUrl;
use crate::routes;
use crate::user::UserSource;
use crate::webhook::Webhooks;

/// Most links in progress a browser may hold by default (one cookie each).
pub const DEFAULT_MAX_PENDING_LINKS: usize = 4;

/// Upper bound of [`LinkRouterBuilder::max_pending_links`] (browsers cap cookies per site).
pub const MAX_PENDING_LINKS: usize = 16;

/// Why the router could not be built. Every case names what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The cookie key is missing, unreadable or too short.
    #[error("cookie key: {reason}")]
    CookieKey {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A success or failure URL could lead the browser off the app (open redirect).
    #[error("{which} refused: {reason}; use an absolute http(s) URL or a path starting with a single `/`")]
    UnsafeReturnUrl {
        /// `success_url` or `failure_url`.
        which: &'static str,
        /// Why.
        reason: String,
    },
    /// The public URL is not an absolute http(s) URL without query or fragment.
    #[error("public_url refused: {reason}")]
    PublicUrl {
        /// Why.
        reason: String,
    },
    /// A provider must come back to the router's callback, but the router does not know its
    /// public address.
    #[error("provider `{kind}` returns to this router's callback: set public_url (e.g. `https://app.example/oauth`)")]
    PublicUrlRequired {
        /// The provider kind.
        kind: &'static str,
    },
    /// No provider was added.
    #[error("no provider: add at least one with LinkRouterBuilder::provider")]
    NoProvider,
    /// Two providers of the same kind were added (the path names the kind).
    #[error("provider `{kind}` added twice; one router serves one provider per kind")]
    DuplicateProvider {
        /// The provider kind.
        kind: &'static str,
    },
    /// `max_pending_links` is out of range.
    #[error("max_pending_links must be between 1 and {MAX_PENDING_LINKS}, got {got}")]
    MaxPendingLinks {
        /// The value given.
        got: usize,
    },
}

/// One provider the router serves.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) provider: SharedLinkProvider,
    /// The redirect URI put on every link request (app-redirect providers added with
    /// [`LinkRouterBuilder::provider_returning_here`]).
    pub(crate) redirect: Option<Url>,
}

/// What every handler shares. Cloning is cheap (one `Arc`).
#[derive(Clone)]
pub(crate) struct Shared(pub(crate) Arc<Inner>);

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkRouter")
            .field("providers", &self.0.providers.keys().collect::<Vec<_>>())
            .field("mount_path", &self.0.mount_path)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) providers: BTreeMap<&'static str, Entry>,
    pub(crate) users: Arc<dyn UserSource>,
    pub(crate) key: CookieKey,
    pub(crate) cookies: CookiePolicy,
    /// The mount path from `public_url`, when given (else read from axum's `NestedPath`).
    pub(crate) mount_path: Option<String>,
    /// The configured public URL (its origin counts as same-site behind a proxy).
    pub(crate) public_url: Option<Url>,
    pub(crate) success: Option<ReturnUrl>,
    pub(crate) failure: Option<ReturnUrl>,
    /// The webhook route's dedupe store and the app's event handlers.
    pub(crate) webhooks: Webhooks,
}

/// Builds the connect-flow [`Router`]; start with [`LinkRouter::builder`](crate::LinkRouter::builder).
#[must_use]
pub struct LinkRouterBuilder {
    key: CookieKey,
    users: Arc<dyn UserSource>,
    providers: Vec<(SharedLinkProvider, bool)>,
    public_url: Option<String>,
    success: Option<String>,
    failure: Option<String>,
    secure: bool,
    max_links: usize,
    webhooks: Webhooks,
}

impl std::fmt::Debug for LinkRouterBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkRouterBuilder")
            .field("providers", &self.providers.iter().map(|(p, _)| p.kind()).collect::<Vec<_>>())
            .field("public_url", &self.public_url)
            .field("success_url", &self.success)
            .field("failure_url", &self.failure)
            .field("secure_cookies", &self.secure)
            .field("max_pending_links", &self.max_links)
            .field("event_handlers", &self.webhooks.handlers.len())
            .finish_non_exhaustive()
    }
}

impl LinkRouterBuilder {
    pub(crate) fn new(key: CookieKey, users: Arc<dyn UserSource>) -> Self {
        Self {
            key,
            users,
            providers: Vec::new(),
            public_url: None,
            success: None,
            failure: None,
            secure: true,
            max_links: DEFAULT_MAX_PENDING_LINKS,
            webhooks: Webhooks::default(),
        }
    }

    /// Serves `provider` under `/{kind}/...`, as configured: an app-redirect provider comes
    /// back to the `redirect_uri` of its configuration (which should be this router's
    /// `/{kind}/callback`), a hosted one to the address set on the platform.
    pub fn provider(mut self, provider: SharedLinkProvider) -> Self {
        self.providers.push((provider, false));
        self
    }

    /// Serves `provider` and, when it is an app-redirect platform
    /// ([`Capabilities::state_in_redirect`](oauth_link_core::Capabilities::state_in_redirect)),
    /// sends every link back to this router's own `{public_url}/{kind}/callback`: for an
    /// adapter whose configuration has no `redirect_uri`. Needs
    /// [`public_url`](Self::public_url). Same as [`provider`](Self::provider) for a hosted one.
    pub fn provider_returning_here(mut self, provider: SharedLinkProvider) -> Self {
        self.providers.push((provider, true));
        self
    }

    /// The router's public address, as the browser sees it: the origin plus the prefix the
    /// app nests the router under (`https://app.example/oauth`). Its path scopes the
    /// cookies; without it the router reads the prefix from axum's `NestedPath`.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Where the browser goes after a completed link (`?provider=&connection=&target=`
    /// appended). Without it, the callback answers the connection as JSON.
    pub fn success_url(mut self, url: impl Into<String>) -> Self {
        self.success = Some(url.into());
        self
    }

    /// Where the browser goes after a failed connect or callback (`?provider=&error=<class>&code=<code>`
    /// appended, see [`Problem`](crate::Problem)). Without it, the router answers
    /// `application/problem+json`.
    pub fn failure_url(mut self, url: impl Into<String>) -> Self {
        self.failure = Some(url.into());
        self
    }

    /// Marks the cookies `Secure` (default `true`). Turn it off only for plain-http
    /// development on localhost.
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure = secure;
        self
    }

    /// How many links one browser may have in progress (default
    /// [`DEFAULT_MAX_PENDING_LINKS`]); starting one more evicts the oldest.
    pub fn max_pending_links(mut self, n: usize) -> Self {
        self.max_links = n;
        self
    }

    /// Hands every connection event a verified webhook delivery carries to `handler`
    /// (`POST /{provider}/webhooks`), once per delivery: a resend the platform makes is
    /// answered without calling it again. Called on the request's task before the platform
    /// gets its answer: keep it quick and non-blocking (send to a channel, e.g. a
    /// `tokio::sync::broadcast::Sender` or `mpsc::UnboundedSender`). Several handlers are
    /// called in the order added.
    pub fn on_event(mut self, handler: impl Fn(ConnectionEvent) + Send + Sync + 'static) -> Self {
        self.webhooks.handlers.push(std::sync::Arc::new(handler));
        self
    }

    /// Where the webhook route records the deliveries it handled (default: core's
    /// [`MemoryDedupe`](oauth_link_core::webhook::MemoryDedupe), for one app instance).
    /// Several instances behind one webhook URL share one: `oauth-link-redis`'s
    /// `RedisReplayGuard::dedupe()`.
    pub fn webhook_dedupe(mut self, dedupe: std::sync::Arc<dyn DeliveryDedupe>) -> Self {
        self.webhooks.dedupe = dedupe;
        self
    }

    /// Checks the configuration and builds the router, to nest under the prefix of
    /// [`public_url`](Self::public_url): `app.nest("/oauth", router)`.
    pub fn build<S>(self) -> Result<Router<S>, BuildError>
    where
        S: Clone + Send + Sync + 'static,
    {
        Ok(routes::router(self.shared()?))
    }

    pub(crate) fn shared(self) -> Result<Shared, BuildError> {
        if self.providers.is_empty() {
            return Err(BuildError::NoProvider);
        }
        if !(1..=MAX_PENDING_LINKS).contains(&self.max_links) {
            return Err(BuildError::MaxPendingLinks { got: self.max_links });
        }
        let public = match &self.public_url {
            None => None,
            Some(text) => Some(parse_public_url(text)?),
        };
        let success = self.success.as_deref().map(|u| ReturnUrl::parse("success_url", u)).transpose()?;
        let failure = self.failure.as_deref().map(|u| ReturnUrl::parse("failure_url", u)).transpose()?;
        let mut providers = BTreeMap::new();
        for (provider, here) in self.providers {
            let kind = provider.kind();
            let redirect = if here && provider.capabilities().state_in_redirect() {
                let base = public.as_ref().ok_or(BuildError::PublicUrlRequired { kind })?;
                let mut url = base.clone();
                url.set_path(&format!("{}/{kind}/callback", base.path().trim_end_matches('/')));
                Some(url)
            } else {
                None
            };
            if providers.insert(kind, Entry { provider, redirect }).is_some() {
                return Err(BuildError::DuplicateProvider { kind });
            }
        }
        let mount_path = public.as_ref().map(|u| u.path().trim_end_matches('/').to_owned());
        Ok(Shared(Arc::new(Inner {
            providers,
            users: self.users,
            key: self.key,
            cookies: CookiePolicy { secure: self.secure, max_links: self.max_links },
            mount_path,
            public_url: public,
            success,
            failure,
            webhooks: self.webhooks,
        })))
    }
}

fn parse_public_url(text: &str) -> Result<Url, BuildError> {
    let refuse = |reason: &str| BuildError::PublicUrl { reason: reason.to_owned() };
    let url = Url::parse(text).map_err(|e| refuse(&format!("not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("must be an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("must have no query, fragment or credentials"));
    }
    Ok(url)
}
