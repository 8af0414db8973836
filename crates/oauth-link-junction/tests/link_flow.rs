//! generate_link and complete_callback against httpmock, every request pinned.

mod support;

use chrono::Utc;
use httpmock::prelude::*;
use oauth_link_core::{Callback, ConnectionStatus, Error, LinkContext, LinkProvider, LinkRequest, Url};
use oauth_link_junction::{JunctionProvider, UserMapping, ANY_PROVIDER, KIND, LINK_TOKEN_LIFETIME};
use serde_json::json;
use support::*;

const OURA_OAUTH: &str = "https://cloud.ouraring.com/oauth/authorize?client_id=vital&response_type=code";
const WEB_URL: &str = "https://link.tryvital.io/?token=lt_SECRET_link_token_0002&env=sandbox&region=us";

async fn mock_resolve<'a>(server: &'a MockServer, client_user_id: &str, user_id: &str) -> httpmock::Mock<'a> {
    let body = user_json(user_id, client_user_id);
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/resolve/{client_user_id}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(body);
        })
        .await
}

async fn mock_oauth<'a>(server: &'a MockServer, slug: &str, oauth_url: Option<&str>) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/v2/link/provider/oauth/{slug}"))
                .header("x-vital-link-token", LINK_TOKEN)
                .header_missing("x-vital-api-key");
            then.status(200).json_body(json!({
                "name": "Oura", "slug": slug, "description": "Smart ring", "logo": "https://logo", "id": 7,
                "group": null, "oauth_url": oauth_url, "auth_type": "oauth", "source_type": "device",
                "is_active": true, "backfill_num_days": 180
            }));
        })
        .await
}

async fn mock_providers<'a>(server: &'a MockServer, providers: serde_json::Value) -> httpmock::Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/providers/{UID}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(json!({ "providers": providers }));
        })
        .await
}

#[tokio::test]
async fn oauth_provider_link_is_the_oauth_url() {
    let server = MockServer::start_async().await;
    let resolve = mock_resolve(&server, APP_USER, UID).await;
    let (token, captured) = mock_link_token(&server, UID, Some("oura"), WEB_URL).await;
    let oauth = mock_oauth(&server, "oura", Some(OURA_OAUTH)).await;
    let provider = provider(&server);

    let before = Utc::now();
    let link = provider.generate_link(&LinkRequest::new(APP_USER, "oura")).await.unwrap();
    assert_eq!(link.url.as_str(), OURA_OAUTH);
    assert_eq!(link.provider, KIND);
    assert_eq!(captured_state(&captured.lock().unwrap()[0]), link.state.expose());
    assert!(link.expires_at > before && link.expires_at <= Utc::now() + LINK_TOKEN_LIFETIME);
    insta::assert_json_snapshot!("oauth_link", link, { ".state" => "[state]", ".expires_at" => "[ts]" });

    // A known mapping costs no extra call.
    provider.generate_link(&LinkRequest::new(APP_USER, "oura")).await.unwrap();
    resolve.assert_calls_async(1).await;
    token.assert_calls_async(2).await;
    oauth.assert_calls_async(2).await;
    assert_eq!(provider.cached_user_mappings(), 1);
}

#[tokio::test]
async fn request_redirect_uri_wins_over_the_configured_one() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    let token = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/link/token").header("x-vital-api-key", API_KEY).is_true(|req| {
                let body: serde_json::Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                body["redirect_url"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("http://localhost:3000/cb?tab=1&oauth_link_state="))
            });
            then.status(200).json_body(json!({"link_token": LINK_TOKEN, "link_web_url": WEB_URL}));
        })
        .await;
    let provider = provider(&server);
    let request =
        LinkRequest::new(APP_USER, "whoop").with_redirect_uri(Url::parse("http://localhost:3000/cb?tab=1").unwrap());
    provider.generate_link(&request).await.unwrap();
    token.assert_calls_async(1).await;
}

