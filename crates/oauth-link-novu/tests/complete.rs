//! complete_callback: confirmation by listing (both link kinds), pagination, polling, denial.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use httpmock::prelude::*;
use oauth_link_core::clock::Clock;
use oauth_link_core::{Callback, Error, Link, LinkProvider, LinkRequest};
use oauth_link_novu::{NovuProvider, KIND};
use serde_json::json;
use support::*;

const ENDPOINTS: &str = "/v1/channel-endpoints";
const CONNECTIONS: &str = "/v1/channel-connections";

/// Generates `request`'s link against mocks pinned to its exact requests: the subscriber
/// upsert, the OAuth-URL POST (`connectionIdentifier` aside: a workspace link names its own)
/// and the watermark listing, which answers `before` (the records in scope at issue time).
/// Returns the link and the connection identifier it sent, if any.
async fn link_with(
    server: &MockServer,
    provider: &NovuProvider,
    request: &LinkRequest,
    path: &str,
    before: Vec<serde_json::Value>,
) -> (Link, Option<String>) {
    let upsert = subscriber_upsert(server, &request.user).await;
    let expected = json!({"subscriberId": request.user, "integrationIdentifier": request.target});
    let (ids, recorder) = body_recorder("connectionIdentifier");
    let post = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(path)
                .is_true(no_query())
                .header("authorization", AUTH)
                .header_exists("idempotency-key")
                .is_true(recorder)
                .is_true(move |req: &HttpMockRequest| {
                    let mut body: serde_json::Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                    body.as_object_mut().map(|o| o.remove("connectionIdentifier"));
                    body == expected
                });
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let (list_path, user) = (if path.contains("endpoints") { ENDPOINTS } else { CONNECTIONS }, request.user.clone());
    let watermark = server
        .mock_async(|when, then| {
            when.method(GET).path(list_path).header("authorization", AUTH).is_true(exact_query(&[
                ("subscriberId", user.as_str()),
                ("integrationIdentifier", INTEGRATION),
                ("limit", "100"),
            ]));
            then.status(200).json_body(page(before, None));
        })
        .await;
    let link = provider.generate_link(request).await.unwrap();
    for mock in [&upsert, &post, &watermark] {
        mock.assert_calls_async(1).await;
    }
    for mock in [upsert, post, watermark] {
        mock.delete_async().await;
    }
    let id = ids.lock().unwrap().first().cloned();
    (link, id)
}

async fn link(server: &MockServer, provider: &NovuProvider, request: &LinkRequest, path: &str) -> Link {
    link_with(server, provider, request, path, Vec::new()).await.0
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
    let old = endpoint("ep-old", "user-7", INTEGRATION, ts("2026-03-01T11:00:00Z"));
    let request = LinkRequest::new("user-7", INTEGRATION);
    let (link, _) =
        link_with(&server, &provider, &request, "/v1/integrations/channel-endpoints/oauth", vec![old.clone()]).await;

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
            // Newer than the watermark (ep-old): counts as new, but page 3 has a newer one.
            then.status(200).json_body(page(
                vec![endpoint("ep-mid", "user-7", INTEGRATION, ts("2026-03-01T12:00:10Z"))],
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
    let old = endpoint("ep-old", "user-8", INTEGRATION, ts("2026-02-01T00:00:00Z"));
    let request = LinkRequest::new("user-8", INTEGRATION);
    let (link, _) =
        link_with(&server, &provider, &request, "/v1/integrations/channel-endpoints/oauth", vec![old]).await;
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
async fn a_relink_never_completes_with_the_endpoint_that_existed_before_it() {
    // Issue 16 item 4: connect, link the same integration again at the same instant, abandon.
    // The old rule (created within 60 s before the issue time) took the first endpoint.
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let first = endpoint("ep-first", "user-9", INTEGRATION, clock.now());
    let request = LinkRequest::new("user-9", INTEGRATION);
    let (link, _) =
        link_with(&server, &provider, &request, "/v1/integrations/channel-endpoints/oauth", vec![first.clone()]).await;
    let listed = first.clone();
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(ENDPOINTS)
                .header("authorization", AUTH)
                .is_true(exact_query(&confirm_query("user-9", None)));
            then.status(200).json_body(page(vec![listed], None));
        })
        .await;
    let callback = Callback::from_state(link.state);
    let err = provider.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(err, Error::Pending { .. }), "{err:?}");
    assert!(list.calls_async().await >= 1);
    list.delete_async().await;

    // One millisecond newer on Novu's clock is this link's endpoint.
    let newer = endpoint("ep-second", "user-9", INTEGRATION, clock.now() + chrono::Duration::milliseconds(1));
    server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS).is_true(exact_query(&confirm_query("user-9", None)));
            then.status(200).json_body(page(vec![first, newer], None));
        })
        .await;
    assert_eq!(provider.complete_callback(&callback).await.unwrap().id, "ep-second");
}

