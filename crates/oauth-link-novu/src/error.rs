//! Novu error responses to core errors.
//!
//! | Novu answer | core error |
//! |---|---|
//! | 401 `ErrorDto` | `Unauthenticated` |
//! | 403 `ErrorDto` | `Forbidden` |
//! | 404 `ErrorDto` | `NotFound` |
//! | 409 `ErrorDto` | `Conflict` |
//! | 422 `ValidationErrorDto` with `errors` | `InvalidInput` naming every field |
//! | 429 JSON string + `Retry-After` | `RateLimited { retry_after }` |
//! | anything else (400, 405, 413, 5xx, 503 JSON string) | `Provider { status }` |

use oauth_link_core::http::{status_error, ErrorBody, HttpResponse};
use oauth_link_core::secret::{is_secret_field_name, mask_secret_values};
use oauth_link_core::{adapter::excerpt, Error};

use crate::wire::ErrorDto;

/// Maps a non-2xx Novu response to the core error (the client's [`ErrorMapper`]). What it
/// keeps is an [`excerpt`], so any token field is masked; the client removes the API key.
///
/// [`ErrorMapper`]: oauth_link_core::http::ErrorMapper
pub(crate) fn api_error(provider: &'static str, response: &HttpResponse) -> Error {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&response.body).ok();
    let mut message = match &parsed {
        // 429 / 503: a plain JSON string.
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(value @ serde_json::Value::Object(_)) => match serde_json::from_value::<ErrorDto>(value.clone()) {
            Ok(dto) => {
                if response.status == 422 {
                    if let Some(err) = validation_error(provider, &dto) {
                        return err;
                    }
                }
                dto_message(&dto)
            }
            Err(_) => value.to_string(),
        },
        Some(other) => other.to_string(),
        None => excerpt(&response.body),
    };
    if message.trim().is_empty() {
        message = format!("HTTP {} with an empty message", response.status);
    }
    let message = excerpt(message.as_bytes());
    status_error(provider, response, ErrorBody { message, code: None })
}

