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

/// Users by username (their `userId` is `usr-<n>`), credentials by `userId`.
#[derive(Default)]
struct Platform {
    users: Mutex<HashMap<String, String>>,
    credentials: Mutex<HashMap<String, Vec<Value>>>,
    fail_next: Mutex<Option<u16>>,
    next_id: AtomicUsize,
}

impl Platform {
    /// The `userId` of a username or userId, as `GET /users/{userId}` reads its path.
    fn user_id(&self, name_or_id: &str) -> Option<String> {
        let users = self.users.lock().unwrap();
        users.get(name_or_id).cloned().or_else(|| users.values().find(|id| *id == name_or_id).cloned())
    }

    fn injected(&self) -> Option<HttpMockResponse> {
        let status = self.fail_next.lock().unwrap().take()?;
        Some(json_response(status, json!({"message": format!("injected HTTP {status}")})))
    }
}

/// The request path's segments, percent-decoded.
fn segments(req: &HttpMockRequest) -> Vec<String> {
    req.uri().path().trim_start_matches('/').split('/').map(decode).collect()
}

fn decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()),
        ) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
                when.method(GET).path_matches(r"^/users/[^/]+$").header("authorization", AUTH);
                then.respond_with(move |req| {
                    let name = segments(req)[1].clone();
                    let users = p.users.lock().unwrap();
                    match users.iter().find(|(u, id)| **u == name || **id == name) {
                        Some((username, id)) => json_response(200, json!({"userId": id, "username": username})),
                        None => json_response(404, json!({"message": "User not found"})),
                    }
                });
            })
            .await;
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(POST).path("/users").header("authorization", AUTH);
                then.respond_with(move |req| {
                    let body: Value = serde_json::from_slice(&req.body_vec()).unwrap_or_default();
                    let username = body["username"].as_str().unwrap_or_default().to_owned();
                    let mut users = p.users.lock().unwrap();
                    if users.contains_key(&username) {
                        return json_response(400, json!({"message": "A user with this username already exists"}));
                    }
                    let id = format!("usr-{}", p.next_id.fetch_add(1, Ordering::SeqCst));
                    users.insert(username, id.clone());
                    json_response(200, json!({"userId": id}))
                });
            })
            .await;
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path_matches(r"^/credentials/users/[^/]+$").header("authorization", AUTH);
                then.respond_with(move |req| {
                    let Some(user) = p.user_id(&segments(req)[2]) else {
                        return json_response(404, json!({"message": "User not found"}));
                    };
                    let list = p.credentials.lock().unwrap().get(&user).cloned().unwrap_or_default();
                    json_response(200, json!({"data": list}))
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
        // The default mode: users are the app's own ids.
        let provider = Arc::new(provider_with(app_config(&server), ctx));
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
        // An app's own id, never seen by Alloy before.
        LinkRequest::new(format!("ada+{n}@example.com"), "slack")
    }

    async fn approve(&self, link: &Link, request: &LinkRequest) -> Callback {
        let n = self.platform.next_id.fetch_add(1, Ordering::SeqCst);
        let now = self.clock.now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let user = self.platform.user_id(&request.user).expect("generate_link created the Alloy user");
        self.platform.credentials.lock().unwrap().entry(user).or_default().push(json!({
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