#[tokio::test]
async fn password_email_unknown_and_any_provider_use_the_widget_url() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    // Only the widget link (no provider named) reads what the user has, for its watermark.
    let listed = mock_providers(&server, json!([])).await;
    let any_oauth = server
        .mock_async(|when, then| {
            when.path_includes("/v2/link/provider/");
            then.status(500);
        })
        .await;
    let provider = provider(&server);
    for (target, sent) in [
        ("whoop", Some("whoop")),
        ("freestyle_libre", Some("freestyle_libre")),
        ("eight_sleep_pod_v9", Some("eight_sleep_pod_v9")),
        (ANY_PROVIDER, None),
    ] {
        let (token, captured) = mock_link_token(&server, UID, sent, WEB_URL).await;
        let link = provider.generate_link(&LinkRequest::new(APP_USER, target)).await.unwrap();
        assert_eq!(link.url.as_str(), WEB_URL, "{target}");
        assert_eq!(captured_state(&captured.lock().unwrap()[0]), link.state.expose());
        token.assert_calls_async(1).await;
        token.delete_async().await;
        listed.assert_calls_async(usize::from(target == ANY_PROVIDER)).await;
    }
    any_oauth.assert_calls_async(0).await;
}

#[tokio::test]
async fn oauth_provider_without_oauth_url_falls_back_to_the_widget() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    mock_link_token(&server, UID, Some("garmin"), WEB_URL).await;
    let oauth = mock_oauth(&server, "garmin", None).await;
    let link = provider(&server).generate_link(&LinkRequest::new(APP_USER, "garmin")).await.unwrap();
    assert_eq!(link.url.as_str(), WEB_URL);
    oauth.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_widget_url_that_is_not_http_fails_only_when_it_is_the_link() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    let bad = "javascript:alert('lt_SECRET_link_token_0002')";
    let provider = provider(&server);

    // Whoop's link is the widget: refused, and the token-bearing URL is not repeated.
    let (token, _) = mock_link_token(&server, UID, Some("whoop"), bad).await;
    let err = provider.generate_link(&LinkRequest::new(APP_USER, "whoop")).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("link_web_url is not an http(s) URL"), "{err}");
    assert!(!format!("{err} {err:?}").contains("lt_SECRET"), "{err:?}");
    token.delete_async().await;

    // Oura's link is its own OAuth URL: the widget URL is never used, so it does not matter.
    mock_link_token(&server, UID, Some("oura"), bad).await;
    mock_oauth(&server, "oura", Some(OURA_OAUTH)).await;
    let link = provider.generate_link(&LinkRequest::new(APP_USER, "oura")).await.unwrap();
    assert_eq!(link.url.as_str(), OURA_OAUTH);
}

#[tokio::test]
async fn unknown_user_is_created_and_a_conflict_reuses_the_existing_id() {
    let server = MockServer::start_async().await;
    for client_user_id in ["new-user", "raced-user"] {
        server
            .mock_async(|when, then| {
                when.method(GET).path(format!("/v2/user/resolve/{client_user_id}")).header("x-vital-api-key", API_KEY);
                then.status(404).json_body(json!({"detail": "User not found"}));
            })
            .await;
    }
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/user")
                .header("x-vital-api-key", API_KEY)
                .header("content-type", "application/json")
                .json_body(json!({"client_user_id": "new-user"}));
            then.status(200).json_body(user_json(UID, "new-user"));
        })
        .await;
    let conflict = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/v2/user")
                .header("x-vital-api-key", API_KEY)
                .json_body(json!({"client_user_id": "raced-user"}));
            then.status(400).json_body(json!({"detail": {
                "error_type": "INVALID_REQUEST",
                "error_message": "Client user id already exists.",
                "user_id": UID,
                "created_on": "2026-01-01T00:00:00+00:00"
            }}));
        })
        .await;
    let (token, _) = mock_link_token(&server, UID, Some("oura"), WEB_URL).await;
    mock_oauth(&server, "oura", Some(OURA_OAUTH)).await;
    let provider = provider(&server);

    provider.generate_link(&LinkRequest::new("new-user", "oura")).await.unwrap();
    provider.generate_link(&LinkRequest::new("raced-user", "oura")).await.unwrap();
    assert_eq!(provider.junction_user_id("raced-user").await.unwrap(), UID);
    create.assert_calls_async(1).await;
    conflict.assert_calls_async(1).await;
    token.assert_calls_async(2).await;
}

