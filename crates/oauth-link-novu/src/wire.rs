//! Serde types of the Novu API (v1 chat OAuth, channel endpoints, channel connections).
//!
//! Response types accept every documented shape: nullable fields are `Option`, unknown
//! fields are ignored, free-form values stay `serde_json::Value`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use oauth_link_core::secret::AccessToken;
use serde::{Deserialize, Serialize};

/// A context entry: a plain id, or `{id, data?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum ContextValue {
    /// `"org-acme"`.
    Id(String),
    /// `{"id": "org-acme", "data": {...}}`.
    Rich {
        id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<serde_json::Map<String, serde_json::Value>>,
    },
}

impl ContextValue {
    /// The context's id, whichever form carries it.
    pub(crate) fn id(&self) -> &str {
        match self {
            ContextValue::Id(id) | ContextValue::Rich { id, .. } => id,
        }
    }
}

/// `GenerateLinkUserOauthUrlRequestDto` (`POST /v1/integrations/channel-endpoints/oauth`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateUserLinkRequest<'a> {
    pub(crate) subscriber_id: &'a str,
    pub(crate) integration_identifier: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) connection_identifier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) context: Option<&'a BTreeMap<String, ContextValue>>,
    /// Lower-case hex HMAC-SHA256 of `context` (see `canonical.rs`); sent with every context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) context_hash: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_scope: Option<&'a [String]>,
}

/// `GenerateConnectOauthUrlRequestDto` (`POST /v1/integrations/channel-connections/oauth`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateWorkspaceLinkRequest<'a> {
    pub(crate) integration_identifier: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) subscriber_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) connection_identifier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) context: Option<&'a BTreeMap<String, ContextValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) context_hash: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) scope: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) connection_mode: Option<ConnectionMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) auto_link_user: Option<bool>,
}

/// `CreateSubscriberRequestDto` (`POST /v2/subscribers`) with only the id: on an existing
/// subscriber Novu's upsert updates only the fields a request carries, so this one changes
/// nothing (`UpdateSubscriber` sets a field only when it is present).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpsertSubscriberRequest<'a> {
    pub(crate) subscriber_id: &'a str,
}

/// The fields of `IntegrationResponseDto` the catalogue reads (`GET /v1/integrations`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Integration {
    #[serde(default)]
    pub(crate) identifier: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) provider_id: Option<String>,
    #[serde(default)]
    pub(crate) channel: Option<String>,
    #[serde(default)]
    pub(crate) deleted: Option<bool>,
}

/// `GET /v1/integrations` answers an array; Novu's API server wraps it as `{data: [...]}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum IntegrationList {
    /// `{"data": [...]}` (what the server sends).
    Wrapped {
        /// The integrations.
        data: Vec<serde_json::Value>,
    },
    /// `[...]` (what the OpenAPI shows).
    Bare(Vec<serde_json::Value>),
}

impl IntegrationList {
    /// The listed items, whichever shape carried them.
    pub(crate) fn into_items(self) -> Vec<serde_json::Value> {
        match self {
            IntegrationList::Wrapped { data } | IntegrationList::Bare(data) => data,
        }
    }
}

/// Who a workspace connection serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ConnectionMode {
    Subscriber,
    Shared,
}

/// `GenerateChatOAuthUrlResponseDto`. The OpenAPI documents a bare `{url}`; Novu's API
/// server wraps every non-paginated body as `{data: ...}` (its `ResponseInterceptor`), which
/// the official SDKs unwrap. Both shapes are accepted.
/// The URL is borrowed from the body unless it has escapes.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GenerateLinkResponse<'a> {
    #[serde(default, borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<GenerateLinkData<'a>>,
}

/// The inside of the `{data: ...}` envelope.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GenerateLinkData<'a> {
    #[serde(borrow)]
    url: Cow<'a, str>,
}

impl GenerateLinkResponse<'_> {
    /// The link, whichever shape carried it.
    pub(crate) fn url(&self) -> Option<&str> {
        self.url.as_deref().or(self.data.as_ref().map(|d| d.url.as_ref()))
    }
}

