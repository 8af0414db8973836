//! Novu emulation (subscribers, integrations, chat channel endpoints and connections), under
//! `/novu`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use serde_json::{json, Map, Value};

use crate::canonical;
use crate::catalogue::{
    novu_integration, novu_oauth_integration, NovuIntegration, NOVU_ENVIRONMENT_ID, NOVU_INTEGRATIONS,
    NOVU_ORGANIZATION_ID,
};
use crate::consent::{self, close_tab_page, error_page, Outcome};
use crate::state::{
    fmt_time, json_bytes_response, json_response, lock, minify_json, object_id, parse_body, query_get, query_pairs,
    token, Idempotent, Inner, Link, LinkOutcome, NovuConnection, NovuConnectionMode, NovuEndpoint, NovuLinkKind,
    NovuLinkMode, NovuState, NovuSubscriber, ProcessingDone, RootUrl, Shared,
};
use crate::store::Entry;

type St = State<Shared>;

/// Novu `ErrorDto`.
pub(crate) fn err(status: StatusCode, path: &str, message: impl Into<Value>) -> Response {
    json_response(status, &error_dto(status, path, message))
}

fn error_dto(status: StatusCode, path: &str, message: impl Into<Value>) -> Value {
    json!({
        "statusCode": status.as_u16(),
        "timestamp": fmt_time(chrono::Utc::now()),
        "path": path,
        "message": message.into(),
    })
}

/// Novu `ValidationErrorDto` (422).
fn validation_dto(path: &str, errors: Map<String, Value>) -> Value {
    json!({
        "statusCode": 422,
        "timestamp": fmt_time(chrono::Utc::now()),
        "path": path,
        "message": "Validation Error",
        "errors": errors,
    })
}

fn validation(path: &str, errors: Map<String, Value>) -> Response {
    json_response(StatusCode::UNPROCESSABLE_ENTITY, &validation_dto(path, errors))
}

fn check(s: &Inner, headers: &HeaderMap, path: &str) -> Option<Response> {
    let auth = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    match auth.trim().split_once(' ') {
        Some(("ApiKey", key)) if key.trim() == s.config.novu_api_key => None,
        Some(("ApiKey", _)) => Some(err(StatusCode::UNAUTHORIZED, path, "API Key not found")),
        _ => {
            Some(err(StatusCode::UNAUTHORIZED, path, "Missing or invalid Authorization header, expected: ApiKey <key>"))
        }
    }
}

macro_rules! guard {
    ($s:expr, $h:expr, $p:expr) => {
        if let Some(r) = check(&$s, &$h, $p) {
            return r;
        }
    };
}

macro_rules! body_json {
    ($b:expr, $p:expr) => {
        match parse_body(&$b) {
            Ok(v) => v,
            Err(e) => return err(StatusCode::BAD_REQUEST, $p, format!("Invalid JSON body: {e}")),
        }
    };
}

/// Adds Novu's rate-limit headers to every Novu response.
async fn rate_limit_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("RateLimit-Limit", HeaderValue::from_static("100"));
    h.insert("RateLimit-Remaining", HeaderValue::from_static("99"));
    h.insert("RateLimit-Reset", HeaderValue::from_static("1"));
    h.insert(
        "RateLimit-Policy",
        HeaderValue::from_static("100;w=1;burst=110;comment=\"token bucket\";category=\"global\";cost=\"single\""),
    );
    resp
}

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/v1/integrations", get(list_integrations))
        .route("/v1/integrations/channel-endpoints/oauth", post(endpoint_oauth))
        .route("/v1/integrations/channel-connections/oauth", post(connection_oauth))
        .route("/v2/subscribers", post(create_subscriber))
        .route("/v2/subscribers/{subscriber_id}", get(get_subscriber).delete(delete_subscriber))
        .route("/v1/channel-endpoints", get(list_endpoints))
        .route("/v1/channel-endpoints/{identifier}", get(get_endpoint).delete(delete_endpoint))
        .route("/v1/channel-connections", get(list_connections))
        .route("/v1/channel-connections/{identifier}", get(get_connection).delete(delete_connection))
        .route("/consent/{id}", get(consent_get))
        .route("/consent/{id}/approve", post(consent_approve))
        .route("/consent/{id}/deny", post(consent_deny))
        .fallback(|uri: Uri| async move { err(StatusCode::NOT_FOUND, uri.path(), format!("Cannot {}", uri.path())) })
        .layer(axum::middleware::map_response(rate_limit_headers))
}

// ---------------------------------------------------------- validation

/// Fields `POST /v1/integrations/channel-endpoints/oauth` accepts (3.19.1).
const LINK_USER_FIELDS: &[&str] =
    &["subscriberId", "integrationIdentifier", "connectionIdentifier", "context", "contextHash", "userScope"];
/// Fields `POST /v1/integrations/channel-connections/oauth` accepts (3.19.1).
const CONNECT_FIELDS: &[&str] = &[
    "integrationIdentifier",
    "subscriberId",
    "connectionIdentifier",
    "context",
    "contextHash",
    "scope",
    "connectionMode",
    "autoLinkUser",
];
/// Fields of `CreateSubscriberRequestDto`.
const SUBSCRIBER_FIELDS: &[&str] =
    &["subscriberId", "firstName", "lastName", "email", "phone", "avatar", "locale", "timezone", "data"];

fn field_error(errors: &mut Map<String, Value>, field: &str, message: String, value: Option<&Value>) {
    let entry = match value {
        Some(v) => json!({ "messages": [message], "value": v }),
        None => json!({ "messages": [message] }),
    };
    errors.insert(field.into(), entry);
}

/// Strict by design: a field the DTO does not declare is refused (422), so a client's typo
/// shows up here rather than being dropped silently.
fn unknown_fields(v: &Value, allowed: &[&str], errors: &mut Map<String, Value>) {
    if let Value::Object(m) = v {
        for (k, val) in m {
            if !allowed.contains(&k.as_str()) {
                field_error(errors, k, format!("property {k} should not exist"), Some(val));
            }
        }
    }
}

fn require_str(v: &Value, field: &str, errors: &mut Map<String, Value>) -> Option<String> {
    match v.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(s)) => {
            errors.insert(field.into(), json!({"messages": [format!("{field} should not be empty")], "value": s}));
            None
        }
        None | Some(Value::Null) => {
            errors.insert(
                field.into(),
                json!({"messages": [format!("{field} should not be empty"), format!("{field} must be a string")]}),
            );
            None
        }
        Some(other) => {
            errors.insert(field.into(), json!({"messages": [format!("{field} must be a string")], "value": other}));
            None
        }
    }
}