#[tokio::test]
async fn junction_user_id_mapping_makes_no_user_calls() {
    let server = MockServer::start_async().await;
    let users = server
        .mock_async(|when, then| {
            when.path_includes("/v2/user");
            then.status(500);
        })
        .await;
    let (token, _) = mock_link_token(&server, UID, Some("oura"), WEB_URL).await;
    mock_oauth(&server, "oura", Some(OURA_OAUTH)).await;
    let config = config(&server).with_user_mapping(UserMapping::JunctionUserId);
    let provider = JunctionProvider::new(config, LinkContext::ephemeral()).unwrap();
    provider.generate_link(&LinkRequest::new(UID, "oura")).await.unwrap();
    token.assert_calls_async(1).await;
    let err = provider.generate_link(&LinkRequest::new("not-a-uuid", "oura")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "user"), "{err}");
    token.assert_calls_async(1).await;
    users.assert_calls_async(0).await;
}

#[tokio::test]
async fn invalid_requests_send_nothing() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|_, then| {
            then.status(500);
        })
        .await;
    let provider = provider(&server);
    let bare = {
        let mut c = config(&server);
        c.redirect_uri = None;
        JunctionProvider::new(c, LinkContext::ephemeral()).unwrap()
    };
    let cases: Vec<(&JunctionProvider, LinkRequest, &str)> = vec![
        (&bare, LinkRequest::new(APP_USER, "oura"), "redirect_uri"),
        (
            &provider,
            LinkRequest::new(APP_USER, "oura").with_redirect_uri(Url::parse("http://app.example.com/cb").unwrap()),
            "redirect_uri",
        ),
        (
            &provider,
            LinkRequest::new(APP_USER, "oura")
                .with_redirect_uri(Url::parse("https://app.example.com/cb?state=1").unwrap()),
            "redirect_uri",
        ),
        (
            &provider,
            LinkRequest::new(APP_USER, "oura")
                .with_redirect_uri(Url::parse("https://app.example.com/cb?oauth_link_state=1").unwrap()),
            "redirect_uri",
        ),
        (&provider, LinkRequest::new(APP_USER, "oura").with_scope("sleep"), "scopes"),
        (&provider, LinkRequest::new(APP_USER, "oura").with_param("region", "eu"), "params"),
        (&provider, LinkRequest::new("", "oura"), "user"),
        (&provider, LinkRequest::new(APP_USER, " "), "target"),
    ];
    let mut messages = Vec::new();
    for (p, request, field) in cases {
        let err = p.generate_link(&request).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { field: ref f, .. } if f == field), "{field}: {err:?}");
        messages.push(err.to_string());
    }
    insta::assert_json_snapshot!("invalid_requests", messages);
    anything.assert_calls_async(0).await;
}

/// Generates a link for `target` and returns it with the body Junction received.
async fn issue(
    server: &MockServer,
    provider: &JunctionProvider,
    target: &'static str,
) -> (oauth_link_core::Link, serde_json::Value) {
    let (token, captured) = mock_link_token(server, UID, Some(target), WEB_URL).await;
    let link = provider.generate_link(&LinkRequest::new(APP_USER, target)).await.unwrap();
    token.delete_async().await;
    let body = captured.lock().unwrap()[0].clone();
    (link, body)
}

#[tokio::test]
async fn success_redirect_is_confirmed_on_the_platform() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    mock_oauth(&server, "oura", Some(OURA_OAUTH)).await;
    let provider = provider(&server);
    let (_, body) = issue(&server, &provider, "oura").await;
    let list = mock_providers(
        &server,
        json!([connected("oura", "2026-03-01T10:00:00+00:00"), errored("fitbit", "2025-12-01T08:00:00+00:00")]),
    )
    .await;

    let callback = Callback::from_url(KIND, &junction_redirect(&body, &[("state", "success")])).unwrap();
    let connection = provider.complete_callback(&callback).await.unwrap();
    assert_eq!(connection.id, format!("{UID}/oura"));
    assert_eq!(connection.user, APP_USER);
    assert_eq!(connection.status, ConnectionStatus::Connected);
    insta::assert_json_snapshot!("completed_connection", connection, { ".created_at" => "[ts]" });
    list.assert_calls_async(1).await;

    let replay = provider.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(replay, Error::StateReplayed { .. }), "{replay:?}");
    list.assert_calls_async(1).await;
}

