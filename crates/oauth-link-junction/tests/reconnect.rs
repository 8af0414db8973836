//! Health and reconnect against httpmock: each provider status Junction reports, as
//! `list_connections` normalises it, and a reconnect that keeps the connection's id
//! (`<user_id>/<slug>`), every request pinned.

mod support;

use httpmock::prelude::*;
use oauth_link_core::{Callback, ConnectionQuery, ConnectionStatus, Error, LinkProvider, LinkRequest};
use oauth_link_junction::KIND;
use serde_json::{json, Value};
use support::*;

const OURA_OAUTH: &str = "https://cloud.ouraring.com/oauth/authorize?client_id=vital&response_type=code";
const WEB_URL: &str = "https://link.tryvital.io/?token=lt_SECRET_link_token_0002&env=sandbox&region=us";

async fn mock_resolve(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/resolve/{APP_USER}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(user_json(UID, APP_USER));
        })
        .await
}

async fn mock_providers(server: &MockServer, providers: Value) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v2/user/providers/{UID}"))
                .header("x-vital-api-key", API_KEY)
                .is_true(|req| req.uri().query().is_none() && req.body_ref().is_empty());
            then.status(200).json_body(json!({ "providers": providers }));
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

/// A provider record in `status` with `error_details` of `error_type` (when given).
fn record(slug: &str, status: Option<&str>, error_type: Option<&str>) -> Value {
    let mut r = connected(slug, "2026-01-01T00:00:00+00:00");
    match status {
        Some(s) => r["status"] = json!(s),
        None => {
            r.as_object_mut().unwrap().remove("status");
        }
    }
    if let Some(t) = error_type {
        r["error_details"] =
            json!({"error_type": t, "error_message": "detail", "errored_at": "2026-02-01T00:00:00+00:00"});
    }
    r
}

