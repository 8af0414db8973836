//! RFC 9457 problem details: every error the router answers.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use oauth_link_core::{Error, ErrorClass};
use serde::Serialize;

/// Prefix of every problem `type`: `urn:oauth-link:problem:<code>`.
pub const PROBLEM_TYPE_PREFIX: &str = "urn:oauth-link:problem:";

/// The media type of problem bodies.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem: what the router answers (as `application/problem+json`) for every
/// error, and what a failure redirect summarises as `error=<class>&code=<code>`.
///
/// `type` is `urn:oauth-link:problem:<code>`, stable per code; the codes and their
/// statuses are:
///
/// | code | status | class | when |
/// |---|---|---|---|
/// | `invalid-input` | 400 | caller | a bad target, parameter, id or form field |
/// | `state-missing` | 400 | caller | no link in progress in this browser for this provider |
/// | `state-invalid` | 400 | caller | a forged, tampered, foreign or unreadable state or link cookie |
/// | `state-expired` | 400 | caller | the link's state is too old |
/// | `unsupported` | 400 | caller | the platform cannot do that (e.g. disconnect) |
/// | `unauthenticated` | 401 | caller | nobody is signed in (the app's [`UserSource`](crate::UserSource) said so) |
/// | `webhook-rejected` | 401 | caller | a webhook delivery without valid signature headers, with no matching signature, or signed outside the timestamp tolerance |
/// | `denied` | 403 | rejected | the user refused consent, or the platform reported the link failed |
/// | `state-user-mismatch` | 403 | caller | the link was started by another user of this browser |
/// | `cross-site-request` | 403 | caller | a POST or DELETE from another site |
/// | `unknown-provider` | 404 | caller | the path names no provider this router serves |
/// | `not-found` | 404 | rejected | no such connection for this user, or no such route |
/// | `method-not-allowed` | 405 | caller | wrong HTTP method for the route |
/// | `state-replayed` | 409 | caller | the link was already completed |
/// | `conflict` | 409 | rejected | the platform reported a conflict |
/// | `rate-limited` | 429 | transient | the platform throttled the app (`Retry-After` is passed on) |
/// | `configuration` | 500 | caller | the app or provider is misconfigured |
/// | `platform-rejected` | 502 | rejected | the platform refused the app's credentials or request |
/// | `platform-error` | 502 | transient | the platform failed or answered something unreadable |
/// | `pending` | 503 | transient | the platform has not confirmed the connection yet; retry the callback |
/// | `unavailable` | 503 | transient | the platform or the replay guard could not be reached |
///
/// `detail` is the error's message: oauth-link messages never carry a secret, and the
/// router's own never name a state, cookie or key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A short summary, the same for every occurrence of the code.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened and what to do.
    pub detail: String,
    /// The stable code (the last segment of `type`).
    pub code: &'static str,
    /// `caller`, `rejected` or `transient` (see [`ErrorClass`]).
    pub class: &'static str,
    /// The provider kind, when one is involved.
    pub provider: Option<&'static str>,
    /// Seconds to wait before retrying, when the platform said.
    pub retry_after: Option<u64>,
}

/// The JSON form: `type` first, then the RFC 9457 members, then the extensions.
#[derive(Serialize)]
struct ProblemJson<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    class: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ProblemJson {
            type_uri: self.type_uri(),
            title: self.title,
            status: self.status,
            detail: &self.detail,
            code: self.code,
            class: self.class,
            provider: self.provider,
            retry_after: self.retry_after,
        }
        .serialize(serializer)
    }
}

/// `(code, status, title)` of each router-level problem.
const TABLE: &[(&str, u16, &str)] = &[
    ("invalid-input", 400, "Invalid input"),
    ("state-missing", 400, "No link in progress"),
    ("state-invalid", 400, "Link state rejected"),
    ("state-expired", 400, "Link expired"),
    ("unsupported", 400, "Not supported by this platform"),
    ("unauthenticated", 401, "Not signed in"),
    ("webhook-rejected", 401, "Webhook delivery refused"),
    ("denied", 403, "Consent not given"),
    ("state-user-mismatch", 403, "Link started by another user"),
    ("cross-site-request", 403, "Cross-site request refused"),
    ("unknown-provider", 404, "Unknown provider"),
    ("not-found", 404, "Not found"),
    ("method-not-allowed", 405, "Method not allowed"),
    ("state-replayed", 409, "Link already completed"),
    ("conflict", 409, "Conflict"),
    ("rate-limited", 429, "Rate limited"),
    ("configuration", 500, "Configuration error"),
    ("platform-rejected", 502, "Platform rejected the request"),
    ("platform-error", 502, "Platform error"),
    ("pending", 503, "Connection not confirmed yet"),
    ("unavailable", 503, "Temporarily unavailable"),
];