#[tokio::test]
async fn success_never_completes_with_a_record_still_in_error() {
    // Regression: re-linking a provider listed in error state completed at once with the
    // stale errored record. Only a `connected` record confirms the link.
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    let provider = provider(&server);
    let (_, body) = issue(&server, &provider, "whoop").await;
    let stale = mock_providers(&server, json!([errored("whoop", "2026-03-01T10:00:00+00:00")])).await;
    let callback = Callback::from_url(KIND, &junction_redirect(&body, &[("state", "success")])).unwrap();
    let err = provider.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(err, Error::Pending { .. }), "{err:?}");
    assert!(err.to_string().contains("still listed as `error`: token_refresh_failed"), "{err}");
    assert!(stale.calls_async().await >= 2, "polling must look more than once");
    stale.delete_async().await;

    // Junction replaced the credentials: same record (same created_on), now connected.
    mock_providers(&server, json!([connected("whoop", "2026-03-01T10:00:00+00:00")])).await;
    let connection = provider.complete_callback(&callback).await.expect("the released state completes");
    assert_eq!(connection.status, ConnectionStatus::Connected);
    assert_eq!(connection.id, format!("{UID}/whoop"));
}

#[tokio::test]
async fn unconfirmed_success_is_pending_and_can_be_completed_later() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    mock_oauth(&server, "oura", Some(OURA_OAUTH)).await;
    let provider = provider(&server);
    let (_, body) = issue(&server, &provider, "oura").await;
    let empty = mock_providers(&server, json!([connected("fitbit", "2026-03-01T10:00:00+00:00")])).await;
    let callback = Callback::from_url(KIND, &junction_redirect(&body, &[("state", "success")])).unwrap();

    let err = provider.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(err, Error::Pending { .. }) && err.is_retryable(), "{err:?}");
    insta::assert_snapshot!("pending", err.to_string());
    assert!(empty.calls_async().await >= 2, "polling must look more than once");
    empty.delete_async().await;

    mock_providers(&server, json!([connected("oura", "2026-03-01T10:00:00+00:00")])).await;
    provider.complete_callback(&callback).await.expect("the released state completes");
}

/// Issues a widget link while Junction lists `before`; returns the link-token body.
async fn issue_widget(
    server: &MockServer,
    provider: &JunctionProvider,
    before: serde_json::Value,
) -> serde_json::Value {
    let listed = mock_providers(server, before).await;
    let (token, captured) = mock_link_token(server, UID, None, WEB_URL).await;
    provider.generate_link(&LinkRequest::new(APP_USER, ANY_PROVIDER)).await.unwrap();
    token.assert_calls_async(1).await;
    listed.assert_calls_async(1).await;
    token.delete_async().await;
    listed.delete_async().await;
    let body = captured.lock().unwrap()[0].clone();
    body
}

#[tokio::test]
async fn widget_link_completes_with_the_newly_connected_provider() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    let provider = provider(&server);
    // Oura was connected 30 s before the link (inside the old 120 s skew window).
    let recent = (Utc::now() - chrono::TimeDelta::seconds(30)).to_rfc3339();
    let body = issue_widget(&server, &provider, json!([connected("oura", &recent)])).await;
    let fresh = (Utc::now() + chrono::TimeDelta::seconds(5)).to_rfc3339();
    mock_providers(&server, json!([connected("oura", &recent), connected("polar", &fresh)])).await;
    let callback = Callback::from_url(KIND, &junction_redirect(&body, &[("state", "success")])).unwrap();
    let connection = provider.complete_callback(&callback).await.unwrap();
    assert_eq!(connection.target, "polar");
}

#[tokio::test]
async fn widget_link_never_takes_a_provider_listed_before_it() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    let provider = provider(&server);
    // Connected seconds before the link: an issue-time skew window would swallow it.
    let recent = (Utc::now() - chrono::TimeDelta::seconds(2)).to_rfc3339();
    let body = issue_widget(&server, &provider, json!([connected("oura", &recent)])).await;
    // The widget reconnected Oura (Junction keeps its record) or nothing new is listed yet.
    let list = mock_providers(&server, json!([connected("oura", &recent)])).await;
    let callback = Callback::from_url(KIND, &junction_redirect(&body, &[("state", "success")])).unwrap();
    let err = provider.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(err, Error::Pending { .. }), "{err:?}");
    assert!(err.to_string().contains("no provider created since the link was issued"), "{err}");
    assert!(list.calls_async().await >= 2);
}

