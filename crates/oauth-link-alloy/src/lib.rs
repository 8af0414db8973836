#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![doc = include_str!("../docs.md")]

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use oauth_link_core::http::{secret_header, status_error, ApiClient, ErrorBody, HttpResponse, Reply};
use oauth_link_core::{
    adapter::{excerpt, scan_record, CommonConfig, RawRecord},
    ApiKey, Error, LinkContext, Result,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use url::Url;

mod confirm;
mod users;

pub use confirm::{check_deleted, join2, latest, Watermark, ALLOY_USER_CLAIM, WATERMARK_CLAIM};
pub use users::{AlloyUser, AlloyUsers, UserIdMode, MAX_CREATE_ATTEMPTS, USER_ID_MODE_KEY};

/// The Alloy API server (2025-09 OpenAPI). The headless guide's examples use
/// `https://embedded.runalloy.com`; set `base_url` to use it.
pub const DEFAULT_BASE_URL: &str = "https://production.runalloy.com";

/// The API version sent in `x-api-version` unless configured otherwise.
pub const DEFAULT_API_VERSION: &str = "2025-09";

/// The header carrying the API version.
pub const API_VERSION_HEADER: &str = "x-api-version";

/// The Connectivity API header naming the user a call acts for.
pub const USER_ID_HEADER: &str = "x-alloy-userid";

/// How far before the link's issue time a credential may have been created and still count
/// as the one the link produced (clock differences between Alloy and the app).
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Longest excerpt of an error body kept in a message, in characters.
pub const ERROR_EXCERPT_CHARS: usize = 120;

/// The base URL to use: the configured override, else [`DEFAULT_BASE_URL`].
pub fn base_url(common: &CommonConfig) -> Url {
    common.base_url.clone().unwrap_or_else(|| Url::parse(DEFAULT_BASE_URL).expect("static URL"))
}

/// The headers every Alloy call carries: `Authorization: bearer <key>` (sensitive) and
/// `x-api-version`.
///
/// Fails with [`Error::Config`] when the key or version cannot travel in a header.
pub fn default_headers(api_key: &ApiKey, api_version: &str) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, secret_header(&format!("bearer {}", api_key.expose()))?);
    headers.insert(API_VERSION_HEADER, api_version_value(api_version)?);
    Ok(headers)
}

fn api_version_value(api_version: &str) -> Result<HeaderValue> {
    let bad = api_version.trim().is_empty() || api_version.chars().any(|c| c.is_control() || c.is_whitespace());
    match HeaderValue::from_str(api_version) {
        Ok(v) if !bad => Ok(v),
        _ => Err(Error::config("api_version", "api_version must be a version like `2025-09` (no spaces)")),
    }
}

/// Checks an `api_version` setting (for config parsing).
pub fn check_api_version(api_version: &str) -> Result<()> {
    api_version_value(api_version).map(|_| ())
}

/// The client of one Alloy adapter (`kind`): its base URL ([`base_url`]), the
/// [`default_headers`], the transport from `ctx` (or one built from `common`'s timeouts),
/// `common`'s retry policy, and [`api_error`] for every answer that is not 2xx. The client
/// removes the API key from every error it returns.
pub fn api_client(
    kind: &'static str,
    common: &CommonConfig,
    api_key: &ApiKey,
    api_version: &str,
    ctx: &LinkContext,
) -> Result<ApiClient> {
    let headers = default_headers(api_key, api_version)?;
    let transport = ctx.transport(&(&common.http).into())?;
    Ok(ApiClient::new(kind, base_url(common), headers, transport, common.retry.clone()).with_errors(api_error))
}

/// A header value naming the Alloy user (`x-alloy-userid`).
pub fn user_header(provider: &'static str, user: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(user)
        .map_err(|_| Error::invalid_input(provider, "user", "must contain only characters allowed in an HTTP header"))
}

