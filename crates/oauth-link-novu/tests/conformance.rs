//! The core conformance suite against a stateful httpmock fake of Novu.

mod support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use httpmock::prelude::*;
use oauth_link_core::testing::conformance::{self, Driver};
use oauth_link_core::{
    clock::{Clock, ManualClock},
    Callback, Link, LinkProvider, LinkRequest, SharedLinkProvider,
};
use oauth_link_novu::{NovuProvider, KIND};
use serde_json::{json, Value};
use support::*;

/// What the fake platform knows.
#[derive(Default)]
struct Platform {
    /// Subscribers created through `POST /v2/subscribers`.
    subscribers: HashSet<String>,
    endpoints: Vec<Value>,
    next_id: u64,
    fail_next: Option<u16>,
}

type Shared = Arc<Mutex<Platform>>;

struct NovuDriver {
    server: MockServer,
    platform: Shared,
    provider: Arc<NovuProvider>,
    clock: ManualClock,
}

fn json_response(status: u16, body: Value) -> HttpMockResponse {
    HttpMockResponse::builder().status(status).header("content-type", "application/json").body(body.to_string()).build()
}

fn item_id(req: &HttpMockRequest) -> String {
    req.uri().path().rsplit('/').next().unwrap_or_default().to_owned()
}

impl NovuDriver {
    async fn start() -> Self {
        let server = MockServer::start_async().await;
        let platform: Shared = Arc::default();

        // POST /v2/subscribers: the upsert, exactly `{subscriberId}`, no idempotency key.
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(POST)
                    .path(SUBSCRIBERS)
                    .is_true(no_query())
                    .header("authorization", AUTH)
                    .header("content-type", "application/json")
                    .is_true(no_idempotency_key())
                    .is_true(|req: &HttpMockRequest| {
                        let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                        body.as_object().is_some_and(|o| o.len() == 1 && o["subscriberId"].is_string())
                    });
                then.respond_with(move |req| {
                    let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                    let id = body["subscriberId"].as_str().unwrap_or_default().to_owned();
                    p.lock().unwrap().subscribers.insert(id.clone());
                    json_response(201, subscriber_response(&id))
                });
            })
            .await;

        // GET /v1/integrations: the environment's integrations, in Novu's envelope.
        server
            .mock_async(|when, then| {
                when.method(GET).path("/v1/integrations").is_true(no_query()).header("authorization", AUTH);
                then.status(200).json_body(json!({"data": [
                    {"_id": "i1", "identifier": INTEGRATION, "name": "Slack", "providerId": "slack", "channel": "chat",
                     "active": true, "deleted": false},
                    {"_id": "i2", "identifier": "teams-prod", "name": "Microsoft Teams", "providerId": "msteams",
                     "channel": "chat", "active": true, "deleted": false},
                    {"_id": "i3", "identifier": "sendgrid", "name": "SendGrid", "providerId": "sendgrid",
                     "channel": "email", "active": true, "deleted": false}
                ]}));
            })
            .await;

        // POST generate link: exact body shape, auth, idempotency key.
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(POST)
                    .path("/v1/integrations/channel-endpoints/oauth")
                    .is_true(no_query())
                    .header("authorization", AUTH)
                    .header("content-type", "application/json")
                    .header_exists("idempotency-key")
                    .is_true(|req: &HttpMockRequest| {
                        let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                        let Some(obj) = body.as_object() else { return false };
                        obj.len() == 2
                            && obj.get("integrationIdentifier") == Some(&json!(INTEGRATION))
                            && obj.get("subscriberId").and_then(Value::as_str).is_some_and(|s| s.starts_with("user-"))
                    });
                then.respond_with(move |req| {
                    let body: Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                    let subscriber = body["subscriberId"].as_str().unwrap_or_default().to_owned();
                    if !p.lock().unwrap().subscribers.contains(&subscriber) {
                        // As Novu: the subscriber must exist before a link.
                        return json_response(
                            404,
                            json!({"statusCode": 404, "timestamp": "2026-01-01T00:00:00.000Z",
                                   "path": "/v1/integrations/channel-endpoints/oauth",
                                   "message": format!("Subscriber not found: {subscriber}")}),
                        );
                    }
                    if let Some(status) = p.lock().unwrap().fail_next.take() {
                        let message = if status == 401 { "API Key not found" } else { "Forbidden resource" };
                        return json_response(
                            status,
                            json!({"statusCode": status, "timestamp": "2026-01-01T00:00:00.000Z",
                                   "path": "/v1/integrations/channel-endpoints/oauth", "message": message}),
                        );
                    }
                    json_response(
                        201,
                        json!({"url": format!("https://slack.com/oauth/v2/authorize?state=s-{subscriber}")}),
                    )
                });
            })
            .await;

        // GET list: filtered by subscriberId (+ integrationIdentifier), one page.
        let p = platform.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path("/v1/channel-endpoints").header("authorization", AUTH).is_true(
                    |req: &HttpMockRequest| {
                        let q = req.query_params();
                        let keys: HashSet<&str> = q.iter().map(|(k, _)| k.as_str()).collect();
                        q.len() == keys.len()
                            && keys.contains("subscriberId")
                            && q.contains(&("limit".to_owned(), "100".to_owned()))
                            && keys.iter().all(|k| ["subscriberId", "integrationIdentifier", "limit"].contains(k))
                    },
                );
                then.respond_with(move |req| {
                    let q = req.query_params_map();
                    let data: Vec<Value> = p
                        .lock()
                        .unwrap()
                        .endpoints
                        .iter()
                        .filter(|e| {
                            Some(e["subscriberId"].as_str().unwrap_or_default())
                                == q.get("subscriberId").map(String::as_str)
                        })
                        .filter(|e| {
                            q.get("integrationIdentifier")
                                .is_none_or(|i| e["integrationIdentifier"].as_str() == Some(i))
                        })
                        .cloned()
                        .collect();
                    json_response(200, page(data, None))
                });
            })
            .await;

        // GET / DELETE one endpoint.
        let (pg, pd) = (platform.clone(), platform.clone());
        server
            .mock_async(move |when, then| {
                when.method(GET).path_prefix("/v1/channel-endpoints/").header("authorization", AUTH).is_true(no_query());
                then.respond_with(move |req| {
                    let id = item_id(req);
                    match pg.lock().unwrap().endpoints.iter().find(|e| e["identifier"] == json!(id)) {
                        Some(e) => json_response(200, e.clone()),
                        None => json_response(404, json!({"statusCode": 404, "timestamp": "t", "path": req.uri().path(), "message": "not found"})),
                    }
                });
            })
            .await;
        server
            .mock_async(move |when, then| {
                when.method(DELETE).path_prefix("/v1/channel-endpoints/").header("authorization", AUTH).is_true(no_query());
                then.respond_with(move |req| {
                    let id = item_id(req);
                    let mut platform = pd.lock().unwrap();
                    let before = platform.endpoints.len();
                    platform.endpoints.retain(|e| e["identifier"] != json!(id));
                    if platform.endpoints.len() < before {
                        HttpMockResponse::builder().status(204).build()
                    } else {
                        json_response(404, json!({"statusCode": 404, "timestamp": "t", "path": req.uri().path(), "message": "not found"}))
                    }
                });
            })
            .await;

        let clock = ManualClock::starting_now();
        let provider = Arc::new(NovuProvider::new(config(&server), context(&clock)).unwrap());
        Self { server, platform, provider, clock }
    }
}

