//! The [`LinkProvider`] implementation.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oauth_link_core::adapter::RawRecord;
use oauth_link_core::secret::is_secret_field_name;
use oauth_link_core::webhook::{poll_or_event, ConnectionEvent, ConnectionEventKind};
use oauth_link_core::{
    adapter::{redirect_with_state, validate_id, validate_redirect_uri, STATE_PARAM},
    Callback, Capabilities, Connection, ConnectionQuery, ConnectionStatus, Error, Link, LinkContext, LinkProvider,
    LinkRequest, Result, Target, TargetAuth, Url,
};
use serde_json::value::RawValue;

use crate::client::JunctionClient;
use crate::config::{JunctionConfig, UserMapping};
use crate::redirect::Outcome;
use crate::slug::ProviderSlug;
use crate::users::{JunctionUser, UserDirectory};
use crate::webhook::{error_kind, JunctionEvent, WebhookVerifier, CONNECTION_CREATED, CONNECTION_ERROR};
use crate::wire::{ProviderWithStatus, SourceLink};
use crate::KIND;

/// The shorter of the two documented link-token lifetimes (API description: 10 minutes;
/// Launching Link guide: 60 minutes).
pub const LINK_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// `LinkRequest::target` that lets the user pick a provider in the Junction Link widget
/// (no `provider` in the link token; the link is `link_web_url`).
pub const ANY_PROVIDER: &str = "*";

/// `StateClaims::extra` key holding the Junction `user_id`.
pub const CLAIM_USER_ID: &str = "jid";

/// `StateClaims::extra` key of an [`ANY_PROVIDER`] link: the newest `created_on` Junction
/// listed for the user when the link was issued (Junction's clock, Unix microseconds), or
/// `-` when none was listed. Only a provider created after it counts at completion.
pub const CLAIM_WATERMARK: &str = "jw";

/// [`CLAIM_WATERMARK`] of a user with no providers at issue time.
const NOTHING_LISTED: &str = "-";

/// Query parameters Junction appends to `redirect_url`; a configured redirect must not
/// carry them already.
const RESERVED_PARAMS: [&str; 4] = ["state", "error_type", "error", STATE_PARAM];

/// Junction (formerly Vital) Link behind [`LinkProvider`].
///
/// See the crate docs for the flow; [`JunctionProvider::new`] builds one pooled HTTP client.
#[derive(Debug)]
pub struct JunctionProvider {
    config: JunctionConfig,
    ctx: LinkContext,
    client: JunctionClient,
    users: UserDirectory,
    /// The configured webhook secrets, decoded once; `None` when there are none.
    verifier: Option<WebhookVerifier>,
}

impl JunctionProvider {
    /// Builds the provider: one pooled transport from `ctx` (or the injected one).
    pub fn new(config: JunctionConfig, ctx: LinkContext) -> Result<Self> {
        let transport = ctx.transport(&(&config.common.http).into())?;
        let client = JunctionClient::new(&config, transport)?;
        let users = UserDirectory::new(config.user_mapping, config.user_cache_capacity);
        let verifier = if config.webhook_secrets.is_empty() { None } else { Some(config.webhook_verifier()?) };
        Ok(Self { config, ctx, client, users, verifier })
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
        Ok(self.junction_user(user).await?.user_id)
    }

    async fn junction_user(&self, user: &str) -> Result<JunctionUser> {
        validate_id(KIND, "user", user)?;
        self.users.validate(user)?;
        self.users.resolve(&self.client, user, true).await?.ok_or_else(|| no_user(user))
    }

    /// The Junction `user_id` of the app's `user` if Junction knows the user; never
    /// registers one.
    pub async fn find_junction_user_id(&self, user: &str) -> Result<Option<String>> {
        validate_id(KIND, "user", user)?;
        self.users.validate(user)?;
        Ok(self.users.resolve(&self.client, user, false).await?.map(|u| u.user_id))
    }

    /// How many user mappings are cached.
    pub fn cached_user_mappings(&self) -> usize {
        self.users.cached()
    }

    /// A webhook verifier for the configured `webhook_secrets`.
    pub fn webhook_verifier(&self) -> Result<WebhookVerifier> {
        // Without secrets, the configuration says what to set.
        self.verifier.clone().map_or_else(|| self.config.webhook_verifier(), Ok)
    }

