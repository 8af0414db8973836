//! Health and reconnect against httpmock. Alloy's connector credentials carry no status
//! (listed means connected); the unconfirmed exchange answer's `status` is mapped. A
//! reconnect links the credential's connector again: Alloy makes a new credential beside the
//! old one. Every request pinned.

mod support;

use std::sync::{Arc, Mutex};

use chrono::{Duration as ChronoDuration, SecondsFormat, Utc};
use httpmock::prelude::*;
use oauth_link_alloy_connectors::{CallbackMode, KIND};
use oauth_link_core::{
    Callback, ConnectionQuery, ConnectionStatus, Error, LinkContext, LinkProvider, LinkRequest, StateToken, Url,
};
use serde_json::{json, Value};
use support::*;

fn iso(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn redirect_with(state: &StateToken) -> String {
    let mut url = Url::parse(REDIRECT).unwrap();
    url.query_pairs_mut().append_pair("oauth_link_state", state.expose());
    url.to_string()
}

#[tokio::test]
async fn listed_credentials_are_connected_and_exchange_statuses_are_mapped() {
    let server = MockServer::start_async().await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/connectors/slack/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("x-alloy-userid", "u-1")
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"credentials": [
                {"credentialId": "c-1", "type": "slack-oauth2", "createdAt": "2026-01-01T00:00:00Z"}
            ]}));
        })
        .await;
    let p = provider(&server);
    let listed = p.list_connections(&ConnectionQuery::user("u-1").with_target("slack")).await.unwrap();
    assert_eq!(listed[0].status, ConnectionStatus::Connected);
    list.assert_calls_async(1).await;

    // The exchange answer ([S2], unconfirmed) carries a `status`.
    for (answer, expected) in [
        ("connected", ConnectionStatus::Connected),
        ("active", ConnectionStatus::Connected),
        ("pending", ConnectionStatus::Pending),
        ("revoked", ConnectionStatus::failed("Alloy reported status `revoked`")),
    ] {
        let p = provider_with(config(&server).with_callback_mode(CallbackMode::Exchange), LinkContext::ephemeral());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let create = server
            .mock_async(|when, then| {
                when.method(POST)
                    .path("/connectors/notion/credentials")
                    .header("authorization", AUTH)
                    .header("x-api-version", VERSION)
                    .header("content-type", "application/json")
                    .query_param_count(".*", ".*", 0);
                then.respond_with(recording(
                    bodies.clone(),
                    json_response(200, json!({"oauthUrl": "https://a.example/x"})),
                ));
            })
            .await;
        let watermark = server
            .mock_async(|when, then| {
                when.method(GET).path("/connectors/notion/credentials").header("x-alloy-userid", "u-2");
                then.status(200).json_body(json!({"credentials": []}));
            })
            .await;
        let link = p.generate_link(&LinkRequest::new("u-2", "notion")).await.unwrap();
        let exchange = server
            .mock_async(|when, then| {
                when.method(POST)
                    .path("/connectors/notion/credentials/callback")
                    .header("authorization", AUTH)
                    .header("x-api-version", VERSION)
                    .json_body(json!({"code": "code-1"}));
                then.status(200).json_body(json!({"credentialId": "cred-x", "status": answer}));
            })
            .await;
        let url = format!("{}&code=code-1", redirect_with(&link.state));
        let connection = p.complete_callback(&Callback::from_url(KIND, &url).unwrap()).await.unwrap();
        assert_eq!(connection.status, expected, "{answer}");
        for mock in [create, watermark, exchange] {
            mock.assert_calls_async(1).await;
            mock.delete_async().await;
        }
    }
}

#[tokio::test]
async fn a_reconnect_links_the_credentials_connector_and_completes_with_the_new_credential() {
    let server = MockServer::start_async().await;
    let now = Utc::now();
    let old = json!({"credentialId": "cred-old", "type": "slack-oauth2",
        "createdAt": iso(now - ChronoDuration::hours(3)), "updatedAt": iso(now - ChronoDuration::hours(3))});
    let new = json!({"credentialId": "cred-new", "type": "slack-oauth2", "createdAt": iso(now), "updatedAt": iso(now)});
    let other = json!({"credentialId": "cred-n", "type": "notion-oauth2", "createdAt": iso(now)});
    // The configured connectors are searched when the request names none.
    let p = provider_with(config(&server).with_connectors(["notion", "slack"]), LinkContext::ephemeral());
    let notion = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/connectors/notion/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("x-alloy-userid", "u-5")
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"credentials": [other]}));
        })
        .await;
    // Read by the reconnect and for the watermark, then until the new credential shows.
    let slack = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/connectors/slack/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("x-alloy-userid", "u-5")
                .query_param_count(".*", ".*", 0);
            then.respond_with(sequence(
                2,
                json_response(200, json!({"credentials": [old.clone()]})),
                json_response(200, json!({"credentials": [old.clone(), new.clone()]})),
            ));
        })
        .await;
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/connectors/slack/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("content-type", "application/json")
                .header_missing("x-alloy-userid")
                .query_param_count(".*", ".*", 0);
            then.respond_with(recording(
                bodies.clone(),
                json_response(200, json!({"oauthUrl": "https://a.example/s"})),
            ));
        })
        .await;
    let request = LinkRequest::reconnect("u-5", "cred-old").with_tag("org", "o1");
    let link = p.generate_link(&request).await.unwrap();
    let body: Value = bodies.lock().unwrap()[0].clone();
    assert_eq!(
        body,
        json!({"userId": "u-5", "authenticationType": "oauth2", "redirectUri": redirect_with(&link.state)})
    );
    let connection =
        p.complete_callback(&Callback::from_url(KIND, &redirect_with(&link.state)).unwrap()).await.unwrap();
    assert_eq!((connection.id.as_str(), connection.target.as_str()), ("cred-new", "slack"));
    assert_eq!(connection.tags, request.tags);
    notion.assert_calls_async(1).await;
    create.assert_calls_async(1).await;
    assert_eq!(slack.calls_async().await, 3);
}

#[tokio::test]
async fn a_reconnect_needs_a_connector_and_a_known_credential() {
    let server = MockServer::start_async().await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(500);
        })
        .await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/slack/credentials").header("x-alloy-userid", "u-5");
            then.status(200).json_body(json!({"credentials": []}));
        })
        .await;
    let p = provider(&server);
    let err = p.generate_link(&LinkRequest::reconnect("u-5", "cred-1")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "target"), "{err:?}");
    let err = p.generate_link(&LinkRequest::new("u-5", "slack").with_reconnect("cred-1")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    list.assert_calls_async(1).await;
    create.assert_calls_async(0).await;
}
