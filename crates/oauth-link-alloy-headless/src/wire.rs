//! Serde types of the Alloy Embedded (headless) API, accepting every documented shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /headless/oauthUrl` answer: flat `{oauthUrl}` (OpenAPI) or `{data:{oauthUrl}}`
/// (headless guide, Node SDK).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OauthUrlResponse {
    Flat {
        #[serde(rename = "oauthUrl")]
        oauth_url: String,
    },
    Wrapped {
        data: OauthUrlData,
    },
}

#[derive(Debug, Deserialize)]
pub(crate) struct OauthUrlData {
    #[serde(rename = "oauthUrl")]
    pub(crate) oauth_url: String,
}

impl OauthUrlResponse {
    pub(crate) fn into_url(self) -> String {
        match self {
            OauthUrlResponse::Flat { oauth_url } | OauthUrlResponse::Wrapped { data: OauthUrlData { oauth_url } } => {
                oauth_url
            }
        }
    }
}

/// One app's credential metadata (`GET /metadata/credentials/{app}`, items of
/// `GET /metadata/credentials`). The app name is `connector` (2025-09) or `name` (guide,
/// 2024-03).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RawCredentialMetadata")]
pub struct CredentialMetadata {
    /// The app (connector) name, from `connector` or `name` (`connector` wins when a body
    /// carries both).
    pub connector: String,
    /// The name to show, when Alloy gives one beside the id (`name` next to `connector`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Icon URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// True when the app connects through OAuth (`/headless/oauthUrl`); false when its
    /// credential is created with [`create_credential`](crate::AlloyHeadlessProvider::create_credential).
    pub is_oauth: bool,
    /// Fields the user must supply (extra query parameters for OAuth apps, credential data
    /// for the others).
    #[serde(default)]
    pub properties: Vec<CredentialProperty>,
}

/// The wire form: either name key, or both.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCredentialMetadata {
    #[serde(default)]
    connector: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    icon: Option<String>,
    is_oauth: bool,
    #[serde(default)]
    properties: Vec<CredentialProperty>,
}

impl TryFrom<RawCredentialMetadata> for CredentialMetadata {
    type Error = &'static str;

    fn try_from(raw: RawCredentialMetadata) -> Result<Self, Self::Error> {
        let (connector, display_name) = match (raw.connector, raw.name) {
            (Some(connector), name) => (connector, raw.display_name.or(name)),
            (None, Some(name)) => (name, raw.display_name),
            (None, None) => return Err("credential metadata has neither `connector` nor `name`"),
        };
        let display_name = display_name.filter(|n| !n.trim().is_empty() && *n != connector);
        Ok(Self { connector, display_name, icon: raw.icon, is_oauth: raw.is_oauth, properties: raw.properties })
    }
}

/// One field an app's credential needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialProperty {
    /// The parameter name (e.g. `shopSubdomain`).
    pub name: String,
    /// The label to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Help text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `{data: T}` or a bare `T`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Data<T> {
    Wrapped { data: T },
    Bare(T),
}

impl<T> Data<T> {
    pub(crate) fn into_inner(self) -> T {
        match self {
            Data::Wrapped { data } | Data::Bare(data) => data,
        }
    }
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

/// One integration of `GET /integrations?userId=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// Integration id.
    pub integration_id: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The main app (`primaryConnector` in 2025-09, `app` in 2024-03).
    #[serde(default, alias = "app", skip_serializing_if = "Option::is_none")]
    pub primary_connector: Option<String>,
    /// Whether the user installed it.
    #[serde(default)]
    pub installed: bool,
    /// Icon URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Its workflows, as Alloy sent them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflows: Vec<Value>,
    /// Credential ids in use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<String>,
}

/// `POST /headless/credentials` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateCredentialBody<'a> {
    pub(crate) user_id: &'a str,
    pub(crate) credential: NewCredential<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct NewCredential<'a> {
    #[serde(rename = "type")]
    pub(crate) kind: &'a str,
    pub(crate) data: &'a BTreeMap<String, String>,
}

/// `POST /headless/credentials` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedCredential {
    /// Alloy's success flag.
    #[serde(default)]
    pub success: bool,
    /// The new credential's id.
    pub credential_id: String,
}

