//! list_connections and disconnect against httpmock.

mod support;

use httpmock::prelude::*;
use oauth_link_core::{ConnectionQuery, ConnectionStatus, Error, LinkContext, LinkProvider};
use oauth_link_junction::{JunctionProvider, UserMapping};
use serde_json::json;
use support::*;

async fn setup(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/resolve/{APP_USER}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(user_json(UID, APP_USER));
        })
        .await
}

#[tokio::test]
async fn lists_connected_and_errored_providers() {
    let server = MockServer::start_async().await;
    let resolve = setup(&server).await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/providers/{UID}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(json!({"providers": [
                connected("oura", "2026-03-01T10:00:00+00:00"),
                errored("fitbit", "2025-12-01T08:00:00")
            ]}));
        })
        .await;
    let provider = provider(&server);

    let all = provider.list_connections(&ConnectionQuery::user(APP_USER)).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].status, ConnectionStatus::Connected);
    assert!(all[1].status.is_reauthorization_needed(), "{:?}", all[1].status);
    insta::assert_json_snapshot!("listed_connections", all, {
        "[].created_at" => "[ts]",
        "[].updated_at" => "[ts]",
    });

    let only = provider.list_connections(&ConnectionQuery::user(APP_USER).with_target("fitbit")).await.unwrap();
    assert_eq!(only.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [format!("{UID}/fitbit")]);
    let none = provider.list_connections(&ConnectionQuery::user(APP_USER).with_target("garmin")).await.unwrap();
    assert!(none.is_empty());
    resolve.assert_calls_async(1).await;
    list.assert_calls_async(3).await;
}

#[tokio::test]
async fn unknown_user_has_no_connections_and_is_not_created() {
    let server = MockServer::start_async().await;
    let resolve = server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/user/resolve/stranger");
            then.status(404).json_body(json!({"detail": "User not found"}));
        })
        .await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/user");
            then.status(500);
        })
        .await;
    let provider = provider(&server);
    assert!(provider.list_connections(&ConnectionQuery::user("stranger")).await.unwrap().is_empty());
    assert_eq!(provider.find_junction_user_id("stranger").await.unwrap(), None);
    let err = provider.disconnect("stranger", "oura").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    resolve.assert_calls_async(3).await;
    create.assert_calls_async(0).await;
}

#[tokio::test]
async fn list_with_junction_user_ids_and_empty_query_checks() {
    let server = MockServer::start_async().await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/providers/{UID}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(json!({"providers": []}));
        })
        .await;
    let config = config(&server).with_user_mapping(UserMapping::JunctionUserId);
    let provider = JunctionProvider::new(config, LinkContext::ephemeral()).unwrap();
    assert!(provider.list_connections(&ConnectionQuery::user(UID)).await.unwrap().is_empty());
    for bad in ["", "not-a-uuid"] {
        let err = provider.list_connections(&ConnectionQuery::user(bad)).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }
    list.assert_calls_async(1).await;
}

#[tokio::test]
async fn disconnect_deregisters_the_provider() {
    let server = MockServer::start_async().await;
    setup(&server).await;
    let delete = server
        .mock_async(|when, then| {
            when.method(DELETE).path(format!("/v2/user/{UID}/oura")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(json!({"success": true}));
        })
        .await;
    let refused = server
        .mock_async(|when, then| {
            when.method(DELETE).path(format!("/v2/user/{UID}/polar"));
            then.status(200).json_body(json!({"success": false}));
        })
        .await;
    let provider = provider(&server);
    provider.disconnect(APP_USER, &format!("{UID}/oura")).await.unwrap();
    provider.disconnect(APP_USER, "oura").await.unwrap();
    delete.assert_calls_async(2).await;

    let err = provider.disconnect(APP_USER, "polar").await.unwrap_err();
    assert!(matches!(err, Error::Provider { status: 200, .. }), "{err:?}");
    refused.assert_calls_async(1).await;

    for bad in ["11111111-2222-4333-8444-555555555555/oura", "/oura", "uid/", "a/b/c", ""] {
        let err = provider.disconnect(APP_USER, bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{bad}: {err:?}");
    }
    delete.assert_calls_async(2).await;
}

#[tokio::test]
async fn disconnect_retries_busy_answers() {
    let server = MockServer::start_async().await;
    setup(&server).await;
    let busy = server
        .mock_async(|when, then| {
            when.method(DELETE).path(format!("/v2/user/{UID}/oura"));
            then.status(503).header("retry-after", "0").json_body(json!({"detail": "Service unavailable"}));
        })
        .await;
    let provider = provider(&server);
    let err = provider.disconnect(APP_USER, "oura").await.unwrap_err();
    assert!(matches!(err, Error::Provider { status: 503, .. }) && err.is_retryable(), "{err:?}");
    busy.assert_calls_async(3).await;
}
