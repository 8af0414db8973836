//! The `LinkProvider` implementation for Novu.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oauth_link_core::http::new_idempotency_key;
use oauth_link_core::{
    adapter::{excerpt, validate_id, UserMap},
    Callback, Capabilities, Connection, ConnectionQuery, ConnectionStatus, Error, Link, LinkContext, LinkProvider,
    LinkRequest, Result, Target, TargetAuth, TargetParam, Url,
};

use crate::client::{ListFilter, NovuClient, Record, RecordKind};
use crate::config::NovuConfig;
use crate::wire::{ConnectionMode, ContextValue, GenerateUserLinkRequest, GenerateWorkspaceLinkRequest};
use crate::KIND;

/// How long a Novu chat OAuth URL works (documented: 5 minutes).
pub(crate) const NOVU_LINK_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// The target that stands for the configured `integration_identifier`.
pub(crate) const DEFAULT_TARGET: &str = "default";
/// Longest idempotency key Novu accepts (its interceptor answers 400 above it).
pub(crate) const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;
/// Most contexts one link may carry (Novu validates context payloads with `maxCount: 5`).
pub(crate) const MAX_CONTEXTS: usize = 5;
/// The chat providers Novu's OAuth-URL endpoints accept (`generate-link-user-oauth-url`:
/// `ChatProviderIdEnum.Slack`, `.Novu` = `novu-slack`, `.MsTeams`).
pub(crate) const OAUTH_PROVIDERS: [&str; 3] = ["slack", "novu-slack", "msteams"];
/// Prefix of the connection identifier the adapter gives each workspace link.
const CONNECTION_ID_PREFIX: &str = "olk-";

/// `LinkRequest::params` keys understood by the adapter.
const PARAM_LINK_KIND: &str = "link_kind";
const PARAM_CONNECTION_IDENTIFIER: &str = "connectionIdentifier";
const PARAM_CONNECTION_MODE: &str = "connectionMode";
const PARAM_AUTO_LINK_USER: &str = "autoLinkUser";
const PARAM_CONTEXT_PREFIX: &str = "context.";
const ACCEPTED_PARAMS: &str = "link_kind, connectionIdentifier, context.<type>, connectionMode, autoLinkUser";

/// `StateClaims::extra` keys, in the ascending order they are signed in.
const EXTRA_CONNECTION_ID: &str = "cid";
const EXTRA_CONTEXT: &str = "ctx";
const EXTRA_INTEGRATION: &str = "integration";
const EXTRA_KIND: &str = "kind";
const EXTRA_MODE: &str = "mode";
const EXTRA_WATERMARK: &str = "w";

/// What a link connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkKind {
    /// The subscriber's own chat identity (a `slack_user` / `ms_teams_user` channel endpoint).
    User,
    /// A workspace install (Slack app install, MS Teams admin consent): a channel connection.
    Workspace,
}

impl LinkKind {
    fn as_str(self) -> &'static str {
        match self {
            LinkKind::User => "user",
            LinkKind::Workspace => "workspace",
        }
    }

    fn record_kind(self) -> RecordKind {
        match self {
            LinkKind::User => RecordKind::Endpoint,
            LinkKind::Workspace => RecordKind::Connection,
        }
    }
}

/// A request's params, checked and sorted out.
#[derive(Debug)]
struct Plan {
    kind: LinkKind,
    connection_identifier: Option<String>,
    context: BTreeMap<String, ContextValue>,
    connection_mode: Option<ConnectionMode>,
    auto_link_user: Option<bool>,
}

impl Plan {
    /// Whether the link makes a shared (context-owned) workspace connection.
    fn shared(&self) -> bool {
        self.connection_mode == Some(ConnectionMode::Shared)
    }

    /// `type:id` of each context, sorted: how Novu keys a record's contexts.
    fn context_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.context.iter().map(|(kind, value)| format!("{kind}:{}", value.id())).collect();
        keys.sort();
        keys
    }
}

/// The body of one OAuth-URL request.
#[derive(Debug)]
enum LinkBody<'a> {
    /// `POST /v1/integrations/channel-endpoints/oauth`.
    User(GenerateUserLinkRequest<'a>),
    /// `POST /v1/integrations/channel-connections/oauth`.
    Workspace(GenerateWorkspaceLinkRequest<'a>),
}

/// Which records a link may have made, and which of them count as made by it.
#[derive(Debug, Clone)]
struct Scope<'a> {
    kind: LinkKind,
    user: &'a str,
    integration: &'a str,
    /// Sorted `type:id` keys (workspace links only: Novu's upsert matches them exactly).
    context_keys: Vec<String>,
    shared: bool,
}

