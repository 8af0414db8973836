//! Junction (formerly Vital) Link emulation, under `/junction`.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use http::{HeaderMap, StatusCode, Uri};
use serde_json::{json, Value};

use crate::catalogue::{junction_provider, JunctionProvider, JUNCTION_PROVIDERS};
use crate::consent::{self, close_tab_page, error_page, Form, Outcome};
use crate::state::{
    append_query, esc, fmt_time, json_response, lock, parse_body, query_get, query_pairs, token, Inner,
    JunctionConnection, JunctionState, JunctionToken, JunctionUser, Link, LinkOutcome, RootUrl, Shared,
};

type St = State<Shared>;

/// The sandbox team id.
pub(crate) const TEAM_ID: &str = "5a9b1c7e-3f2d-4c1b-9e8a-000000000001";

fn detail(status: StatusCode, detail: Value) -> Response {
    json_response(status, &json!({ "detail": detail }))
}

fn invalid(error_type: &str, message: &str) -> Value {
    json!({ "error_type": error_type, "error_message": message })
}

/// One FastAPI/pydantic validation error item.
fn verr(kind: &str, loc: &[&str], msg: &str, input: Value) -> Value {
    json!({ "type": kind, "loc": loc, "msg": msg, "input": input })
}

fn unprocessable(items: Vec<Value>) -> Response {
    detail(StatusCode::UNPROCESSABLE_ENTITY, Value::Array(items))
}

fn check(s: &Inner, headers: &HeaderMap) -> Option<Response> {
    match headers.get("x-vital-api-key").and_then(|v| v.to_str().ok()) {
        Some(k) if k.trim() == s.config.junction_api_key => None,
        Some(_) => Some(detail(StatusCode::UNAUTHORIZED, json!("Invalid API key"))),
        None => Some(detail(StatusCode::UNAUTHORIZED, json!("Missing x-vital-api-key header"))),
    }
}

macro_rules! guard {
    ($s:expr, $h:expr) => {
        if let Some(r) = check(&$s, &$h) {
            return r;
        }
    };
}

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/v2/user", post(create_user))
        .route("/v2/user/", post(create_user))
        .route("/v2/user/{user_id}", get(get_user))
        .route("/v2/user/resolve/{client_user_id}", get(resolve_user))
        .route("/v2/user/providers/{user_id}", get(list_providers))
        .route("/v2/user/{user_id}/{provider}", delete(deregister))
        .route("/v2/link/token", post(link_token))
        .route("/v2/link/provider/oauth/{provider}", get(oauth_provider))
        .route("/v2/link/providers", get(link_providers))
        .route("/consent/{token}", get(consent_get))
        .route("/consent/{token}/approve", post(consent_approve))
        .route("/consent/{token}/deny", post(consent_deny))
        .fallback(|| async { detail(StatusCode::NOT_FOUND, json!("Not Found")) })
}

fn provider_brief(p: &JunctionProvider) -> Value {
    json!({ "name": p.name, "slug": p.slug, "logo": p.logo() })
}

fn user_json(j: &JunctionState, u: &JunctionUser) -> Value {
    let sources: Vec<Value> = j
        .connections
        .iter()
        .filter(|c| c.user_id == u.user_id)
        .filter_map(|c| {
            let p = junction_provider(&c.provider)?;
            Some(json!({ "provider": provider_brief(p), "created_on": c.created_on, "source": provider_brief(p) }))
        })
        .collect();
    let mut v = json!({
        "user_id": u.user_id,
        "team_id": TEAM_ID,
        "client_user_id": u.client_user_id,
        "created_on": u.created_on,
        "connected_sources": sources,
        "fallback_time_zone": null,
        "fallback_birth_date": null,
        "ingestion_start": null,
        "ingestion_end": null,
    });
    for (k, val) in &u.extra {
        v[k] = val.clone();
    }
    v
}

fn user_not_found(id: &str) -> Response {
    detail(StatusCode::NOT_FOUND, invalid("INVALID_REQUEST", &format!("User {id} not found.")))
}

fn uuid_error(loc: &[&str], input: &str) -> Option<Response> {
    if uuid::Uuid::parse_str(input).is_ok() {
        return None;
    }
    Some(unprocessable(vec![verr(
        "uuid_parsing",
        loc,
        "Input should be a valid UUID, invalid character: expected an optional prefix of `urn:uuid:` followed by [0-9a-fA-F-]",
        json!(input),
    )]))
}

