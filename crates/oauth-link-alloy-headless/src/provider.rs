//! The `LinkProvider` implementation and the typed extras.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use oauth_link_alloy::{newest_since, since, Credential};
use oauth_link_core::{
    async_trait, validate_id, Callback, CallbackModel, Capabilities, Connection, ConnectionQuery, ConnectionStatus,
    Error, ExpiringMap, Link, LinkContext, LinkProvider, LinkRequest, Result, Url,
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
/// the Alloy `userId` (create one with [`AlloyHeadlessProvider::create_user`]) and
/// `LinkRequest::target` the app name (e.g. `shopify`).
#[derive(Debug)]
pub struct AlloyHeadlessProvider {
    config: AlloyHeadlessConfig,
    ctx: LinkContext,
    client: Client,
    /// Metadata read for the check before a link, by app, for `metadata_ttl`.
    metadata: Mutex<ExpiringMap<String, Arc<CredentialMetadata>>>,
}

impl AlloyHeadlessProvider {
    /// Builds the provider and its one pooled HTTP client.
    pub fn new(config: AlloyHeadlessConfig, ctx: LinkContext) -> Result<Self> {
        let client = Client::new(&config, &ctx)?;
        Ok(Self { config, ctx, client, metadata: Mutex::new(ExpiringMap::new(MAX_CACHED_METADATA)) })
    }

    /// The settings in use.
    pub fn config(&self) -> &AlloyHeadlessConfig {
        &self.config
    }

    /// Creates an Alloy user (`POST /users`); its `userId` is what `LinkRequest::user`
    /// takes. Sent once (no idempotency key): on a transport error, list users before
    /// trying again.
    pub async fn create_user(&self, username: &str, full_name: Option<&str>) -> Result<CreatedUser> {
        validate_id(KIND, "username", username)?;
        if let Some(name) = full_name {
            validate_id(KIND, "full_name", name)?;
        }
        self.client.create_user(username, full_name).await
    }

    /// Lists the integrations available to a user (`GET /integrations?userId=`).
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

    /// The credential of `target` the link created, if Alloy shows it yet.
    async fn find_new_credential(
        &self,
        user: &str,
        target: &str,
        not_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Credential>> {
        let credentials = self.client.list_credentials(user).await?;
        Ok(newest_since(&credentials, not_before, |c| matches_target(c, target)).cloned())
    }
}

fn matches_target(credential: &Credential, target: &str) -> bool {
    credential.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case(target))
}

fn connection(user: &str, credential: Credential) -> Connection {
    Connection {
        id: credential.id,
        provider: KIND.into(),
        user: user.into(),
        target: credential.kind.unwrap_or_default(),
        status: ConnectionStatus::Connected,
        created_at: credential.created_at,
        updated_at: credential.updated_at,
        raw: credential.raw,
    }
}

#[async_trait]
impl LinkProvider for AlloyHeadlessProvider {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            callback: CallbackModel::Hosted,
            state_in_redirect: false,
            requires_redirect_uri: false,
            disconnect: true,
            // Alloy documents no lifetime for oauthUrl: the state's lifetime bounds the link.
            link_lifetime: Some(self.ctx.codec().ttl()),
            idempotency: false,
            regions: Vec::new(),
            target_params: BTreeMap::new(),
        }
    }

    async fn generate_link(&self, request: &LinkRequest) -> Result<Link> {
        request.validate(KIND)?;
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
        if self.config.check_metadata {
            self.check_metadata(request).await?;
        }
        let raw = self.client.oauth_url(&request.user, &request.target, &request.params).await?;
        let url =
            Url::parse(&raw).ok().filter(|u| matches!(u.scheme(), "https" | "http")).ok_or_else(|| Error::Decode {
                provider: KIND,
                message: "expected `oauthUrl` to be an absolute http(s) URL".into(),
                body: "(not shown: it may carry tokens)".into(),
            })?;
        let issued = self.ctx.issue(KIND, &request.user, &request.target, &[]);
        Ok(Link { provider: KIND.into(), url, state: issued.token, expires_at: issued.expires_at })
    }

    async fn complete_callback(&self, callback: &Callback) -> Result<Connection> {
        self.ctx
            .complete(KIND, callback, |claims| async move {
                if let Some(denied) = error::callback_denied(callback) {
                    return Err(denied);
                }
                let not_before = since(claims.issued_at, self.config.clock_skew);
                let (user, target) = (claims.user.as_str(), claims.target.as_str());
                let found = self.config.common.poll.poll(|| self.find_new_credential(user, target, not_before)).await?;
                match found {
                    Some(credential) => Ok(connection(user, credential)),
                    None => Err(Error::Pending {
                        provider: KIND,
                        message: format!(
                            "no `{target}` credential created since {} for user `{user}` after {} ms of polling",
                            not_before.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                            self.config.common.poll.timeout.as_millis()
                        ),
                    }),
                }
            })
            .await
    }

    async fn list_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>> {
        query.validate(KIND)?;
        let credentials = self.client.list_credentials(&query.user).await?;
        Ok(credentials
            .into_iter()
            .filter(|c| query.target.as_deref().is_none_or(|t| matches_target(c, t)))
            .map(|c| connection(&query.user, c))
            .collect())
    }

    async fn disconnect(&self, user: &str, connection_id: &str) -> Result<()> {
        validate_id(KIND, "user", user)?;
        validate_id(KIND, "connection_id", connection_id)?;
        self.client.delete_credential(user, connection_id).await
    }
}
