//! The HTTP calls of the Alloy Connectivity API.

use std::collections::BTreeMap;

use http::header::HeaderName;
use http::Method;
use oauth_link_alloy::{send, send_json, user_header, Credential, USER_ID_HEADER};
use oauth_link_core::http::{ApiClient, Call, Idempotency};
use oauth_link_core::{secret::AuthCode, ApiKey, LinkContext, Result};

use crate::config::AlloyConnectorsConfig;
use crate::wire::{
    Connector, ConnectorCredentialMetadata, ConnectorList, CreateCredentialBody, CreateCredentialResponse,
    CreateUserBody, CreatedUser, ExchangeBody, ExchangeResponse, MetadataResponse,
};
use crate::KIND;

#[derive(Debug)]
pub(crate) struct Client {
    api: ApiClient,
    api_key: ApiKey,
}

/// What `POST /connectors/{connectorId}/credentials` needs.
#[derive(Debug)]
pub(crate) struct NewCredential<'a> {
    pub(crate) connector: &'a str,
    pub(crate) user: &'a str,
    pub(crate) redirect_uri: &'a str,
    pub(crate) auth_config_id: Option<&'a str>,
    pub(crate) data: &'a BTreeMap<String, String>,
}

impl Client {
    pub(crate) fn new(config: &AlloyConnectorsConfig, ctx: &LinkContext) -> Result<Self> {
        let headers = oauth_link_alloy::default_headers(&config.api_key, &config.api_version)?;
        let transport = ctx.transport(&(&config.common.http).into())?;
        let api = ApiClient::new(
            KIND,
            oauth_link_alloy::base_url(&config.common),
            headers,
            transport,
            config.common.retry.clone(),
        );
        Ok(Self { api, api_key: config.api_key.clone() })
    }

    pub(crate) fn secrets(&self) -> [&str; 1] {
        [self.api_key.expose()]
    }

    /// The API client (for the shared user lookup).
    pub(crate) fn api(&self) -> &ApiClient {
        &self.api
    }

    /// Starts an OAuth credential: mints the `oauthUrl`.
    pub(crate) async fn create_credential(&self, new: &NewCredential<'_>) -> Result<CreateCredentialResponse> {
        let body = CreateCredentialBody {
            user_id: new.user,
            authentication_type: "oauth2",
            redirect_uri: new.redirect_uri,
            auth_config_id: new.auth_config_id,
            data: (!new.data.is_empty()).then_some(new.data),
        };
        let url = self.api.url(&["connectors", new.connector, "credentials"]);
        let call = Call {
            operation: "generate_link",
            path_template: "/connectors/{connectorId}/credentials",
            request: self.api.json_request(Method::POST, url, &body),
            // Mints a link: a repeat leaves only an unused link (and the state it carries
            // completes once), which expires. Alloy honours no idempotency key.
            idempotency: Idempotency::Idempotent,
        };
        send_json(&self.api, call, "an OAuth link {oauthUrl, credentialId?}", &self.secrets()).await
    }

    /// The user's credentials for one connector (user named by `x-alloy-userid`).
    pub(crate) async fn list_credentials(&self, connector: &str, user: &str) -> Result<Vec<Credential>> {
        let url = self.api.url(&["connectors", connector, "credentials"]);
        let mut request = self.api.request(Method::GET, url);
        request.headers.insert(HeaderName::from_static(USER_ID_HEADER), user_header(KIND, user)?);
        let call = Call {
            operation: "list_credentials",
            path_template: "/connectors/{connectorId}/credentials",
            request,
            // A read.
            idempotency: Idempotency::Idempotent,
        };
        let response = send(&self.api, call, &self.secrets()).await?;
        Credential::list_from(KIND, &response.body, &self.secrets())
    }

    /// Exchanges a callback's code (community guide's flow). Never retried: the code is
    /// single-use.
    pub(crate) async fn exchange(
        &self,
        connector: &str,
        code: &AuthCode,
        state: Option<&str>,
    ) -> Result<(ExchangeResponse, oauth_link_core::adapter::RawRecord)> {
        let url = self.api.url(&["connectors", connector, "credentials", "callback"]);
        let body = ExchangeBody { code: code.expose(), state };
        let call = Call {
            operation: "exchange_code",
            path_template: "/connectors/{connectorId}/credentials/callback",
            request: self.api.json_request(Method::POST, url, &body),
            // The authorization code is single-use: never repeated.
            idempotency: Idempotency::SendOnce,
        };
        let mut secrets = vec![self.api_key.expose(), code.expose()];
        secrets.extend(state);
        let response = send(&self.api, call, &secrets).await?;
        let parsed: ExchangeResponse =
            self.api.decode(&response, "an exchange result {connectionId?, credentialId, status}", &secrets)?;
        let raw: &serde_json::value::RawValue = self.api.decode(&response, "a JSON object", &secrets)?;
        Ok((parsed, oauth_link_alloy::scrubbed_record(raw)))
    }

    pub(crate) async fn delete_credential(&self, user: &str, credential_id: &str) -> Result<()> {
        let url = self.api.url(&["users", user, "credentials", credential_id]);
        let call = Call {
            operation: "disconnect",
            path_template: "/users/{userId}/credentials/{credentialId}",
            request: self.api.request(Method::DELETE, url),
            // Deleting twice leaves the same state (the second answers 404).
            idempotency: Idempotency::Idempotent,
        };
        let response = send(&self.api, call, &self.secrets()).await?;
        oauth_link_alloy::check_deleted(KIND, &response, credential_id, &self.secrets())
    }

    /// The connector catalogue (`GET /connectors`, the Connectivity quick start's
    /// "Discover Connectors" step).
    pub(crate) async fn connectors(&self) -> Result<Vec<Connector>> {
        let call = Call {
            operation: "list_targets",
            path_template: "/connectors",
            request: self.api.request(Method::GET, self.api.url(&["connectors"])),
            // A read.
            idempotency: Idempotency::Idempotent,
        };
        let list: ConnectorList =
            send_json(&self.api, call, "connectors {connectors:[{id, name}]}", &self.secrets()).await?;
        Ok(list.into_connectors())
    }

    pub(crate) async fn metadata(&self, connector: &str) -> Result<Vec<ConnectorCredentialMetadata>> {
        let url = self.api.url(&["connectors", connector, "credentials", "metadata"]);
        let call = Call {
            operation: "credential_metadata",
            path_template: "/connectors/{connectorId}/credentials/metadata",
            request: self.api.request(Method::GET, url),
            // A read.
            idempotency: Idempotency::Idempotent,
        };
        let response: MetadataResponse =
            send_json(&self.api, call, "credential metadata {metadata:[...]}", &self.secrets()).await?;
        Ok(response.metadata)
    }

    pub(crate) async fn create_user(&self, username: &str, full_name: Option<&str>) -> Result<CreatedUser> {
        let call = Call {
            operation: "create_user",
            path_template: "/users",
            request: self.api.json_request(
                Method::POST,
                self.api.url(&["users"]),
                &CreateUserBody { username, full_name },
            ),
            // Not an upsert: a repeat could fail as a duplicate (or, without a unique
            // username, make a second user).
            idempotency: Idempotency::SendOnce,
        };
        send_json(&self.api, call, "a created user {userId}", &self.secrets()).await
    }
}