fn enum_msg(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("Input should be {} or {last}", rest.join(", ")),
        _ => format!("Input should be {}", quoted.join("")),
    }
}

fn provider_enum_error(loc: &[&str], input: &Value, oauth_only: bool) -> Response {
    let values: Vec<&str> = JUNCTION_PROVIDERS.iter().filter(|p| !oauth_only || p.is_oauth()).map(|p| p.slug).collect();
    unprocessable(vec![verr("enum", loc, &enum_msg(&values), input.clone())])
}

async fn create_user(State(s): St, headers: HeaderMap, body: Bytes) -> Response {
    guard!(s, headers);
    let v = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => {
            return unprocessable(vec![verr(
                "json_invalid",
                &["body", "0"],
                &format!("JSON decode error: {e}"),
                json!({}),
            )])
        }
    };
    let cuid = match v.get("client_user_id") {
        Some(Value::String(c)) => c.clone(),
        None | Some(Value::Null) => {
            return unprocessable(vec![verr("missing", &["body", "client_user_id"], "Field required", v.clone())]);
        }
        Some(other) => {
            return unprocessable(vec![verr(
                "string_type",
                &["body", "client_user_id"],
                "Input should be a valid string",
                other.clone(),
            )]);
        }
    };
    let now = fmt_time(s.now());
    let mut j = lock(&s.junction);
    if let Some(u) = j.users.iter().find(|u| u.client_user_id == cuid) {
        return detail(
            StatusCode::BAD_REQUEST,
            json!({
                "error_type": "INVALID_REQUEST",
                "error_message": "Client user id already exists.",
                "user_id": u.user_id,
                "created_on": u.created_on,
            }),
        );
    }
    let mut extra = serde_json::Map::new();
    for k in ["fallback_time_zone", "fallback_birth_date", "ingestion_start", "ingestion_end"] {
        if let Some(val) = v.get(k) {
            extra.insert(k.into(), val.clone());
        }
    }
    let user = JunctionUser { user_id: uuid::Uuid::new_v4().to_string(), client_user_id: cuid, created_on: now, extra };
    let out = user_json(&j, &user);
    j.users.push(user);
    json_response(StatusCode::OK, &out)
}

async fn get_user(State(s): St, headers: HeaderMap, Path(user_id): Path<String>) -> Response {
    guard!(s, headers);
    if let Some(r) = uuid_error(&["path", "user_id"], &user_id) {
        return r;
    }
    let j = lock(&s.junction);
    match j.users.iter().find(|u| u.user_id == user_id) {
        Some(u) => json_response(StatusCode::OK, &user_json(&j, u)),
        None => user_not_found(&user_id),
    }
}

async fn resolve_user(State(s): St, headers: HeaderMap, Path(cuid): Path<String>) -> Response {
    guard!(s, headers);
    let j = lock(&s.junction);
    match j.users.iter().find(|u| u.client_user_id == cuid) {
        Some(u) => json_response(StatusCode::OK, &user_json(&j, u)),
        None => detail(StatusCode::NOT_FOUND, invalid("INVALID_REQUEST", &format!("Client user id {cuid} not found."))),
    }
}

async fn list_providers(State(s): St, headers: HeaderMap, Path(user_id): Path<String>) -> Response {
    guard!(s, headers);
    if let Some(r) = uuid_error(&["path", "user_id"], &user_id) {
        return r;
    }
    let j = lock(&s.junction);
    if !j.users.iter().any(|u| u.user_id == user_id) {
        return user_not_found(&user_id);
    }
    let now = s.now();
    let providers: Vec<Value> = j
        .connections
        .iter()
        .filter(|c| c.user_id == user_id && c.visible_from.is_none_or(|t| t <= now))
        .filter_map(|c| {
            let p = junction_provider(&c.provider)?;
            Some(json!({
                "name": p.name,
                "slug": p.slug,
                "logo": p.logo(),
                "created_on": c.created_on,
                "status": c.status,
                "resource_availability": p.resource_availability(),
                "external_user_id": c.external_user_id,
                "error_details": c.error_details,
            }))
        })
        .collect();
    json_response(StatusCode::OK, &json!({ "providers": providers }))
}

