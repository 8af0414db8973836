//! Shared test helpers.
#![allow(dead_code, unused_imports)]

use httpmock::MockServer;
use oauth_link_alloy_connectors::{AlloyConnectorsConfig, AlloyConnectorsProvider, UserIdMode};
use oauth_link_core::config::AdapterConfig;
use oauth_link_core::{LinkContext, Url};
pub use oauth_link_testkit::alloy::VERSION;
pub use oauth_link_testkit::{fast_poll, fast_retry, json_response, recording, sequence};

pub const KEY: &str = "sk_test_alloy_connectors_0123456789";
pub const AUTH: &str = "bearer sk_test_alloy_connectors_0123456789";
pub const REDIRECT: &str = "https://app.example.com/oauth/alloy?tenant=7";

/// Settings for `server` with users given as Alloy `userId`s (`user_id_mode = platform`):
/// the tests of the platform calls name Alloy users directly. `tests/users.rs` and the
/// conformance suite run the default `app` mode.
pub fn config(server: &MockServer) -> AlloyConnectorsConfig {
    app_config(server).with_user_id_mode(UserIdMode::Platform)
}

/// Settings for `server` in the default mode: users are the app's own ids.
pub fn app_config(server: &MockServer) -> AlloyConnectorsConfig {
    config_at(Url::parse(&server.base_url()).unwrap())
}

/// Settings for Alloy at `base_url`, fast retries and polling, the default mode.
pub fn config_at(base_url: Url) -> AlloyConnectorsConfig {
    AlloyConnectorsConfig::new(KEY)
        .with_base_url(base_url)
        .with_retry(fast_retry())
        .with_poll(fast_poll())
        .with_redirect_uri(Url::parse(REDIRECT).unwrap())
}

pub fn provider(server: &MockServer) -> AlloyConnectorsProvider {
    provider_with(config(server), LinkContext::ephemeral())
}

pub fn provider_with(config: AlloyConnectorsConfig, ctx: LinkContext) -> AlloyConnectorsProvider {
    AlloyConnectorsProvider::new(config, ctx).unwrap()
}

/// Answers every connector credential list (`GET /connectors/{id}/credentials`, read by
/// `generate_link` for its watermark) with no credentials.
pub async fn mock_no_credentials(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::GET)
                .path_matches(r"^/connectors/[^/]+/credentials$")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header_exists("x-alloy-userid");
            then.status(200).json_body(serde_json::json!({"credentials": []}));
        })
        .await
}
