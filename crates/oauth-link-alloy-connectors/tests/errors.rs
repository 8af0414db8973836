//! Error statuses, Retry-After, unreadable bodies and the typed extras. (An answer echoing
//! the API key is the shared suite's `echoed_secrets_never_show`, in `hostile.rs`.)

mod support;

use std::time::{Duration, Instant};

use httpmock::prelude::*;
use oauth_link_core::{ConnectionQuery, Error, LinkProvider, LinkRequest};
use oauth_link_testkit::alloy::mock_create_user;
use oauth_link_testkit::hostile::is_typed_status;
use oauth_link_testkit::mock::limited_once_then;
use serde_json::json;
use support::*;

#[tokio::test]
async fn each_error_status_maps_to_a_typed_error_and_only_transient_ones_are_retried() {
    let cases: [(u16, serde_json::Value); 10] = [
        (400, json!({"message": "authenticationType must be one of oauth2, apiKey"})),
        (401, json!({"message": format!("Invalid API key {KEY}")})),
        (403, json!({"message": "Connectivity API not enabled"})),
        (404, json!({"message": "Connector slackk not found"})),
        (409, json!({"message": "Credential already exists"})),
        (422, json!({"message": "Invalid body", "errors": ["redirectUri"]})),
        (429, json!({"message": "Too many requests"})),
        (500, json!({"message": "Internal server error"})),
        (502, json!("bad gateway")),
        (503, json!({"message": "Service unavailable", "code": "MAINTENANCE"})),
    ];
    let mut messages = Vec::new();
    for (status, body) in cases {
        let server = MockServer::start_async().await;
        mock_no_credentials(&server).await;
        let mock = server
            .mock_async(|when, then| {
                when.method(POST).path("/connectors/slack/credentials");
                then.status(status).header("retry-after", "0").json_body(body.clone());
            })
            .await;
        let err = provider(&server).generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap_err();
        // The POST mints a link (a repeat is harmless): retried on 429 and 5xx (1 + 2
        // retries), sent once on any other answer.
        let attempts = if matches!(status, 429 | 500 | 502 | 503) { 3 } else { 1 };
        mock.assert_calls_async(attempts).await;
        let ok = match status {
            422 => matches!(&err, Error::InvalidInput { field, .. } if field == "redirectUri"),
            429 => matches!(err, Error::RateLimited { retry_after: Some(d), .. } if d == Duration::ZERO),
            s => is_typed_status(s, &err, &[]),
        };
        assert!(ok, "{status}: {err:?}");
        assert!(!err.to_string().contains(KEY) && !format!("{err:?}").contains(KEY));
        messages.push(format!("{status}: {err}"));
    }
    insta::assert_json_snapshot!("status_errors", messages);
}

#[tokio::test]
async fn list_honours_retry_after_then_succeeds() {
    let server = MockServer::start_async().await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/slack/credentials").header("x-alloy-userid", "u-1");
            then.respond_with(limited_once_then(json!({"credentials": []})));
        })
        .await;
    let started = Instant::now();
    let listed = provider(&server).list_connections(&ConnectionQuery::user("u-1").with_target("slack")).await.unwrap();
    assert!(listed.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(950), "Retry-After: 1 must be waited");
    list.assert_calls_async(2).await;
}

#[tokio::test]
async fn unreadable_bodies_are_decode_errors() {
    let bodies = [
        ("malformed", "<html>oops</html>"),
        ("truncated", r#"{"oauthUrl":"https://api.run"#),
        ("wrong_shape", r#"{"data":{"oauthUrl":"https://api.runalloy.com/a"}}"#),
    ];
    let mut messages = Vec::new();
    for (name, body) in bodies {
        let server = MockServer::start_async().await;
        mock_no_credentials(&server).await;
        server
            .mock_async(|when, then| {
                when.method(POST).path("/connectors/slack/credentials");
                then.status(200).body(body);
            })
            .await;
        let err = provider(&server).generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{name}: {err:?}");
        messages.push(format!("{name}: {err}"));
    }
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/slack/credentials");
            then.status(200).json_body(json!({"credentials": "none"}));
        })
        .await;
    let err = provider(&server).list_connections(&ConnectionQuery::user("u-1").with_target("slack")).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    messages.push(format!("list_wrong_shape: {err}"));
    insta::assert_json_snapshot!("decode_errors", messages);
}

#[tokio::test]
async fn credential_metadata_is_read() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/connectors/hubspot/credentials/metadata")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"metadata": [{"authenticationType": "oauth2",
                "authConfigRequired": false,
                "inputSchema": {"type": "object", "required": ["userId", "authenticationType", "redirectUri"]},
                "sampleInput": {"userId": "u", "authenticationType": "oauth2", "redirectUri": "https://x"}}]}));
        })
        .await;
    let metadata = provider(&server).credential_metadata("hubspot").await.unwrap();
    mock.assert_calls_async(1).await;
    assert_eq!(metadata[0].authentication_type, "oauth2");
    assert!(!metadata[0].auth_config_required);
    assert_eq!(metadata[0].input_schema["required"][2], "redirectUri");
}

#[tokio::test]
async fn create_user_posts_once() {
    let server = MockServer::start_async().await;
    let mock = mock_create_user(&server, AUTH, "grace@example.com", 503).await;
    let p = provider(&server);
    assert!(matches!(p.create_user("grace@example.com", None).await, Err(Error::Provider { status: 503, .. })));
    mock.assert_calls_async(1).await;
    mock.delete_async().await;
    let ok = server
        .mock_async(|when, then| {
            when.method(POST).path("/users").json_body(json!({"username": "grace@example.com", "fullName": "Grace"}));
            then.status(200).json_body(json!({"userId": "u-grace"}));
        })
        .await;
    assert_eq!(p.create_user("grace@example.com", Some("Grace")).await.unwrap().user_id, "u-grace");
    ok.assert_calls_async(1).await;
    assert!(matches!(p.create_user("", None).await, Err(Error::InvalidInput { .. })));
    assert!(matches!(p.credential_metadata(" ").await, Err(Error::InvalidInput { .. })));
    ok.assert_calls_async(1).await;
}
