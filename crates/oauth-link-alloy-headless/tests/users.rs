//! The default `user_id_mode = app`: the app's own user ids, resolved to Alloy users by
//! username (found, or created on the first link), and what each call costs.

mod support;

use std::sync::Arc;

use chrono::{SecondsFormat, Utc};
use httpmock::prelude::*;
use httpmock::Mock;
use oauth_link_alloy_headless::{AlloyHeadlessProvider, KIND};
use oauth_link_core::{
    clock::{Clock, ManualClock},
    Callback, ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest, MemoryReplayGuard, StateCodec, StateKeys,
};
use oauth_link_testkit::alloy::{mock_create_user, mock_find_user, mock_find_user_after, mock_unversioned};
use serde_json::json;
use support::*;

const ADA: &str = "ada@example.com";

/// `GET /headless/oauthUrl?userId=usr-1&app=slack`, pinned.
async fn mock_link(server: &MockServer) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/headless/oauthUrl")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param("userId", "usr-1")
                .query_param("app", "slack")
                .query_param_count(".*", ".*", 2);
            then.status(200).json_body(json!({"oauthUrl": "https://api.runalloy.com/api/strategy/slack/authorize"}));
        })
        .await
}

/// `GET /credentials/users/usr-1`, pinned, answering `body`.
async fn mock_list(server: &MockServer, body: serde_json::Value) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/credentials/users/usr-1")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(body);
        })
        .await
}

fn app_provider(server: &MockServer) -> AlloyHeadlessProvider {
    provider_with(app_config(server).with_check_metadata(false), LinkContext::ephemeral())
}

#[tokio::test]
async fn a_first_link_creates_the_user_once_and_a_known_user_costs_two_requests() {
    let server = MockServer::start_async().await;
    let unversioned = mock_unversioned(&server).await;
    let find = mock_find_user(&server, AUTH, ADA, false).await;
    let create = mock_create_user(&server, AUTH, ADA, 200).await;
    let link = mock_link(&server).await;
    let list = mock_list(&server, json!({"data": []})).await;
    let metadata = mock_metadata(&server, "slack", &[]).await;
    let p = provider_with(app_config(&server), LinkContext::ephemeral());

    // First-time user: find (404), create, metadata and the link; nothing to list (the
    // user was just created, so it has no credential).
    p.generate_link(&LinkRequest::new(ADA, "slack")).await.unwrap();
    find.assert_calls_async(1).await;
    create.assert_calls_async(1).await;
    metadata.assert_calls_async(1).await;
    link.assert_calls_async(1).await;
    list.assert_calls_async(0).await;
    assert_eq!(p.kept_users(), 1);

    // Known user (metadata kept): the link and the watermark read, at once.
    p.generate_link(&LinkRequest::new(ADA, "slack")).await.unwrap();
    find.assert_calls_async(1).await;
    create.assert_calls_async(1).await;
    metadata.assert_calls_async(1).await;
    link.assert_calls_async(2).await;
    list.assert_calls_async(1).await;
    unversioned.assert_calls_async(0).await;
}

#[tokio::test]
async fn an_existing_user_is_found_not_created() {
    let server = MockServer::start_async().await;
    let find = mock_find_user(&server, AUTH, ADA, true).await;
    let create = mock_create_user(&server, AUTH, ADA, 200).await;
    mock_link(&server).await;
    let list = mock_list(&server, json!({"data": []})).await;
    let p = app_provider(&server);
    let link = p.generate_link(&LinkRequest::new(ADA, "slack")).await.unwrap();
    find.assert_calls_async(1).await;
    create.assert_calls_async(0).await;
    list.assert_calls_async(1).await;
    // Kept: the extras' userId costs nothing.
    assert_eq!(p.alloy_user_id(ADA).await.unwrap().as_deref(), Some("usr-1"));
    find.assert_calls_async(1).await;
    // Completion needs no lookup: the state carries the Alloy userId.
    let connection = {
        list.delete_async().await;
        let list = mock_list(
            &server,
            json!({"data": [{"credentialId": "c1", "type": "slack",
            "createdAt": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)}]}),
        )
        .await;
        let c = p.complete_callback(&Callback::from_state(link.state)).await.unwrap();
        list.assert_calls_async(1).await;
        c
    };
    assert_eq!((connection.user.as_str(), connection.id.as_str()), (ADA, "c1"));
    find.assert_calls_async(1).await;
}