#[tokio::test]
async fn widget_link_for_a_user_just_created_reads_nothing_before_the_token() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/user/resolve/brand-new").header("x-vital-api-key", API_KEY);
            then.status(404).json_body(json!({"detail": "User not found"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/user").json_body(json!({"client_user_id": "brand-new"}));
            then.status(200).json_body(user_json(UID, "brand-new"));
        })
        .await;
    let provider = provider(&server);
    let (token, captured) = mock_link_token(&server, UID, None, WEB_URL).await;
    let list = mock_providers(&server, json!([])).await;
    provider.generate_link(&LinkRequest::new("brand-new", ANY_PROVIDER)).await.unwrap();
    token.assert_calls_async(1).await;
    list.assert_calls_async(0).await;
    list.delete_async().await;
    // Any connected provider is new for a user that had none, whatever its created_on says.
    mock_providers(&server, json!([connected("oura", "2020-01-01T00:00:00+00:00")])).await;
    let body = captured.lock().unwrap()[0].clone();
    let callback = Callback::from_url(KIND, &junction_redirect(&body, &[("state", "success")])).unwrap();
    assert_eq!(provider.complete_callback(&callback).await.unwrap().target, "oura");
}

#[tokio::test]
async fn every_error_redirect_is_denied_with_its_code() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    let list = mock_providers(&server, json!([])).await;
    let provider = provider(&server);
    let types = [
        "token_expired",
        "token_consumed",
        "invalid_token",
        "user_cancelled",
        "provider_credential_error",
        "provider_password_expired",
        "provider_api_error",
        "unsupported_region",
        "duplicate_connection",
        "required_scopes_not_granted",
        "incorrect_mfa_code",
        "something_new",
    ];
    let mut seen = Vec::new();
    for error_type in types {
        let (_, body) = issue(&server, &provider, "whoop").await;
        let url = junction_redirect(
            &body,
            &[("state", "error"), ("error_type", error_type), ("error", &format!("Junction says {error_type}"))],
        );
        let callback = Callback::from_url(KIND, &url).unwrap();
        let err = provider.complete_callback(&callback).await.unwrap_err();
        match &err {
            Error::Denied { code, reason, .. } => {
                assert_eq!(code, error_type);
                assert_eq!(reason, &format!("Junction says {error_type}"));
            }
            other => panic!("{error_type}: {other:?}"),
        }
        // The state is consumed: the same redirect cannot be replayed.
        assert!(matches!(provider.complete_callback(&callback).await, Err(Error::StateReplayed { .. })));
        seen.push(err.to_string());
    }
    // Without error_type or message.
    let (_, body) = issue(&server, &provider, "whoop").await;
    let err = provider
        .complete_callback(&Callback::from_url(KIND, &junction_redirect(&body, &[("state", "error")])).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Denied { ref code, .. } if code == "unknown"), "{err:?}");
    seen.push(err.to_string());
    let (_, body) = issue(&server, &provider, "whoop").await;
    let err = provider
        .complete_callback(
            &Callback::from_url(
                KIND,
                &junction_redirect(&body, &[("state", "error"), ("error_type", "user_cancelled")]),
            )
            .unwrap(),
        )
        .await
        .unwrap_err();
    seen.push(err.to_string());
    insta::assert_json_snapshot!("error_redirects", seen);
    list.assert_calls_async(0).await;
}

#[tokio::test]
async fn missing_junction_state_is_pending_unknown_is_invalid_and_both_keep_the_link_state() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    let provider = provider(&server);
    let (link, body) = issue(&server, &provider, "whoop").await;
    let list = mock_providers(&server, json!([connected("whoop", "2026-03-01T10:00:00+00:00")])).await;
    // Junction reported nothing: Pending, without looking at the (old) record.
    for callback in
        [Callback::from_url(KIND, &junction_redirect(&body, &[])).unwrap(), Callback::from_state(link.state.clone())]
    {
        let err = provider.complete_callback(&callback).await.unwrap_err();
        assert!(matches!(err, Error::Pending { .. }) && err.is_retryable(), "{err:?}");
    }
    list.assert_calls_async(0).await;
    let callback = Callback::from_url(KIND, &junction_redirect(&body, &[("state", "maybe")])).unwrap();
    let err = provider.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "callback.state"), "{err:?}");
    let callback = Callback::from_url(KIND, &junction_redirect(&body, &[("state", "success")])).unwrap();
    provider.complete_callback(&callback).await.expect("the link state was not consumed");
}