impl<'a> Scope<'a> {
    /// The list query that returns the scope's records.
    fn filter(&self) -> ListFilter<'_> {
        match self.kind {
            LinkKind::User => ListFilter::subscriber(self.user, Some(self.integration)),
            LinkKind::Workspace => ListFilter {
                subscriber_id: (!self.shared).then_some(self.user),
                integration_identifier: Some(self.integration),
                context_keys: &self.context_keys,
                shared: self.shared,
            },
        }
    }

    /// Defensive: only the scope's records count, whatever the platform sent.
    fn contains(&self, record: &Record) -> bool {
        let f = &record.fields;
        if f.integration_identifier.as_deref() != Some(self.integration) {
            return false;
        }
        let owner_ok = match (self.kind, self.shared) {
            (LinkKind::Workspace, true) => f.subscriber_id.is_none(),
            _ => f.subscriber_id.as_deref() == Some(self.user),
        };
        owner_ok && (self.kind == LinkKind::User || same_keys(&f.context_keys, &self.context_keys))
    }

    /// When a record was last made or remade, in ms on Novu's clock: an endpoint is only ever
    /// created (a new one per link); a connection may be updated in place by a re-install.
    fn stamp(&self, record: &Record) -> Option<i64> {
        let f = &record.fields;
        let created = f.created_at.as_deref().and_then(parse_time).map(|t| t.timestamp_millis());
        match self.kind {
            LinkKind::User => created,
            LinkKind::Workspace => {
                let updated = f.updated_at.as_deref().and_then(parse_time).map(|t| t.timestamp_millis());
                created.max(updated)
            }
        }
    }
}

/// True when both lists hold the same keys (order aside).
fn same_keys(a: &[String], sorted: &[String]) -> bool {
    let mut a: Vec<&str> = a.iter().map(String::as_str).collect();
    a.sort_unstable();
    a.dedup();
    a.len() == sorted.len() && a.iter().zip(sorted).all(|(x, y)| *x == y)
}

/// How completion tells this link's record from older ones.
#[derive(Debug, Clone, Copy)]
enum Since {
    /// Newer than the newest record in scope when the link was issued (ms on Novu's clock;
    /// 0 when there was none).
    Watermark(i64),
    /// A state issued before watermarks: created (or updated) at or after this instant.
    Legacy(DateTime<Utc>),
}

/// Links Novu subscribers' chat identities (Slack, MS Teams) and workspace installs through
/// Novu's hosted chat OAuth. See the crate docs for the flow and the params it reads.
#[derive(Debug)]
pub struct NovuProvider {
    config: NovuConfig,
    client: NovuClient,
    ctx: LinkContext,
    /// App user ids whose Novu subscriber this adapter has ensured (id = subscriberId).
    subscribers: UserMap,
}

impl NovuProvider {
    /// Builds the provider and its one pooled HTTP client (or the context's transport).
    pub fn new(config: NovuConfig, ctx: LinkContext) -> Result<Self> {
        let transport = ctx.transport(&(&config.common.http).into())?;
        let client = NovuClient::new(&config, transport)?;
        Ok(Self { config, client, ctx, subscribers: UserMap::default() })
    }

    /// The configuration in use.
    pub fn config(&self) -> &NovuConfig {
        &self.config
    }

    /// The address requests go to (the region's, or `base_url`).
    pub fn base_url(&self) -> &Url {
        self.client.base_url()
    }

    /// The integration identifier a target names (`default` is the configured one).
    fn integration<'a>(&'a self, target: &'a str) -> Result<&'a str> {
        if target != DEFAULT_TARGET {
            return Ok(target);
        }
        self.config.integration_identifier.as_deref().ok_or_else(|| {
            Error::invalid_input(
                KIND,
                "target",
                "`default` stands for the `integration_identifier` setting, which is not set; pass a Novu integration identifier",
            )
        })
    }

