//! Alloy Embedded (headless) and Alloy Connectivity API emulation, under `/alloy`.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use http::{HeaderMap, StatusCode, Uri};
use serde_json::{json, Value};

use crate::catalogue::{self, alloy_app, alloy_connector, alloy_connector_json, alloy_icon, AlloyApp};
use crate::config::{AlloyCredentialPaths, AlloyOauthUrlShape, Platform};
use crate::consent::{self, close_tab_page, error_page, Outcome};
use crate::state::{
    append_query, fmt_time, json_response, lock, object_id, parse_body, query_get, query_pairs, str_field, token,
    AlloyCode, AlloyCredential, AlloyInstallation, AlloyLinkKind, AlloyState, AlloyUser, Inner, Link, LinkOutcome,
    RootUrl, Shared,
};

type St = State<Shared>;

/// Alloy's error body: `{"message": "..."}`.
pub(crate) fn err(status: StatusCode, message: impl Into<String>) -> Response {
    json_response(status, &json!({ "message": message.into() }))
}

fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, &body)
}

/// The API version the sandbox serves (the current one in the 2025-09 reference).
pub(crate) const ALLOY_API_VERSION: &str = "2025-09";

/// Checks `Authorization: bearer <key>` (scheme case-insensitive) and `x-api-version: 2025-09`.
fn check(s: &Inner, headers: &HeaderMap) -> Option<Response> {
    let auth = headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut parts = auth.trim().splitn(2, char::is_whitespace);
    let scheme = parts.next().unwrap_or("");
    let key = parts.next().unwrap_or("").trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key != s.config.alloy_api_key {
        return Some(err(StatusCode::UNAUTHORIZED, "Unauthorized"));
    }
    let version = headers.get("x-api-version").and_then(|v| v.to_str().ok()).unwrap_or("").trim();
    if version.is_empty() {
        return Some(err(StatusCode::BAD_REQUEST, "The x-api-version header is required (current version: 2025-09)"));
    }
    if version != ALLOY_API_VERSION {
        return Some(err(
            StatusCode::BAD_REQUEST,
            format!("Unsupported x-api-version {version:?} (current version: {ALLOY_API_VERSION})"),
        ));
    }
    None
}

macro_rules! guard {
    ($s:expr, $h:expr) => {
        if let Some(r) = check(&$s, &$h) {
            return r;
        }
    };
}

macro_rules! body_json {
    ($b:expr) => {
        match parse_body(&$b) {
            Ok(v) => v,
            Err(e) => return err(StatusCode::BAD_REQUEST, format!("Invalid JSON body: {e}")),
        }
    };
}

pub(crate) fn router() -> Router<Shared> {
    Router::new()
        .route("/users", post(create_user).get(list_users))
        .route("/users/", post(create_user).get(list_users))
        .route("/users/{user_id}", get(get_user).delete(delete_user))
        .route("/users/{user_id}/credentials", get(list_credentials_users_first))
        .route("/users/{user_id}/credentials/{credential_id}", axum::routing::delete(delete_credential))
        .route("/credentials/users/{user_id}", get(list_credentials_credentials_first))
        .route("/integrations", get(list_integrations))
        .route("/integrations/{integration_id}", get(get_integration))
        .route("/metadata/credentials", get(all_metadata))
        .route("/metadata/credentials/{app}", get(one_metadata))
        .route("/headless/oauthUrl", get(oauth_url))
        .route("/headless/credentials", post(create_headless_credential))
        .route("/headless/startInstallation", post(start_installation))
        .route("/headless/startinstallation", post(start_installation))
        .route("/headless/completeInstallation", post(complete_installation))
        .route("/headless/completeinstallation", post(complete_installation))
        .route("/installations", get(list_installations))
        .route("/connectors", get(list_connectors))
        .route("/connectors/{connector_id}", get(get_connector))
        .route(
            "/connectors/{connector_id}/credentials",
            post(create_connector_credential).get(list_connector_credentials),
        )
        .route("/connectors/{connector_id}/credentials/metadata", get(connector_metadata))
        .route("/connectors/{connector_id}/credentials/callback", post(connector_callback))
        .route("/consent/{id}", get(consent_get))
        .route("/consent/{id}/approve", post(consent_approve))
        .route("/consent/{id}/deny", post(consent_deny))
        .fallback(|| async { err(StatusCode::NOT_FOUND, "Not Found") })
}

// ------------------------------------------------------------------ users

