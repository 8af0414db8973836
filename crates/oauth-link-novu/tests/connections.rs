//! list_connections (pagination, target filter, channel connections) and disconnect.

mod support;

use httpmock::prelude::*;
use oauth_link_core::{ConnectionQuery, Error, LinkProvider};
use serde_json::json;
use support::*;

const ENDPOINTS: &str = "/v1/channel-endpoints";
const CONNECTIONS: &str = "/v1/channel-connections";

fn not_found(path: &str) -> serde_json::Value {
    json!({"statusCode": 404, "timestamp": "2026-03-01T12:00:00.000Z", "path": path, "message": "Not found"})
}

#[tokio::test]
async fn endpoints_are_listed_across_three_pages() {
    let server = MockServer::start_async().await;
    let t = ts("2026-02-01T08:00:00Z");
    let mut mocks = Vec::new();
    for (after, ids, next) in [
        (None, vec!["ep-1", "ep-2"], Some("c-2")),
        (Some("c-2"), vec!["ep-3"], Some("c-3")),
        (Some("c-3"), vec!["ep-4"], None),
    ] {
        let mut query = vec![("subscriberId", "user-1"), ("limit", "100")];
        if let Some(after) = after {
            query.push(("after", after));
        }
        let data = ids.iter().map(|id| endpoint(id, "user-1", INTEGRATION, t)).collect();
        let body = page(data, next);
        mocks.push(
            server
                .mock_async(move |when, then| {
                    when.method(GET).path(ENDPOINTS).header("authorization", AUTH).is_true(exact_query(&query));
                    then.status(200).json_body(body);
                })
                .await,
        );
    }
    let connections = server
        .mock_async(|when, then| {
            when.method(GET).path(CONNECTIONS);
            then.status(200).json_body(page(vec![], None));
        })
        .await;
    let provider = provider(config(&server), &clock());
    let listed = provider.list_connections(&ConnectionQuery::user("user-1")).await.unwrap();
    for mock in &mocks {
        mock.assert_calls_async(1).await;
    }
    connections.assert_calls_async(0).await;
    assert_eq!(listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["ep-1", "ep-2", "ep-3", "ep-4"]);
    insta::assert_json_snapshot!("listed_endpoints", listed, {
        "[].created_at" => "[ts]", "[].updated_at" => "[ts]", "[].raw.createdAt" => "[ts]", "[].raw.updatedAt" => "[ts]"
    });
}

#[tokio::test]
async fn target_filters_by_integration_identifier() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS).header("authorization", AUTH).is_true(exact_query(&[
                ("subscriberId", "user-2"),
                ("integrationIdentifier", "teams-prod"),
                ("limit", "100"),
            ]));
            then.status(200).json_body(page(
                vec![
                    endpoint("ep-teams", "user-2", "teams-prod", ts("2026-02-01T08:00:00Z")),
                    // Defensive filtering: a record for another subscriber never surfaces.
                    endpoint("ep-stranger", "user-x", "teams-prod", ts("2026-02-01T08:00:00Z")),
                ],
                None,
            ));
        })
        .await;
    let provider = provider(config(&server).with_integration_identifier("teams-prod"), &clock());
    let listed = provider.list_connections(&ConnectionQuery::user("user-2").with_target("teams-prod")).await.unwrap();
    let by_default = provider.list_connections(&ConnectionQuery::user("user-2").with_target("default")).await.unwrap();
    mock.assert_calls_async(2).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].target, "teams-prod");
    assert_eq!(listed, by_default);
}

#[tokio::test]
async fn channel_connections_are_listed_when_enabled_without_tokens() {
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
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(CONNECTIONS)
                .header("authorization", AUTH)
                .is_true(exact_query(&[("subscriberId", "user-3"), ("limit", "100")]));
            then.status(200).json_body(page(vec![channel_connection("conn-a", "user-3", INTEGRATION, t)], Some("k2")));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method(GET).path(CONNECTIONS).header("authorization", AUTH).is_true(exact_query(&[
                ("subscriberId", "user-3"),
                ("limit", "100"),
                ("after", "k2"),
            ]));
            then.status(200).json_body(page(vec![channel_connection("conn-b", "user-3", INTEGRATION, t)], None));
        })
        .await;
    let provider = provider(config(&server).with_include_channel_connections(true), &clock());
    let listed = provider.list_connections(&ConnectionQuery::user("user-3")).await.unwrap();
    endpoints.assert_calls_async(1).await;
    first.assert_calls_async(1).await;
    second.assert_calls_async(1).await;
    assert_eq!(listed.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["ep-3", "conn-a", "conn-b"]);
    let printed = format!("{listed:?} {}", serde_json::to_string(&listed).unwrap());
    assert!(!printed.contains("secret-token") && !printed.contains("accessToken"), "{printed}");
    insta::assert_json_snapshot!("listed_with_channel_connections", listed, {
        "[].created_at" => "[ts]", "[].updated_at" => "[ts]", "[].raw.createdAt" => "[ts]", "[].raw.updatedAt" => "[ts]"
    });
}

