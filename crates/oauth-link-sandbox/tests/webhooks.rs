//! Junction's webhooks from the sandbox: Svix-signed (checked with oauth-link's own
//! verifier, an independent implementation), sent on approval and on an injected error,
//! none on a denial or a deregistration, retried on the schedule until answered 2xx, and a
//! new connection that appears (with its event) only after the configured delay.

mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use oauth_link_core::webhook::WebhookVerifier;
use oauth_link_sandbox::{SandboxConfig, WebhookTarget, SVIX_RETRY_SCHEDULE};
use serde_json::{json, Value};
use support::{start, T};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// An app's webhook endpoint: answers the queued statuses first, then 204; keeps every
/// request.
#[derive(Clone, Default)]
struct Receiver {
    answers: Arc<Mutex<VecDeque<u16>>>,
    got: Arc<Mutex<Vec<(HeaderMap, Bytes, Instant)>>>,
}

impl Receiver {
    async fn start(answers: &[u16]) -> (Self, String) {
        let receiver = Self { answers: Arc::new(Mutex::new(answers.iter().copied().collect())), ..Self::default() };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move {
                    state.got.lock().unwrap().push((headers, body, Instant::now()));
                    let status = state.answers.lock().unwrap().pop_front().unwrap_or(204);
                    StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    /// Waits until `n` requests arrived (at most 5 s), and returns them.
    async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, Bytes, Instant)> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn config(url: &str) -> SandboxConfig {
    SandboxConfig::default().junction_webhook(WebhookTarget::new(url, SECRET).unwrap()).webhook_retry_schedule(vec![
        Duration::ZERO,
        Duration::from_millis(30),
        Duration::from_millis(30),
    ])
}

/// A Junction user and a link token for Oura; the user's `user_id`.
async fn link(t: &T, client_user_id: &str) -> (String, String) {
    let user = t.junction("POST", "/v2/user", Some(&json!({"client_user_id": client_user_id}))).await.json();
    let user_id = user["user_id"].as_str().unwrap().to_owned();
    let body = json!({"user_id": user_id, "provider": "oura", "redirect_url": "https://app.example/done"});
    let token = t.junction("POST", "/v2/link/token", Some(&body)).await.json();
    (user_id, token["link_token"].as_str().unwrap().to_owned())
}

fn verified(delivery: &(HeaderMap, Bytes, Instant)) -> Value {
    let verifier = WebhookVerifier::new("junction", [SECRET]).unwrap();
    let checked = verifier.verify(&delivery.0, &delivery.1).expect("a Svix signature oauth-link accepts");
    assert!(checked.id.starts_with("msg_") && checked.id.len() == 31, "{}", checked.id);
    serde_json::from_slice(&delivery.1).unwrap()
}

#[tokio::test]
async fn approval_and_injected_error_are_delivered_signed() {
    let (receiver, url) = Receiver::start(&[]).await;
    let t = start(config(&url)).await;
    let (user_id, token) = link(&t, "app-user-1").await;
    let r = t.admin("POST", "/approve", Some(&json!({"link_token": token}))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = receiver.wait_for(1).await;
    let created = verified(&got[0]);
    assert_eq!(created["event_type"], "provider.connection.created");
    assert_eq!(
        (created["user_id"].as_str(), created["client_user_id"].as_str()),
        (Some(&*user_id), Some("app-user-1"))
    );
    assert_eq!(created["data"]["provider"]["slug"], "oura");
    assert_eq!(created["data"]["source"], created["data"]["provider"]);
    assert!(created["team_id"].is_string() && created["data"]["resource_availability"].is_object());

    let body = json!({"user_id": user_id, "provider": "oura", "error_type": "token_refresh_failed",
                      "error_message": "The refresh token was revoked."});
    assert_eq!(t.admin("POST", "/junction/connection-error", Some(&body)).await.status, 200);
    let got = receiver.wait_for(2).await;
    let errored = verified(&got[1]);
    assert_eq!(errored["event_type"], "provider.connection.error");
    assert_eq!(
        errored["data"],
        json!({"provider": "oura", "user_id": user_id, "message": "The refresh token was revoked.",
               "error_type": "token_refresh_failed", "error_details": "The refresh token was revoked."})
    );
    assert_eq!(errored["client_user_id"], "app-user-1");
    let ids: Vec<&str> = got.iter().map(|d| d.0["svix-id"].to_str().unwrap()).collect();
    assert_ne!(ids[0], ids[1], "one id per delivery");

    // A denial and a deregistration: Junction documents no event, the sandbox sends none.
    let (_, other) = link(&t, "app-user-2").await;
    assert_eq!(t.admin("POST", "/deny", Some(&json!({"link_token": other}))).await.status, 200);
    assert_eq!(t.junction("DELETE", &format!("/v2/user/{user_id}/oura"), None).await.status, 200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.got.lock().unwrap().len(), 2);
    assert_eq!(t.sb.sandbox().webhook_attempts().len(), 2);
}

#[tokio::test]
async fn a_non_2xx_answer_is_retried_on_the_schedule_with_the_same_id() {
    let (receiver, url) = Receiver::start(&[500, 503]).await;
    let t = start(config(&url)).await;
    let (_, token) = link(&t, "app-user-3").await;
    t.admin("POST", "/approve", Some(&json!({"link_token": token}))).await;
    let got = receiver.wait_for(3).await;
    assert_eq!(got.len(), 3, "two failures, then the 204");
    let ids: Vec<&str> = got.iter().map(|d| d.0["svix-id"].to_str().unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert!(got[1].2 - got[0].2 >= Duration::from_millis(30), "the schedule's pause");
    for delivery in &got {
        verified(delivery);
    }
    let attempts = t.sb.sandbox().webhook_attempts();
    let statuses: Vec<(usize, Option<u16>)> = attempts.iter().map(|a| (a.attempt, a.status)).collect();
    assert_eq!(statuses, [(1, Some(500)), (2, Some(503)), (3, Some(204))]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(receiver.got.lock().unwrap().len(), 3, "nothing after the 2xx");
    assert_eq!(SVIX_RETRY_SCHEDULE.len(), 8);
    assert_eq!(SVIX_RETRY_SCHEDULE.iter().sum::<Duration>(), Duration::from_secs(99_305));
}

#[tokio::test]
async fn a_delayed_connection_is_listed_and_announced_after_the_delay() {
    let (receiver, url) = Receiver::start(&[]).await;
    let t = start(config(&url).junction_connection_delay(Duration::from_millis(300))).await;
    let (user_id, token) = link(&t, "app-user-4").await;
    let approved = Instant::now();
    t.admin("POST", "/approve", Some(&json!({"link_token": token}))).await;
    let listed = t.junction("GET", &format!("/v2/user/providers/{user_id}"), None).await.json();
    assert_eq!(listed["providers"], json!([]), "not listed yet");
    let got = receiver.wait_for(1).await;
    assert!(got[0].2 - approved >= Duration::from_millis(300), "sent when the connection appears");
    let listed = t.junction("GET", &format!("/v2/user/providers/{user_id}"), None).await.json();
    assert_eq!(listed["providers"][0]["status"], "connected");
}

#[test]
fn targets_refuse_what_is_not_a_url_or_a_secret_and_never_show_the_secret() {
    assert!(WebhookTarget::new("ftp://x", SECRET).is_none());
    assert!(WebhookTarget::new("not a url", SECRET).is_none());
    assert!(WebhookTarget::new("http://127.0.0.1:1/hooks", "whsec_%%%").is_none());
    let target = WebhookTarget::new("http://127.0.0.1:1/hooks", SECRET).unwrap();
    let config = serde_json::to_string(&SandboxConfig::default().junction_webhook(target.clone())).unwrap();
    for text in [format!("{target:?}"), config] {
        assert!(!text.contains(&SECRET[6..]), "{text}");
    }
}