async fn create_user(State(s): St, headers: HeaderMap, body: Bytes) -> Response {
    guard!(s, headers);
    let v = body_json!(body);
    let Some(username) = str_field(&v, "username") else {
        return err(StatusCode::BAD_REQUEST, "username is required");
    };
    let full_name = match v.get("fullName") {
        None | Some(Value::Null) => None,
        Some(Value::String(f)) => Some(f.clone()),
        Some(_) => return err(StatusCode::BAD_REQUEST, "fullName must be a string"),
    };
    let mut a = lock(&s.alloy);
    if a.users.iter().any(|u| u.username == username) {
        let status = StatusCode::from_u16(s.config.alloy_duplicate_username_status).unwrap_or(StatusCode::BAD_REQUEST);
        return err(status, "A user with this username already exists");
    }
    let user =
        AlloyUser { user_id: object_id(), username: username.to_string(), full_name, created_at: fmt_time(s.now()) };
    let id = user.user_id.clone();
    a.users.push(user);
    ok(json!({ "userId": id }))
}

fn user_json(u: &AlloyUser) -> Value {
    json!({"userId": u.user_id, "username": u.username, "fullName": u.full_name})
}

async fn list_users(State(s): St, headers: HeaderMap) -> Response {
    guard!(s, headers);
    let a = lock(&s.alloy);
    ok(json!({ "data": a.users.iter().map(user_json).collect::<Vec<_>>() }))
}

async fn get_user(State(s): St, headers: HeaderMap, Path(user_id): Path<String>) -> Response {
    guard!(s, headers);
    let a = lock(&s.alloy);
    match a.user(&user_id) {
        Some(u) => ok(user_json(u)),
        None => err(StatusCode::NOT_FOUND, "User not found"),
    }
}

async fn delete_user(State(s): St, headers: HeaderMap, Path(user_id): Path<String>) -> Response {
    guard!(s, headers);
    let mut a = lock(&s.alloy);
    let Some(id) = a.user(&user_id).map(|u| u.user_id.clone()) else {
        return err(StatusCode::NOT_FOUND, "User not found");
    };
    a.users.retain(|u| u.user_id != id);
    a.credentials.retain(|c| c.user_id != id);
    ok(json!({ "success": true }))
}

// ------------------------------------------------------------ credentials

fn list_credentials(s: &Inner, user_id: &str) -> Response {
    let a = lock(&s.alloy);
    let Some(user) = a.user(user_id) else {
        return err(StatusCode::NOT_FOUND, "User not found");
    };
    let data: Vec<Value> =
        a.credentials.iter().filter(|c| c.user_id == user.user_id).map(AlloyCredential::public_json).collect();
    ok(json!({ "data": data }))
}

async fn list_credentials_users_first(State(s): St, headers: HeaderMap, Path(user_id): Path<String>) -> Response {
    guard!(s, headers);
    if s.config.alloy_credential_paths == AlloyCredentialPaths::CredentialsFirstOnly {
        return err(StatusCode::NOT_FOUND, "Not Found");
    }
    list_credentials(&s, &user_id)
}

async fn list_credentials_credentials_first(State(s): St, headers: HeaderMap, Path(user_id): Path<String>) -> Response {
    guard!(s, headers);
    if s.config.alloy_credential_paths == AlloyCredentialPaths::UsersFirstOnly {
        return err(StatusCode::NOT_FOUND, "Not Found");
    }
    list_credentials(&s, &user_id)
}

async fn delete_credential(
    State(s): St,
    headers: HeaderMap,
    Path((user_id, credential_id)): Path<(String, String)>,
) -> Response {
    guard!(s, headers);
    {
        let mut faults = lock(&s.faults);
        if faults.config.alloy_delete_success_false > 0 {
            faults.config.alloy_delete_success_false -= 1;
            return ok(json!({ "success": false }));
        }
    }
    let mut a = lock(&s.alloy);
    let Some(uid) = a.user(&user_id).map(|u| u.user_id.clone()) else {
        return err(StatusCode::NOT_FOUND, "User not found");
    };
    let before = a.credentials.len();
    a.credentials.retain(|c| !(c.user_id == uid && c.credential_id == credential_id));
    if a.credentials.len() == before {
        return err(StatusCode::NOT_FOUND, "Credential not found");
    }
    ok(json!({ "success": true }))
}

fn new_credential(
    s: &Inner,
    user_id: &str,
    kind: String,
    name: String,
    app: &str,
    origin: &str,
    connector: Option<String>,
) -> AlloyCredential {
    let now = fmt_time(s.now());
    AlloyCredential {
        credential_id: object_id(),
        user_id: user_id.to_string(),
        kind,
        name,
        created_at: now.clone(),
        updated_at: now,
        origin: origin.to_string(),
        app: app.to_string(),
        connector_id: connector,
        connection_id: None,
    }
}

