//! generate_link, complete_callback, list_connections and disconnect against httpmock.

mod support;

use std::sync::Arc;

use chrono::{Duration as ChronoDuration, SecondsFormat, Utc};
use httpmock::prelude::*;
use oauth_link_core::{
    clock::ManualClock, Callback, ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest, MemoryReplayGuard,
    StateCodec, StateKeys, Url,
};
use oauth_link_testkit::alloy::mock_delete;
use serde_json::json;
use support::*;

fn iso(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[tokio::test]
async fn generate_link_checks_metadata_then_sends_user_app_and_properties() {
    let server = MockServer::start_async().await;
    let metadata = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/metadata/credentials/shopify")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"data": {"connector": "shopify", "icon": "https://cdn/x.png",
                "isOauth": true, "properties": [{"name": "shopSubdomain", "displayName": "Shop Subdomain"}]}}));
        })
        .await;
    let oauth = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/headless/oauthUrl")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param("userId", "u-42")
                .query_param("app", "shopify")
                .query_param("shopSubdomain", "my-shoe-store")
                .query_param_count(".*", ".*", 3);
            then.status(200).json_body(json!({"oauthUrl":
                "https://api.runalloy.com/api/strategy/shopify/authorize?userId=u-42&shopSubdomain=my-shoe-store"}));
        })
        .await;
    let watermark = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/credentials/users/u-42")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"data": []}));
        })
        .await;
    let provider = provider(&server);
    let request = LinkRequest::new("u-42", "shopify").with_param("shopSubdomain", "my-shoe-store");
    let link = provider.generate_link(&request).await.unwrap();
    metadata.assert_calls_async(1).await;
    oauth.assert_calls_async(1).await;
    watermark.assert_calls_async(1).await;
    assert_eq!(link.url.host_str(), Some("api.runalloy.com"));
    assert!(link.expires_at > Utc::now());
    insta::assert_json_snapshot!("link_flat", link, { ".state" => "[state]", ".expires_at" => "[ts]" });
}

#[tokio::test]
async fn wrapped_oauth_url_and_name_metadata_are_read() {
    let server = MockServer::start_async().await;
    let metadata = server
        .mock_async(|when, then| {
            when.method(GET).path("/metadata/credentials/slack");
            then.status(200).json_body(json!({"data": {"name": "slack", "isOauth": true, "properties": []}}));
        })
        .await;
    let oauth = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/headless/oauthUrl")
                .query_param("userId", "u-1")
                .query_param("app", "slack")
                .query_param_count(".*", ".*", 2);
            then.status(200).json_body(
                json!({"data": {"oauthUrl": "https://api.runalloy.com/api/strategy/slack/authorize?userId=u-1"}}),
            );
        })
        .await;
    mock_no_credentials(&server).await;
    let link = provider(&server).generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap();
    metadata.assert_calls_async(1).await;
    oauth.assert_calls_async(1).await;
    insta::assert_json_snapshot!("link_wrapped", link, { ".state" => "[state]", ".expires_at" => "[ts]" });
}

#[tokio::test]
async fn missing_property_fails_naming_it_and_sends_no_link_request() {
    let server = MockServer::start_async().await;
    let metadata = server
        .mock_async(|when, then| {
            when.method(GET).path("/metadata/credentials/shopify");
            then.status(200).json_body(json!({"data": {"connector": "shopify", "isOauth": true,
                "properties": [{"name": "shopSubdomain", "displayName": "Shop Subdomain"}, {"name": "region"}]}}));
        })
        .await;
    let oauth = server
        .mock_async(|when, then| {
            when.method(GET).path("/headless/oauthUrl");
            then.status(200).json_body(json!({"oauthUrl": "https://x.invalid/"}));
        })
        .await;
    let err = provider(&server)
        .generate_link(&LinkRequest::new("u-1", "shopify").with_param("region", "eu"))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "params"), "{err:?}");
    assert!(err.to_string().contains("shopSubdomain"), "{err}");
    assert!(!err.to_string().contains("`region`"), "{err}");
    metadata.assert_calls_async(1).await;
    oauth.assert_calls_async(0).await;
    insta::assert_snapshot!("missing_property", err.to_string());
}

#[tokio::test]
async fn non_oauth_app_points_to_the_credentials_endpoint() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/metadata/credentials/netsuite");
            then.status(200).json_body(json!({"data": {"connector": "netsuite", "isOauth": false,
                "properties": [{"name": "realm"}]}}));
        })
        .await;
    let oauth = server
        .mock_async(|when, then| {
            when.method(GET).path("/headless/oauthUrl");
            then.status(200).json_body(json!({"oauthUrl": "https://x.invalid/"}));
        })
        .await;
    let err = provider(&server).generate_link(&LinkRequest::new("u-1", "netsuite")).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "target"), "{err:?}");
    assert!(err.to_string().contains("POST /headless/credentials"), "{err}");
    oauth.assert_calls_async(0).await;
}

