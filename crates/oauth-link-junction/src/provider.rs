//! The [`LinkProvider`] implementation.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oauth_link_core::{
    redirect_with_state, validate_id, validate_redirect_uri, Callback, CallbackModel, Capabilities, Connection,
    ConnectionQuery, ConnectionStatus, Error, Link, LinkContext, LinkProvider, LinkRequest, Result, Url, STATE_PARAM,
};
use serde_json::value::RawValue;

use crate::client::JunctionClient;
use crate::config::{JunctionConfig, UserMapping};
use crate::redirect::Outcome;
use crate::slug::ProviderSlug;
use crate::users::UserDirectory;
use crate::webhook::WebhookVerifier;
use crate::wire::ProviderWithStatus;
use crate::KIND;

/// The shorter of the two documented link-token lifetimes (API description: 10 minutes;
/// Launching Link guide: 60 minutes).
pub const LINK_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// `LinkRequest::target` that lets the user pick a provider in the Junction Link widget
/// (no `provider` in the link token; the link is `link_web_url`).
pub const ANY_PROVIDER: &str = "*";

/// `LinkState::extra` key holding the Junction `user_id`.
pub const CLAIM_USER_ID: &str = "jid";

/// Query parameters Junction appends to `redirect_url`; a configured redirect must not
/// carry them already.
const RESERVED_PARAMS: [&str; 4] = ["state", "error_type", "error", STATE_PARAM];

/// How far before the link's issue time a provider's `created_on` may lie and still count
/// as the connection made through an [`ANY_PROVIDER`] link (clock skew).
const WIDGET_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(120);

/// Junction (formerly Vital) Link behind [`LinkProvider`].
///
/// See the crate docs for the flow; [`JunctionProvider::new`] builds one pooled HTTP client.
#[derive(Debug)]
pub struct JunctionProvider {
    config: JunctionConfig,
    ctx: LinkContext,
    client: JunctionClient,
    users: UserDirectory,
}

impl JunctionProvider {
    /// Builds the provider: one pooled transport from `ctx` (or the injected one).
    pub fn new(config: JunctionConfig, ctx: LinkContext) -> Result<Self> {
        let transport = ctx.transport(&(&config.common.http).into())?;
        let client = JunctionClient::new(&config, transport)?;
        let users = UserDirectory::new(config.user_mapping, config.user_cache_capacity);
        Ok(Self { config, ctx, client, users })
    }

    /// The settings.
    pub fn config(&self) -> &JunctionConfig {
        &self.config
    }

    /// The API address in use.
    pub fn base_url(&self) -> &Url {
        self.client.base_url()
    }

    /// The Junction `user_id` of the app's `user`, registering the user at Junction when
    /// needed (`client_user_id` mapping; with `junction_user_id` it is `user` itself).
    pub async fn junction_user_id(&self, user: &str) -> Result<String> {
        validate_id(KIND, "user", user)?;
        self.users.validate(user)?;
        self.users.resolve(&self.client, user, true).await?.ok_or_else(|| no_user(user))
    }

    /// The Junction `user_id` of the app's `user` if Junction knows the user; never
    /// registers one.
    pub async fn find_junction_user_id(&self, user: &str) -> Result<Option<String>> {
        validate_id(KIND, "user", user)?;
        self.users.validate(user)?;
        self.users.resolve(&self.client, user, false).await
    }

    /// How many user mappings are cached.
    pub fn cached_user_mappings(&self) -> usize {
        self.users.cached()
    }

    /// A webhook verifier for the configured `webhook_secrets`.
    pub fn webhook_verifier(&self) -> Result<WebhookVerifier> {
        self.config.webhook_verifier()
    }

    fn redirect_for<'a>(&'a self, request: &'a LinkRequest) -> Result<&'a Url> {
        let url = request.redirect_uri.as_ref().or(self.config.redirect_url.as_ref()).ok_or_else(|| {
            Error::invalid_input(
                KIND,
                "redirect_uri",
                "Junction needs a redirect URL: pass LinkRequest::redirect_uri or set `redirect_url`",
            )
        })?;
        validate_redirect_uri(KIND, url)?;
        if let Some((name, _)) = url.query_pairs().find(|(k, _)| RESERVED_PARAMS.contains(&k.as_ref())) {
            return Err(Error::invalid_input(
                KIND,
                "redirect_uri",
                format!("must not carry the query parameter `{name}`: Junction or oauth-link adds it"),
            ));
        }
        Ok(url)
    }

    fn forget_on_not_found<T>(&self, user: &str, result: Result<T>) -> Result<T> {
        if matches!(result, Err(Error::NotFound { .. })) && self.config.user_mapping == UserMapping::ClientUserId {
            self.users.forget(user);
        }
        result
    }
}

fn no_user(user: &str) -> Error {
    Error::NotFound { provider: KIND, message: format!("Junction has no user with client_user_id `{user}`") }
}