#[tokio::test]
async fn concurrent_first_links_create_the_user_once() {
    let server = MockServer::start_async().await;
    let find = mock_find_user(&server, AUTH, ADA, false).await;
    let create = mock_create_user(&server, AUTH, ADA, 200).await;
    let link = mock_link(&server).await;
    mock_list(&server, json!({"data": []})).await;
    let p = Arc::new(app_provider(&server));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.generate_link(&LinkRequest::new(ADA, "slack")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    find.assert_calls_async(1).await;
    create.assert_calls_async(1).await;
    link.assert_calls_async(8).await;
}

#[tokio::test]
async fn a_lost_create_answer_is_settled_by_looking_again() {
    // POST /users reached Alloy but the answer was a 502: sent once, then the user is
    // looked up and found. No second user.
    let server = MockServer::start_async().await;
    let find = mock_find_user_after(&server, ADA, 1).await;
    let create = mock_create_user(&server, AUTH, ADA, 502).await;
    mock_link(&server).await;
    mock_list(&server, json!({"data": []})).await;
    app_provider(&server).generate_link(&LinkRequest::new(ADA, "slack")).await.unwrap();
    create.assert_calls_async(1).await;
    find.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_lost_race_resolves_to_the_existing_user() {
    // Another app instance created Ada between our lookup and our create: Alloy refuses the
    // duplicate, and the lookup finds the user it made.
    let server = MockServer::start_async().await;
    let find = mock_find_user_after(&server, ADA, 1).await;
    let create = mock_create_user(&server, AUTH, ADA, 400).await;
    mock_link(&server).await;
    let list = mock_list(&server, json!({"data": []})).await;
    app_provider(&server).generate_link(&LinkRequest::new(ADA, "slack")).await.unwrap();
    create.assert_calls_async(1).await;
    find.assert_calls_async(2).await;
    // Not created by this call: it may have credentials, so the watermark is read.
    list.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_create_that_did_not_land_is_sent_again_a_bounded_number_of_times() {
    let server = MockServer::start_async().await;
    let find = mock_find_user(&server, AUTH, ADA, false).await;
    let create = mock_create_user(&server, AUTH, ADA, 503).await;
    let err = app_provider(&server).generate_link(&LinkRequest::new(ADA, "slack")).await.unwrap_err();
    assert!(matches!(err, Error::Provider { status: 503, .. }), "{err:?}");
    // Never retried by the client (Idempotency::SendOnce); sent again only after a lookup showed it
    // did not land: 2 creates, 3 lookups.
    create.assert_calls_async(2).await;
    find.assert_calls_async(3).await;

    // A refusal that is not a duplicate (the user is still missing) is final.
    let server = MockServer::start_async().await;
    let find = mock_find_user(&server, AUTH, ADA, false).await;
    let create = mock_create_user(&server, AUTH, ADA, 400).await;
    let err = app_provider(&server).generate_link(&LinkRequest::new(ADA, "slack")).await.unwrap_err();
    assert!(matches!(err, Error::Provider { status: 400, .. }), "{err:?}");
    create.assert_calls_async(1).await;
    find.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_user_alloy_does_not_know_has_no_connections_and_is_never_created() {
    let server = MockServer::start_async().await;
    let find = mock_find_user(&server, AUTH, ADA, false).await;
    let create = mock_create_user(&server, AUTH, ADA, 200).await;
    let p = app_provider(&server);
    assert!(p.list_connections(&ConnectionQuery::user(ADA)).await.unwrap().is_empty());
    let err = p.disconnect(ADA, "c1").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert_eq!(p.alloy_user_id(ADA).await.unwrap(), None);
    find.assert_calls_async(3).await;
    create.assert_calls_async(0).await;
    assert_eq!(p.kept_users(), 0);
}

#[tokio::test]
async fn a_user_deleted_at_alloy_is_forgotten() {
    let server = MockServer::start_async().await;
    let find = mock_find_user(&server, AUTH, ADA, true).await;
    let gone = server
        .mock_async(|when, then| {
            when.method(GET).path_includes("usr-1");
            then.status(404).json_body(json!({"message": "User not found"}));
        })
        .await;
    let p = app_provider(&server);
    // Found, kept; then both list paths answer 404: the user is gone, nothing is connected.
    assert!(p.list_connections(&ConnectionQuery::user(ADA)).await.unwrap().is_empty());
    gone.assert_calls_async(2).await;
    assert_eq!(p.kept_users(), 0);
    // The next call looks the user up again.
    assert!(p.list_connections(&ConnectionQuery::user(ADA)).await.unwrap().is_empty());
    find.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_relink_refused_or_abandoned_never_completes_with_the_old_credential() {
    let server = MockServer::start_async().await;
    mock_find_user(&server, AUTH, ADA, true).await;
    mock_link(&server).await;
    let clock = ManualClock::starting_now();
    let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
    let ctx = LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()));
    let p = provider_with(app_config(&server).with_check_metadata(false), ctx);
    // Slack was connected a moment ago, at the same instant (to the millisecond) as the
    // re-link is issued: well within any clock skew.
    let now = clock.now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let list = mock_list(
        &server,
        json!({"data": [{"credentialId": "old", "type": "slack", "createdAt": now, "updatedAt": now}]}),
    )
    .await;
    for refused in [true, false] {
        let link = p.generate_link(&LinkRequest::new(ADA, "slack")).await.unwrap();
        let callback = match refused {
            true => Callback::from_query(KIND, "error=access_denied").unwrap().with_state(link.state),
            false => Callback::from_state(link.state),
        };
        match p.complete_callback(&callback).await {
            Err(Error::Denied { .. }) if refused => {}
            Err(Error::Pending { .. }) if !refused => {}
            other => panic!("refused={refused}: {other:?}"),
        }
    }
    assert!(list.calls_async().await >= 3);
}

#[tokio::test]
async fn targets_come_from_the_credential_metadata_catalogue() {
    let server = MockServer::start_async().await;
    let catalogue = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/metadata/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"data": [
                {"connector": "shopify", "icon": "https://cdn.example/shopify.png", "isOauth": true,
                 "properties": [{"name": "shopSubdomain", "displayName": "Shop subdomain", "description": "x"}]},
                {"connector": "googleSheets", "name": "Google Sheets", "isOauth": true, "properties": []},
                {"connector": "netsuite", "icon": "/relative.png", "isOauth": false, "properties": [{"name": "realm"}]},
                {"connector": "..", "isOauth": true}]}));
        })
        .await;
    // No user is needed (GET /integrations would need one).
    let targets = app_provider(&server).list_targets().await.unwrap();
    catalogue.assert_calls_async(1).await;
    insta::assert_json_snapshot!("targets", targets);
}
