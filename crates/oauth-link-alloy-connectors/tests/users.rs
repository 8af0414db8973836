//! The default `user_id_mode = app` (the app's own user ids, resolved to Alloy users by
//! username), the request count per link, re-links, the target catalogue and deletes.

mod support;

use std::sync::{Arc, Mutex};

use chrono::SecondsFormat;
use httpmock::prelude::*;
use httpmock::Mock;
use oauth_link_alloy_connectors::{AlloyConnectorsProvider, CallbackMode, KIND};
use oauth_link_core::{
    clock::{Clock, ManualClock},
    Callback, ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest, MemoryReplayGuard, StateCodec, StateKeys,
    Url,
};
use oauth_link_testkit::alloy::{mock_create_user, mock_delete, mock_find_user, mock_unversioned};
use serde_json::{json, Value};
use support::*;

const GRACE: &str = "grace@example.com";
const GRACE_PATH: &str = "/users/grace%40example.com";

/// `GET /connectors/slack/credentials` for `usr-1`, pinned, answering `body`.
async fn mock_list(server: &MockServer, body: Value) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/connectors/slack/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("x-alloy-userid", "usr-1")
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(body);
        })
        .await
}

/// `POST /connectors/slack/credentials` for `usr-1` (pinned headers; bodies recorded).
async fn mock_link(server: &MockServer, bodies: Arc<Mutex<Vec<Value>>>) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/connectors/slack/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("content-type", "application/json")
                .header_missing("x-alloy-userid")
                .query_param_count(".*", ".*", 0);
            then.respond_with(recording(
                bodies,
                json_response(
                    200,
                    json!({"oauthUrl": "https://api.runalloy.com/api/strategy/connector/slack/authorize"}),
                ),
            ));
        })
        .await
}

fn app_provider(server: &MockServer) -> AlloyConnectorsProvider {
    provider_with(app_config(server), LinkContext::ephemeral())
}

fn redirect_of(body: &Value) -> String {
    body["redirectUri"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_first_link_creates_the_user_once_and_a_known_user_costs_two_requests() {
    let server = MockServer::start_async().await;
    let unversioned = mock_unversioned(&server).await;
    let find = mock_find_user(&server, AUTH, GRACE, false).await;
    let create = mock_create_user(&server, AUTH, GRACE, 200).await;
    let list = mock_list(&server, json!({"credentials": []})).await;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let link = mock_link(&server, bodies.clone()).await;
    let p = app_provider(&server);

    // First-time user: find (404), create, and the link; nothing to list (just created).
    p.generate_link(&LinkRequest::new(GRACE, "slack")).await.unwrap();
    find.assert_calls_async(1).await;
    create.assert_calls_async(1).await;
    list.assert_calls_async(0).await;
    link.assert_calls_async(1).await;
    let body = bodies.lock().unwrap().pop().unwrap();
    assert_eq!(body, json!({"userId": "usr-1", "authenticationType": "oauth2", "redirectUri": redirect_of(&body)}));
    assert_eq!(p.kept_users(), 1);

    // Known user: the watermark read, then the link.
    p.generate_link(&LinkRequest::new(GRACE, "slack")).await.unwrap();
    find.assert_calls_async(1).await;
    create.assert_calls_async(1).await;
    list.assert_calls_async(1).await;
    link.assert_calls_async(2).await;
    unversioned.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_user_alloy_does_not_know_has_no_connections_and_is_never_created() {
    let server = MockServer::start_async().await;
    let find = mock_find_user(&server, AUTH, GRACE, false).await;
    let create = mock_create_user(&server, AUTH, GRACE, 200).await;
    let p = app_provider(&server);
    assert!(p.list_connections(&ConnectionQuery::user(GRACE).with_target("slack")).await.unwrap().is_empty());
    assert!(matches!(p.disconnect(GRACE, "c1").await, Err(Error::NotFound { .. })));
    assert_eq!(p.alloy_user_id(GRACE).await.unwrap(), None);
    find.assert_calls_async(3).await;
    create.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_user_deleted_at_alloy_is_forgotten_and_an_unknown_connector_still_fails() {
    let server = MockServer::start_async().await;
    let find = server
        .mock_async(|when, then| {
            when.method(GET).path(GRACE_PATH);
            then.respond_with(sequence(
                1,
                json_response(200, json!({"userId": "usr-1", "username": GRACE})),
                json_response(404, json!({"message": "User not found"})),
            ));
        })
        .await;
    let gone = server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/slack/credentials").header("x-alloy-userid", "usr-1");
            then.status(404).json_body(json!({"message": "User not found"}));
        })
        .await;
    let p = app_provider(&server);
    // Found and kept; the list says 404; looked up again: gone, so nothing is connected.
    assert!(p.list_connections(&ConnectionQuery::user(GRACE).with_target("slack")).await.unwrap().is_empty());
    gone.assert_calls_async(1).await;
    find.assert_calls_async(2).await;
    assert_eq!(p.kept_users(), 0);

    // The user exists but the connector does not: the 404 stands.
    let server = MockServer::start_async().await;
    let find = mock_find_user(&server, AUTH, GRACE, true).await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/slackk/credentials");
            then.status(404).json_body(json!({"message": "Connector slackk not found"}));
        })
        .await;
    let p = app_provider(&server);
    let err = p.list_connections(&ConnectionQuery::user(GRACE).with_target("slackk")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    find.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_relink_refused_or_abandoned_never_completes_with_the_old_credential() {
    for mode in [CallbackMode::List, CallbackMode::Exchange] {
        let server = MockServer::start_async().await;
        mock_find_user(&server, AUTH, GRACE, true).await;
        let bodies = Arc::new(Mutex::new(Vec::new()));
        mock_link(&server, bodies.clone()).await;
        let clock = ManualClock::starting_now();
        let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
        let ctx = LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()));
        let p = provider_with(app_config(&server).with_callback_mode(mode), ctx);
        // Slack was connected at the same instant (to the millisecond) as the re-link.
        let now = clock.now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let list = mock_list(
            &server,
            json!({"credentials": [{"credentialId": "old", "type": "slack-oauth2", "createdAt": now, "updatedAt": now}]}),
        )
        .await;
        for refused in [true, false] {
            p.generate_link(&LinkRequest::new(GRACE, "slack")).await.unwrap();
            let mut back = Url::parse(&redirect_of(&bodies.lock().unwrap().pop().unwrap())).unwrap();
            if refused {
                back.query_pairs_mut().append_pair("error", "access_denied");
            }
            match p.complete_callback(&Callback::from_url(KIND, back.as_str()).unwrap()).await {
                Err(Error::Denied { .. }) if refused => {}
                Err(Error::Pending { .. }) if !refused => {}
                other => panic!("{mode:?} refused={refused}: {other:?}"),
            }
        }
        assert!(list.calls_async().await >= 3);
    }
}