#[tokio::test]
async fn metadata_check_can_be_turned_off() {
    let server = MockServer::start_async().await;
    let metadata = server
        .mock_async(|when, then| {
            when.method(GET).path_prefix("/metadata");
            then.status(500);
        })
        .await;
    let oauth = server
        .mock_async(|when, then| {
            when.method(GET).path("/headless/oauthUrl").query_param("app", "shopify");
            then.status(200).json_body(json!({"oauthUrl": "https://api.runalloy.com/a"}));
        })
        .await;
    mock_no_credentials(&server).await;
    let p = provider_with(config(&server).with_check_metadata(false), LinkContext::ephemeral());
    p.generate_link(&LinkRequest::new("u-1", "shopify").with_param("shopSubdomain", "s")).await.unwrap();
    metadata.assert_calls_async(0).await;
    oauth.assert_calls_async(1).await;
}

#[tokio::test]
async fn invalid_input_sends_nothing() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.path_matches(".*");
            then.status(200).json_body(json!({}));
        })
        .await;
    let p = provider(&server);
    for request in [
        LinkRequest::new("", "shopify"),
        LinkRequest::new("u\n1", "shopify"),
        LinkRequest::new("u-1", " "),
        LinkRequest::new("u-1", "shopify").with_param("userId", "someone-else"),
        LinkRequest::new("u-1", "shopify").with_param("app", "slack"),
        LinkRequest::new("u-1", "shopify").with_redirect_uri(Url::parse("http://example.com/cb").unwrap()),
    ] {
        let err = p.generate_link(&request).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{request:?}: {err:?}");
    }
    assert!(matches!(p.list_connections(&ConnectionQuery::user(" ")).await, Err(Error::InvalidInput { .. })));
    assert!(matches!(p.disconnect("u-1", "").await, Err(Error::InvalidInput { .. })));
    assert!(matches!(p.disconnect("", "c1").await, Err(Error::InvalidInput { .. })));
    assert!(matches!(p.complete_callback(&Callback::default()).await, Err(Error::StateInvalid { .. })));
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn completion_polls_until_the_new_credential_appears() {
    let server = MockServer::start_async().await;
    let p = provider(&server);
    mock_metadata(&server, "shopify", &[]).await;
    mock_any_oauth_url(&server).await;
    let now = Utc::now();
    let old = json!({"credentialId": "cred-old", "type": "shopify", "name": "Old shop",
        "createdAt": iso(now - ChronoDuration::hours(2)), "updatedAt": iso(now - ChronoDuration::hours(2))});
    let other = json!({"credentialId": "cred-slack", "type": "slack", "createdAt": iso(now)});
    let new = json!({"credentialId": "cred-new", "type": "Shopify", "name": "My shop",
        "createdAt": iso(now), "updatedAt": iso(now), "accessToken": "at-secret-value"});
    // Read once by generate_link (the watermark), then twice before the new one shows.
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/credentials/users/u-7")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.respond_with(sequence(
                3,
                json_response(200, json!({"data": [old.clone(), other.clone()]})),
                json_response(200, json!({"data": [old.clone(), other.clone(), new.clone()]})),
            ));
        })
        .await;
    let link = p.generate_link(&LinkRequest::new("u-7", "shopify")).await.unwrap();
    list.assert_calls_async(1).await;
    let connection = p.complete_callback(&Callback::from_state(link.state.clone())).await.unwrap();
    list.assert_calls_async(4).await;
    assert_eq!(connection.id, "cred-new");
    assert_eq!(connection.user, "u-7");
    assert!(!connection.raw.to_string().contains("at-secret-value"));
    insta::assert_json_snapshot!("completed_connection", connection, {
        ".created_at" => "[ts]", ".updated_at" => "[ts]", ".raw.createdAt" => "[ts]", ".raw.updatedAt" => "[ts]"
    });
    let replay = p.complete_callback(&Callback::from_state(link.state)).await.unwrap_err();
    assert!(matches!(replay, Error::StateReplayed { .. }), "{replay:?}");
    list.assert_calls_async(4).await;
}

