//! Completion without polling: a verified `provider.connection.created` (fed to the
//! context's notifier by `webhook_event`) makes `complete_callback` look again at once,
//! instead of after the poll interval; polling stays the fallback. Every request pinned.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use httpmock::prelude::*;
use oauth_link_core::adapter::PollPolicy;
use oauth_link_core::config::AdapterConfig;
use oauth_link_core::webhook::WebhookSigner;
use oauth_link_core::{Callback, Error, LinkContext, LinkProvider, LinkRequest};
use oauth_link_junction::{JunctionProvider, KIND};
use serde_json::json;
use support::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const WEB_URL: &str = "https://link.tryvital.io/?token=lt_SECRET_link_token_0002&env=sandbox&region=us";
/// Far longer than any test waits: only an event can end a pause early.
const INTERVAL: Duration = Duration::from_secs(5);

fn slow_polling_provider(server: &MockServer, timeout: Duration) -> Arc<JunctionProvider> {
    let mut common = fast_common(server);
    common.poll = PollPolicy { timeout, interval: INTERVAL, max_interval: INTERVAL };
    let config = config(server).with_common(common).with_webhook_secret(SECRET);
    Arc::new(JunctionProvider::new(config, LinkContext::ephemeral()).unwrap())
}

async fn mock_user_and_oauth(server: &MockServer) {
    let user = user_json(UID, APP_USER);
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/resolve/{APP_USER}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(user);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v2/link/provider/oauth/oura")
                .header("x-vital-link-token", LINK_TOKEN)
                .header_missing("x-vital-api-key");
            then.status(200).json_body(json!({
                "name": "Oura", "slug": "oura", "description": "Smart ring", "logo": "https://logo", "id": 7,
                "oauth_url": "https://cloud.ouraring.com/oauth/authorize?client_id=vital", "auth_type": "oauth"
            }));
        })
        .await;
}

async fn mock_providers(server: &MockServer, providers: serde_json::Value) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/providers/{UID}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(json!({ "providers": providers }));
        })
        .await
}

/// A success callback for an Oura link of [`APP_USER`].
async fn success_callback(server: &MockServer, provider: &JunctionProvider) -> Callback {
    mock_user_and_oauth(server).await;
    let (token, captured) = mock_link_token(server, UID, Some("oura"), WEB_URL).await;
    provider.generate_link(&LinkRequest::new(APP_USER, "oura")).await.unwrap();
    token.delete_async().await;
    let body = captured.lock().unwrap()[0].clone();
    Callback::from_url(KIND, &junction_redirect(&body, &[("state", "success")])).unwrap()
}

/// Delivers a signed `provider.connection.created` for `slug` through `webhook_event`.
async fn deliver_created(provider: &JunctionProvider, slug: &str, id: &str) {
    let body = serde_json::to_vec(&json!({
        "event_type": "provider.connection.created", "user_id": UID, "client_user_id": APP_USER, "team_id": "t",
        "data": {"user_id": UID, "provider": {"name": slug, "slug": slug, "logo": "https://logo"},
                 "resource_availability": {}}
    }))
    .unwrap();
    let headers = WebhookSigner::new(SECRET).unwrap().svix_headers(id, Utc::now().timestamp(), &body);
    assert!(provider.webhook_event(&headers, &body).await.unwrap().is_some());
}

#[tokio::test]
async fn the_matching_event_completes_at_once_instead_of_after_the_interval() {
    let server = MockServer::start_async().await;
    let provider = slow_polling_provider(&server, Duration::from_secs(30));
    let callback = success_callback(&server, &provider).await;
    let empty = mock_providers(&server, json!([])).await;

    let started = Instant::now();
    let completing = {
        let provider = provider.clone();
        tokio::spawn(async move { provider.complete_callback(&callback).await })
    };
    // The first look found nothing; the completion now waits (on the notifier).
    while empty.calls_async().await == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    empty.delete_async().await;
    let listed = mock_providers(&server, json!([connected("oura", "2026-03-01T10:00:00+00:00")])).await;
    deliver_created(&provider, "oura", "msg_completion_1").await;

    let connection = tokio::time::timeout(Duration::from_secs(3), completing).await.expect("woken").unwrap().unwrap();
    let took = started.elapsed();
    assert_eq!(connection.id, format!("{UID}/oura"));
    assert!(took < INTERVAL / 5, "completed in {took:?}, the poll interval is {INTERVAL:?}");
    listed.assert_calls_async(1).await;
}

#[tokio::test]
async fn another_users_or_providers_event_does_not_end_the_pause() {
    let server = MockServer::start_async().await;
    let provider = slow_polling_provider(&server, Duration::from_millis(800));
    let callback = success_callback(&server, &provider).await;
    let empty = mock_providers(&server, json!([])).await;
    let started = Instant::now();
    let completing = {
        let provider = provider.clone();
        tokio::spawn(async move { provider.complete_callback(&callback).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    deliver_created(&provider, "fitbit", "msg_completion_2").await;
    let err = completing.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Pending { .. }), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(800), "waited the whole timeout");
    empty.assert_calls_async(2).await; // the first look, and the last at the timeout
}