    /// The app's id for the Junction user of an event, and whether it could be found
    /// (else Junction's `user_id`).
    async fn event_user(&self, user_id: &str, client_user_id: Option<&str>) -> Result<(String, bool)> {
        if self.config.user_mapping == UserMapping::JunctionUserId {
            return Ok((user_id.to_owned(), true));
        }
        if let Some(app_id) = client_user_id.filter(|id| !id.is_empty()) {
            return Ok((app_id.to_owned(), true));
        }
        if !crate::users::is_uuid(user_id) {
            return Ok((user_id.to_owned(), false));
        }
        match self.client.client_user_id(user_id).await {
            Ok(Some(app_id)) => Ok((app_id, true)),
            Ok(None) | Err(Error::NotFound { .. }) => Ok((user_id.to_owned(), false)),
            Err(e) => Err(e),
        }
    }

    fn redirect_for<'a>(&'a self, request: &'a LinkRequest) -> Result<&'a Url> {
        let url = request.redirect_uri.as_ref().or(self.config.redirect_uri.as_ref()).ok_or_else(|| {
            Error::invalid_input(
                KIND,
                "redirect_uri",
                "Junction needs a redirect URL: pass LinkRequest::redirect_uri or set `redirect_uri`",
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

    /// The [`CLAIM_WATERMARK`] of a widget link: nothing to read for a user this call
    /// created; else the newest `created_on` of the providers Junction lists now.
    async fn watermark(&self, app_user: &str, user: &JunctionUser) -> Result<String> {
        if user.created {
            return Ok(NOTHING_LISTED.to_owned());
        }
        let records = self.client.providers(&user.user_id).await;
        let records = self.forget_on_not_found(app_user, records)?;
        let newest = records
            .iter()
            .filter_map(|raw| serde_json::from_str::<ProviderWithStatus>(raw.get()).ok()?.created_on)
            .max();
        Ok(newest.map_or_else(|| NOTHING_LISTED.to_owned(), |t| t.timestamp_micros().to_string()))
    }

    /// The request a reconnect of `connection_id` makes: the connection's provider as the
    /// target and its canonical id (`<user_id>/<slug>`) as `reconnect`, once the connection is
    /// found among the user's (never registering a user: a user Junction does not know has
    /// nothing to reconnect).
    async fn reconnect_request(
        &self,
        request: &LinkRequest,
        connection_id: &str,
    ) -> Result<(LinkRequest, JunctionUser)> {
        let (owner, slug) = split_connection_id(connection_id, "reconnect")?;
        let user =
            self.users.resolve(&self.client, &request.user, false).await?.ok_or_else(|| no_user(&request.user))?;
        if owner.is_some_and(|o| o != user.user_id) {
            return Err(Error::invalid_input(
                KIND,
                "reconnect",
                format!("connection `{connection_id}` does not belong to user `{}`", request.user),
            ));
        }
        if !request.target.is_empty() && request.target != slug {
            return Err(Error::invalid_input(
                KIND,
                "target",
                format!("connection `{connection_id}` is to `{slug}`, not `{}`", request.target),
            ));
        }
        let records = self.client.providers(&user.user_id).await;
        let records = self.forget_on_not_found(&request.user, records)?;
        let listed = records
            .iter()
            .any(|raw| serde_json::from_str::<ProviderWithStatus>(raw.get()).is_ok_and(|r| r.slug == slug));
        if !listed {
            return Err(Error::NotFound {
                provider: KIND,
                message: format!(
                    "Junction lists no `{slug}` connection for user `{}` to reconnect; start a new link",
                    request.user
                ),
            });
        }
        let mut reconnect = request.clone();
        reconnect.target = slug.to_owned();
        reconnect.reconnect = Some(format!("{}/{slug}", user.user_id));
        Ok((reconnect, user))
    }

    fn forget_on_not_found<T>(&self, user: &str, result: Result<T>) -> Result<T> {
        if matches!(result, Err(Error::NotFound { .. })) && self.config.user_mapping == UserMapping::ClientUserId {
            self.users.forget(user);
        }
        result
    }
}

/// A connection id as listed (`<junction user_id>/<slug>`) or a bare slug, split; `field`
/// names it in the error.
fn split_connection_id<'a>(connection_id: &'a str, field: &str) -> Result<(Option<&'a str>, &'a str)> {
    let (owner, slug) = match connection_id.split_once('/') {
        Some((owner, slug)) => (Some(owner), slug),
        None => (None, connection_id),
    };
    // `.` / `..` as the slug would drop out of the DELETE path (`/v2/user/{user_id}`).
    if slug.is_empty() || slug.contains('/') || matches!(slug, "." | "..") || owner.is_some_and(str::is_empty) {
        return Err(Error::invalid_input(
            KIND,
            field,
            "must be `<junction user_id>/<provider slug>` (as listed) or a provider slug",
        ));
    }
    Ok((owner, slug))
}

fn no_user(user: &str) -> Error {
    Error::NotFound { provider: KIND, message: format!("Junction has no user with client_user_id `{user}`") }
}

/// Normalises one `ClientFacingProviderWithStatus`.
///
/// `id` = `<junction user_id>/<slug>` (Junction identifies a connection by that pair). The
/// status follows `docs/connection-health.md`: `connected`; `error` by its
/// `error_details.error_type` ([`error_status`]); `paused` (deregistered after the user's
/// ingestion end) needs a re-authorisation; no status is pending; any other is failed.
pub(crate) fn to_connection(user: &str, junction_user_id: &str, raw: Box<RawValue>) -> Result<Connection> {
    let record: ProviderWithStatus = serde_json::from_str(raw.get()).map_err(|e| {
        Error::decode(KIND, format!("expected a ClientFacingProviderWithStatus: {e}"), raw.get().as_bytes())
    })?;
    let details = record.error_details.as_ref();
    let status = match record.status.as_deref() {
        Some("connected") => ConnectionStatus::Connected,
        Some("error") => {
            let kind = details.and_then(|d| d.error_type.as_deref());
            let reason = match details.and_then(|d| d.error_message.as_deref()).filter(|m| !m.is_empty()) {
                Some(message) => format!("{}: {message}", kind.unwrap_or("unknown")),
                None => kind.unwrap_or("unknown").to_owned(),
            };
            error_status(kind, reason)
        }
        Some("paused") => ConnectionStatus::needs_reauthorization(
            "paused: Junction deregistered the connection at the provider (the user's ingestion end passed); \
             the user must link it again",
        ),
        None => ConnectionStatus::Pending,
        Some(other) => ConnectionStatus::failed(format!("unrecognised Junction status `{other}`")),
    };
    let updated_at = details.and_then(|d| d.errored_at);
    Ok(Connection::new(format!("{junction_user_id}/{}", record.slug), KIND, user, record.slug, status)
        .with_created_at(record.created_on)
        .with_updated_at(updated_at)
        .with_raw(raw))
}

/// The status of a provider record in `error`, by its `error_details.error_type`: the types
/// a new Link flow fixes (the credential expired, was revoked, lost scopes or a password, or
/// the provider deregistered it) need a re-authorisation; the rest (`webhook_registration_failed`,
/// `user_not_found`, `unknown`, types added later, none) failed.
pub fn error_status(error_type: Option<&str>, reason: String) -> ConnectionStatus {
    match error_type {
        Some(
            "token_refresh_failed"
            | "deregistered_per_provider"
            | "required_scopes_not_granted"
            | "provider_credential_error"
            | "provider_password_expired",
        ) => ConnectionStatus::NeedsReauthorization { reason },
        _ => ConnectionStatus::Failed { reason },
    }
}

/// What completion accepts as the connection a link made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wanted<'a> {
    /// The record of this provider slug, in status `connected`. Junction keeps one record
    /// per (user, slug) and the redirect said `state=success`, so it is the one the link
    /// made or renewed; a record still in `error` is the one from before the link.
    Slug(&'a str),
    /// An [`ANY_PROVIDER`] link: the newest `connected` record created after the watermark
    /// (`None`: the user had no providers at issue, so any counts).
    CreatedAfter(Option<DateTime<Utc>>),
}

impl<'a> Wanted<'a> {
    fn from_claims(
        target: &'a str,
        extra: &std::collections::BTreeMap<String, String>,
        issued_at: DateTime<Utc>,
    ) -> Self {
        if target != ANY_PROVIDER {
            return Wanted::Slug(target);
        }
        Wanted::CreatedAfter(match extra.get(CLAIM_WATERMARK).map(String::as_str) {
            Some(NOTHING_LISTED) => None,
            Some(micros) => Some(micros.parse().ok().and_then(DateTime::from_timestamp_micros).unwrap_or(issued_at)),
            // A state without the claim: our clock at issue, with no tolerance.
            None => Some(issued_at),
        })
    }
}

/// Picks the record the link made, or says why none counts yet.
fn pick(records: Vec<Box<RawValue>>, wanted: Wanted<'_>) -> std::result::Result<Box<RawValue>, String> {
    let parsed = records.into_iter().filter_map(|raw| {
        let record = serde_json::from_str::<ProviderWithStatus>(raw.get()).ok()?;
        Some((record, raw))
    });
    match wanted {
        Wanted::Slug(slug) => {
            let Some((record, raw)) = parsed.into_iter().find(|(r, _)| r.slug == slug) else {
                return Err(format!("provider `{slug}` is not listed yet"));
            };
            match record.status.as_deref() {
                Some("connected") => Ok(raw),
                status => {
                    let details = record.error_details.as_ref().and_then(|d| d.error_type.as_deref());
                    Err(format!(
                        "provider `{slug}` is still listed as `{}`{} (the record from before this link)",
                        status.unwrap_or("no status"),
                        details.map(|d| format!(": {d}")).unwrap_or_default()
                    ))
                }
            }
        }
        Wanted::CreatedAfter(after) => parsed
            .filter(|(r, _)| r.status.as_deref() == Some("connected"))
            .filter(|(r, _)| match (after, r.created_on) {
                (None, _) => true,
                // At Junction's precision (microseconds): a record at the watermark is old.
                (Some(after), Some(created)) => created.timestamp_micros() > after.timestamp_micros(),
                (Some(_), None) => false,
            })
            .max_by_key(|(r, _)| r.created_on)
            .map(|(_, raw)| raw)
            .ok_or_else(|| {
                "no provider created since the link was issued is listed as connected (a widget link that \
                 reconnects a provider the user already had keeps its record, and stays Pending)"
                    .to_owned()
            }),
    }
}

/// Normalises one `SourceLink` of the catalogue; `None` for an entry without a usable slug.
pub(crate) fn to_target(source: SourceLink) -> Option<Target> {
    let slug = source.slug.filter(|slug| validate_id(KIND, "target", slug).is_ok())?;
    let auth = match source.auth_type.as_deref().unwrap_or("oauth") {
        "oauth" | "team_oauth" => TargetAuth::OAuth,
        "password" | "email" => TargetAuth::Form,
        "sdk" | "app" => TargetAuth::Sdk,
        _ => TargetAuth::Other,
    };
    let name = source.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| slug.clone());
    Some(Target::new(slug, name, auth).with_logo(source.logo.as_deref()))
}

#[async_trait]
impl LinkProvider for JunctionProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        crate::capabilities(self.ctx.codec().ttl())
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
        // A reconnect re-links the provider of an existing connection: a new link token for
        // the same user and provider replaces the credentials of the same record.
        let resolved;
        let (request, user) = match &request.reconnect {
            Some(id) => {
                let (reconnect, user) = self.reconnect_request(request, id).await?;
                resolved = reconnect;
                (&resolved, user)
            }
            None => (request, self.junction_user(&request.user).await?),
        };
        let slug = (request.target != ANY_PROVIDER).then(|| ProviderSlug::from(request.target.as_str()));
        let user_id = user.user_id.as_str();
        // A widget link names no provider: what Junction lists now is the line a new
        // connection must cross. It rides in the state, which rides in `redirect_url`, so
        // it is read before the token is minted.
        let watermark = match slug {
            None => Some(self.watermark(&request.user, &user).await?),
            Some(_) => None,
        };
        let mut claims = vec![(CLAIM_USER_ID, user_id)];
        if let Some(mark) = watermark.as_deref() {
            claims.push((CLAIM_WATERMARK, mark));
        }
        let state = self.ctx.issue_link(KIND, request, &claims);
        let redirect_url = redirect_with_state(redirect, state.token.expose());

        let issued = self.client.link_token(user_id, slug.as_ref().map(ProviderSlug::as_str), &redirect_url).await;
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
        Ok(Link::new(KIND, url, state.token, state.expires_at.min(token_expiry)))
    }