#[tokio::test]
async fn targets_come_from_the_connector_catalogue_with_the_configured_connectors_described() {
    let server = MockServer::start_async().await;
    let catalogue = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/connectors")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header_missing("x-alloy-userid")
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"connectors": [
                {"id": "shopify", "name": "Shopify", "icon": "https://cdn.example/shopify.png"},
                {"id": "slack", "name": "Slack", "icon": "https://cdn.example/slack.png", "authenticationTypes": ["oauth2"]},
                {"id": "klaviyo", "authenticationTypes": ["apiKey"]},
                {"id": "mystery"},
                {"id": " "}]}));
        })
        .await;
    let metadata = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/connectors/shopify/credentials/metadata")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(
                json!({"metadata": [{"authenticationType": "oauth2", "authConfigRequired": false,
                "inputSchema": {"type": "object", "required": ["userId", "authenticationType", "redirectUri", "data"],
                    "properties": {"data": {"type": "object", "required": ["shopSubdomain"],
                        "properties": {"shopSubdomain": {"type": "string", "title": "Shop subdomain"}}}}}}]}),
            );
        })
        .await;
    let p = provider_with(app_config(&server).with_connectors(["shopify"]), LinkContext::ephemeral());
    let targets = p.list_targets().await.unwrap();
    catalogue.assert_calls_async(1).await;
    // Only the configured connectors are described (one request each).
    metadata.assert_calls_async(1).await;
    insta::assert_json_snapshot!("targets", targets);
}

#[tokio::test]
async fn without_a_catalogue_the_configured_connectors_are_the_targets() {
    let server = MockServer::start_async().await;
    let catalogue = server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors");
            then.status(404).json_body(json!({"message": "Not Found"}));
        })
        .await;
    let metadata = server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/hubspot/credentials/metadata").header("x-api-version", VERSION);
            then.status(200).json_body(json!({"metadata": [{"authenticationType": "oauth2"}]}));
        })
        .await;
    let p = provider_with(app_config(&server).with_connectors(["hubspot"]), LinkContext::ephemeral());
    let targets = p.list_targets().await.unwrap();
    catalogue.assert_calls_async(1).await;
    metadata.assert_calls_async(1).await;
    assert_eq!(serde_json::to_value(&targets).unwrap(), json!([{"id": "hubspot", "name": "Hubspot", "auth": "oauth"}]));
    // Nothing configured: the 404 stands.
    let err = app_provider(&server).list_targets().await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn a_delete_answering_success_false_is_an_error() {
    let server = MockServer::start_async().await;
    mock_find_user(&server, AUTH, GRACE, true).await;
    let delete = mock_delete(&server, AUTH, "/users/usr-1/credentials/c1", json!({"success": false})).await;
    let err = app_provider(&server).disconnect(GRACE, "c1").await.unwrap_err();
    assert!(matches!(&err, Error::Provider { code: Some(code), .. } if code == "success_false"), "{err:?}");
    assert!(err.to_string().contains("disconnect again"), "{err}");
    delete.assert_calls_async(1).await;
}