/// Maps a non-2xx Alloy answer to the core error (see the crate's error map): the
/// [`ErrorMapper`](oauth_link_core::http::ErrorMapper) of both Alloy clients, which scrub
/// the secrets they sent from what it returns.
pub fn api_error(provider: &'static str, response: &HttpResponse) -> Error {
    let parsed: Option<Value> = serde_json::from_slice(&response.body).ok();
    let object = parsed.as_ref().and_then(Value::as_object);
    let text = |v: &Value| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    let message = object.and_then(|o| o.get("message").and_then(text).or_else(|| o.get("error").and_then(text)));
    let code = object.and_then(|o| match o.get("code") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    });
    let only_message = object.is_some_and(|o| o.keys().all(|k| matches!(k.as_str(), "message" | "code")));
    let short = short_excerpt(&response.body);
    let message = match message {
        Some(m) if only_message => bounded(&m),
        Some(m) => format!("{}; body: {short}", bounded(&m)),
        None if response.body.is_empty() => format!("empty body (HTTP {})", response.status),
        None => format!("body: {short}"),
    };
    if response.status == 422 {
        let fields = object.map(field_names).unwrap_or_default();
        let field = if fields.is_empty() { "request".to_owned() } else { fields.join(", ") };
        return Error::invalid_input(provider, field, format!("Alloy rejected a value (HTTP 422): {message}"));
    }
    status_error(provider, response, ErrorBody { message, code })
}

/// Field names listed by a 422 body: `errors`/`fields` items that are strings or objects
/// with `field`, `path`, `name` or `property`.
fn field_names(object: &serde_json::Map<String, Value>) -> Vec<String> {
    let items = object.get("errors").or_else(|| object.get("fields")).and_then(Value::as_array);
    items
        .into_iter()
        .flatten()
        .filter_map(|item| match item {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => ["field", "path", "name", "property"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str))
                .map(str::to_owned),
            _ => None,
        })
        .take(8)
        .collect()
}

fn bounded(text: &str) -> String {
    excerpt(text.as_bytes())
}

fn short_excerpt(body: &[u8]) -> String {
    let full = excerpt(body);
    let mut out: String = full.chars().take(ERROR_EXCERPT_CHARS).collect();
    if full.chars().count() > ERROR_EXCERPT_CHARS && !out.ends_with('…') {
        out.push('…');
    }
    out
}

/// The `Denied` error for a callback whose query carries `error` (and optionally
/// `error_description`), as OAuth servers report a refused consent; `None` otherwise.
pub fn callback_denied(provider: &'static str, callback: &oauth_link_core::Callback) -> Option<Error> {
    let code = callback.param("error")?;
    let reason = callback
        .param("error_description")
        .filter(|d| !d.trim().is_empty())
        .unwrap_or("the user refused consent or the authorization failed");
    Some(Error::Denied { provider, code: bounded(code), reason: bounded(reason) })
}

/// Parses an Alloy timestamp: an ISO-8601 / RFC 3339 string (an offset-less one is read as
/// UTC), or a number of epoch milliseconds (seconds when it is small).
pub fn parse_timestamp(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => parse_timestamp_text(s),
        Value::Number(n) => {
            let n = n.as_i64()?;
            // `unsigned_abs`: `i64::MIN.abs()` overflows (a hostile body must not panic).
            if n.unsigned_abs() < 100_000_000_000 {
                DateTime::from_timestamp(n, 0)
            } else {
                DateTime::from_timestamp_millis(n)
            }
        }
        _ => None,
    }
}

/// Parses an ISO-8601 / RFC 3339 timestamp; one without an offset is read as UTC.
fn parse_timestamp_text(text: &str) -> Option<DateTime<Utc>> {
    let s = text.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc()))
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok().map(|n| n.and_utc()))
}

/// Field names removed from raw records before they are kept: core's
/// [`is_secret_field_name`](oauth_link_core::secret::is_secret_field_name) (names ending in
/// `token` or `secret`, and `password`, `apikey`, `privatekey`, `code`, `authorization`).
fn is_secret_field(name: &str) -> bool {
    oauth_link_core::secret::is_secret_field_name(name)
}

/// Keeps a record minus its secret-looking fields (tokens, secrets, passwords, keys) at
/// any depth.
pub fn scrubbed_record(record: &RawValue) -> RawRecord {
    RawRecord::scrubbed(record, is_secret_field)
}

