//! The `LinkProvider` implementation and the typed extras.

use std::sync::Mutex;

use futures_util::{future, stream, StreamExt as _, TryStreamExt as _};
use oauth_link_alloy::{
    display_name, newest_since, since, AlloyUsers, Credential, UserIdMode, Watermark, ALLOY_USER_CLAIM, WATERMARK_CLAIM,
};
use oauth_link_core::{
    adapter::{
        async_trait, redirect_with_state, validate_id, validate_redirect_uri, ExpiringMap, IssuedToken, Nonce,
        RawRecord, StateClaims, STATE_PARAM,
    },
    secret::AuthCode,
    Callback, Capabilities, Connection, ConnectionQuery, ConnectionStatus, Error, Link, LinkContext, LinkProvider,
    LinkRequest, Result, Target, TargetAuth, TargetParam, Url,
};

use crate::client::{Client, NewCredential};
use crate::config::{AlloyConnectorsConfig, CallbackMode};
use crate::wire::{Connector, ConnectorCredentialMetadata, CreatedUser, ExchangeResponse};
use crate::{error, KIND};

/// Alloy Automation Connectivity API (connector credentials) behind [`LinkProvider`].
///
/// Links come from `POST /connectors/{connectorId}/credentials`; Alloy sends the browser
/// back to the redirect URI, which carries oauth-link's state as `oauth_link_state`, so the
/// app completes with `Callback::from_url(KIND, &full_redirect_url)`. `LinkRequest::user` is
/// the app's own user id (the Alloy user whose `username` it is is found, or created on the
/// first link; with `user_id_mode = platform`, an Alloy `userId`) and `LinkRequest::target`
/// the connector id (e.g. `slack`).
#[derive(Debug)]
pub struct AlloyConnectorsProvider {
    config: AlloyConnectorsConfig,
    ctx: LinkContext,
    client: Client,
    /// The app's user ids to Alloy `userId`s.
    users: AlloyUsers,
    /// The `credentialId` Alloy returned for each outstanding link, by state nonce, until
    /// the link completes or its state expires. Alloy returns it after the state is already
    /// on the redirect URI, so the state cannot carry it.
    hints: Mutex<ExpiringMap<Nonce, String>>,
}

/// Most `credentialId` hints kept at once (the oldest link's goes first).
const MAX_HINTS: usize = 4096;

/// Connectors whose credentials `list_connections` requests at once.
const LIST_CONCURRENCY: usize = 8;

impl AlloyConnectorsProvider {
    /// Builds the provider and its one pooled HTTP client.
    pub fn new(config: AlloyConnectorsConfig, ctx: LinkContext) -> Result<Self> {
        let client = Client::new(&config, &ctx)?;
        let users = AlloyUsers::new(KIND, config.user_id_mode);
        Ok(Self { config, ctx, client, users, hints: Mutex::new(ExpiringMap::new(MAX_HINTS)) })
    }

    /// The settings in use.
    pub fn config(&self) -> &AlloyConnectorsConfig {
        &self.config
    }

    /// How a connector's credentials are set up
    /// (`GET /connectors/{connectorId}/credentials/metadata`).
    pub async fn credential_metadata(&self, connector: &str) -> Result<Vec<ConnectorCredentialMetadata>> {
        validate_id(KIND, "connector", connector)?;
        self.client.metadata(connector).await
    }

    /// The Alloy `userId` of an app user (for the Alloy-specific extras that take one), or
    /// `None` when Alloy has no such user; never creates it. In platform mode, `user`.
    pub async fn alloy_user_id(&self, user: &str) -> Result<Option<String>> {
        validate_id(KIND, "user", user)?;
        self.users.existing(self.client.api(), user).await
    }

    /// How many app user ids have their Alloy `userId` kept (app mode).
    pub fn kept_users(&self) -> usize {
        self.users.kept()
    }

