//! Health and reconnect against httpmock. Alloy's credential records carry no status (every
//! listed credential is connected), and a reconnect links the credential's app again: Alloy
//! makes a new credential beside the old one, which stays. Every request pinned.

mod support;

use chrono::{Duration as ChronoDuration, SecondsFormat, Utc};
use httpmock::prelude::*;
use oauth_link_core::{Callback, ConnectionQuery, ConnectionStatus, Error, LinkProvider, LinkRequest};
use serde_json::json;
use support::*;

fn iso(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[tokio::test]
async fn every_listed_credential_is_connected_alloy_reports_no_health() {
    let server = MockServer::start_async().await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/credentials/users/u-1")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            // Whatever else a record might carry, Alloy documents no status field: not read.
            then.status(200).json_body(json!({"data": [
                {"credentialId": "c-1", "type": "shopify", "createdAt": "2026-01-01T00:00:00Z"},
                {"credentialId": "c-2", "type": "slack", "status": "expired"}
            ]}));
        })
        .await;
    let listed = provider(&server).list_connections(&ConnectionQuery::user("u-1")).await.unwrap();
    assert!(listed.iter().all(|c| c.status == ConnectionStatus::Connected), "{listed:?}");
    assert!(!provider(&server).capabilities().reconnect_keeps_id);
    list.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_reconnect_links_the_credentials_app_and_completes_with_the_new_credential() {
    let server = MockServer::start_async().await;
    let now = Utc::now();
    let old = json!({"credentialId": "cred-old", "type": "shopify", "name": "Old shop",
        "createdAt": iso(now - ChronoDuration::hours(2)), "updatedAt": iso(now - ChronoDuration::hours(2))});
    let new = json!({"credentialId": "cred-new", "type": "shopify", "createdAt": iso(now), "updatedAt": iso(now)});
    let metadata = mock_metadata(&server, "shopify", &["shopSubdomain"]).await;
    let oauth = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/headless/oauthUrl")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param("userId", "u-7")
                .query_param("app", "shopify")
                .query_param("shopSubdomain", "my-shoe-store")
                .query_param_count(".*", ".*", 3);
            then.status(200).json_body(json!({"oauthUrl": "https://api.runalloy.com/api/strategy/shopify/authorize"}));
        })
        .await;
    // Read by the reconnect (to find the credential's app) and for the watermark, then twice
    // before the new credential shows.
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/credentials/users/u-7")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.respond_with(sequence(
                3,
                json_response(200, json!({"data": [old.clone()]})),
                json_response(200, json!({"data": [old.clone(), new.clone()]})),
            ));
        })
        .await;
    let p = provider(&server);
    let request =
        LinkRequest::reconnect("u-7", "cred-old").with_param("shopSubdomain", "my-shoe-store").with_tag("org", "o1");
    let link = p.generate_link(&request).await.unwrap();
    list.assert_calls_async(2).await;
    metadata.assert_calls_async(1).await;
    oauth.assert_calls_async(1).await;
    let connection = p.complete_callback(&Callback::from_state(link.state)).await.unwrap();
    assert_eq!((connection.id.as_str(), connection.target.as_str()), ("cred-new", "shopify"));
    assert_eq!(connection.tags, request.tags);
    list.assert_calls_async(4).await;
}

#[tokio::test]
async fn a_reconnect_of_an_unknown_credential_or_the_wrong_app_sends_no_link() {
    let server = MockServer::start_async().await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/credentials/users/u-7")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"data": [{"credentialId": "cred-1", "type": "slack"}]}));
        })
        .await;
    let oauth = server
        .mock_async(|when, then| {
            when.path("/headless/oauthUrl");
            then.status(500);
        })
        .await;
    let p = provider(&server);
    let err = p.generate_link(&LinkRequest::reconnect("u-7", "cred-404")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = p.generate_link(&LinkRequest::new("u-7", "shopify").with_reconnect("cred-1")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "target"), "{err:?}");
    list.assert_calls_async(2).await;
    oauth.assert_calls_async(0).await;
}
