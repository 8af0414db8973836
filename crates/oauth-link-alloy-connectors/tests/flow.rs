//! generate_link, both callback modes, list_connections and disconnect against httpmock.

mod support;

use oauth_link_core::config::AdapterConfig;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{Duration as ChronoDuration, SecondsFormat, Utc};
use httpmock::prelude::*;
use oauth_link_alloy_connectors::{AlloyConnectorsProvider, CallbackMode, KIND};
use oauth_link_core::http::{
    HttpRequest, HttpResponse, HttpSettings, HttpTransport, ReqwestTransport, TransportFailure,
};
use oauth_link_core::{
    Callback, ConnectionQuery, Error, Link, LinkContext, LinkProvider, LinkRequest, StateToken, Url,
};
use oauth_link_testkit::alloy::mock_delete;
use serde_json::{json, Value};
use support::*;

fn iso(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn redirect_with(state: &StateToken) -> String {
    let mut url = Url::parse(REDIRECT).unwrap();
    url.query_pairs_mut().append_pair("oauth_link_state", state.expose());
    url.to_string()
}

/// Mocks the create call (recording bodies) and generates a link for `user`/`connector`,
/// the user having no credential of the connector yet.
async fn link_for(
    server: &MockServer,
    p: &AlloyConnectorsProvider,
    request: &LinkRequest,
    credential_id: Option<&str>,
) -> (Link, Value) {
    link_with(server, p, request, credential_id, &[]).await
}

/// [`link_for`] with the connector credentials the user has when the link is made (read
/// once, pinned, for the watermark).
async fn link_with(
    server: &MockServer,
    p: &AlloyConnectorsProvider,
    request: &LinkRequest,
    credential_id: Option<&str>,
    before: &[Value],
) -> (Link, Value) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let mut answer = json!({"oauthUrl": format!(
        "https://api.runalloy.com/api/strategy/connector/{}/authorize?userId={}", request.target, request.user)});
    if let Some(id) = credential_id {
        answer["credentialId"] = json!(id);
    }
    let path = format!("/connectors/{}/credentials", request.target);
    let create = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(path.as_str())
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("content-type", "application/json")
                .header_missing("x-alloy-userid")
                .query_param_count(".*", ".*", 0);
            then.respond_with(recording(bodies.clone(), json_response(200, answer.clone())));
        })
        .await;
    let watermark = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(path.as_str())
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("x-alloy-userid", request.user.as_str())
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"credentials": before}));
        })
        .await;
    let link = p.generate_link(request).await.unwrap();
    create.assert_calls_async(1).await;
    watermark.assert_calls_async(1).await;
    create.delete_async().await;
    watermark.delete_async().await;
    let body = bodies.lock().unwrap().pop().unwrap();
    (link, body)
}

#[tokio::test]
async fn generate_link_posts_the_documented_body_with_the_state_on_the_redirect() {
    let server = MockServer::start_async().await;
    let p = provider(&server);
    let (link, body) = link_for(&server, &p, &LinkRequest::new("u-1", "slack"), None).await;
    assert_eq!(
        body,
        json!({"userId": "u-1", "authenticationType": "oauth2", "redirectUri": redirect_with(&link.state)})
    );
    assert!(p.capabilities().state_in_redirect());
    insta::assert_json_snapshot!("link", link, { ".state" => "[state]", ".expires_at" => "[ts]" });
}

#[tokio::test]
async fn request_redirect_auth_config_and_params_are_sent() {
    let server = MockServer::start_async().await;
    let p = provider_with(config(&server).with_auth_config_id("ac-9"), LinkContext::ephemeral());
    let request = LinkRequest::new("u-2", "hubspot")
        .with_redirect_uri(Url::parse("http://localhost:3000/cb?oauth_link_state=stale&x=1").unwrap())
        .with_param("portal", "42");
    let (link, body) = link_for(&server, &p, &request, Some("cred-abc")).await;
    let mut expected = Url::parse("http://localhost:3000/cb?x=1").unwrap();
    expected.query_pairs_mut().append_pair("oauth_link_state", link.state.expose());
    assert_eq!(
        body,
        json!({"userId": "u-2", "authenticationType": "oauth2", "redirectUri": expected.as_str(),
            "authConfigId": "ac-9", "data": {"portal": "42"}})
    );
}

