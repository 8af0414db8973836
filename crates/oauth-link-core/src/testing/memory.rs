//! An in-process provider: a hosted-callback platform that lives in memory.
//!
//! Useful for an app's own tests and for trying oauth-link without any account. The
//! "platform" side is driven by [`MemoryProvider::approve`] and [`MemoryProvider::deny`],
//! which play the user at the consent screen.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::config::CommonConfig;
use crate::context::LinkContext;
use crate::descriptor::Descriptor;
use crate::error::{Error, Result};
use crate::http::{status_error, ErrorBody, HttpResponse};
use crate::provider::{LinkProvider, SharedLinkProvider};
use crate::state::Nonce;
use crate::target::{Target, TargetAuth, TargetParam};
use crate::types::{
    Callback, CallbackModel, Capabilities, Connection, ConnectionQuery, ConnectionStatus, Link, LinkRequest,
};
use crate::DEFAULT_STATE_TTL;

/// Provider kind of [`MemoryProvider`].
pub const KIND: &str = "memory";

/// How the facade finds, configures and builds the in-memory provider (kind `memory`,
/// facade feature `memory`).
pub const DESCRIPTOR: Descriptor<MemorySettings> =
    Descriptor::new(KIND, || capabilities(DEFAULT_STATE_TTL), MemorySettings::build);

/// Settings of the in-memory provider: `auto_approve`, and the shared keys (accepted, as
/// every adapter's are; nothing is sent, so only polling would matter, and nothing polls).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MemorySettings {
    /// Complete every link as if the user approved (default true: no browser plays the user).
    #[serde(default = "yes")]
    pub auto_approve: bool,
    /// The shared settings.
    #[serde(skip)]
    pub common: CommonConfig,
}

fn yes() -> bool {
    true
}

crate::adapter_config!(MemorySettings);

impl MemorySettings {
    /// Builds the provider these settings describe.
    pub fn build(self, ctx: LinkContext) -> Result<SharedLinkProvider> {
        let provider = MemoryProvider::new(ctx);
        Ok(Arc::new(if self.auto_approve { provider.auto_approving() } else { provider }))
    }
}

fn capabilities(state_ttl: Duration) -> Capabilities {
    Capabilities::new(CallbackModel::Hosted).with_link_lifetime(state_ttl).with_reconnect_keeps_id(true)
}

/// What the in-memory platform knows.
#[derive(Debug, Default)]
struct Platform {
    /// Links the user approved, by nonce, with the connection the platform created.
    approved: HashMap<Nonce, Connection>,
    /// Links the user refused.
    denied: HashMap<Nonce, String>,
    connections: Vec<Connection>,
    next_id: u64,
    fail_next: Option<u16>,
}

/// An in-memory hosted-callback provider.
#[derive(Debug)]
pub struct MemoryProvider {
    ctx: LinkContext,
    auto_approve: bool,
    targets: Vec<Target>,
    platform: Mutex<Platform>,
}

/// The catalogue a new [`MemoryProvider`] lists (it links any target all the same).
pub fn default_targets() -> Vec<Target> {
    vec![
        Target::new("slack", "Slack", TargetAuth::OAuth),
        Target::new("github", "GitHub", TargetAuth::OAuth),
        Target::new("shopify", "Shopify", TargetAuth::OAuth)
            .with_param(TargetParam::new("shopSubdomain", true).with_display_name("Shop subdomain")),
    ]
}

impl MemoryProvider {
    /// A provider whose links must be approved with [`MemoryProvider::approve`].
    pub fn new(ctx: LinkContext) -> Self {
        Self { ctx, auto_approve: false, targets: default_targets(), platform: Mutex::default() }
    }

    /// Lists `targets` as the catalogue instead of [`default_targets`].
    pub fn with_targets(mut self, targets: Vec<Target>) -> Self {
        self.targets = targets;
        self
    }

    /// Treats every link as approved at completion (for command-line experiments, where
    /// no browser plays the user).
    pub fn auto_approving(mut self) -> Self {
        self.auto_approve = true;
        self
    }

    fn platform(&self) -> std::sync::MutexGuard<'_, Platform> {
        self.platform.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn injected_failure(&self) -> Result<()> {
        match self.platform().fail_next.take() {
            None => Ok(()),
            Some(status) => {
                let response = HttpResponse { status, headers: Default::default(), body: Default::default() };
                Err(status_error(KIND, &response, ErrorBody { message: format!("injected HTTP {status}"), code: None }))
            }
        }
    }

    /// The request with its target taken from the connection it reconnects, which must be
    /// `request.user`'s.
    fn reconnect_target(&self, request: &LinkRequest, id: &str) -> Result<LinkRequest> {
        let platform = self.platform();
        let Some(existing) = platform.connections.iter().find(|c| c.user == request.user && c.id == id) else {
            return Err(Error::NotFound { provider: KIND, message: format!("no connection `{id}` for this user") });
        };
        if !request.target.is_empty() && request.target != existing.target {
            return Err(Error::invalid_input(
                KIND,
                "target",
                format!("connection `{id}` is to `{}`, not `{}`", existing.target, request.target),
            ));
        }
        let mut resolved = request.clone();
        resolved.target = existing.target.clone();
        Ok(resolved)
    }