async fn create_headless_credential(State(s): St, headers: HeaderMap, body: Bytes) -> Response {
    guard!(s, headers);
    let v = body_json!(body);
    let Some(user_id) = str_field(&v, "userId") else {
        return err(StatusCode::BAD_REQUEST, "userId is required");
    };
    let Some(cred) = v.get("credential").filter(|c| c.is_object()) else {
        return err(StatusCode::BAD_REQUEST, "credential is required");
    };
    let Some(kind) = str_field(cred, "type") else {
        return err(StatusCode::BAD_REQUEST, "credential.type is required");
    };
    let Some(app) = alloy_app(kind) else {
        return err(StatusCode::BAD_REQUEST, format!("Unknown credential type {kind}"));
    };
    let data = cred.get("data").cloned().unwrap_or(Value::Null);
    if !app.is_oauth {
        let missing: Vec<&str> = app.properties.iter().map(|p| p.0).filter(|p| str_field(&data, p).is_none()).collect();
        if !missing.is_empty() {
            return err(StatusCode::BAD_REQUEST, format!("Missing required credential fields: {}", missing.join(", ")));
        }
    }
    let mut a = lock(&s.alloy);
    let Some(uid) = a.user(user_id).map(|u| u.user_id.clone()) else {
        return err(StatusCode::NOT_FOUND, "User not found");
    };
    let c = new_credential(&s, &uid, app.name.into(), app.display.into(), app.name, "headless", None);
    let id = c.credential_id.clone();
    a.credentials.push(c);
    ok(json!({ "success": true, "credentialId": id }))
}

// ----------------------------------------------------------- integrations

fn integration_json(a: &AlloyState, app: &AlloyApp, user_id: &str) -> Value {
    let installed =
        a.installations.iter().any(|i| i.user_id == user_id && i.integration_id == app.integration_id && i.enabled);
    let creds: Vec<&str> = a
        .credentials
        .iter()
        .filter(|c| c.user_id == user_id && c.app == app.name)
        .map(|c| c.credential_id.as_str())
        .collect();
    // As in the 2025-09 example: `primaryConnector` is the display name ("Shopify"); the
    // app name to pass as `app` is the workflow connectors' `connector` ("shopify").
    json!({
        "integrationId": app.integration_id,
        "description": format!("Sync data with {}", app.display),
        "primaryConnector": app.display,
        "installed": installed,
        "icon": alloy_icon(app.name),
        "workflows": [{
            "workflowId": app.workflow_id(),
            "name": format!("{} sync", app.display),
            "installed": installed,
            "active": installed,
            "version": 1,
            "connectors": [
                {
                    "name": "On Installation Trigger",
                    "id": format!("{}-trigger", app.workflow_id()),
                    "connector": "onInstallationTrigger",
                    "icon": "https://cdn.runalloy.com/icons/OnIntegrationInstallation.svg",
                    "subtitle": "On Installation Trigger",
                },
                {
                    "name": app.display,
                    "id": format!("{}-{}", app.workflow_id(), app.name),
                    "connector": app.name,
                    "icon": alloy_icon(app.name),
                    "subtitle": app.display,
                },
            ],
        }],
        "credentials": creds,
    })
}

async fn list_integrations(State(s): St, headers: HeaderMap, uri: Uri) -> Response {
    guard!(s, headers);
    let q = query_pairs(&uri);
    let Some(user) = query_get(&q, "userId").filter(|u| !u.is_empty()) else {
        return err(StatusCode::BAD_REQUEST, "userId is required");
    };
    let a = lock(&s.alloy);
    let Some(uid) = a.user(user).map(|u| u.user_id.clone()) else {
        return err(StatusCode::NOT_FOUND, "User not found");
    };
    let data: Vec<Value> = catalogue::ALLOY_APPS.iter().map(|app| integration_json(&a, app, &uid)).collect();
    ok(json!({ "data": data }))
}

async fn get_integration(State(s): St, headers: HeaderMap, uri: Uri, Path(id): Path<String>) -> Response {
    guard!(s, headers);
    let q = query_pairs(&uri);
    let Some(user) = query_get(&q, "userId").filter(|u| !u.is_empty()) else {
        return err(StatusCode::BAD_REQUEST, "userId is required");
    };
    let a = lock(&s.alloy);
    let Some(uid) = a.user(user).map(|u| u.user_id.clone()) else {
        return err(StatusCode::NOT_FOUND, "User not found");
    };
    match catalogue::alloy_app_by_integration(&id) {
        Some(app) => ok(integration_json(&a, app, &uid)),
        None => err(StatusCode::NOT_FOUND, "Integration not found"),
    }
}