    /// Creates an Alloy user (`POST /users`), for apps that keep Alloy `userId`s themselves
    /// (`user_id_mode = platform`; in the default `app` mode the first link creates the
    /// user). Sent once (no idempotency key).
    pub async fn create_user(&self, username: &str, full_name: Option<&str>) -> Result<CreatedUser> {
        validate_id(KIND, "username", username)?;
        if let Some(name) = full_name {
            validate_id(KIND, "full_name", name)?;
        }
        self.client.create_user(username, full_name).await
    }

    fn hints(&self) -> std::sync::MutexGuard<'_, ExpiringMap<Nonce, String>> {
        self.hints.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, issued: &IssuedToken, credential_id: String) {
        let now = self.ctx.codec().clock().now();
        self.hints().insert(issued.nonce, credential_id, issued.expires_at, now);
    }

    /// `user`'s credentials of one connector, as connections (`user` the app's id,
    /// `alloy_user` its Alloy `userId`).
    async fn connections_of(&self, connector: &str, user: &str, alloy_user: &str) -> Result<Vec<Connection>> {
        let credentials = self.client.list_credentials(connector, alloy_user).await?;
        Ok(credentials.into_iter().map(|c| connection(user, connector, c)).collect())
    }

    /// The request a reconnect of the credential `credential_id` makes: a link for the
    /// credential's connector. Alloy lists credentials per connector, so the connector is the
    /// request's target, else one of the configured `connectors`. `POST
    /// /connectors/{id}/credentials` takes no credential id: the approval creates a new
    /// credential beside the old one, which stays; completion returns the new one.
    async fn reconnect_request(&self, request: &LinkRequest, credential_id: &str) -> Result<LinkRequest> {
        let connectors: Vec<&str> = match (request.target.is_empty(), self.config.connectors.is_empty()) {
            (false, _) => vec![request.target.as_str()],
            (true, false) => self.config.connectors.iter().map(String::as_str).collect(),
            (true, true) => {
                return Err(Error::invalid_input(
                    KIND,
                    "target",
                    "Alloy lists credentials per connector: name the connector (LinkRequest::new(user, connector).with_reconnect(id)) or set `connectors`",
                ))
            }
        };
        let nothing = || Error::NotFound {
            provider: KIND,
            message: format!(
                "user `{}` has no credential `{credential_id}` on {} to reconnect",
                request.user,
                connectors.join(", ")
            ),
        };
        let Some(alloy_user) = self.users.existing(self.client.api(), &request.user).await? else {
            return Err(nothing());
        };
        let listed = self.list_all(&connectors, &request.user, &alloy_user).await;
        let listed = self.users.forget_on_not_found(&request.user, listed)?;
        let found = listed.into_iter().find(|c| c.id == credential_id).ok_or_else(nothing)?;
        let mut reconnect = request.clone();
        reconnect.target = found.target;
        Ok(reconnect)
    }

    async fn confirm_by_listing(&self, claims: &StateClaims) -> Result<Connection> {
        let now = self.ctx.codec().clock().now();
        let hint = self.hints().get(&claims.nonce, now).cloned();
        let not_before = since(claims.issued_at, self.config.clock_skew);
        let mark = Watermark::from_claims(claims);
        let (user, connector) = (claims.user.as_str(), claims.target.as_str());
        let Some(alloy_user) = self.users.of_state(self.client.api(), claims).await? else {
            return Err(Error::Pending { provider: KIND, message: format!("Alloy has no user `{user}` yet") });
        };
        let (hint_ref, alloy_user) = (hint.as_deref(), alloy_user.as_str());
        let found = self
            .config
            .common
            .poll
            .poll(|| async move {
                let credentials = self.client.list_credentials(connector, alloy_user).await?;
                let picked = match mark {
                    // Only a credential created or updated after the link was issued; the
                    // one Alloy named for this link first.
                    Some(mark) => mark.newest_after(&credentials, hint_ref, |_| true),
                    // A state from an older version: the named credential, else the newest
                    // created within the clock skew.
                    None => match hint_ref {
                        Some(id) => credentials.iter().find(|c| c.id == id),
                        None => newest_since(&credentials, not_before, |_| true),
                    },
                };
                Ok(picked.cloned())
            })
            .await;
        match self.users.forget_on_not_found(user, found)? {
            Some(credential) => {
                self.hints().remove(&claims.nonce);
                Ok(connection(user, connector, credential))
            }
            None => Err(Error::Pending {
                provider: KIND,
                message: match (mark, hint_ref) {
                    (Some(_), _) => format!(
                        "no `{connector}` credential created or updated since the link was issued for user `{user}` after {} ms of polling",
                        self.config.common.poll.timeout.as_millis()
                    ),
                    (None, Some(id)) => {
                        format!("credential `{id}` of connector `{connector}` is not listed for user `{user}` yet")
                    }
                    (None, None) => format!(
                        "no `{connector}` credential created since {} for user `{user}` after {} ms of polling",
                        not_before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        self.config.common.poll.timeout.as_millis()
                    ),
                },
            }),
        }
    }

    /// Posts the redirect's `code`; a redirect without one (the user left, or Alloy adds no
    /// code) is confirmed by listing instead.
    async fn confirm_by_exchange(&self, claims: &StateClaims, callback: &Callback) -> Result<Connection> {
        let Some(code) = callback.param("code").filter(|c| !c.trim().is_empty()) else {
            return self.confirm_by_listing(claims).await;
        };
        let code = AuthCode::new(code);
        let (response, raw) = self.client.exchange(&claims.target, &code, callback.param("state")).await?;
        self.hints().remove(&claims.nonce);
        Ok(exchanged_connection(&claims.user, &claims.target, response, raw))
    }

    /// The catalogue entries to describe with their credential metadata: the configured
    /// `connectors` (their extra fields and auth type), or, when Alloy lists no catalogue,
    /// the configured connectors alone.
    async fn describe(&self, connectors: Vec<Connector>) -> Result<Vec<Target>> {
        let wanted = &self.config.connectors;
        let requests = connectors.into_iter().map(|connector| async move {
            let metadata = match wanted.iter().any(|w| w.eq_ignore_ascii_case(&connector.id)) {
                true => Some(self.client.metadata(&connector.id).await?),
                false => None,
            };
            Ok::<_, Error>(target_of(connector, metadata.as_deref()))
        });
        stream::iter(requests).buffered(LIST_CONCURRENCY).try_collect().await
    }
}

