//! Serde types of the Alloy Connectivity API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /connectors/{connectorId}/credentials` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateCredentialBody<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) authentication_type: &'static str,
    pub(crate) redirect_uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) auth_config_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<&'a BTreeMap<String, String>>,
}

/// `POST /connectors/{connectorId}/credentials` answer: `oauthUrl`, plus `credentialId`
/// when Alloy returns one (the community guide shows it; the reference does not).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateCredentialResponse {
    pub(crate) oauth_url: String,
    #[serde(default)]
    pub(crate) credential_id: Option<String>,
}

/// `POST /connectors/{connectorId}/credentials/callback` body (community guide).
#[derive(Debug, Serialize)]
pub(crate) struct ExchangeBody<'a> {
    pub(crate) code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<&'a str>,
}

/// `POST /connectors/{connectorId}/credentials/callback` answer (community guide):
/// `{connectionId?, credentialId, status}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExchangeResponse {
    #[serde(default)]
    pub(crate) connection_id: Option<String>,
    #[serde(alias = "id")]
    pub(crate) credential_id: String,
    #[serde(default)]
    pub(crate) status: Option<String>,
}

/// `GET /connectors/{connectorId}/credentials/metadata` answer.
#[derive(Debug, Deserialize)]
pub(crate) struct MetadataResponse {
    pub(crate) metadata: Vec<ConnectorCredentialMetadata>,
}

/// How one authentication type of a connector is set up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectorCredentialMetadata {
    /// `oauth2`, or another type (API key, bearer, basic; exact strings unconfirmed).
    pub authentication_type: String,
    /// True when an `authConfigId` must be sent.
    #[serde(default)]
    pub auth_config_required: bool,
    /// JSON schema of the create-credential body (`data` holds the connector's fields).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub input_schema: Value,
    /// An example body.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub sample_input: Value,
}

/// `POST /users` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateUserBody<'a> {
    pub(crate) username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) full_name: Option<&'a str>,
}

/// `POST /users` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedUser {
    /// The Alloy user id (use it as `LinkRequest::user`).
    pub user_id: String,
}