async fn deregister(State(s): St, headers: HeaderMap, Path((user_id, provider)): Path<(String, String)>) -> Response {
    guard!(s, headers);
    if let Some(r) = uuid_error(&["path", "user_id"], &user_id) {
        return r;
    }
    if junction_provider(&provider).is_none() {
        return provider_enum_error(&["path", "provider"], &json!(provider), false);
    }
    let mut j = lock(&s.junction);
    if !j.users.iter().any(|u| u.user_id == user_id) {
        return user_not_found(&user_id);
    }
    let before = j.connections.len();
    j.connections.retain(|c| !(c.user_id == user_id && c.provider == provider));
    if j.connections.len() == before {
        return detail(
            StatusCode::NOT_FOUND,
            invalid("INVALID_REQUEST", &format!("Provider {provider} is not connected.")),
        );
    }
    json_response(StatusCode::OK, &json!({ "success": true }))
}

async fn link_token(State(s): St, headers: HeaderMap, Extension(root): Extension<RootUrl>, body: Bytes) -> Response {
    guard!(s, headers);
    let v = match parse_body(&body) {
        Ok(v) => v,
        Err(e) => {
            return unprocessable(vec![verr(
                "json_invalid",
                &["body", "0"],
                &format!("JSON decode error: {e}"),
                json!({}),
            )])
        }
    };
    let user_id = match v.get("user_id") {
        Some(Value::String(u)) => u.clone(),
        None | Some(Value::Null) => {
            return unprocessable(vec![verr("missing", &["body", "user_id"], "Field required", v.clone())])
        }
        Some(other) => {
            return unprocessable(vec![verr(
                "uuid_type",
                &["body", "user_id"],
                "UUID input should be a string",
                other.clone(),
            )]);
        }
    };
    if let Some(r) = uuid_error(&["body", "user_id"], &user_id) {
        return r;
    }
    let provider = match v.get("provider") {
        None | Some(Value::Null) => None,
        Some(other) => match other.as_str().and_then(junction_provider) {
            Some(p) => Some(p.slug),
            None => return provider_enum_error(&["body", "provider"], other, false),
        },
    };
    let redirect_url = match v.get("redirect_url") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(other) => {
            return unprocessable(vec![verr(
                "string_type",
                &["body", "redirect_url"],
                "Input should be a valid string",
                other.clone(),
            )]);
        }
    };
    let filter = match v.get("filter_on_providers") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if !a.is_empty() => {
            let mut out = Vec::new();
            for (i, p) in a.iter().enumerate() {
                match p.as_str().and_then(junction_provider) {
                    Some(p) => out.push(p.slug),
                    None => return provider_enum_error(&["body", "filter_on_providers", &i.to_string()], p, false),
                }
            }
            Some(out)
        }
        Some(other) => {
            return unprocessable(vec![verr(
                "too_short",
                &["body", "filter_on_providers"],
                "List should have at least 1 item after validation, not 0",
                other.clone(),
            )]);
        }
    };
    let mut redirects = [false, false];
    for (i, f) in ["on_error", "on_close"].into_iter().enumerate() {
        match v.get(f) {
            None | Some(Value::Null) => {}
            Some(Value::String(x)) if x == "redirect" => redirects[i] = true,
            Some(other) => {
                return unprocessable(vec![verr(
                    "literal_error",
                    &["body", f],
                    "Input should be 'redirect'",
                    other.clone(),
                )])
            }
        }
    }
    let now = s.now();
    let mut j = lock(&s.junction);
    if !j.users.iter().any(|u| u.user_id == user_id) {
        return user_not_found(&user_id);
    }
    let link_token = token(40);
    let link = Link {
        kind: JunctionToken {
            user_id,
            provider,
            redirect_url,
            filter_on_providers: filter,
            on_error: redirects[0],
            on_close: redirects[1],
        },
        created_at: now,
        expires_at: now + s.config.junction_link_lifetime,
        outcome: None,
    };
    j.link_tokens.insert(&link_token, link, now);
    let web = append_query(
        &format!("{}/junction/consent/{link_token}", root.0),
        &[("token", &link_token), ("env", "sandbox"), ("region", "us")],
    );
    json_response(StatusCode::OK, &json!({ "link_token": link_token, "link_web_url": web }))
}