fn optional_str(v: &Value, field: &str, errors: &mut Map<String, Value>) -> Option<String> {
    match v.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            errors.insert(field.into(), json!({"messages": [format!("{field} must be a string")], "value": other}));
            None
        }
    }
}

fn optional_str_array(v: &Value, field: &str, errors: &mut Map<String, Value>) {
    match v.get(field) {
        None | Some(Value::Null) => {}
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {}
        Some(other) => {
            errors.insert(
                field.into(),
                json!({"messages": [format!("each value in {field} must be a string")], "value": other}),
            );
        }
    }
}

/// Validates `context` (a map of type to a string id or `{id, data?}`) and returns its
/// `type:id` keys.
fn context_keys(v: &Value, errors: &mut Map<String, Value>) -> Vec<String> {
    let mut keys = Vec::new();
    match v.get("context") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, val) in m {
                let id = match val {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o)
                        if o.keys().all(|f| f == "id" || f == "data")
                            && o.get("data").is_none_or(|d| d.is_object() || d.is_null()) =>
                    {
                        o.get("id").and_then(Value::as_str).map(str::to_string)
                    }
                    _ => None,
                };
                match id {
                    Some(id) if !id.is_empty() => keys.push(format!("{k}:{id}")),
                    _ => field_error(
                        errors,
                        &format!("context.{k}"),
                        "context values must be a string id or an object {id: string, data?: object}".into(),
                        Some(val),
                    ),
                }
            }
        }
        Some(other) => field_error(errors, "context", "context must be an object".into(), Some(other)),
    }
    keys
}

/// Whether `context` was sent (Novu tests `!context`: absent and `null` are "no context").
fn has_context(v: &Value) -> bool {
    v.get("context").is_some_and(|c| !c.is_null())
}

// ---------------------------------------------------------- handling and idempotency

/// What a handler produced, before Novu's envelope and error DTOs are applied.
enum Handled {
    /// A success body (wrapped in `{data}` when the envelope is on).
    Ok(StatusCode, Value),
    /// An `ErrorDto` with this message.
    Err(StatusCode, Value),
    /// A `ValidationErrorDto` with these field errors.
    Invalid(Map<String, Value>),
}

/// Applies Novu's `{data: ...}` envelope when configured.
fn envelope(s: &Inner, v: Value) -> Value {
    if s.config.novu_data_envelope {
        json!({ "data": v })
    } else {
        v
    }
}

/// The status and the JSON body Novu sends for `h`.
fn render(s: &Inner, path: &str, h: Handled) -> (StatusCode, Value) {
    match h {
        Handled::Ok(status, v) => (status, envelope(s, v)),
        Handled::Err(status, message) => (status, error_dto(status, path, message)),
        Handled::Invalid(errors) => (StatusCode::UNPROCESSABLE_ENTITY, validation_dto(path, errors)),
    }
}

/// Routes that honour `idempotency-key` (Novu applies it to every POST and PATCH of an
/// API-key caller).
const ENDPOINT_OAUTH: &str = "/v1/integrations/channel-endpoints/oauth";
const CONNECTION_OAUTH: &str = "/v1/integrations/channel-connections/oauth";
const SUBSCRIBERS: &str = "/v2/subscribers";

/// Where Novu's idempotency errors point (`Link` header).
const IDEMPOTENCY_DOCS: &str = "https://docs.novu.co/additional-resources/idempotency";

/// Longest `idempotency-key` Novu accepts (JavaScript string length, UTF-16 units).
const MAX_IDEMPOTENCY_KEY: usize = 255;

fn set_header(r: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}

/// Takes an in-progress idempotency key out again however the request ends.
struct InFlight<'a> {
    s: &'a Inner,
    key: &'a str,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(&self.s.novu).in_progress.remove(self.key);
    }
}

/// Runs `f` under Novu's idempotency rules (its `IdempotencyInterceptor`) for `route`:
/// without a key, `f` just runs. With one: a key over 255 characters is 400; a key whose
/// first request is still being processed is 409 with `Retry-After: 1`; a key seen within
/// 24 h replays the stored answer (success or 4xx error) with `Idempotency-Replay: true` when
/// the body (as sent, key order included) is the same, else 422. Otherwise the key is marked
/// in progress, the request takes [`crate::FaultConfig::processing_ms`], `f` runs and its
/// 2xx or 4xx answer is stored. Errors name `path`, as requested.
async fn idempotent(
    s: &Inner,
    headers: &HeaderMap,
    route: &'static str,
    path: &str,
    body: &[u8],
    f: impl FnOnce() -> Handled,
) -> Response {
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string) else {
        let (status, v) = render(s, path, f());
        return json_response(status, &v);
    };
    let early = |status: StatusCode, message: String| {
        let mut r = err(status, path, message);
        set_header(&mut r, "Idempotency-Key", &key);
        r.extensions_mut().insert(ProcessingDone);
        r
    };
    if key.encode_utf16().count() > MAX_IDEMPOTENCY_KEY {
        return early(
            StatusCode::BAD_REQUEST,
            format!("idempotencyKey \"{key}\" has exceeded the maximum allowed length of 255 characters"),
        );
    }
    let sent = minify_json(body);
    let now = s.now();
    {
        let mut n = lock(&s.novu);
        if n.in_progress.contains(&key) {
            let mut r = early(
                StatusCode::CONFLICT,
                format!("Request with key \"{key}\" is currently being processed. Please retry after 1 second"),
            );
            set_header(&mut r, "Retry-After", "1");
            set_header(&mut r, "Link", IDEMPOTENCY_DOCS);
            return r;
        }
        // An expired key not dropped yet is ignored, as if dropped.
        if let Some(e) = n.idempotency.get(&key).filter(|e| !e.expired(now)) {
            if e.route == route && e.same_body(&sent) {
                let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::OK);
                let mut r = json_bytes_response(status, Bytes::copy_from_slice(&e.response));
                set_header(&mut r, "Idempotency-Replay", "true");
                set_header(&mut r, "Idempotency-Key", &key);
                r.extensions_mut().insert(ProcessingDone);
                return r;
            }
            let mut r = early(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("Request with key \"{key}\" is being reused for a different body"),
            );
            set_header(&mut r, "Link", IDEMPOTENCY_DOCS);
            return r;
        }
        n.in_progress.insert(key.clone());
    }
    let in_flight = InFlight { s, key: &key };
    let processing = lock(&s.faults).config.processing_for("novu");
    if processing > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(processing)).await;
    }
    let (status, v) = render(s, path, f());
    let bytes = serde_json::to_vec(&v).unwrap_or_default();
    if status.is_success() || status.is_client_error() {
        let entry = Idempotent {
            route,
            body: sent.into_boxed_str(),
            status: status.as_u16(),
            response: bytes.clone().into_boxed_slice(),
            created_at: now,
        };
        lock(&s.novu).idempotency.insert(&key, entry, now);
    }
    drop(in_flight);
    let mut r = json_bytes_response(status, Bytes::from(bytes));
    set_header(&mut r, "Idempotency-Key", &key);
    r.extensions_mut().insert(ProcessingDone);
    r
}