    fn plan(request: &LinkRequest) -> Result<Plan> {
        let mut plan = Plan {
            kind: LinkKind::User,
            connection_identifier: None,
            context: BTreeMap::new(),
            connection_mode: None,
            auto_link_user: None,
        };
        let bad = |key: &str, reason: String| Error::invalid_input(KIND, format!("params.{key}"), reason);
        for (key, value) in &request.params {
            match key.as_str() {
                PARAM_LINK_KIND => {
                    plan.kind = match value.as_str() {
                        "user" => LinkKind::User,
                        "workspace" => LinkKind::Workspace,
                        _ => return Err(bad(key, "must be `user` (default) or `workspace`".into())),
                    }
                }
                PARAM_CONNECTION_IDENTIFIER => {
                    validate_id(KIND, "params.connectionIdentifier", value)?;
                    plan.connection_identifier = Some(value.clone());
                }
                PARAM_CONNECTION_MODE => {
                    plan.connection_mode = Some(match value.as_str() {
                        "subscriber" => ConnectionMode::Subscriber,
                        "shared" => ConnectionMode::Shared,
                        _ => return Err(bad(key, "must be `subscriber` or `shared`".into())),
                    })
                }
                PARAM_AUTO_LINK_USER => {
                    plan.auto_link_user = Some(match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad(key, "must be `true` or `false`".into())),
                    })
                }
                _ => match key.strip_prefix(PARAM_CONTEXT_PREFIX) {
                    Some(kind) if !kind.trim().is_empty() => {
                        validate_id(KIND, &format!("params.{key}"), value)?;
                        plan.context.insert(kind.to_owned(), ContextValue::Id(value.clone()));
                    }
                    _ => {
                        return Err(bad(key, format!("is not a Novu link parameter; accepted: {ACCEPTED_PARAMS}")));
                    }
                },
            }
        }
        if plan.kind == LinkKind::User {
            for key in [PARAM_CONNECTION_MODE, PARAM_AUTO_LINK_USER] {
                if request.params.contains_key(key) {
                    return Err(bad(key, "applies only to `link_kind=workspace`".into()));
                }
            }
        }
        if plan.context.len() > MAX_CONTEXTS {
            return Err(Error::invalid_input(
                KIND,
                "params.context",
                format!("at most {MAX_CONTEXTS} `context.<type>` params (Novu's limit), got {}", plan.context.len()),
            ));
        }
        if plan.shared() && plan.context.is_empty() {
            // Novu answers 400 "context is required when connectionMode is \"shared\"".
            return Err(bad(PARAM_CONNECTION_MODE, "`shared` needs a context: add a `context.<type>` param".into()));
        }
        Ok(plan)
    }

    /// Ensures the subscriber exists before its first link in this adapter's lifetime:
    /// `POST /v2/subscribers {subscriberId}` once per user (single flight, kept in a bounded,
    /// expiring [`UserMap`]).
    async fn ensure_subscriber(&self, user: &str) -> Result<()> {
        let client = &self.client;
        self.subscribers
            .resolve(user, || async move { client.upsert_subscriber(user).await.map(|()| Some(user.to_owned())) })
            .await
            .map(|_| ())
    }

    /// The `contextHash` of `context`: lower-case hex HMAC-SHA256 (key = the API key) of its
    /// OLPC canonical JSON.
    fn context_hash(&self, context: &BTreeMap<String, ContextValue>) -> Result<String> {
        let value = serde_json::to_value(context)
            .map_err(|e| Error::invalid_input(KIND, "params.context", format!("cannot be hashed: {e}")))?;
        crate::canonical::context_hash(self.config.api_key.expose(), &value)
            .map_err(|reason| Error::invalid_input(KIND, "params.context", reason))
    }

    /// Mints the OAuth URL (`POST .../oauth`, keyed) once the subscriber exists.
    async fn mint(&self, user: &str, key: &str, body: &LinkBody<'_>) -> Result<Url> {
        self.ensure_subscriber(user).await?;
        match body {
            LinkBody::User(body) => self.client.generate_user_link(body, key).await,
            LinkBody::Workspace(body) => self.client.generate_workspace_link(body, key).await,
        }
    }

    /// The newest stamp among the scope's records now (0 when there is none): what a record
    /// must be newer than to count as this link's.
    async fn watermark(&self, scope: &Scope<'_>) -> Result<i64> {
        let records = self.client.list(scope.kind.record_kind(), scope.filter()).await?;
        Ok(records.iter().filter(|r| scope.contains(r)).filter_map(|r| scope.stamp(r)).max().unwrap_or(0))
    }

    /// Normalises a listed record; its health is read at this adapter's clock.
    fn connection(&self, record: Record, user: &str) -> Connection {
        let status = health(&record.fields, self.ctx.codec().clock().now());
        let f = record.fields;
        let user = f.subscriber_id.unwrap_or_else(|| user.to_owned());
        let target = f.integration_identifier.or(f.provider_id).unwrap_or_default();
        Connection::new(f.identifier, KIND, user, target, status)
            .with_created_at(f.created_at.as_deref().and_then(parse_time))
            .with_updated_at(f.updated_at.as_deref().and_then(parse_time))
            .with_raw(record.raw)
    }

    async fn list_kind(&self, kind: RecordKind, user: &str, integration: Option<&str>) -> Result<Vec<Connection>> {
        let records = self.client.list(kind, ListFilter::subscriber(user, integration)).await?;
        Ok(records
            .into_iter()
            // Defensive: keep only what the filters asked for, whatever the platform sent.
            .filter(|r| r.fields.subscriber_id.as_deref().is_none_or(|s| s == user))
            .filter(|r| integration.is_none_or(|i| r.fields.integration_identifier.as_deref().is_none_or(|x| x == i)))
            .map(|r| self.connection(r, user))
            .collect())
    }

    /// The request a reconnect of `connection_id` makes. A channel endpoint (the
    /// subscriber's own identity) is linked again on its integration, attached to its channel
    /// connection (`connectionIdentifier`) as before; completion then deletes the old
    /// endpoint, as Novu makes a new one per link. A channel connection cannot be
    /// re-authorised in place: Novu's OAuth callback refuses a second connection for the same
    /// integration, owner and context (409), so that is [`Error::Unsupported`].
    async fn reconnect_request(&self, request: &LinkRequest, connection_id: &str) -> Result<LinkRequest> {
        if let Some(record) = self.client.get(RecordKind::Endpoint, connection_id).await? {
            let f = &record.fields;
            if f.subscriber_id.as_deref() != Some(request.user.as_str()) {
                return Err(Error::NotFound {
                    provider: KIND,
                    message: format!(
                        "channel endpoint `{connection_id}` does not belong to subscriber `{}`",
                        request.user
                    ),
                });
            }
            let integration = f.integration_identifier.clone().ok_or_else(|| {
                Error::decode(KIND, "the channel endpoint to reconnect names no integrationIdentifier", b"(record)")
            })?;
            if !request.target.is_empty() && self.integration(&request.target)? != integration {
                return Err(Error::invalid_input(
                    KIND,
                    "target",
                    format!(
                        "channel endpoint `{connection_id}` is on integration `{integration}`, not `{}`",
                        request.target
                    ),
                ));
            }
            if request.params.get(PARAM_LINK_KIND).is_some_and(|k| k != "user") {
                return Err(Error::invalid_input(
                    KIND,
                    format!("params.{PARAM_LINK_KIND}"),
                    "a reconnect of a channel endpoint is a `user` link",
                ));
            }
            let mut reconnect = request.clone();
            reconnect.target = integration;
            if let Some(workspace) = &f.connection_identifier {
                reconnect.params.entry(PARAM_CONNECTION_IDENTIFIER.to_owned()).or_insert_with(|| workspace.clone());
            }
            return Ok(reconnect);
        }
        if self.client.get(RecordKind::Connection, connection_id).await?.is_some() {
            return Err(Error::Unsupported {
                provider: KIND,
                operation: "reconnecting a channel connection in place (Novu refuses a second install for the same \
                            integration, owner and context): disconnect it, then link again with the param \
                            connectionIdentifier=<its identifier> to keep the identifier",
            });
        }
        Err(Error::NotFound {
            provider: KIND,
            message: format!("no channel endpoint or channel connection `{connection_id}` to reconnect"),
        })
    }
}