/// Token problems in Junction's error vocabulary: `(error_type, message)`.
fn token_problem(
    link: &Link<JunctionToken>,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<(&'static str, &'static str)> {
    if link.outcome == Some(LinkOutcome::Approved) {
        Some(("token_consumed", "The link token has already been used."))
    } else if now >= link.expires_at {
        Some(("token_expired", "The link token has expired."))
    } else {
        None
    }
}

async fn oauth_provider(
    State(s): St,
    headers: HeaderMap,
    Extension(root): Extension<RootUrl>,
    Path(provider): Path<String>,
) -> Response {
    let Some(p) = junction_provider(&provider).filter(|p| p.is_oauth()) else {
        return provider_enum_error(&["path", "oauth_provider"], &json!(provider), true);
    };
    let Some(tok) = headers.get("x-vital-link-token").and_then(|v| v.to_str().ok()).filter(|t| !t.is_empty()) else {
        return detail(StatusCode::BAD_REQUEST, invalid("invalid_token", "The x-vital-link-token header is required."));
    };
    let now = s.now();
    let j = lock(&s.junction);
    let Some(link) = j.link_tokens.get(tok) else {
        return detail(StatusCode::BAD_REQUEST, invalid("invalid_token", "The link token is invalid."));
    };
    if let Some((t, m)) = token_problem(link, now) {
        return detail(StatusCode::BAD_REQUEST, invalid(t, m));
    }
    let oauth_url = append_query(&format!("{}/junction/consent/{tok}", root.0), &[("provider", p.slug)]);
    json_response(
        StatusCode::OK,
        &json!({
            "id": p.id,
            "name": p.name,
            "slug": p.slug,
            "description": format!("{} (sandbox)", p.name),
            "logo": p.logo(),
            "group": null,
            "oauth_url": oauth_url,
            "auth_type": p.auth_type,
            "source_type": p.source_type,
            "is_active": true,
            "backfill_num_days": 90,
        }),
    )
}

/// `GET /v2/link/providers` (`security: []`, no API key): a bare array of `SourceLink
/// {id, name, slug, description, logo, oauth_url, auth_type, form_components}`. With a valid
/// `x-vital-link-token`, OAuth providers carry the `oauth_url` for that token; without one
/// `oauth_url` is null; an unusable token is 400 as on the OAuth-provider endpoint.
async fn link_providers(State(s): St, headers: HeaderMap, Extension(root): Extension<RootUrl>) -> Response {
    let tok = headers.get("x-vital-link-token").and_then(|v| v.to_str().ok()).filter(|t| !t.is_empty());
    if let Some(t) = tok {
        let now = s.now();
        let j = lock(&s.junction);
        let Some(link) = j.link_tokens.get(t) else {
            return detail(StatusCode::BAD_REQUEST, invalid("invalid_token", "The link token is invalid."));
        };
        if let Some((kind, m)) = token_problem(link, now) {
            return detail(StatusCode::BAD_REQUEST, invalid(kind, m));
        }
    }
    let list: Vec<Value> = JUNCTION_PROVIDERS
        .iter()
        .map(|p| {
            let oauth_url = match tok {
                Some(t) if p.is_oauth() => {
                    json!(append_query(&format!("{}/junction/consent/{t}", root.0), &[("provider", p.slug)]))
                }
                _ => Value::Null,
            };
            json!({
                "id": p.id,
                "name": p.name,
                "slug": p.slug,
                "description": format!("{} (sandbox)", p.name),
                "logo": p.logo(),
                "oauth_url": oauth_url,
                "auth_type": p.auth_type,
                "form_components": {},
            })
        })
        .collect();
    json_response(StatusCode::OK, &Value::Array(list))
}

fn error_redirect(redirect: &str, status: StatusCode, error_type: &str, message: &str) -> Outcome {
    Outcome::Redirect {
        status,
        location: append_query(redirect, &[("state", "error"), ("error_type", error_type), ("error", message)]),
    }
}

async fn consent_get(State(s): St, Path(tok): Path<String>, uri: Uri) -> Response {
    let now = s.now();
    let q = query_pairs(&uri);
    let j = lock(&s.junction);
    let Some(link) = j.link_tokens.get(&tok) else {
        return error_page(StatusCode::NOT_FOUND, "Unknown link token").into_response();
    };
    if let Some((t, m)) = token_problem(link, now) {
        return match &link.kind.redirect_url {
            Some(r) => error_redirect(r, StatusCode::TEMPORARY_REDIRECT, t, m),
            None => error_page(StatusCode::GONE, m),
        }
        .into_response();
    }
    let provider = query_get(&q, "provider").or(link.kind.provider);
    let mut fields = String::new();
    let mut details = vec![("User", link.kind.user_id.clone())];
    match provider.and_then(junction_provider) {
        Some(p) => {
            details.push(("Provider", p.name.to_string()));
            fields.push_str(&format!("<input type=\"hidden\" name=\"provider\" value=\"{}\">\n", esc(p.slug)));
            if !p.is_oauth() {
                fields.push_str(
                    "<label>Username <input type=\"text\" name=\"username\" id=\"username\"></label>\n<label>Password <input type=\"password\" name=\"password\" id=\"password\"></label>\n",
                );
            }
        }
        None => {
            let allowed: Vec<&JunctionProvider> = JUNCTION_PROVIDERS
                .iter()
                .filter(|p| link.kind.filter_on_providers.as_ref().is_none_or(|f| f.contains(&p.slug)))
                .collect();
            fields.push_str("<label>Provider <select name=\"provider\" id=\"provider\">\n");
            for p in allowed {
                fields.push_str(&format!("<option value=\"{}\">{}</option>\n", esc(p.slug), esc(p.name)));
            }
            fields.push_str("</select></label>\n<label>Username (password providers) <input type=\"text\" name=\"username\" id=\"username\"></label>\n");
        }
    }
    let html = consent::consent_page("Junction", &tok, "Connect your health data to this app?", &details, &fields);
    crate::state::html_response(StatusCode::OK, html)
}

async fn consent_approve(State(s): St, Path(tok): Path<String>, body: Bytes) -> Response {
    let form = consent::parse_form(&body);
    complete(&s, &tok, true, &form)
        .unwrap_or_else(|| error_page(StatusCode::NOT_FOUND, "Unknown link token"))
        .into_response()
}

async fn consent_deny(State(s): St, Path(tok): Path<String>, body: Bytes) -> Response {
    let form = consent::parse_form(&body);
    complete(&s, &tok, false, &form)
        .unwrap_or_else(|| error_page(StatusCode::NOT_FOUND, "Unknown link token"))
        .into_response()
}

/// The error a consent form asks the sandbox to simulate, if any: `error_type` (any Junction
/// link error type), or the password `wrong` for a password provider.
fn simulated_error(p: &JunctionProvider, form: &Form) -> Option<(String, String)> {
    let asked = form.get("error_type").map(|t| t.trim()).filter(|t| !t.is_empty());
    let wrong_password = !p.is_oauth() && form.get("password").is_some_and(|pw| pw == "wrong");
    let kind = match (asked, wrong_password) {
        (Some(t), _) => t.to_string(),
        (None, true) => "provider_credential_error".to_string(),
        (None, false) => return None,
    };
    let message = match kind.as_str() {
        "provider_credential_error" if p.is_oauth() => {
            "An error occurred during the provider authentication flow.".into()
        }
        "provider_credential_error" => "Invalid username or password".into(),
        "required_scopes_not_granted" => "User did not grant all required scopes.".into(),
        "provider_api_error" => "An unexpected error occurred when connecting to the provider API.".into(),
        other => format!("Link error: {other}"),
    };
    Some((kind, message))
}

/// The Junction page a user stays on when nothing sends them back to the app.
fn junction_page(message: &str) -> Outcome {
    Outcome::Page {
        status: StatusCode::OK,
        html: format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Junction Link</title></head>\n<body><h1>Junction Link</h1><p id=\"message\">{}</p></body></html>\n",
            esc(message)
        ),
    }
}