#[tokio::test]
async fn redirect_rule_is_checked_before_anything_is_sent() {
    let server = MockServer::start_async().await;
    // Created first: httpmock answers with the first mock that matches.
    let lists = mock_no_credentials(&server).await;
    let any = server
        .mock_async(|when, then| {
            when.path_matches(".*");
            then.status(200).json_body(json!({"oauthUrl": "https://x.invalid/"}));
        })
        .await;
    let p = provider(&server);
    for uri in ["http://app.example.com/cb", "ftp://app.example.com/cb", "https://app.example.com/cb#frag"] {
        let request = LinkRequest::new("u-1", "slack").with_redirect_uri(Url::parse(uri).unwrap());
        let err = p.generate_link(&request).await.unwrap_err();
        assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "redirect_uri"), "{uri}: {err:?}");
    }
    let no_default = provider_with(
        oauth_link_alloy_connectors::AlloyConnectorsConfig::new(KEY)
            .with_base_url(Url::parse(&server.base_url()).unwrap()),
        LinkContext::ephemeral(),
    );
    let err = no_default.generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "redirect_uri"), "{err:?}");
    insta::assert_snapshot!("redirect_required", err.to_string());
    let bad_default = provider_with(
        config(&server).with_redirect_uri(Url::parse("http://192.168.1.5/cb").unwrap()),
        LinkContext::ephemeral(),
    );
    assert!(matches!(
        bad_default.generate_link(&LinkRequest::new("u-1", "slack")).await,
        Err(Error::InvalidInput { .. })
    ));
    for request in [LinkRequest::new("", "slack"), LinkRequest::new("u-1", "a\tb")] {
        assert!(matches!(p.generate_link(&request).await, Err(Error::InvalidInput { .. })));
    }
    any.assert_calls_async(0).await;
    lists.assert_calls_async(0).await;
    for uri in ["http://localhost:8080/cb", "http://127.0.0.1/cb", "http://[::1]:9/cb"] {
        let request = LinkRequest::new("u-1", "slack").with_redirect_uri(Url::parse(uri).unwrap());
        p.generate_link(&request).await.unwrap();
    }
    any.assert_calls_async(3).await;
    lists.assert_calls_async(3).await;
}

#[tokio::test]
async fn list_mode_polls_until_the_new_credential_appears() {
    let server = MockServer::start_async().await;
    let p = provider(&server);
    let now = Utc::now();
    let old = json!({"credentialId": "cred-old", "name": "Old", "type": "slack-oauth2",
        "createdAt": iso(now - ChronoDuration::days(1)), "updatedAt": iso(now - ChronoDuration::days(1))});
    let (link, _) = link_with(&server, &p, &LinkRequest::new("u-3", "slack"), None, std::slice::from_ref(&old)).await;
    let new = json!({"credentialId": "cred-new", "name": "Slack", "type": "slack-oauth2",
        "createdAt": iso(now), "updatedAt": iso(now), "token": "xoxb-secret"});
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/connectors/slack/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("x-alloy-userid", "u-3")
                .query_param_count(".*", ".*", 0);
            then.respond_with(sequence(
                1,
                json_response(200, json!({"credentials": [old.clone()]})),
                json_response(200, json!({"credentials": [old.clone(), new.clone()]})),
            ));
        })
        .await;
    let callback = Callback::from_url(KIND, &redirect_with(&link.state)).unwrap();
    let connection = p.complete_callback(&callback).await.unwrap();
    list.assert_calls_async(2).await;
    assert_eq!((connection.id.as_str(), connection.target.as_str()), ("cred-new", "slack"));
    assert!(!connection.raw.to_string().contains("xoxb-secret"));
    insta::assert_json_snapshot!("list_mode_connection", connection, {
        ".created_at" => "[ts]", ".updated_at" => "[ts]", ".raw.createdAt" => "[ts]", ".raw.updatedAt" => "[ts]"
    });
    let replay = p.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(replay, Error::StateReplayed { .. }), "{replay:?}");
    list.assert_calls_async(2).await;
}