#[tokio::test]
async fn malformed_connection_pages_never_leak_tokens() {
    // (body, attempts): a body cut short is retried (it may have been cut on the way).
    for (body, attempts) in [
        // Wrong shape: `next` is a number, the token sits in the body excerpt.
        (r#"{"data":[{"identifier":"c","auth":{"accessToken":"xoxb-leak-secret-token"}}],"next":5}"#.to_owned(), 1),
        // Truncated inside the token.
        (r#"{"data":[{"identifier":"c","auth":{"accessToken":"xoxb-leak-secret-tok"#.to_owned(), 3),
        // A record whose identifier is missing.
        (r#"{"data":[{"auth":{"accessToken":"xoxb-leak-secret-token"}}],"next":null}"#.to_owned(), 1),
    ] {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(GET).path(ENDPOINTS);
                then.status(200).json_body(page(vec![], None));
            })
            .await;
        let mock = server
            .mock_async(|when, then| {
                when.method(GET).path(CONNECTIONS).header("authorization", AUTH);
                then.status(200).body(body.clone());
            })
            .await;
        let provider = provider(config(&server).with_include_channel_connections(true), &clock());
        let err = provider.list_connections(&ConnectionQuery::user("user-4")).await.unwrap_err();
        mock.assert_calls_async(attempts).await;
        assert!(matches!(err, Error::Decode { .. }), "{err:?}");
        let printed = format!("{err} {err:?}");
        assert!(!printed.contains("xoxb-leak") && !printed.contains(API_KEY), "{printed}");
    }
}

#[tokio::test]
async fn a_cursor_that_does_not_advance_stops_the_listing() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS).header("authorization", AUTH);
            then.status(200).json_body(page(vec![], Some("same")));
        })
        .await;
    let err = provider(config(&server), &clock()).list_connections(&ConnectionQuery::user("u")).await.unwrap_err();
    mock.assert_calls_async(2).await;
    assert!(err.to_string().contains("cursor did not advance"), "{err}");
}

#[tokio::test]
async fn list_errors_are_typed() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS).header("authorization", AUTH);
            then.status(401).json_body(
                json!({"statusCode": 401, "timestamp": "t", "path": ENDPOINTS, "message": "API Key not found"}),
            );
        })
        .await;
    let err = provider(config(&server), &clock()).list_connections(&ConnectionQuery::user("u")).await.unwrap_err();
    mock.assert_calls_async(1).await;
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err:?}");
}

#[tokio::test]
async fn invalid_queries_and_ids_send_nothing() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(204);
        })
        .await;
    let provider = provider(config(&server), &clock());
    for query in [
        ConnectionQuery::user(""),
        ConnectionQuery::user("u").with_target("a\tb"),
        ConnectionQuery::user("u").with_target("default"),
    ] {
        let err = provider.list_connections(&query).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{query:?}: {err:?}");
    }
    for (user, id) in [("", "ep-1"), ("u", ""), ("u", "ep\n1"), (" ", "ep-1")] {
        let err = provider.disconnect(user, id).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{user:?}/{id:?}: {err:?}");
    }
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn disconnect_deletes_an_owned_endpoint() {
    let server = MockServer::start_async().await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints/ep-1").header("authorization", AUTH).is_true(no_query());
            // The real wire shape: Novu wraps single records as {data: ...}.
            then.status(200)
                .json_body(json!({"data": endpoint("ep-1", "user-5", INTEGRATION, ts("2026-02-01T08:00:00Z"))}));
        })
        .await;
    let delete = server
        .mock_async(|when, then| {
            when.method(DELETE).path("/v1/channel-endpoints/ep-1").header("authorization", AUTH).is_true(no_query());
            then.status(204);
        })
        .await;
    let connections = server
        .mock_async(|when, then| {
            when.path_prefix(CONNECTIONS);
            then.status(500);
        })
        .await;
    provider(config(&server), &clock()).disconnect("user-5", "ep-1").await.unwrap();
    get.assert_calls_async(1).await;
    delete.assert_calls_async(1).await;
    connections.assert_calls_async(0).await;
}

