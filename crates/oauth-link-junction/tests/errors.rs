//! Error mapping, retries and secrecy.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use httpmock::prelude::*;
use oauth_link_core::{ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest};
use oauth_link_junction::{Environment, JunctionConfig, JunctionProvider, Region, UserMapping};
use oauth_link_testkit::hostile::{assert_hidden, is_typed_status};
use serde_json::json;
use support::*;

/// A provider addressing Junction users directly, so each test pins only its call.
fn direct(server: &MockServer) -> JunctionProvider {
    let config = config(server).with_user_mapping(UserMapping::JunctionUserId);
    JunctionProvider::new(config, LinkContext::ephemeral()).unwrap()
}

#[tokio::test]
async fn link_token_statuses_are_typed_and_only_transient_ones_retried() {
    let server = MockServer::start_async().await;
    let provider = direct(&server);
    let cases: Vec<(u16, serde_json::Value)> = vec![
        (400, json!({"detail": {"error_type": "INVALID_REQUEST", "error_message": "Provider not enabled for team"}})),
        (401, json!({"detail": "Invalid API key"})),
        (403, json!({"detail": "Sandbox user limit reached"})),
        (404, json!({"detail": "User not found"})),
        (409, json!({"detail": "Conflict"})),
        (
            422,
            json!({"detail": [{"loc": ["body", "redirect_url"], "msg": "invalid or missing URL scheme", "type": "value_error.url.scheme"}]}),
        ),
        (429, json!({"detail": "Too many requests"})),
        (500, json!({"detail": "Internal error"})),
        (503, json!({"detail": "Service unavailable"})),
    ];
    let mut messages = Vec::new();
    for (status, body) in cases {
        let mock = server
            .mock_async(|when, then| {
                when.method(POST).path("/v2/link/token").header("x-vital-api-key", API_KEY);
                then.status(status).header("retry-after", "0").json_body(body);
            })
            .await;
        let err = provider.generate_link(&LinkRequest::new(UID, "oura")).await.unwrap_err();
        let ok = match status {
            400 => matches!(&err, Error::Provider { status: 400, code: Some(c), .. } if c == "INVALID_REQUEST"),
            422 => matches!(&err, Error::InvalidInput { field, .. } if field == "body.redirect_url"),
            s => is_typed_status(s, &err, &[]),
        };
        assert!(ok, "{status}: {err:?}");
        assert_eq!(err.provider(), Some("junction"));
        // Minting again is harmless (an unused token expires): 429 and 5xx are retried
        // (max_retries = 2), every other answer is final.
        let sent = if matches!(status, 429 | 500 | 503) { 3 } else { 1 };
        mock.assert_calls_async(sent).await;
        mock.delete_async().await;
        messages.push(err.to_string());
    }
    insta::assert_json_snapshot!("link_token_errors", messages);
}

/// A mock that answers only the first matching request (later ones fall through to the
/// mocks created after it).
async fn first_only<'a>(server: &'a MockServer, path: String, status: u16) -> httpmock::Mock<'a> {
    let seen = Arc::new(AtomicUsize::new(0));
    server
        .mock_async(move |when, then| {
            let wanted = path.clone();
            when.path(path).is_true(move |req| req.uri().path() == wanted && seen.fetch_add(1, Ordering::SeqCst) == 0);
            then.status(status).header("retry-after", "0").json_body(json!({"detail": "slow down"}));
        })
        .await
}

#[tokio::test]
async fn reads_retry_after_a_rate_limit() {
    let server = MockServer::start_async().await;
    let limited = first_only(&server, format!("/v2/user/providers/{UID}"), 429).await;
    let ok = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/v2/user/providers/{UID}")).header("x-vital-api-key", API_KEY);
            then.status(200).json_body(json!({"providers": [connected("oura", "2026-01-01T00:00:00Z")]}));
        })
        .await;
    let listed = direct(&server).list_connections(&ConnectionQuery::user(UID)).await.unwrap();
    assert_eq!(listed.len(), 1);
    limited.assert_calls_async(1).await;
    ok.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_link_token_lost_to_a_transient_fault_is_minted_again() {
    let server = MockServer::start_async().await;
    let busy = first_only(&server, "/v2/link/token".into(), 503).await;
    let (token, captured) = mock_link_token(&server, UID, Some("whoop"), "https://link.tryvital.io/?token=t").await;
    let link = direct(&server).generate_link(&LinkRequest::new(UID, "whoop")).await.unwrap();
    busy.assert_calls_async(1).await;
    token.assert_calls_async(1).await;
    assert_eq!(captured_state(&captured.lock().unwrap()[0]), link.state.expose());
}

