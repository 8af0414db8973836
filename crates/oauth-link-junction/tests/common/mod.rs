//! Shared test helpers: configuration pointing at httpmock, fast retries and polling.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::prelude::*;
use oauth_link_core::http::RetryPolicy;
use oauth_link_core::{CommonConfig, LinkContext, PollPolicy, Url};
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
    JunctionConfig::new(API_KEY).with_common(fast_common(server)).with_redirect_url(Url::parse(REDIRECT).unwrap())
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

/// Mocks `POST /v2/link/token`, matching the API key and the exact body shape: exactly
/// `user_id`, `provider` (when `provider` is Some) and `redirect_url` = `REDIRECT` +
/// `?oauth_link_state=<state>`. Bodies are captured.
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

/// True when `body` is exactly `{user_id, provider?, redirect_url}` with our state on the
/// redirect.
pub fn link_body_ok(body: &Value, user_id: &str, provider: Option<&str>) -> bool {
    let Some(map) = body.as_object() else { return false };
    let expected_keys = if provider.is_some() { 3 } else { 2 };
    let redirect = map.get("redirect_url").and_then(Value::as_str).unwrap_or("");
    let state_ok = redirect
        .strip_prefix(&format!("{REDIRECT}?oauth_link_state="))
        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)));
    map.len() == expected_keys
        && map.get("user_id").and_then(Value::as_str) == Some(user_id)
        && map.get("provider").and_then(Value::as_str) == provider
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