#[tokio::test]
async fn every_junction_status_maps_to_a_health_state() {
    let server = MockServer::start_async().await;
    let resolve = mock_resolve(&server).await;
    let cases: Vec<(&str, Value, ConnectionStatus)> = vec![
        ("oura", record("oura", Some("connected"), None), ConnectionStatus::Connected),
        (
            "fitbit",
            record("fitbit", Some("error"), Some("token_refresh_failed")),
            ConnectionStatus::needs_reauthorization("token_refresh_failed: detail"),
        ),
        (
            "garmin",
            record("garmin", Some("error"), Some("deregistered_per_provider")),
            ConnectionStatus::needs_reauthorization("deregistered_per_provider: detail"),
        ),
        (
            "abbott_libreview",
            record("abbott_libreview", Some("error"), Some("provider_password_expired")),
            ConnectionStatus::needs_reauthorization("provider_password_expired: detail"),
        ),
        (
            "polar",
            record("polar", Some("error"), Some("required_scopes_not_granted")),
            ConnectionStatus::needs_reauthorization("required_scopes_not_granted: detail"),
        ),
        (
            "whoop_v2",
            record("whoop_v2", Some("error"), Some("provider_credential_error")),
            ConnectionStatus::needs_reauthorization("provider_credential_error: detail"),
        ),
        (
            "withings",
            record("withings", Some("error"), Some("webhook_registration_failed")),
            ConnectionStatus::failed("webhook_registration_failed: detail"),
        ),
        (
            "dexcom_v3",
            record("dexcom_v3", Some("error"), Some("user_not_found")),
            ConnectionStatus::failed("user_not_found: detail"),
        ),
        ("strava", record("strava", Some("error"), None), ConnectionStatus::failed("unknown")),
        ("wahoo", record("wahoo", None, None), ConnectionStatus::Pending),
        (
            "ultrahuman",
            record("ultrahuman", Some("revoked"), None),
            ConnectionStatus::failed("unrecognised Junction status `revoked`"),
        ),
    ];
    let listed = mock_providers(&server, Value::Array(cases.iter().map(|(_, r, _)| r.clone()).collect())).await;
    let provider = provider(&server);
    let connections = provider.list_connections(&ConnectionQuery::user(APP_USER)).await.unwrap();
    assert_eq!(connections.len(), cases.len());
    for ((slug, _, status), c) in cases.iter().zip(&connections) {
        assert_eq!((c.target.as_str(), &c.status), (*slug, status), "{slug}");
        assert_eq!(c.id, format!("{UID}/{slug}"));
    }
    // `paused` (deregistered after the ingestion end): re-link.
    listed.delete_async().await;
    mock_providers(&server, json!([record("oura", Some("paused"), None)])).await;
    let paused = provider.list_connections(&ConnectionQuery::user(APP_USER)).await.unwrap();
    assert!(paused[0].status.is_reauthorization_needed(), "{:?}", paused[0].status);
    resolve.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_reconnect_relinks_the_same_provider_and_keeps_the_id() {
    let server = MockServer::start_async().await;
    let resolve = mock_resolve(&server).await;
    let broken = mock_providers(&server, json!([errored("oura", "2025-12-01T08:00:00+00:00")])).await;
    let (token, captured) = mock_link_token(&server, UID, Some("oura"), WEB_URL).await;
    let oauth = mock_oauth(&server).await;
    let provider = provider(&server);
    assert!(provider.capabilities().reconnect_keeps_id);

    let id = format!("{UID}/oura");
    let listed = provider.list_connections(&ConnectionQuery::user(APP_USER)).await.unwrap();
    assert!(listed[0].status.is_reauthorization_needed());
    let request = LinkRequest::reconnect(APP_USER, &id).with_tag("org", "acme");
    let link = provider.generate_link(&request).await.unwrap();
    assert_eq!(link.url.as_str(), OURA_OAUTH);
    // The link token names the connection's provider (the request named none).
    let body = captured.lock().unwrap()[0].clone();
    assert!(link_body_ok(&body, UID, Some("oura")), "{body}");

    // Junction replaced the credentials of the same record: connected again, same id.
    broken.delete_async().await;
    let healed = mock_providers(&server, json!([connected("oura", "2025-12-01T08:00:00+00:00")])).await;
    let callback = Callback::from_url(KIND, &junction_redirect(&body, &[("state", "success")])).unwrap();
    let connection = provider.complete_callback(&callback).await.unwrap();
    assert_eq!((connection.id.as_str(), connection.target.as_str()), (id.as_str(), "oura"));
    assert_eq!(connection.status, ConnectionStatus::Connected);
    assert_eq!(connection.tags, request.tags);
    let after = provider.list_connections(&ConnectionQuery::user(APP_USER)).await.unwrap();
    assert_eq!(after.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), [id.as_str()], "one connection, not two");

    // A bare slug names the same connection; a matching target is accepted too.
    provider.generate_link(&LinkRequest::reconnect(APP_USER, "oura")).await.unwrap();
    provider.generate_link(&LinkRequest::new(APP_USER, "oura").with_reconnect(&id)).await.unwrap();
    let bodies = captured.lock().unwrap().clone();
    assert!(bodies.iter().all(|b| link_body_ok(b, UID, Some("oura"))));
    resolve.assert_calls_async(1).await;
    token.assert_calls_async(3).await;
    oauth.assert_calls_async(3).await;
    // One read per reconnect link, one list before, one poll at completion, one list after.
    healed.assert_calls_async(4).await;
}

#[tokio::test]
async fn a_reconnect_of_a_connection_junction_does_not_list_sends_no_link() {
    let server = MockServer::start_async().await;
    let resolve = mock_resolve(&server).await;
    let listed = mock_providers(&server, json!([connected("fitbit", "2025-12-01T08:00:00+00:00")])).await;
    let token = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/link/token");
            then.status(500);
        })
        .await;
    let create = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/user");
            then.status(500);
        })
        .await;
    let provider = provider(&server);

    let err = provider.generate_link(&LinkRequest::reconnect(APP_USER, format!("{UID}/oura"))).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("start a new link"), "{err}");
    // Another user's connection, or a target the connection is not to: refused before any read.
    let other = "11111111-2222-4333-8444-555555555555/fitbit";
    let err = provider.generate_link(&LinkRequest::reconnect(APP_USER, other)).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "reconnect"), "{err:?}");
    let err = provider
        .generate_link(&LinkRequest::new(APP_USER, "oura").with_reconnect(format!("{UID}/fitbit")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "target"), "{err:?}");
    for bad in ["", "uid/", "/fitbit", "a/b/c"] {
        let err = provider.generate_link(&LinkRequest::reconnect(APP_USER, bad)).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{bad}: {err:?}");
    }
    resolve.assert_calls_async(1).await;
    listed.assert_calls_async(1).await;
    token.assert_calls_async(0).await;

    // A user Junction does not know has nothing to reconnect, and is not registered.
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/user/resolve/stranger");
            then.status(404).json_body(json!({"detail": "User not found"}));
        })
        .await;
    let err = provider.generate_link(&LinkRequest::reconnect("stranger", "oura")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    create.assert_calls_async(0).await;
}
