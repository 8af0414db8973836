//! The core conformance suite, in both callback modes, against an httpmock Alloy whose state
//! the driver changes.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::SecondsFormat;
use httpmock::prelude::*;
use httpmock::{HttpMockRequest, HttpMockResponse};
use oauth_link_alloy_connectors::{AlloyConnectorsProvider, CallbackMode, KIND};
use oauth_link_core::testing::conformance::{self, Driver};
use oauth_link_core::{
    Callback, Clock, Link, LinkContext, LinkRequest, ManualClock, MemoryReplayGuard, SharedLinkProvider, StateCodec,
    StateKeys, Url,
};
use serde_json::{json, Value};
use support::*;

/// Credentials by (user, connector); codes the exchange accepts, with the credential they
/// create.
#[derive(Default)]
struct Platform {
    /// Alloy users: username -> userId.
    users: Mutex<HashMap<String, String>>,
    credentials: Mutex<HashMap<(String, String), Vec<Value>>>,
    codes: Mutex<HashMap<String, Value>>,
    fail_next: Mutex<Option<u16>>,
    next_id: AtomicUsize,
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
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
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

fn header(req: &HttpMockRequest, name: &str) -> String {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

struct ConnectorsDriver {
    _server: MockServer,
    provider: Arc<AlloyConnectorsProvider>,
    clock: ManualClock,
    platform: Arc<Platform>,
    mode: CallbackMode,
}

impl ConnectorsDriver {
    async fn start(mode: CallbackMode) -> Self {
        let server = MockServer::start_async().await;
        let platform = Arc::new(Platform::default());
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(POST).path_matches(r"^/connectors/[^/]+/credentials$").header("authorization", AUTH);
                then.respond_with(move |req| {
                    if let Some(status) = p.fail_next.lock().unwrap().take() {
                        return json_response(status, json!({"message": format!("injected HTTP {status}")}));
                    }
                    let body: Value = serde_json::from_slice(&req.body_vec()).unwrap_or_default();
                    let mut url = Url::parse("https://api.runalloy.com/api/strategy/connector/x/authorize").unwrap();
                    url.query_pairs_mut()
                        .append_pair("userId", body["userId"].as_str().unwrap_or_default())
                        .append_pair("connector", &segments(req)[1])
                        .append_pair("redirectUri", body["redirectUri"].as_str().unwrap_or_default());
                    json_response(200, json!({"oauthUrl": url.as_str()}))
                });
            })
            .await;
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path_matches(r"^/connectors/[^/]+/credentials$").header_exists("x-alloy-userid");
                then.respond_with(move |req| {
                    let key = (header(req, "x-alloy-userid"), segments(req)[1].clone());
                    let list = p.credentials.lock().unwrap().get(&key).cloned().unwrap_or_default();
                    json_response(200, json!({"credentials": list}))
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
                        Some((username, id)) => {
                            json_response(200, json!({"userId": id, "username": username, "fullName": null}))
                        }
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
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(POST).path_matches(r"^/connectors/[^/]+/credentials/callback$");
                then.respond_with(move |req| {
                    let body: Value = serde_json::from_slice(&req.body_vec()).unwrap_or_default();
                    match p.codes.lock().unwrap().remove(body["code"].as_str().unwrap_or_default()) {
                        Some(cred) => {
                            json_response(200, json!({"credentialId": cred["credentialId"], "status": "connected"}))
                        }
                        None => json_response(400, json!({"message": "Invalid authorization code"})),
                    }
                });
            })
            .await;
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(DELETE).path_matches(r"^/users/[^/]+/credentials/[^/]+$");
                then.respond_with(move |req| -> HttpMockResponse {
                    let s = segments(req);
                    let mut removed = false;
                    for ((user, _), list) in p.credentials.lock().unwrap().iter_mut() {
                        if *user == s[1] {
                            let before = list.len();
                            list.retain(|c| c["credentialId"] != s[3].as_str());
                            removed |= list.len() < before;
                        }
                    }
                    if removed {
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
        let provider =
            Arc::new(provider_with(app_config(&server).with_callback_mode(mode).with_connectors(["slack"]), ctx));
        Self { _server: server, provider, clock, platform, mode }
    }

    /// The Alloy `userId` generate_link made for an app user.
    fn alloy_user(&self, app_user: &str) -> String {
        self.platform.users.lock().unwrap().get(app_user).cloned().expect("generate_link created the Alloy user")
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
        let n = self.platform.next_id.fetch_add(1, Ordering::SeqCst);
        let now = self.clock.now().to_rfc3339_opts(SecondsFormat::Millis, true);
        let credential = json!({"credentialId": format!("cred-{n}"), "name": "Slack", "type": "slack-oauth2",
            "createdAt": now, "updatedAt": now});
        self.platform
            .credentials
            .lock()
            .unwrap()
            .entry((self.alloy_user(&request.user), request.target.clone()))
            .or_default()
            .push(credential.clone());
        let mut url = Url::parse(&Self::redirect_of(link)).unwrap();
        if self.mode == CallbackMode::Exchange {
            let code = format!("code-{n}-abcdef");
            self.platform.codes.lock().unwrap().insert(code.clone(), credential);
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
        *self.platform.fail_next.lock().unwrap() = Some(status);
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