fn dto_message(dto: &ErrorDto) -> String {
    let mut message = match &dto.message {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => items
            .iter()
            .filter(|v| !v.is_null())
            .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    if message.is_empty() {
        if let Some(path) = &dto.path {
            message = format!("request to {path} failed");
        }
    }
    if let Some(id) = &dto.error_id {
        message.push_str(&format!(" (errorId {id})"));
    }
    message
}

fn validation_error(provider: &'static str, dto: &ErrorDto) -> Option<Error> {
    let errors = dto.errors.as_ref().filter(|e| !e.is_empty())?;
    let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
    let details: Vec<String> = errors
        .iter()
        .map(|(field, c)| {
            if c.messages.is_empty() {
                format!("{field}: invalid")
            } else {
                format!("{field}: {}", c.messages.join(", "))
            }
        })
        .collect();
    let reason = format!("Novu rejected the request (422): {}", details.join("; "));
    let fields = mask_secret_values(&fields.join(", "), is_secret_field_name);
    Some(Error::invalid_input(provider, fields, excerpt(reason.as_bytes())))
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;
    use crate::KIND;

    fn response(status: u16, body: &str, headers: &[(&'static str, &'static str)]) -> HttpResponse {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, http::HeaderValue::from_static(v));
        }
        HttpResponse { status, headers: map, body: body.to_owned().into() }
    }

    fn dto(status: u16, message: &str) -> String {
        format!(r#"{{"statusCode":{status},"timestamp":"2026-01-01T00:00:00Z","path":"/v1/x","message":{message}}}"#)
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let cases: Vec<(u16, String, &str)> = vec![
            (
                400,
                dto(400, r#"["subscriberId must be a string","integrationIdentifier should not be empty"]"#),
                "Provider",
            ),
            (401, dto(401, r#""API Key not found""#), "Unauthenticated"),
            (403, dto(403, r#""Forbidden resource""#), "Forbidden"),
            (404, dto(404, r#""Integration not found""#), "NotFound"),
            (409, dto(409, r#"{"reason":"duplicate"}"#), "Conflict"),
            (429, r#""API rate limit exceeded""#.into(), "RateLimited"),
            (
                500,
                r#"{"statusCode":500,"timestamp":"t","path":"/p","message":null,"errorId":"abc123"}"#.to_string(),
                "Provider",
            ),
            (503, r#""Please wait some time, then try again.""#.into(), "Provider"),
        ];
        for (status, body, variant) in cases {
            let err = api_error(KIND, &response(status, &body, &[("retry-after", "7")]));
            let debug = format!("{err:?}");
            assert!(debug.starts_with(variant), "{status}: {debug}");
            assert_eq!(err.provider(), Some(KIND));
        }
        let err = api_error(KIND, &response(429, r#""API rate limit exceeded""#, &[("retry-after", "7")]));
        assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(7)));
        assert!(err.to_string().contains("API rate limit exceeded"), "{err}");
        let err = api_error(
            KIND,
            &response(500, r#"{"statusCode":500,"timestamp":"t","path":"/p","errorId":"abc123"}"#, &[]),
        );
        assert!(err.to_string().contains("request to /p failed (errorId abc123)"), "{err}");
        let err = api_error(KIND, &response(400, &dto(400, r#"["a must be x",null,3]"#), &[]));
        assert!(err.to_string().ends_with("a must be x; 3"), "{err}");
    }

    #[test]
    fn validation_errors_name_the_fields() {
        let body = r#"{"statusCode":422,"timestamp":"t","path":"/p","message":"Validation Error",
            "errors":{"subscriberId":{"messages":["subscriberId must be a string"],"value":5},
                      "userScope":{"messages":["each value must be a string","must be an array"]}}}"#;
        let err = api_error(KIND, &response(422, body, &[]));
        match &err {
            Error::InvalidInput { field, reason, .. } => {
                assert_eq!(field, "subscriberId, userScope");
                assert!(reason.contains("userScope: each value must be a string, must be an array"), "{reason}");
            }
            other => panic!("expected InvalidInput, got {other:?}"),
        }
        // A 422 without a field map stays a Provider error.
        let err = api_error(KIND, &response(422, &dto(422, r#""nope""#), &[]));
        assert!(matches!(err, Error::Provider { status: 422, .. }), "{err:?}");
    }

    /// The API key an answer echoes is the client's to remove (`tests/secrets.rs`); the
    /// mapper keeps what it read.
    #[test]
    fn unreadable_bodies_keep_an_excerpt() {
        let err = api_error(KIND, &response(502, "<html>bad gateway</html>", &[]));
        assert!(matches!(err, Error::Provider { status: 502, .. }), "{err:?}");
        assert!(err.to_string().contains("<html>bad gateway</html>"), "{err}");
        let err = api_error(KIND, &response(500, r#"{"statusCode":500,"mess"#, &[]));
        assert!(err.to_string().contains(r#"{"statusCode":500,"mess"#), "{err}");
        let err = api_error(KIND, &response(500, "", &[]));
        assert!(err.to_string().contains("(empty)"), "{err}");
        let err = api_error(KIND, &response(400, r#"{"message":"key k-1 is bad","accessToken":"xoxb-9"}"#, &[]));
        assert!(err.to_string().ends_with("key k-1 is bad"), "{err}");
    }

    /// Token fields are masked in whatever the mapper keeps, even from a body cut short.
    #[test]
    fn tokens_are_masked_even_in_truncated_text() {
        let err = api_error(
            KIND,
            &response(502, r#"<p>{"auth":{"accessToken":"xoxb-1\"2","refreshToken" : "r-9"},"a":1}</p>"#, &[]),
        );
        assert!(
            err.to_string()
                .ends_with(r#"<p>{"auth":{"accessToken":"[redacted]","refreshToken" : "[redacted]"},"a":1}</p>"#),
            "{err}"
        );
        let err = api_error(KIND, &response(502, r#"{"auth":{"accessToken":"xoxb-trunc"#, &[]));
        assert!(err.to_string().ends_with(r#"{"auth":{"accessToken":"[redacted]""#), "{err}");
        let err = api_error(KIND, &response(400, &dto(400, r#"{"reason":"dup","refreshToken":"r-9"}"#), &[]));
        assert!(err.to_string().ends_with(r#"{"reason":"dup","refreshToken":"[redacted]"}"#), "{err}");
        let err = api_error(KIND, &response(400, &dto(400, r#""\"accessToken\" is missing""#), &[]));
        assert!(err.to_string().ends_with(r#""accessToken" is missing"#), "{err}");
    }
}
