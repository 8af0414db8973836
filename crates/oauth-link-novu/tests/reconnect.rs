//! Health and reconnect against httpmock: what Novu's records say about a connection's health,
//! and a reconnect of a subscriber's channel endpoint (a new endpoint replaces the old one),
//! every request pinned.

mod support;

use httpmock::prelude::*;
use oauth_link_core::{Callback, ConnectionQuery, ConnectionStatus, Error, LinkProvider, LinkRequest};
use serde_json::{json, Value};
use support::*;

const ENDPOINTS: &str = "/v1/channel-endpoints";
const CONNECTIONS: &str = "/v1/channel-connections";
const USER_OAUTH: &str = "/v1/integrations/channel-endpoints/oauth";

/// A channel connection whose `auth` is `auth` (tokens included, as Novu sends them).
fn connection_with(id: &str, auth: Value) -> Value {
    let mut c = channel_connection(id, "user-3", INTEGRATION, ts("2026-02-01T08:00:00Z"));
    c["auth"] = auth;
    c
}

#[tokio::test]
async fn records_map_to_health_states_by_their_token_lifetimes() {
    let server = MockServer::start_async().await;
    let t = ts("2026-02-01T08:00:00Z");
    let endpoints = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ENDPOINTS)
                .header("authorization", AUTH)
                .is_true(exact_query(&[("subscriberId", "user-3"), ("limit", "100")]));
            then.status(200).json_body(page(vec![endpoint("ep-3", "user-3", INTEGRATION, t)], None));
        })
        .await;
    // The clock reads 2026-03-01T12:00:00Z.
    let records = vec![
        // A legacy long-lived token: no expiry.
        connection_with("legacy", json!({"accessToken": "xoxb-secret-token-1"})),
        // Rotating, access token past its expiry but renewable: Novu refreshes it before sending.
        connection_with(
            "rotating",
            json!({"accessToken": "xoxe.xoxb-secret-2", "refreshToken": "xoxe-1-secret-3",
                   "expiresAt": "2026-03-01T11:00:00.000Z", "refreshTokenExpiresAt": "2026-04-01T00:00:00.000Z"}),
        ),
        // Rotating, refresh token expired: nothing can renew it.
        connection_with(
            "refresh-expired",
            json!({"accessToken": "xoxe.xoxb-secret-4", "refreshToken": "xoxe-1-secret-5",
                   "expiresAt": "2026-02-28T00:00:00.000Z", "refreshTokenExpiresAt": "2026-03-01T00:00:00.000Z"}),
        ),
        // An access token past its expiry with no refresh token.
        connection_with("expired", json!({"accessToken": "xoxb-secret-6", "expiresAt": "2026-02-01T00:00:00Z"})),
        // Refresh token expiring later: fine.
        connection_with(
            "later",
            json!({"accessToken": "xoxb-secret-7", "refreshToken": "xoxe-secret-8",
                   "refreshTokenExpiresAt": "2026-03-01T12:00:01Z"}),
        ),
    ];
    let connections = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(CONNECTIONS)
                .header("authorization", AUTH)
                .is_true(exact_query(&[("subscriberId", "user-3"), ("limit", "100")]));
            then.status(200).json_body(page(records, None));
        })
        .await;
    let provider = provider(config(&server).with_include_channel_connections(true), &clock());
    let listed = provider.list_connections(&ConnectionQuery::user("user-3")).await.unwrap();
    endpoints.assert_calls_async(1).await;
    connections.assert_calls_async(1).await;
    let statuses: Vec<(&str, &ConnectionStatus)> = listed.iter().map(|c| (c.id.as_str(), &c.status)).collect();
    assert_eq!(
        statuses,
        [
            ("ep-3", &ConnectionStatus::Connected),
            ("legacy", &ConnectionStatus::Connected),
            ("rotating", &ConnectionStatus::Connected),
            (
                "refresh-expired",
                &ConnectionStatus::needs_reauthorization(
                    "refresh_token_expired: the refresh token expired at 2026-03-01T00:00:00Z; Novu can no longer renew the access token"
                )
            ),
            (
                "expired",
                &ConnectionStatus::needs_reauthorization(
                    "access_token_expired: the access token expired at 2026-02-01T00:00:00Z and the connection has no refresh token"
                )
            ),
            ("later", &ConnectionStatus::Connected),
        ]
    );
    let printed = format!("{listed:?} {}", serde_json::to_string(&listed).unwrap());
    assert!(!printed.contains("secret"), "{printed}");
}