/// Every problem code the router answers with.
pub fn problem_codes() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(code, _, _)| *code)
}

fn class_name(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::Caller => "caller",
        ErrorClass::Rejected => "rejected",
        ErrorClass::Transient => "transient",
    }
}

impl Problem {
    /// A problem of `code` (one of [`problem_codes`]; anything else becomes `platform-error`).
    pub fn new(code: &'static str, class: ErrorClass, detail: impl Into<String>) -> Self {
        let (code, status, title) =
            TABLE.iter().copied().find(|(c, _, _)| *c == code).unwrap_or(("platform-error", 502, "Platform error"));
        Self { title, status, detail: detail.into(), code, class: class_name(class), provider: None, retry_after: None }
    }

    /// Names the provider involved.
    pub fn with_provider(mut self, provider: &'static str) -> Self {
        self.provider = Some(provider);
        self
    }

    /// `urn:oauth-link:problem:<code>`, the `type` member.
    pub fn type_uri(&self) -> String {
        format!("{PROBLEM_TYPE_PREFIX}{}", self.code)
    }

    /// The problem an oauth-link [`Error`] means.
    pub fn from_error(err: &Error) -> Self {
        let code = match err {
            Error::InvalidInput { .. } => "invalid-input",
            Error::Config { .. } | Error::UnknownProvider { .. } | Error::ProviderNotCompiled { .. } => "configuration",
            Error::Unauthenticated { .. } | Error::Forbidden { .. } => "platform-rejected",
            Error::NotFound { .. } => "not-found",
            Error::Conflict { .. } => "conflict",
            Error::RateLimited { .. } => "rate-limited",
            Error::Denied { .. } => "denied",
            Error::StateInvalid { .. } => "state-invalid",
            Error::StateExpired { .. } => "state-expired",
            Error::StateReplayed { .. } => "state-replayed",
            Error::ReplayGuard { .. } | Error::Transport { .. } => "unavailable",
            Error::Pending { .. } => "pending",
            Error::Unsupported { .. } => "unsupported",
            Error::WebhookRejected { .. } => "webhook-rejected",
            Error::Provider { .. } if err.class() == ErrorClass::Rejected => "platform-rejected",
            _ => "platform-error",
        };
        let mut problem = Self::new(code, err.class(), err.to_string());
        problem.provider = err.provider();
        problem.retry_after = err.retry_after().map(|d| d.as_secs().max(1));
        problem
    }

    /// The HTTP status.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_GATEWAY)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (self.status_code(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn every_error_has_a_tabled_code_and_status() {
        let errors = [
            Error::invalid_input("novu", "target", "bad"),
            Error::config("api_key", "missing"),
            Error::Unauthenticated { provider: "novu", message: "bad key".into() },
            Error::NotFound { provider: "novu", message: "x".into() },
            Error::RateLimited { provider: "novu", retry_after: Some(Duration::from_secs(7)), message: "slow".into() },
            Error::StateReplayed { provider: "novu" },
            Error::Pending { provider: "novu", message: "later".into() },
            Error::Provider { provider: "novu", status: 500, code: None, message: "boom".into() },
            Error::Provider { provider: "novu", status: 422, code: None, message: "no".into() },
        ];
        let got: Vec<(&str, u16)> = errors.iter().map(Problem::from_error).map(|p| (p.code, p.status)).collect();
        assert_eq!(
            got,
            [
                ("invalid-input", 400),
                ("configuration", 500),
                ("platform-rejected", 502),
                ("not-found", 404),
                ("rate-limited", 429),
                ("state-replayed", 409),
                ("pending", 503),
                ("platform-error", 502),
                ("platform-rejected", 502),
            ]
        );
        let limited = Problem::from_error(&errors[4]).into_response();
        assert_eq!(limited.headers()[header::RETRY_AFTER], "7");
        assert_eq!(limited.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(problem_codes().count(), TABLE.len());
    }
}