// ---------------------------------------------------------- integrations

/// `IntegrationResponseDto` (credentials are not shown to API-key callers).
fn integration_json(i: &NovuIntegration) -> Value {
    json!({
        "_id": i.id,
        "_environmentId": NOVU_ENVIRONMENT_ID,
        "_organizationId": NOVU_ORGANIZATION_ID,
        "name": i.display,
        "identifier": i.identifier,
        "providerId": i.provider_id,
        "channel": i.channel,
        "active": true,
        "deleted": false,
        "primary": i.primary,
        "conditions": [],
    })
}

/// `GET /v1/integrations`: every integration of the environment (all channels; the chat
/// ones with OAuth are `slack` and `msteams`).
async fn list_integrations(State(s): St, headers: HeaderMap, uri: Uri) -> Response {
    guard!(s, headers, uri.path());
    let list: Vec<Value> = NOVU_INTEGRATIONS.iter().map(integration_json).collect();
    json_response(StatusCode::OK, &envelope(&s, Value::Array(list)))
}

/// The integration an OAuth-URL request names, as Novu looks it up.
fn oauth_integration(identifier: &str) -> Result<&'static NovuIntegration, Handled> {
    novu_oauth_integration(identifier).ok_or_else(|| {
        Handled::Err(
            StatusCode::NOT_FOUND,
            json!(format!("Integration not found: {identifier} in environment {NOVU_ENVIRONMENT_ID}")),
        )
    })
}

/// Novu's `ConnectContextVerifier`: an integration protected with context HMAC needs a
/// `context` and a `contextHash` equal to lower-case hex HMAC-SHA256(API key, OLPC canonical
/// JSON of the context).
fn verify_context(s: &Inner, integ: &NovuIntegration, v: &Value, context_hash: Option<&str>) -> Option<Handled> {
    if !lock(&s.novu).hmac_integrations.contains(integ.identifier) {
        return None;
    }
    let bad = |m: &str| Some(Handled::Err(StatusCode::BAD_REQUEST, json!(m)));
    let Some(context) = v.get("context").filter(|c| !c.is_null()) else {
        return bad("A context is required when HMAC validation is enabled.");
    };
    let Some(given) = context_hash.filter(|h| !h.is_empty()) else {
        return bad("A valid contextHash is required when HMAC validation is enabled.");
    };
    match canonical::context_hash(&s.config.novu_api_key, context) {
        Some(expected) if expected == given => None,
        _ => bad("Please provide a valid context HMAC hash"),
    }
}

/// Novu's `ensureConnectDashboardSubscriber`: the subscriber must exist (ids prefixed
/// `connect:`, a deprecated dashboard convention, are created on the fly).
fn require_subscriber(s: &Inner, subscriber_id: &str) -> Option<Handled> {
    let mut n = lock(&s.novu);
    if n.subscribers.contains_key(subscriber_id) {
        return None;
    }
    if subscriber_id.starts_with("connect:") {
        let now = fmt_time(s.now());
        let sub = NovuSubscriber {
            id: object_id(),
            subscriber_id: subscriber_id.to_string(),
            fields: Map::new(),
            created_at: now.clone(),
            updated_at: now,
        };
        n.subscribers.insert(subscriber_id.to_string(), sub);
        return None;
    }
    Some(Handled::Err(StatusCode::NOT_FOUND, json!(format!("Subscriber not found: {subscriber_id}"))))
}

// ------------------------------------------------------------- OAuth URLs

fn new_link(s: &Inner, root: &RootUrl, kind: NovuLinkKind) -> String {
    let now = s.now();
    let id = token(24);
    let url = format!("{}/novu/consent/{id}", root.0);
    let link = Link { kind, created_at: now, expires_at: now + s.config.novu_link_lifetime, outcome: None };
    lock(&s.novu).links.insert(&id, link, now);
    url
}

async fn endpoint_oauth(
    State(s): St,
    headers: HeaderMap,
    Extension(root): Extension<RootUrl>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    guard!(s, headers, &path);
    let v = body_json!(body, &path);
    idempotent(&s, &headers, ENDPOINT_OAUTH, &path, &body, || link_user(&s, &root, &v)).await
}

/// `POST /v1/integrations/channel-endpoints/oauth`, after idempotency.
fn link_user(s: &Inner, root: &RootUrl, v: &Value) -> Handled {
    let mut errors = Map::new();
    unknown_fields(v, LINK_USER_FIELDS, &mut errors);
    let subscriber = require_str(v, "subscriberId", &mut errors);
    let integration = require_str(v, "integrationIdentifier", &mut errors);
    let connection = optional_str(v, "connectionIdentifier", &mut errors);
    let context_hash = optional_str(v, "contextHash", &mut errors);
    optional_str_array(v, "userScope", &mut errors);
    let keys = context_keys(v, &mut errors);
    let (Some(subscriber), Some(integration), true) = (subscriber, integration, errors.is_empty()) else {
        return Handled::Invalid(errors);
    };
    let integ = match oauth_integration(&integration) {
        Ok(i) => i,
        Err(h) => return h,
    };
    if let Some(h) = verify_context(s, integ, v, context_hash.as_deref()) {
        return h;
    }
    if let Some(h) = require_subscriber(s, &subscriber) {
        return h;
    }
    let url = new_link(
        s,
        root,
        NovuLinkKind {
            mode: NovuLinkMode::LinkUser,
            integration_identifier: integ.identifier,
            subscriber_id: Some(subscriber),
            connection_identifier: connection,
            context_keys: keys,
            connection_mode: NovuConnectionMode::Subscriber,
            auto_link_user: true,
        },
    );
    Handled::Ok(StatusCode::CREATED, json!({ "url": url }))
}

async fn connection_oauth(
    State(s): St,
    headers: HeaderMap,
    Extension(root): Extension<RootUrl>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    guard!(s, headers, &path);
    let v = body_json!(body, &path);
    idempotent(&s, &headers, CONNECTION_OAUTH, &path, &body, || connect(&s, &root, &v)).await
}