fn metadata_json(app: &AlloyApp, with_name: bool) -> Value {
    let mut v = json!({
        "connector": app.name,
        "icon": alloy_icon(app.name),
        "isOauth": app.is_oauth,
        "properties": app.properties_json(),
    });
    if with_name {
        v["name"] = json!(app.name);
    }
    v
}

async fn all_metadata(State(s): St, headers: HeaderMap) -> Response {
    guard!(s, headers);
    ok(json!({ "data": catalogue::ALLOY_APPS.iter().map(|a| metadata_json(a, false)).collect::<Vec<_>>() }))
}

async fn one_metadata(State(s): St, headers: HeaderMap, Path(app): Path<String>) -> Response {
    guard!(s, headers);
    match alloy_app(&app) {
        Some(a) => ok(json!({ "data": metadata_json(a, true) })),
        None => err(StatusCode::NOT_FOUND, format!("No credential metadata found for {app}")),
    }
}

// ------------------------------------------------------------ headless link

async fn oauth_url(State(s): St, headers: HeaderMap, uri: Uri, Extension(root): Extension<RootUrl>) -> Response {
    guard!(s, headers);
    let q = query_pairs(&uri);
    let Some(user) = query_get(&q, "userId").filter(|v| !v.is_empty()) else {
        return err(StatusCode::BAD_REQUEST, "userId is required");
    };
    let Some(app_name) = query_get(&q, "app").filter(|v| !v.is_empty()) else {
        return err(StatusCode::BAD_REQUEST, "app is required");
    };
    let Some(app) = alloy_app(app_name) else {
        return err(StatusCode::BAD_REQUEST, format!("Unknown app {app_name}"));
    };
    if !app.is_oauth {
        return err(
            StatusCode::BAD_REQUEST,
            format!("{app_name} is not an OAuth app; create its credential with POST /headless/credentials"),
        );
    }
    let mut props = BTreeMap::new();
    let mut missing = Vec::new();
    for (p, _, _) in app.properties {
        match query_get(&q, p).filter(|v| !v.is_empty()) {
            Some(v) => {
                props.insert(p.to_string(), v.to_string());
            }
            None => missing.push(*p),
        }
    }
    if !missing.is_empty() {
        return err(
            StatusCode::BAD_REQUEST,
            format!("Missing required properties for {app_name}: {}", missing.join(", ")),
        );
    }
    let mut a = lock(&s.alloy);
    let Some(uid) = a.user(user).map(|u| u.user_id.clone()) else {
        return err(StatusCode::NOT_FOUND, "User not found");
    };
    let now = s.now();
    let id = token(24);
    let mut pairs: Vec<(&str, &str)> = vec![("app", app.name), ("userId", &uid)];
    for (k, v) in &props {
        pairs.push((k, v));
    }
    let url = append_query(&format!("{}/alloy/consent/{id}", root.0), &pairs);
    let link = Link {
        kind: AlloyLinkKind::Headless { app: app.name, user_id: uid.clone(), properties: props },
        created_at: now,
        expires_at: now + s.config.alloy_link_lifetime,
        outcome: None,
    };
    a.links.insert(&id, link, now);
    match s.config.alloy_oauth_url_shape {
        AlloyOauthUrlShape::Flat => ok(json!({ "oauthUrl": url })),
        AlloyOauthUrlShape::Wrapped => ok(json!({ "data": { "oauthUrl": url } })),
    }
}

// ------------------------------------------------------------ installations

