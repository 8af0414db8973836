//! The app's user id is the Novu subscriberId: the subscriber is ensured (upserted) before
//! the first link of each user in the adapter's lifetime, once however many links race.

mod support;

use std::sync::Arc;

use httpmock::prelude::*;
use oauth_link_core::{ConnectionQuery, Error, LinkProvider, LinkRequest};
use serde_json::json;
use support::*;

const USER_PATH: &str = "/v1/integrations/channel-endpoints/oauth";

async fn link_mock<'a>(server: &'a MockServer, user: &str) -> httpmock::Mock<'a> {
    let body = json!({"subscriberId": user, "integrationIdentifier": INTEGRATION});
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path(USER_PATH)
                .header("authorization", AUTH)
                .header_exists("idempotency-key")
                .json_body(body);
            then.status(201).json_body(json!({"data": {"url": SLACK_URL}}));
        })
        .await
}

#[tokio::test]
async fn a_first_time_user_costs_three_requests_and_a_known_one_two() {
    let server = MockServer::start_async().await;
    let user = "ada@example.com";
    let upsert = subscriber_upsert(&server, user).await;
    let lists = empty_lists(&server).await;
    let link = link_mock(&server, user).await;
    let provider = provider(config(&server), &clock());
    provider.generate_link(&LinkRequest::new(user, INTEGRATION)).await.unwrap();
    assert_eq!((upsert.calls_async().await, link.calls_async().await, lists.calls_async().await), (1, 1, 1));
    provider.generate_link(&LinkRequest::new(user, INTEGRATION)).await.unwrap();
    assert_eq!((upsert.calls_async().await, link.calls_async().await, lists.calls_async().await), (1, 2, 2));
}