/// `POST /v1/integrations/channel-connections/oauth`, after idempotency.
fn connect(s: &Inner, root: &RootUrl, v: &Value) -> Handled {
    let mut errors = Map::new();
    unknown_fields(v, CONNECT_FIELDS, &mut errors);
    let integration = require_str(v, "integrationIdentifier", &mut errors);
    let subscriber = optional_str(v, "subscriberId", &mut errors);
    let connection = optional_str(v, "connectionIdentifier", &mut errors);
    let context_hash = optional_str(v, "contextHash", &mut errors);
    optional_str_array(v, "scope", &mut errors);
    let keys = context_keys(v, &mut errors);
    let mode = match optional_str(v, "connectionMode", &mut errors).as_deref() {
        None => None,
        Some("subscriber") => Some(NovuConnectionMode::Subscriber),
        Some("shared") => Some(NovuConnectionMode::Shared),
        Some(other) => {
            field_error(
                &mut errors,
                "connectionMode",
                "connectionMode must be one of the following values: subscriber, shared".into(),
                Some(&json!(other)),
            );
            None
        }
    };
    let auto_link = match v.get("autoLinkUser") {
        None | Some(Value::Null) => mode != Some(NovuConnectionMode::Shared),
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            field_error(&mut errors, "autoLinkUser", "autoLinkUser must be a boolean value".into(), Some(other));
            false
        }
    };
    let (Some(integration), true) = (integration, errors.is_empty()) else {
        return Handled::Invalid(errors);
    };
    let integ = match oauth_integration(&integration) {
        Ok(i) => i,
        Err(h) => return h,
    };
    if let Some(h) = verify_context(s, integ, v, context_hash.as_deref()) {
        return h;
    }
    // Novu's `validateConnectionMode`.
    let bad = |m: &str| Handled::Err(StatusCode::BAD_REQUEST, json!(m));
    match mode {
        Some(NovuConnectionMode::Shared) if !has_context(v) => {
            return bad("context is required when connectionMode is \"shared\"");
        }
        Some(NovuConnectionMode::Subscriber) if subscriber.is_none() => {
            return bad("subscriberId is required when connectionMode is \"subscriber\"");
        }
        None if subscriber.is_none() && !has_context(v) => {
            return bad("Either subscriberId or context must be provided");
        }
        _ => {}
    }
    if let Some(sub) = &subscriber {
        if let Some(h) = require_subscriber(s, sub) {
            return h;
        }
    }
    let url = new_link(
        s,
        root,
        NovuLinkKind {
            mode: NovuLinkMode::Connect,
            integration_identifier: integ.identifier,
            subscriber_id: subscriber,
            connection_identifier: connection,
            context_keys: keys,
            connection_mode: mode.unwrap_or(NovuConnectionMode::Subscriber),
            auto_link_user: auto_link,
        },
    );
    Handled::Ok(StatusCode::CREATED, json!({ "url": url }))
}

// ------------------------------------------------------------- subscribers

/// `SubscriberResponseDto`.
fn subscriber_json(sub: &NovuSubscriber) -> Value {
    let mut m = sub.fields.clone();
    m.insert("_id".into(), json!(sub.id));
    m.insert("subscriberId".into(), json!(sub.subscriber_id));
    m.insert("_environmentId".into(), json!(NOVU_ENVIRONMENT_ID));
    m.insert("_organizationId".into(), json!(NOVU_ORGANIZATION_ID));
    m.insert("deleted".into(), json!(false));
    m.insert("lastOnlineAt".into(), Value::Null);
    m.insert("isOnline".into(), Value::Null);
    m.insert("createdAt".into(), json!(sub.created_at));
    m.insert("updatedAt".into(), json!(sub.updated_at));
    Value::Object(m)
}

/// Novu's rule as its validation message states it: "a valid email address or a string of
/// alphanumeric characters, hyphens, and underscores" (the exact regex is UNCONFIRMED).
fn valid_subscriber_id(id: &str) -> bool {
    looks_like_email(id) || id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !s.chars().any(char::is_whitespace)
                && !domain.contains('@')
                && domain.split('.').count() >= 2
                && domain.split('.').all(|p| !p.is_empty())
        }
        None => false,
    }
}

async fn create_subscriber(State(s): St, headers: HeaderMap, uri: Uri, body: Bytes) -> Response {
    let path = uri.path().to_string();
    guard!(s, headers, &path);
    let v = body_json!(body, &path);
    let q = query_pairs(&uri);
    idempotent(&s, &headers, SUBSCRIBERS, &path, &body, || upsert_subscriber(&s, &v, &q)).await
}

/// `POST /v2/subscribers[?failIfExists=true]`: creates, or updates the given fields of an
/// existing subscriber (201 either way); with `failIfExists=true` an existing id is 409.
fn upsert_subscriber(s: &Inner, v: &Value, q: &[(String, String)]) -> Handled {
    let mut errors = Map::new();
    unknown_fields(v, SUBSCRIBER_FIELDS, &mut errors);
    let fail_if_exists = match query_get(q, "failIfExists") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            field_error(
                &mut errors,
                "failIfExists",
                "failIfExists must be a boolean value".into(),
                Some(&json!(other)),
            );
            false
        }
    };
    let id = match v.get("subscriberId") {
        Some(Value::String(raw)) => {
            let id = raw.trim().to_string();
            if id.is_empty() {
                field_error(&mut errors, "subscriberId", "SubscriberId is required".into(), Some(&json!(raw)));
            } else if !valid_subscriber_id(&id) {
                field_error(
                    &mut errors,
                    "subscriberId",
                    "SubscriberId must be a valid email address or a string of alphanumeric characters, hyphens, and underscores".into(),
                    Some(&json!(raw)),
                );
            }
            id
        }
        None | Some(Value::Null) => {
            field_error(&mut errors, "subscriberId", "SubscriberId is required".into(), None);
            String::new()
        }
        Some(other) => {
            field_error(&mut errors, "subscriberId", "subscriberId must be a string".into(), Some(other));
            String::new()
        }
    };
    let mut fields = Map::new();
    for f in ["firstName", "lastName", "phone", "avatar", "locale", "timezone", "email"] {
        match v.get(f) {
            None | Some(Value::Null) => {}
            Some(Value::String(x)) if f == "email" && !looks_like_email(x) => {
                field_error(&mut errors, f, "email must be an email".into(), Some(&json!(x)));
            }
            // Novu passes `value || undefined`: an empty string sets nothing.
            Some(Value::String(x)) if x.is_empty() => {}
            Some(Value::String(x)) => {
                fields.insert(f.into(), json!(x));
            }
            Some(other) => field_error(&mut errors, f, format!("{f} must be a string"), Some(other)),
        }
    }
    match v.get("data") {
        None | Some(Value::Null) => {}
        Some(d @ Value::Object(_)) => {
            fields.insert("data".into(), d.clone());
        }
        Some(other) => field_error(&mut errors, "data", "data must be an object".into(), Some(other)),
    }
    if !errors.is_empty() {
        return Handled::Invalid(errors);
    }
    let now = fmt_time(s.now());
    let mut n = lock(&s.novu);
    let sub = match n.subscribers.get_mut(&id) {
        Some(_) if fail_if_exists => {
            return Handled::Err(StatusCode::CONFLICT, json!(format!("Subscriber with id \"{id}\" already exists")));
        }
        Some(existing) => {
            existing.fields.extend(fields);
            existing.updated_at = now;
            existing.clone()
        }
        None => {
            let sub = NovuSubscriber {
                id: object_id(),
                subscriber_id: id.clone(),
                fields,
                created_at: now.clone(),
                updated_at: now,
            };
            n.subscribers.insert(id, sub.clone());
            sub
        }
    };
    Handled::Ok(StatusCode::CREATED, subscriber_json(&sub))
}