#[tokio::test]
async fn completion_times_out_with_pending_and_the_state_can_be_retried() {
    let server = MockServer::start_async().await;
    mock_any_oauth_url(&server).await;
    let p = provider_with(config(&server).with_check_metadata(false), LinkContext::ephemeral());
    // Created a moment ago: within any clock skew, but listed before the link, so not its.
    let stale = json!({"credentialId": "cred-stale", "type": "hubspot", "createdAt": iso(Utc::now())});
    let empty = server
        .mock_async(|when, then| {
            when.method(GET).path("/credentials/users/u-8");
            then.status(200).json_body(json!({"data": [stale.clone()]}));
        })
        .await;
    let link = p.generate_link(&LinkRequest::new("u-8", "hubspot")).await.unwrap();
    let started = std::time::Instant::now();
    let err = p.complete_callback(&Callback::from_state(link.state.clone())).await.unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(matches!(err, Error::Pending { .. }) && err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("`hubspot`"), "{err}");
    assert!(empty.calls_async().await >= 3, "polling must look more than once");
    insta::assert_snapshot!("pending", err.to_string());
    empty.delete_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/credentials/users/u-8");
            then.status(200)
                .json_body(json!({"data": [stale.clone(), {"credentialId": "cred-fresh", "type": "hubspot",
                "createdAt": iso(Utc::now() + ChronoDuration::milliseconds(5))}]}));
        })
        .await;
    let connection = p.complete_callback(&Callback::from_state(link.state)).await.unwrap();
    assert_eq!(connection.id, "cred-fresh");
}

#[tokio::test]
async fn a_relinked_credential_updated_after_the_link_counts() {
    let server = MockServer::start_async().await;
    mock_any_oauth_url(&server).await;
    let p = provider_with(config(&server).with_check_metadata(false), LinkContext::ephemeral());
    let at = Utc::now() - ChronoDuration::hours(1);
    let before = json!({"credentialId": "cred-1", "type": "notion", "createdAt": iso(at), "updatedAt": iso(at)});
    let after = json!({"credentialId": "cred-1", "type": "notion", "createdAt": iso(at),
        "updatedAt": iso(at + ChronoDuration::minutes(30))});
    server
        .mock_async(|when, then| {
            when.method(GET).path("/credentials/users/u-9");
            then.respond_with(sequence(
                1,
                json_response(200, json!({"data": [before]})),
                json_response(200, json!({"data": [after]})),
            ));
        })
        .await;
    let link = p.generate_link(&LinkRequest::new("u-9", "notion")).await.unwrap();
    assert_eq!(p.complete_callback(&Callback::from_state(link.state)).await.unwrap().id, "cred-1");
}

#[tokio::test]
async fn alloy_clock_behind_the_app_is_no_problem() {
    // The user had no Notion credential when the link was issued, so the one listed after
    // is the link's, whatever its createdAt says.
    let server = MockServer::start_async().await;
    mock_any_oauth_url(&server).await;
    let p = provider_with(config(&server).with_check_metadata(false), LinkContext::ephemeral());
    let behind = json!({"credentialId": "cred-behind", "type": "notion",
        "createdAt": iso(Utc::now() - ChronoDuration::minutes(10))});
    server
        .mock_async(|when, then| {
            when.method(GET).path("/credentials/users/u-9");
            then.respond_with(sequence(
                1,
                json_response(200, json!({"data": []})),
                json_response(200, json!({"data": [behind]})),
            ));
        })
        .await;
    let link = p.generate_link(&LinkRequest::new("u-9", "notion")).await.unwrap();
    assert_eq!(p.complete_callback(&Callback::from_state(link.state)).await.unwrap().id, "cred-behind");
}

#[tokio::test]
async fn a_state_without_watermark_uses_the_clock_skew() {
    // States issued by an earlier version carry no watermark: a credential created within
    // clock_skew_ms before the link counts, an older one does not.
    let server = MockServer::start_async().await;
    let ctx = LinkContext::ephemeral();
    let p = provider_with(config(&server), ctx.clone());
    server
        .mock_async(|when, then| {
            when.method(GET).path("/credentials/users/u-9");
            then.status(200).json_body(json!({"data": [
                {"credentialId": "cred-skewed", "type": "notion", "createdAt": iso(Utc::now() - ChronoDuration::seconds(30))},
                {"credentialId": "cred-old", "type": "notion", "createdAt": iso(Utc::now() - ChronoDuration::minutes(5))}]}));
        })
        .await;
    let state = ctx.sign(&ctx.claims(oauth_link_alloy_headless::KIND, "u-9", "notion"));
    assert_eq!(p.complete_callback(&Callback::from_state(state)).await.unwrap().id, "cred-skewed");
    let server = MockServer::start_async().await;
    let p = provider_with(config(&server), ctx.clone());
    server
        .mock_async(|when, then| {
            when.method(GET).path("/credentials/users/u-9");
            then.status(200).json_body(json!({"data": [
                {"credentialId": "cred-old", "type": "notion", "createdAt": iso(Utc::now() - ChronoDuration::minutes(5))}]}));
        })
        .await;
    let state = ctx.sign(&ctx.claims(oauth_link_alloy_headless::KIND, "u-9", "notion"));
    assert!(matches!(p.complete_callback(&Callback::from_state(state)).await, Err(Error::Pending { .. })));
}

