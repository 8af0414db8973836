//! Shared test helpers: configuration pointing at httpmock, fast retries and polling.
#![allow(dead_code, unreachable_pub)]

use oauth_link_core::config::AdapterConfig;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::prelude::*;
use oauth_link_core::http::RetryPolicy;
use oauth_link_core::{
    adapter::{CommonConfig, PollPolicy},
    LinkContext, Url,
};
use oauth_link_junction::{JunctionConfig, JunctionProvider};
use serde_json::{json, Value};

pub const API_KEY: &str = "sk_us_TESTKEY_do_not_leak_0001";
pub const LINK_TOKEN: &str = "lt_SECRET_link_token_0002";
pub const UID: &str = "6d1c52a4-3f1e-4c59-9a57-2f0b1c2d3e4f";
pub const APP_USER: &str = "app-user-1";
pub const REDIRECT: &str = "https://app.example.com/junction/done";

pub fn fast_common(server: &MockServer) -> CommonConfig {
    CommonConfig {
        base_url: Some(Url::parse(&server.base_url()).unwrap()),
        retry: RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_elapsed: Duration::from_secs(5),
        },
        poll: PollPolicy {
            timeout: Duration::from_millis(60),
            interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(10),
        },
        ..CommonConfig::default()
    }
}

pub fn config(server: &MockServer) -> JunctionConfig {
    JunctionConfig::new(API_KEY).with_common(fast_common(server)).with_redirect_uri(Url::parse(REDIRECT).unwrap())
}

pub fn provider(server: &MockServer) -> JunctionProvider {
    JunctionProvider::new(config(server), LinkContext::ephemeral()).unwrap()
}

/// A `ClientFacingUser`.
pub fn user_json(user_id: &str, client_user_id: &str) -> Value {
    json!({
        "user_id": user_id,
        "team_id": "team-1",
        "client_user_id": client_user_id,
        "created_on": "2026-01-01T00:00:00+00:00",
        "connected_sources": []
    })
}

/// A connected `ClientFacingProviderWithStatus`.
pub fn connected(slug: &str, created_on: &str) -> Value {
    json!({
        "name": slug.to_uppercase(),
        "slug": slug,
        "logo": format!("https://storage.example/{slug}.png"),
        "created_on": created_on,
        "status": "connected",
        "external_user_id": format!("ext-{slug}"),
        "resource_availability": {"sleep": {"status": "available", "scope_requirements": null}}
    })
}

/// An errored `ClientFacingProviderWithStatus`.
pub fn errored(slug: &str, created_on: &str) -> Value {
    json!({
        "name": slug.to_uppercase(),
        "slug": slug,
        "logo": format!("https://storage.example/{slug}.png"),
        "created_on": created_on,
        "status": "error",
        "external_user_id": null,
        "resource_availability": {"sleep": {"status": "unavailable"}},
        "error_details": {
            "error_type": "token_refresh_failed",
            "error_message": "The refresh token was revoked by the user.",
            "errored_at": "2026-02-03T04:05:06+00:00"
        }
    })
}

/// Captures the bodies of `POST /v2/link/token` for later checks.
pub type Captured = Arc<Mutex<Vec<Value>>>;

/// Mocks `POST /v2/link/token`, matching the API key and the exact body: exactly
/// `user_id`, `provider` (when `provider` is Some), `redirect_url` = `REDIRECT` +
/// `?oauth_link_state=<state>`, `on_close` and `on_error` = `"redirect"`. Bodies are
/// captured.
pub async fn mock_link_token<'a>(
    server: &'a MockServer,
    user_id: &'static str,
    provider: Option<&'static str>,
    web_url: &str,
) -> (httpmock::Mock<'a>, Captured) {
    let captured: Captured = Arc::default();
    let sink = captured.clone();
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/link/token")
                .header("x-vital-api-key", API_KEY)
                .header("content-type", "application/json")
                .is_true(move |req| {
                    let Ok(body) = serde_json::from_slice::<Value>(req.body_ref()) else { return false };
                    if !link_body_ok(&body, user_id, provider) {
                        return false;
                    }
                    sink.lock().unwrap().push(body);
                    true
                });
            then.status(200).json_body(json!({"link_token": LINK_TOKEN, "link_web_url": web_url}));
        })
        .await;
    (mock, captured)
}

