//! Shared helpers of the Novu adapter's integration tests.
#![allow(dead_code)]

use oauth_link_core::config::AdapterConfig;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use httpmock::prelude::*;
use oauth_link_core::http::RetryPolicy;
use oauth_link_core::{
    adapter::PollPolicy, clock::ManualClock, LinkContext, MemoryReplayGuard, StateCodec, StateKeys, Url,
};
use oauth_link_novu::{NovuConfig, NovuProvider};
use serde_json::{json, Value};

pub const API_KEY: &str = "sk_test_novu_secret_key_0123456789";
pub const AUTH: &str = "ApiKey sk_test_novu_secret_key_0123456789";
pub const INTEGRATION: &str = "slack-main";
pub const SLACK_URL: &str = "https://slack.com/oauth/v2/authorize?client_id=1.2&state=novu-signed-state";

/// A config pointed at the mock server, with fast retries and polling.
pub fn config(server: &MockServer) -> NovuConfig {
    NovuConfig::new(API_KEY)
        .with_base_url(Url::parse(&server.base_url()).unwrap())
        .with_retry(RetryPolicy {
            max_retries: 2,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_elapsed: Duration::from_secs(5),
        })
        .with_poll(PollPolicy {
            timeout: Duration::from_millis(300),
            interval: Duration::from_millis(10),
            max_interval: Duration::from_millis(20),
        })
}

/// A context whose state codec reads `clock`.
pub fn context(clock: &ManualClock) -> LinkContext {
    let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
    // The guard must read the same clock: entries stamped in the (fixed) past would
    // otherwise count as already expired by the system clock.
    LinkContext::new(codec, Arc::new(MemoryReplayGuard::new().with_clock(Arc::new(clock.clone()))))
}

pub fn provider(config: NovuConfig, clock: &ManualClock) -> NovuProvider {
    NovuProvider::new(config, context(clock)).unwrap()
}

/// A clock stopped at a fixed, readable instant.
pub fn clock() -> ManualClock {
    ManualClock::new(ts("2026-03-01T12:00:00Z"))
}

pub fn ts(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Matches when the query holds exactly these pairs (any order), nothing more.
pub fn exact_query(expected: &[(&str, &str)]) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    let mut expected: Vec<(String, String)> = expected.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    expected.sort();
    move |req: &HttpMockRequest| {
        let mut got = req.query_params();
        got.sort();
        got == expected
    }
}

/// Matches when the request has no query string at all.
pub fn no_query() -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    exact_query(&[])
}

/// Records every `idempotency-key` header value the matcher sees.
pub fn key_recorder() -> (Arc<Mutex<Vec<String>>>, impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static) {
    let keys = Arc::new(Mutex::new(Vec::new()));
    let sink = keys.clone();
    let matcher = move |req: &HttpMockRequest| {
        let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
        match key {
            Some(k) => {
                sink.lock().unwrap().push(k);
                true
            }
            None => false,
        }
    };
    (keys, matcher)
}

/// A `GetChannelEndpointResponseDto`.
pub fn endpoint(id: &str, subscriber: &str, integration: &str, created: DateTime<Utc>) -> Value {
    json!({
        "identifier": id,
        "channel": "chat",
        "providerId": "slack",
        "integrationIdentifier": integration,
        "connectionIdentifier": "conn-acme",
        "subscriberId": subscriber,
        "contextKeys": ["tenant:acme"],
        "type": "slack_user",
        "endpoint": {"userId": format!("U-{id}")},
        "createdAt": iso(created),
        "updatedAt": iso(created)
    })
}

/// A `GetChannelConnectionResponseDto`, token included (as Novu sends it).
pub fn channel_connection(id: &str, subscriber: &str, integration: &str, created: DateTime<Utc>) -> Value {
    json!({
        "identifier": id,
        "channel": "chat",
        "providerId": "slack",
        "integrationIdentifier": integration,
        "subscriberId": subscriber,
        "contextKeys": [],
        "workspace": {"id": "T0ACME", "name": "Acme"},
        "auth": {"accessToken": "xoxb-workspace-secret-token", "refreshToken": "xoxe-refresh-secret-token",
                 "expiresAt": "2026-03-02T12:00:00.000Z"},
        "createdAt": iso(created),
        "updatedAt": iso(created)
    })
}

