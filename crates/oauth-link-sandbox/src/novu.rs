//! Novu emulation (chat channel endpoints and connections), under `/novu`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use serde_json::{json, Map, Value};

use crate::catalogue::{novu_integration, NovuIntegration};
use crate::consent::{self, close_tab_page, error_page, Outcome};
use crate::state::{
    fmt_time, json_bytes_response, json_response, lock, parse_body, query_pairs, token, Idempotent, Inner, Link,
    LinkOutcome, NovuConnection, NovuConnectionMode, NovuEndpoint, NovuLinkKind, NovuLinkMode, NovuState, RootUrl,
    Shared,
};
use crate::store::Entry;

type St = State<Shared>;

/// Novu `ErrorDto`.
pub(crate) fn err(status: StatusCode, path: &str, message: impl Into<Value>) -> Response {
    json_response(
        status,
        &json!({
            "statusCode": status.as_u16(),
            "timestamp": fmt_time(chrono::Utc::now()),
            "path": path,
            "message": message.into(),
        }),
    )
}

/// Novu `ValidationErrorDto` (422).
fn validation(path: &str, errors: Map<String, Value>) -> Response {
    json_response(
        StatusCode::UNPROCESSABLE_ENTITY,
        &json!({
            "statusCode": 422,
            "timestamp": fmt_time(chrono::Utc::now()),
            "path": path,
            "message": "Validation Error",
            "errors": errors,
        }),
    )
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
        .route("/v1/integrations/channel-endpoints/oauth", post(endpoint_oauth))
        .route("/v1/integrations/channel-connections/oauth", post(connection_oauth))
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

/// Validates `context` and returns its `type:id` keys.
fn context_keys(v: &Value, errors: &mut Map<String, Value>) -> Vec<String> {
    let mut keys = Vec::new();
    match v.get("context") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, val) in m {
                let id = match val {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_string),
                    _ => None,
                };
                match id {
                    Some(id) if !id.is_empty() => keys.push(format!("{k}:{id}")),
                    _ => {
                        errors.insert(
                            format!("context.{k}"),
                            json!({"messages": ["context values must be a string id or an object with a string id"], "value": val}),
                        );
                    }
                }
            }
        }
        Some(other) => {
            errors.insert("context".into(), json!({"messages": ["context must be an object"], "value": other}));
        }
    }
    keys
}

// ---------------------------------------------------------- idempotency

/// Applies Novu's `{data: ...}` envelope when configured.
fn envelope(s: &Inner, v: Value) -> Value {
    if s.config.novu_data_envelope {
        json!({ "data": v })
    } else {
        v
    }
}

/// The two routes that honour `idempotency-key`.
const ENDPOINT_OAUTH: &str = "/v1/integrations/channel-endpoints/oauth";
const CONNECTION_OAUTH: &str = "/v1/integrations/channel-connections/oauth";