/// One credential as both Alloy APIs list it: `{credentialId, name, type, createdAt,
/// updatedAt}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Credential {
    /// `credentialId`.
    pub id: String,
    /// `type`: the app (headless, e.g. `shopify`) or the credential type (Connectivity,
    /// e.g. `slack-oauth2`).
    pub kind: Option<String>,
    /// `name`, when given.
    pub name: Option<String>,
    /// `createdAt`, when given and readable.
    pub created_at: Option<DateTime<Utc>>,
    /// `updatedAt`, when given and readable.
    pub updated_at: Option<DateTime<Utc>>,
    /// The record minus secret-looking fields.
    pub raw: RawRecord,
}

impl Credential {
    /// Reads one record; `None` when it is not an object or has no string `credentialId`
    /// (or `id`). One pass over the text finds the fields and any secret-looking key; the
    /// record is kept as text.
    pub fn from_raw(record: &RawValue) -> Option<Self> {
        let scan =
            scan_record(record, ["credentialId", "id", "type", "name", "createdAt", "updatedAt"], is_secret_field)?;
        let [credential_id, id, kind, name, created_at, updated_at] = scan.fields;
        let string = |field: Option<&RawValue>| field.and_then(|v| serde_json::from_str::<String>(v.get()).ok());
        let timestamp = |field: Option<&RawValue>| {
            let text = field?.get();
            // Most stamps are plain strings: read them in place.
            match serde_json::from_str::<&str>(text) {
                Ok(stamp) => parse_timestamp_text(stamp),
                Err(_) => serde_json::from_str::<Value>(text).ok().as_ref().and_then(parse_timestamp),
            }
        };
        Some(Self {
            id: string(credential_id.or(id))?,
            kind: string(kind),
            name: string(name),
            created_at: timestamp(created_at),
            updated_at: timestamp(updated_at),
            raw: RawRecord::from_scan(&scan, is_secret_field),
        })
    }

    /// Reads the list of records a call answered: a bare array, or an object holding the
    /// array under `data` or `credentials` (`null` there reads as no credentials). Fails
    /// with [`Error::Decode`] on any other shape or on a record without `credentialId`,
    /// with the call's secrets removed.
    pub fn list_from(provider: &'static str, reply: &Reply) -> Result<Vec<Self>> {
        Self::parse_list(provider, reply.body()).map_err(|err| reply.scrub(err))
    }

    fn parse_list(provider: &'static str, body: &[u8]) -> Result<Vec<Self>> {
        let decode_err = |what: &str| Error::Decode { provider, message: what.to_owned(), body: excerpt(body) };
        let expected = |e: serde_json::Error| decode_err(&format!("expected a JSON list of credentials: {e}"));
        let items: Vec<&RawValue> = match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => serde_json::from_slice(body).map_err(expected)?,
            Some(b'{') => {
                let wrapper: CredentialList<'_> = serde_json::from_slice(body).map_err(|e| match e.classify() {
                    serde_json::error::Category::Data => {
                        decode_err("expected `data` or `credentials` to be an array of credentials")
                    }
                    _ => expected(e),
                })?;
                match wrapper.data.or(wrapper.credentials) {
                    Some(list) => list.unwrap_or_default(),
                    None => return Err(decode_err("expected `data` or `credentials` to be an array of credentials")),
                }
            }
            _ => {
                // Not a list: say why precisely (malformed JSON, or another JSON type).
                let what = match serde_json::from_slice::<serde::de::IgnoredAny>(body) {
                    Err(e) => format!("expected a JSON list of credentials: {e}"),
                    Ok(_) => "expected an array of credentials".to_owned(),
                };
                return Err(decode_err(&what));
            }
        };
        items
            .into_iter()
            .map(|item| Credential::from_raw(item).ok_or_else(|| decode_err("a credential has no `credentialId`")))
            .collect()
    }
}

/// `{data: [...]}` or `{credentials: [...]}`, read in one pass; `present` tells a `null`
/// list (no credentials: `Some(None)`) from a missing one (`None`).
#[derive(Deserialize)]
struct CredentialList<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<Option<Vec<&'a RawValue>>>,
    #[serde(borrow, default, deserialize_with = "present")]
    credentials: Option<Option<Vec<&'a RawValue>>>,
}

fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<Vec<&'de RawValue>>>, D::Error> {
    Option::<Vec<&'de RawValue>>::deserialize(d).map(Some)
}