/// Unwraps Novu's `{data: {...}}` envelope around a single record; a bare record (with its
/// `identifier` at the top) is returned as it is.
pub(crate) fn unwrap_record(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(mut map)
            if !map.contains_key("identifier") && map.get("data").is_some_and(|d| d.is_object()) =>
        {
            map.remove("data").unwrap_or_default()
        }
        other => other,
    }
}

/// Unwraps Novu's `{data: {...}}` envelope around a subscriber; a bare record (with its
/// `subscriberId` at the top) is returned as it is.
pub(crate) fn unwrap_subscriber(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(mut map)
            if !map.contains_key("subscriberId") && map.get("data").is_some_and(|d| d.is_object()) =>
        {
            map.remove("data").unwrap_or_default()
        }
        other => other,
    }
}

/// The cursor envelope of `GET /v1/channel-endpoints` and `GET /v1/channel-connections`.
/// Records stay raw JSON here; each list decodes them (and strips secrets) itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Page<'a> {
    #[serde(borrow)]
    pub(crate) data: Vec<&'a serde_json::value::RawValue>,
    #[serde(default)]
    pub(crate) next: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) previous: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) total_count: Option<f64>,
}

/// `GetChannelEndpointResponseDto` (the fields the adapter reads).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChannelEndpoint {
    pub(crate) identifier: String,
    #[serde(default)]
    pub(crate) provider_id: Option<String>,
    #[serde(default)]
    pub(crate) integration_identifier: Option<String>,
    /// An endpoint's channel connection (its workspace), when it has one.
    #[serde(default)]
    pub(crate) connection_identifier: Option<String>,
    #[serde(default)]
    pub(crate) subscriber_id: Option<String>,
    /// `type:id` of each context the record belongs to.
    #[serde(default, deserialize_with = "nullable_list")]
    pub(crate) context_keys: Vec<String>,
    #[serde(default)]
    pub(crate) created_at: Option<String>,
    #[serde(default)]
    pub(crate) updated_at: Option<String>,
    /// A channel connection's token lifetimes (never the tokens); `None` for endpoints.
    #[serde(skip)]
    pub(crate) auth: Option<AuthLifetime>,
}

/// What a channel connection's `auth` says about how long it works, without its tokens:
/// whether it holds a refresh token, `expiresAt` and `refreshTokenExpiresAt` (rotating Slack
/// and Webex tokens; legacy long-lived tokens have neither).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AuthLifetime {
    pub(crate) refreshable: bool,
    pub(crate) expires_at: Option<String>,
    pub(crate) refresh_token_expires_at: Option<String>,
}

/// A list that may be `null`.
fn nullable_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// `GetChannelConnectionResponseDto` (the fields the adapter reads). `auth` holds the
/// workspace token: it is read into [`AccessToken`] (so `Debug` redacts it) and never kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ChannelConnection {
    pub(crate) identifier: String,
    #[serde(default)]
    pub(crate) provider_id: Option<String>,
    #[serde(default)]
    pub(crate) integration_identifier: Option<String>,
    #[serde(default)]
    pub(crate) subscriber_id: Option<String>,
    #[serde(default, deserialize_with = "nullable_list")]
    pub(crate) context_keys: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) workspace: Option<Workspace>,
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) auth: Option<ConnectionAuth>,
    #[serde(default)]
    pub(crate) created_at: Option<String>,
    #[serde(default)]
    pub(crate) updated_at: Option<String>,
}

impl ChannelConnection {
    /// The fields shared with endpoints; of `auth` only the lifetimes are kept.
    pub(crate) fn into_fields(self) -> ChannelEndpoint {
        let auth = self.auth.map(|a| AuthLifetime {
            refreshable: a.refresh_token.is_some(),
            expires_at: a.expires_at,
            refresh_token_expires_at: a.refresh_token_expires_at,
        });
        ChannelEndpoint {
            identifier: self.identifier,
            provider_id: self.provider_id,
            integration_identifier: self.integration_identifier,
            connection_identifier: None,
            subscriber_id: self.subscriber_id,
            context_keys: self.context_keys,
            created_at: self.created_at,
            updated_at: self.updated_at,
            auth,
        }
    }
}

/// A channel connection's workspace (Slack team, MS Teams tenant).
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)]
pub(crate) struct Workspace {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
}

