//! serde types of the Junction API (only the fields the adapter reads; unknown fields are
//! ignored, nullable fields are `Option`).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// `POST /v2/user` body (`UserCreateBody`).
#[derive(Debug, Serialize)]
pub(crate) struct UserCreateBody<'a> {
    pub(crate) client_user_id: &'a str,
}

/// `ClientFacingUser` (answer of `POST /v2/user` and `GET /v2/user/resolve/{id}`).
#[derive(Debug, Deserialize)]
pub(crate) struct ClientFacingUser {
    pub(crate) user_id: String,
    /// The app's id for the user (read by the webhook user mapping).
    #[serde(default)]
    pub(crate) client_user_id: Option<String>,
}

/// `POST /v2/link/token` body (`LinkTokenExchange`).
#[derive(Debug, Serialize)]
pub(crate) struct LinkTokenExchange<'a> {
    pub(crate) user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) provider: Option<&'a str>,
    pub(crate) redirect_url: &'a str,
    /// Always [`REDIRECT`]: the widget's Close button sends the browser back to
    /// `redirect_url` with `state=error&error_type=user_cancelled`.
    pub(crate) on_close: &'static str,
    /// Always [`REDIRECT`]: a failed password/email form sends the browser back with
    /// `state=error&error_type=..&error=..` (OAuth providers always redirect).
    pub(crate) on_error: &'static str,
}

/// The only value `on_close` / `on_error` take (`const "redirect"`).
pub(crate) const REDIRECT: &str = "redirect";

/// `LinkTokenExchangeResponse`.
#[derive(Deserialize)]
pub(crate) struct LinkTokenExchangeResponse {
    pub(crate) link_token: String,
    pub(crate) link_web_url: String,
}

/// `Source` (answer of `GET /v2/link/provider/oauth/{provider}`).
#[derive(Debug, Deserialize)]
pub(crate) struct Source {
    #[serde(default)]
    pub(crate) oauth_url: Option<String>,
}

/// One `SourceLink` of `GET /v2/link/providers` (a bare array). Only what a target needs;
/// every field is lenient so one odd entry cannot hide the others.
#[derive(Debug, Deserialize)]
pub(crate) struct SourceLink {
    #[serde(default)]
    pub(crate) slug: Option<String>,
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) logo: Option<String>,
    /// Absent or null: the schema's default, `oauth`.
    #[serde(default)]
    pub(crate) auth_type: Option<String>,
}

/// Answer of `GET /v2/user/providers/{user_id}`.
#[derive(Debug, Deserialize)]
pub(crate) struct ProvidersResponse {
    pub(crate) providers: Vec<Box<serde_json::value::RawValue>>,
}

/// `ClientFacingProviderWithStatus` (read from the raw record so `raw` keeps every field).
#[derive(Debug, Deserialize)]
pub(crate) struct ProviderWithStatus {
    pub(crate) slug: String,
    #[serde(default, deserialize_with = "lenient_datetime")]
    pub(crate) created_on: Option<DateTime<Utc>>,
    #[serde(default)]
    pub(crate) status: Option<String>,
    #[serde(default)]
    pub(crate) error_details: Option<ConnectionErrorDetails>,
}

/// `ClientFacingConnectionErrorDetails`.
#[derive(Debug, Deserialize)]
pub(crate) struct ConnectionErrorDetails {
    #[serde(default)]
    pub(crate) error_type: Option<String>,
    #[serde(default)]
    pub(crate) error_message: Option<String>,
    #[serde(default, deserialize_with = "lenient_datetime")]
    pub(crate) errored_at: Option<DateTime<Utc>>,
}

/// `UserSuccessResponse`.
#[derive(Debug, Deserialize)]
pub(crate) struct SuccessResponse {
    pub(crate) success: bool,
}

/// Any error body: FastAPI's `{detail}` where `detail` is a string, a list of
/// `ValidationError`s or an object (`ClientUserIDConflictResponse`).
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorResponse {
    #[serde(default)]
    pub(crate) detail: Option<Detail>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) error_type: Option<String>,
}

/// The `detail` of an error body.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Detail {
    Text(String),
    Validation(Vec<ValidationError>),
    Object(DetailObject),
    Other(serde_json::Value),
}

/// `ValidationError`.
#[derive(Debug, Deserialize)]
pub(crate) struct ValidationError {
    #[serde(default)]
    pub(crate) loc: Vec<serde_json::Value>,
    #[serde(default)]
    pub(crate) msg: String,
    #[serde(default, rename = "type")]
    pub(crate) kind: Option<String>,
}

/// `{error_type, error_message, user_id?, created_on?}`.
#[derive(Debug, Deserialize)]
pub(crate) struct DetailObject {
    #[serde(default)]
    pub(crate) error_type: Option<String>,
    #[serde(default)]
    pub(crate) error_message: Option<String>,
    #[serde(default)]
    pub(crate) user_id: Option<String>,
}

/// Accepts RFC 3339 and offset-less ISO datetimes (read as UTC); anything else is `None`.
pub(crate) fn lenient_datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    Ok(text.as_deref().and_then(parse_datetime))
}

pub(crate) fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_with_and_without_offset() {
        assert_eq!(parse_datetime("2026-01-02T03:04:05+00:00").unwrap().to_rfc3339(), "2026-01-02T03:04:05+00:00");
        assert_eq!(parse_datetime("2026-01-02T03:04:05.5").unwrap().to_rfc3339(), "2026-01-02T03:04:05.500+00:00");
        assert!(parse_datetime("yesterday").is_none());
    }

    #[test]
    fn every_detail_shape() {
        let parse = |s: &str| serde_json::from_str::<ErrorResponse>(s).unwrap().detail;
        assert!(matches!(parse(r#"{"detail":"nope"}"#), Some(Detail::Text(_))));
        assert!(matches!(parse(r#"{"detail":[{"loc":["body","user_id"],"msg":"m","type":"t"}]}"#),
            Some(Detail::Validation(v)) if v.len() == 1));
        assert!(matches!(parse(r#"{"detail":{"error_type":"INVALID_REQUEST","user_id":"u"}}"#),
            Some(Detail::Object(o)) if o.user_id.as_deref() == Some("u")));
        assert!(matches!(parse(r#"{"detail":42}"#), Some(Detail::Other(_))));
        assert!(parse(r#"{}"#).is_none());
    }
}