/// Runs `f` under Novu's idempotency rules for `route` (errors name `path`, as requested).
fn idempotent(
    s: &Inner,
    headers: &HeaderMap,
    route: &'static str,
    path: &str,
    body: &Value,
    f: impl FnOnce() -> (StatusCode, Value, bool),
) -> Response {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    let now = s.now();
    if let Some(k) = &key {
        let n = lock(&s.novu);
        // An expired key not dropped yet is ignored, as if dropped.
        if let Some(e) = n.idempotency.get(k).filter(|e| !e.expired(now)) {
            if e.route == route && e.same_body(body) {
                let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::OK);
                let mut r = json_bytes_response(status, Bytes::copy_from_slice(&e.response));
                r.headers_mut().insert("Idempotency-Replay", HeaderValue::from_static("true"));
                if let Ok(v) = HeaderValue::from_str(k) {
                    r.headers_mut().insert("Idempotency-Key", v);
                }
                return r;
            }
            return err(
                StatusCode::UNPROCESSABLE_ENTITY,
                path,
                format!("Request with key \"{k}\" is being reused for a different body"),
            );
        }
    }
    let (status, value, is_error) = f();
    let value = if is_error { value } else { envelope(s, value) };
    let mut r = if is_error && status == StatusCode::UNPROCESSABLE_ENTITY {
        validation(path, value.as_object().cloned().unwrap_or_default())
    } else if is_error {
        err(status, path, value.clone())
    } else {
        json_bytes_response(status, Bytes::from(serde_json::to_vec(&value).unwrap_or_default()))
    };
    if let Some(k) = key {
        if !is_error {
            // Kept serialized: a few hundred bytes per key instead of two JSON trees.
            let response = serde_json::to_vec(&value).unwrap_or_default().into_boxed_slice();
            lock(&s.novu).idempotency.insert(
                &k,
                Idempotent {
                    route,
                    body: serde_json::to_string(body).unwrap_or_default().into_boxed_str(),
                    status: status.as_u16(),
                    response,
                    created_at: now,
                },
                now,
            );
        }
        if let Ok(v) = HeaderValue::from_str(&k) {
            r.headers_mut().insert("Idempotency-Key", v);
        }
    }
    r
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
    let v = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return err(StatusCode::BAD_REQUEST, &path, format!("Invalid JSON body: {e}")),
    };
    idempotent(&s, &headers, ENDPOINT_OAUTH, &path, &v, || {
        let mut errors = Map::new();
        let subscriber = require_str(&v, "subscriberId", &mut errors);
        let integration = require_str(&v, "integrationIdentifier", &mut errors);
        let connection = optional_str(&v, "connectionIdentifier", &mut errors);
        optional_str_array(&v, "userScope", &mut errors);
        let keys = context_keys(&v, &mut errors);
        if !errors.is_empty() {
            return (StatusCode::UNPROCESSABLE_ENTITY, Value::Object(errors), true);
        }
        let integration = integration.unwrap_or_default();
        let Some(integ) = novu_integration(&integration) else {
            return (
                StatusCode::NOT_FOUND,
                json!(format!("Integration with identifier {integration} not found")),
                true,
            );
        };
        let url = new_link(
            &s,
            &root,
            NovuLinkKind {
                mode: NovuLinkMode::LinkUser,
                integration_identifier: integ.identifier,
                subscriber_id: subscriber,
                connection_identifier: connection,
                context_keys: keys,
                connection_mode: NovuConnectionMode::Subscriber,
                auto_link_user: true,
            },
        );
        (StatusCode::CREATED, json!({ "url": url }), false)
    })
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
    let v = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => return err(StatusCode::BAD_REQUEST, &path, format!("Invalid JSON body: {e}")),
    };
    idempotent(&s, &headers, CONNECTION_OAUTH, &path, &v, || {
        let mut errors = Map::new();
        let integration = require_str(&v, "integrationIdentifier", &mut errors);
        let subscriber = optional_str(&v, "subscriberId", &mut errors);
        let connection = optional_str(&v, "connectionIdentifier", &mut errors);
        optional_str_array(&v, "scope", &mut errors);
        let keys = context_keys(&v, &mut errors);
        let mode = match optional_str(&v, "connectionMode", &mut errors).as_deref() {
            None | Some("subscriber") => NovuConnectionMode::Subscriber,
            Some("shared") => NovuConnectionMode::Shared,
            Some(other) => {
                errors.insert(
                    "connectionMode".into(),
                    json!({"messages": ["connectionMode must be one of the following values: subscriber, shared"], "value": other}),
                );
                NovuConnectionMode::Subscriber
            }
        };
        let auto_link = match v.get("autoLinkUser") {
            None | Some(Value::Null) => mode == NovuConnectionMode::Subscriber,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                errors.insert(
                    "autoLinkUser".into(),
                    json!({"messages": ["autoLinkUser must be a boolean value"], "value": other}),
                );
                false
            }
        };
        if !errors.is_empty() {
            return (StatusCode::UNPROCESSABLE_ENTITY, Value::Object(errors), true);
        }
        let integration = integration.unwrap_or_default();
        let Some(integ) = novu_integration(&integration) else {
            return (
                StatusCode::NOT_FOUND,
                json!(format!("Integration with identifier {integration} not found")),
                true,
            );
        };
        let url = new_link(
            &s,
            &root,
            NovuLinkKind {
                mode: NovuLinkMode::Connect,
                integration_identifier: integ.identifier,
                subscriber_id: subscriber,
                connection_identifier: connection,
                context_keys: keys,
                connection_mode: mode,
                auto_link_user: auto_link,
            },
        );
        (StatusCode::CREATED, json!({ "url": url }), false)
    })
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