async fn start_installation(State(s): St, headers: HeaderMap, body: Bytes) -> Response {
    guard!(s, headers);
    let v = body_json!(body);
    let Some(user) = str_field(&v, "userId") else {
        return err(StatusCode::BAD_REQUEST, "userId is required");
    };
    let Some(integration_id) = str_field(&v, "integrationId") else {
        return err(StatusCode::BAD_REQUEST, "integrationId is required");
    };
    let Some(app) = catalogue::alloy_app_by_integration(integration_id) else {
        return err(StatusCode::NOT_FOUND, "Integration not found");
    };
    let mut a = lock(&s.alloy);
    let Some(uid) = a.user(user).map(|u| u.user_id.clone()) else {
        return err(StatusCode::NOT_FOUND, "User not found");
    };
    let mut ids: Vec<String> = v
        .get("credentialIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    if let Some(one) = str_field(&v, "credentialId") {
        ids.push(one.to_string());
    }
    let mut credential_ids = BTreeMap::new();
    if ids.is_empty() {
        let mine: Vec<&AlloyCredential> =
            a.credentials.iter().filter(|c| c.user_id == uid && c.app == app.name).collect();
        if mine.len() != 1 {
            return err(
                StatusCode::BAD_REQUEST,
                format!("credentialIds is required: the user has {} credentials for {}", mine.len(), app.name),
            );
        }
        credential_ids.insert(app.name.to_string(), mine[0].credential_id.clone());
    } else {
        for id in ids {
            match a.credentials.iter().find(|c| c.user_id == uid && c.credential_id == id) {
                Some(c) => {
                    credential_ids.insert(c.app.clone(), c.credential_id.clone());
                }
                None => return err(StatusCode::BAD_REQUEST, format!("Credential {id} not found for this user")),
            }
        }
        if !credential_ids.contains_key(app.name) {
            return err(StatusCode::BAD_REQUEST, format!("No {} credential given", app.name));
        }
    }
    let workflow_ids: Vec<String> = v
        .get("workflowIds")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_else(|| vec![app.workflow_id()]);
    let inst = AlloyInstallation {
        installation_id: object_id(),
        integration_id: integration_id.to_string(),
        user_id: uid,
        credential_ids,
        workflow_ids,
        form_data: Value::Null,
        installed_at: None,
        enabled: false,
    };
    let id = inst.installation_id.clone();
    a.installations.push(inst);
    ok(json!({
        "installationId": id,
        "data": [{
            "workflowId": app.workflow_id(),
            "app": app.name,
            "blockId": format!("{}-block-1", app.name),
            "fields": [{"name": "destination", "displayName": "Destination", "type": "string", "required": true}],
        }],
    }))
}

async fn complete_installation(State(s): St, headers: HeaderMap, body: Bytes) -> Response {
    guard!(s, headers);
    let v = body_json!(body);
    let Some(id) = str_field(&v, "installationId") else {
        return err(StatusCode::BAD_REQUEST, "installationId is required");
    };
    let data = v.get("data").cloned().unwrap_or(json!([]));
    if !data.is_array() {
        return err(StatusCode::BAD_REQUEST, "data must be an array");
    }
    let now = fmt_time(s.now());
    let mut a = lock(&s.alloy);
    let Some(inst) = a.installations.iter_mut().find(|i| i.installation_id == id) else {
        return err(StatusCode::NOT_FOUND, "Installation not found");
    };
    inst.form_data = data;
    inst.installed_at = Some(now);
    inst.enabled = true;
    ok(json!({ "message": "Installation completed successfully" }))
}

async fn list_installations(State(s): St, headers: HeaderMap) -> Response {
    guard!(s, headers);
    let a = lock(&s.alloy);
    ok(json!({ "data": a.installations }))
}

// ------------------------------------------------------------- connectors

async fn create_connector_credential(
    State(s): St,
    headers: HeaderMap,
    Path(connector_id): Path<String>,
    Extension(root): Extension<RootUrl>,
    body: Bytes,
) -> Response {
    guard!(s, headers);
    if alloy_connector(&connector_id).is_none() {
        return err(StatusCode::NOT_FOUND, format!("Connector {connector_id} not found"));
    }
    let v = body_json!(body);
    let Some(user) = str_field(&v, "userId") else {
        return err(StatusCode::BAD_REQUEST, "userId is required");
    };
    let Some(auth_type) = str_field(&v, "authenticationType") else {
        return err(StatusCode::BAD_REQUEST, "authenticationType is required");
    };
    if auth_type != "oauth2" {
        return err(
            StatusCode::BAD_REQUEST,
            format!("authenticationType {auth_type} is not supported by {connector_id} (supported: oauth2)"),
        );
    }
    let Some(redirect_uri) = str_field(&v, "redirectUri") else {
        return err(StatusCode::BAD_REQUEST, "redirectUri is required for oauth2");
    };
    match url::Url::parse(redirect_uri) {
        Ok(u) if u.has_host() => {}
        _ => return err(StatusCode::BAD_REQUEST, "redirectUri must be an absolute URL"),
    }
    if let Some(d) = v.get("data") {
        if !d.is_object() && !d.is_null() {
            return err(StatusCode::BAD_REQUEST, "data must be an object");
        }
    }
    let auth_config_id = str_field(&v, "authConfigId").map(str::to_string);
    let mut a = lock(&s.alloy);
    let Some(uid) = a.user(user).map(|u| u.user_id.clone()) else {
        return err(StatusCode::NOT_FOUND, "User not found");
    };
    let now = s.now();
    let id = token(24);
    let url = append_query(
        &format!("{}/alloy/consent/{id}", root.0),
        &[("connector", &connector_id), ("userId", &uid), ("redirectUri", redirect_uri)],
    );
    let link = Link {
        kind: AlloyLinkKind::Connector {
            connector_id,
            user_id: uid,
            redirect_uri: redirect_uri.to_string(),
            auth_config_id,
        },
        created_at: now,
        expires_at: now + s.config.alloy_link_lifetime,
        outcome: None,
    };
    a.links.insert(&id, link, now);
    ok(json!({ "oauthUrl": url }))
}

