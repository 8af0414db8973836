//! The `LinkProvider` implementation and the typed extras.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use oauth_link_alloy::{
    display_name, join2, newest_since, since, AlloyUser, AlloyUsers, Credential, UserIdMode, Watermark,
    ALLOY_USER_CLAIM, WATERMARK_CLAIM,
};
use oauth_link_core::{
    adapter::{async_trait, validate_id, ExpiringMap},
    Callback, Capabilities, Connection, ConnectionQuery, ConnectionStatus, Error, Link, LinkContext, LinkProvider,
    LinkRequest, Result, Target, TargetAuth, TargetParam, Url,
};

use crate::client::Client;
use crate::config::AlloyHeadlessConfig;
use crate::wire::{
    CompletedInstallation, CreatedCredential, CreatedUser, CredentialMetadata, Installation, InstallationInput,
    Integration, StartInstallation,
};
use crate::{error, KIND};

/// Query parameters the adapter sets itself; `LinkRequest::params` may not override them.
const RESERVED_PARAMS: &[&str] = &["userId", "app"];

/// Most apps whose metadata is kept at once (Alloy lists a few hundred; only successful
/// reads are kept, so a made-up app name takes no room).
const MAX_CACHED_METADATA: usize = 512;

/// Alloy Automation headless mode behind [`LinkProvider`].
///
/// Links come from `GET /headless/oauthUrl`; Alloy hosts the OAuth callback, so the app
/// keeps [`Link::state`] and completes with [`Callback::from_state`]. `LinkRequest::user` is
/// the app's own user id (the Alloy user whose `username` it is is found, or created on the
/// first link; with `user_id_mode = platform`, an Alloy `userId`) and `LinkRequest::target`
/// the app name (e.g. `shopify`).
#[derive(Debug)]
pub struct AlloyHeadlessProvider {
    config: AlloyHeadlessConfig,
    ctx: LinkContext,
    client: Client,
    /// The app's user ids to Alloy `userId`s.
    users: AlloyUsers,
    /// Metadata read for the check before a link, by app, for `metadata_ttl`.
    metadata: Mutex<ExpiringMap<String, Arc<CredentialMetadata>>>,
}

impl AlloyHeadlessProvider {
    /// Builds the provider and its one pooled HTTP client.
    pub fn new(config: AlloyHeadlessConfig, ctx: LinkContext) -> Result<Self> {
        let client = Client::new(&config, &ctx)?;
        let users = AlloyUsers::new(KIND, config.user_id_mode);
        Ok(Self { config, ctx, client, users, metadata: Mutex::new(ExpiringMap::new(MAX_CACHED_METADATA)) })
    }

    /// The settings in use.
    pub fn config(&self) -> &AlloyHeadlessConfig {
        &self.config
    }