#[tokio::test]
async fn list_mode_prefers_the_credential_id_from_generate_link() {
    let server = MockServer::start_async().await;
    let p = provider(&server);
    let (link, _) = link_for(&server, &p, &LinkRequest::new("u-4", "notion"), Some("cred-mine")).await;
    let now = Utc::now();
    server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/notion/credentials").header("x-alloy-userid", "u-4");
            then.status(200).json_body(json!({"credentials": [
                {"credentialId": "cred-mine", "type": "notion-oauth2", "createdAt": iso(now)},
                {"credentialId": "cred-newer", "type": "notion-oauth2", "createdAt": iso(now + ChronoDuration::seconds(5))}]}));
        })
        .await;
    let connection =
        p.complete_callback(&Callback::from_url(KIND, &redirect_with(&link.state)).unwrap()).await.unwrap();
    assert_eq!(connection.id, "cred-mine");
}

#[tokio::test]
async fn list_mode_times_out_with_pending() {
    let server = MockServer::start_async().await;
    let p = provider(&server);
    // Created a moment ago (within any clock skew), but before the link: not the link's.
    let old = json!({"credentialId": "cred-old", "type": "slack-oauth2", "createdAt": iso(Utc::now())});
    let (link, _) = link_with(&server, &p, &LinkRequest::new("u-5", "slack"), None, std::slice::from_ref(&old)).await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/slack/credentials").header("x-alloy-userid", "u-5");
            then.status(200).json_body(json!({"credentials": [old]}));
        })
        .await;
    let callback = Callback::from_url(KIND, &redirect_with(&link.state)).unwrap();
    let err = p.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(err, Error::Pending { .. }) && err.is_retryable(), "{err:?}");
    assert!(list.calls_async().await >= 2);
    insta::assert_snapshot!("pending", err.to_string());
    // The state was released: the same callback may be completed again (still pending here).
    assert!(matches!(p.complete_callback(&callback).await, Err(Error::Pending { .. })));
}

#[tokio::test]
async fn exchange_mode_posts_code_and_state_once() {
    let server = MockServer::start_async().await;
    let p = provider_with(config(&server).with_callback_mode(CallbackMode::Exchange), LinkContext::ephemeral());
    let (link, _) = link_for(&server, &p, &LinkRequest::new("u-6", "notion"), None).await;
    let exchange = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/connectors/notion/credentials/callback")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("content-type", "application/json")
                .json_body(json!({"code": "auth-code-123456", "state": "alloy-state-9"}));
            then.status(200).json_body(json!({"connectionId": "conn_abc", "credentialId": "cred_abc",
                "status": "connected"}));
        })
        .await;
    let url = format!("{}&code=auth-code-123456&state=alloy-state-9", redirect_with(&link.state));
    let callback = Callback::from_url(KIND, &url).unwrap();
    let connection = p.complete_callback(&callback).await.unwrap();
    exchange.assert_calls_async(1).await;
    insta::assert_json_snapshot!("exchange_connection", connection);
    assert!(matches!(p.complete_callback(&callback).await, Err(Error::StateReplayed { .. })));
    exchange.assert_calls_async(1).await;
}

#[tokio::test]
async fn exchange_is_never_retried_even_on_503() {
    let server = MockServer::start_async().await;
    let p = provider_with(config(&server).with_callback_mode(CallbackMode::Exchange), LinkContext::ephemeral());
    let (link, _) = link_for(&server, &p, &LinkRequest::new("u-7", "notion"), None).await;
    let exchange = server
        .mock_async(|when, then| {
            when.method(POST).path("/connectors/notion/credentials/callback");
            then.status(503)
                .header("retry-after", "0")
                .json_body(json!({"message": "code auth-code-123456 could not be exchanged"}));
        })
        .await;
    let url = format!("{}&code=auth-code-123456", redirect_with(&link.state));
    let err = p.complete_callback(&Callback::from_url(KIND, &url).unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::Provider { status: 503, .. }), "{err:?}");
    assert!(!err.to_string().contains("auth-code-123456"), "{err}");
    exchange.assert_calls_async(1).await;
}

#[tokio::test]
async fn exchange_without_code_confirms_by_listing() {
    // No `code` on the redirect (the user left, or Alloy adds none): nothing to exchange,
    // so completion lists like the `list` mode, and never takes an older credential.
    let server = MockServer::start_async().await;
    let p = provider_with(config(&server).with_callback_mode(CallbackMode::Exchange), LinkContext::ephemeral());
    let old = json!({"credentialId": "cred-old", "type": "notion-oauth2", "createdAt": iso(Utc::now())});
    let (link, _) = link_with(&server, &p, &LinkRequest::new("u-8", "notion"), None, std::slice::from_ref(&old)).await;
    let exchange = server
        .mock_async(|when, then| {
            when.method(POST).path_includes("/callback");
            then.status(200).json_body(json!({"credentialId": "never"}));
        })
        .await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/connectors/notion/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("x-alloy-userid", "u-8");
            then.status(200).json_body(json!({"credentials": [old]}));
        })
        .await;
    let callback = Callback::from_url(KIND, &redirect_with(&link.state)).unwrap();
    let err = p.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(err, Error::Pending { .. }), "{err:?}");
    assert!(list.calls_async().await >= 2);
    exchange.assert_calls_async(0).await;
}

