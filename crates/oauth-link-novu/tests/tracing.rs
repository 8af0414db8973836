//! Novu's idempotency and rate-limit headers reach traces; no secret does.
//!
//! Alone in its test binary: tracing caches callsite interest process-wide, so a test running
//! concurrently without a subscriber could hide these events.

mod support;

use httpmock::prelude::*;
use oauth_link_core::{LinkProvider, LinkRequest};
use oauth_link_testkit::logs::CapturedLogs;
use serde_json::json;
use support::*;

#[tokio::test]
async fn rate_limit_and_replay_headers_reach_traces_without_secrets() {
    let capture = CapturedLogs::default();
    let _guard = capture.install(tracing::Level::DEBUG);

    let server = MockServer::start_async().await;
    platform_basics(&server).await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/integrations/channel-endpoints/oauth")
                .header("authorization", AUTH)
                .header("idempotency-key", "idem-trace-1");
            then.status(201)
                .header("idempotency-key", "idem-trace-1")
                .header("idempotency-replay", "true")
                .header("ratelimit-limit", "100")
                .header("ratelimit-remaining", "93")
                .header("ratelimit-reset", "8")
                .header("ratelimit-policy", "100;w=1;burst=110")
                .json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let request = LinkRequest::new("u1", INTEGRATION).with_idempotency_key("idem-trace-1");
    provider(config(&server), &clock()).generate_link(&request).await.unwrap();
    mock.assert_calls_async(1).await;

    let logs = capture.text();
    for needle in [
        "idempotency_replay=\"true\"",
        "ratelimit_limit=\"100\"",
        "ratelimit_remaining=\"93\"",
        "ratelimit_reset=\"8\"",
        "replayed an earlier response",
    ] {
        assert!(logs.contains(needle), "missing {needle} in:\n{logs}");
    }
    assert!(!logs.contains(API_KEY) && !logs.contains("novu-signed-state"), "{logs}");
}