/// Approves or denies (the widget's Close) a Junction link token. `None` when the token is
/// unknown.
///
/// * Close: with `on_close: "redirect"` and a `redirect_url`, the browser goes back with
///   `state=error&error_type=user_cancelled&error=...`; otherwise it stays on a Junction page.
///   The token stays usable (only a successful connection consumes it).
/// * A failed connection (form field `error_type`, or password `wrong` for a password
///   provider): OAuth providers always go back to `redirect_url` with the error; password
///   providers only with `on_error: "redirect"`, else the Junction page shows the error.
/// * Success: the connection is created, or, when the user already has this provider (also
///   in `error` state), updated to `connected` with its error cleared and `created_on` kept;
///   the token is consumed and the browser goes to `redirect_url` + `state=success`.
pub(crate) fn complete(s: &Inner, tok: &str, approve: bool, form: &Form) -> Option<Outcome> {
    let now = s.now();
    let mut guard = lock(&s.junction);
    let j = &mut *guard;
    let link = j.link_tokens.get_mut(tok)?;
    let redirect = link.kind.redirect_url.clone();
    if let Some((t, m)) = token_problem(link, now) {
        return Some(match &redirect {
            Some(r) => error_redirect(r, StatusCode::SEE_OTHER, t, m),
            None => error_page(StatusCode::GONE, m),
        });
    }
    if !approve {
        link.outcome = Some(LinkOutcome::Denied);
        return Some(match (&redirect, link.kind.on_close) {
            (Some(r), true) => {
                error_redirect(r, StatusCode::SEE_OTHER, "user_cancelled", "User cancelled the connection.")
            }
            _ => junction_page("You closed Junction Link. Nothing was connected."),
        });
    }
    let chosen = form.get("provider").map(String::as_str).filter(|p| !p.is_empty()).or(link.kind.provider);
    let Some(p) = chosen.and_then(junction_provider) else {
        return Some(error_page(StatusCode::BAD_REQUEST, "Choose a provider to connect."));
    };
    if link.kind.filter_on_providers.as_ref().is_some_and(|f| !f.contains(&p.slug)) {
        return Some(error_page(StatusCode::BAD_REQUEST, "This provider is not offered by this link."));
    }
    if let Some((kind, message)) = simulated_error(p, form) {
        let goes_back = p.is_oauth() || link.kind.on_error;
        return Some(match (&redirect, goes_back) {
            (Some(r), true) => error_redirect(r, StatusCode::SEE_OTHER, &kind, &message),
            _ => junction_page(&format!("{} could not be connected: {message}", p.name)),
        });
    }
    link.outcome = Some(LinkOutcome::Approved);
    let user_id = link.kind.user_id.clone();
    let external = if p.is_oauth() {
        format!("{}-user-{}", p.slug, token(8).to_lowercase())
    } else {
        form.get("username").filter(|u| !u.is_empty()).cloned().unwrap_or_else(|| "sandbox-user@example.com".into())
    };
    let delay = s.config.junction_connection_delay;
    let after = match j.connections.iter_mut().find(|c| c.user_id == user_id && c.provider == p.slug) {
        Some(c) => {
            c.status = "connected".into();
            c.error_details = None;
            c.external_user_id = Some(external.clone());
            Duration::ZERO
        }
        None => {
            let visible_from =
                (!delay.is_zero()).then(|| now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero()));
            j.connections.push(JunctionConnection {
                user_id: user_id.clone(),
                provider: p.slug.into(),
                created_on: fmt_time(now),
                status: "connected".into(),
                external_user_id: Some(external.clone()),
                error_details: None,
                visible_from,
            });
            delay
        }
    };
    if let Some(client_user_id) = j.users.iter().find(|u| u.user_id == user_id).map(|u| u.client_user_id.clone()) {
        let brief = provider_brief(p);
        s.webhooks.emit(
            json!({
                "event_type": "provider.connection.created",
                "user_id": user_id,
                "client_user_id": client_user_id,
                "team_id": TEAM_ID,
                "data": {
                    "user_id": user_id,
                    "provider": brief,
                    "source": brief,
                    "external_user_id": external,
                    "resource_availability": p.resource_availability(),
                },
            }),
            after,
        );
    }
    Some(match &redirect {
        Some(r) => {
            Outcome::Redirect { status: StatusCode::SEE_OTHER, location: append_query(r, &[("state", "success")]) }
        }
        None => close_tab_page(StatusCode::OK, "Connected, you may close this tab."),
    })
}