#[tokio::test]
async fn consent_denied_is_typed_and_sends_nothing() {
    for mode in [CallbackMode::List, CallbackMode::Exchange] {
        let server = MockServer::start_async().await;
        let p = provider_with(config(&server).with_callback_mode(mode), LinkContext::ephemeral());
        let (link, _) = link_for(&server, &p, &LinkRequest::new("u-9", "slack"), None).await;
        let any = server
            .mock_async(|when, then| {
                when.path_matches(".*");
                then.status(200).json_body(json!({"credentials": []}));
            })
            .await;
        let url = format!("{}&error=access_denied&error_description=User+denied+access", redirect_with(&link.state));
        let err = p.complete_callback(&Callback::from_url(KIND, &url).unwrap()).await.unwrap_err();
        assert!(matches!(&err, Error::Denied { code, .. } if code == "access_denied"), "{err:?}");
        insta::assert_snapshot!("denied", err.to_string());
        any.assert_calls_async(0).await;
    }
}

#[tokio::test]
async fn tampered_foreign_and_replayed_states_are_rejected_before_any_call() {
    let server = MockServer::start_async().await;
    let p = provider(&server);
    let (link, _) = link_for(&server, &p, &LinkRequest::new("u-10", "slack"), None).await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/slack/credentials");
            then.status(200).json_body(json!({"credentials": [
                {"credentialId": "cred-1", "type": "slack-oauth2", "createdAt": iso(Utc::now())}]}));
        })
        .await;
    let genuine = redirect_with(&link.state);
    let mut tampered_state = link.state.expose().to_owned();
    let last = tampered_state.pop().unwrap();
    tampered_state.push(if last == 'A' { 'B' } else { 'A' });
    let tampered = redirect_with(&StateToken::new(tampered_state));
    let err = p.complete_callback(&Callback::from_url(KIND, &tampered).unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::StateInvalid { .. }), "{err:?}");
    insta::assert_snapshot!("tampered", err.to_string());
    let other = LinkContext::ephemeral();
    let foreign = redirect_with(&other.sign(&other.claims(KIND, "u-10", "slack")));
    assert!(matches!(
        p.complete_callback(&Callback::from_url(KIND, &foreign).unwrap()).await,
        Err(Error::StateInvalid { .. })
    ));
    let mixed = Callback::from_url(KIND, &genuine).unwrap().with_state(StateToken::new("something-else"));
    assert!(matches!(p.complete_callback(&mixed).await, Err(Error::StateInvalid { .. })));
    list.assert_calls_async(0).await;
    p.complete_callback(&Callback::from_url(KIND, &genuine).unwrap()).await.unwrap();
    let err = p.complete_callback(&Callback::from_url(KIND, &genuine).unwrap()).await.unwrap_err();
    assert!(matches!(err, Error::StateReplayed { .. }), "{err:?}");
    list.assert_calls_async(1).await;
}

#[tokio::test]
async fn list_connections_per_target_or_configured_connectors() {
    let server = MockServer::start_async().await;
    let slack = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/connectors/slack/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("x-alloy-userid", "u-11")
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"credentials": [{"credentialId": "c-s", "name": "Team Slack",
                "type": "slack-oauth2", "createdAt": "2025-09-01T12:00:00.000Z", "updatedAt": "2025-09-02T12:00:00.000Z"}]}));
        })
        .await;
    let notion = server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/notion/credentials").header("x-alloy-userid", "u-11");
            then.status(200).json_body(json!({"credentials": [{"credentialId": "c-n", "name": "Wiki",
                "type": "notion-oauth2", "createdAt": "2025-09-03T12:00:00Z"}]}));
        })
        .await;
    let p = provider_with(config(&server).with_connectors(["slack", "notion"]), LinkContext::ephemeral());
    let all = p.list_connections(&ConnectionQuery::user("u-11")).await.unwrap();
    insta::assert_json_snapshot!("connections", all);
    let only = p.list_connections(&ConnectionQuery::user("u-11").with_target("notion")).await.unwrap();
    assert_eq!(only.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["c-n"]);
    slack.assert_calls_async(1).await;
    notion.assert_calls_async(2).await;

    let bare = provider(&server);
    let err = bare.list_connections(&ConnectionQuery::user("u-11")).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "target"), "{err:?}");
    insta::assert_snapshot!("no_target", err.to_string());
    slack.assert_calls_async(1).await;
}