    async fn complete_callback(&self, callback: &Callback) -> Result<Connection> {
        // Read before the state is consumed: an unknown Junction `state` is the app's
        // mistake, and the user may still complete with the full redirect URL.
        let outcome = Outcome::read(callback)?;
        self.ctx
            .complete_connection(KIND, callback, |claims| async move {
                match outcome {
                    Some(Outcome::Success) => {}
                    Some(Outcome::Failed { error_type, message }) => {
                        return Err(Outcome::into_error(error_type, message))
                    }
                    // Junction always redirects with an outcome (success, an error, or
                    // `user_cancelled` from Close). Without one it reported nothing: never
                    // confirm from the list, which may hold a record from before the link.
                    None => {
                        return Err(Error::Pending {
                            provider: KIND,
                            message: "Junction reported no outcome for this link (no `state=success` or \
                                      `state=error` beside the link state): the user has not finished; \
                                      complete with the full URL Junction redirects to"
                                .into(),
                        })
                    }
                }
                let user_id = claims.extra.get(CLAIM_USER_ID).cloned().ok_or_else(|| {
                    Error::state_invalid(KIND, "the state carries no Junction user id; start a new link")
                })?;
                let wanted = Wanted::from_claims(&claims.target, &claims.extra, claims.issued_at);
                // Why the last look did not confirm, for the Pending message.
                let why = std::sync::Mutex::new(String::new());
                // A verified `provider.connection.created` for this user (and slug) ends the
                // pause between looks at once (webhook_event feeds the notifier); polling
                // stays the fallback.
                let watch = Some(self.ctx.notifier().subscribe());
                let announced = |event: &ConnectionEvent| {
                    event.kind == ConnectionEventKind::Created
                        && event.provider == KIND
                        && event.platform_user.as_deref() == Some(user_id.as_str())
                        && match wanted {
                            Wanted::Slug(slug) => event.target == slug,
                            Wanted::CreatedAfter(_) => true,
                        }
                };
                let found = poll_or_event(&self.config.common.poll, watch, &announced, || async {
                    let records = self.client.providers(&user_id).await?;
                    Ok(pick(records, wanted)
                        .map_err(|reason| *why.lock().unwrap_or_else(|p| p.into_inner()) = reason)
                        .ok())
                })
                .await?;
                match found {
                    Some(raw) => to_connection(&claims.user, &user_id, raw),
                    None => {
                        let why = why.into_inner().unwrap_or_else(|p| p.into_inner());
                        Err(Error::Pending { provider: KIND, message: format!("{why} for Junction user {user_id}") })
                    }
                }
            })
            .await
    }