/// A record's health (see `docs/connection-health.md`). Novu's records carry no status: an
/// endpoint is connected while listed. A channel connection's `auth` tells when its tokens
/// stop working: a rotating token whose refresh token expired (`refreshTokenExpiresAt`
/// passed) or an access token past `expiresAt` with no refresh token can no longer be used,
/// and needs a re-authorisation. A revoked token is not shown (Novu finds out when it sends).
fn health(fields: &crate::wire::ChannelEndpoint, now: DateTime<Utc>) -> ConnectionStatus {
    let Some(auth) = &fields.auth else { return ConnectionStatus::Connected };
    let passed = |at: &Option<String>| at.as_deref().and_then(parse_time).filter(|t| *t <= now);
    let at = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match (auth.refreshable, passed(&auth.refresh_token_expires_at), passed(&auth.expires_at)) {
        (true, Some(expired), _) => ConnectionStatus::needs_reauthorization(format!(
            "refresh_token_expired: the refresh token expired at {}; Novu can no longer renew the access token",
            at(expired)
        )),
        (false, _, Some(expired)) => ConnectionStatus::needs_reauthorization(format!(
            "access_token_expired: the access token expired at {} and the connection has no refresh token",
            at(expired)
        )),
        _ => ConnectionStatus::Connected,
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// The connection identifier of a workspace link: `olk-` and 32 hex digits, random, or, when
/// the caller gives an idempotency key, derived from it (with the user and integration), so
/// a retried request sends the same body: Novu answers 422 to a key reused with another body.
fn connection_identifier_for(user: &str, integration: &str, idempotency_key: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    let Some(key) = idempotency_key else { return format!("{CONNECTION_ID_PREFIX}{}", new_idempotency_key()) };
    let mut digest = Sha256::new();
    for part in [user, integration, key] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    let digest = digest.finalize();
    let mut id = String::with_capacity(CONNECTION_ID_PREFIX.len() + 32);
    id.push_str(CONNECTION_ID_PREFIX);
    for byte in &digest[..16] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// True for Novu's 404 "Subscriber not found: <id>" (and not its "Integration not found").
fn is_missing_subscriber(err: &Error) -> bool {
    matches!(err, Error::NotFound { message, .. } if message.trim_start().starts_with("Subscriber not found"))
}

/// What completion looked for and did not find.
fn pending_message(scope: &Scope<'_>, since: Since) -> String {
    let (shared, owner) = if scope.shared {
        ("shared ", format!("for context `{}`", scope.context_keys.join(", ")))
    } else {
        ("", format!("for subscriber `{}`", scope.user))
    };
    let when = match since {
        Since::Watermark(_) => "since the link was issued".to_owned(),
        Since::Legacy(at) => format!("since {}", at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
    };
    format!("no new {shared}{} {owner} on integration `{}` {when}", scope.kind.record_kind().noun(), scope.integration)
}

/// The record this link made: the one carrying the link's own connection identifier, else the
/// newest in scope that is newer than `since`.
fn pick(records: Vec<Record>, scope: &Scope<'_>, connection_id: Option<&str>, since: Since) -> Option<Record> {
    if let Some(id) = connection_id {
        if let Some(found) = records.iter().find(|r| r.fields.identifier == id) {
            return Some(found.clone());
        }
    }
    match since {
        Since::Watermark(mark) => records
            .into_iter()
            .filter_map(|r| scope.stamp(&r).filter(|t| *t > mark).map(|t| (t, r)))
            .max_by_key(|(t, _)| *t)
            .map(|(_, r)| r),
        Since::Legacy(at) => newest_since(records, at),
    }
}

/// The newest record created at or after `since`; failing that, the newest updated at or
/// after `since` (states issued before watermarks only).
fn newest_since(records: Vec<Record>, since: DateTime<Utc>) -> Option<Record> {
    let at = |r: &Record, updated: bool| {
        let t = if updated { &r.fields.updated_at } else { &r.fields.created_at };
        t.as_deref().and_then(parse_time).filter(|t| *t >= since)
    };
    let created = records.iter().filter_map(|r| at(r, false).map(|t| (t, r))).max_by_key(|(t, _)| *t);
    let pick = created.or_else(|| records.iter().filter_map(|r| at(r, true).map(|t| (t, r))).max_by_key(|(t, _)| *t));
    pick.map(|(_, r)| r.clone())
}

#[async_trait]
impl LinkProvider for NovuProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        crate::capabilities(self.ctx.codec().ttl())
    }

    async fn generate_link(&self, request: &LinkRequest) -> Result<Link> {
        let resolved = request.resolve_reconnect(KIND, |id| self.reconnect_request(request, id)).await?;
        let request = resolved.as_ref();
        if let Some(key) = &request.idempotency_key {
            if key.len() > MAX_IDEMPOTENCY_KEY_LEN {
                return Err(Error::invalid_input(
                    KIND,
                    "idempotency_key",
                    format!("must be at most {MAX_IDEMPOTENCY_KEY_LEN} characters for Novu (got {})", key.len()),
                ));
            }
        }
        let plan = Self::plan(request)?;
        let integration = self.integration(&request.target)?;
        if request.redirect_uri.is_some() {
            tracing::debug!(
                provider = KIND,
                "redirect_uri ignored: Novu sends the browser to the integration's configured redirectUrl"
            );
        }
        let context = (!plan.context.is_empty()).then_some(&plan.context);
        // Sent with every context: Novu checks it only for protected integrations and ignores
        // it elsewhere, so the caller never has to know which integrations are protected.
        let context_hash = context.map(|c| self.context_hash(c)).transpose()?;
        let scopes = (!request.scopes.is_empty()).then_some(request.scopes.as_slice());
        // A workspace link names the connection it creates: the caller's identifier, or one of
        // the adapter's, so completion finds exactly this link's record.
        let fresh_id = (plan.kind == LinkKind::Workspace && plan.connection_identifier.is_none())
            .then(|| connection_identifier_for(&request.user, integration, request.idempotency_key.as_deref()));
        let connection_identifier = plan.connection_identifier.as_deref().or(fresh_id.as_deref());
        let body = match plan.kind {
            LinkKind::User => LinkBody::User(GenerateUserLinkRequest {
                subscriber_id: &request.user,
                integration_identifier: integration,
                connection_identifier,
                context,
                context_hash: context_hash.as_deref(),
                user_scope: scopes,
            }),
            LinkKind::Workspace => LinkBody::Workspace(GenerateWorkspaceLinkRequest {
                integration_identifier: integration,
                subscriber_id: Some(&request.user),
                connection_identifier,
                context,
                context_hash: context_hash.as_deref(),
                scope: scopes,
                connection_mode: plan.connection_mode,
                auto_link_user: plan.auto_link_user,
            }),
        };
        let scope = Scope {
            kind: plan.kind,
            user: &request.user,
            integration,
            context_keys: if plan.kind == LinkKind::Workspace { plan.context_keys() } else { Vec::new() },
            shared: plan.shared(),
        };
        // One key per logical request: the caller's, or a fresh one reused by every retry.
        let key = request.idempotency_key.clone().unwrap_or_else(new_idempotency_key);
        // The watermark is read while the link is minted: no added latency.
        let minted = async {
            match self.mint(&request.user, &key, &body).await {
                // The subscriber was known to this adapter but is gone from Novu (deleted since):
                // forget it, and when the key is the adapter's own, create it and mint once more
                // under a new key (Novu keeps an answer, errors too, under its key).
                Err(err) if is_missing_subscriber(&err) => {
                    self.subscribers.forget(&request.user);
                    if request.idempotency_key.is_some() {
                        return Err(err);
                    }
                    let key = new_idempotency_key();
                    self.mint(&request.user, &key, &body).await
                }
                other => other,
            }
        };
        let (url, watermark) = futures_util::future::try_join(minted, self.watermark(&scope)).await?;

        let watermark = watermark.to_string();
        let context_keys = scope.context_keys.join("\n");
        // Extra claims in ascending key order, so they are signed as given.
        let mut extra: Vec<(&str, &str)> = Vec::with_capacity(6);
        extra.extend(fresh_id.as_deref().map(|id| (EXTRA_CONNECTION_ID, id)));
        if !context_keys.is_empty() {
            extra.push((EXTRA_CONTEXT, &context_keys));
        }
        extra.push((EXTRA_INTEGRATION, integration));
        extra.push((EXTRA_KIND, plan.kind.as_str()));
        if scope.shared {
            extra.push((EXTRA_MODE, "shared"));
        }
        extra.push((EXTRA_WATERMARK, &watermark));
        let issued = self.ctx.issue_link(KIND, request, &extra);
        // Novu's URL works for 5 minutes; the state keeps its own (longer) lifetime, so a user
        // who consents at 4:59 can still complete. `Link::expires_at` is when the URL stops working.
        let platform_expiry = issued.issued_at + chrono::Duration::from_std(NOVU_LINK_LIFETIME).expect("5 minutes");
        let expires_at = issued.expires_at.min(platform_expiry);
        Ok(Link::new(KIND, url, issued.token, expires_at))
    }

    async fn complete_callback(&self, callback: &Callback) -> Result<Connection> {
        self.ctx
            .complete_connection(KIND, callback, |claims| async move {
                if let Some(code) = callback.param("error") {
                    let reason = callback
                        .param("error_description")
                        .map(|d| excerpt(d.as_bytes()))
                        .unwrap_or_else(|| "the chat provider reported an error during consent".into());
                    return Err(Error::Denied { provider: KIND, code: excerpt(code.as_bytes()), reason });
                }
                let kind = match claims.extra.get(EXTRA_KIND).map(String::as_str) {
                    None | Some("user") => LinkKind::User,
                    Some("workspace") => LinkKind::Workspace,
                    Some(other) => {
                        return Err(Error::state_invalid(KIND, format!("unknown link kind `{other}` in the state")))
                    }
                };
                let integration = claims.extra.get(EXTRA_INTEGRATION).cloned().unwrap_or_else(|| claims.target.clone());
                let since = match claims.extra.get(EXTRA_WATERMARK) {
                    Some(mark) => Since::Watermark(
                        mark.parse()
                            .map_err(|_| Error::state_invalid(KIND, "the state's watermark is not a number"))?,
                    ),
                    None => {
                        let skew =
                            chrono::Duration::from_std(self.config.clock_skew).unwrap_or(chrono::Duration::zero());
                        Since::Legacy(claims.issued_at - skew)
                    }
                };
                let scope = Scope {
                    kind,
                    user: &claims.user,
                    integration: &integration,
                    context_keys: claims
                        .extra
                        .get(EXTRA_CONTEXT)
                        .map(|keys| keys.split('\n').map(str::to_owned).collect())
                        .unwrap_or_default(),
                    shared: claims.extra.get(EXTRA_MODE).is_some_and(|m| m == "shared"),
                };
                let connection_id = claims.extra.get(EXTRA_CONNECTION_ID).map(String::as_str);
                let client = &self.client;
                let scope = &scope;
                let found = self
                    .config
                    .common
                    .poll
                    .poll(move || async move {
                        let mut records = client.list(scope.kind.record_kind(), scope.filter()).await?;
                        records.retain(|r| scope.contains(r));
                        Ok(pick(records, scope, connection_id, since))
                    })
                    .await?;
                match found {
                    Some(record) => {
                        // A reconnect's new endpoint replaces the old one (Novu keeps both).
                        let old = claims.reconnect.as_deref().filter(|old| *old != record.fields.identifier);
                        if let (LinkKind::User, Some(old)) = (scope.kind, old) {
                            self.client.delete(RecordKind::Endpoint, old).await?;
                        }
                        Ok(self.connection(record, &claims.user))
                    }
                    None => Err(Error::Pending { provider: KIND, message: pending_message(scope, since) }),
                }
            })
            .await
    }

    async fn list_targets(&self) -> Result<Vec<Target>> {
        let integrations = self.client.list_integrations().await?;
        Ok(integrations
            .into_iter()
            .filter(|i| i.deleted != Some(true))
            .filter(|i| i.channel.as_deref().is_none_or(|c| c == "chat"))
            .filter(|i| i.provider_id.as_deref().is_some_and(|p| OAUTH_PROVIDERS.contains(&p)))
            .filter_map(|i| {
                let id = i.identifier.filter(|id| validate_id(KIND, "target", id).is_ok())?;
                let name = i.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| id.clone());
                let link_kind = TargetParam::new(PARAM_LINK_KIND, false).with_display_name(
                    "user (the subscriber's own identity, the default) or workspace (an app install)",
                );
                Some(Target::new(id, name, TargetAuth::OAuth).with_param(link_kind))
            })
            .collect())
    }

    async fn list_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>> {
        query.validate(KIND)?;
        let integration = query.target.as_deref().map(|t| self.integration(t)).transpose()?;
        let mut out = self.list_kind(RecordKind::Endpoint, &query.user, integration).await?;
        if self.config.include_channel_connections {
            out.extend(self.list_kind(RecordKind::Connection, &query.user, integration).await?);
        }
        Ok(out)
    }

    async fn disconnect(&self, user: &str, connection_id: &str) -> Result<()> {
        validate_id(KIND, "user", user)?;
        validate_id(KIND, "connection", connection_id)?;
        // The id alone does not say which collection it is in: look it up as an endpoint,
        // then as a connection, check it belongs to `user`, and delete it where it was found.
        for kind in [RecordKind::Endpoint, RecordKind::Connection] {
            let Some(record) = self.client.get(kind, connection_id).await? else { continue };
            // A shared connection belongs to a context, not to a subscriber: its identifier
            // (which completion returned to the app) is what names it.
            let shared = kind == RecordKind::Connection && record.fields.subscriber_id.is_none();
            if !shared && record.fields.subscriber_id.as_deref() != Some(user) {
                return Err(Error::NotFound {
                    provider: KIND,
                    message: format!("{} `{connection_id}` does not belong to subscriber `{user}`", kind.noun()),
                });
            }
            return self.client.delete(kind, connection_id).await;
        }
        Err(Error::NotFound {
            provider: KIND,
            message: format!("no channel endpoint or channel connection `{connection_id}`"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(params: &[(&str, &str)]) -> Result<Plan> {
        let mut r = LinkRequest::new("u", "slack");
        for (k, v) in params {
            r = r.with_param(*k, *v);
        }
        NovuProvider::plan(&r)
    }

    #[test]
    fn params_map_to_the_wire_fields() {
        let p = plan(&[
            ("link_kind", "workspace"),
            ("connectionIdentifier", "conn-1"),
            ("context.tenant", "acme"),
            ("connectionMode", "shared"),
            ("autoLinkUser", "false"),
        ])
        .unwrap();
        assert_eq!(p.kind, LinkKind::Workspace);
        assert_eq!(p.connection_identifier.as_deref(), Some("conn-1"));
        assert_eq!(p.context["tenant"], ContextValue::Id("acme".into()));
        assert_eq!(p.connection_mode, Some(ConnectionMode::Shared));
        assert_eq!(p.auto_link_user, Some(false));
        assert_eq!(plan(&[]).unwrap().kind, LinkKind::User);
    }

    #[test]
    fn bad_params_name_the_key() {
        for (params, field) in [
            (vec![("link_kind", "team")], "params.link_kind"),
            (vec![("shopSubdomain", "x")], "params.shopSubdomain"),
            (vec![("context.", "x")], "params.context."),
            (vec![("connectionMode", "subscriber")], "params.connectionMode"),
            (vec![("link_kind", "workspace"), ("connectionMode", "everyone")], "params.connectionMode"),
            (vec![("link_kind", "workspace"), ("autoLinkUser", "yes")], "params.autoLinkUser"),
            (vec![("autoLinkUser", "true")], "params.autoLinkUser"),
        ] {
            match plan(&params) {
                Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field, "{params:?}"),
                other => panic!("{params:?}: expected InvalidInput, got {other:?}"),
            }
        }
    }

    fn rec(id: &str, subscriber: Option<&str>, keys: &[&str], created: &str, updated: &str) -> Record {
        Record {
            fields: serde_json::from_value(serde_json::json!({
                "identifier": id, "subscriberId": subscriber, "integrationIdentifier": "slack",
                "contextKeys": keys, "createdAt": created, "updatedAt": updated
            }))
            .unwrap(),
            raw: oauth_link_core::adapter::RawRecord::none(),
        }
    }

    fn scope(kind: LinkKind, shared: bool, keys: &[&str]) -> Scope<'static> {
        Scope {
            kind,
            user: "u",
            integration: "slack",
            context_keys: keys.iter().map(|k| k.to_string()).collect(),
            shared,
        }
    }

    #[test]
    fn legacy_states_keep_the_skew_rule() {
        let since = parse_time("2026-01-01T00:00:00Z").unwrap();
        let old = rec("old", Some("u"), &[], "2025-12-31T00:00:00Z", "2025-12-31T00:00:00Z");
        let a = rec("a", Some("u"), &[], "2026-01-01T00:00:01Z", "2026-01-01T00:00:01Z");
        let b = rec("b", Some("u"), &[], "2026-01-01T00:00:05.123Z", "2026-01-01T00:00:05.123Z");
        let picked = newest_since(vec![old.clone(), b, a], since).unwrap();
        assert_eq!(picked.fields.identifier, "b");
        assert!(newest_since(vec![old.clone()], since).is_none());
        let relinked = rec("re", Some("u"), &[], "2025-06-01T00:00:00Z", "2026-01-01T00:01:00Z");
        assert_eq!(newest_since(vec![old, relinked], since).unwrap().fields.identifier, "re");
    }

    #[test]
    fn only_records_newer_than_the_watermark_count() {
        let user = scope(LinkKind::User, false, &[]);
        let mark = parse_time("2026-01-01T00:00:00.500Z").unwrap().timestamp_millis();
        let at_mark = rec("at", Some("u"), &[], "2026-01-01T00:00:00.500Z", "2026-01-01T00:00:00.500Z");
        let touched = rec("touched", Some("u"), &[], "2025-01-01T00:00:00Z", "2026-06-01T00:00:00Z");
        let newer = rec("newer", Some("u"), &[], "2026-01-01T00:00:00.501Z", "2026-01-01T00:00:00.501Z");
        let since = Since::Watermark(mark);
        assert!(pick(vec![at_mark.clone(), touched.clone()], &user, None, since).is_none(), "endpoints: created only");
        let got = pick(vec![at_mark.clone(), newer.clone(), touched.clone()], &user, None, since).unwrap();
        assert_eq!(got.fields.identifier, "newer");
        // A workspace connection updated in place by a re-install counts.
        let ws = scope(LinkKind::Workspace, false, &[]);
        assert_eq!(pick(vec![at_mark.clone(), touched], &ws, None, since).unwrap().fields.identifier, "touched");
        // The link's own connection identifier wins, whatever its times say.
        let own = rec("olk-1", Some("u"), &[], "2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z");
        assert_eq!(pick(vec![newer, own], &ws, Some("olk-1"), since).unwrap().fields.identifier, "olk-1");
        assert!(pick(vec![at_mark], &ws, Some("olk-2"), since).is_none());
    }

    #[test]
    fn scopes_match_owner_integration_and_exact_context() {
        let t = "2026-01-01T00:00:00Z";
        let shared = scope(LinkKind::Workspace, true, &["org:o1", "tenant:acme"]);
        assert!(shared.contains(&rec("c", None, &["tenant:acme", "org:o1"], t, t)));
        assert!(!shared.contains(&rec("c", Some("u"), &["tenant:acme", "org:o1"], t, t)), "not shared");
        assert!(!shared.contains(&rec("c", None, &["tenant:acme"], t, t)), "context differs");
        let filter = shared.filter();
        assert_eq!((filter.subscriber_id, filter.shared, filter.context_keys.len()), (None, true, 2));
        let mine = scope(LinkKind::Workspace, false, &[]);
        assert!(mine.contains(&rec("c", Some("u"), &[], t, t)));
        assert!(!mine.contains(&rec("c", Some("u"), &["tenant:acme"], t, t)));
        assert!(!mine.contains(&rec("c", Some("v"), &[], t, t)));
        let user = scope(LinkKind::User, false, &[]);
        assert!(user.contains(&rec("e", Some("u"), &["tenant:acme"], t, t)), "endpoints ignore context");
        let mut other = rec("e", Some("u"), &[], t, t);
        other.fields.integration_identifier = Some("teams".into());
        assert!(!user.contains(&other));
    }

    #[test]
    fn shared_needs_a_context_and_contexts_are_bounded() {
        match plan(&[("link_kind", "workspace"), ("connectionMode", "shared")]) {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "params.connectionMode"),
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        let many: Vec<(String, String)> = (0..6).map(|i| (format!("context.t{i}"), "x".to_owned())).collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert!(matches!(plan(&many), Err(Error::InvalidInput { .. })));
        let keys = plan(&[("context.tenant", "acme"), ("context.org", "o1")]).unwrap().context_keys();
        assert_eq!(keys, ["org:o1", "tenant:acme"]);
    }

    #[test]
    fn missing_subscriber_is_told_from_missing_integration() {
        let nf = |m: &str| Error::NotFound { provider: KIND, message: m.into() };
        assert!(is_missing_subscriber(&nf("Subscriber not found: user-1")));
        assert!(!is_missing_subscriber(&nf("Integration not found: slack in environment e1")));
        assert!(!is_missing_subscriber(&nf("Integration not found: Subscriber not found")));
    }
}