    /// Creates an Alloy user (`POST /users`), for apps that keep Alloy `userId`s themselves
    /// (`user_id_mode = platform`; in the default `app` mode the first link creates the
    /// user). Sent once (no idempotency key): on a transport error, look the user up
    /// (`GET /users/{username}`) before trying again.
    pub async fn create_user(&self, username: &str, full_name: Option<&str>) -> Result<CreatedUser> {
        validate_id(KIND, "username", username)?;
        if let Some(name) = full_name {
            validate_id(KIND, "full_name", name)?;
        }
        self.client.create_user(username, full_name).await
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

    /// Lists the integrations available to a user (`GET /integrations?userId=`; the
    /// `userId` as given: Alloy also takes a username there).
    pub async fn list_integrations(&self, user: &str) -> Result<Vec<Integration>> {
        validate_id(KIND, "user", user)?;
        self.client.list_integrations(user).await
    }

    /// One app's credential metadata (`GET /metadata/credentials/{app}`): whether it uses
    /// OAuth and which properties it needs. Always read from Alloy (the copy kept for the
    /// check before a link is not used, nor updated).
    pub async fn credential_metadata(&self, app: &str) -> Result<CredentialMetadata> {
        validate_id(KIND, "app", app)?;
        self.client.metadata(app).await
    }

    /// Every app's credential metadata (`GET /metadata/credentials`).
    pub async fn all_credential_metadata(&self) -> Result<Vec<CredentialMetadata>> {
        self.client.all_metadata().await
    }

    /// Creates a non-OAuth credential (`POST /headless/credentials`) from the fields the
    /// app's metadata lists. The values are secrets: they never appear in errors. Sent once.
    pub async fn create_credential(
        &self,
        user: &str,
        app: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<CreatedCredential> {
        validate_id(KIND, "user", user)?;
        validate_id(KIND, "app", app)?;
        for key in data.keys() {
            validate_id(KIND, "data", key)?;
        }
        self.client.create_credential(user, app, data).await
    }

    /// Starts installing an integration (`POST /headless/startInstallation`). Sent once.
    pub async fn start_installation(&self, request: &StartInstallation) -> Result<Installation> {
        validate_id(KIND, "user", &request.user_id)?;
        validate_id(KIND, "integration_id", &request.integration_id)?;
        for id in request.credential_ids.iter().chain(&request.workflow_ids).flatten() {
            validate_id(KIND, "ids", id)?;
        }
        self.client.start_installation(request).await
    }

    /// Completes an installation with the user's answers
    /// (`POST /headless/completeInstallation`; `data` may be empty). Sent once.
    pub async fn complete_installation(
        &self,
        installation_id: &str,
        data: &[InstallationInput],
    ) -> Result<CompletedInstallation> {
        validate_id(KIND, "installation_id", installation_id)?;
        for block in data {
            validate_id(KIND, "workflow_id", &block.workflow_id)?;
            validate_id(KIND, "block_id", &block.block_id)?;
        }
        self.client.complete_installation(installation_id, data).await
    }

    /// `app`'s metadata: the copy kept from an earlier link while it is younger than
    /// `metadata_ttl`, else read from Alloy (and kept, when the read succeeds).
    async fn metadata_for(&self, app: &str) -> Result<Arc<CredentialMetadata>> {
        let ttl = self.config.metadata_ttl;
        if ttl.is_zero() {
            return self.client.metadata(app).await.map(Arc::new);
        }
        let clock = self.ctx.codec().clock();
        if let Some(kept) = self.metadata_cache().get(app, clock.now()) {
            return Ok(kept.clone());
        }
        let metadata = Arc::new(self.client.metadata(app).await?);
        let now = clock.now();
        let expires_at = chrono::Duration::from_std(ttl).ok().and_then(|ttl| now.checked_add_signed(ttl));
        self.metadata_cache().insert(
            app.to_owned(),
            metadata.clone(),
            expires_at.unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
            now,
        );
        Ok(metadata)
    }

    fn metadata_cache(&self) -> MutexGuard<'_, ExpiringMap<String, Arc<CredentialMetadata>>> {
        self.metadata.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn check_metadata(&self, request: &LinkRequest) -> Result<()> {
        let metadata = self.metadata_for(&request.target).await?;
        if !metadata.is_oauth {
            return Err(Error::invalid_input(
                KIND,
                "target",
                format!(
                    "`{}` does not connect through OAuth on Alloy; create its credential with POST /headless/credentials (AlloyHeadlessProvider::create_credential) using the properties its metadata lists",
                    request.target
                ),
            ));
        }
        let missing: Vec<String> = metadata
            .properties
            .iter()
            .filter(|p| !request.params.contains_key(&p.name))
            .map(|p| match &p.display_name {
                Some(label) => format!("`{}` ({label})", p.name),
                None => format!("`{}`", p.name),
            })
            .collect();
        if !missing.is_empty() {
            return Err(Error::invalid_input(
                KIND,
                "params",
                format!(
                    "`{}` needs the propert{} {}: pass each with LinkRequest::with_param",
                    request.target,
                    if missing.len() == 1 { "y" } else { "ies" },
                    missing.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// The Alloy user for a link by `request.user`, and the link's watermark: the
    /// newest of the user's credentials of `target` (none to read for a user this call
    /// created).
    async fn watermark(&self, user: &AlloyUser, target: &str) -> Result<Watermark> {
        if user.created {
            return Ok(Watermark::Empty);
        }
        let credentials = self.client.list_credentials(&user.id).await?;
        Ok(Watermark::of(credentials.iter().filter(|c| matches_target(c, target))))
    }

    /// The request a reconnect of the credential `credential_id` makes: a link for the
    /// credential's app (`type`). Alloy takes no credential id on `GET /headless/oauthUrl`, so
    /// the approval creates a new credential (with a new id) beside the old one, which stays
    /// (installations name credentials by id): completion returns the new one.
    async fn reconnect_request(&self, request: &LinkRequest, credential_id: &str) -> Result<LinkRequest> {
        let nothing = || Error::NotFound {
            provider: KIND,
            message: format!("user `{}` has no credential `{credential_id}` to reconnect", request.user),
        };
        let Some(alloy_user) = self.users.existing(self.client.api(), &request.user).await? else {
            return Err(nothing());
        };
        let credentials = self.client.list_credentials(&alloy_user).await;
        let credentials = self.users.forget_on_not_found(&request.user, credentials)?;
        let found = credentials.into_iter().find(|c| c.id == credential_id).ok_or_else(nothing)?;
        let app = match found.kind.filter(|k| !k.is_empty()) {
            Some(app) if request.target.is_empty() || request.target.eq_ignore_ascii_case(&app) => app,
            Some(app) => {
                return Err(Error::invalid_input(
                    KIND,
                    "target",
                    format!("credential `{credential_id}` is for `{app}`, not `{}`", request.target),
                ))
            }
            None if !request.target.is_empty() => request.target.clone(),
            None => {
                return Err(Error::invalid_input(
                    KIND,
                    "reconnect",
                    format!("credential `{credential_id}` names no app (`type`): pass the app as the target"),
                ))
            }
        };
        let mut reconnect = request.clone();
        reconnect.target = app;
        Ok(reconnect)
    }

    /// The credential of `target` the link created, if Alloy shows it yet: one created or
    /// updated after the state's watermark (or, for a state without one, created since
    /// `not_before`).
    async fn find_new_credential(
        &self,
        alloy_user: &str,
        target: &str,
        mark: Option<Watermark>,
        not_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Credential>> {
        let credentials = self.client.list_credentials(alloy_user).await?;
        let keep = |c: &Credential| matches_target(c, target);
        Ok(match mark {
            Some(mark) => mark.newest_after(&credentials, None, keep).cloned(),
            None => newest_since(&credentials, not_before, keep).cloned(),
        })
    }
}

/// `app`'s catalogue entry as a target.
fn target_of(app: CredentialMetadata) -> Target {
    let name = app.display_name.clone().unwrap_or_else(|| display_name(&app.connector));
    let auth = if app.is_oauth { TargetAuth::OAuth } else { TargetAuth::Form };
    let mut target = Target::new(app.connector, name, auth).with_logo(app.icon.as_deref());
    for property in app.properties {
        let mut param = TargetParam::new(property.name, true);
        if let Some(label) = property.display_name {
            param = param.with_display_name(label);
        }
        target = target.with_param(param);
    }
    target
}

fn matches_target(credential: &Credential, target: &str) -> bool {
    credential.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case(target))
}

fn connection(user: &str, credential: Credential) -> Connection {
    let target = credential.kind.unwrap_or_default();
    Connection::new(credential.id, KIND, user, target, ConnectionStatus::Connected)
        .with_created_at(credential.created_at)
        .with_updated_at(credential.updated_at)
        .with_raw(credential.raw)
}

#[async_trait]
impl LinkProvider for AlloyHeadlessProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        crate::capabilities(self.ctx.codec().ttl())
    }

    async fn generate_link(&self, request: &LinkRequest) -> Result<Link> {
        let resolved = request.resolve_reconnect(KIND, |id| self.reconnect_request(request, id)).await?;
        let request = resolved.as_ref();
        if let Some(key) = RESERVED_PARAMS.iter().find(|k| request.params.contains_key(**k)) {
            return Err(Error::invalid_input(
                KIND,
                format!("params.{key}"),
                "is set by oauth-link from LinkRequest::user / LinkRequest::target; remove it",
            ));
        }
        if request.redirect_uri.is_some() || !request.scopes.is_empty() {
            tracing::debug!(provider = KIND, "Alloy headless takes no redirect URI or scopes; ignored");
        }
        // The metadata check and the user lookup are independent: both at once.
        let check = async {
            match self.config.check_metadata {
                true => self.check_metadata(request).await,
                false => Ok(()),
            }
        };
        let (checked, user) = join2(check, self.users.for_link(self.client.api(), &request.user)).await;
        checked?;
        let user = user?;
        // The link is minted while the watermark is read: no added latency.
        let (raw, mark) = join2(
            self.client.oauth_url(&user.id, &request.target, &request.params),
            self.watermark(&user, &request.target),
        )
        .await;
        let (raw, mark) = self.users.forget_on_not_found(&request.user, raw.and_then(|raw| Ok((raw, mark?))))?;
        let url =
            Url::parse(&raw).ok().filter(|u| matches!(u.scheme(), "https" | "http")).ok_or_else(|| Error::Decode {
                provider: KIND,
                message: "expected `oauthUrl` to be an absolute http(s) URL".into(),
                body: "(not shown: it may carry tokens)".into(),
            })?;
        let mark = mark.to_claim();
        let extra: &[(&str, &str)] = match self.users.mode() {
            UserIdMode::App => &[(ALLOY_USER_CLAIM, &user.id), (WATERMARK_CLAIM, &mark)],
            UserIdMode::Platform => &[(WATERMARK_CLAIM, &mark)],
        };
        let issued = self.ctx.issue_link(KIND, request, extra);
        Ok(Link::new(KIND, url, issued.token, issued.expires_at))
    }

    async fn complete_callback(&self, callback: &Callback) -> Result<Connection> {
        self.ctx
            .complete_connection(KIND, callback, |claims| async move {
                if let Some(denied) = error::callback_denied(callback) {
                    return Err(denied);
                }
                let not_before = since(claims.issued_at, self.config.clock_skew);
                let mark = Watermark::from_claims(&claims);
                let (user, target) = (claims.user.as_str(), claims.target.as_str());
                let pending = |what: &str| Error::Pending {
                    provider: KIND,
                    message: format!(
                        "no `{target}` credential {what} for user `{user}` after {} ms of polling",
                        self.config.common.poll.timeout.as_millis()
                    ),
                };
                let Some(alloy_user) = self.users.of_state(self.client.api(), &claims).await? else {
                    return Err(Error::Pending { provider: KIND, message: format!("Alloy has no user `{user}` yet") });
                };
                let alloy_user = alloy_user.as_str();
                let found = self
                    .config
                    .common
                    .poll
                    .poll(|| self.find_new_credential(alloy_user, target, mark, not_before))
                    .await;
                match self.users.forget_on_not_found(user, found)? {
                    Some(credential) => Ok(connection(user, credential)),
                    None => Err(pending(&match mark {
                        Some(_) => "created or updated since the link was issued".to_owned(),
                        None => {
                            format!("created since {}", not_before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        }
                    })),
                }
            })
            .await
    }

    async fn list_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>> {
        query.validate(KIND)?;
        let Some(alloy_user) = self.users.existing(self.client.api(), &query.user).await? else {
            // Alloy has never seen this user: nothing is connected (and nothing is created).
            return Ok(Vec::new());
        };
        let credentials = match self.client.list_credentials(&alloy_user).await {
            // A kept userId Alloy no longer knows: the user was deleted, so nothing is
            // connected (the mapping is dropped; the next link creates the user again).
            Err(Error::NotFound { .. }) if self.users.mode() == UserIdMode::App => {
                self.users.forget(&query.user);
                return Ok(Vec::new());
            }
            other => other?,
        };
        Ok(credentials
            .into_iter()
            .filter(|c| query.target.as_deref().is_none_or(|t| matches_target(c, t)))
            .map(|c| connection(&query.user, c))
            .collect())
    }

    async fn disconnect(&self, user: &str, connection_id: &str) -> Result<()> {
        self.users.disconnect(self.client.api(), user, connection_id).await
    }

    /// Every app Alloy can connect (`GET /metadata/credentials`): the catalogue needs no
    /// user, unlike `GET /integrations?userId=`, which lists a user's workflow
    /// integrations rather than the apps a link takes.
    async fn list_targets(&self) -> Result<Vec<Target>> {
        let apps = self.client.all_metadata().await?;
        Ok(apps.into_iter().filter(|app| validate_id(KIND, "target", &app.connector).is_ok()).map(target_of).collect())
    }
}