/// A list page.
pub fn page(data: Vec<Value>, next: Option<&str>) -> Value {
    let count = data.len();
    json!({"data": data, "next": next, "previous": null, "totalCount": count, "totalCountCapped": false})
}

pub const SUBSCRIBERS: &str = "/v2/subscribers";
pub const ENDPOINTS_PATH: &str = "/v1/channel-endpoints";
pub const CONNECTIONS_PATH: &str = "/v1/channel-connections";

/// Novu's `{data: SubscriberResponseDto}` answer to the upsert.
pub fn subscriber_response(subscriber: &str) -> Value {
    json!({"data": {
        "_id": "6650f1c2a1b2c3d4e5f6c001", "subscriberId": subscriber, "_organizationId": "org", "_environmentId": "env",
        "deleted": false, "createdAt": "2026-03-01T12:00:00.000Z", "updatedAt": "2026-03-01T12:00:00.000Z"
    }})
}

/// True when the request carries no `idempotency-key` header.
pub fn no_idempotency_key() -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    |req: &HttpMockRequest| req.headers().get("idempotency-key").is_none()
}

/// Pins `POST /v2/subscribers {subscriberId: subscriber}` (exact body, auth, JSON, no query,
/// no idempotency key) answering 201 in Novu's `{data}` envelope.
pub async fn subscriber_upsert<'a>(server: &'a MockServer, subscriber: &str) -> httpmock::Mock<'a> {
    let body = json!({"subscriberId": subscriber});
    let answer = subscriber_response(subscriber);
    server
        .mock_async(move |when, then| {
            when.method(POST)
                .path(SUBSCRIBERS)
                .is_true(no_query())
                .header("authorization", AUTH)
                .header("content-type", "application/json")
                .is_true(no_idempotency_key())
                .json_body(body);
            then.status(201).header("content-type", "application/json").json_body(answer);
        })
        .await
}

/// Answers every subscriber upsert (any id) with 201, for tests about other requests.
pub async fn any_subscriber_upsert(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(POST).path(SUBSCRIBERS).header("authorization", AUTH).is_true(|req: &HttpMockRequest| {
                let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                body.as_object().is_some_and(|o| o.len() == 1 && o.get("subscriberId").is_some_and(Value::is_string))
            });
            then.respond_with(|req: &HttpMockRequest| {
                let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                let id = body["subscriberId"].as_str().unwrap_or_default().to_owned();
                HttpMockResponse::builder()
                    .status(201)
                    .header("content-type", "application/json")
                    .body(subscriber_response(&id).to_string())
                    .build()
            });
        })
        .await
}

/// Answers every endpoint and connection listing with an empty page (the watermark read at
/// `generate_link`), for tests about other requests.
pub async fn empty_lists(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET).path_matches(r"^/v1/channel-(endpoints|connections)$").header("authorization", AUTH);
            then.status(200).json_body(page(vec![], None));
        })
        .await
}

/// The subscriber upsert and empty watermark lists, for tests about the OAuth-URL POST.
pub async fn platform_basics(server: &MockServer) {
    any_subscriber_upsert(server).await;
    empty_lists(server).await;
}

/// The `contextHash` Novu expects: lower-case hex HMAC-SHA256 of `canonical` under the test
/// API key, computed here independently of the adapter.
pub fn expected_hash(canonical: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(API_KEY.as_bytes()).unwrap();
    mac.update(canonical.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Records the string value of `field` in each JSON body the matcher sees (always matches).
pub fn body_recorder(
    field: &'static str,
) -> (Arc<Mutex<Vec<String>>>, impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let matcher = move |req: &HttpMockRequest| {
        let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
        if let Some(v) = body.get(field).and_then(Value::as_str) {
            sink.lock().unwrap().push(v.to_owned());
        }
        true
    };
    (seen, matcher)
}