/// Normalises one `ClientFacingProviderWithStatus`.
///
/// `id` = `<junction user_id>/<slug>` (Junction identifies a connection by that pair).
pub(crate) fn to_connection(user: &str, junction_user_id: &str, raw: Box<RawValue>) -> Result<Connection> {
    let record: ProviderWithStatus = serde_json::from_str(raw.get()).map_err(|e| {
        Error::decode(KIND, format!("expected a ClientFacingProviderWithStatus: {e}"), raw.get().as_bytes())
    })?;
    let details = record.error_details.as_ref();
    let status = match record.status.as_deref() {
        Some("connected") => ConnectionStatus::Connected,
        Some("error") => {
            let kind = details.and_then(|d| d.error_type.as_deref()).unwrap_or("unknown");
            let reason = match details.and_then(|d| d.error_message.as_deref()).filter(|m| !m.is_empty()) {
                Some(message) => format!("{kind}: {message}"),
                None => kind.to_owned(),
            };
            ConnectionStatus::Error { reason }
        }
        None => ConnectionStatus::Pending,
        Some(other) => ConnectionStatus::Error { reason: format!("unrecognised Junction status `{other}`") },
    };
    Ok(Connection {
        id: format!("{junction_user_id}/{}", record.slug),
        provider: KIND.into(),
        user: user.into(),
        target: record.slug,
        status,
        created_at: record.created_on,
        updated_at: details.and_then(|d| d.errored_at),
        raw: raw.into(),
    })
}

/// Picks the record the link created: the target's slug, or for [`ANY_PROVIDER`] the
/// newest provider created since the link was issued.
fn pick(records: Vec<Box<RawValue>>, target: &str, issued_at: DateTime<Utc>) -> Option<Box<RawValue>> {
    let field = |record: &RawValue, name: &str| {
        serde_json::from_str::<serde_json::Value>(record.get()).ok()?.get(name)?.as_str().map(str::to_owned)
    };
    if target != ANY_PROVIDER {
        return records.into_iter().find(|r| field(r, "slug").as_deref() == Some(target));
    }
    records
        .into_iter()
        .filter_map(|r| {
            let created = field(&r, "created_on").as_deref().and_then(crate::wire::parse_datetime)?;
            (created >= issued_at - WIDGET_SKEW).then_some((created, r))
        })
        .max_by_key(|(created, _)| *created)
        .map(|(_, r)| r)
}

