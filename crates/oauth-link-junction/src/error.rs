//! Junction error bodies -> core [`Error`].

use oauth_link_core::http::{status_error, ErrorBody, HttpResponse};
use oauth_link_core::{adapter::excerpt, Error};

use crate::wire::{Detail, ErrorResponse};

/// Maps a non-2xx answer to the core error.
///
/// - 422 `HTTPValidationError` -> [`Error::InvalidInput`] naming the fields (`loc` joined
///   with `.`), or `request` when `detail` is a string.
/// - `{detail: {error_type, error_message}}` (e.g. the 400 answers) -> `code` and
///   `message`; `{detail: "text"}` -> `message`.
/// - 401/403/404/409/429/others -> [`status_error`].
/// - Bodies that are not JSON -> message = excerpt.
///
/// Every text taken from the body goes through [`excerpt`] (bounded, secret-named fields
/// masked). The [`ApiClient`](oauth_link_core::http::ApiClient) given this mapper removes
/// what the call sent (API key, link token) from the error it returns.
pub(crate) fn map_error(provider: &'static str, response: &HttpResponse) -> Error {
    let clean = |text: &str| excerpt(text.as_bytes());
    let parsed: Option<ErrorResponse> = serde_json::from_slice(&response.body).ok();
    let Some(parsed) = parsed else {
        let message = excerpt(&response.body);
        return status_error(provider, response, ErrorBody { message, code: None });
    };
    let mut body = ErrorBody { message: String::new(), code: parsed.error_type.clone() };
    match parsed.detail {
        Some(Detail::Validation(errors)) if response.status == 422 || response.status == 400 => {
            let mut fields = Vec::new();
            let mut reasons = Vec::new();
            for e in &errors {
                let field: Vec<String> = e
                    .loc
                    .iter()
                    .map(|part| match part {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect();
                let field = if field.is_empty() { "request".to_owned() } else { field.join(".") };
                let kind = e.kind.as_deref().map(|k| format!(" ({k})")).unwrap_or_default();
                reasons.push(format!("{field}: {}{kind}", e.msg));
                fields.push(field);
            }
            if fields.is_empty() {
                fields.push("request".to_owned());
                reasons.push("Junction rejected the request (empty validation error list)".to_owned());
            }
            return Error::invalid_input(provider, clean(&fields.join(",")), clean(&reasons.join("; ")));
        }
        Some(Detail::Text(text)) if response.status == 422 => {
            return Error::invalid_input(provider, "request", clean(&text));
        }
        Some(Detail::Validation(errors)) => {
            body.message = errors.iter().map(|e| e.msg.as_str()).collect::<Vec<_>>().join("; ");
        }
        Some(Detail::Text(text)) => body.message = text,
        Some(Detail::Object(object)) => {
            body.message = object.error_message.unwrap_or_default();
            if object.error_type.is_some() {
                body.code = object.error_type;
            }
        }
        Some(Detail::Other(value)) => body.message = value.to_string(),
        None => body.message = parsed.message.unwrap_or_default(),
    }
    if body.message.is_empty() {
        body.message = excerpt(&response.body);
    }
    body.message = clean(&body.message);
    body.code = body.code.map(|c| clean(&c));
    status_error(provider, response, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KIND;
    use oauth_link_core::http::HttpResponse;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse { status, headers: Default::default(), body: body.as_bytes().to_vec().into() }
    }

    #[test]
    fn validation_errors_name_the_fields() {
        let err = map_error(
            KIND,
            &response(
                422,
                r#"{"detail":[{"loc":["body","user_id"],"msg":"field required","type":"value_error.missing"},
                             {"loc":["path",0],"msg":"bad","type":"x"}]}"#,
            ),
        );
        match err {
            Error::InvalidInput { field, reason, .. } => {
                assert_eq!(field, "body.user_id,path.0");
                assert_eq!(reason, "body.user_id: field required (value_error.missing); path.0: bad (x)");
            }
            other => panic!("{other:?}"),
        }
        let err = map_error(KIND, &response(422, r#"{"detail":"Provider not supported"}"#));
        assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "request"), "{err:?}");
        let err = map_error(KIND, &response(422, r#"{"detail":[]}"#));
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }

    #[test]
    fn detail_objects_give_code_and_message() {
        let err = map_error(
            KIND,
            &response(
                400,
                r#"{"detail":{"error_type":"INVALID_REQUEST","error_message":"Client user id already exists.","user_id":"u"}}"#,
            ),
        );
        assert_eq!(err.to_string(), "junction answered HTTP 400 (INVALID_REQUEST): Client user id already exists.");
    }

    #[test]
    fn statuses_map_to_core_variants() {
        // Secrets a call sent are scrubbed by the client, not here: see
        // tests/errors.rs `errors_never_show_what_the_call_sent`.
        let err = map_error(KIND, &response(401, r#"{"detail":"Invalid API key"}"#));
        assert_eq!(
            err.to_string(),
            "junction rejected the API key: Invalid API key; check the `api_key` setting (OAUTH_LINK_JUNCTION_API_KEY)"
        );
        assert!(matches!(map_error(KIND, &response(403, "{}")), Error::Forbidden { .. }));
        assert!(matches!(map_error(KIND, &response(404, r#"{"detail":"User not found"}"#)), Error::NotFound { .. }));
        assert!(matches!(map_error(KIND, &response(409, r#"{"message":"busy"}"#)), Error::Conflict { .. }));
        assert!(matches!(map_error(KIND, &response(429, "slow")), Error::RateLimited { .. }));
        let err = map_error(KIND, &response(502, "<html>bad gateway</html>"));
        assert_eq!(err.to_string(), "junction answered HTTP 502: <html>bad gateway</html>");
        let err = map_error(KIND, &response(400, r#"{"detail":[{"loc":["x"],"msg":"m"}]}"#));
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
        let err = map_error(KIND, &response(500, r#"{"detail":42}"#));
        assert_eq!(err.to_string(), "junction answered HTTP 500: 42");
    }
}
