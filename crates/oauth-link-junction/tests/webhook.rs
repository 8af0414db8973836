//! Junction's Svix deliveries through `LinkProvider::webhook_event`: core's verifier, the
//! two connection events, the user mapping (the one request it may make is pinned), and
//! the parser's edge cases.

mod support;

use chrono::Utc;
use http::HeaderMap;
use httpmock::prelude::*;
use oauth_link_core::webhook::{ConnectionEvent, ConnectionEventKind, HeaderStyle, WebhookError, WebhookSigner};
use oauth_link_core::{Error, ErrorClass, LinkContext, LinkProvider};
use oauth_link_junction::webhook::{error_kind, JunctionEvent};
use oauth_link_junction::{JunctionProvider, UserMapping};
use serde_json::{json, Value};
use support::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_b2xkLXNpZ25pbmctc2VjcmV0LWZvci1yb3RhdGlvbg==";
const MSG_ID: &str = "msg_2b8u7cKXNEDmq1mGg6ZqZ5bT1Xy";

fn webhook_provider(server: &MockServer, mapping: UserMapping) -> JunctionProvider {
    let config = config(server).with_webhook_secret(SECRET).with_webhook_secret(OLD_SECRET).with_user_mapping(mapping);
    JunctionProvider::new(config, LinkContext::ephemeral()).unwrap()
}

fn signed(secret: &str, body: &Value) -> (HeaderMap, Vec<u8>) {
    let body = serde_json::to_vec(body).unwrap();
    (WebhookSigner::new(secret).unwrap().svix_headers(MSG_ID, Utc::now().timestamp(), &body), body)
}

/// A `ClientFacingProviderConnectionCreatedEvent` as the Junction SDK describes it.
fn created() -> Value {
    json!({
        "event_type": "provider.connection.created",
        "user_id": UID,
        "client_user_id": APP_USER,
        "team_id": "team-1",
        "data": {
            "user_id": UID,
            "provider": {"name": "Oura", "slug": "oura", "logo": "https://logo"},
            "source": {"name": "Oura", "slug": "oura", "logo": "https://logo"},
            "external_user_id": "oura-77",
            "resource_availability": {"sleep": {"status": "available"}}
        }
    })
}

/// A `ClientFacingProviderConnectionErrorEvent` (`data.provider` is a slug,
/// `error_details` text).
fn errored_event(error_type: &str, client_user_id: Option<&str>) -> Value {
    let mut event = json!({
        "event_type": "provider.connection.error",
        "user_id": UID,
        "team_id": "team-1",
        "data": {"provider": "fitbit", "user_id": UID, "message": "refresh token revoked",
                 "error_type": error_type, "error_details": "invalid_grant"}
    });
    if let Some(id) = client_user_id {
        event["client_user_id"] = json!(id);
    }
    event
}

async fn event_of(provider: &JunctionProvider, body: &Value) -> ConnectionEvent {
    let (headers, body) = signed(SECRET, body);
    provider.webhook_event(&headers, &body).await.unwrap().expect("a connection event")
}

#[tokio::test]
async fn connection_created_becomes_a_created_event_for_the_apps_user() {
    let server = MockServer::start_async().await;
    let provider = webhook_provider(&server, UserMapping::ClientUserId);
    let event = event_of(&provider, &created()).await;
    assert_eq!(event.kind, ConnectionEventKind::Created);
    assert_eq!((event.user.as_str(), event.user_mapped), (APP_USER, true));
    assert_eq!(event.connection_id.as_deref(), Some(&*format!("{UID}/oura")));
    assert_eq!(event.raw.get("team_id"), Some(json!("team-1")));
    insta::assert_json_snapshot!("connection_created_event", event, { ".delivered_at" => "[now]" });
}

#[tokio::test]
async fn connection_errors_map_by_error_type() {
    let server = MockServer::start_async().await;
    let provider = webhook_provider(&server, UserMapping::ClientUserId);
    let cases = [
        ("token_refresh_failed", ConnectionEventKind::NeedsReauthorization),
        ("required_scopes_not_granted", ConnectionEventKind::NeedsReauthorization),
        ("provider_credential_error", ConnectionEventKind::NeedsReauthorization),
        ("provider_password_expired", ConnectionEventKind::NeedsReauthorization),
        ("deregistered_per_provider", ConnectionEventKind::Removed),
        ("webhook_registration_failed", ConnectionEventKind::Failed),
        ("user_not_found", ConnectionEventKind::Failed),
        ("unknown", ConnectionEventKind::Failed),
        ("something_new", ConnectionEventKind::Failed),
    ];
    for (error_type, kind) in cases {
        let event = event_of(&provider, &errored_event(error_type, Some(APP_USER))).await;
        assert_eq!(event.kind, kind, "{error_type}");
        assert_eq!(error_kind(Some(error_type)), kind);
        assert_eq!(event.reason.as_deref(), Some(&*format!("{error_type}: refresh token revoked")));
        assert_eq!((event.user.as_str(), event.target.as_str()), (APP_USER, "fitbit"));
        assert_eq!(event.platform_event, "provider.connection.error");
        assert_eq!(event.connection_id.as_deref(), Some(&*format!("{UID}/fitbit")));
    }
    assert_eq!(error_kind(None), ConnectionEventKind::Failed);
}

#[tokio::test]
async fn an_event_without_client_user_id_is_mapped_back_through_junction() {
    let server = MockServer::start_async().await;
    let get_user = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/{UID}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(user_json(UID, "app-user-from-junction"));
        })
        .await;
    let provider = webhook_provider(&server, UserMapping::ClientUserId);
    let event = event_of(&provider, &errored_event("token_refresh_failed", None)).await;
    assert_eq!((event.user.as_str(), event.user_mapped), ("app-user-from-junction", true));
    assert_eq!(event.platform_user.as_deref(), Some(UID));
    get_user.assert_async().await;
}