#[tokio::test]
async fn disconnect_deletes_the_credential() {
    let server = MockServer::start_async().await;
    let delete = mock_delete(&server, AUTH, "/users/u-12/credentials/c-s", json!({"success": true})).await;
    let p = provider(&server);
    p.disconnect("u-12", "c-s").await.unwrap();
    delete.assert_calls_async(1).await;
    assert!(matches!(p.disconnect("u-12", " ").await, Err(Error::InvalidInput { .. })));
    delete.assert_calls_async(1).await;
}

/// Holds every request until `parties` requests are in flight at once (or a timeout
/// passes), then sends it on: a sequential caller never gets them together.
#[derive(Debug)]
struct MeetInFlight {
    inner: ReqwestTransport,
    parties: usize,
    in_flight: AtomicUsize,
    met: AtomicBool,
}

#[async_trait::async_trait]
impl HttpTransport for MeetInFlight {
    async fn send(&self, request: HttpRequest, max_body: usize) -> Result<HttpResponse, TransportFailure> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
        while tokio::time::Instant::now() < deadline && !self.met.load(Ordering::SeqCst) {
            if self.in_flight.load(Ordering::SeqCst) >= self.parties {
                self.met.store(true, Ordering::SeqCst);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let response = self.inner.send(request, max_body).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        response
    }
}

#[tokio::test]
async fn list_connections_asks_every_connector_at_once_and_keeps_their_order() {
    let server = MockServer::start_async().await;
    let connectors = ["slack", "notion", "hubspot"];
    let mut mocks = Vec::new();
    for (n, connector) in connectors.iter().enumerate() {
        mocks.push(
            server
                .mock_async(|when, then| {
                    when.method(GET)
                        .path(format!("/connectors/{connector}/credentials"))
                        .header("authorization", AUTH)
                        .header("x-api-version", VERSION)
                        .header("x-alloy-userid", "u-13")
                        .query_param_count(".*", ".*", 0);
                    // The first connector answers last.
                    then.status(200)
                        .delay(std::time::Duration::from_millis(60 * (connectors.len() - n) as u64))
                        .json_body(json!({"credentials": [{"credentialId": format!("c-{connector}"),
                            "type": format!("{connector}-oauth2"), "createdAt": "2025-09-01T12:00:00Z"}]}));
                })
                .await,
        );
    }
    let transport = Arc::new(MeetInFlight {
        inner: ReqwestTransport::new(&HttpSettings::default()).unwrap(),
        parties: connectors.len(),
        in_flight: AtomicUsize::new(0),
        met: AtomicBool::new(false),
    });
    let ctx = LinkContext::ephemeral().with_transport(transport.clone());
    let p = provider_with(config(&server).with_connectors(connectors), ctx);
    let all = p.list_connections(&ConnectionQuery::user("u-13")).await.unwrap();
    assert!(transport.met.load(Ordering::SeqCst), "the connectors' requests were not in flight together");
    assert_eq!(all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["c-slack", "c-notion", "c-hubspot"]);
    for mock in &mocks {
        mock.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn list_connections_fails_with_the_first_failing_connector_in_order() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/slack/credentials");
            then.status(200).json_body(json!({"credentials": []}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/notion/credentials");
            then.status(401).json_body(json!({"message": "Invalid API key"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/connectors/hubspot/credentials");
            then.status(404).json_body(json!({"message": "Connector not found"}));
        })
        .await;
    let p = provider_with(config(&server).with_connectors(["slack", "notion", "hubspot"]), LinkContext::ephemeral());
    let err = p.list_connections(&ConnectionQuery::user("u-14")).await.unwrap_err();
    assert!(matches!(err, Error::Unauthenticated { .. }), "{err:?}");
}
