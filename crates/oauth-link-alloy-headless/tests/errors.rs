//! Error statuses, retries, unreadable bodies and secret hygiene.

mod support;

use oauth_link_core::config::AdapterConfig;
use std::time::{Duration, Instant};

use httpmock::prelude::*;
use oauth_link_core::http::RetryPolicy;
use oauth_link_core::{ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest};
use oauth_link_testkit::hostile::{assert_hidden, is_typed_status};
use oauth_link_testkit::mock::limited_once_then;
use serde_json::json;
use support::*;

/// A provider that skips the metadata check; the watermark read finds no credentials.
async fn no_metadata(server: &MockServer) -> oauth_link_alloy_headless::AlloyHeadlessProvider {
    mock_no_credentials(server).await;
    provider_with(config(server).with_check_metadata(false), LinkContext::ephemeral())
}

#[tokio::test]
async fn each_error_status_maps_to_a_typed_error() {
    let cases: [(u16, serde_json::Value); 10] = [
        (400, json!({"message": "app is required"})),
        (401, json!({"message": format!("Invalid API key {KEY}")})),
        (403, json!({"message": "Your plan does not include headless mode"})),
        (404, json!({"message": "App not found"})),
        (409, json!({"message": "Credential already exists"})),
        (422, json!({"message": "Validation failed", "errors": [{"field": "shopSubdomain"}]})),
        (429, json!({"message": "Too many requests"})),
        (500, json!({"message": "Internal server error", "code": "E_INTERNAL"})),
        (502, json!("upstream down")),
        (503, json!({"message": "Service unavailable"})),
    ];
    let mut messages = Vec::new();
    for (status, body) in cases {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                when.method(GET).path("/headless/oauthUrl");
                then.status(status).header("retry-after", "3").json_body(body.clone());
            })
            .await;
        mock_no_credentials(&server).await;
        let p = provider_with(
            config(&server).with_check_metadata(false).with_retry(RetryPolicy::none()),
            LinkContext::ephemeral(),
        );
        let err = p.generate_link(&LinkRequest::new("u-1", "shopify")).await.unwrap_err();
        mock.assert_calls_async(1).await;
        let ok = match status {
            422 => matches!(&err, Error::InvalidInput { field, .. } if field == "shopSubdomain"),
            429 => matches!(err, Error::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(3)),
            s => is_typed_status(s, &err, &[]),
        };
        assert!(ok, "{status}: {err:?}");
        assert_eq!(err.provider(), Some("alloy-headless"));
        let text = err.to_string();
        assert!(!text.contains(KEY) && !format!("{err:?}").contains(KEY), "{text}");
        messages.push(format!("{status}: {text}"));
    }
    insta::assert_json_snapshot!("status_errors", messages);
}

#[tokio::test]
async fn rate_limit_honours_retry_after_then_succeeds() {
    let server = MockServer::start_async().await;
    let oauth = server
        .mock_async(|when, then| {
            when.method(GET).path("/headless/oauthUrl").header("authorization", AUTH);
            then.respond_with(limited_once_then(json!({"oauthUrl": "https://api.runalloy.com/a"})));
        })
        .await;
    let started = Instant::now();
    no_metadata(&server).await.generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(950), "Retry-After: 1 must be waited");
    oauth.assert_calls_async(2).await;
}

#[tokio::test]
async fn exhausted_retries_return_the_last_answer() {
    let server = MockServer::start_async().await;
    let limited = server
        .mock_async(|when, then| {
            when.method(GET).path("/credentials/users/u-1");
            then.status(429).header("retry-after", "0").json_body(json!({"message": "slow down"}));
        })
        .await;
    let err = provider(&server).list_connections(&ConnectionQuery::user("u-1")).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }) && err.is_retryable(), "{err:?}");
    limited.assert_calls_async(3).await;

    let server = MockServer::start_async().await;
    let unavailable = server
        .mock_async(|when, then| {
            when.method(DELETE).path("/users/u-1/credentials/c1");
            then.status(503).json_body(json!({"message": "maintenance"}));
        })
        .await;
    let err = provider(&server).disconnect("u-1", "c1").await.unwrap_err();
    assert!(matches!(err, Error::Provider { status: 503, .. }), "{err:?}");
    unavailable.assert_calls_async(3).await;
}

#[tokio::test]
async fn unreadable_bodies_are_decode_errors() {
    let bodies = [
        ("malformed", "not json at all"),
        ("truncated", r#"{"oauthUrl":"https://api.runallo"#),
        ("wrong_shape", r#"{"url":"https://api.runalloy.com/a"}"#),
        ("not_a_url", r#"{"oauthUrl":"javascript:alert(1)"}"#),
    ];
    let mut messages = Vec::new();
    for (name, body) in bodies {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(GET).path("/headless/oauthUrl");
                then.status(200).body(body);
            })
            .await;
        let err = no_metadata(&server).await.generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{name}: {err:?}");
        messages.push(format!("{name}: {err}"));
    }
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/credentials/users/u-1");
            then.status(200).json_body(json!({"data": {"credentialId": "c1"}}));
        })
        .await;
    let err = provider(&server).list_connections(&ConnectionQuery::user("u-1")).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    messages.push(format!("list_wrong_shape: {err}"));
    insta::assert_json_snapshot!("decode_errors", messages);
}

#[tokio::test]
async fn secrets_never_show() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/headless/oauthUrl");
            then.status(200).body(format!("<html>key {KEY} rejected"));
        })
        .await;
    let p = no_metadata(&server).await;
    let err = p.generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap_err();
    let config = serde_json::to_string(p.config()).unwrap();
    assert_hidden(&[KEY], &format!("{err} {err:?} {p:?} {:?} {config}", p.config()));
    assert!(err.to_string().contains("[redacted]"), "{err}");
}