#[tokio::test]
async fn a_state_without_a_watermark_keeps_the_configurable_skew_rule() {
    // States issued before watermarks (an upgrade mid-flight) still complete by `clock_skew_ms`.
    let server = MockServer::start_async().await;
    let clock = clock();
    let ctx = context(&clock);
    let provider = NovuProvider::new(config(&server).with_clock_skew(Duration::ZERO), ctx.clone()).unwrap();
    let mut claims = ctx.claims(KIND, "user-9", INTEGRATION);
    claims.extra.insert("integration".into(), INTEGRATION.into());
    claims.extra.insert("kind".into(), "user".into());
    let callback = Callback::from_state(ctx.sign(&claims));
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
    let err = provider.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(err, Error::Pending { .. }), "{err:?}");
    assert!(list.calls_async().await >= 1);
    let tolerant = NovuProvider::new(config(&server), ctx.clone()).unwrap();
    let claims = ctx.claims(KIND, "user-9", INTEGRATION);
    let connection = tolerant.complete_callback(&Callback::from_state(ctx.sign(&claims))).await.unwrap();
    assert_eq!(connection.id, "ep-early", "within the default 60 s");
}

#[tokio::test]
async fn the_state_outlives_novus_five_minute_url() {
    // Novu's URL works 5 minutes; its callback may run at 4:59 and the app complete later.
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let link =
        link(&server, &provider, &LinkRequest::new("user-12", INTEGRATION), "/v1/integrations/channel-endpoints/oauth")
            .await;
    assert_eq!(link.expires_at, ts("2026-03-01T12:05:00Z"), "Link::expires_at is the URL's end");
    server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS).is_true(exact_query(&confirm_query("user-12", None)));
            then.status(200)
                .json_body(page(vec![endpoint("ep-12", "user-12", INTEGRATION, ts("2026-03-01T12:04:59Z"))], None));
        })
        .await;
    clock.advance(Duration::from_secs(7 * 60));
    assert_eq!(provider.complete_callback(&Callback::from_state(link.state)).await.unwrap().id, "ep-12");
}

#[tokio::test]
async fn workspace_link_is_confirmed_with_channel_connections() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let request = LinkRequest::new("admin-1", INTEGRATION).with_param("link_kind", "workspace");
    let old = channel_connection("conn-old", "admin-1", INTEGRATION, ts("2026-01-01T00:00:00Z"));
    let (link, _) =
        link_with(&server, &provider, &request, "/v1/integrations/channel-connections/oauth", vec![old]).await;
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

/// A shared (context-owned) channel connection, as Novu stores one: no subscriber.
fn shared_connection(
    id: &str,
    created: chrono::DateTime<chrono::Utc>,
    updated: chrono::DateTime<chrono::Utc>,
) -> serde_json::Value {
    let mut c = channel_connection(id, "nobody", INTEGRATION, created);
    c["subscriberId"] = serde_json::Value::Null;
    c["contextKeys"] = json!(["tenant:acme"]);
    c["updatedAt"] = json!(iso(updated));
    c
}

fn shared_query() -> Vec<(&'static str, &'static str)> {
    vec![
        ("integrationIdentifier", INTEGRATION),
        ("contextKeys", "tenant:acme"),
        ("connectionMode", "shared"),
        ("limit", "100"),
    ]
}

