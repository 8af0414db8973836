//! complete_callback: confirmation by listing (both link kinds), pagination, polling, denial.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use httpmock::prelude::*;
use oauth_link_core::{Callback, Error, Link, LinkProvider, LinkRequest};
use oauth_link_novu::{NovuProvider, KIND};
use serde_json::json;

const ENDPOINTS: &str = "/v1/channel-endpoints";
const CONNECTIONS: &str = "/v1/channel-connections";

/// Generates `request`'s link against a mock pinned to its exact path and body.
async fn link(server: &MockServer, provider: &NovuProvider, request: &LinkRequest, path: &str) -> Link {
    let body = json!({"subscriberId": request.user, "integrationIdentifier": request.target});
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(path)
                .is_true(no_query())
                .header("authorization", AUTH)
                .header_exists("idempotency-key")
                .json_body(body);
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let link = provider.generate_link(request).await.unwrap();
    mock.assert_calls_async(1).await;
    mock.delete_async().await;
    link
}

fn confirm_query(user: &'static str, after: Option<&'static str>) -> Vec<(&'static str, &'static str)> {
    let mut q = vec![("subscriberId", user), ("integrationIdentifier", INTEGRATION), ("limit", "100")];
    if let Some(after) = after {
        q.push(("after", after));
    }
    q
}

#[tokio::test]
async fn user_link_is_confirmed_after_polling_across_three_pages() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let link =
        link(&server, &provider, &LinkRequest::new("user-7", INTEGRATION), "/v1/integrations/channel-endpoints/oauth")
            .await;

    let old = endpoint("ep-old", "user-7", INTEGRATION, ts("2026-03-01T11:00:00Z"));
    let looks = Arc::new(AtomicUsize::new(0));
    let seen = looks.clone();
    let (old_first, old_later) = (old.clone(), old.clone());
    let first = server
        .mock_async(move |when, then| {
            when.method(GET)
                .path(ENDPOINTS)
                .header("authorization", AUTH)
                .is_true(exact_query(&confirm_query("user-7", None)));
            then.respond_with(move |_| {
                // First look: the user has not approved yet; afterwards the new endpoint sits on page 3.
                let body = if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    page(vec![old_first.clone()], None)
                } else {
                    page(vec![old_later.clone()], Some("cursor-2"))
                };
                HttpMockResponse::builder()
                    .status(200)
                    .header("ratelimit-remaining", "42")
                    .body(body.to_string())
                    .build()
            });
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ENDPOINTS)
                .header("authorization", AUTH)
                .is_true(exact_query(&confirm_query("user-7", Some("cursor-2"))));
            // Within the 60 s skew tolerance: counts as new, but page 3 has a newer one.
            then.status(200).json_body(page(
                vec![endpoint("ep-skew", "user-7", INTEGRATION, ts("2026-03-01T11:59:30Z"))],
                Some("cursor-3"),
            ));
        })
        .await;
    let third = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ENDPOINTS)
                .header("authorization", AUTH)
                .is_true(exact_query(&confirm_query("user-7", Some("cursor-3"))));
            then.status(200)
                .json_body(page(vec![endpoint("ep-new", "user-7", INTEGRATION, ts("2026-03-01T12:00:30Z"))], None));
        })
        .await;

    let connection = provider.complete_callback(&Callback::from_state(link.state.clone())).await.unwrap();
    first.assert_calls_async(2).await;
    second.assert_calls_async(1).await;
    third.assert_calls_async(1).await;
    assert_eq!(looks.load(Ordering::SeqCst), 2);
    insta::assert_json_snapshot!("confirmed_user_endpoint", connection, {
        ".created_at" => "[ts]", ".updated_at" => "[ts]", ".raw.createdAt" => "[ts]", ".raw.updatedAt" => "[ts]"
    });

    let again = provider.complete_callback(&Callback::from_state(link.state)).await.unwrap_err();
    assert!(matches!(again, Error::StateReplayed { .. }), "{again:?}");
}

#[tokio::test]
async fn timeout_is_pending_and_the_same_callback_completes_later() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let link =
        link(&server, &provider, &LinkRequest::new("user-8", INTEGRATION), "/v1/integrations/channel-endpoints/oauth")
            .await;
    let callback = Callback::from_state(link.state.clone());

    let nothing_new = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ENDPOINTS)
                .header("authorization", AUTH)
                .is_true(exact_query(&confirm_query("user-8", None)));
            then.status(200)
                .json_body(page(vec![endpoint("ep-old", "user-8", INTEGRATION, ts("2026-02-01T00:00:00Z"))], None));
        })
        .await;
    let started = std::time::Instant::now();
    let err = provider.complete_callback(&callback).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "polling is bounded");
    assert!(matches!(err, Error::Pending { .. }) && err.is_retryable(), "{err:?}");
    assert!(nothing_new.calls_async().await >= 2, "polled more than once");
    insta::assert_snapshot!("pending_user", err.to_string());
    nothing_new.delete_async().await;

    let approved = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ENDPOINTS)
                .header("authorization", AUTH)
                .is_true(exact_query(&confirm_query("user-8", None)));
            then.status(200)
                .json_body(page(vec![endpoint("ep-8", "user-8", INTEGRATION, ts("2026-03-01T12:01:00Z"))], None));
        })
        .await;
    let connection = provider.complete_callback(&callback).await.unwrap();
    approved.assert_calls_async(1).await;
    assert_eq!(connection.id, "ep-8");
}

