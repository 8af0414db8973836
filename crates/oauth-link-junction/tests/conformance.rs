//! The core conformance suite against httpmock playing Junction.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use httpmock::prelude::*;
use oauth_link_core::testing::conformance::{self, Driver};
use oauth_link_core::{
    clock::{Clock, ManualClock},
    Callback, Link, LinkContext, LinkRequest, MemoryReplayGuard, SharedLinkProvider, StateCodec, StateKeys,
};
use oauth_link_junction::{JunctionProvider, KIND};
use serde_json::json;
use support::*;

const USERS: u32 = 11;
const FAILURES: [u16; 2] = [401, 403];

fn uid(n: u32) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

#[derive(Default)]
struct UserFlags {
    approved: AtomicBool,
    deleted: AtomicBool,
}

struct JunctionDriver {
    /// Kept alive for the mocks.
    _server: MockServer,
    provider: Arc<JunctionProvider>,
    clock: ManualClock,
    captured: Captured,
    fail: HashMap<u16, Arc<AtomicBool>>,
    users: Mutex<HashMap<String, Arc<UserFlags>>>,
}

impl JunctionDriver {
    async fn new() -> Self {
        let server = MockServer::start_async().await;
        // Fault injection first: httpmock serves the first matching mock, and these match
        // only while their flag is set (the flag is cleared by the request it fails).
        let mut fail = HashMap::new();
        for status in FAILURES {
            let flag = Arc::new(AtomicBool::new(false));
            let armed = flag.clone();
            server
                .mock_async(|when, then| {
                    when.method(POST).path("/v2/link/token").is_true(move |req| {
                        req.uri().path() == "/v2/link/token" && armed.swap(false, Ordering::SeqCst)
                    });
                    then.status(status).json_body(json!({"detail": format!("injected {status}")}));
                })
                .await;
            fail.insert(status, flag);
        }
        let clock = ManualClock::starting_now();
        let created_on = clock.now().to_rfc3339();
        let mut users = HashMap::new();
        for n in 1..=USERS {
            let client_user_id = format!("user-{n}");
            let id = uid(n);
            let body = user_json(&id, &client_user_id);
            server
                .mock_async(|when, then| {
                    when.method(GET)
                        .path(format!("/v2/user/resolve/{client_user_id}"))
                        .header("x-vital-api-key", API_KEY);
                    then.status(200).json_body(body);
                })
                .await;
            let flags = Arc::new(UserFlags::default());
            // Nothing connected until approved, nothing after disconnect.
            let f = flags.clone();
            let path = format!("/v2/user/providers/{id}");
            let wanted = path.clone();
            server
                .mock_async(|when, then| {
                    when.method(GET).path(path).header("x-vital-api-key", API_KEY).is_true(move |req| {
                        req.uri().path() == wanted
                            && (!f.approved.load(Ordering::SeqCst) || f.deleted.load(Ordering::SeqCst))
                    });
                    then.status(200).json_body(json!({"providers": []}));
                })
                .await;
            // After approval Junction lists the connection...
            let record = connected("oura", &created_on);
            server
                .mock_async(|when, then| {
                    when.method(GET).path(format!("/v2/user/providers/{id}")).header("x-vital-api-key", API_KEY);
                    then.status(200).json_body(json!({"providers": [record]}));
                })
                .await;
            // ...and forgets it once it is deregistered.
            let f = flags.clone();
            let path = format!("/v2/user/{id}/oura");
            let wanted = path.clone();
            server
                .mock_async(|when, then| {
                    when.method(DELETE).path(path).header("x-vital-api-key", API_KEY).is_true(move |req| {
                        let hit = req.uri().path() == wanted;
                        if hit {
                            f.deleted.store(true, Ordering::SeqCst);
                        }
                        hit
                    });
                    then.status(200).json_body(json!({"success": true}));
                })
                .await;
            users.insert(client_user_id, flags);
        }
        let captured: Captured = Arc::default();
        let sink = captured.clone();
        server
            .mock_async(|when, then| {
                when.method(POST)
                    .path("/v2/link/token")
                    .header("x-vital-api-key", API_KEY)
                    .header("content-type", "application/json")
                    .is_true(move |req| {
                        let Ok(body) = serde_json::from_slice::<serde_json::Value>(req.body_ref()) else {
                            return false;
                        };
                        let user_ok = (1..=USERS).any(|n| body["user_id"] == uid(n).as_str());
                        let shape_ok = link_body_ok(&body, body["user_id"].as_str().unwrap_or(""), Some("oura"));
                        if user_ok && shape_ok {
                            sink.lock().unwrap().push(body);
                        }
                        user_ok && shape_ok
                    });
                then.status(200)
                    .json_body(json!({"link_token": LINK_TOKEN, "link_web_url": "https://link.tryvital.io/?token=t"}));
            })
            .await;
        server
            .mock_async(|when, then| {
                when.method(GET)
                    .path("/v2/link/provider/oauth/oura")
                    .header("x-vital-link-token", LINK_TOKEN)
                    .header_missing("x-vital-api-key");
                then.status(200).json_body(json!({
                    "name": "Oura", "slug": "oura", "description": "Smart ring", "logo": "https://logo", "id": 7,
                    "oauth_url": "https://cloud.ouraring.com/oauth/authorize?client_id=vital"
                }));
            })
            .await;

        mock_link_providers(&server, catalogue_json()).await;

        let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
        let ctx = LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()));
        let provider = Arc::new(JunctionProvider::new(config(&server), ctx).unwrap());
        Self { _server: server, provider, clock, captured, fail, users: Mutex::new(users) }
    }

    /// The link-token body that carried `link`'s state.
    fn body_for(&self, link: &Link) -> serde_json::Value {
        let bodies = self.captured.lock().unwrap();
        bodies
            .iter()
            .find(|b| captured_state(b) == link.state.expose())
            .cloned()
            .expect("link token body with this state")
    }
}

#[async_trait]
impl Driver for JunctionDriver {
    fn provider(&self) -> SharedLinkProvider {
        self.provider.clone()
    }

    fn clock(&self) -> &ManualClock {
        &self.clock
    }

    fn request(&self, n: u32) -> LinkRequest {
        LinkRequest::new(format!("user-{n}"), "oura")
    }

    async fn approve(&self, link: &Link, request: &LinkRequest) -> Callback {
        self.users.lock().unwrap()[&request.user].approved.store(true, Ordering::SeqCst);
        let url = junction_redirect(&self.body_for(link), &[("state", "success")]);
        Callback::from_url(KIND, &url).unwrap()
    }

    async fn deny(&self, link: &Link, _: &LinkRequest) -> Option<Callback> {
        let url = junction_redirect(
            &self.body_for(link),
            &[("state", "error"), ("error_type", "user_cancelled"), ("error", "The user closed Junction Link")],
        );
        Some(Callback::from_url(KIND, &url).unwrap())
    }

    async fn fail_next_generate(&self, status: u16) {
        self.fail[&status].store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn junction_passes_the_conformance_suite() {
    let driver = JunctionDriver::new().await;
    conformance::run(&driver).await;
    for flag in driver.fail.values() {
        assert!(!flag.load(Ordering::SeqCst), "every injected failure was served");
    }
    // The suite's approve/complete/list/disconnect round trip reached Junction's DELETE.
    assert!(driver.users.lock().unwrap()["user-2"].deleted.load(Ordering::SeqCst));
    assert!(driver.captured.lock().unwrap().len() >= 8);
}
