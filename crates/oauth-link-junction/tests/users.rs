//! The app's user id to Junction's `user_id` through core's `UserMap`: single flight,
//! bounded by `user_cache_capacity`, and the number of requests each `generate_link` costs.

mod support;

use std::sync::Arc;
use std::time::Duration;

use httpmock::prelude::*;
use oauth_link_core::{ConnectionQuery, LinkContext, LinkProvider, LinkRequest};
use oauth_link_junction::{JunctionProvider, ANY_PROVIDER};
use serde_json::json;
use support::*;

const WEB_URL: &str = "https://link.tryvital.io/?token=t&env=sandbox&region=us";
const OURA_OAUTH: &str = "https://cloud.ouraring.com/oauth/authorize?client_id=vital";

async fn mock_unknown<'a>(server: &'a MockServer, client_user_id: &str, delay: Duration) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/resolve/{client_user_id}")).header("x-vital-api-key", API_KEY);
            then.status(404).delay(delay).json_body(json!({"detail": "User not found"}));
        })
        .await
}

async fn mock_known<'a>(server: &'a MockServer, client_user_id: &str) -> httpmock::Mock<'a> {
    let body = user_json(UID, client_user_id);
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/resolve/{client_user_id}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(body);
        })
        .await
}

async fn mock_create<'a>(server: &'a MockServer, client_user_id: &str) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/user")
                .header("x-vital-api-key", API_KEY)
                .header("content-type", "application/json")
                .json_body(json!({ "client_user_id": client_user_id }));
            then.status(200).json_body(user_json(UID, client_user_id));
        })
        .await
}

async fn mock_oauth(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v2/link/provider/oauth/oura")
                .header("x-vital-link-token", LINK_TOKEN)
                .header_missing("x-vital-api-key");
            then.status(200).json_body(json!({
                "name": "Oura", "slug": "oura", "description": "Smart ring", "logo": "https://logo", "id": 7,
                "oauth_url": OURA_OAUTH, "auth_type": "oauth"
            }));
        })
        .await
}

async fn mock_listed(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/providers/{UID}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(json!({"providers": [connected("oura", "2026-01-01T00:00:00+00:00")]}));
        })
        .await
}

#[tokio::test]
async fn concurrent_first_links_for_one_user_create_the_junction_user_once() {
    let server = MockServer::start_async().await;
    // The lookup is slow, so every link arrives while the first is still resolving.
    let resolve = mock_unknown(&server, "ada@example.com", Duration::from_millis(80)).await;
    let create = mock_create(&server, "ada@example.com").await;
    let (token, _) = mock_link_token(&server, UID, Some("whoop"), WEB_URL).await;
    let provider = Arc::new(provider(&server));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let provider = provider.clone();
        tasks.spawn(async move { provider.generate_link(&LinkRequest::new("ada@example.com", "whoop")).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap().unwrap();
    }
    resolve.assert_calls_async(1).await;
    create.assert_calls_async(1).await;
    token.assert_calls_async(8).await;
    assert_eq!(provider.cached_user_mappings(), 1);
}

#[tokio::test]
async fn user_cache_capacity_bounds_the_user_map() {
    let server = MockServer::start_async().await;
    let first = mock_known(&server, "first").await;
    let second = mock_known(&server, "second").await;
    mock_link_token(&server, UID, Some("whoop"), WEB_URL).await;
    let provider =
        JunctionProvider::new(config(&server).with_user_cache_capacity(1), LinkContext::ephemeral()).unwrap();
    for user in ["first", "first", "second", "first"] {
        provider.generate_link(&LinkRequest::new(user, "whoop")).await.unwrap();
        assert_eq!(provider.cached_user_mappings(), 1);
    }
    // `first` was kept, then pushed out by `second`, then looked up again.
    first.assert_calls_async(2).await;
    second.assert_calls_async(1).await;

    let none = JunctionProvider::new(config(&server).with_user_cache_capacity(0), LinkContext::ephemeral()).unwrap();
    none.generate_link(&LinkRequest::new("second", "whoop")).await.unwrap();
    none.generate_link(&LinkRequest::new("second", "whoop")).await.unwrap();
    assert_eq!(none.cached_user_mappings(), 0);
    second.assert_calls_async(3).await;
}

#[tokio::test]
async fn listing_for_an_unknown_user_creates_nothing_and_keeps_nothing() {
    let server = MockServer::start_async().await;
    let resolve = mock_unknown(&server, "never-seen", Duration::ZERO).await;
    let create = mock_create(&server, "never-seen").await;
    let provider = provider(&server);
    assert!(provider.list_connections(&ConnectionQuery::user("never-seen")).await.unwrap().is_empty());
    assert!(provider.list_connections(&ConnectionQuery::user("never-seen")).await.unwrap().is_empty());
    resolve.assert_calls_async(2).await;
    create.assert_calls_async(0).await;
    assert_eq!(provider.cached_user_mappings(), 0);
}

/// Requests per `generate_link`, as the docs and the report state them.
#[tokio::test]
async fn requests_per_generate_link() {
    let server = MockServer::start_async().await;
    let resolve_new = mock_unknown(&server, "new-oauth", Duration::ZERO).await;
    let create_new = mock_create(&server, "new-oauth").await;
    let resolve_widget = mock_unknown(&server, "new-widget", Duration::ZERO).await;
    let create_widget = mock_create(&server, "new-widget").await;
    let resolve_existing = mock_known(&server, "had-junction").await;
    let (oauth_token, _) = mock_link_token(&server, UID, Some("oura"), WEB_URL).await;
    let (widget_token, _) = mock_link_token(&server, UID, None, WEB_URL).await;
    let oauth = mock_oauth(&server).await;
    let listed = mock_listed(&server).await;
    let provider = provider(&server);
    let calls = |mocks: &[&httpmock::Mock<'_>]| mocks.iter().map(|m| m.calls()).sum::<usize>();
    let all = [
        &resolve_new,
        &create_new,
        &resolve_widget,
        &create_widget,
        &resolve_existing,
        &oauth_token,
        &widget_token,
        &oauth,
        &listed,
    ];
    let mut counts = Vec::new();
    for (user, target) in [
        ("new-oauth", "oura"),          // first time: resolve 404, create, token, OAuth URL
        ("new-oauth", "oura"),          // known: token, OAuth URL
        ("new-widget", ANY_PROVIDER),   // first time (created): resolve 404, create, token
        ("new-widget", ANY_PROVIDER),   // known: providers (watermark), token
        ("had-junction", ANY_PROVIDER), // new to the adapter, known to Junction: resolve, providers, token
    ] {
        let before = calls(&all);
        provider.generate_link(&LinkRequest::new(user, target)).await.unwrap();
        counts.push(calls(&all) - before);
    }
    assert_eq!(counts, [4, 2, 3, 2, 3]);
    create_new.assert_calls_async(1).await;
    create_widget.assert_calls_async(1).await;
    listed.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_user_id_that_is_no_uuid_is_a_decode_error_and_goes_nowhere() {
    // Found by the hostile corpus: a mutated `user_id` went on into the link-token body.
    let server = MockServer::start_async().await;
    let resolve = server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/user/resolve/ada@example.com");
            then.status(200).json_body(user_json("../v2/user/other", "ada@example.com"));
        })
        .await;
    let provider = provider(&server);
    let err = provider.generate_link(&LinkRequest::new("ada@example.com", "whoop")).await.unwrap_err();
    assert!(matches!(err, oauth_link_core::Error::Decode { .. }), "{err:?}");
    resolve.assert_calls_async(1).await;
    assert_eq!(provider.cached_user_mappings(), 0, "nothing unusable is kept");
}