#[tokio::test]
async fn skew_tolerance_is_configurable() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server).with_clock_skew(Duration::ZERO), &clock);
    let link =
        link(&server, &provider, &LinkRequest::new("user-9", INTEGRATION), "/v1/integrations/channel-endpoints/oauth")
            .await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ENDPOINTS)
                .header("authorization", AUTH)
                .is_true(exact_query(&confirm_query("user-9", None)));
            then.status(200)
                .json_body(page(vec![endpoint("ep-early", "user-9", INTEGRATION, ts("2026-03-01T11:59:30Z"))], None));
        })
        .await;
    let err = provider.complete_callback(&Callback::from_state(link.state)).await.unwrap_err();
    assert!(matches!(err, Error::Pending { .. }), "{err:?}");
    assert!(list.calls_async().await >= 1);
}

#[tokio::test]
async fn workspace_link_is_confirmed_with_channel_connections() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let request = LinkRequest::new("admin-1", INTEGRATION).with_param("link_kind", "workspace");
    let link = link(&server, &provider, &request, "/v1/integrations/channel-connections/oauth").await;
    let endpoints = server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS);
            then.status(200).json_body(page(vec![], None));
        })
        .await;
    let connections = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(CONNECTIONS)
                .header("authorization", AUTH)
                .is_true(exact_query(&confirm_query("admin-1", None)));
            then.status(200).json_body(page(
                vec![
                    channel_connection("conn-old", "admin-1", INTEGRATION, ts("2026-01-01T00:00:00Z")),
                    channel_connection("conn-new", "admin-1", INTEGRATION, ts("2026-03-01T12:02:00Z")),
                ],
                None,
            ));
        })
        .await;
    let connection = provider.complete_callback(&Callback::from_state(link.state)).await.unwrap();
    connections.assert_calls_async(1).await;
    endpoints.assert_calls_async(0).await;
    assert_eq!(connection.id, "conn-new");
    let printed = format!("{connection:?} {}", serde_json::to_string(&connection).unwrap());
    assert!(!printed.contains("secret-token"), "tokens must not survive normalisation: {printed}");
    insta::assert_json_snapshot!("confirmed_workspace_connection", connection, {
        ".created_at" => "[ts]", ".updated_at" => "[ts]", ".raw.createdAt" => "[ts]", ".raw.updatedAt" => "[ts]"
    });
}

#[tokio::test]
async fn workspace_timeout_says_what_was_looked_for() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let request = LinkRequest::new("admin-2", INTEGRATION).with_param("link_kind", "workspace");
    let link = link(&server, &provider, &request, "/v1/integrations/channel-connections/oauth").await;
    let connections = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(CONNECTIONS)
                .header("authorization", AUTH)
                .is_true(exact_query(&confirm_query("admin-2", None)));
            then.status(200).json_body(page(vec![], None));
        })
        .await;
    let err = provider.complete_callback(&Callback::from_state(link.state)).await.unwrap_err();
    assert!(connections.calls_async().await >= 2);
    insta::assert_snapshot!("pending_workspace", err.to_string());
}

#[tokio::test]
async fn error_params_are_denied_without_platform_calls() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let link =
        link(&server, &provider, &LinkRequest::new("user-10", INTEGRATION), "/v1/integrations/channel-endpoints/oauth")
            .await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(500);
        })
        .await;
    let callback = Callback::from_query(KIND, "error=access_denied&error_description=The+user+cancelled")
        .unwrap()
        .with_state(link.state.clone());
    let err = provider.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(&err, Error::Denied { code, .. } if code == "access_denied"), "{err:?}");
    insta::assert_snapshot!("denied", err.to_string());
    let again = provider.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(again, Error::StateReplayed { .. }), "a denied state stays used: {again:?}");
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn list_failure_during_confirmation_is_typed_and_releases_the_state() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let link =
        link(&server, &provider, &LinkRequest::new("user-11", INTEGRATION), "/v1/integrations/channel-endpoints/oauth")
            .await;
    let failing = server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS).is_true(exact_query(&confirm_query("user-11", None)));
            then.status(503).header("retry-after", "0").body(r#""Please wait some time, then try again.""#);
        })
        .await;
    let callback = Callback::from_state(link.state);
    let err = provider.complete_callback(&callback).await.unwrap_err();
    failing.assert_calls_async(3).await;
    assert!(matches!(err, Error::Provider { status: 503, .. }), "{err:?}");
    failing.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS).is_true(exact_query(&confirm_query("user-11", None)));
            then.status(200)
                .json_body(page(vec![endpoint("ep-11", "user-11", INTEGRATION, ts("2026-03-01T12:00:01Z"))], None));
        })
        .await;
    assert_eq!(provider.complete_callback(&callback).await.unwrap().id, "ep-11");
}
