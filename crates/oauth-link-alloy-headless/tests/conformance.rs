//! The core conformance suite against an httpmock Alloy whose state the driver changes.

mod support;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::SecondsFormat;
use httpmock::prelude::*;
use oauth_link_alloy_headless::{AlloyHeadlessProvider, KIND};
use oauth_link_core::testing::conformance::{self, Driver};
use oauth_link_core::{
    clock::{Clock, ManualClock},
    Callback, Link, LinkContext, LinkRequest, MemoryReplayGuard, SharedLinkProvider, StateCodec, StateKeys,
};
use oauth_link_testkit::alloy::Account;
use oauth_link_testkit::mock::segments;
use serde_json::json;
use support::*;

struct HeadlessDriver {
    _server: MockServer,
    provider: Arc<AlloyHeadlessProvider>,
    clock: ManualClock,
    account: Arc<Account>,
}

impl HeadlessDriver {
    async fn start() -> Self {
        let server = MockServer::start_async().await;
        let account = Arc::new(Account::default());
        account.mount(&server, AUTH).await;
        let a = account.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path_prefix("/metadata/credentials/").header("authorization", AUTH);
                then.respond_with(move |req| {
                    a.injected().unwrap_or_else(|| {
                        let app = segments(req).pop().unwrap_or_default();
                        json_response(200, json!({"data": {"connector": app, "isOauth": true, "properties": []}}))
                    })
                });
            })
            .await;
        let a = account.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path("/headless/oauthUrl").header("authorization", AUTH);
                then.respond_with(move |req| {
                    a.injected().unwrap_or_else(|| {
                        let q = req.query_params_map();
                        let url = format!(
                            "https://api.runalloy.com/api/strategy/{}/authorize?userId={}",
                            q.get("app").cloned().unwrap_or_default(),
                            q.get("userId").cloned().unwrap_or_default()
                        );
                        json_response(200, json!({"oauthUrl": url}))
                    })
                });
            })
            .await;
        let a = account.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path_matches(r"^/credentials/users/[^/]+$").header("authorization", AUTH);
                then.respond_with(move |req| match a.user_id(&segments(req)[2]) {
                    Some(user) => json_response(200, json!({"data": a.credentials(&user, None)})),
                    None => json_response(404, json!({"message": "User not found"})),
                });
            })
            .await;
        server
            .mock_async(|when, then| {
                when.method(GET).path("/metadata/credentials").header("authorization", AUTH);
                then.status(200).json_body(json!({"data": [
                    {"connector": "slack", "icon": "https://cdn.example/slack.png", "isOauth": true, "properties": []},
                    {"connector": "shopify", "isOauth": true, "properties": [{"name": "shopSubdomain"}]},
                    {"connector": "netsuite", "isOauth": false, "properties": [{"name": "realm"}]}]}));
            })
            .await;
        let clock = ManualClock::starting_now();
        let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
        let ctx = LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()));
        // The default mode: users are the app's own ids.
        let provider = Arc::new(provider_with(app_config(&server), ctx));
        Self { _server: server, provider, clock, account }
    }
}

#[async_trait]
impl Driver for HeadlessDriver {
    fn provider(&self) -> SharedLinkProvider {
        self.provider.clone()
    }

    fn clock(&self) -> &ManualClock {
        &self.clock
    }

    fn request(&self, n: u32) -> LinkRequest {
        // An app's own id, never seen by Alloy before.
        LinkRequest::new(format!("ada+{n}@example.com"), "slack")
    }

    async fn approve(&self, link: &Link, request: &LinkRequest) -> Callback {
        let n = self.account.next();
        let now = self.clock.now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let user = self.account.user_id(&request.user).expect("generate_link created the Alloy user");
        self.account.add_credential(
            user,
            request.target.clone(),
            json!({
                "credentialId": format!("cred-{n}"), "type": request.target, "name": "Slack",
                "createdAt": now, "updatedAt": now
            }),
        );
        Callback::from_state(link.state.clone())
    }

    async fn deny(&self, link: &Link, _: &LinkRequest) -> Option<Callback> {
        let callback = Callback::from_query(KIND, "error=access_denied&error_description=The+user+refused").unwrap();
        Some(callback.with_state(link.state.clone()))
    }

    async fn fail_next_generate(&self, status: u16) {
        self.account.fail_next(status);
    }
}

#[tokio::test]
async fn alloy_headless_passes_the_conformance_suite() {
    conformance::run(&HeadlessDriver::start().await).await;
}
