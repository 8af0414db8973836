//! The HTTP calls of the Alloy Embedded (headless) API.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};

use http::Method;
use oauth_link_alloy::{send, send_json, Credential};
use oauth_link_core::http::{ApiClient, Call, Idempotency};
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
    api_key: oauth_link_core::ApiKey,
    list_path: AtomicU8,
}

impl Client {
    pub(crate) fn new(config: &AlloyHeadlessConfig, ctx: &LinkContext) -> Result<Self> {
        let headers = oauth_link_alloy::default_headers(&config.api_key, &config.api_version)?;
        let transport = ctx.transport(&(&config.common.http).into())?;
        let api = ApiClient::new(
            KIND,
            oauth_link_alloy::base_url(&config.common),
            headers,
            transport,
            config.common.retry.clone(),
        );
        Ok(Self { api, api_key: config.api_key.clone(), list_path: AtomicU8::new(LIST_UNKNOWN) })
    }

    pub(crate) fn secrets(&self) -> [&str; 1] {
        [self.api_key.expose()]
    }

    /// The API client (for the shared user lookup).
    pub(crate) fn api(&self) -> &ApiClient {
        &self.api
    }

    /// A read: safe to repeat.
    fn get(&self, operation: &'static str, path_template: &'static str, url: url::Url) -> Call {
        Call {
            operation,
            path_template,
            request: self.api.request(Method::GET, url),
            idempotency: Idempotency::Idempotent,
        }
    }

    fn post<T: serde::Serialize>(
        &self,
        operation: &'static str,
        path_template: &'static str,
        segments: &[&str],
        body: &T,
    ) -> Call {
        let request = self.api.json_request(Method::POST, self.api.url(segments), body);
        // Every POST here creates something (a user, a credential, an installation) and
        // Alloy honours no idempotency key: a repeat could duplicate it, so it is sent once.
        Call { operation, path_template, request, idempotency: Idempotency::SendOnce }
    }

    pub(crate) async fn metadata(&self, app: &str) -> Result<CredentialMetadata> {
        let url = self.api.url(&["metadata", "credentials", app]);
        let call = self.get("credential_metadata", "/metadata/credentials/{app}", url);
        let data: Data<CredentialMetadata> =
            send_json(&self.api, call, "credential metadata {data:{connector, isOauth, properties}}", &self.secrets())
                .await?;
        Ok(data.into_inner())
    }

    pub(crate) async fn all_metadata(&self) -> Result<Vec<CredentialMetadata>> {
        let url = self.api.url(&["metadata", "credentials"]);
        let call = self.get("credential_metadata_all", "/metadata/credentials", url);
        let data: Data<Vec<CredentialMetadata>> =
            send_json(&self.api, call, "credential metadata list {data:[...]}", &self.secrets()).await?;
        Ok(data.into_inner())
    }

    pub(crate) async fn oauth_url(&self, user: &str, app: &str, params: &BTreeMap<String, String>) -> Result<String> {
        let query =
            [("userId", user), ("app", app)].into_iter().chain(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let url = self.api.url_with_query(&["headless", "oauthUrl"], query);
        // A GET that mints a link: a repeat only leaves an unused link, which expires.
        let call = self.get("generate_link", "/headless/oauthUrl", url);
        let response: OauthUrlResponse =
            send_json(&self.api, call, "an OAuth link {oauthUrl} or {data:{oauthUrl}}", &self.secrets()).await?;
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
        let reference = || {
            let url = self.api.url(&["credentials", "users", user]);
            self.get("list_credentials", "/credentials/users/{userId}", url)
        };
        let guide = || {
            let url = self.api.url(&["users", user, "credentials"]);
            self.get("list_credentials", "/users/{userId}/credentials", url)
        };
        let response = match self.list_path.load(Ordering::Relaxed) {
            LIST_REFERENCE => send(&self.api, reference(), &self.secrets()).await?,
            LIST_GUIDE => send(&self.api, guide(), &self.secrets()).await?,
            _ => match send(&self.api, reference(), &self.secrets()).await {
                Ok(response) => {
                    self.list_path.store(LIST_REFERENCE, Ordering::Relaxed);
                    response
                }
                Err(Error::NotFound { .. }) => {
                    let response = send(&self.api, guide(), &self.secrets()).await?;
                    self.list_path.store(LIST_GUIDE, Ordering::Relaxed);
                    response
                }
                Err(err) => return Err(err),
            },
        };
        Credential::list_from(KIND, &response.body, &self.secrets())
    }

    pub(crate) async fn delete_credential(&self, user: &str, credential_id: &str) -> Result<()> {
        let url = self.api.url(&["users", user, "credentials", credential_id]);
        let request = self.api.request(Method::DELETE, url);
        let call = Call {
            operation: "disconnect",
            path_template: "/users/{userId}/credentials/{credentialId}",
            request,
            // Deleting twice leaves the same state (the second answers 404).
            idempotency: Idempotency::Idempotent,
        };
        let response = send(&self.api, call, &self.secrets()).await?;
        oauth_link_alloy::check_deleted(KIND, &response, credential_id, &self.secrets())
    }

    pub(crate) async fn create_user(&self, username: &str, full_name: Option<&str>) -> Result<CreatedUser> {
        let call = self.post("create_user", "/users", &["users"], &CreateUserBody { username, full_name });
        send_json(&self.api, call, "a created user {userId}", &self.secrets()).await
    }

    pub(crate) async fn list_integrations(&self, user: &str) -> Result<Vec<Integration>> {
        let url = self.api.url_with_query(&["integrations"], [("userId", user)]);
        let call = self.get("list_integrations", "/integrations", url);
        let data: Data<Vec<Integration>> =
            send_json(&self.api, call, "integrations {data:[...]}", &self.secrets()).await?;
        Ok(data.into_inner())
    }

    pub(crate) async fn create_credential(
        &self,
        user: &str,
        app: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<CreatedCredential> {
        let body = CreateCredentialBody { user_id: user, credential: NewCredential { kind: app, data } };
        let call = self.post("create_credential", "/headless/credentials", &["headless", "credentials"], &body);
        // The credential data holds secrets (passwords, tokens): scrub them from errors too.
        let mut secrets: Vec<&str> = data.values().map(String::as_str).collect();
        secrets.push(self.api_key.expose());
        send_json(&self.api, call, "a created credential {success, credentialId}", &secrets).await
    }

    pub(crate) async fn start_installation(&self, body: &StartInstallation) -> Result<Installation> {
        let call =
            self.post("start_installation", "/headless/startInstallation", &["headless", "startInstallation"], body);
        send_json(&self.api, call, "an installation {installationId, data}", &self.secrets()).await
    }

    pub(crate) async fn complete_installation(
        &self,
        installation_id: &str,
        data: &[InstallationInput],
    ) -> Result<CompletedInstallation> {
        let body = CompleteInstallationBody { installation_id, data };
        let call = self.post(
            "complete_installation",
            "/headless/completeInstallation",
            &["headless", "completeInstallation"],
            &body,
        );
        send_json(&self.api, call, "a completed installation {message}", &self.secrets()).await
    }
}
