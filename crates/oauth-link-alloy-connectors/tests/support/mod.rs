//! Shared test helpers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use httpmock::{HttpMockResponse, MockServer};
use oauth_link_alloy_connectors::{AlloyConnectorsConfig, AlloyConnectorsProvider, UserIdMode};
use oauth_link_core::http::RetryPolicy;
use oauth_link_core::{LinkContext, PollPolicy, Url};

pub const KEY: &str = "sk_test_alloy_connectors_0123456789";
pub const AUTH: &str = "bearer sk_test_alloy_connectors_0123456789";
pub const VERSION: &str = "2025-09";
pub const REDIRECT: &str = "https://app.example.com/oauth/alloy?tenant=7";

/// A responder that records each JSON body it receives and answers `response`.
pub fn recording(
    bodies: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    response: HttpMockResponse,
) -> impl Fn(&httpmock::HttpMockRequest) -> HttpMockResponse + Send + Sync + 'static {
    move |req| {
        bodies.lock().unwrap().push(serde_json::from_slice(&req.body_vec()).unwrap_or_default());
        response.clone()
    }
}

pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(5),
    }
}

pub fn fast_poll() -> PollPolicy {
    PollPolicy {
        timeout: Duration::from_millis(150),
        interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(40),
    }
}

/// Settings for `server` with users given as Alloy `userId`s (`user_id_mode = platform`):
/// the tests of the platform calls name Alloy users directly. `tests/users.rs` and the
/// conformance suite run the default `app` mode.
pub fn config(server: &MockServer) -> AlloyConnectorsConfig {
    app_config(server).with_user_id_mode(UserIdMode::Platform)
}

/// Settings for `server` in the default mode: users are the app's own ids.
pub fn app_config(server: &MockServer) -> AlloyConnectorsConfig {
    AlloyConnectorsConfig::new(KEY)
        .with_base_url(Url::parse(&server.base_url()).unwrap())
        .with_retry(fast_retry())
        .with_poll(fast_poll())
        .with_redirect_uri(Url::parse(REDIRECT).unwrap())
}

pub fn provider(server: &MockServer) -> AlloyConnectorsProvider {
    provider_with(config(server), LinkContext::ephemeral())
}

pub fn provider_with(config: AlloyConnectorsConfig, ctx: LinkContext) -> AlloyConnectorsProvider {
    AlloyConnectorsProvider::new(config, ctx).unwrap()
}

/// A responder that answers `first` to the first `n` calls and `then` afterwards.
pub fn sequence(
    n: usize,
    first: HttpMockResponse,
    then: HttpMockResponse,
) -> impl Fn(&httpmock::HttpMockRequest) -> HttpMockResponse + Send + Sync + 'static {
    let calls = Arc::new(AtomicUsize::new(0));
    move |_| if calls.fetch_add(1, Ordering::SeqCst) < n { first.clone() } else { then.clone() }
}

pub fn json_response(status: u16, body: serde_json::Value) -> HttpMockResponse {
    HttpMockResponse::builder().status(status).header("content-type", "application/json").body(body.to_string()).build()
}

/// Answers every connector credential list (`GET /connectors/{id}/credentials`, read by
/// `generate_link` for its watermark) with no credentials.
pub async fn mock_no_credentials(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET)
                .path_matches(r"^/connectors/[^/]+/credentials$")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header_exists("x-alloy-userid");
            then.status(200).json_body(serde_json::json!({"credentials": []}));
        })
        .await
}