#[tokio::test]
async fn callback_error_is_denied_without_listing() {
    let server = MockServer::start_async().await;
    mock_any_oauth_url(&server).await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path_includes("credentials");
            then.status(200).json_body(json!({"data": []}));
        })
        .await;
    let p = provider_with(config(&server).with_check_metadata(false), LinkContext::ephemeral());
    let link = p.generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap();
    // generate_link read the watermark; completion lists nothing.
    list.assert_calls_async(1).await;
    let callback = Callback::from_query(
        oauth_link_alloy_headless::KIND,
        "error=access_denied&error_description=The+user+cancelled",
    )
    .unwrap()
    .with_state(link.state);
    let err = p.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(&err, Error::Denied { code, .. } if code == "access_denied"), "{err:?}");
    insta::assert_snapshot!("denied", err.to_string());
    list.assert_calls_async(1).await;
    assert!(matches!(p.complete_callback(&callback).await, Err(Error::StateReplayed { .. })));
}

#[tokio::test]
async fn list_asks_the_reference_path_first_and_remembers_it() {
    let server = MockServer::start_async().await;
    let reference = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/credentials/users/u-3")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"data": [
                {"credentialId": "c1", "type": "shopify", "name": "Shop", "createdAt": "2025-03-01T10:00:00.000Z",
                 "updatedAt": "2025-03-02T10:00:00.000Z"},
                {"credentialId": "c2", "type": "slack", "name": "Slack", "createdAt": "2025-03-03T10:00:00Z"}]}));
        })
        .await;
    let guide = server
        .mock_async(|when, then| {
            when.method(GET).path_prefix("/users/");
            then.status(200).json_body(json!({"data": []}));
        })
        .await;
    let p = provider(&server);
    let all = p.list_connections(&ConnectionQuery::user("u-3")).await.unwrap();
    assert_eq!(all.len(), 2);
    insta::assert_json_snapshot!("connections", all);
    let shopify = p.list_connections(&ConnectionQuery::user("u-3").with_target("SHOPIFY")).await.unwrap();
    assert_eq!(shopify.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(), ["c1"]);
    reference.assert_calls_async(2).await;
    guide.assert_calls_async(0).await;
}