#[tokio::test]
async fn forged_state_never_reaches_junction() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|_, then| {
            then.status(500);
        })
        .await;
    let provider = provider(&server);
    let callback = Callback::from_query(KIND, "state=success&oauth_link_state=v1.forged.value").unwrap();
    let err = provider.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(err, Error::StateInvalid { .. }), "{err:?}");
    anything.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_stale_cached_mapping_is_dropped_when_junction_forgets_the_user() {
    let server = MockServer::start_async().await;
    let resolve = mock_resolve(&server, APP_USER, UID).await;
    let gone = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/link/token").header("x-vital-api-key", API_KEY);
            then.status(404).json_body(json!({"detail": "User not found"}));
        })
        .await;
    let provider = provider(&server);
    for _ in 0..2 {
        let err = provider.generate_link(&LinkRequest::new(APP_USER, "oura")).await.unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
        assert_eq!(provider.cached_user_mappings(), 0);
    }
    resolve.assert_calls_async(2).await;
    gone.assert_calls_async(2).await;
}

#[tokio::test]
async fn link_token_body_is_exact() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    mock_oauth(&server, "oura", Some(OURA_OAUTH)).await;
    mock_providers(&server, json!([])).await;
    let provider = provider(&server);
    for (target, provider_field) in [("oura", Some("oura")), (ANY_PROVIDER, None)] {
        let (token, captured) = mock_link_token(&server, UID, provider_field, WEB_URL).await;
        let link = provider.generate_link(&LinkRequest::new(APP_USER, target)).await.unwrap();
        token.assert_calls_async(1).await;
        token.delete_async().await;
        let mut expected = json!({
            "user_id": UID,
            "redirect_url": format!("{REDIRECT}?oauth_link_state={}", link.state.expose()),
            "on_close": "redirect",
            "on_error": "redirect",
        });
        if let Some(slug) = provider_field {
            expected["provider"] = json!(slug);
        }
        assert_eq!(captured.lock().unwrap()[0], expected, "{target}");
    }
}

#[tokio::test]
async fn closing_the_widget_comes_back_denied_with_junctions_reason() {
    // `on_close: "redirect"`: the Close button sends the browser back with
    // `state=error&error_type=user_cancelled&error=...`.
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    let list = mock_providers(&server, json!([])).await;
    let provider = provider(&server);
    let (_, body) = issue(&server, &provider, "whoop").await;
    let url = junction_redirect(
        &body,
        &[("state", "error"), ("error_type", "user_cancelled"), ("error", "User closed Junction Link")],
    );
    match provider.complete_callback(&Callback::from_url(KIND, &url).unwrap()).await {
        Err(Error::Denied { provider, code, reason }) => {
            assert_eq!(
                (provider, code.as_str(), reason.as_str()),
                (KIND, "user_cancelled", "User closed Junction Link")
            );
        }
        other => panic!("expected Denied, got {other:?}"),
    }
    list.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_refused_or_abandoned_relink_never_completes_with_the_existing_connection() {
    let server = MockServer::start_async().await;
    mock_resolve(&server, APP_USER, UID).await;
    mock_oauth(&server, "oura", Some(OURA_OAUTH)).await;
    let provider = provider(&server);
    // Connected, at this very instant, through a first link.
    let now = Utc::now().to_rfc3339();
    let list = mock_providers(&server, json!([connected("oura", &now)])).await;
    let (_, first) = issue(&server, &provider, "oura").await;
    let callback = Callback::from_url(KIND, &junction_redirect(&first, &[("state", "success")])).unwrap();
    let existing = provider.complete_callback(&callback).await.unwrap();
    assert_eq!(existing.id, format!("{UID}/oura"));
    list.assert_calls_async(1).await;

    // Re-link the same provider for the same user at the same instant, then refuse it
    // (the provider's consent screen, or Close in the widget)...
    let (_, again) = issue(&server, &provider, "oura").await;
    let refused = junction_redirect(
        &again,
        &[("state", "error"), ("error_type", "required_scopes_not_granted"), ("error", "access_denied")],
    );
    let err = provider.complete_callback(&Callback::from_url(KIND, &refused).unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::Denied { ref code, .. } if code == "required_scopes_not_granted"), "{err:?}");

    // ...or abandon it: the browser never comes back, the app has only its state.
    let (link, _) = issue(&server, &provider, "oura").await;
    let err = provider.complete_callback(&Callback::from_state(link.state)).await.unwrap_err();
    assert!(matches!(err, Error::Pending { .. }), "{err:?}");
    // Neither looked at the list: the old record was never a candidate.
    list.assert_calls_async(1).await;
}
