//! Shared test helpers.
#![allow(dead_code, unused_imports)]

use httpmock::prelude::*;
use httpmock::Mock;
use oauth_link_alloy_headless::{AlloyHeadlessConfig, AlloyHeadlessProvider, UserIdMode};
use oauth_link_core::config::AdapterConfig;
use oauth_link_core::{LinkContext, Url};
pub use oauth_link_testkit::alloy::VERSION;
pub use oauth_link_testkit::{fast_poll, fast_retry, json_response, sequence};

pub const KEY: &str = "sk_test_alloy_headless_0123456789";
pub const AUTH: &str = "bearer sk_test_alloy_headless_0123456789";

/// Settings for `server` with users given as Alloy `userId`s (`user_id_mode = platform`):
/// the tests of the platform calls name Alloy users directly. `tests/users.rs` and the
/// conformance suite run the default `app` mode.
pub fn config(server: &MockServer) -> AlloyHeadlessConfig {
    app_config(server).with_user_id_mode(UserIdMode::Platform)
}

/// Settings for `server` in the default mode: users are the app's own ids.
pub fn app_config(server: &MockServer) -> AlloyHeadlessConfig {
    config_at(Url::parse(&server.base_url()).unwrap())
}

/// Settings for Alloy at `base_url`, fast retries and polling, the default mode.
pub fn config_at(base_url: Url) -> AlloyHeadlessConfig {
    AlloyHeadlessConfig::new(KEY).with_base_url(base_url).with_retry(fast_retry()).with_poll(fast_poll())
}

pub fn provider(server: &MockServer) -> AlloyHeadlessProvider {
    provider_with(config(server), LinkContext::ephemeral())
}

pub fn provider_with(config: AlloyHeadlessConfig, ctx: LinkContext) -> AlloyHeadlessProvider {
    AlloyHeadlessProvider::new(config, ctx).unwrap()
}

/// Answers every `GET /headless/oauthUrl` with one link.
pub async fn mock_any_oauth_url(server: &MockServer) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET).path("/headless/oauthUrl");
            then.status(200).json_body(serde_json::json!({"oauthUrl": "https://api.runalloy.com/a"}));
        })
        .await
}

/// Answers `app`'s credential metadata (request pinned: method, path, auth and version
/// headers, no query): an OAuth app needing `properties`.
pub async fn mock_metadata<'a>(server: &'a MockServer, app: &str, properties: &[&str]) -> Mock<'a> {
    let properties: Vec<serde_json::Value> = properties.iter().map(|p| serde_json::json!({"name": p})).collect();
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("/metadata/credentials/{app}"))
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200)
                .json_body(serde_json::json!({"data": {"connector": app, "isOauth": true, "properties": properties}}));
        })
        .await
}

/// Answers every credential list on the 2025-09 path (`GET /credentials/users/{userId}`,
/// read by `generate_link` for its watermark) with no credentials.
pub async fn mock_no_credentials(server: &MockServer) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path_prefix("/credentials/users/")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(serde_json::json!({"data": []}));
        })
        .await
}
