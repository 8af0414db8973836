//! The HTTP calls of the Alloy Embedded (headless) API.
//!
//! Every POST here creates something (a user, a credential, an installation) and Alloy
//! honours no idempotency key: a repeat could duplicate it, so each is sent once (the POST
//! default).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};

use http::Method;
use oauth_link_alloy::Credential;
use oauth_link_core::http::ApiClient;
use oauth_link_core::{Error, LinkContext, Result};

use crate::config::AlloyHeadlessConfig;
use crate::wire::{
    CompleteInstallationBody, CompletedInstallation, CreateCredentialBody, CreateUserBody, CreatedCredential,
    CreatedUser, CredentialMetadata, Data, Installation, InstallationInput, Integration, NewCredential,
    OauthUrlResponse, StartInstallation,
};
use crate::KIND;

/// Which list path this Alloy serves: not known yet, `/credentials/users/{userId}` (2025-09
/// reference, asked first), or `/users/{userId}/credentials` (guide, SDK; asked only when
/// the reference path answers 404).
const LIST_UNKNOWN: u8 = 0;
const LIST_REFERENCE: u8 = 1;
const LIST_GUIDE: u8 = 2;

#[derive(Debug)]
pub(crate) struct Client {
    api: ApiClient,
    list_path: AtomicU8,
}

impl Client {
    pub(crate) fn new(config: &AlloyHeadlessConfig, ctx: &LinkContext) -> Result<Self> {
        let api = oauth_link_alloy::api_client(KIND, &config.common, &config.api_key, &config.api_version, ctx)?;
        Ok(Self { api, list_path: AtomicU8::new(LIST_UNKNOWN) })
    }

    /// The API client (for the shared user lookup).
    pub(crate) fn api(&self) -> &ApiClient {
        &self.api
    }

    pub(crate) async fn metadata(&self, app: &str) -> Result<CredentialMetadata> {
        // A read: idempotent, the GET default.
        let call = self.api.call(Method::GET, "credential_metadata", "/metadata/credentials/{app}", &[app]);
        let data: Data<CredentialMetadata> =
            self.api.json(call, "credential metadata {data:{connector, isOauth, properties}}").await?;
        Ok(data.into_inner())
    }

    pub(crate) async fn all_metadata(&self) -> Result<Vec<CredentialMetadata>> {
        // A read.
        let call = self.api.call(Method::GET, "credential_metadata_all", "/metadata/credentials", &[]);
        let data: Data<Vec<CredentialMetadata>> = self.api.json(call, "credential metadata list {data:[...]}").await?;
        Ok(data.into_inner())
    }

    pub(crate) async fn oauth_url(&self, user: &str, app: &str, params: &BTreeMap<String, String>) -> Result<String> {
        let query =
            [("userId", user), ("app", app)].into_iter().chain(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // A GET that mints a link: a repeat only leaves an unused link, which expires.
        let call = self.api.call(Method::GET, "generate_link", "/headless/oauthUrl", &[]).query(query);
        let response: OauthUrlResponse = self.api.json(call, "an OAuth link {oauthUrl} or {data:{oauthUrl}}").await?;
        Ok(response.into_url())
    }

    /// Lists the user's credentials on whichever path this Alloy deployment serves: the
    /// remembered one, else `/credentials/users/{userId}` (2025-09 reference) then, on 404,
    /// `/users/{userId}/credentials`.
    ///
    /// A 404 means either "no such path" or "no such user". A path is remembered only once
    /// it answered 2xx, so a 404 for an unknown user on both paths leaves the choice open
    /// (and is `NotFound`); once a path is known, its 404 means the user is unknown.
    pub(crate) async fn list_credentials(&self, user: &str) -> Result<Vec<Credential>> {
        // Reads, on either path.
        let reference = || self.api.call(Method::GET, "list_credentials", "/credentials/users/{userId}", &[user]);
        let guide = || self.api.call(Method::GET, "list_credentials", "/users/{userId}/credentials", &[user]);
        let reply = match self.list_path.load(Ordering::Relaxed) {
            LIST_REFERENCE => self.api.send(reference()).await?,
            LIST_GUIDE => self.api.send(guide()).await?,
            _ => match self.api.send(reference()).await {
                Ok(reply) => {
                    self.list_path.store(LIST_REFERENCE, Ordering::Relaxed);
                    reply
                }
                Err(Error::NotFound { .. }) => {
                    let reply = self.api.send(guide()).await?;
                    self.list_path.store(LIST_GUIDE, Ordering::Relaxed);
                    reply
                }
                Err(err) => return Err(err),
            },
        };
        Credential::list_from(KIND, &reply)
    }

    pub(crate) async fn create_user(&self, username: &str, full_name: Option<&str>) -> Result<CreatedUser> {
        // Creates a user: sent once.
        let call =
            self.api.call(Method::POST, "create_user", "/users", &[]).json(&CreateUserBody { username, full_name });
        self.api.json(call, "a created user {userId}").await
    }

    pub(crate) async fn list_integrations(&self, user: &str) -> Result<Vec<Integration>> {
        // A read.
        let call = self.api.call(Method::GET, "list_integrations", "/integrations", &[]).query([("userId", user)]);
        let data: Data<Vec<Integration>> = self.api.json(call, "integrations {data:[...]}").await?;
        Ok(data.into_inner())
    }

    pub(crate) async fn create_credential(
        &self,
        user: &str,
        app: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<CreatedCredential> {
        let body = CreateCredentialBody { user_id: user, credential: NewCredential { kind: app, data } };
        // Creates a credential: sent once.
        let call = self.api.call(Method::POST, "create_credential", "/headless/credentials", &[]).json(&body);
        // The credential data holds secrets (passwords, tokens) the client does not know
        // of, in the body: they are scrubbed from errors too.
        let secrets: Vec<&str> = data.values().map(String::as_str).collect();
        let created = self.api.json(call, "a created credential {success, credentialId}").await;
        created.map_err(|err| err.scrubbed(&secrets))
    }

    pub(crate) async fn start_installation(&self, body: &StartInstallation) -> Result<Installation> {
        // Creates an installation: sent once.
        let call = self.api.call(Method::POST, "start_installation", "/headless/startInstallation", &[]).json(body);
        self.api.json(call, "an installation {installationId, data}").await
    }

    pub(crate) async fn complete_installation(
        &self,
        installation_id: &str,
        data: &[InstallationInput],
    ) -> Result<CompletedInstallation> {
        let body = CompleteInstallationBody { installation_id, data };
        // Completes an installation (its workflows are set up): sent once.
        let template = "/headless/completeInstallation";
        let call = self.api.call(Method::POST, "complete_installation", template, &[]).json(&body);
        self.api.json(call, "a completed installation {message}").await
    }
}