    async fn list_targets(&self) -> Result<Vec<Target>> {
        let mut seen = std::collections::HashSet::new();
        Ok(self
            .client
            .link_providers()
            .await?
            .into_iter()
            .filter_map(to_target)
            .filter(|target| seen.insert(target.id.clone()))
            .collect())
    }

    async fn list_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>> {
        query.validate(KIND)?;
        self.users.validate(&query.user)?;
        let Some(JunctionUser { user_id, .. }) = self.users.resolve(&self.client, &query.user, false).await? else {
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

    /// Verifies a Junction (Svix) delivery with the configured `webhook_secret` and turns a
    /// `provider.connection.*` event into a [`ConnectionEvent`] (see [`crate::webhook`]); `None`
    /// for the other event types. The user is the event's `client_user_id` (with
    /// `user_mapping = client_user_id`; when an event lacks it, `GET /v2/user/{user_id}`
    /// asks Junction), or Junction's `user_id` (with `junction_user_id`).
    async fn webhook_event(&self, headers: &http::HeaderMap, body: &[u8]) -> Result<Option<ConnectionEvent>> {
        let delivery = match &self.verifier {
            Some(verifier) => verifier.verify(headers, body)?,
            None => self.config.webhook_verifier()?.verify(headers, body)?,
        };
        let parsed = JunctionEvent::parse(body)?;
        // Parsed above, so this reads: the body as sent, minus any secret-named field.
        let raw = serde_json::from_slice::<Box<RawValue>>(body)
            .map(|record| RawRecord::scrubbed(&record, is_secret_field_name))
            .unwrap_or_default();
        let event = match parsed {
            JunctionEvent::ConnectionCreated(created) => {
                let (user, mapped) = self.event_user(&created.user_id, Some(&created.client_user_id)).await?;
                let slug = created.provider.slug;
                ConnectionEvent::new(ConnectionEventKind::Created, &delivery, CONNECTION_CREATED, user, &slug)
                    .with_connection_id(format!("{}/{slug}", created.user_id))
                    .with_platform_user(created.user_id)
                    .with_raw(raw)
                    .with_user_mapped(mapped)
            }
            JunctionEvent::ConnectionError(errored) => {
                let (user, mapped) = self.event_user(&errored.user_id, errored.client_user_id.as_deref()).await?;
                let kind = error_kind(errored.error_type.as_deref());
                let slug = &errored.provider.slug;
                ConnectionEvent::new(kind, &delivery, CONNECTION_ERROR, user, slug)
                    .with_connection_id(format!("{}/{slug}", errored.user_id))
                    .with_reason(errored.reason())
                    .with_platform_user(errored.user_id.clone())
                    .with_raw(raw)
                    .with_user_mapped(mapped)
            }
            _ => return Ok(None),
        };
        // A completion waiting for this connection looks again now.
        self.ctx.notifier().notify(&event);
        Ok(Some(event))
    }

    async fn disconnect(&self, user: &str, connection_id: &str) -> Result<()> {
        validate_id(KIND, "user", user)?;
        validate_id(KIND, "connection_id", connection_id)?;
        self.users.validate(user)?;
        let (owner, slug) = split_connection_id(connection_id, "connection_id")?;
        let user_id = self.users.resolve(&self.client, user, false).await?.ok_or_else(|| no_user(user))?.user_id;
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
        assert_eq!(c.status, ConnectionStatus::needs_reauthorization("token_refresh_failed: revoked"));
        assert!(c.updated_at.is_some());
        let c = to_connection("a", "u", rec(json!({"slug": "x", "status": "paused"}))).unwrap();
        assert!(c.status.is_reauthorization_needed(), "{:?}", c.status);
        let c = to_connection("a", "u", rec(json!({"slug": "x", "status": "disabled"}))).unwrap();
        assert_eq!(c.status, ConnectionStatus::failed("unrecognised Junction status `disabled`"));
        let c = to_connection("a", "u", rec(json!({"slug": "x"}))).unwrap();
        assert_eq!(c.status, ConnectionStatus::Pending);
        assert!(matches!(to_connection("a", "u", rec(json!({"status": "connected"}))), Err(Error::Decode { .. })));
    }

    /// Every documented `error_type` (swagger 0.4.687 `ClientFacingConnectionErrorDetails`),
    /// one added later, and none.
    #[test]
    fn error_types_map_to_reauthorization_or_failure() {
        let status = |error_type: Option<&str>| {
            let details = match error_type {
                Some(t) => json!({"error_type": t, "error_message": "m", "errored_at": "2026-01-02T00:00:00Z"}),
                None => serde_json::Value::Null,
            };
            to_connection("a", "u", rec(json!({"slug": "x", "status": "error", "error_details": details})))
                .unwrap()
                .status
        };
        for t in [
            "token_refresh_failed",
            "deregistered_per_provider",
            "required_scopes_not_granted",
            "provider_credential_error",
            "provider_password_expired",
        ] {
            assert_eq!(status(Some(t)), ConnectionStatus::needs_reauthorization(format!("{t}: m")), "{t}");
        }
        for t in ["webhook_registration_failed", "user_not_found", "unknown", "added_later"] {
            assert_eq!(status(Some(t)), ConnectionStatus::failed(format!("{t}: m")), "{t}");
        }
        assert_eq!(status(None), ConnectionStatus::failed("unknown"));
    }

    #[test]
    fn connection_ids_split() {
        assert_eq!(split_connection_id("uid/oura", "f").unwrap(), (Some("uid"), "oura"));
        assert_eq!(split_connection_id("oura", "f").unwrap(), (None, "oura"));
        for bad in ["uid/", "/oura", "uid/a/b", "uid/..", ".", "uid/."] {
            let err = split_connection_id(bad, "reconnect").unwrap_err();
            assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "reconnect"), "{bad}: {err}");
        }
    }