async fn get_subscriber(State(s): St, headers: HeaderMap, uri: Uri, Path(id): Path<String>) -> Response {
    guard!(s, headers, uri.path());
    let n = lock(&s.novu);
    match n.subscribers.get(&id) {
        Some(sub) => json_response(StatusCode::OK, &envelope(&s, subscriber_json(sub))),
        None => err(StatusCode::NOT_FOUND, uri.path(), format!("Subscriber: {id} was not found")),
    }
}

async fn delete_subscriber(State(s): St, headers: HeaderMap, uri: Uri, Path(id): Path<String>) -> Response {
    guard!(s, headers, uri.path());
    let mut n = lock(&s.novu);
    match n.subscribers.remove(&id) {
        Some(_) => json_response(StatusCode::OK, &envelope(&s, json!({ "acknowledged": true, "status": "deleted" }))),
        None => err(StatusCode::NOT_FOUND, uri.path(), "Subscriber was not found"),
    }
}

// ------------------------------------------------------------- listing

fn cursor_of(seq: u64) -> String {
    format!("{seq:024x}")
}

/// Cursor pagination over `(seq, record)` pairs already filtered.
fn paginate(path: &str, mut items: Vec<(u64, Value)>, q: &[(String, String)]) -> Response {
    let mut errors = Map::new();
    let get = |k: &str| q.iter().rev().find(|(kk, _)| kk == k).map(|(_, v)| v.clone());
    let limit = match get("limit") {
        None => 10,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n as usize,
            Ok(n) if n > 100 => {
                errors.insert("limit".into(), json!({"messages": ["limit must not be greater than 100"], "value": l}));
                0
            }
            _ => {
                errors.insert("limit".into(), json!({"messages": ["limit must not be less than 1"], "value": l}));
                0
            }
        },
    };
    let desc = match get("orderDirection").as_deref() {
        None | Some("DESC") => true,
        Some("ASC") => false,
        Some(o) => {
            errors.insert(
                "orderDirection".into(),
                json!({"messages": ["orderDirection must be one of the following values: ASC, DESC"], "value": o}),
            );
            true
        }
    };
    if let Some(o) = get("orderBy") {
        if o != "createdAt" && o != "updatedAt" {
            errors.insert(
                "orderBy".into(),
                json!({"messages": ["orderBy must be one of the following values: createdAt, updatedAt"], "value": o}),
            );
        }
    }
    let parse_cursor = |name: &str, errors: &mut Map<String, Value>| -> Option<u64> {
        let c = get(name)?;
        match u64::from_str_radix(&c, 16) {
            Ok(n) if c.len() == 24 => Some(n),
            _ => {
                errors.insert(name.into(), json!({"messages": [format!("{name} must be a valid cursor")], "value": c}));
                None
            }
        }
    };
    let after = parse_cursor("after", &mut errors);
    let before = parse_cursor("before", &mut errors);
    if !errors.is_empty() {
        return validation(path, errors);
    }
    if after.is_some() && before.is_some() {
        return err(
            StatusCode::BAD_REQUEST,
            path,
            "Cannot specify both \"before\" and \"after\" cursors at the same time.",
        );
    }
    items.sort_by_key(|(seq, _)| *seq);
    if desc {
        items.reverse();
    }
    let total = items.len();
    // Position helpers in display order.
    let is_after = |seq: u64, c: u64| if desc { seq < c } else { seq > c };
    let (start, end) = if let Some(c) = after {
        let start = items.iter().position(|(seq, _)| is_after(*seq, c)).unwrap_or(total);
        (start, (start + limit).min(total))
    } else if let Some(c) = before {
        let end = items.iter().position(|(seq, _)| !is_after(c, *seq)).unwrap_or(total);
        (end.saturating_sub(limit), end)
    } else {
        (0, limit.min(total))
    };
    let page = &items[start..end];
    let next = if end < total { page.last().map(|(seq, _)| cursor_of(*seq)) } else { None };
    let previous = if start > 0 { page.first().map(|(seq, _)| cursor_of(*seq)) } else { None };
    json_response(
        StatusCode::OK,
        &json!({
            "data": page.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
            "next": next,
            "previous": previous,
            "totalCount": total.min(50_000),
            "totalCountCapped": total > 50_000,
        }),
    )
}

/// Common filters of both list endpoints.
fn matches(q: &[(String, String)], field: &str, value: Option<&str>) -> bool {
    match q.iter().rev().find(|(k, _)| k == field) {
        None => true,
        Some((_, want)) => value == Some(want.as_str()),
    }
}

/// `contextKeys` filter: as Novu's `buildContextExactMatchQuery`, the record's keys must be
/// exactly the given set (order-insensitive); an empty value matches records without context.
fn matches_context(q: &[(String, String)], keys: &[String]) -> bool {
    let given: Vec<&str> =
        q.iter().filter(|(k, _)| k == "contextKeys" || k == "contextKeys[]").map(|(_, v)| v.as_str()).collect();
    if given.is_empty() {
        return true;
    }
    let mut wanted: Vec<&str> = given.iter().flat_map(|v| v.split(',')).filter(|w| !w.is_empty()).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut have: Vec<&str> = keys.iter().map(String::as_str).collect();
    have.sort_unstable();
    have.dedup();
    wanted == have
}