/// The newest credential created at or after `since` among those `keep` accepts; records
/// without a readable `createdAt` never count (they cannot be told apart from older ones).
pub fn newest_since(
    credentials: &[Credential],
    since: DateTime<Utc>,
    keep: impl Fn(&Credential) -> bool,
) -> Option<&Credential> {
    credentials.iter().filter(|c| c.created_at.is_some_and(|t| t >= since) && keep(c)).max_by_key(|c| c.created_at)
}

/// A name to show for an Alloy id that comes without one: `googleSheets` -> `Google
/// Sheets`, `hubspot` -> `Hubspot`, `slack-oauth2` -> `Slack Oauth2`.
pub fn display_name(id: &str) -> String {
    let mut out = String::with_capacity(id.len() + 4);
    let mut prev: Option<char> = None;
    for c in id.chars() {
        let word_start = match prev {
            None => true,
            Some(p) => matches!(p, '-' | '_' | ' ') || (p.is_lowercase() && c.is_uppercase()),
        };
        if matches!(c, '-' | '_' | ' ') {
            prev = Some(c);
            continue;
        }
        if word_start {
            if !out.is_empty() {
                out.push(' ');
            }
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = Some(c);
    }
    if out.is_empty() {
        id.to_owned()
    } else {
        out
    }
}

/// `issued_at - skew`, saturating.
pub fn since(issued_at: DateTime<Utc>, skew: Duration) -> DateTime<Utc> {
    issued_at - chrono::Duration::from_std(skew).unwrap_or(chrono::Duration::zero())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use http::header::RETRY_AFTER;
    use http::Method;
    use oauth_link_core::adapter::async_trait;
    use oauth_link_core::http::{HttpRequest, HttpTransport, RetryPolicy, TransportFailure};

    pub(crate) const KEY: &str = "sk_alloy_secret_123";

    pub(crate) fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse { status, headers: HeaderMap::new(), body: body.as_bytes().to_vec().into() }
    }

    /// Answers every request with one response.
    #[derive(Debug)]
    struct Canned(HttpResponse);

    #[async_trait]
    impl HttpTransport for Canned {
        async fn send(
            &self,
            _request: HttpRequest,
            _max_body: usize,
        ) -> std::result::Result<HttpResponse, TransportFailure> {
            Ok(self.0.clone())
        }
    }

    /// A client of `provider` at `base` whose requests carry the API key [`KEY`] and are
    /// all answered `response`, at once and never retried.
    pub(crate) fn client(provider: &'static str, base: &str, response: HttpResponse) -> ApiClient {
        let headers = default_headers(&ApiKey::new(KEY), DEFAULT_API_VERSION).unwrap();
        let transport = Arc::new(Canned(response));
        ApiClient::new(provider, Url::parse(base).unwrap(), headers, transport, RetryPolicy::none())
            .with_errors(api_error)
    }

    /// `response` as the answer to a call of `provider`'s client (see [`client`]): what the
    /// adapters read errors and bodies from.
    pub(crate) fn reply(provider: &'static str, response: HttpResponse) -> Reply {
        let api = client(provider, "http://127.0.0.1:9/", response);
        let mut exchange = std::pin::pin!(api.exchange(api.call(Method::GET, "op", "/x", &[])));
        // The canned transport answers at once and nothing is retried: one poll finishes it.
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(reply) = exchange.as_mut().poll(&mut cx) {
                return reply.unwrap();
            }
        }
    }

    #[test]
    fn headers_carry_bearer_key_marked_sensitive_and_version() {
        let headers = default_headers(&ApiKey::new(KEY), "2025-09").unwrap();
        let auth = headers.get(AUTHORIZATION).unwrap();
        assert_eq!(auth.to_str().unwrap(), format!("bearer {KEY}"));
        assert!(auth.is_sensitive());
        assert_eq!(headers.get(API_VERSION_HEADER).unwrap(), "2025-09");
        assert!(!format!("{headers:?}").contains(KEY));
        assert!(matches!(default_headers(&ApiKey::new("a\nb"), "2025-09"), Err(Error::Config { .. })));
        assert!(matches!(default_headers(&ApiKey::new(KEY), "2025 09"), Err(Error::Config { .. })));
    }

    #[test]
    fn display_names_split_words() {
        assert_eq!(display_name("googleSheets"), "Google Sheets");
        assert_eq!(display_name("hubspot"), "Hubspot");
        assert_eq!(display_name("slack-oauth2"), "Slack Oauth2");
        assert_eq!(display_name("a__b"), "A B");
        assert_eq!(display_name("--"), "--");
    }

    #[test]
    fn base_url_defaults_to_production() {
        assert_eq!(base_url(&CommonConfig::default()).as_str(), "https://production.runalloy.com/");
    }

    #[test]
    fn errors_map_by_status_with_scrubbed_messages() {
        let unauthorized = format!(r#"{{"message":"Invalid API key {KEY}"}}"#);
        let cases: Vec<(u16, &str)> = vec![
            (400, r#"{"message":"userId is required"}"#),
            (401, &unauthorized),
            (403, r#"{"message":"Forbidden","code":"E403"}"#),
            (404, r#"{"message":"User not found"}"#),
            (409, r#"{"message":"username taken"}"#),
            (422, r#"{"message":"Invalid input","errors":[{"field":"shopSubdomain"}]}"#),
            (429, r#"{"message":"Too many requests"}"#),
            (500, "<html>Internal error</html>"),
            (503, ""),
            (502, r#"{"error":"bad gateway"}"#),
        ];
        // The client's errors: the mapper leaves the key in, the client takes it out.
        let errors: Vec<String> = cases
            .iter()
            .map(|(status, body)| reply("alloy-headless", response(*status, body)).error().to_string())
            .collect();
        for e in &errors {
            assert!(!e.contains(KEY), "{e}");
        }
        insta::assert_json_snapshot!(errors);
    }

    #[test]
    fn error_variants_and_retry_after() {
        let mut r = response(429, r#"{"message":"slow"}"#);
        r.headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        match api_error("alloy-headless", &r) {
            Error::RateLimited { retry_after, .. } => assert_eq!(retry_after, Some(Duration::from_secs(7))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(api_error("x", &response(401, "{}")), Error::Unauthenticated { .. }));
        assert!(matches!(api_error("x", &response(422, "{}")), Error::InvalidInput { .. }));
        match api_error("x", &response(403, r#"{"message":"m","code":"E1"}"#)) {
            Error::Forbidden { message, .. } => assert_eq!(message, "m"),
            other => panic!("{other:?}"),
        }
        match api_error("x", &response(400, r#"{"message":"m","code":42}"#)) {
            Error::Provider { code, status, .. } => assert_eq!((code.as_deref(), status), (Some("42"), 400)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn callback_error_params_become_denied() {
        let cb =
            oauth_link_core::Callback::from_query("x", "error=access_denied&error_description=User+said+no").unwrap();
        match callback_denied("x", &cb) {
            Some(Error::Denied { code, reason, .. }) => {
                assert_eq!((code.as_str(), reason.as_str()), ("access_denied", "User said no"))
            }
            other => panic!("{other:?}"),
        }
        let cb = oauth_link_core::Callback::from_query("x", "error=server_error").unwrap();
        assert!(matches!(callback_denied("x", &cb), Some(Error::Denied { .. })));
        assert!(callback_denied("x", &oauth_link_core::Callback::from_query("x", "code=1").unwrap()).is_none());
    }

    #[test]
    fn timestamps_parse_in_every_shape() {
        let expect = DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        for v in [
            serde_json::json!("2025-01-02T03:04:05Z"),
            serde_json::json!("2025-01-02T03:04:05.000Z"),
            serde_json::json!("2025-01-02T05:04:05+02:00"),
            serde_json::json!("2025-01-02T03:04:05"),
            serde_json::json!("2025-01-02 03:04:05"),
            serde_json::json!(expect.timestamp_millis()),
            serde_json::json!(expect.timestamp()),
        ] {
            assert_eq!(parse_timestamp(&v), Some(expect), "{v}");
        }
        assert_eq!(parse_timestamp(&serde_json::json!("yesterday")), None);
        assert_eq!(parse_timestamp(&serde_json::json!(null)), None);
    }

    #[test]
    fn extreme_epoch_numbers_do_not_panic() {
        // Found by the hostile corpus: `i64::MIN.abs()` overflowed.
        for n in [serde_json::json!(i64::MIN), serde_json::json!(i64::MAX), serde_json::json!(u64::MAX)] {
            assert_eq!(parse_timestamp(&n), None, "{n}");
        }
        assert_eq!(parse_timestamp(&serde_json::json!(-1)), DateTime::from_timestamp(-1, 0));
    }

    #[test]
    fn secret_field_names() {
        for name in [
            "token",
            "accessToken",
            "access_token",
            "REFRESH-TOKEN",
            "id_token",
            "secret",
            "clientSecret",
            "consumer_secret",
            "token_secret",
            "password",
            "Password",
            "api_key",
            "apiKey",
            "private-key",
            "code",
            "Authorization",
            "a_very_long_field_name_that_ends_in_secret",
            "x_token",
        ] {
            assert!(is_secret_field(name), "{name}");
        }
        for name in [
            "credentialId",
            "type",
            "name",
            "createdAt",
            "tokens",
            "secrets",
            "passwords",
            "codes",
            "zipcode2",
            "apikeys",
            "authorization_url",
            "a_very_long_field_name_that_ends_in_password",
            "",
            "_",
            "tökén",
            "coda",
        ] {
            assert!(!is_secret_field(name), "{name}");
        }
    }

    #[test]
    fn records_lose_secret_fields_and_lists_accept_every_shape() {
        let record = serde_json::json!({
            "credentialId": "c1", "type": "shopify", "name": "Shop", "createdAt": "2025-01-02T03:04:05Z",
            "accessToken": "at", "data": {"refresh_token": "rt", "shop": "s", "consumerSecret": "cs"}
        });
        let text = serde_json::value::to_raw_value(&record).unwrap();
        let cred = Credential::from_raw(&text).unwrap();
        assert_eq!(cred.id, "c1");
        assert_eq!(cred.kind.as_deref(), Some("shopify"));
        assert_eq!(
            cred.raw.to_value(),
            serde_json::json!({"credentialId": "c1", "type": "shopify", "name": "Shop",
                "createdAt": "2025-01-02T03:04:05Z", "data": {"shop": "s"}})
        );
        for body in [
            serde_json::json!([record.clone()]),
            serde_json::json!({"data": [record.clone()]}),
            serde_json::json!({"credentials": [record.clone()]}),
        ] {
            let list = Credential::parse_list("x", body.to_string().as_bytes()).unwrap();
            assert_eq!(list.len(), 1);
        }
        for bad in [r#"{"data":{}}"#, r#"{"data":[{"type":"x"}]}"#, r#"{"data":["#, "7"] {
            assert!(matches!(Credential::parse_list("x", bad.as_bytes()), Err(Error::Decode { .. })), "{bad}");
        }
        // An answer echoing the API key: the call's error does not show it.
        let echo = reply("x", response(200, &format!(r#"{{"data":"{KEY}"}}"#)));
        match Credential::list_from("x", &echo) {
            Err(err @ Error::Decode { .. }) => assert!(!format!("{err} {err:?}").contains(KEY), "{err}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn newest_since_picks_the_newest_recent_match() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let cred = |id: &str, kind: &str, t: Option<&str>| Credential {
            id: id.into(),
            kind: Some(kind.into()),
            name: None,
            created_at: t.map(at),
            updated_at: None,
            raw: RawRecord::none(),
        };
        let list = vec![
            cred("old", "shopify", Some("2025-01-01T00:00:00Z")),
            cred("new", "shopify", Some("2025-01-01T00:10:00Z")),
            cred("newer-other", "slack", Some("2025-01-01T00:20:00Z")),
            cred("no-time", "shopify", None),
        ];
        let issued = at("2025-01-01T00:05:00Z");
        let pick = newest_since(&list, since(issued, DEFAULT_CLOCK_SKEW), |c| c.kind.as_deref() == Some("shopify"));
        assert_eq!(pick.map(|c| c.id.as_str()), Some("new"));
        assert!(newest_since(&list, at("2025-02-01T00:00:00Z"), |_| true).is_none());
    }
}