    /// Puts a connection in [`ConnectionStatus::NeedsReauthorization`], as a platform does
    /// when a token can no longer be refreshed; false when there is no such connection.
    pub fn break_connection(&self, connection_id: &str, reason: &str) -> bool {
        let mut platform = self.platform();
        match platform.connections.iter_mut().find(|c| c.id == connection_id) {
            Some(c) => {
                c.status = ConnectionStatus::needs_reauthorization(reason);
                true
            }
            None => false,
        }
    }

    /// Makes the next platform call fail as if the platform answered `status`.
    pub fn fail_next(&self, status: u16) {
        self.platform().fail_next = Some(status);
    }

    /// Plays the user approving `link`: the platform creates the connection, and the
    /// browser comes back with nothing but the state the app kept.
    pub fn approve(&self, link: &Link) -> Result<Callback> {
        let claims = self.ctx.codec().verify(KIND, &link.state)?;
        let mut platform = self.platform();
        platform.next_id += 1;
        let connection = new_connection(platform.next_id, &claims.user, &claims.target);
        platform.approved.insert(claims.nonce, connection);
        Ok(Callback::from_state(link.state.clone()))
    }

    /// Plays the user refusing consent.
    pub fn deny(&self, link: &Link) -> Result<Callback> {
        let claims = self.ctx.codec().verify(KIND, &link.state)?;
        self.platform().denied.insert(claims.nonce, "access_denied".into());
        Ok(Callback::from_state(link.state.clone()))
    }
}

fn new_connection(id: u64, user: &str, target: &str) -> Connection {
    let now = Utc::now();
    Connection::new(format!("mem_{id}"), KIND, user, target, ConnectionStatus::Connected)
        .with_created_at(Some(now))
        .with_updated_at(Some(now))
        .with_raw(serde_json::json!({ "id": format!("mem_{id}") }))
}

#[async_trait]
impl LinkProvider for MemoryProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        capabilities(self.ctx.codec().ttl())
    }

    async fn generate_link(&self, request: &LinkRequest) -> Result<Link> {
        request.validate(KIND)?;
        self.injected_failure()?;
        let resolved;
        let request = match &request.reconnect {
            Some(id) => {
                resolved = self.reconnect_target(request, id)?;
                &resolved
            }
            None => request,
        };
        let claims = self.ctx.codec().claims_for(KIND, request);
        let mut url = Url::parse("https://memory.oauth-link.invalid/consent").expect("static URL");
        url.query_pairs_mut().append_pair("link", &claims.nonce.to_string()).append_pair("target", &request.target);
        Ok(Link::new(KIND, url, self.ctx.sign(&claims), claims.expires_at))
    }

    async fn complete_callback(&self, callback: &Callback) -> Result<Connection> {
        self.ctx
            .complete_connection(KIND, callback, |claims| async move {
                self.injected_failure()?;
                let mut platform = self.platform();
                if let Some(code) = platform.denied.remove(&claims.nonce) {
                    return Err(Error::Denied { provider: KIND, code, reason: "the user refused consent".into() });
                }
                let connection = match platform.approved.remove(&claims.nonce) {
                    Some(c) => c,
                    None if self.auto_approve => {
                        platform.next_id += 1;
                        new_connection(platform.next_id, &claims.user, &claims.target)
                    }
                    None => {
                        return Err(Error::Pending {
                            provider: KIND,
                            message: "the user has not approved the link yet".into(),
                        })
                    }
                };
                // The in-memory platform re-authorises in place: a reconnect keeps the id
                // and replaces the record.
                let connection = match &claims.reconnect {
                    Some(id) => {
                        platform.connections.retain(|c| !(c.user == claims.user && c.id == *id));
                        Connection { id: id.clone(), ..connection }
                    }
                    None => connection,
                };
                platform.connections.push(connection.clone());
                Ok(connection)
            })
            .await
    }

    async fn list_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>> {
        query.validate(KIND)?;
        self.injected_failure()?;
        Ok(self
            .platform()
            .connections
            .iter()
            .filter(|c| c.user == query.user && query.target.as_ref().is_none_or(|t| *t == c.target))
            .cloned()
            .collect())
    }

    async fn list_targets(&self) -> Result<Vec<Target>> {
        self.injected_failure()?;
        Ok(self.targets.clone())
    }

    async fn disconnect(&self, user: &str, connection_id: &str) -> Result<()> {
        crate::types::validate_id(KIND, "user", user)?;
        crate::types::validate_id(KIND, "connection", connection_id)?;
        self.injected_failure()?;
        let mut platform = self.platform();
        let before = platform.connections.len();
        platform.connections.retain(|c| !(c.user == user && c.id == connection_id));
        if platform.connections.len() == before {
            return Err(Error::NotFound {
                provider: KIND,
                message: format!("no connection `{connection_id}` for this user"),
            });
        }
        Ok(())
    }
}