#[tokio::test]
async fn user_creation_is_not_retried_on_409_it_carries_no_idempotency_key() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/user/resolve/app-user-9");
            then.status(404).json_body(json!({"detail": "User not found"}));
        })
        .await;
    let conflict = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/user").header("x-vital-api-key", API_KEY);
            then.status(409).header("retry-after", "0").json_body(json!({"detail": "in progress"}));
        })
        .await;
    let err = provider(&server).junction_user_id("app-user-9").await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    conflict.assert_calls_async(1).await;
}

#[tokio::test]
async fn user_creation_is_retried_because_a_conflict_resolves_to_the_existing_user() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/user/resolve/app-user-9");
            then.status(404).json_body(json!({"detail": "User not found"}));
        })
        .await;
    let busy = first_only(&server, "/v2/user".into(), 503).await;
    let created = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/user").json_body(json!({"client_user_id": "app-user-9"}));
            then.status(200).json_body(user_json(UID, "app-user-9"));
        })
        .await;
    assert_eq!(provider(&server).junction_user_id("app-user-9").await.unwrap(), UID);
    busy.assert_calls_async(1).await;
    created.assert_calls_async(1).await;
}

#[tokio::test]
async fn unreadable_answers_are_decode_errors() {
    let server = MockServer::start_async().await;
    let provider = direct(&server);
    for (body, what) in [
        ("<html>oops</html>", "malformed"),
        (r#"{"providers": [{"slug": "oura", "#, "truncated"),
        (r#"{"items": []}"#, "wrong shape"),
        (r#"{"providers": [{"name": "no slug"}]}"#, "record without slug"),
    ] {
        let mock = server
            .mock_async(|when, then| {
                when.method(GET).path(format!("/v2/user/providers/{UID}"));
                then.status(200).body(body);
            })
            .await;
        let err = provider.list_connections(&ConnectionQuery::user(UID)).await.unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{what}: {err:?}");
        mock.delete_async().await;
    }
    let err = {
        let mock = server
            .mock_async(|when, then| {
                when.method(GET).path(format!("/v2/user/providers/{UID}"));
                then.status(502).body("<html>Bad gateway</html>");
            })
            .await;
        let err = provider.list_connections(&ConnectionQuery::user(UID)).await.unwrap_err();
        mock.assert_calls_async(3).await;
        err
    };
    insta::assert_snapshot!("bad_gateway", err.to_string());
}

#[tokio::test]
async fn no_secret_in_debug_errors_or_snapshots() {
    let server = MockServer::start_async().await;
    let provider = direct(&server);
    // Junction echoing our secrets back must not put them in an error.
    let echo = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/link/token");
            then.status(401).json_body(json!({"detail": format!("Invalid API key {API_KEY}")}));
        })
        .await;
    let unauthenticated = provider.generate_link(&LinkRequest::new(UID, "oura")).await.unwrap_err();
    echo.delete_async().await;

    let token = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/link/token");
            then.status(200)
                .json_body(json!({"link_token": LINK_TOKEN, "link_web_url": "https://link.tryvital.io/?token=x"}));
        })
        .await;
    let oauth = server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/link/provider/oauth/oura").header("x-vital-link-token", LINK_TOKEN);
            then.status(422).json_body(json!({"detail": format!("token {LINK_TOKEN} is not valid for oura")}));
        })
        .await;
    let invalid = provider.generate_link(&LinkRequest::new(UID, "oura")).await.unwrap_err();
    assert!(matches!(invalid, Error::InvalidInput { .. }), "{invalid:?}");
    oauth.assert_calls_async(1).await;
    token.delete_async().await;

    let truncated = server
        .mock_async(|when, then| {
            when.method(POST).path("/v2/link/token");
            then.status(200).body(format!(r#"{{"link_token": "{LINK_TOKEN}", "link_web"#));
        })
        .await;
    let decode = provider.generate_link(&LinkRequest::new(UID, "oura")).await.unwrap_err();
    assert!(matches!(decode, Error::Decode { .. }), "{decode:?}");
    truncated.delete_async().await;

    let errors = [&unauthenticated, &invalid, &decode];
    let printed = format!(
        "{:?} {:?} {} {}",
        provider,
        provider.config(),
        serde_json::to_string(provider.config()).unwrap(),
        errors.iter().map(|e| format!("{e} {e:?}")).collect::<Vec<_>>().join(" ")
    );
    assert_hidden(&[API_KEY, LINK_TOKEN], &printed);
    insta::assert_json_snapshot!("scrubbed_errors", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>());
}

/// What a call sent (the team key on the authenticated client, the link token on the
/// public one) never shows in the error the client returns for it, whichever part of the
/// answer echoes it: a page that is not JSON, an error code, a field name, a decoded value.
/// The mapper does not scrub: the client does, from the sensitive headers it sent.
#[tokio::test]
async fn errors_never_show_what_the_call_sent() {
    let server = MockServer::start_async().await;
    let provider = direct(&server);
    let mut errors = Vec::new();

    // The public client: the link token travels as a header, and a 502 page echoes it.
    let (token, _) = mock_link_token(&server, UID, Some("oura"), "https://link.tryvital.io/?token=x").await;
    let page = server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/link/provider/oauth/oura").header("x-vital-link-token", LINK_TOKEN);
            then.status(502).body(format!("<html>bad gateway for {LINK_TOKEN}</html>"));
        })
        .await;
    let err = provider.generate_link(&LinkRequest::new(UID, "oura")).await.unwrap_err();
    assert!(matches!(err, Error::Provider { status: 502, .. }), "{err:?}");
    page.assert_calls_async(3).await;
    page.delete_async().await;
    token.delete_async().await;
    errors.push(err);

    // The authenticated client: the key echoed in an error code and message, then in a
    // validation error's field path.
    let echoes = [
        (400, json!({"detail": {"error_type": format!("BAD_{API_KEY}"), "error_message": format!("key {API_KEY}")}})),
        (422, json!({"detail": [{"loc": ["header", API_KEY], "msg": format!("{API_KEY} is not valid"), "type": "x"}]})),
    ];
    for (status, body) in echoes {
        let echo = server
            .mock_async(|when, then| {
                when.method(POST).path("/v2/link/token").header("x-vital-api-key", API_KEY);
                then.status(status).json_body(body);
            })
            .await;
        let err = provider.generate_link(&LinkRequest::new(UID, "oura")).await.unwrap_err();
        echo.assert_calls_async(1).await;
        echo.delete_async().await;
        errors.push(err);
    }
    assert!(matches!(&errors[1], Error::Provider { status: 400, code: Some(_), .. }), "{:?}", errors[1]);
    assert!(matches!(&errors[2], Error::InvalidInput { .. }), "{:?}", errors[2]);

    // A 2xx answer whose user_id (no UUID) echoes the key: the adapter's own decode error.
    let resolve = server
        .mock_async(|when, then| {
            when.method(GET).path("/v2/user/resolve/app-user-9").header("x-vital-api-key", API_KEY);
            then.status(200).json_body(user_json(&format!("user {API_KEY}"), "app-user-9"));
        })
        .await;
    let err = crate::provider(&server).junction_user_id("app-user-9").await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    resolve.assert_calls_async(1).await;
    errors.push(err);

    for err in &errors {
        let printed = format!("{err} {err:?}");
        assert_hidden(&[API_KEY, LINK_TOKEN], &printed);
        assert!(printed.contains("[redacted]"), "the echo is in the error, scrubbed: {printed}");
    }
}

#[test]
fn default_hosts_need_no_network() {
    let cases = [
        (Environment::Production, Region::Us, "https://api.us.junction.com/"),
        (Environment::Production, Region::Eu, "https://api.eu.junction.com/"),
        (Environment::Sandbox, Region::Us, "https://api.sandbox.us.junction.com/"),
        (Environment::Sandbox, Region::Eu, "https://api.sandbox.eu.junction.com/"),
    ];
    for (environment, region, host) in cases {
        let config = JunctionConfig::new(API_KEY).with_environment(environment).with_region(region);
        let provider = JunctionProvider::new(config, LinkContext::ephemeral()).unwrap();
        assert_eq!(provider.base_url().as_str(), host);
        assert_eq!(provider.capabilities().regions, ["us", "eu"]);
    }
}