/// A connector as a target: auth kind from its metadata (when read) or its listed
/// authentication types, extra fields from the metadata.
fn target_of(connector: Connector, metadata: Option<&[ConnectorCredentialMetadata]>) -> Target {
    let oauth = metadata.and_then(|m| m.iter().find(|m| m.is_oauth()));
    let auth = match (metadata, &connector.authentication_types) {
        (Some(_), _) if oauth.is_some() => TargetAuth::OAuth,
        (Some(m), _) if !m.is_empty() => TargetAuth::Form,
        (_, Some(types)) if types.iter().any(|t| t.eq_ignore_ascii_case("oauth2")) => TargetAuth::OAuth,
        (_, Some(types)) if !types.is_empty() => TargetAuth::Form,
        _ => TargetAuth::Other,
    };
    let name = connector.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| display_name(&connector.id));
    let mut target = Target::new(connector.id, name, auth).with_logo(connector.icon.as_deref());
    for (field, label, required) in oauth.map(ConnectorCredentialMetadata::data_fields).unwrap_or_default() {
        let mut param = TargetParam::new(field, required);
        if let Some(label) = label {
            param = param.with_display_name(label);
        }
        target = target.with_param(param);
    }
    target
}

fn connection(user: &str, connector: &str, credential: Credential) -> Connection {
    Connection::new(credential.id, KIND, user, connector, ConnectionStatus::Connected)
        .with_created_at(credential.created_at)
        .with_updated_at(credential.updated_at)
        .with_raw(credential.raw)
}

fn exchanged_connection(user: &str, connector: &str, response: ExchangeResponse, raw: RawRecord) -> Connection {
    let status = match response.status.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("connected" | "active" | "success") => ConnectionStatus::Connected,
        Some("pending") => ConnectionStatus::Pending,
        Some(other) => ConnectionStatus::failed(format!("Alloy reported status `{other}`")),
    };
    let _ = response.connection_id;
    Connection::new(response.credential_id, KIND, user, connector, status).with_raw(raw)
}