/// Generates a shared workspace link for `user` (context `tenant=acme`); `before` is what the
/// watermark listing sees. Returns the link and the connection identifier it sent.
async fn shared_link(
    server: &MockServer,
    provider: &NovuProvider,
    user: &str,
    before: Vec<serde_json::Value>,
) -> (Link, String) {
    any_subscriber_upsert(server).await;
    let (ids, recorder) = body_recorder("connectionIdentifier");
    let post = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v1/integrations/channel-connections/oauth")
                .header("authorization", AUTH)
                .is_true(recorder)
                .is_true(|req: &HttpMockRequest| {
                    let body: serde_json::Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                    body["connectionMode"] == "shared" && body["context"] == json!({"tenant": "acme"})
                });
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let watermark = server
        .mock_async(|when, then| {
            when.method(GET).path(CONNECTIONS).header("authorization", AUTH).is_true(exact_query(&shared_query()));
            then.status(200).json_body(page(before, None));
        })
        .await;
    let request = LinkRequest::new(user, INTEGRATION)
        .with_param("link_kind", "workspace")
        .with_param("connectionMode", "shared")
        .with_param("context.tenant", "acme");
    let link = provider.generate_link(&request).await.unwrap();
    post.assert_calls_async(1).await;
    watermark.assert_calls_async(1).await;
    post.delete_async().await;
    watermark.delete_async().await;
    let id = ids.lock().unwrap()[0].clone();
    (link, id)
}

#[tokio::test]
async fn a_shared_link_completes_with_the_connection_it_named() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let older = shared_connection("conn-other-tenant-admin", ts("2026-02-01T00:00:00Z"), ts("2026-02-01T00:00:00Z"));
    let (link, id) = shared_link(&server, &provider, "admin-1", vec![]).await;
    // The connection this link created carries its identifier and no subscriber; the listing
    // is by context, not by subscriber.
    let mine = shared_connection(&id, clock.now(), clock.now());
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path(CONNECTIONS).header("authorization", AUTH).is_true(exact_query(&shared_query()));
            then.status(200).json_body(page(vec![older, mine], None));
        })
        .await;
    let connection = provider.complete_callback(&Callback::from_state(link.state)).await.unwrap();
    list.assert_calls_async(1).await;
    assert_eq!(connection.id, id);
    assert_eq!(connection.user, "admin-1", "the linking app user");
    assert!(!format!("{connection:?}").contains("secret-token"));
}

#[tokio::test]
async fn a_shared_reinstall_updated_in_place_completes_and_an_abandoned_one_does_not() {
    // Novu updates the context's existing connection in place (keeping its identifier).
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let t0 = ts("2026-02-01T00:00:00Z");
    let existing = shared_connection("conn-acme", t0, t0);
    let (abandoned, _) = shared_link(&server, &provider, "admin-1", vec![existing.clone()]).await;
    let (approved, _) = shared_link(&server, &provider, "admin-1", vec![existing.clone()]).await;
    let unchanged = server
        .mock_async(|when, then| {
            when.method(GET).path(CONNECTIONS).is_true(exact_query(&shared_query()));
            then.status(200).json_body(page(vec![existing], None));
        })
        .await;
    let err = provider.complete_callback(&Callback::from_state(abandoned.state)).await.unwrap_err();
    assert!(matches!(err, Error::Pending { .. }), "{err:?}");
    insta::assert_snapshot!("pending_shared", err.to_string());
    unchanged.delete_async().await;
    let reinstalled = shared_connection("conn-acme", t0, clock.now() + chrono::Duration::seconds(20));
    server
        .mock_async(|when, then| {
            when.method(GET).path(CONNECTIONS).is_true(exact_query(&shared_query()));
            then.status(200).json_body(page(vec![reinstalled], None));
        })
        .await;
    assert_eq!(provider.complete_callback(&Callback::from_state(approved.state)).await.unwrap().id, "conn-acme");
}

#[tokio::test]
async fn a_workspace_link_completes_with_its_own_connection_identifier() {
    let server = MockServer::start_async().await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let request = LinkRequest::new("admin-3", INTEGRATION).with_param("link_kind", "workspace");
    let (link, id) =
        link_with(&server, &provider, &request, "/v1/integrations/channel-connections/oauth", vec![]).await;
    let id = id.expect("a workspace link sends a connectionIdentifier");
    assert!(id.starts_with("olk-"), "{id}");
    // Another connection appeared too (a concurrent install); the link's own one is chosen.
    let other = channel_connection("conn-concurrent", "admin-3", INTEGRATION, ts("2026-03-01T12:00:09Z"));
    let mine = channel_connection(&id, "admin-3", INTEGRATION, ts("2026-03-01T12:00:05Z"));
    server
        .mock_async(|when, then| {
            when.method(GET).path(CONNECTIONS).is_true(exact_query(&confirm_query("admin-3", None)));
            then.status(200).json_body(page(vec![other, mine], None));
        })
        .await;
    assert_eq!(provider.complete_callback(&Callback::from_state(link.state)).await.unwrap().id, id);
}