#[tokio::test]
async fn an_unknown_user_stays_junctions_and_a_failing_lookup_is_transient() {
    let server = MockServer::start_async().await;
    let missing = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/{UID}")).header("x-vital-api-key", API_KEY);
            then.status(404).json_body(json!({"detail": "User not found"}));
        })
        .await;
    let provider = webhook_provider(&server, UserMapping::ClientUserId);
    let event = event_of(&provider, &errored_event("unknown", None)).await;
    assert_eq!((event.user.as_str(), event.user_mapped), (UID, false));
    missing.assert_async().await;
    missing.delete_async().await;

    let down = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/{UID}"));
            then.status(503).body("busy");
        })
        .await;
    let (headers, body) = signed(SECRET, &errored_event("unknown", None));
    let err = provider.webhook_event(&headers, &body).await.unwrap_err();
    assert!(err.is_retryable() && err.class() == ErrorClass::Transient, "{err:?}");
    down.assert_calls_async(3).await; // the first try and the two retries of `fast_common`
}

#[tokio::test]
async fn with_junction_user_ids_the_user_is_junctions_and_nothing_is_sent() {
    let server = MockServer::start_async().await;
    let provider = webhook_provider(&server, UserMapping::JunctionUserId);
    for body in [created(), errored_event("unknown", None)] {
        let event = event_of(&provider, &body).await;
        assert_eq!((event.user.as_str(), event.user_mapped), (UID, true));
    }
}

#[tokio::test]
async fn other_event_types_are_none_and_both_header_spellings_and_secrets_verify() {
    let server = MockServer::start_async().await;
    let provider = webhook_provider(&server, UserMapping::ClientUserId);
    let body = br#"{"event_type":"daily.data.sleep.created","user_id":"x","data":{"id":1}}"#;
    let now = Utc::now().timestamp();
    for secret in [SECRET, OLD_SECRET] {
        for style in [HeaderStyle::Svix, HeaderStyle::Standard] {
            let headers = WebhookSigner::new(secret).unwrap().headers(style, MSG_ID, now, body);
            assert_eq!(provider.webhook_event(&headers, body).await.unwrap(), None);
        }
    }
}

#[tokio::test]
async fn forged_stale_and_unconfigured_deliveries_are_refused() {
    let server = MockServer::start_async().await;
    let provider = webhook_provider(&server, UserMapping::ClientUserId);
    let body = serde_json::to_vec(&created()).unwrap();
    let refused = |result: oauth_link_core::Result<Option<ConnectionEvent>>| match result {
        Err(Error::WebhookRejected { provider: "junction", reason }) => reason,
        other => panic!("{other:?}"),
    };
    let unknown = "whsec_dW5rbm93bi1zZWNyZXQtbm90LWNvbmZpZ3VyZWQ=";
    let (headers, _) = signed(unknown, &created());
    assert_eq!(refused(provider.webhook_event(&headers, &body).await), WebhookError::BadSignature);
    let (headers, _) = signed(SECRET, &created());
    let mut tampered = body.clone();
    tampered[3] ^= 1;
    assert_eq!(refused(provider.webhook_event(&headers, &tampered).await), WebhookError::BadSignature);
    let stale = WebhookSigner::new(SECRET).unwrap().svix_headers(MSG_ID, Utc::now().timestamp() - 600, &body);
    assert!(matches!(refused(provider.webhook_event(&stale, &body).await), WebhookError::Stale { .. }));
    let err = refused(provider.webhook_event(&HeaderMap::new(), &body).await);
    assert_eq!(err, WebhookError::MissingHeader { header: "webhook-id" });

    // No secret configured: a configuration error naming the key, not a rejection.
    let bare = provider_without_secret(&server);
    let err = bare.webhook_event(&headers, &body).await.unwrap_err();
    assert!(matches!(err, Error::Config { ref key, .. } if key == "webhook_secret"), "{err:?}");
}

fn provider_without_secret(server: &MockServer) -> JunctionProvider {
    provider(server)
}

#[test]
fn the_parser_keeps_unknown_events_and_refuses_incomplete_ones() {
    match JunctionEvent::parse(br#"{"event_type":"daily.data.sleep.created","data":{"id":1}}"#).unwrap() {
        JunctionEvent::Unknown { event_type, raw } => {
            assert_eq!(event_type, "daily.data.sleep.created");
            assert_eq!(raw["data"]["id"], 1);
        }
        other => panic!("{other:?}"),
    }
    let no_provider = br#"{"event_type":"provider.connection.error","user_id":"u","data":{"provider":""}}"#;
    for bad in [
        &b"not json"[..],
        br#"{"data":{}}"#,
        br#"{"event_type":"provider.connection.created","data":{}}"#,
        br#"{"event_type":"provider.connection.created","user_id":"u","data":{"provider":{"slug":"oura"}}}"#,
        no_provider,
    ] {
        assert!(matches!(JunctionEvent::parse(bad), Err(Error::Decode { .. })), "{}", String::from_utf8_lossy(bad));
    }
    match JunctionEvent::parse(&serde_json::to_vec(&errored_event("token_refresh_failed", None)).unwrap()).unwrap() {
        JunctionEvent::ConnectionError(e) => {
            assert_eq!((e.provider.slug.as_str(), e.client_user_id.as_deref()), ("fitbit", None));
            assert_eq!(e.error_details, json!("invalid_grant"));
            assert_eq!(e.reason(), "token_refresh_failed: refresh token revoked");
        }
        other => panic!("{other:?}"),
    }
}
