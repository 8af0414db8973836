//! The `LinkProvider` implementation for Novu.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oauth_link_core::http::new_idempotency_key;
use oauth_link_core::{
    excerpt, validate_id, Callback, CallbackModel, Capabilities, Connection, ConnectionQuery, ConnectionStatus, Error,
    Link, LinkContext, LinkProvider, LinkRequest, Result, Url,
};

use crate::client::{ListFilter, NovuClient, Record, RecordKind};
use crate::config::NovuConfig;
use crate::wire::{ConnectionMode, ContextValue, GenerateUserLinkRequest, GenerateWorkspaceLinkRequest};
use crate::KIND;

/// How long a Novu chat OAuth URL works (documented: 5 minutes).
pub(crate) const NOVU_LINK_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// The target that stands for the configured `integration_identifier`.
pub(crate) const DEFAULT_TARGET: &str = "default";

/// `LinkRequest::params` keys understood by the adapter.
const PARAM_LINK_KIND: &str = "link_kind";
const PARAM_CONNECTION_IDENTIFIER: &str = "connectionIdentifier";
const PARAM_CONNECTION_MODE: &str = "connectionMode";
const PARAM_AUTO_LINK_USER: &str = "autoLinkUser";
const PARAM_CONTEXT_PREFIX: &str = "context.";
const ACCEPTED_PARAMS: &str = "link_kind, connectionIdentifier, context.<type>, connectionMode, autoLinkUser";

/// `LinkState::extra` keys.
const EXTRA_KIND: &str = "kind";
const EXTRA_INTEGRATION: &str = "integration";

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

/// Links Novu subscribers' chat identities (Slack, MS Teams) and workspace installs through
/// Novu's hosted chat OAuth. See the crate docs for the flow and the params it reads.
#[derive(Debug)]
pub struct NovuProvider {
    config: NovuConfig,
    client: NovuClient,
    ctx: LinkContext,
}

impl NovuProvider {
    /// Builds the provider and its one pooled HTTP client (or the context's transport).
    pub fn new(config: NovuConfig, ctx: LinkContext) -> Result<Self> {
        let transport = ctx.transport(&(&config.common.http).into())?;
        let client = NovuClient::new(&config, transport)?;
        Ok(Self { config, client, ctx })
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
        Ok(plan)
    }

    /// Normalises a listed record.
    fn connection(record: Record, user: &str) -> Connection {
        let f = record.fields;
        Connection {
            id: f.identifier,
            provider: KIND.into(),
            user: f.subscriber_id.unwrap_or_else(|| user.to_owned()),
            target: f.integration_identifier.or(f.provider_id).unwrap_or_default(),
            status: ConnectionStatus::Connected,
            created_at: f.created_at.as_deref().and_then(parse_time),
            updated_at: f.updated_at.as_deref().and_then(parse_time),
            raw: record.raw,
        }
    }

    async fn list_kind(&self, kind: RecordKind, user: &str, integration: Option<&str>) -> Result<Vec<Connection>> {
        let filter = ListFilter { subscriber_id: user, integration_identifier: integration };
        let records = self.client.list(kind, filter).await?;
        Ok(records
            .into_iter()
            // Defensive: keep only what the filters asked for, whatever the platform sent.
            .filter(|r| r.fields.subscriber_id.as_deref().is_none_or(|s| s == user))
            .filter(|r| integration.is_none_or(|i| r.fields.integration_identifier.as_deref().is_none_or(|x| x == i)))
            .map(|r| Self::connection(r, user))
            .collect())
    }
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}