/// A channel connection's `auth`: the tokens are secrets, held so `Debug` redacts them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct ConnectionAuth {
    pub(crate) access_token: AccessToken,
    #[serde(default)]
    pub(crate) refresh_token: Option<AccessToken>,
    #[serde(default)]
    pub(crate) expires_at: Option<String>,
    #[serde(default)]
    pub(crate) refresh_token_expires_at: Option<String>,
}

/// `ErrorDto` / `ValidationErrorDto`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorDto {
    #[serde(default)]
    #[allow(dead_code)]
    pub(crate) status_code: Option<f64>,
    #[serde(default)]
    pub(crate) path: Option<String>,
    /// string | number | bool | object | array | null.
    #[serde(default)]
    pub(crate) message: serde_json::Value,
    #[serde(default)]
    pub(crate) error_id: Option<String>,
    /// 422 only: field name -> constraint messages.
    #[serde(default)]
    pub(crate) errors: Option<BTreeMap<String, ConstraintValidation>>,
}

/// `ConstraintValidation`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ConstraintValidation {
    #[serde(default)]
    pub(crate) messages: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_url_in_either_shape_with_or_without_escapes() {
        for body in [
            r#"{"url":"https://slack.com/oauth?a=1&b=2"}"#,
            r#"{"data":{"url":"https://slack.com/oauth?a=1&b=2"}}"#,
            r#"{"url":"https:\/\/slack.com\/oauth?a=1\u0026b=2"}"#,
            r#"{"data":{"url":"https:\/\/slack.com\/oauth?a=1\u0026b=2"}}"#,
        ] {
            let decoded: GenerateLinkResponse = serde_json::from_str(body).unwrap();
            assert_eq!(decoded.url(), Some("https://slack.com/oauth?a=1&b=2"), "{body}");
        }
        let neither: GenerateLinkResponse = serde_json::from_str(r#"{"data":null}"#).unwrap();
        assert_eq!(neither.url(), None);
    }

    #[test]
    fn context_accepts_both_shapes() {
        let v: BTreeMap<String, ContextValue> =
            serde_json::from_str(r#"{"tenant":"acme","org":{"id":"o1","data":{"name":"Acme"}},"x":{"id":"i"}}"#)
                .unwrap();
        assert_eq!(v["tenant"], ContextValue::Id("acme".into()));
        assert!(matches!(&v["org"], ContextValue::Rich { id, data: Some(d) } if id == "o1" && d["name"] == "Acme"));
        assert_eq!(serde_json::to_string(&v["x"]).unwrap(), r#"{"id":"i"}"#);
    }

    #[test]
    fn endpoint_accepts_nulls_and_extra_fields() {
        let e: ChannelEndpoint = serde_json::from_value(serde_json::json!({
            "identifier": "ep_1", "channel": null, "providerId": null, "integrationIdentifier": null,
            "connectionIdentifier": null, "subscriberId": null, "contextKeys": [], "type": "slack_user",
            "endpoint": {"userId": "U1"}, "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z",
            "somethingNew": 1
        }))
        .unwrap();
        assert_eq!(e.identifier, "ep_1");
        assert!(e.integration_identifier.is_none());
    }

    #[test]
    fn connection_auth_debug_is_redacted() {
        let c: ChannelConnection = serde_json::from_value(serde_json::json!({
            "identifier": "conn_1", "channel": "chat", "providerId": "slack", "integrationIdentifier": "slack-main",
            "subscriberId": null, "contextKeys": [], "workspace": {"id": "T1", "name": "Acme"},
            "auth": {"accessToken": "xoxb-very-secret", "refreshToken": "xoxe-very-secret"},
            "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:00.000Z"
        }))
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("very-secret") && printed.contains("AccessToken([redacted])"), "{printed}");
        assert_eq!(c.auth.as_ref().map(|a| a.access_token.expose()), Some("xoxb-very-secret"));
        assert_eq!(c.into_fields().identifier, "conn_1");
    }

    #[test]
    fn error_dto_message_is_free_form() {
        for m in [r#""text""#, "3", "true", r#"{"a":1}"#, r#"["a",null,2]"#, "null"] {
            let body = format!(r#"{{"statusCode":400,"timestamp":"t","path":"/p","message":{m}}}"#);
            serde_json::from_str::<ErrorDto>(&body).unwrap();
        }
    }
}