/// `GET /connectors`: the connector catalogue (Connectivity API; no user context needed).
async fn list_connectors(State(s): St, headers: HeaderMap) -> Response {
    guard!(s, headers);
    let items: Vec<Value> = catalogue::ALLOY_CONNECTORS.iter().map(|(id, d)| alloy_connector_json(id, d)).collect();
    ok(json!({ "connectors": items }))
}

/// `GET /connectors/{connectorId}`.
async fn get_connector(State(s): St, headers: HeaderMap, Path(connector_id): Path<String>) -> Response {
    guard!(s, headers);
    match alloy_connector(&connector_id) {
        Some(d) => ok(alloy_connector_json(&connector_id, d)),
        None => err(StatusCode::NOT_FOUND, format!("Connector {connector_id} not found")),
    }
}

async fn list_connector_credentials(State(s): St, headers: HeaderMap, Path(connector_id): Path<String>) -> Response {
    guard!(s, headers);
    if alloy_connector(&connector_id).is_none() {
        return err(StatusCode::NOT_FOUND, format!("Connector {connector_id} not found"));
    }
    let Some(user) = headers.get("x-alloy-userid").and_then(|v| v.to_str().ok()).filter(|v| !v.trim().is_empty())
    else {
        return err(StatusCode::BAD_REQUEST, "The x-alloy-userid header is required");
    };
    let a = lock(&s.alloy);
    let Some(u) = a.user(user.trim()) else {
        return err(StatusCode::NOT_FOUND, "User not found");
    };
    let creds: Vec<Value> = a
        .credentials
        .iter()
        .filter(|c| c.user_id == u.user_id && c.connector_id.as_deref() == Some(connector_id.as_str()))
        .map(AlloyCredential::public_json)
        .collect();
    ok(json!({ "credentials": creds }))
}

async fn connector_metadata(State(s): St, headers: HeaderMap, Path(connector_id): Path<String>) -> Response {
    guard!(s, headers);
    if alloy_connector(&connector_id).is_none() {
        return err(StatusCode::NOT_FOUND, format!("Connector {connector_id} not found"));
    }
    ok(json!({
        "metadata": [{
            "authenticationType": "oauth2",
            "authConfigRequired": false,
            "inputSchema": {
                "type": "object",
                "required": ["userId", "authenticationType", "redirectUri"],
                "properties": {
                    "userId": {"type": "string"},
                    "authenticationType": {"type": "string", "enum": ["oauth2"]},
                    "redirectUri": {"type": "string", "format": "uri"},
                    "authConfigId": {"type": "string"},
                },
            },
            "sampleInput": {
                "userId": "6634f9aa6adb117b4c47d8ab",
                "authenticationType": "oauth2",
                "redirectUri": "https://your-app.example/oauth/callback",
            },
        }],
    }))
}

async fn connector_callback(
    State(s): St,
    headers: HeaderMap,
    Path(connector_id): Path<String>,
    body: Bytes,
) -> Response {
    guard!(s, headers);
    if alloy_connector(&connector_id).is_none() {
        return err(StatusCode::NOT_FOUND, format!("Connector {connector_id} not found"));
    }
    let v = body_json!(body);
    let Some(code) = str_field(&v, "code") else {
        return err(StatusCode::BAD_REQUEST, "code is required");
    };
    let state = str_field(&v, "state");
    let mut a = lock(&s.alloy);
    let Some(c) = a.codes.get_mut(code).filter(|c| c.connector_id == connector_id && !c.used) else {
        return err(StatusCode::BAD_REQUEST, "Invalid authorization code");
    };
    if state.is_some_and(|st| st != c.state) {
        return err(StatusCode::BAD_REQUEST, "Invalid state parameter");
    }
    c.used = true;
    let (cred_id, conn_id) = (c.credential_id.clone(), c.connection_id.clone());
    if let Some(cred) = a.credentials.iter_mut().find(|x| x.credential_id == cred_id) {
        cred.connection_id = Some(conn_id.clone());
    }
    ok(json!({ "connectionId": conn_id, "credentialId": cred_id, "status": "connected" }))
}

// ---------------------------------------------------------------- consent