#[tokio::test]
async fn list_falls_back_to_the_guide_path_on_404_and_remembers_it() {
    let server = MockServer::start_async().await;
    let reference = server
        .mock_async(|when, then| {
            when.method(GET).path("/credentials/users/u-4");
            then.status(404).json_body(json!({"message": "Cannot GET /credentials/users/u-4"}));
        })
        .await;
    let guide = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/users/u-4/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"data": [{"credentialId": "c9", "type": "slack",
                "createdAt": "2025-03-03T10:00:00Z"}]}));
        })
        .await;
    let p = provider(&server);
    assert_eq!(p.list_connections(&ConnectionQuery::user("u-4")).await.unwrap()[0].id, "c9");
    assert!(p.list_connections(&ConnectionQuery::user("u-4").with_target("shopify")).await.unwrap().is_empty());
    // The fallback is paid once per provider, not on every call.
    reference.assert_calls_async(1).await;
    guide.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_user_unknown_on_both_paths_does_not_decide_the_path() {
    // 404 on both paths is "no such user", not "this Alloy serves the guide path": nothing
    // is remembered, and a later user still gets the reference path first.
    let server = MockServer::start_async().await;
    let both = server
        .mock_async(|when, then| {
            when.method(GET).path_includes("u-5");
            then.status(404).json_body(json!({"message": "User not found"}));
        })
        .await;
    let p = provider(&server);
    let err = p.list_connections(&ConnectionQuery::user("u-5")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    both.assert_calls_async(2).await;
    let reference = server
        .mock_async(|when, then| {
            when.method(GET).path("/credentials/users/u-6");
            then.status(200).json_body(json!({"data": []}));
        })
        .await;
    assert!(p.list_connections(&ConnectionQuery::user("u-6")).await.unwrap().is_empty());
    reference.assert_calls_async(1).await;
    // Once the reference path answered, its 404 means the user is unknown: no fallback.
    assert!(matches!(p.list_connections(&ConnectionQuery::user("u-5")).await, Err(Error::NotFound { .. })));
    both.assert_calls_async(3).await;
}

#[tokio::test]
async fn disconnect_deletes_the_credential() {
    let server = MockServer::start_async().await;
    let delete = mock_delete(&server, AUTH, "/users/u-1/credentials/cred%2F1", json!({"success": true})).await;
    provider(&server).disconnect("u-1", "cred/1").await.unwrap();
    delete.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_delete_answering_success_false_is_an_error() {
    let server = MockServer::start_async().await;
    let delete = mock_delete(
        &server,
        AUTH,
        "/users/u-1/credentials/c1",
        json!({"success": false, "message": "Credential is in use"}),
    )
    .await;
    let err = provider(&server).disconnect("u-1", "c1").await.unwrap_err();
    assert!(
        matches!(&err, Error::Provider { status: 200, code: Some(code), .. } if code == "success_false"),
        "{err:?}"
    );
    assert!(err.to_string().contains("Credential is in use") && err.to_string().contains("disconnect again"), "{err}");
    // Not retried: the answer was read, it is not a transient failure.
    delete.assert_calls_async(1).await;
}

/// A provider on a manual clock, and mocks answering Shopify's and Slack's metadata and any
/// link.
async fn cached_metadata_setup(
    server: &MockServer,
    ttl: std::time::Duration,
) -> (oauth_link_alloy_headless::AlloyHeadlessProvider, ManualClock, httpmock::Mock<'_>, httpmock::Mock<'_>) {
    let shopify = mock_metadata(server, "shopify", &["shopSubdomain"]).await;
    let slack = mock_metadata(server, "slack", &[]).await;
    mock_any_oauth_url(server).await;
    mock_no_credentials(server).await;
    let clock = ManualClock::starting_now();
    let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
    let ctx = LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()));
    (provider_with(config(server).with_metadata_ttl(ttl), ctx), clock, shopify, slack)
}

#[tokio::test]
async fn metadata_is_read_once_per_app_until_its_ttl_has_passed() {
    let server = MockServer::start_async().await;
    let ttl = std::time::Duration::from_secs(300);
    let (p, clock, shopify, slack) = cached_metadata_setup(&server, ttl).await;
    let shop = LinkRequest::new("u-1", "shopify").with_param("shopSubdomain", "s");
    p.generate_link(&shop).await.unwrap();
    p.generate_link(&LinkRequest::new("u-2", "shopify").with_param("shopSubdomain", "t")).await.unwrap();
    shopify.assert_calls_async(1).await;
    // The kept metadata still checks each request: a missing property fails without a read.
    let err = p.generate_link(&LinkRequest::new("u-3", "shopify")).await.unwrap_err();
    assert!(err.to_string().contains("shopSubdomain"), "{err}");
    shopify.assert_calls_async(1).await;
    // Each app is kept apart.
    p.generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap();
    slack.assert_calls_async(1).await;
    clock.advance(ttl - std::time::Duration::from_secs(1));
    p.generate_link(&shop).await.unwrap();
    shopify.assert_calls_async(1).await;
    clock.advance(std::time::Duration::from_secs(1));
    p.generate_link(&shop).await.unwrap();
    shopify.assert_calls_async(2).await;
    // The explicit read always goes to Alloy.
    p.credential_metadata("shopify").await.unwrap();
    shopify.assert_calls_async(3).await;
}

#[tokio::test]
async fn a_zero_ttl_reads_metadata_before_every_link() {
    let server = MockServer::start_async().await;
    let (p, _clock, _shopify, slack) = cached_metadata_setup(&server, std::time::Duration::ZERO).await;
    for _ in 0..3 {
        p.generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap();
    }
    slack.assert_calls_async(3).await;
}

#[tokio::test]
async fn a_failed_metadata_read_is_not_kept() {
    let server = MockServer::start_async().await;
    let metadata = server
        .mock_async(|when, then| {
            when.method(GET).path("/metadata/credentials/slack");
            then.respond_with(sequence(
                1,
                json_response(404, json!({"message": "Unknown app"})),
                json_response(200, json!({"data": {"connector": "slack", "isOauth": true, "properties": []}})),
            ));
        })
        .await;
    mock_any_oauth_url(&server).await;
    mock_no_credentials(&server).await;
    let p = provider(&server);
    let err = p.generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    p.generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap();
    p.generate_link(&LinkRequest::new("u-1", "slack")).await.unwrap();
    metadata.assert_calls_async(2).await;
}