/// `uri` with `oauth_link_state=<state>` appended (an existing one replaced), its other
/// query parameters kept in order.
fn with_state(uri: &Url, state: &str) -> String {
    if !uri.query_pairs().any(|(k, _)| k == STATE_PARAM) {
        // The common case: nothing to replace.
        return redirect_with_state(uri, state);
    }
    let kept: Vec<(String, String)> =
        uri.query_pairs().filter(|(k, _)| k != STATE_PARAM).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut out = uri.clone();
    out.set_query(None);
    {
        let mut query = out.query_pairs_mut();
        for (k, v) in &kept {
            query.append_pair(k, v);
        }
        query.append_pair(STATE_PARAM, state);
    }
    out.into()
}

#[async_trait]
impl LinkProvider for AlloyConnectorsProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        crate::capabilities(self.ctx.codec().ttl())
    }

    async fn generate_link(&self, request: &LinkRequest) -> Result<Link> {
        let resolved = request.resolve_reconnect(KIND, |id| self.reconnect_request(request, id)).await?;
        let request = resolved.as_ref();
        let redirect = request.redirect_uri.as_ref().or(self.config.redirect_uri.as_ref()).ok_or_else(|| {
            Error::invalid_input(
                KIND,
                "redirect_uri",
                "is required: pass LinkRequest::with_redirect_uri or set `redirect_uri` (OAUTH_LINK_ALLOY_CONNECTORS_REDIRECT_URI)",
            )
        })?;
        validate_redirect_uri(KIND, redirect)?;
        if !request.scopes.is_empty() {
            tracing::debug!(provider = KIND, "Alloy connector credentials take no scopes; ignored");
        }
        let user = self.users.for_link(self.client.api(), &request.user).await?;
        // The watermark goes in the state, which rides on the redirect URI sent with the
        // link request: it is read first (a user this call created has nothing to read).
        let mark = match user.created {
            true => Watermark::Empty,
            false => {
                let listed = self.client.list_credentials(&request.target, &user.id).await;
                Watermark::of(&self.users.forget_on_not_found(&request.user, listed)?)
            }
        }
        .to_claim();
        let extra: &[(&str, &str)] = match self.users.mode() {
            UserIdMode::App => &[(ALLOY_USER_CLAIM, &user.id), (WATERMARK_CLAIM, &mark)],
            UserIdMode::Platform => &[(WATERMARK_CLAIM, &mark)],
        };
        let issued = self.ctx.issue_link(KIND, request, extra);
        let redirect = with_state(redirect, issued.token.expose());
        let new = NewCredential {
            connector: &request.target,
            user: &user.id,
            redirect_uri: &redirect,
            auth_config_id: self.config.auth_config_id.as_deref(),
            data: &request.params,
        };
        let response = self.client.create_credential(&new).await?;
        let url = Url::parse(&response.oauth_url).ok().filter(|u| matches!(u.scheme(), "https" | "http")).ok_or_else(
            || Error::Decode {
                provider: KIND,
                message: "expected `oauthUrl` to be an absolute http(s) URL".into(),
                body: "(not shown: it may carry tokens)".into(),
            },
        )?;
        if let Some(id) = response.credential_id.filter(|id| !id.is_empty()) {
            self.remember(&issued, id);
        }
        Ok(Link::new(KIND, url, issued.token, issued.expires_at))
    }

    async fn complete_callback(&self, callback: &Callback) -> Result<Connection> {
        self.ctx
            .complete_connection(KIND, callback, |claims| async move {
                if let Some(denied) = error::callback_denied(callback) {
                    self.hints().remove(&claims.nonce);
                    return Err(denied);
                }
                match self.config.callback_mode {
                    CallbackMode::List => self.confirm_by_listing(&claims).await,
                    CallbackMode::Exchange => self.confirm_by_exchange(&claims, callback).await,
                }
            })
            .await
    }

    async fn list_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>> {
        query.validate(KIND)?;
        let connectors: Vec<&str> = match &query.target {
            Some(target) => vec![target.as_str()],
            None if self.config.connectors.is_empty() => {
                return Err(Error::invalid_input(
                    KIND,
                    "target",
                    "Alloy lists credentials per connector: pass a target (ConnectionQuery::with_target) or set `connectors` (OAUTH_LINK_ALLOY_CONNECTORS_CONNECTORS=slack,notion)",
                ))
            }
            None => self.config.connectors.iter().map(String::as_str).collect(),
        };
        let api = self.client.api();
        let Some(alloy_user) = self.users.existing(api, &query.user).await? else {
            // Alloy has never seen this user: nothing is connected (and nothing is created).
            return Ok(Vec::new());
        };
        match self.list_all(&connectors, &query.user, &alloy_user).await {
            // A kept userId may belong to a user since deleted at Alloy, or a connector may
            // be unknown: look the user up again to tell which.
            Err(err @ Error::NotFound { .. }) if self.users.mode() == UserIdMode::App => {
                self.users.forget(&query.user);
                match self.users.existing(api, &query.user).await? {
                    None => Ok(Vec::new()),
                    Some(_) => Err(err),
                }
            }
            other => other,
        }
    }

    async fn disconnect(&self, user: &str, connection_id: &str) -> Result<()> {
        self.users.disconnect(self.client.api(), user, connection_id).await
    }

    /// The connector catalogue, `GET /connectors` (each configured connector described by
    /// its credential metadata); when Alloy answers 404 there, the configured `connectors`
    /// and their metadata.
    async fn list_targets(&self) -> Result<Vec<Target>> {
        let listed = match self.client.connectors().await {
            Ok(list) => list,
            Err(Error::NotFound { .. }) if !self.config.connectors.is_empty() => self
                .config
                .connectors
                .iter()
                .map(|id| Connector { id: id.clone(), name: None, icon: None, authentication_types: None })
                .collect(),
            Err(err) => return Err(err),
        };
        let listed = listed.into_iter().filter(|c| validate_id(KIND, "target", &c.id).is_ok()).collect();
        self.describe(listed).await
    }
}