/// True when `body` is exactly `{user_id, provider?, redirect_url, on_close: "redirect",
/// on_error: "redirect"}` with our state on the redirect.
pub fn link_body_ok(body: &Value, user_id: &str, provider: Option<&str>) -> bool {
    let Some(map) = body.as_object() else { return false };
    let expected_keys = if provider.is_some() { 5 } else { 4 };
    let redirect = map.get("redirect_url").and_then(Value::as_str).unwrap_or("");
    let state_ok = redirect
        .strip_prefix(&format!("{REDIRECT}?oauth_link_state="))
        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)));
    map.len() == expected_keys
        && map.get("user_id").and_then(Value::as_str) == Some(user_id)
        && map.get("provider").and_then(Value::as_str) == provider
        && map.get("on_close").and_then(Value::as_str) == Some("redirect")
        && map.get("on_error").and_then(Value::as_str) == Some("redirect")
        && state_ok
}

/// The `oauth_link_state` carried by a captured link-token body.
pub fn captured_state(body: &Value) -> String {
    let url = Url::parse(body["redirect_url"].as_str().unwrap()).unwrap();
    url.query_pairs().find(|(k, _)| k == "oauth_link_state").unwrap().1.into_owned()
}

/// The redirect Junction would send the browser to: our redirect_url plus its params.
pub fn junction_redirect(body: &Value, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(body["redirect_url"].as_str().unwrap()).unwrap();
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

/// A `GET /v2/link/providers` answer (a bare array of `SourceLink`), one entry per auth kind
/// plus entries the adapter must skip or fill in.
pub fn catalogue_json() -> Value {
    json!([
        {"id": 1, "name": "Oura", "slug": "oura", "description": "Smart ring",
         "logo": "https://storage.googleapis.com/vital-assets/oura.png",
         "oauth_url": null, "auth_type": "oauth", "form_components": {}},
        {"id": 2, "name": "Withings", "slug": "withings", "description": "Scales",
         "logo": "https://storage.googleapis.com/vital-assets/withings.png", "auth_type": "team_oauth"},
        {"id": 3, "name": "Fitbit", "slug": "fitbit", "description": "Trackers",
         "logo": "https://storage.googleapis.com/vital-assets/fitbit.png"},
        {"id": 4, "name": "WHOOP", "slug": "whoop", "description": "Strap", "logo": "not a url",
         "auth_type": "password",
         "form_components": {"username": {"type": "text"}, "password": {"type": "password"}}},
        {"id": 5, "name": "FreeStyle Libre", "slug": "freestyle_libre", "description": "CGM",
         "logo": "https://storage.googleapis.com/vital-assets/libre.png", "auth_type": "email"},
        {"id": 6, "name": "Apple HealthKit", "slug": "apple_health_kit", "description": "iPhone",
         "logo": "https://storage.googleapis.com/vital-assets/apple.png", "auth_type": "sdk"},
        {"id": 7, "name": "Omron", "slug": "omron", "description": "BP", "logo": null, "auth_type": "app"},
        {"id": 8, "name": "", "slug": "beurer_ble", "description": "BLE", "logo": "", "auth_type": ""},
        {"id": 9, "name": "Oura again", "slug": "oura", "description": "duplicate", "logo": ""},
        {"id": 10, "name": "No slug", "description": "skipped", "logo": ""},
        {"id": 11, "name": "Bad slug", "slug": "  ", "description": "skipped", "logo": ""},
        {"id": 12, "name": 42, "slug": "odd", "description": "name is not text: skipped", "logo": ""}
    ])
}

/// Mocks `GET /v2/link/providers` exactly as the adapter sends it: no API key, no link
/// token, no body.
pub async fn mock_link_providers(server: &MockServer, answer: Value) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v2/link/providers")
                .header_missing("x-vital-api-key")
                .header_missing("x-vital-link-token")
                .is_true(|req| req.uri().query().is_none() && req.body_ref().is_empty());
            then.status(200).json_body(answer);
        })
        .await
}
