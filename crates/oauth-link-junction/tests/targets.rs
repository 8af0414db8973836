//! `list_targets` from `GET /v2/link/providers`, pinned exactly.

mod support;

use httpmock::prelude::*;
use oauth_link_core::{Error, LinkProvider, TargetAuth};
use serde_json::json;
use support::*;

#[tokio::test]
async fn the_catalogue_is_listed_without_the_api_key() {
    let server = MockServer::start_async().await;
    let catalogue = mock_link_providers(&server, catalogue_json()).await;
    // Anything else (e.g. the same call carrying the key) would reach this and fail.
    let other = server
        .mock_async(|_, then| {
            then.status(500);
        })
        .await;
    let targets = provider(&server).list_targets().await.unwrap();
    catalogue.assert_calls_async(1).await;
    other.assert_calls_async(0).await;

    let summary: Vec<_> = targets.iter().map(|t| (t.id.as_str(), t.auth)).collect();
    assert_eq!(
        summary,
        [
            ("oura", TargetAuth::OAuth),
            ("withings", TargetAuth::OAuth),
            ("fitbit", TargetAuth::OAuth),
            ("whoop", TargetAuth::Form),
            ("freestyle_libre", TargetAuth::Form),
            ("apple_health_kit", TargetAuth::Sdk),
            ("omron", TargetAuth::Sdk),
            ("beurer_ble", TargetAuth::Other),
        ]
    );
    // Junction's form fields are the widget's business: no LinkRequest params.
    assert!(targets.iter().all(|t| t.params.is_empty()));
    insta::assert_json_snapshot!("targets", targets);
}

#[tokio::test]
async fn catalogue_failures_are_typed() {
    let server = MockServer::start_async().await;
    let not_a_list = server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/link/providers");
            then.status(200).json_body(json!({"providers": []}));
        })
        .await;
    let provider = provider(&server);
    let err = provider.list_targets().await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    not_a_list.delete_async().await;

    let busy = server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/link/providers");
            then.status(503).header("retry-after", "0").json_body(json!({"detail": "Service unavailable"}));
        })
        .await;
    let err = provider.list_targets().await.unwrap_err();
    assert!(matches!(err, Error::Provider { status: 503, .. }) && err.is_retryable(), "{err:?}");
    // A read: retried (max_retries = 2).
    busy.assert_calls_async(3).await;
    assert!(!format!("{err:?}").contains(API_KEY));
}
