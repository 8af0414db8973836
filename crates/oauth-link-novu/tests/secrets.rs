//! No API key or token in Debug output, serialized config, errors or traces.

mod common;

use common::*;
use httpmock::prelude::*;
use oauth_link_core::{adapter::ConfigMap, ConnectionQuery, LinkProvider, LinkRequest};
use oauth_link_novu::{NovuConfig, KIND};
use serde_json::json;

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