#[tokio::test]
async fn a_reconnect_links_the_endpoint_again_and_replaces_it() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    assert!(!provider.capabilities().reconnect_keeps_id, "Novu makes a new endpoint per link");
    let old = endpoint("ep-old", "user-5", INTEGRATION, ts("2026-02-01T08:00:00Z"));
    let new = endpoint("ep-new", "user-5", INTEGRATION, ts("2026-03-01T12:00:05Z"));
    let lookup = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints/ep-old").header("authorization", AUTH).is_true(no_query());
            then.status(200).json_body(json!({ "data": old }));
        })
        .await;
    let upsert = subscriber_upsert(&server, "user-5").await;
    // The same integration, attached to the endpoint's channel connection.
    let expected =
        json!({"subscriberId": "user-5", "integrationIdentifier": INTEGRATION, "connectionIdentifier": "conn-acme"});
    let oauth = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(USER_OAUTH)
                .is_true(no_query())
                .header("authorization", AUTH)
                .header("content-type", "application/json")
                .header_exists("idempotency-key")
                .json_body(expected);
            then.status(201).json_body(json!({"data": {"url": SLACK_URL}}));
        })
        .await;
    let scope = [("subscriberId", "user-5"), ("integrationIdentifier", INTEGRATION), ("limit", "100")];
    let (before, after) = (old.clone(), vec![old.clone(), new.clone()]);
    let watermark = server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS).header("authorization", AUTH).is_true(exact_query(&scope));
            then.status(200).json_body(page(vec![before], None));
        })
        .await;

    let request = LinkRequest::reconnect("user-5", "ep-old").with_tag("from", "settings");
    let link = provider.generate_link(&request).await.unwrap();
    assert_eq!(link.url.as_str(), SLACK_URL);
    for mock in [&lookup, &upsert, &oauth, &watermark] {
        mock.assert_calls_async(1).await;
    }
    watermark.delete_async().await;

    // The user approved: Novu made ep-new beside ep-old; completion deletes ep-old.
    let listed = server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS).header("authorization", AUTH).is_true(exact_query(&scope));
            then.status(200).json_body(page(after, None));
        })
        .await;
    let delete = server
        .mock_async(|when, then| {
            when.method(DELETE).path("/v1/channel-endpoints/ep-old").header("authorization", AUTH).is_true(no_query());
            then.status(204);
        })
        .await;
    let connection = provider.complete_callback(&Callback::from_state(link.state)).await.unwrap();
    assert_eq!((connection.id.as_str(), connection.target.as_str()), ("ep-new", INTEGRATION));
    assert_eq!(connection.status, ConnectionStatus::Connected);
    assert_eq!(connection.tags, request.tags);
    listed.assert_calls_async(1).await;
    delete.assert_calls_async(1).await;
}

#[tokio::test]
async fn what_cannot_be_reconnected_sends_no_link() {
    let server = MockServer::start_async().await;
    let provider = provider(config(&server), &clock());
    let t = ts("2026-02-01T08:00:00Z");
    let missing = |id: &str| format!("Channel endpoint not found: {id}");
    for (id, endpoint_answer, connection_answer) in [
        ("ep-other", Some(json!({"data": endpoint("ep-other", "someone-else", INTEGRATION, t)})), None),
        ("conn-1", None, Some(json!({"data": channel_connection("conn-1", "user-5", INTEGRATION, t)}))),
        ("nothing", None, None),
    ] {
        let ep = server
            .mock_async(|when, then| {
                when.method(GET).path(format!("{ENDPOINTS}/{id}")).header("authorization", AUTH).is_true(no_query());
                match endpoint_answer {
                    Some(body) => then.status(200).json_body(body),
                    None => then.status(404).json_body(json!({"statusCode": 404, "message": missing(id)})),
                };
            })
            .await;
        let conn = server
            .mock_async(|when, then| {
                when.method(GET).path(format!("{CONNECTIONS}/{id}")).header("authorization", AUTH).is_true(no_query());
                match connection_answer {
                    Some(body) => then.status(200).json_body(body),
                    None => then.status(404).json_body(json!({"statusCode": 404, "message": "not found"})),
                };
            })
            .await;
        let err = provider.generate_link(&LinkRequest::reconnect("user-5", id)).await.unwrap_err();
        match id {
            "conn-1" => {
                assert!(matches!(err, Error::Unsupported { .. }), "{id}: {err:?}");
                assert!(err.to_string().contains("connectionIdentifier"), "{err}");
            }
            _ => assert!(matches!(err, Error::NotFound { .. }), "{id}: {err:?}"),
        }
        ep.assert_calls_async(1).await;
        conn.assert_calls_async(if id == "ep-other" { 0 } else { 1 }).await;
    }
    // A target the endpoint is not on, or a workspace link kind, is refused too.
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{ENDPOINTS}/ep-1")).header("authorization", AUTH);
            then.status(200).json_body(json!({"data": endpoint("ep-1", "user-5", INTEGRATION, t)}));
        })
        .await;
    let err = provider.generate_link(&LinkRequest::new("user-5", "teams").with_reconnect("ep-1")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "target"), "{err:?}");
    let workspace = LinkRequest::reconnect("user-5", "ep-1").with_param("link_kind", "workspace");
    let err = provider.generate_link(&workspace).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "params.link_kind"), "{err:?}");
    let posts = server
        .mock_async(|when, then| {
            when.method(POST);
            then.status(500);
        })
        .await;
    posts.assert_calls_async(0).await;
}