/// Puts a user's connection to `provider` in `error` state (what Junction reports when, e.g.,
/// a token refresh fails). `false` when the user has no such connection.
pub(crate) fn set_connection_error(
    s: &Inner,
    user_id: &str,
    provider: &str,
    error_type: &str,
    error_message: &str,
) -> bool {
    let now = fmt_time(s.now());
    let mut j = lock(&s.junction);
    let found = match j.connections.iter_mut().find(|c| c.user_id == user_id && c.provider == provider) {
        Some(c) => {
            c.status = "error".into();
            c.error_details =
                Some(json!({ "error_type": error_type, "error_message": error_message, "errored_at": now }));
            true
        }
        None => false,
    };
    let client_user_id = j.users.iter().find(|u| u.user_id == user_id).map(|u| u.client_user_id.clone());
    if let (true, Some(client_user_id)) = (found, client_user_id) {
        s.webhooks.emit(
            json!({
                "event_type": "provider.connection.error",
                "user_id": user_id,
                "client_user_id": client_user_id,
                "team_id": TEAM_ID,
                "data": {
                    "provider": provider,
                    "user_id": user_id,
                    "message": error_message,
                    "error_type": error_type,
                    "error_details": error_message,
                },
            }),
            Duration::ZERO,
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SandboxConfig;
    use crate::state::testing::{headers, read, root, shared};

    const KEY: (&str, &str) = ("x-vital-api-key", "sk_us_sandbox_junction_key");

    async fn new_user(s: &Shared) -> String {
        let r = create_user(State(s.clone()), headers(&[KEY]), Bytes::from(r#"{"client_user_id": "u"}"#)).await;
        let v: Value = serde_json::from_str(&read(r).await.2).expect("json");
        v["user_id"].as_str().expect("user_id").to_string()
    }

    /// A link token for `user`, returning to `redirect` (which tells tokens apart).
    async fn issue(s: &Shared, user: &str, redirect: &str) -> String {
        let body = json!({"user_id": user, "provider": "oura", "redirect_url": redirect}).to_string();
        let r = link_token(State(s.clone()), headers(&[KEY]), Extension(root()), Bytes::from(body)).await;
        let v: Value = serde_json::from_str(&read(r).await.2).expect("json");
        v["link_token"].as_str().expect("link_token").to_string()
    }

    async fn oauth(s: &Shared, tok: &str) -> (u16, Option<String>, String) {
        let h = headers(&[("x-vital-link-token", tok)]);
        read(oauth_provider(State(s.clone()), h, Extension(root()), Path("oura".into())).await).await
    }

    async fn page(s: &Shared, tok: &str) -> (u16, Option<String>, String) {
        let uri: Uri = format!("/consent/{tok}").parse().expect("uri");
        read(consent_get(State(s.clone()), Path(tok.to_string()), uri).await).await
    }

    async fn approve(s: &Shared, tok: &str) -> (u16, Option<String>, String) {
        read(consent_approve(State(s.clone()), Path(tok.to_string()), Bytes::new()).await).await
    }

    #[tokio::test]
    async fn token_lookups_stay_right_through_evictions() {
        let cap = 5;
        let s = shared(SandboxConfig::default().link_capacity(cap));
        let user = new_user(&s).await;
        let unknown = (oauth(&s, "never-issued").await, page(&s, "never-issued").await);
        assert_eq!((unknown.0 .0, unknown.1 .0), (400, 404));
        let mut issued: Vec<(String, String)> = Vec::new();
        for n in 0..5 * cap {
            let redirect = format!("https://app.example/cb/{n}");
            issued.push((issue(&s, &user, &redirect).await, redirect));
            assert!(lock(&s.junction).link_tokens.len() <= cap, "bounded after {n} tokens");
            // Every token resolves to its own link while kept, and answers as an unknown one after.
            let kept_from = issued.len().saturating_sub(cap);
            for (i, (tok, redirect)) in issued.iter().enumerate() {
                let found = lock(&s.junction).link_tokens.get(tok).and_then(|l| l.kind.redirect_url.clone());
                if i >= kept_from {
                    assert_eq!(found.as_deref(), Some(redirect.as_str()), "token {i} after {n}");
                    assert_eq!(oauth(&s, tok).await.0, 200);
                } else {
                    assert_eq!(found, None, "token {i} evicted after {n}");
                    assert_eq!(oauth(&s, tok).await, unknown.0);
                    assert_eq!(page(&s, tok).await, unknown.1);
                }
            }
        }
        let evicted = &issued[0].0;
        assert_eq!(approve(&s, evicted).await, approve(&s, "never-issued").await);
        assert!(complete(&s, evicted, true, &Form::new()).is_none());
        let (last, redirect) = &issued[issued.len() - 1];
        assert_eq!(approve(&s, last).await.1, Some(format!("{redirect}?state=success")));
        assert_eq!(lock(&s.junction).connections.len(), 1);
    }
}