async fn list_endpoints(State(s): St, headers: HeaderMap, uri: Uri) -> Response {
    guard!(s, headers, uri.path());
    let q = query_pairs(&uri);
    let items: Vec<(u64, Value)> = lock(&s.novu)
        .endpoints
        .iter()
        .filter(|e| {
            matches(&q, "subscriberId", e.subscriber_id.as_deref())
                && matches(&q, "integrationIdentifier", Some(&e.integration_identifier))
                && matches(&q, "connectionIdentifier", e.connection_identifier.as_deref())
                && matches(&q, "providerId", Some(&e.provider_id))
                && matches(&q, "channel", Some(&e.channel))
                && matches_context(&q, &e.context_keys)
        })
        .map(|e| (e.seq, serde_json::to_value(e).unwrap_or_default()))
        .collect();
    paginate(uri.path(), items, &q)
}

async fn list_connections(State(s): St, headers: HeaderMap, uri: Uri) -> Response {
    guard!(s, headers, uri.path());
    let q = query_pairs(&uri);
    // `connectionMode=shared` lists the connections that belong to a context (no subscriber).
    let shared = match query_get(&q, "connectionMode") {
        None => None,
        Some("shared") => Some(true),
        Some("subscriber") => Some(false),
        Some(other) => {
            let mut errors = Map::new();
            field_error(
                &mut errors,
                "connectionMode",
                "connectionMode must be one of the following values: subscriber, shared".into(),
                Some(&json!(other)),
            );
            return validation(uri.path(), errors);
        }
    };
    let items: Vec<(u64, Value)> = lock(&s.novu)
        .connections
        .iter()
        .filter(|c| {
            matches(&q, "subscriberId", c.subscriber_id.as_deref())
                && matches(&q, "integrationIdentifier", Some(&c.integration_identifier))
                && matches(&q, "providerId", Some(&c.provider_id))
                && matches(&q, "channel", Some(&c.channel))
                && matches_context(&q, &c.context_keys)
                && shared.is_none_or(|sh| sh == c.subscriber_id.is_none())
        })
        .map(|c| (c.seq, serde_json::to_value(c).unwrap_or_default()))
        .collect();
    paginate(uri.path(), items, &q)
}

async fn get_endpoint(State(s): St, headers: HeaderMap, uri: Uri, Path(id): Path<String>) -> Response {
    guard!(s, headers, uri.path());
    match lock(&s.novu).endpoints.iter().find(|e| e.identifier == id) {
        Some(e) => json_response(StatusCode::OK, &envelope(&s, serde_json::to_value(e).unwrap_or_default())),
        None => err(StatusCode::NOT_FOUND, uri.path(), format!("Channel endpoint with identifier {id} not found")),
    }
}

async fn delete_endpoint(State(s): St, headers: HeaderMap, uri: Uri, Path(id): Path<String>) -> Response {
    guard!(s, headers, uri.path());
    let mut n = lock(&s.novu);
    let before = n.endpoints.len();
    n.endpoints.retain(|e| e.identifier != id);
    if n.endpoints.len() == before {
        return err(StatusCode::NOT_FOUND, uri.path(), format!("Channel endpoint with identifier {id} not found"));
    }
    no_content()
}

async fn get_connection(State(s): St, headers: HeaderMap, uri: Uri, Path(id): Path<String>) -> Response {
    guard!(s, headers, uri.path());
    match lock(&s.novu).connections.iter().find(|c| c.identifier == id) {
        Some(c) => json_response(StatusCode::OK, &envelope(&s, serde_json::to_value(c).unwrap_or_default())),
        None => err(StatusCode::NOT_FOUND, uri.path(), format!("Channel connection with identifier {id} not found")),
    }
}

async fn delete_connection(State(s): St, headers: HeaderMap, uri: Uri, Path(id): Path<String>) -> Response {
    guard!(s, headers, uri.path());
    let mut n = lock(&s.novu);
    let before = n.connections.len();
    n.connections.retain(|c| c.identifier != id);
    if n.connections.len() == before {
        return err(StatusCode::NOT_FOUND, uri.path(), format!("Channel connection with identifier {id} not found"));
    }
    no_content()
}

fn no_content() -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r
}

// ------------------------------------------------------------- consent

async fn consent_get(State(s): St, Path(id): Path<String>) -> Response {
    let now = s.now();
    let n = lock(&s.novu);
    let Some(link) = n.links.get(&id) else {
        return error_page(StatusCode::NOT_FOUND, "Unknown link").into_response();
    };
    if let Some(o) = &link.outcome {
        return error_page(StatusCode::GONE, &format!("This link was already used ({o})")).into_response();
    }
    if now >= link.expires_at {
        return error_page(StatusCode::GONE, "This link has expired").into_response();
    }
    let k = &link.kind;
    let display = novu_integration(k.integration_identifier).map(|i| i.display).unwrap_or("chat");
    let heading = if k.mode == NovuLinkMode::Connect {
        format!("Install the Novu app in your {display} workspace?")
    } else {
        format!("Sign in with {display} and link your account?")
    };
    let mode = match (k.mode, k.connection_mode) {
        (NovuLinkMode::Connect, NovuConnectionMode::Shared) => "connect (shared)",
        (m, _) => m.as_str(),
    };
    let html = consent::consent_page(
        "Novu",
        &id,
        &heading,
        &[
            ("Integration", k.integration_identifier.to_string()),
            ("Subscriber", k.subscriber_id.clone().unwrap_or_default()),
            ("Context", k.context_keys.join(", ")),
            ("Mode", mode.to_string()),
        ],
        "",
    );
    crate::state::html_response(StatusCode::OK, html)
}

async fn consent_approve(State(s): St, Path(id): Path<String>) -> Response {
    complete(&s, &id, true).unwrap_or_else(|| error_page(StatusCode::NOT_FOUND, "Unknown link")).into_response()
}

async fn consent_deny(State(s): St, Path(id): Path<String>) -> Response {
    complete(&s, &id, false).unwrap_or_else(|| error_page(StatusCode::NOT_FOUND, "Unknown link")).into_response()
}

/// Novu's OAuth callback path (where its errors say they happened).
const CALLBACK_PATH: &str = "/v1/integrations/chat/oauth/callback";