#[tokio::test]
async fn disconnect_falls_back_to_channel_connections() {
    let server = MockServer::start_async().await;
    let get_endpoint = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints/conn-1").header("authorization", AUTH);
            then.status(404).json_body(not_found("/v1/channel-endpoints/conn-1"));
        })
        .await;
    let get_connection = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-connections/conn-1").header("authorization", AUTH).is_true(no_query());
            then.status(200).json_body(channel_connection("conn-1", "user-6", INTEGRATION, ts("2026-02-01T08:00:00Z")));
        })
        .await;
    let delete_connection = server
        .mock_async(|when, then| {
            when.method(DELETE)
                .path("/v1/channel-connections/conn-1")
                .header("authorization", AUTH)
                .is_true(no_query());
            then.status(204);
        })
        .await;
    let delete_endpoint = server
        .mock_async(|when, then| {
            when.method(DELETE).path_prefix(ENDPOINTS);
            then.status(500);
        })
        .await;
    provider(config(&server), &clock()).disconnect("user-6", "conn-1").await.unwrap();
    get_endpoint.assert_calls_async(1).await;
    get_connection.assert_calls_async(1).await;
    delete_connection.assert_calls_async(1).await;
    delete_endpoint.assert_calls_async(0).await;
}

#[tokio::test]
async fn disconnect_refuses_another_subscribers_record_and_unknown_ids() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints/ep-other").header("authorization", AUTH);
            then.status(200).json_body(endpoint("ep-other", "someone-else", INTEGRATION, ts("2026-02-01T08:00:00Z")));
        })
        .await;
    for path in ["/v1/channel-endpoints/ep-gone", "/v1/channel-connections/ep-gone"] {
        server
            .mock_async(|when, then| {
                when.method(GET).path(path).header("authorization", AUTH);
                then.status(404).json_body(not_found(path));
            })
            .await;
    }
    let deletes = server
        .mock_async(|when, then| {
            when.method(DELETE);
            then.status(204);
        })
        .await;
    let provider = provider(config(&server), &clock());
    let err = provider.disconnect("user-7", "ep-other").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let gone = provider.disconnect("user-7", "ep-gone").await.unwrap_err();
    assert!(matches!(gone, Error::NotFound { .. }), "{gone:?}");
    deletes.assert_calls_async(0).await;
    insta::assert_snapshot!("disconnect_errors", format!("{err}\n{gone}"));
}

#[tokio::test]
async fn disconnect_removes_a_shared_connection_by_its_identifier() {
    // A shared connection belongs to a context, not a subscriber: the identifier names it.
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints/conn-shared").header("authorization", AUTH);
            then.status(404).json_body(not_found("/v1/channel-endpoints/conn-shared"));
        })
        .await;
    let mut shared = channel_connection("conn-shared", "x", INTEGRATION, ts("2026-02-01T08:00:00Z"));
    shared["subscriberId"] = serde_json::Value::Null;
    shared["contextKeys"] = json!(["tenant:acme"]);
    let get = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/channel-connections/conn-shared")
                .header("authorization", AUTH)
                .is_true(no_query());
            then.status(200).json_body(json!({"data": shared}));
        })
        .await;
    let delete = server
        .mock_async(|when, then| {
            when.method(DELETE)
                .path("/v1/channel-connections/conn-shared")
                .header("authorization", AUTH)
                .is_true(no_query());
            then.status(204);
        })
        .await;
    provider(config(&server), &clock()).disconnect("admin-1", "conn-shared").await.unwrap();
    get.assert_calls_async(1).await;
    delete.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_delete_that_finds_the_record_gone_is_done() {
    // The first DELETE's 204 was lost and the retry (or someone else) finds nothing: the
    // record the adapter has just looked up is gone, which is what disconnect asked for.
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints/ep-9");
            then.status(200).json_body(endpoint("ep-9", "user-9", INTEGRATION, ts("2026-02-01T08:00:00Z")));
        })
        .await;
    let delete = server
        .mock_async(|when, then| {
            when.method(DELETE).path("/v1/channel-endpoints/ep-9").header("authorization", AUTH);
            then.status(404).json_body(not_found("/v1/channel-endpoints/ep-9"));
        })
        .await;
    provider(config(&server), &clock()).disconnect("user-9", "ep-9").await.unwrap();
    delete.assert_calls_async(1).await;
}
