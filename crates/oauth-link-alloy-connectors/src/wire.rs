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

/// One connector of `GET /connectors`. Alloy's quick start says to show its name and logo
/// and to pass its `id` as `connectorId`; the exact field names are unconfirmed, so the
/// usual spellings are all read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connector {
    /// The connector id (`id`, or `connectorId`).
    #[serde(alias = "connectorId")]
    pub id: String,
    /// The name to show (`name`, `displayName` or `title`).
    #[serde(default, alias = "displayName", alias = "title", skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Logo URL (`icon`, `logo`, `logoUrl` or `iconUrl`).
    #[serde(default, alias = "logo", alias = "logoUrl", alias = "iconUrl", skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// Authentication types, when listed (`oauth2`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_types: Option<Vec<String>>,
}

/// `GET /connectors` answer: `{connectors:[...]}`, `{data:[...]}` or a bare array.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ConnectorList {
    Named { connectors: Vec<Connector> },
    Data { data: Vec<Connector> },
    Bare(Vec<Connector>),
}

impl ConnectorList {
    pub(crate) fn into_connectors(self) -> Vec<Connector> {
        match self {
            ConnectorList::Named { connectors }
            | ConnectorList::Data { data: connectors }
            | ConnectorList::Bare(connectors) => connectors,
        }
    }
}

impl ConnectorCredentialMetadata {
    /// True for the OAuth 2 authentication type.
    pub fn is_oauth(&self) -> bool {
        self.authentication_type.eq_ignore_ascii_case("oauth2")
    }

    /// The connector's own fields (`inputSchema.properties.data`): name, label (`title`)
    /// and whether the schema requires it.
    pub fn data_fields(&self) -> Vec<(String, Option<String>, bool)> {
        let data = &self.input_schema["properties"]["data"];
        let required: Vec<&str> =
            data["required"].as_array().map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        data["properties"]
            .as_object()
            .map(|fields| {
                fields
                    .iter()
                    .map(|(name, schema)| {
                        let label = schema["title"].as_str().map(str::to_owned);
                        (name.clone(), label, required.contains(&name.as_str()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_lists_read_every_shape() {
        for body in [
            r#"{"connectors":[{"id":"slack","name":"Slack","icon":"https://x/s.png"}]}"#,
            r#"{"data":[{"connectorId":"slack","displayName":"Slack","logoUrl":"https://x/s.png"}]}"#,
            r#"[{"id":"slack","title":"Slack","logo":"https://x/s.png","authenticationTypes":["oauth2"]}]"#,
        ] {
            let list = serde_json::from_str::<ConnectorList>(body).unwrap().into_connectors();
            assert_eq!(list[0].id, "slack", "{body}");
            assert_eq!(list[0].name.as_deref(), Some("Slack"), "{body}");
            assert_eq!(list[0].icon.as_deref(), Some("https://x/s.png"), "{body}");
        }
        assert!(serde_json::from_str::<ConnectorList>(r#"{"connectors":{}}"#).is_err());
    }

    #[test]
    fn metadata_lists_the_connector_fields() {
        let m: ConnectorCredentialMetadata = serde_json::from_value(serde_json::json!({
            "authenticationType": "oauth2",
            "inputSchema": {"required": ["userId"], "properties": {"data": {"required": ["shopSubdomain"],
                "properties": {"shopSubdomain": {"type": "string", "title": "Shop"}, "region": {"type": "string"}}}}}
        }))
        .unwrap();
        assert!(m.is_oauth());
        assert_eq!(
            m.data_fields(),
            vec![("region".to_owned(), None, false), ("shopSubdomain".to_owned(), Some("Shop".to_owned()), true)]
        );
    }
}