/// A new user endpoint, as `CreateChannelEndpoint` makes it (identifier `chendp_` + 12).
fn user_endpoint(
    n: &mut NovuState,
    integ: &NovuIntegration,
    k: &NovuLinkKind,
    connection: Option<String>,
    now: &str,
) -> NovuEndpoint {
    n.next_seq += 1;
    let user_id = if integ.provider_id == "slack" {
        format!("U{}", token(10).to_uppercase())
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    let kind = integ.user_endpoint_type.unwrap_or("slack_user");
    NovuEndpoint {
        seq: n.next_seq,
        identifier: format!("chendp_{}", token(12)),
        channel: integ.channel.into(),
        provider_id: integ.provider_id.into(),
        integration_identifier: integ.identifier.into(),
        connection_identifier: connection,
        subscriber_id: k.subscriber_id.clone(),
        context_keys: k.context_keys.clone(),
        kind: kind.into(),
        endpoint: json!({ "userId": user_id }),
        created_at: now.into(),
        updated_at: now.into(),
    }
}

/// Same set of context keys.
fn same_keys(a: &[String], b: &[String]) -> bool {
    let mut a: Vec<&String> = a.iter().collect();
    let mut b: Vec<&String> = b.iter().collect();
    a.sort_unstable();
    a.dedup();
    b.sort_unstable();
    b.dedup();
    a == b
}

/// What Novu's OAuth callback does after the provider said yes: creates the records or
/// refuses, as its `CreateChannelEndpoint` / `CreateChannelConnection` use cases do.
fn callback(
    n: &mut NovuState,
    integ: &NovuIntegration,
    k: &NovuLinkKind,
    now: &str,
) -> Result<(), (StatusCode, String)> {
    if let Some(sub) = &k.subscriber_id {
        if !n.subscribers.contains_key(sub) {
            return Err((StatusCode::NOT_FOUND, format!("Subscriber not found: {sub}")));
        }
    }
    if k.mode == NovuLinkMode::LinkUser {
        // A given connectionIdentifier names an existing connection to attach to.
        if let Some(c) = &k.connection_identifier {
            if !n.connections.iter().any(|x| &x.identifier == c && x.integration_identifier == integ.identifier) {
                return Err((StatusCode::NOT_FOUND, format!("Channel connection not found: {c}")));
            }
        }
        let ep = user_endpoint(n, integ, k, k.connection_identifier.clone(), now);
        n.endpoints.push(ep);
        return Ok(());
    }
    let owner = if k.connection_mode == NovuConnectionMode::Shared { None } else { k.subscriber_id.clone() };
    // One connection per integration + subscriber + exact context; identifiers are unique.
    if let Some(existing) = n.connections.iter().find(|c| {
        c.integration_identifier == integ.identifier
            && c.subscriber_id == owner
            && same_keys(&c.context_keys, &k.context_keys)
    }) {
        let sub = owner.as_ref().map_or("no subscriberId".to_string(), |s| format!("subscriberId \"{s}\""));
        let ctx = if k.context_keys.is_empty() {
            "no context".to_string()
        } else {
            format!("context [{}]", k.context_keys.join(", "))
        };
        return Err((
            StatusCode::CONFLICT,
            format!(
                "A channel connection already exists for integration \"{}\" with {sub} and {ctx}. Connection ID: {}",
                integ.identifier, existing.identifier
            ),
        ));
    }
    let identifier = k.connection_identifier.clone().unwrap_or_else(|| format!("chconn-{}", token(6)));
    if n.connections.iter().any(|c| c.identifier == identifier) {
        return Err((
            StatusCode::CONFLICT,
            format!("Channel connection with identifier \"{identifier}\" already exists in environment \"{NOVU_ENVIRONMENT_ID}\""),
        ));
    }
    n.next_seq += 1;
    let workspace_id = if integ.provider_id == "slack" {
        format!("T{}", token(10).to_uppercase())
    } else {
        uuid::Uuid::new_v4().to_string()
    };
    n.connections.push(NovuConnection {
        seq: n.next_seq,
        identifier: identifier.clone(),
        channel: integ.channel.into(),
        provider_id: integ.provider_id.into(),
        integration_identifier: integ.identifier.into(),
        subscriber_id: owner,
        context_keys: k.context_keys.clone(),
        workspace: json!({"id": workspace_id, "name": "Sandbox Workspace"}),
        auth: json!({"accessToken": format!("xoxb-sandbox-{}", token(24))}),
        created_at: now.into(),
        updated_at: now.into(),
    });
    // As the callback does: `autoLinkUser` and a subscriber in the state link the clicking user.
    if k.auto_link_user && k.subscriber_id.is_some() {
        let ep = user_endpoint(n, integ, k, Some(identifier), now);
        n.endpoints.push(ep);
    }
    Ok(())
}

/// Puts a channel connection where Novu can no longer use it: its `auth` becomes a rotating
/// token pair (Slack/Webex token rotation: `refreshToken`, `expiresAt`,
/// `refreshTokenExpiresAt`, as Novu stores it after such an OAuth grant) whose refresh token
/// expired an hour ago (sandbox clock). Novu records carry no status, so this is the only
/// failure a listing shows. `false` when there is no such connection.
pub(crate) fn expire_connection(s: &Inner, identifier: &str) -> bool {
    let expired = fmt_time(s.now() - chrono::Duration::hours(1));
    let mut n = lock(&s.novu);
    let Some(c) = n.connections.iter_mut().find(|c| c.identifier == identifier) else {
        return false;
    };
    let access =
        c.auth.get("accessToken").cloned().unwrap_or_else(|| json!(format!("xoxe.xoxb-sandbox-{}", token(24))));
    c.auth = json!({
        "accessToken": access,
        "refreshToken": format!("xoxe-1-sandbox-{}", token(24)),
        "expiresAt": expired,
        "refreshTokenExpiresAt": expired,
    });
    true
}

/// Approves or denies a Novu link (what Novu's OAuth callback would do). `None` when unknown.
/// A denial creates and changes nothing.
pub(crate) fn complete(s: &Inner, id: &str, approve: bool) -> Option<Outcome> {
    let now = s.now();
    let now_s = fmt_time(now);
    let mut guard = lock(&s.novu);
    let n = &mut *guard;
    let link = n.links.get_mut(id)?;
    if link.outcome.is_some() || now >= link.expires_at {
        return Some(Outcome::Text {
            status: StatusCode::BAD_REQUEST,
            body: "OAuth error: invalid or expired state".into(),
        });
    }
    link.outcome = Some(LinkOutcome::new(approve));
    if !approve {
        return Some(Outcome::Text { status: StatusCode::BAD_REQUEST, body: "OAuth error: access_denied".into() });
    }
    let k = link.kind.clone();
    let integ = novu_oauth_integration(k.integration_identifier)?;
    if let Err((status, message)) = callback(n, integ, &k, &now_s) {
        return Some(Outcome::Json { status, body: error_dto(status, CALLBACK_PATH, message) });
    }
    Some(match s.config.novu_redirect_urls.get(integ.identifier) {
        Some(u) => Outcome::Redirect { status: StatusCode::SEE_OTHER, location: u.clone() },
        None => close_tab_page(StatusCode::OK, "Connected, you may close this tab."),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SandboxConfig;
    use crate::state::testing::{headers, read, root, shared};

    /// What `POST /v1/integrations/channel-endpoints/oauth` answered.
    struct Issued {
        body: String,
        replayed: bool,
        link_id: String,
    }

    /// Adds a subscriber as `POST /v2/subscribers` would.
    fn add_subscriber(s: &Shared, id: &str) {
        let sub = NovuSubscriber {
            id: object_id(),
            subscriber_id: id.into(),
            fields: Map::new(),
            created_at: String::new(),
            updated_at: String::new(),
        };
        lock(&s.novu).subscribers.insert(id.into(), sub);
    }

    async fn oauth(s: &Shared, subscriber: &str, key: Option<&str>) -> Issued {
        add_subscriber(s, subscriber);
        let mut h = headers(&[("authorization", "ApiKey sandbox_novu_secret_key")]);
        if let Some(k) = key {
            h.insert("idempotency-key", HeaderValue::from_str(k).expect("key"));
        }
        let body = json!({"subscriberId": subscriber, "integrationIdentifier": "slack"}).to_string();
        let uri: Uri = ENDPOINT_OAUTH.parse().expect("uri");
        let r = endpoint_oauth(State(s.clone()), h, Extension(root()), uri, Bytes::from(body)).await;
        let replayed = r.headers().get("idempotency-replay").is_some();
        let (status, _, body) = read(r).await;
        assert_eq!(status, 201, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        let link_id = v["data"]["url"].as_str().and_then(|u| u.rsplit('/').next()).expect("url").to_string();
        Issued { body, replayed, link_id }
    }

    async fn page(s: &Shared, id: &str) -> (u16, Option<String>, String) {
        read(consent_get(State(s.clone()), Path(id.to_string())).await).await
    }

    async fn approve(s: &Shared, id: &str) -> (u16, Option<String>, String) {
        read(consent_approve(State(s.clone()), Path(id.to_string())).await).await
    }

    async fn deny(s: &Shared, id: &str) -> (u16, Option<String>, String) {
        read(consent_deny(State(s.clone()), Path(id.to_string())).await).await
    }

    #[tokio::test]
    async fn links_beyond_capacity_go_oldest_first_and_answer_as_unknown() {
        let cap = 4;
        let s = shared(SandboxConfig::default().link_capacity(cap));
        let mut ids = Vec::new();
        for n in 0..5 * cap {
            ids.push(oauth(&s, &format!("s{n}"), None).await.link_id);
            assert!(lock(&s.novu).links.len() <= cap, "bounded after {n} links");
        }
        let unknown_page = page(&s, "never-issued").await;
        let unknown_answer = approve(&s, "never-issued").await;
        assert_eq!(unknown_page.0, 404);
        assert_eq!(deny(&s, "never-issued").await, unknown_answer);
        let (evicted, kept) = ids.split_at(ids.len() - cap);
        for id in evicted {
            assert_eq!(page(&s, id).await, unknown_page);
            assert_eq!(deny(&s, id).await, unknown_answer);
            assert_eq!(approve(&s, id).await, unknown_answer);
            assert!(complete(&s, id, true).is_none(), "/__sandbox/approve answers 404 unknown link");
        }
        for id in kept {
            assert_eq!(page(&s, id).await.0, 200);
        }
        assert_eq!(approve(&s, &kept[0]).await.0, 200);
        assert_eq!(lock(&s.novu).endpoints.len(), 1, "connected records are kept");
        // `GET /__sandbox/state` lists the kept links, oldest first, in the same shape as before.
        let links = s.snapshot()["novu"]["links"].clone();
        let listed: Vec<&str> = links.as_array().into_iter().flatten().filter_map(|l| l["id"].as_str()).collect();
        assert_eq!(listed, kept);
        let l = &links[0];
        assert_eq!(
            (&l["outcome"], &l["mode"], &l["connectionMode"]),
            (&json!("approved"), &json!("link_user"), &json!("subscriber"))
        );
        assert_eq!(
            (&l["integrationIdentifier"], &l["subscriberId"]),
            (&json!("slack"), &json!(format!("s{}", 4 * cap)))
        );
    }

    #[tokio::test]
    async fn expired_links_and_keys_make_room_before_live_ones() {
        let s = shared(SandboxConfig::default().link_capacity(3).idempotency_capacity(3));
        let old: Vec<String> = [oauth(&s, "a", Some("ka")).await, oauth(&s, "b", Some("kb")).await]
            .into_iter()
            .map(|i| i.link_id)
            .collect();
        *lock(&s.clock_offset) += chrono::Duration::hours(25);
        let live = oauth(&s, "c", Some("kc")).await.link_id;
        // Under capacity, expired links are kept: they still answer "expired" (410).
        assert_eq!(page(&s, &old[0]).await.0, 410);
        // Full: both expired entries make room at once; the live one stays.
        let newer = oauth(&s, "d", Some("kd")).await.link_id;
        let held = |n: &NovuState| (n.links.len(), n.idempotency.len());
        assert_eq!(held(&lock(&s.novu)), (2, 2));
        assert_eq!(page(&s, &old[0]).await, page(&s, "never-issued").await);
        assert_eq!((page(&s, &live).await.0, page(&s, &newer).await.0), (200, 200));
        // Nothing expired: the oldest live entry goes.
        oauth(&s, "e", Some("ke")).await;
        oauth(&s, "f", Some("kf")).await;
        assert_eq!(page(&s, &live).await, page(&s, "never-issued").await);
        assert_eq!(page(&s, &newer).await.0, 200);
    }

    #[tokio::test]
    async fn idempotency_keys_replay_within_capacity_and_the_oldest_are_forgotten() {
        let cap = 3;
        let s = shared(SandboxConfig::default().idempotency_capacity(cap).link_capacity(100));
        let mut first = Vec::new();
        for n in 0..5 * cap {
            let issued = oauth(&s, "s", Some(&format!("k{n}"))).await;
            assert!(!issued.replayed);
            first.push(issued);
            assert!(lock(&s.novu).idempotency.len() <= cap, "bounded after {n} keys");
        }
        let links = lock(&s.novu).links.len();
        // The last `cap` keys replay the very same response, without a new link.
        for (n, was) in first.iter().enumerate().skip(4 * cap) {
            let again = oauth(&s, "s", Some(&format!("k{n}"))).await;
            assert!(again.replayed, "k{n} replays");
            assert_eq!((again.body.as_str(), again.link_id.as_str()), (was.body.as_str(), was.link_id.as_str()));
        }
        assert_eq!(lock(&s.novu).links.len(), links);
        // An older key was forgotten: it is a new request, with a new link.
        let again = oauth(&s, "s", Some("k0")).await;
        assert!(!again.replayed);
        assert_ne!(again.link_id, first[0].link_id);
        assert_eq!(lock(&s.novu).links.len(), links + 1);
    }
}