/// The newest record created at or after `since`; failing that, the newest updated at or
/// after `since` (an identity linked again may be updated in place rather than created).
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
        Capabilities {
            callback: CallbackModel::Hosted,
            state_in_redirect: false,
            requires_redirect_uri: false,
            disconnect: true,
            link_lifetime: Some(NOVU_LINK_LIFETIME.min(self.ctx.codec().ttl())),
            idempotency: true,
            regions: vec!["us".into(), "eu".into()],
            target_params: BTreeMap::new(),
        }
    }

    async fn generate_link(&self, request: &LinkRequest) -> Result<Link> {
        request.validate(KIND)?;
        let plan = Self::plan(request)?;
        let integration = self.integration(&request.target)?;
        if request.redirect_uri.is_some() {
            tracing::debug!(
                provider = KIND,
                "redirect_uri ignored: Novu sends the browser to the integration's configured redirectUrl"
            );
        }
        // One key per logical request: the caller's, or a fresh one reused by every retry.
        let idempotency_key = request.idempotency_key.clone().unwrap_or_else(new_idempotency_key);
        let context = (!plan.context.is_empty()).then_some(plan.context);
        let scopes = (!request.scopes.is_empty()).then_some(request.scopes.as_slice());
        let url = match plan.kind {
            LinkKind::User => {
                let body = GenerateUserLinkRequest {
                    subscriber_id: &request.user,
                    integration_identifier: integration,
                    connection_identifier: plan.connection_identifier,
                    context,
                    user_scope: scopes,
                };
                self.client.generate_user_link(&body, idempotency_key).await?
            }
            LinkKind::Workspace => {
                let body = GenerateWorkspaceLinkRequest {
                    integration_identifier: integration,
                    subscriber_id: Some(&request.user),
                    connection_identifier: plan.connection_identifier,
                    context,
                    scope: scopes,
                    connection_mode: plan.connection_mode,
                    auto_link_user: plan.auto_link_user,
                };
                self.client.generate_workspace_link(&body, idempotency_key).await?
            }
        };
        // Extra claims in key order (`integration` < `kind`), so they are signed as given.
        let extra = [(EXTRA_INTEGRATION, integration), (EXTRA_KIND, plan.kind.as_str())];
        let issued = self.ctx.issue(KIND, &request.user, &request.target, &extra);
        // Novu's URL works for 5 minutes; the state keeps its own (longer) lifetime, so a user
        // who consents at 4:59 can still complete. `Link::expires_at` is when the URL stops working.
        let platform_expiry = issued.issued_at + chrono::Duration::from_std(NOVU_LINK_LIFETIME).expect("5 minutes");
        let expires_at = issued.expires_at.min(platform_expiry);
        Ok(Link { provider: KIND.into(), url, state: issued.token, expires_at })
    }

    async fn complete_callback(&self, callback: &Callback) -> Result<Connection> {
        self.ctx
            .complete(KIND, callback, |claims| async move {
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
                let skew = chrono::Duration::from_std(self.config.clock_skew).unwrap_or(chrono::Duration::zero());
                let since = claims.issued_at - skew;
                let record_kind = kind.record_kind();
                let client = &self.client;
                let filter = ListFilter { subscriber_id: &claims.user, integration_identifier: Some(&integration) };
                let found = self
                    .config
                    .common
                    .poll
                    .poll(move || async move {
                        let mut records = client.list(record_kind, filter).await?;
                        // Defensive: only the subscriber's records on this integration count.
                        records.retain(|r| {
                            r.fields.subscriber_id.as_deref() == Some(filter.subscriber_id)
                                && r.fields.integration_identifier.as_deref() == filter.integration_identifier
                        });
                        Ok(newest_since(records, since))
                    })
                    .await?;
                match found {
                    Some(record) => Ok(Self::connection(record, &claims.user)),
                    None => Err(Error::Pending {
                        provider: KIND,
                        message: format!(
                            "no {} for subscriber `{}` on integration `{}` created since {}",
                            record_kind.noun(),
                            claims.user,
                            integration,
                            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        ),
                    }),
                }
            })
            .await
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
            if record.fields.subscriber_id.as_deref() != Some(user) {
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

    #[test]
    fn newest_record_since_the_link_wins() {
        let rec = |id: &str, created: &str, updated: &str| Record {
            fields: serde_json::from_value(serde_json::json!({
                "identifier": id, "createdAt": created, "updatedAt": updated
            }))
            .unwrap(),
            raw: oauth_link_core::RawRecord::none(),
        };
        let since = parse_time("2026-01-01T00:00:00Z").unwrap();
        let old = rec("old", "2025-12-31T00:00:00Z", "2025-12-31T00:00:00Z");
        let a = rec("a", "2026-01-01T00:00:01Z", "2026-01-01T00:00:01Z");
        let b = rec("b", "2026-01-01T00:00:05.123Z", "2026-01-01T00:00:05.123Z");
        let picked = newest_since(vec![old.clone(), b, a], since).unwrap();
        assert_eq!(picked.fields.identifier, "b");
        assert!(newest_since(vec![old.clone()], since).is_none());
        let relinked = rec("re", "2025-06-01T00:00:00Z", "2026-01-01T00:01:00Z");
        assert_eq!(newest_since(vec![old, relinked], since).unwrap().fields.identifier, "re");
    }
}