async fn consent_get(State(s): St, Path(id): Path<String>) -> Response {
    let now = s.now();
    let a = lock(&s.alloy);
    let Some(link) = a.links.get(&id) else {
        return error_page(StatusCode::NOT_FOUND, "Unknown link").into_response();
    };
    if let Some(o) = &link.outcome {
        return error_page(StatusCode::GONE, &format!("This link was already used ({o})")).into_response();
    }
    if now >= link.expires_at {
        return error_page(StatusCode::GONE, "This link has expired").into_response();
    }
    let html = match &link.kind {
        AlloyLinkKind::Headless { app, user_id, properties } => {
            let display = alloy_app(app).map(|a| a.display).unwrap_or(app);
            let mut details = vec![("App", app.to_string()), ("User", user_id.clone())];
            for (k, v) in properties {
                details.push((k.as_str(), v.clone()));
            }
            consent_page_alloy(&id, &format!("Allow Alloy Automation to access your {display} account?"), &details)
        }
        AlloyLinkKind::Connector { connector_id, user_id, redirect_uri, .. } => {
            let display = alloy_connector(connector_id).unwrap_or(connector_id);
            consent_page_alloy(
                &id,
                &format!("Allow Alloy Automation to access your {display} workspace?"),
                &[("Connector", connector_id.clone()), ("User", user_id.clone()), ("Returns to", redirect_uri.clone())],
            )
        }
    };
    crate::state::html_response(StatusCode::OK, html)
}

fn consent_page_alloy(id: &str, heading: &str, details: &[(&str, String)]) -> String {
    consent::consent_page("Alloy Automation", id, heading, details, "")
}

async fn consent_approve(State(s): St, Path(id): Path<String>) -> Response {
    complete(&s, &id, true)
        .map(|(_, o)| o)
        .unwrap_or_else(|| error_page(StatusCode::NOT_FOUND, "Unknown link"))
        .into_response()
}

async fn consent_deny(State(s): St, Path(id): Path<String>) -> Response {
    complete(&s, &id, false)
        .map(|(_, o)| o)
        .unwrap_or_else(|| error_page(StatusCode::NOT_FOUND, "Unknown link"))
        .into_response()
}

