//! `/__sandbox/*`: reset, state, request log, faults, approve/deny, clock, settings, and
//! connections put in error.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::{StatusCode, Uri};
use serde_json::{json, Value};

use crate::config::FaultConfig;
use crate::consent::{self, Form};
use crate::state::{fmt_time, json_response, lock, query_get, query_pairs, FaultState, RootUrl, Shared};

type St = State<Shared>;

fn bad(msg: impl Into<String>) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({ "error": msg.into() }))
}

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/health", get(|| async { json_response(StatusCode::OK, &json!({"ok": true})) }))
        .route("/reset", post(reset))
        .route("/state", get(state))
        .route("/requests", get(requests).delete(clear_requests))
        .route("/faults", get(get_faults).post(set_faults))
        .route("/approve", post(approve))
        .route("/deny", post(deny))
        .route("/clock", get(get_clock).post(advance_clock))
        .route("/settings", get(settings))
        .route("/catalogue", get(|| async { json_response(StatusCode::OK, &crate::catalogue::catalogue_json()) }))
        .route("/novu/integrations/{identifier}", post(novu_integration))
        .route("/junction/connection-error", post(junction_connection_error))
        .route("/connections/{id}/error", post(connection_error))
        .fallback(|| async { json_response(StatusCode::NOT_FOUND, &json!({"error": "unknown admin endpoint"})) })
}

async fn reset(State(s): St) -> Response {
    s.reset();
    json_response(StatusCode::OK, &json!({ "ok": true }))
}

async fn state(State(s): St) -> Response {
    json_response(StatusCode::OK, &s.snapshot())
}

/// Filters: `platform` (alloy|novu|junction), `method`, `path` (prefix), `since` (seq, exclusive).
pub(crate) fn filtered_requests(s: &crate::state::Inner, q: &[(String, String)]) -> Vec<Value> {
    let platform = query_get(q, "platform");
    let method = query_get(q, "method");
    let path = query_get(q, "path");
    let since = query_get(q, "since").and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    lock(&s.log)
        .entries
        .iter()
        .filter(|e| platform.is_none_or(|p| e.platform == p))
        .filter(|e| method.is_none_or(|m| e.method.as_str().eq_ignore_ascii_case(m)))
        .filter(|e| path.is_none_or(|p| e.uri.path().starts_with(p)))
        .filter(|e| e.seq > since)
        .map(crate::state::LogEntry::to_json)
        .collect()
}

async fn requests(State(s): St, uri: Uri) -> Response {
    let q = query_pairs(&uri);
    json_response(StatusCode::OK, &json!({ "requests": filtered_requests(&s, &q) }))
}

async fn clear_requests(State(s): St) -> Response {
    lock(&s.log).entries.clear();
    json_response(StatusCode::OK, &json!({ "ok": true }))
}

async fn get_faults(State(s): St) -> Response {
    json_response(StatusCode::OK, &serde_json::to_value(&lock(&s.faults).config).unwrap_or_default())
}

async fn set_faults(State(s): St, body: Bytes) -> Response {
    let cfg: FaultConfig = if body.iter().all(u8::is_ascii_whitespace) {
        FaultConfig::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(c) => c,
            Err(e) => return bad(format!("invalid fault config: {e}")),
        }
    };
    if let Err(e) = cfg.validate() {
        return bad(e);
    }
    *lock(&s.faults) = FaultState::new(cfg.clone());
    json_response(StatusCode::OK, &serde_json::to_value(&cfg).unwrap_or_default())
}

fn link_and_form(body: &[u8]) -> Result<(String, Form), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("expected JSON {{\"url\": ...}}: {e}"))?;
    let link = match &v {
        Value::String(s) => s.clone(),
        _ => ["url", "link", "id", "link_token"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(str::to_string)
            .ok_or_else(|| "give the link as \"url\" (or \"id\")".to_string())?,
    };
    let mut form = Form::new();
    for k in ["provider", "username", "password", "error_type"] {
        if let Some(x) = v.get(k).and_then(Value::as_str) {
            form.insert(k.into(), x.into());
        }
    }
    Ok((link, form))
}

async fn decide(s: &Shared, body: &[u8], approve: bool) -> Response {
    let (link, form) = match link_and_form(body) {
        Ok(x) => x,
        Err(e) => return bad(e),
    };
    match consent::resolve(s, &link, approve, &form) {
        Some(r) => json_response(StatusCode::OK, &serde_json::to_value(&r).unwrap_or_default()),
        None => json_response(StatusCode::NOT_FOUND, &json!({ "error": format!("unknown link {link}") })),
    }
}

async fn approve(State(s): St, body: Bytes) -> Response {
    decide(&s, &body, true).await
}

async fn deny(State(s): St, body: Bytes) -> Response {
    decide(&s, &body, false).await
}

/// Sets the protection of an OAuth-capable Novu integration; `false` when there is none.
pub(crate) fn set_novu_hmac(s: &crate::state::Inner, identifier: &str, enabled: bool) -> bool {
    let Some(integ) = crate::catalogue::novu_oauth_integration(identifier) else {
        return false;
    };
    let mut n = lock(&s.novu);
    if enabled {
        n.hmac_integrations.insert(integ.identifier.to_string());
    } else {
        n.hmac_integrations.remove(integ.identifier);
    }
    true
}