impl AlloyConnectorsProvider {
    /// `user`'s credentials of each connector, up to LIST_CONCURRENCY at once: the wait is
    /// the slowest connector's, not the sum. Results keep the connectors' order; the first
    /// failure (in that order) is the call's.
    async fn list_all(&self, connectors: &[&str], user: &str, alloy_user: &str) -> Result<Vec<Connection>> {
        if let [connector] = connectors {
            return self.connections_of(connector, user, alloy_user).await;
        }
        let requests: Vec<_> = connectors.iter().map(|c| self.connections_of(c, user, alloy_user)).collect();
        let per_connector: Vec<Vec<Connection>> = if connectors.len() <= LIST_CONCURRENCY {
            future::try_join_all(requests).await?
        } else {
            stream::iter(requests).buffered(LIST_CONCURRENCY).try_collect().await?
        };
        let mut out = Vec::with_capacity(per_connector.iter().map(Vec::len).sum());
        per_connector.into_iter().for_each(|part| out.extend(part));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_appended_keeping_the_query() {
        let uri = Url::parse("https://app.example.com/cb?tenant=7&oauth_link_state=old&x=a%20b").unwrap();
        let out = with_state(&uri, "v1.abc.def");
        assert_eq!(out.as_str(), "https://app.example.com/cb?tenant=7&x=a+b&oauth_link_state=v1.abc.def");
        let plain = with_state(&Url::parse("http://localhost:3000/cb").unwrap(), "s");
        assert_eq!(plain.as_str(), "http://localhost:3000/cb?oauth_link_state=s");
        // Nothing to replace: the app's query is kept byte for byte.
        let kept = with_state(&Url::parse("https://app.example.com/cb?x=a%20b&y").unwrap(), "s");
        assert_eq!(kept.as_str(), "https://app.example.com/cb?x=a%20b&y&oauth_link_state=s");
    }
}