    #[test]
    fn picking_the_widget_connection() {
        let mark = "2026-01-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let records = vec![
            rec(json!({"slug": "old", "status": "connected", "created_on": "2026-01-01T12:00:00Z"})),
            rec(json!({"slug": "new", "status": "connected", "created_on": "2026-01-01T12:00:00.000001Z"})),
            rec(json!({"slug": "newer", "status": "connected", "created_on": "2026-01-01T12:02:00+00:00"})),
            rec(json!({"slug": "newest", "status": "error", "created_on": "2026-01-01T12:03:00+00:00"})),
            rec(json!({"slug": "undated", "status": "connected"})),
        ];
        let slug = |r: Box<RawValue>| oauth_link_core::adapter::RawRecord::from(r).get("slug").unwrap();
        assert_eq!(slug(pick(records.clone(), Wanted::CreatedAfter(Some(mark))).unwrap()), "newer");
        // The record at the watermark itself is older, not new.
        assert!(pick(records[..1].to_vec(), Wanted::CreatedAfter(Some(mark))).is_err());
        assert_eq!(slug(pick(records[..2].to_vec(), Wanted::CreatedAfter(Some(mark))).unwrap()), "new");
        assert!(pick(records[3..].to_vec(), Wanted::CreatedAfter(Some(mark))).is_err());
        // Nothing listed at issue: any connected record is new.
        assert_eq!(slug(pick(records[..1].to_vec(), Wanted::CreatedAfter(None)).unwrap()), "old");
        assert_eq!(slug(pick(records[4..].to_vec(), Wanted::CreatedAfter(None)).unwrap()), "undated");
    }

    #[test]
    fn picking_a_slug_needs_it_connected() {
        let old = rec(json!({"slug": "oura", "status": "connected", "created_on": "2020-01-01T00:00:00Z"}));
        let errored =
            rec(json!({"slug": "oura", "status": "error", "error_details": {"error_type": "token_refresh_failed"}}));
        assert!(pick(vec![old], Wanted::Slug("oura")).is_ok());
        let why = pick(vec![errored], Wanted::Slug("oura")).unwrap_err();
        assert!(why.contains("still listed as `error`: token_refresh_failed"), "{why}");
        assert!(pick(vec![], Wanted::Slug("oura")).unwrap_err().contains("not listed yet"));
    }

    #[test]
    fn watermark_claims() {
        let issued = "2026-01-01T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let extra = |v: &str| [(CLAIM_WATERMARK.to_owned(), v.to_owned())].into_iter().collect();
        assert_eq!(Wanted::from_claims("oura", &extra("1"), issued), Wanted::Slug("oura"));
        assert_eq!(Wanted::from_claims(ANY_PROVIDER, &extra(NOTHING_LISTED), issued), Wanted::CreatedAfter(None));
        let mark = issued - chrono::TimeDelta::days(3);
        assert_eq!(
            Wanted::from_claims(ANY_PROVIDER, &extra(&mark.timestamp_micros().to_string()), issued),
            Wanted::CreatedAfter(Some(mark))
        );
        assert_eq!(Wanted::from_claims(ANY_PROVIDER, &Default::default(), issued), Wanted::CreatedAfter(Some(issued)));
    }

    #[test]
    fn catalogue_entries() {
        let source = |v: serde_json::Value| serde_json::from_value::<SourceLink>(v).unwrap();
        let t =
            to_target(source(json!({"slug": "oura", "name": "Oura", "logo": "https://x/oura.png", "id": 1}))).unwrap();
        assert_eq!((t.id.as_str(), t.name.as_str(), t.auth), ("oura", "Oura", TargetAuth::OAuth));
        assert_eq!(t.logo_url.unwrap().as_str(), "https://x/oura.png");
        for (auth_type, auth) in [
            ("oauth", TargetAuth::OAuth),
            ("team_oauth", TargetAuth::OAuth),
            ("password", TargetAuth::Form),
            ("email", TargetAuth::Form),
            ("sdk", TargetAuth::Sdk),
            ("app", TargetAuth::Sdk),
            ("", TargetAuth::Other),
            ("carrier_pigeon", TargetAuth::Other),
        ] {
            let t = to_target(source(json!({"slug": "s", "name": "S", "auth_type": auth_type}))).unwrap();
            assert_eq!(t.auth, auth, "{auth_type}");
        }
        let t = to_target(source(json!({"slug": "s", "name": " ", "auth_type": null, "logo": "/rel.png"}))).unwrap();
        assert_eq!((t.name.as_str(), t.auth, t.logo_url), ("s", TargetAuth::OAuth, None));
        assert!(to_target(source(json!({"name": "No slug"}))).is_none());
        assert!(to_target(source(json!({"slug": "a\nb", "name": "Bad"}))).is_none());
    }
}