/// Approves or denies an Alloy link. `None` when the id is not an Alloy link.
pub(crate) fn complete(s: &Inner, id: &str, approve: bool) -> Option<(Platform, Outcome)> {
    let now = s.now();
    let mut guard = lock(&s.alloy);
    let a = &mut *guard;
    let link = a.links.get_mut(id)?;
    let platform = match link.kind {
        AlloyLinkKind::Headless { .. } => Platform::AlloyHeadless,
        AlloyLinkKind::Connector { .. } => Platform::AlloyConnectors,
    };
    if let Some(o) = &link.outcome {
        return Some((platform, error_page(StatusCode::GONE, &format!("This link was already used ({o})"))));
    }
    if now >= link.expires_at {
        return Some((platform, error_page(StatusCode::GONE, "This link has expired")));
    }
    link.outcome = Some(LinkOutcome::new(approve));
    let kind = link.kind.clone();
    let outcome = match kind {
        AlloyLinkKind::Headless { app, user_id, properties } => {
            let return_url = s.config.alloy_return_url.clone();
            if approve {
                let display = alloy_app(app).map(|a| a.display).unwrap_or(app);
                let name = match properties.values().next() {
                    Some(p) => format!("{display} ({p})"),
                    None => display.to_string(),
                };
                let c = new_credential(s, &user_id, app.to_string(), name, app, "headless", None);
                a.credentials.push(c);
                match return_url {
                    Some(u) => Outcome::Redirect { status: StatusCode::SEE_OTHER, location: u },
                    None => close_tab_page(StatusCode::OK, "Connected, you may close this tab."),
                }
            } else {
                match return_url {
                    Some(u) => Outcome::Redirect {
                        status: StatusCode::SEE_OTHER,
                        location: append_query(&u, &[("error", "access_denied")]),
                    },
                    None => close_tab_page(StatusCode::OK, "Access denied, you may close this tab."),
                }
            }
        }
        AlloyLinkKind::Connector { connector_id, user_id, redirect_uri, .. } => {
            if approve {
                let display = alloy_connector(&connector_id).unwrap_or(&connector_id);
                let c = new_credential(
                    s,
                    &user_id,
                    format!("{connector_id}-oauth2"),
                    format!("{display} (oauth2)"),
                    &connector_id,
                    "connector",
                    Some(connector_id.clone()),
                );
                let code = token(32);
                let entry = AlloyCode {
                    state: id.to_string(),
                    connector_id,
                    credential_id: c.credential_id.clone(),
                    connection_id: format!("conn_{}", token(16)),
                    used: false,
                };
                a.credentials.push(c);
                let location = append_query(&redirect_uri, &[("code", &code), ("state", id)]);
                a.codes.insert(&code, entry, now);
                Outcome::Redirect { status: StatusCode::SEE_OTHER, location }
            } else {
                let location = append_query(
                    &redirect_uri,
                    &[
                        ("error", "access_denied"),
                        ("error_description", "The user denied the authorization request"),
                        ("state", id),
                    ],
                );
                Outcome::Redirect { status: StatusCode::SEE_OTHER, location }
            }
        }
    };
    Some((platform, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SandboxConfig;
    use crate::state::testing::{headers, read, root, shared};

    fn auth() -> HeaderMap {
        headers(&[("authorization", "bearer sandbox_alloy_key"), ("x-api-version", "2025-09")])
    }

    async fn body_of(r: Response) -> Value {
        serde_json::from_str(&read(r).await.2).expect("json")
    }

    /// The link id in a consent URL.
    fn link_id(url: &str) -> String {
        let path = url.split('?').next().unwrap_or(url);
        path.rsplit('/').next().unwrap_or(path).to_string()
    }

    async fn new_user(s: &Shared) -> String {
        let r = create_user(State(s.clone()), auth(), Bytes::from(r#"{"username": "u"}"#)).await;
        body_of(r).await["userId"].as_str().expect("userId").to_string()
    }

    async fn headless_link(s: &Shared, user: &str) -> String {
        let uri: Uri = format!("/headless/oauthUrl?userId={user}&app=slack").parse().expect("uri");
        link_id(
            body_of(oauth_url(State(s.clone()), auth(), uri, Extension(root())).await).await["oauthUrl"]
                .as_str()
                .expect("url"),
        )
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

    async fn callback(s: &Shared, code: &str) -> (u16, Option<String>, String) {
        let body = Bytes::from(json!({ "code": code }).to_string());
        read(connector_callback(State(s.clone()), auth(), Path("slack".into()), body).await).await
    }

    #[tokio::test]
    async fn evicted_links_answer_as_unknown_ones() {
        let cap = 3;
        let s = shared(SandboxConfig::default().link_capacity(cap));
        let user = new_user(&s).await;
        let mut ids = Vec::new();
        for n in 0..5 * cap {
            ids.push(headless_link(&s, &user).await);
            assert!(lock(&s.alloy).links.len() <= cap, "bounded after {n} links");
        }
        let unknown = (page(&s, "never-issued").await, approve(&s, "never-issued").await);
        assert_eq!(unknown.0 .0, 404);
        let (evicted, kept) = ids.split_at(ids.len() - cap);
        for id in evicted {
            assert_eq!((page(&s, id).await, approve(&s, id).await), unknown);
            assert_eq!(deny(&s, id).await, unknown.1);
            assert!(complete(&s, id, true).is_none());
        }
        for id in kept {
            assert_eq!(page(&s, id).await.0, 200);
        }
        assert_eq!(approve(&s, &kept[0]).await.0, 200);
        assert_eq!(lock(&s.alloy).credentials.len(), 1, "connected records are kept");
    }

    #[tokio::test]
    async fn authorization_codes_are_bounded_and_evicted_ones_are_invalid() {
        let cap = 2;
        let s = shared(SandboxConfig::default().link_capacity(cap));
        let user = new_user(&s).await;
        let mut codes = Vec::new();
        for n in 0..5 * cap {
            let body = json!({"userId": user, "authenticationType": "oauth2", "redirectUri": "https://app.example/cb"});
            let r = create_connector_credential(
                State(s.clone()),
                auth(),
                Path("slack".into()),
                Extension(root()),
                Bytes::from(body.to_string()),
            )
            .await;
            let id = link_id(body_of(r).await["oauthUrl"].as_str().expect("url"));
            let Some((_, Outcome::Redirect { location, .. })) = complete(&s, &id, true) else {
                panic!("approval redirects with a code");
            };
            let url = url::Url::parse(&location).expect("location");
            codes.push(url.query_pairs().find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).expect("code"));
            let a = lock(&s.alloy);
            assert!(a.links.len() <= cap && a.codes.len() <= cap, "bounded after {n} codes");
        }
        let unknown = callback(&s, "never-issued").await;
        assert_eq!(unknown.0, 400);
        assert_eq!(callback(&s, &codes[0]).await, unknown);
        let last = &codes[codes.len() - 1];
        assert_eq!(callback(&s, last).await.0, 200);
        assert_eq!(callback(&s, last).await, unknown, "a used code answers as an unknown one");
        let state = s.snapshot();
        let listed: Vec<&str> =
            state["alloy"]["codes"].as_array().into_iter().flatten().filter_map(|c| c["code"].as_str()).collect();
        assert_eq!(listed, &codes[codes.len() - cap..]);
        assert_eq!(state["alloy"]["codes"][cap - 1]["used"], json!(true));
    }
}
