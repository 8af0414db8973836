//! The core conformance suite, in both callback modes, against an httpmock Alloy whose state
//! the driver changes.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::SecondsFormat;
use httpmock::prelude::*;
use oauth_link_alloy_connectors::{AlloyConnectorsProvider, CallbackMode, KIND};
use oauth_link_core::testing::conformance::{self, Driver};
use oauth_link_core::{
    clock::{Clock, ManualClock},
    Callback, Link, LinkContext, LinkRequest, MemoryReplayGuard, SharedLinkProvider, StateCodec, StateKeys, Url,
};
use oauth_link_testkit::alloy::Account;
use oauth_link_testkit::mock::{header, segments};
use serde_json::{json, Value};
use support::*;

/// Codes the exchange accepts, with the credential each creates.
type Codes = Mutex<HashMap<String, Value>>;

struct ConnectorsDriver {
    _server: MockServer,
    provider: Arc<AlloyConnectorsProvider>,
    clock: ManualClock,
    account: Arc<Account>,
    codes: Arc<Codes>,
    mode: CallbackMode,
}

impl ConnectorsDriver {
    async fn start(mode: CallbackMode) -> Self {
        let server = MockServer::start_async().await;
        let account = Arc::new(Account::default());
        account.mount(&server, AUTH).await;
        let codes = Arc::new(Codes::default());
        let a = account.clone();
        server
            .mock_async(move |when, then| {
                when.method(POST).path_matches(r"^/connectors/[^/]+/credentials$").header("authorization", AUTH);
                then.respond_with(move |req| {
                    a.injected().unwrap_or_else(|| {
                        let body: Value = serde_json::from_slice(&req.body_vec()).unwrap_or_default();
                        let mut url =
                            Url::parse("https://api.runalloy.com/api/strategy/connector/x/authorize").unwrap();
                        url.query_pairs_mut()
                            .append_pair("userId", body["userId"].as_str().unwrap_or_default())
                            .append_pair("connector", &segments(req)[1])
                            .append_pair("redirectUri", body["redirectUri"].as_str().unwrap_or_default());
                        json_response(200, json!({"oauthUrl": url.as_str()}))
                    })
                });
            })
            .await;
        let a = account.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path_matches(r"^/connectors/[^/]+/credentials$").header_exists("x-alloy-userid");
                then.respond_with(move |req| {
                    let list = a.credentials(&header(req, "x-alloy-userid"), Some(&segments(req)[1]));
                    json_response(200, json!({"credentials": list}))
                });
            })
            .await;
        server
            .mock_async(|when, then| {
                when.method(GET).path("/connectors").header("authorization", AUTH);
                then.status(200).json_body(json!({"connectors": [
                    {"id": "slack", "name": "Slack", "icon": "https://cdn.example/slack.png", "authenticationTypes": ["oauth2"]},
                    {"id": "notion", "name": "Notion"}]}));
            })
            .await;
        server
            .mock_async(|when, then| {
                when.method(GET).path("/connectors/slack/credentials/metadata").header("authorization", AUTH);
                then.status(200).json_body(json!({"metadata": [{"authenticationType": "oauth2"}]}));
            })
            .await;
        let c = codes.clone();
        server
            .mock_async(move |when, then| {
                when.method(POST).path_matches(r"^/connectors/[^/]+/credentials/callback$");
                then.respond_with(move |req| {
                    let body: Value = serde_json::from_slice(&req.body_vec()).unwrap_or_default();
                    match c.lock().unwrap().remove(body["code"].as_str().unwrap_or_default()) {
                        Some(cred) => {
                            json_response(200, json!({"credentialId": cred["credentialId"], "status": "connected"}))
                        }
                        None => json_response(400, json!({"message": "Invalid authorization code"})),
                    }
                });
            })
            .await;
        let clock = ManualClock::starting_now();
        let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
        let ctx = LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()));
        // The default mode: users are the app's own ids.
        let provider =
            Arc::new(provider_with(app_config(&server).with_callback_mode(mode).with_connectors(["slack"]), ctx));
        Self { _server: server, provider, clock, account, codes, mode }
    }

    /// The Alloy `userId` generate_link made for an app user.
    fn alloy_user(&self, app_user: &str) -> String {
        self.account.user_id(app_user).expect("generate_link created the Alloy user")
    }

    /// The redirect URI Alloy was given for `link` (the mock echoes it in the oauthUrl).
    fn redirect_of(link: &Link) -> String {
        link.url.query_pairs().find(|(k, _)| k == "redirectUri").map(|(_, v)| v.into_owned()).unwrap()
    }
}

#[async_trait]
impl Driver for ConnectorsDriver {
    fn provider(&self) -> SharedLinkProvider {
        self.provider.clone()
    }

    fn clock(&self) -> &ManualClock {
        &self.clock
    }

    fn request(&self, n: u32) -> LinkRequest {
        // An app's own id, never seen by Alloy before.
        LinkRequest::new(format!("grace+{n}@example.com"), "slack")
    }

    async fn approve(&self, link: &Link, request: &LinkRequest) -> Callback {
        let n = self.account.next();
        let now = self.clock.now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let credential = json!({"credentialId": format!("cred-{n}"), "name": "Slack", "type": "slack-oauth2",
            "createdAt": now, "updatedAt": now});
        self.account.add_credential(self.alloy_user(&request.user), request.target.clone(), credential.clone());
        let mut url = Url::parse(&Self::redirect_of(link)).unwrap();
        if self.mode == CallbackMode::Exchange {
            let code = format!("code-{n}-abcdef");
            self.codes.lock().unwrap().insert(code.clone(), credential);
            url.query_pairs_mut().append_pair("code", &code).append_pair("state", "provider-state");
        }
        Callback::from_url(KIND, url.as_str()).unwrap()
    }

    async fn deny(&self, link: &Link, _: &LinkRequest) -> Option<Callback> {
        let mut url = Url::parse(&Self::redirect_of(link)).unwrap();
        url.query_pairs_mut().append_pair("error", "access_denied").append_pair("error_description", "User refused");
        Some(Callback::from_url(KIND, url.as_str()).unwrap())
    }

    /// The browser comes back to the redirect URI with no code and no error.
    async fn abandon(&self, link: &Link, _: &LinkRequest) -> Callback {
        Callback::from_url(KIND, &Self::redirect_of(link)).unwrap()
    }

    async fn fail_next_generate(&self, status: u16) {
        self.account.fail_next(status);
    }
}

#[tokio::test]
async fn alloy_connectors_passes_the_conformance_suite_in_list_mode() {
    conformance::run(&ConnectorsDriver::start(CallbackMode::List).await).await;
}

#[tokio::test]
async fn alloy_connectors_passes_the_conformance_suite_in_exchange_mode() {
    conformance::run(&ConnectorsDriver::start(CallbackMode::Exchange).await).await;
}