fn matches_context(q: &[(String, String)], keys: &[String]) -> bool {
    let wanted: Vec<&str> =
        q.iter().filter(|(k, _)| k == "contextKeys" || k == "contextKeys[]").flat_map(|(_, v)| v.split(',')).collect();
    if wanted.is_empty() {
        return true;
    }
    wanted.iter().any(|w| if w.is_empty() { keys.is_empty() } else { keys.iter().any(|k| k == w) })
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
    let items: Vec<(u64, Value)> = lock(&s.novu)
        .connections
        .iter()
        .filter(|c| {
            matches(&q, "subscriberId", c.subscriber_id.as_deref())
                && matches(&q, "integrationIdentifier", Some(&c.integration_identifier))
                && matches(&q, "providerId", Some(&c.provider_id))
                && matches(&q, "channel", Some(&c.channel))
                && matches_context(&q, &c.context_keys)
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
    let html = consent::consent_page(
        "Novu",
        &id,
        &heading,
        &[
            ("Integration", k.integration_identifier.to_string()),
            ("Subscriber", k.subscriber_id.clone().unwrap_or_default()),
            ("Mode", k.mode.as_str().to_string()),
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
    NovuEndpoint {
        seq: n.next_seq,
        identifier: format!("{}-{}", integ.user_endpoint_type.replace('_', "-"), token(12).to_lowercase()),
        channel: "chat".into(),
        provider_id: integ.provider_id.into(),
        integration_identifier: integ.identifier.into(),
        connection_identifier: connection,
        subscriber_id: k.subscriber_id.clone(),
        context_keys: k.context_keys.clone(),
        kind: integ.user_endpoint_type.into(),
        endpoint: json!({ "userId": user_id }),
        created_at: now.into(),
        updated_at: now.into(),
    }
}

/// Approves or denies a Novu link (what Novu's OAuth callback would do). `None` when unknown.
pub(crate) fn complete(s: &Inner, id: &str, approve: bool) -> Option<Outcome> {
    let now = s.now();
    let now_s = fmt_time(now);
    let mut n = lock(&s.novu);
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
    let integ = novu_integration(k.integration_identifier)?;
    if k.mode == NovuLinkMode::Connect {
        n.next_seq += 1;
        let identifier = k
            .connection_identifier
            .clone()
            .unwrap_or_else(|| format!("{}-connection-{}", integ.identifier, token(10).to_lowercase()));
        let workspace_id = if integ.provider_id == "slack" {
            format!("T{}", token(10).to_uppercase())
        } else {
            uuid::Uuid::new_v4().to_string()
        };
        let conn = NovuConnection {
            seq: n.next_seq,
            identifier: identifier.clone(),
            channel: "chat".into(),
            provider_id: integ.provider_id.into(),
            integration_identifier: integ.identifier.into(),
            subscriber_id: k.subscriber_id.clone(),
            context_keys: k.context_keys.clone(),
            workspace: json!({"id": workspace_id, "name": "Sandbox Workspace"}),
            auth: json!({"accessToken": format!("xoxb-sandbox-{}", token(24))}),
            created_at: now_s.clone(),
            updated_at: now_s.clone(),
        };
        n.connections.retain(|c| c.identifier != identifier);
        n.connections.push(conn);
        if k.auto_link_user && k.subscriber_id.is_some() && k.connection_mode == NovuConnectionMode::Subscriber {
            let ep = user_endpoint(&mut n, integ, &k, Some(identifier), &now_s);
            n.endpoints.push(ep);
        }
    } else {
        let ep = user_endpoint(&mut n, integ, &k, k.connection_identifier.clone(), &now_s);
        n.endpoints.push(ep);
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

    async fn oauth(s: &Shared, subscriber: &str, key: Option<&str>) -> Issued {
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