#[tokio::test]
async fn concurrent_first_links_create_the_subscriber_once() {
    let server = MockServer::start_async().await;
    let user = "6f1c2d3e-0000-4000-8000-000000000001";
    let upsert = server
        .mock_async(|when, then| {
            when.method(POST).path(SUBSCRIBERS).json_body(json!({"subscriberId": user}));
            then.status(201).delay(std::time::Duration::from_millis(100)).json_body(subscriber_response(user));
        })
        .await;
    empty_lists(&server).await;
    let link = link_mock(&server, user).await;
    let provider = Arc::new(provider(config(&server), &clock()));
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let provider = provider.clone();
            tokio::spawn(async move { provider.generate_link(&LinkRequest::new(user, INTEGRATION)).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    upsert.assert_calls_async(1).await;
    link.assert_calls_async(5).await;
}

#[tokio::test]
async fn a_bare_upsert_answer_is_accepted_and_another_subscriber_is_refused() {
    let server = MockServer::start_async().await;
    let upsert = server
        .mock_async(|when, then| {
            when.method(POST).path(SUBSCRIBERS).json_body(json!({"subscriberId": "u1"}));
            // What the OpenAPI shows: the record without the server's envelope.
            then.status(201).json_body(json!({"_id": "x", "subscriberId": "u1"}));
        })
        .await;
    empty_lists(&server).await;
    link_mock(&server, "u1").await;
    provider(config(&server), &clock()).generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap();
    upsert.assert_calls_async(1).await;

    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(SUBSCRIBERS);
            then.status(201).json_body(json!({"data": {"subscriberId": "someone-else"}}));
        })
        .await;
    empty_lists(&server).await;
    let link = link_mock(&server, "u2").await;
    let err =
        provider(config(&server), &clock()).generate_link(&LinkRequest::new("u2", INTEGRATION)).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    link.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_subscriber_deleted_from_novu_is_created_again() {
    let server = MockServer::start_async().await;
    let upsert = subscriber_upsert(&server, "u1").await;
    empty_lists(&server).await;
    let provider = provider(config(&server), &clock());
    let ok = link_mock(&server, "u1").await;
    provider.generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap();
    ok.delete_async().await;
    upsert.assert_calls_async(1).await;

    // Deleted in Novu since: the link answers 404 "Subscriber not found"; with the adapter's
    // own key it upserts again and mints once more under a new key.
    let (keys, recorder) = key_recorder();
    let missing =
        json!({"statusCode": 404, "timestamp": "t", "path": USER_PATH, "message": "Subscriber not found: u1"});
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = calls.clone();
    let answer = missing.clone();
    let mock = server
        .mock_async(move |when, then| {
            when.method(POST).path(USER_PATH).is_true(recorder);
            then.respond_with(move |_| {
                let (status, body) = if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    (404, answer.clone())
                } else {
                    (201, json!({"url": SLACK_URL}))
                };
                HttpMockResponse::builder().status(status).body(body.to_string()).build()
            });
        })
        .await;
    provider.generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap();
    mock.assert_calls_async(2).await;
    upsert.assert_calls_async(2).await;
    let keys = keys.lock().unwrap().clone();
    assert_ne!(keys[0], keys[1], "Novu keeps the 404 under the first key: {keys:?}");
    mock.delete_async().await;

    // With the caller's key the 404 is returned (Novu would replay it under that key), and
    // the subscriber is forgotten: the next link upserts first.
    let gone = server
        .mock_async(|when, then| {
            when.method(POST).path(USER_PATH).header("idempotency-key", "caller-1");
            then.status(404).json_body(missing.clone());
        })
        .await;
    let err = provider
        .generate_link(&LinkRequest::new("u1", INTEGRATION).with_idempotency_key("caller-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    gone.assert_calls_async(1).await;
    upsert.assert_calls_async(2).await;
    let ok = link_mock(&server, "u1").await;
    provider.generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap();
    ok.assert_calls_async(1).await;
    upsert.assert_calls_async(3).await;

    // A missing integration is not a missing subscriber: nothing is upserted again.
    ok.delete_async().await;
    let no_integration = server
        .mock_async(|when, then| {
            when.method(POST).path(USER_PATH);
            then.status(404).json_body(json!({"statusCode": 404, "timestamp": "t", "path": USER_PATH,
                "message": "Integration not found: slack-main in environment e1"}));
        })
        .await;
    let err = provider.generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    no_integration.assert_calls_async(1).await;
    upsert.assert_calls_async(3).await;
}

#[tokio::test]
async fn listing_and_disconnecting_never_create_a_subscriber() {
    let server = MockServer::start_async().await;
    let upsert = any_subscriber_upsert(&server).await;
    let lists = empty_lists(&server).await;
    for path in ["/v1/channel-endpoints/ep-1", "/v1/channel-connections/ep-1"] {
        server
            .mock_async(|when, then| {
                when.method(GET).path(path);
                then.status(404).json_body(json!({"statusCode": 404, "timestamp": "t", "path": path, "message": "nf"}));
            })
            .await;
    }
    let provider = provider(config(&server).with_include_channel_connections(true), &clock());
    let listed = provider.list_connections(&ConnectionQuery::user("never-seen@example.com")).await.unwrap();
    assert!(listed.is_empty());
    let err = provider.disconnect("never-seen@example.com", "ep-1").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    lists.assert_calls_async(2).await;
    upsert.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_refused_subscriber_id_is_typed_and_stops_the_link() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(SUBSCRIBERS);
            then.status(422).json_body(json!({
                "statusCode": 422, "timestamp": "t", "path": SUBSCRIBERS, "message": "Validation Error",
                "errors": {"subscriberId": {"messages": ["SubscriberId must be a valid email address or a string of alphanumeric characters, hyphens, and underscores"], "value": "a b"}}
            }));
        })
        .await;
    empty_lists(&server).await;
    let link = link_mock(&server, "a b").await;
    let err =
        provider(config(&server), &clock()).generate_link(&LinkRequest::new("a b", INTEGRATION)).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "subscriberId"), "{err:?}");
    link.assert_calls_async(0).await;
}