#[async_trait]
impl Driver for NovuDriver {
    fn provider(&self) -> SharedLinkProvider {
        self.provider.clone()
    }

    fn clock(&self) -> &ManualClock {
        &self.clock
    }

    fn request(&self, n: u32) -> LinkRequest {
        LinkRequest::new(format!("user-{n}"), INTEGRATION)
    }

    async fn approve(&self, link: &Link, request: &LinkRequest) -> Callback {
        // Novu's callback handler creates the subscriber's slack_user endpoint "now".
        let mut platform = self.platform.lock().unwrap();
        platform.next_id += 1;
        let id = format!("ep-{}", platform.next_id);
        platform.endpoints.push(endpoint(&id, &request.user, &request.target, self.clock.now()));
        // Hosted model: the browser brings nothing back; the app hands over the state it kept.
        Callback::from_state(link.state.clone())
    }

    async fn deny(&self, link: &Link, _: &LinkRequest) -> Option<Callback> {
        let callback = Callback::from_query(KIND, "error=access_denied&error_description=The+user+cancelled").unwrap();
        Some(callback.with_state(link.state.clone()))
    }

    async fn fail_next_generate(&self, status: u16) {
        self.platform.lock().unwrap().fail_next = Some(status);
    }
}

#[tokio::test]
async fn novu_provider_passes_the_conformance_suite() {
    let driver = NovuDriver::start().await;
    conformance::run(&driver).await;
    assert!(driver.server.base_url().starts_with("http://"));
    assert!(driver.platform.lock().unwrap().fail_next.is_none(), "injected failures were consumed");
    let targets = driver.provider.list_targets().await.unwrap();
    let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [INTEGRATION, "teams-prod"], "chat integrations with OAuth only");
}