#[async_trait]
impl LinkProvider for JunctionProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            callback: CallbackModel::AppRedirect,
            state_in_redirect: true,
            requires_redirect_uri: true,
            disconnect: true,
            link_lifetime: Some(LINK_TOKEN_LIFETIME.min(self.ctx.codec().ttl())),
            idempotency: false,
            regions: vec!["us".into(), "eu".into()],
            target_params: Default::default(),
        }
    }

    async fn generate_link(&self, request: &LinkRequest) -> Result<Link> {
        request.validate(KIND)?;
        self.users.validate(&request.user)?;
        if !request.scopes.is_empty() || !request.params.is_empty() {
            return Err(Error::invalid_input(
                KIND,
                if request.scopes.is_empty() { "params" } else { "scopes" },
                "Junction Link takes no scopes or extra parameters; the provider decides what is granted",
            ));
        }
        let redirect = self.redirect_for(request)?;
        let slug = (request.target != ANY_PROVIDER).then(|| ProviderSlug::from(request.target.as_str()));

        let user_id = self.junction_user_id(&request.user).await?;
        let state = self.ctx.issue(KIND, &request.user, &request.target, &[(CLAIM_USER_ID, &user_id)]);
        let redirect_url = redirect_with_state(redirect, state.token.expose());

        let issued = self.client.link_token(&user_id, slug.as_ref().map(ProviderSlug::as_str), &redirect_url).await;
        let issued = self.forget_on_not_found(&request.user, issued)?;
        let oauth_url = match &slug {
            Some(slug) if slug.is_oauth() => self.client.oauth_url(slug.as_str(), &issued.token).await?,
            _ => None,
        };
        let url = match oauth_url {
            Some(url) => url,
            None => issued.web_url()?,
        };
        let token_expiry = state.issued_at + LINK_TOKEN_LIFETIME;
        Ok(Link { provider: KIND.into(), url, state: state.token, expires_at: state.expires_at.min(token_expiry) })
    }

    async fn complete_callback(&self, callback: &Callback) -> Result<Connection> {
        // Read before the state is consumed: a callback without Junction's parameters is
        // the app's mistake, and the user may still complete with the full redirect URL.
        let outcome = Outcome::read(callback)?;
        self.ctx
            .complete(KIND, callback, |claims| async move {
                let (error_type, message) = match outcome {
                    Outcome::Success => (None, None),
                    Outcome::Failed { error_type, message } => (Some(error_type), message),
                };
                if let Some(error_type) = error_type {
                    return Err(Outcome::into_error(error_type, message));
                }
                let user_id = claims.extra.get(CLAIM_USER_ID).cloned().ok_or_else(|| {
                    Error::state_invalid(KIND, "the state carries no Junction user id; start a new link")
                })?;
                let target = claims.target.clone();
                let found = self
                    .config
                    .common
                    .poll
                    .poll(|| async {
                        let records = self.client.providers(&user_id).await?;
                        Ok(pick(records, &target, claims.issued_at))
                    })
                    .await?;
                match found {
                    Some(raw) => to_connection(&claims.user, &user_id, raw),
                    None => Err(Error::Pending {
                        provider: KIND,
                        message: if target == ANY_PROVIDER {
                            format!("no provider connected since the link was issued is listed for Junction user {user_id}")
                        } else {
                            format!("provider `{target}` is not listed yet for Junction user {user_id}")
                        },
                    }),
                }
            })
            .await
    }

    async fn list_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>> {
        query.validate(KIND)?;
        self.users.validate(&query.user)?;
        let Some(user_id) = self.users.resolve(&self.client, &query.user, false).await? else {
            return Ok(Vec::new());
        };
        let records = self.client.providers(&user_id).await;
        let records = self.forget_on_not_found(&query.user, records)?;
        let mut out = Vec::with_capacity(records.len());
        for raw in records {
            let connection = to_connection(&query.user, &user_id, raw)?;
            let wanted = match query.target.as_deref() {
                None | Some(ANY_PROVIDER) => true,
                Some(target) => connection.target == target,
            };
            if wanted {
                out.push(connection);
            }
        }
        Ok(out)
    }

    async fn disconnect(&self, user: &str, connection_id: &str) -> Result<()> {
        validate_id(KIND, "user", user)?;
        validate_id(KIND, "connection_id", connection_id)?;
        self.users.validate(user)?;
        let (owner, slug) = match connection_id.split_once('/') {
            Some((owner, slug)) => (Some(owner), slug),
            None => (None, connection_id),
        };
        // `.` / `..` as the slug would drop out of the DELETE path (`/v2/user/{user_id}`).
        if slug.is_empty() || slug.contains('/') || matches!(slug, "." | "..") || owner.is_some_and(str::is_empty) {
            return Err(Error::invalid_input(
                KIND,
                "connection_id",
                "must be `<junction user_id>/<provider slug>` (as listed) or a provider slug",
            ));
        }
        let user_id = self.users.resolve(&self.client, user, false).await?.ok_or_else(|| no_user(user))?;
        if owner.is_some_and(|o| o != user_id) {
            return Err(Error::invalid_input(
                KIND,
                "connection_id",
                format!("connection `{connection_id}` does not belong to user `{user}`"),
            ));
        }
        let result = self.client.deregister(&user_id, slug).await;
        self.forget_on_not_found(user, result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A record as the response carries it.
    fn rec(value: serde_json::Value) -> Box<RawValue> {
        serde_json::value::to_raw_value(&value).unwrap()
    }

    #[test]
    fn connections_from_records() {
        let c = to_connection(
            "app-1",
            "uid",
            rec(json!({"slug": "oura", "name": "Oura", "logo": "l", "created_on": "2026-01-01T00:00:00+00:00",
                   "status": "connected", "resource_availability": {}})),
        )
        .unwrap();
        assert_eq!((c.id.as_str(), c.target.as_str(), &c.status), ("uid/oura", "oura", &ConnectionStatus::Connected));
        let c = to_connection(
            "app-1",
            "uid",
            rec(json!({"slug": "fitbit", "status": "error", "created_on": "2026-01-01T00:00:00",
                   "error_details": {"error_type": "token_refresh_failed", "error_message": "revoked", "errored_at": "2026-01-02T00:00:00Z"}})),
        )
        .unwrap();
        assert_eq!(c.status, ConnectionStatus::Error { reason: "token_refresh_failed: revoked".into() });
        assert!(c.updated_at.is_some());
        let c = to_connection("a", "u", rec(json!({"slug": "x", "status": "paused"}))).unwrap();
        assert!(matches!(c.status, ConnectionStatus::Error { .. }));
        let c = to_connection("a", "u", rec(json!({"slug": "x"}))).unwrap();
        assert_eq!(c.status, ConnectionStatus::Pending);
        assert!(matches!(to_connection("a", "u", rec(json!({"status": "connected"}))), Err(Error::Decode { .. })));
    }

    #[test]
    fn picking_the_widget_connection() {
        let issued = "2026-01-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let records = vec![
            rec(json!({"slug": "old", "created_on": "2025-12-01T00:00:00Z"})),
            rec(json!({"slug": "new", "created_on": "2026-01-01T12:01:00Z"})),
            rec(json!({"slug": "newer", "created_on": "2026-01-01T12:02:00+00:00"})),
        ];
        let slug = |r: Option<Box<RawValue>>| oauth_link_core::RawRecord::from(r.unwrap()).get("slug").unwrap();
        assert_eq!(slug(pick(records.clone(), ANY_PROVIDER, issued)), "newer");
        assert_eq!(slug(pick(records.clone(), "old", issued)), "old");
        assert!(pick(records[..1].to_vec(), ANY_PROVIDER, issued).is_none());
    }
}
