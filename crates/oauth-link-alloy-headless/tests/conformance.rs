//! The core conformance suite against an httpmock Alloy whose state the driver changes.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::SecondsFormat;
use httpmock::prelude::*;
use httpmock::{HttpMockRequest, HttpMockResponse};
use oauth_link_alloy_headless::{AlloyHeadlessProvider, KIND};
use oauth_link_core::testing::conformance::{self, Driver};
use oauth_link_core::{
    Callback, Clock, Link, LinkContext, LinkRequest, ManualClock, MemoryReplayGuard, SharedLinkProvider, StateCodec,
    StateKeys,
};
use serde_json::{json, Value};
use support::*;

#[derive(Default)]
struct Platform {
    credentials: Mutex<HashMap<String, Vec<Value>>>,
    fail_next: Mutex<Option<u16>>,
    next_id: AtomicUsize,
}

impl Platform {
    fn injected(&self) -> Option<HttpMockResponse> {
        let status = self.fail_next.lock().unwrap().take()?;
        Some(json_response(status, json!({"message": format!("injected HTTP {status}")})))
    }
}

fn segments(req: &HttpMockRequest) -> Vec<String> {
    req.uri().path().trim_start_matches('/').split('/').map(str::to_owned).collect()
}

struct HeadlessDriver {
    _server: MockServer,
    provider: Arc<AlloyHeadlessProvider>,
    clock: ManualClock,
    platform: Arc<Platform>,
}

impl HeadlessDriver {
    async fn start() -> Self {
        let server = MockServer::start_async().await;
        let platform = Arc::new(Platform::default());
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path_prefix("/metadata/credentials/").header("authorization", AUTH);
                then.respond_with(move |req| {
                    p.injected().unwrap_or_else(|| {
                        let app = segments(req).pop().unwrap_or_default();
                        json_response(200, json!({"data": {"connector": app, "isOauth": true, "properties": []}}))
                    })
                });
            })
            .await;
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path("/headless/oauthUrl").header("authorization", AUTH);
                then.respond_with(move |req| {
                    p.injected().unwrap_or_else(|| {
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
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path_matches(r"^/users/[^/]+/credentials$").header("authorization", AUTH);
                then.respond_with(move |req| {
                    let user = segments(req)[1].clone();
                    let list = p.credentials.lock().unwrap().get(&user).cloned().unwrap_or_default();
                    json_response(200, json!({"data": list}))
                });
            })
            .await;
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(DELETE).path_matches(r"^/users/[^/]+/credentials/[^/]+$").header("authorization", AUTH);
                then.respond_with(move |req| {
                    let s = segments(req);
                    let mut all = p.credentials.lock().unwrap();
                    let list = all.entry(s[1].clone()).or_default();
                    let before = list.len();
                    list.retain(|c| c["credentialId"] != s[3].as_str());
                    if list.len() < before {
                        json_response(200, json!({"success": true}))
                    } else {
                        json_response(404, json!({"message": "Credential not found"}))
                    }
                });
            })
            .await;
        let clock = ManualClock::starting_now();
        let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
        let ctx = LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()));
        let provider = Arc::new(provider_with(config(&server), ctx));
        Self { _server: server, provider, clock, platform }
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
        LinkRequest::new(format!("user-{n}"), "slack")
    }

    async fn approve(&self, link: &Link, request: &LinkRequest) -> Callback {
        let n = self.platform.next_id.fetch_add(1, Ordering::SeqCst);
        let now = self.clock.now().to_rfc3339_opts(SecondsFormat::Millis, true);
        self.platform.credentials.lock().unwrap().entry(request.user.clone()).or_default().push(json!({
            "credentialId": format!("cred-{n}"), "type": request.target, "name": "Slack",
            "createdAt": now, "updatedAt": now
        }));
        Callback::from_state(link.state.clone())
    }

    async fn deny(&self, link: &Link, _: &LinkRequest) -> Option<Callback> {
        let callback = Callback::from_query(KIND, "error=access_denied&error_description=The+user+refused").unwrap();
        Some(callback.with_state(link.state.clone()))
    }

    async fn fail_next_generate(&self, status: u16) {
        *self.platform.fail_next.lock().unwrap() = Some(status);
    }
}

#[tokio::test]
async fn alloy_headless_passes_the_conformance_suite() {
    conformance::run(&HeadlessDriver::start().await).await;
}