/// `POST /__sandbox/novu/integrations/{identifier}` `{"hmac": bool}`.
async fn novu_integration(State(s): St, Path(identifier): Path<String>, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(format!("expected {{\"hmac\": true|false}}: {e}")),
    };
    let Some(hmac) = v.get("hmac").and_then(Value::as_bool) else {
        return bad("hmac (boolean) is required");
    };
    if !set_novu_hmac(&s, &identifier, hmac) {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no OAuth-capable Novu integration {identifier}") }),
        );
    }
    json_response(StatusCode::OK, &json!({ "identifier": identifier, "hmac": hmac }))
}

/// `POST /__sandbox/junction/connection-error` `{"user_id", "provider", "error_type"?, "error_message"?}`.
async fn junction_connection_error(State(s): St, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(format!("expected {{\"user_id\", \"provider\"}}: {e}")),
    };
    let (Some(user), Some(provider)) =
        (v.get("user_id").and_then(Value::as_str), v.get("provider").and_then(Value::as_str))
    else {
        return bad("user_id and provider (strings) are required");
    };
    let error_type = v.get("error_type").and_then(Value::as_str).unwrap_or("token_refresh_failed");
    let message =
        v.get("error_message").and_then(Value::as_str).unwrap_or("The provider token could not be refreshed.");
    if !crate::junction::set_connection_error(&s, user, provider, error_type, message) {
        return json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("user {user} has no {provider} connection") }),
        );
    }
    json_response(StatusCode::OK, &json!({ "user_id": user, "provider": provider, "status": "error" }))
}

/// What putting a connection in error did, or why it could not.
pub(crate) fn put_in_error(
    s: &crate::state::Inner,
    id: &str,
    error_type: Option<&str>,
    message: Option<&str>,
) -> Result<Value, (StatusCode, String)> {
    // Junction: `<user_id>/<slug>`, the id oauth-link gives a Junction connection.
    if let Some((user, provider)) = id.split_once('/') {
        let listed = lock(&s.junction).connections.iter().any(|c| c.user_id == user && c.provider == provider);
        if listed {
            let error_type = error_type.unwrap_or("token_refresh_failed");
            let message = message.unwrap_or("The provider token could not be refreshed.");
            crate::junction::set_connection_error(s, user, provider, error_type, message);
            return Ok(json!({"platform": "junction", "id": id, "status": "error", "error_type": error_type}));
        }
    }
    if crate::novu::expire_connection(s, id) {
        return Ok(json!({"platform": "novu", "id": id, "auth": "refresh token expired"}));
    }
    let no_health = |platform: &str, what: &str| {
        (
            StatusCode::CONFLICT,
            format!("{platform} {what} `{id}` carries no health state (its records have no status): nothing to put in error"),
        )
    };
    if lock(&s.novu).endpoints.iter().any(|e| e.identifier == id) {
        return Err(no_health("Novu", "channel endpoint"));
    }
    if lock(&s.alloy).credentials.iter().any(|c| c.credential_id == id) {
        return Err(no_health("Alloy", "credential"));
    }
    Err((
        StatusCode::NOT_FOUND,
        format!("no connection `{id}` (a Junction `<user_id>/<slug>`, a Novu channel connection)"),
    ))
}

/// `POST /__sandbox/connections/{id}/error` `{"error_type"?, "error_message"?}` (body
/// optional): puts the connection `id` (as oauth-link names it; percent-encode Junction's `/`)
/// in error as its platform would report it. Junction: `status: error` with `error_details`
/// (`error_type` default `token_refresh_failed`). Novu channel connection: a rotating token
/// whose refresh token expired. Novu channel endpoints and Alloy credentials have no health
/// state: 409. Unknown: 404.
async fn connection_error(State(s): St, Path(id): Path<String>, body: Bytes) -> Response {
    let v: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => return bad(format!("expected {{\"error_type\"?, \"error_message\"?}}: {e}")),
        }
    };
    let (error_type, message) =
        (v.get("error_type").and_then(Value::as_str), v.get("error_message").and_then(Value::as_str));
    match put_in_error(&s, &id, error_type, message) {
        Ok(done) => json_response(StatusCode::OK, &done),
        Err((status, error)) => json_response(status, &json!({ "error": error })),
    }
}

async fn get_clock(State(s): St) -> Response {
    let off = *lock(&s.clock_offset);
    json_response(
        StatusCode::OK,
        &json!({ "now": fmt_time(s.now()), "offset_seconds": off.num_milliseconds() as f64 / 1000.0 }),
    )
}

async fn advance_clock(State(s): St, body: Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return bad(format!("expected {{\"advance_seconds\": N}}: {e}")),
    };
    let Some(secs) = v.get("advance_seconds").and_then(Value::as_f64) else {
        return bad("advance_seconds (number) is required");
    };
    *lock(&s.clock_offset) += chrono::Duration::milliseconds((secs * 1000.0) as i64);
    get_clock(State(s)).await
}

async fn settings(State(s): St, Extension(root): Extension<RootUrl>) -> Response {
    json_response(StatusCode::OK, &crate::server::settings_json(&root.0, &s.config))
}
