//! The HTTP calls of the Alloy Connectivity API.

use std::collections::BTreeMap;

use http::header::HeaderName;
use http::Method;
use oauth_link_alloy::{user_header, Credential, USER_ID_HEADER};
use oauth_link_core::http::{ApiClient, Idempotency};
use oauth_link_core::{adapter::RawRecord, secret::AuthCode, LinkContext, Result};
use serde_json::value::RawValue;

use crate::config::AlloyConnectorsConfig;
use crate::wire::{
    Connector, ConnectorCredentialMetadata, ConnectorList, CreateCredentialBody, CreateCredentialResponse,
    CreateUserBody, CreatedUser, ExchangeBody, ExchangeResponse, MetadataResponse,
};
use crate::KIND;

#[derive(Debug)]
pub(crate) struct Client {
    api: ApiClient,
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
        let api = oauth_link_alloy::api_client(KIND, &config.common, &config.api_key, &config.api_version, ctx)?;
        Ok(Self { api })
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
        let template = "/connectors/{connectorId}/credentials";
        let call = self.api.call(Method::POST, "generate_link", template, &[new.connector]).json(&body);
        // Mints a link: a repeat leaves only an unused link (and the state it carries
        // completes once), which expires. Alloy honours no idempotency key.
        let call = call.idempotency(Idempotency::Idempotent);
        self.api.json(call, "an OAuth link {oauthUrl, credentialId?}").await
    }

    /// The user's credentials for one connector (user named by `x-alloy-userid`).
    pub(crate) async fn list_credentials(&self, connector: &str, user: &str) -> Result<Vec<Credential>> {
        // A read: idempotent, the GET default.
        let call = self
            .api
            .call(Method::GET, "list_credentials", "/connectors/{connectorId}/credentials", &[connector])
            .header(HeaderName::from_static(USER_ID_HEADER), user_header(KIND, user)?);
        Credential::list_from(KIND, &self.api.send(call).await?)
    }

    /// Exchanges a callback's code (community guide's flow). Never retried: the code is
    /// single-use.
    pub(crate) async fn exchange(
        &self,
        connector: &str,
        code: &AuthCode,
        state: Option<&str>,
    ) -> Result<(ExchangeResponse, RawRecord)> {
        let template = "/connectors/{connectorId}/credentials/callback";
        // The authorization code is single-use: sent once, the POST default.
        let call = self.api.call(Method::POST, "exchange_code", template, &[connector]);
        let call = call.json(&ExchangeBody { code: code.expose(), state });
        // The code and state travel in the body, unknown to the client: scrubbed here.
        let secrets: Vec<&str> = [code.expose()].into_iter().chain(state).collect();
        let hide = |err: oauth_link_core::Error| err.scrubbed(&secrets);
        let reply = self.api.send(call).await.map_err(hide)?;
        let parsed: ExchangeResponse =
            reply.json("an exchange result {connectionId?, credentialId, status}").map_err(hide)?;
        let raw: &RawValue = reply.json("a JSON object").map_err(hide)?;
        Ok((parsed, oauth_link_alloy::scrubbed_record(raw)))
    }

    /// The connector catalogue (`GET /connectors`, the Connectivity quick start's
    /// "Discover Connectors" step).
    pub(crate) async fn connectors(&self) -> Result<Vec<Connector>> {
        // A read.
        let call = self.api.call(Method::GET, "list_targets", "/connectors", &[]);
        let list: ConnectorList = self.api.json(call, "connectors {connectors:[{id, name}]}").await?;
        Ok(list.into_connectors())
    }

    pub(crate) async fn metadata(&self, connector: &str) -> Result<Vec<ConnectorCredentialMetadata>> {
        let template = "/connectors/{connectorId}/credentials/metadata";
        // A read.
        let call = self.api.call(Method::GET, "credential_metadata", template, &[connector]);
        let response: MetadataResponse = self.api.json(call, "credential metadata {metadata:[...]}").await?;
        Ok(response.metadata)
    }

    pub(crate) async fn create_user(&self, username: &str, full_name: Option<&str>) -> Result<CreatedUser> {
        // Not an upsert: a repeat could fail as a duplicate (or, without a unique
        // username, make a second user), so it is sent once, the POST default.
        let call =
            self.api.call(Method::POST, "create_user", "/users", &[]).json(&CreateUserBody { username, full_name });
        self.api.json(call, "a created user {userId}").await
    }
}