/// `POST /headless/startInstallation` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartInstallation {
    /// The Alloy user.
    pub user_id: String,
    /// The integration to install.
    pub integration_id: String,
    /// Credentials to use (optional when the user has one per app).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_ids: Option<Vec<String>>,
    /// Only these workflows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_ids: Option<Vec<String>>,
}

/// `POST /headless/startInstallation` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Installation {
    /// Pass it to [`complete_installation`](crate::AlloyHeadlessProvider::complete_installation).
    pub installation_id: String,
    /// The fields the user must fill, per workflow block.
    #[serde(default)]
    pub data: Vec<InstallationBlock>,
}

/// One workflow block that needs user input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallationBlock {
    /// Workflow id.
    pub workflow_id: String,
    /// The app of the block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Block id.
    pub block_id: String,
    /// Fields to show.
    #[serde(default)]
    pub fields: Vec<InstallationField>,
}

/// One field to fill during installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallationField {
    /// Field name.
    pub name: String,
    /// Label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Data type (`string`...).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether it must be filled.
    #[serde(default)]
    pub required: bool,
    /// Allowed values, when Alloy lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Value>,
}

/// One block's answers for `POST /headless/completeInstallation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstallationInput {
    /// Workflow id.
    pub workflow_id: String,
    /// Block id.
    pub block_id: String,
    /// The values.
    pub fields: Vec<FieldValue>,
}

/// A field name and the user's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldValue {
    /// Field name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// `POST /headless/completeInstallation` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CompleteInstallationBody<'a> {
    pub(crate) installation_id: &'a str,
    pub(crate) data: &'a [InstallationInput],
}

/// `POST /headless/completeInstallation` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletedInstallation {
    /// Alloy's message (`Installation completed successfully`).
    #[serde(default)]
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_accepts_connector_name_or_both() {
        for body in [
            r#"{"connector":"slack","isOauth":true}"#,
            r#"{"name":"slack","isOauth":true}"#,
            r#"{"connector":"slack","name":"Slack","isOauth":true,"properties":[]}"#,
        ] {
            let m: CredentialMetadata = serde_json::from_str(body).unwrap();
            assert_eq!(m.connector, "slack", "{body}");
            // Serialized and read back unchanged.
            let again: CredentialMetadata = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
            assert_eq!(again, m);
        }
        let both: CredentialMetadata =
            serde_json::from_str(r#"{"connector":"googleSheets","name":"Google Sheets","isOauth":true}"#).unwrap();
        assert_eq!(both.display_name.as_deref(), Some("Google Sheets"));
        let err = serde_json::from_str::<CredentialMetadata>(r#"{"isOauth":true}"#).unwrap_err();
        assert!(err.to_string().contains("neither `connector` nor `name`"), "{err}");
    }

    #[test]
    fn both_oauth_url_shapes_parse() {
        let flat: OauthUrlResponse = serde_json::from_str(r#"{"oauthUrl":"https://a/x"}"#).unwrap();
        let wrapped: OauthUrlResponse = serde_json::from_str(r#"{"data":{"oauthUrl":"https://a/y"}}"#).unwrap();
        assert_eq!((flat.into_url(), wrapped.into_url()), ("https://a/x".into(), "https://a/y".into()));
        assert!(serde_json::from_str::<OauthUrlResponse>(r#"{"data":{}}"#).is_err());
    }

    #[test]
    fn metadata_accepts_connector_or_name() {
        for body in [
            r#"{"data":{"connector":"shopify","isOauth":true,"properties":[{"name":"shopSubdomain"}]}}"#,
            r#"{"data":{"name":"shopify","isOauth":true,"properties":[{"name":"shopSubdomain"}]}}"#,
            r#"{"name":"shopify","isOauth":true,"properties":[{"name":"shopSubdomain"}]}"#,
        ] {
            let m = serde_json::from_str::<Data<CredentialMetadata>>(body).unwrap().into_inner();
            assert_eq!((m.connector.as_str(), m.is_oauth, m.properties.len()), ("shopify", true, 1), "{body}");
        }
    }
}
