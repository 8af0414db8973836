//! No API key or token in Debug output, serialized config, errors or traces.

mod support;

use httpmock::prelude::*;
use oauth_link_core::config::AdapterConfig;
use oauth_link_core::{adapter::ConfigMap, ConnectionQuery, Error, LinkProvider, LinkRequest};
use oauth_link_novu::{NovuConfig, KIND};
use serde_json::json;
use support::*;

#[tokio::test]
async fn debug_serialize_and_errors_never_show_the_key() {
    let server = MockServer::start_async().await;
    // Platforms sometimes echo what they received: an error body carrying the key.
    server
        .mock_async(|when, then| {
            when.method(POST).path("/v1/integrations/channel-endpoints/oauth");
            then.status(401).json_body(json!({"statusCode": 401, "timestamp": "t", "path": "/x",
                "message": format!("API Key {API_KEY} not found")}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints");
            then.status(200).body(format!("<html>{API_KEY}</html>"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints/ep-1");
            then.status(422).json_body(json!({"statusCode": 422, "timestamp": "t", "path": "/x", "message": "bad",
                "errors": {API_KEY: {"messages": [format!("{API_KEY} is wrong")], "value": API_KEY}}}));
        })
        .await;
    let config = config(&server);
    let provider = provider(config.clone(), &clock());
    let errors = vec![
        provider.generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap_err(),
        provider.list_connections(&ConnectionQuery::user("u1")).await.unwrap_err(),
        provider.disconnect("u1", "ep-1").await.unwrap_err(),
    ];
    let mut printed = format!("{config:?}\n{provider:?}\n{}\n", serde_json::to_string(&config).unwrap());
    for err in &errors {
        printed.push_str(&format!("{err}\n{err:?}\n"));
    }
    assert!(!printed.contains(API_KEY), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");

    let mut map = std::collections::HashMap::new();
    map.insert("api_key".to_owned(), API_KEY.to_owned());
    let from_map = NovuConfig::from_config(ConfigMap::from_map(KIND, &map)).unwrap();
    assert!(!format!("{from_map:?} {}", serde_json::to_string(&from_map).unwrap()).contains(API_KEY));
}

/// Answers with `status` and `template`, its `{auth}` replaced by the `authorization` header
/// the request carried: a platform echoing what it was sent.
fn echo(status: u16, template: &'static str) -> impl Fn(&HttpMockRequest) -> HttpMockResponse + Send + Sync + 'static {
    move |req: &HttpMockRequest| {
        let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        HttpMockResponse::builder().status(status).body(template.replace("{auth}", &auth)).build()
    }
}

#[tokio::test]
async fn errors_of_calls_answered_with_the_sent_key_never_show_it() {
    let server = MockServer::start_async().await;
    let targets = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/integrations").header("authorization", AUTH);
            then.respond_with(echo(502, "<html>bad gateway {auth}</html>"));
        })
        .await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints").header("authorization", AUTH);
            then.respond_with(echo(
                400,
                r#"{"statusCode":400,"timestamp":"t","path":"/v1/channel-endpoints","message":["key {auth} is bad"]}"#,
            ));
        })
        .await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints/ep-1").header("authorization", AUTH);
            then.respond_with(echo(409, r#"{"statusCode":409,"timestamp":"t","path":"/x","message":"{auth}"}"#));
        })
        .await;
    let provider = provider(config(&server), &clock());
    let errors = [
        provider.list_targets().await.unwrap_err(),
        provider.list_connections(&ConnectionQuery::user("u1")).await.unwrap_err(),
        provider.disconnect("u1", "ep-1").await.unwrap_err(),
    ];
    targets.assert_calls_async(3).await;
    list.assert_calls_async(1).await;
    get.assert_calls_async(1).await;
    assert!(matches!(errors[0], Error::Provider { status: 502, .. }), "{:?}", errors[0]);
    assert!(matches!(errors[1], Error::Provider { status: 400, .. }), "{:?}", errors[1]);
    assert!(matches!(errors[2], Error::Conflict { .. }), "{:?}", errors[2]);
    for err in &errors {
        let printed = format!("{err}\n{err:?}");
        assert!(!printed.contains(API_KEY) && printed.contains("[redacted]"), "{printed}");
    }
}
