//! `POST /{provider}/webhooks` through `oneshot`: verified, deduplicated, handed to the
//! app's handler; problem+json for what is refused.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use oauth_link_axum::{LinkRouter, WEBHOOK_OUTCOME_HEADER};
use oauth_link_core::adapter::async_trait;
use oauth_link_core::webhook::{
    ConnectionEvent, ConnectionEventKind, DeliveryDedupe, HeaderStyle, MemoryDedupe, WebhookSigner, WebhookVerifier,
};
use oauth_link_core::{
    Callback, CallbackModel, Capabilities, Connection, ConnectionQuery, Error, Link, LinkProvider, LinkRequest,
    SharedLinkProvider, TransportKind,
};
use serde_json::json;
use support::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const UID: &str = "6d1c52a4-3f1e-4c59-9a57-2f0b1c2d3e4f";

/// A platform whose webhooks are `{"type", "user", "target"}`, signed with [`SECRET`]; it
/// fails transiently while `down` is set (as an adapter whose user lookup fails would).
#[derive(Debug, Default)]
struct Hooked {
    down: AtomicBool,
}

#[async_trait]
impl LinkProvider for Hooked {
    fn kind(&self) -> &'static str {
        "hooked"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(CallbackModel::Hosted)
    }

    async fn generate_link(&self, _: &LinkRequest) -> oauth_link_core::Result<Link> {
        Err(Error::Unsupported { provider: "hooked", operation: "generate_link" })
    }

    async fn complete_callback(&self, _: &Callback) -> oauth_link_core::Result<Connection> {
        Err(Error::Unsupported { provider: "hooked", operation: "complete_callback" })
    }

    async fn list_connections(&self, _: &ConnectionQuery) -> oauth_link_core::Result<Vec<Connection>> {
        Ok(Vec::new())
    }

    async fn webhook_event(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> oauth_link_core::Result<Option<ConnectionEvent>> {
        let delivery = WebhookVerifier::new("hooked", [SECRET])?.verify(headers, body)?;
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::Transport {
                provider: "hooked",
                kind: TransportKind::Connect,
                message: "user lookup failed".into(),
                source: None,
            });
        }
        let body: serde_json::Value =
            serde_json::from_slice(body).map_err(|_| Error::decode("hooked", "not JSON", body))?;
        let kind = match body["type"].as_str() {
            Some("connected") => ConnectionEventKind::Created,
            Some("broken") => ConnectionEventKind::NeedsReauthorization,
            _ => return Ok(None),
        };
        let text = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        Ok(Some(ConnectionEvent::new(kind, &delivery, text("type"), text("user"), text("target"))))
    }
}

struct Setup {
    app: Router,
    seen: Arc<Mutex<Vec<ConnectionEvent>>>,
    hooked: Arc<Hooked>,
}

/// A router over `Hooked`, the Junction adapter (webhook secret set; a delivery that
/// carries `client_user_id` needs no request, so its API address is a dead one) and the
/// memory provider (no webhooks), collecting events.
fn setup(dedupe: Arc<dyn DeliveryDedupe>) -> Setup {
    let hooked = Arc::new(Hooked::default());
    let junction = oauth_link::from_map(
        "junction",
        &HashMap::from(
            [
                ("api_key", "sk_us_axum_webhook_key"),
                ("base_url", "http://127.0.0.1:9"),
                ("webhook_secret", SECRET),
                ("state_secret", "axum-webhook-state-secret-0123456789abcdef"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        ),
    )
    .unwrap();
    let clock = oauth_link_core::clock::ManualClock::starting_now();
    let memory: SharedLinkProvider = Arc::new(oauth_link_core::testing::MemoryProvider::new(context(&clock)));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let links = LinkRouter::builder(oauth_link_axum::CookieKey::generate(), users())
        .provider(hooked.clone())
        .provider(junction)
        .provider(memory)
        .webhook_dedupe(dedupe)
        .on_event(move |event| sink.lock().unwrap().push(event))
        .build()
        .unwrap();
    Setup { app: Router::new().nest("/oauth", links), seen, hooked }
}

fn delivery(kind: &str, id: &str, body: &[u8], style: HeaderStyle, age_secs: i64) -> Request<Body> {
    let timestamp = chrono::Utc::now().timestamp() - age_secs;
    let mut req = Request::builder().method("POST").uri(format!("/oauth/{kind}/webhooks"));
    for (name, value) in &WebhookSigner::new(SECRET).unwrap().headers(style, id, timestamp, body) {
        req = req.header(name, value);
    }
    req.header("content-type", "application/json").body(Body::from(body.to_vec())).unwrap()
}

fn outcome(answer: &Answer) -> &str {
    answer.headers.get(WEBHOOK_OUTCOME_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("")
}

fn problem(answer: &Answer) -> (u16, String) {
    assert_eq!(answer.content_type(), "application/problem+json", "{answer:?}");
    (answer.status.as_u16(), answer.json()["code"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_verified_event_is_handed_over_once_and_resends_are_acknowledged() {
    let s = setup(Arc::new(MemoryDedupe::default()));
    let body = br#"{"type":"connected","user":"ada","target":"slack"}"#;
    let first = send(&s.app, delivery("hooked", "msg_1", body, HeaderStyle::Standard, 0)).await;
    assert_eq!((first.status, outcome(&first)), (StatusCode::NO_CONTENT, "handled"), "{first:?}");
    assert_eq!(first.headers["cache-control"], "no-store");
    // Svix resends the same id (a fresh timestamp, a fresh signature) when it got no 2xx.
    let again = send(&s.app, delivery("hooked", "msg_1", body, HeaderStyle::Svix, 0)).await;
    assert_eq!((again.status, outcome(&again)), (StatusCode::NO_CONTENT, "replayed"));
    let events = s.seen.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].kind, events[0].user.as_str(), events[0].target.as_str()),
        (ConnectionEventKind::Created, "ada", "slack")
    );
    assert_eq!(events[0].delivery_id, "msg_1");

    let other = send(&s.app, delivery("hooked", "msg_2", br#"{"type":"billing"}"#, HeaderStyle::Svix, 0)).await;
    assert_eq!((other.status, outcome(&other)), (StatusCode::NO_CONTENT, "ignored"));
    assert_eq!(s.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn junction_deliveries_become_connection_events() {
    let s = setup(Arc::new(MemoryDedupe::default()));
    let body = serde_json::to_vec(&json!({
        "event_type": "provider.connection.error", "user_id": UID, "client_user_id": "ada", "team_id": "t",
        "data": {"provider": "oura", "user_id": UID, "message": "revoked", "error_type": "token_refresh_failed",
                 "error_details": ""}
    }))
    .unwrap();
    let answer = send(&s.app, delivery("junction", "msg_j1", &body, HeaderStyle::Svix, 0)).await;
    assert_eq!((answer.status, outcome(&answer)), (StatusCode::NO_CONTENT, "handled"), "{answer:?}");
    let event = s.seen.lock().unwrap()[0].clone();
    assert_eq!(event.kind, ConnectionEventKind::NeedsReauthorization);
    assert_eq!((event.provider.as_str(), event.user.as_str()), ("junction", "ada"));
    assert_eq!(event.connection_id.as_deref(), Some(&*format!("{UID}/oura")));
    assert_eq!(event.reason.as_deref(), Some("token_refresh_failed: revoked"));
}

#[tokio::test]
async fn forged_stale_and_unsigned_deliveries_are_401_problems() {
    let s = setup(Arc::new(MemoryDedupe::default()));
    let body = br#"{"type":"connected","user":"ada","target":"slack"}"#;
    let mut forged = delivery("hooked", "msg_3", body, HeaderStyle::Svix, 0);
    *forged.body_mut() = Body::from(r#"{"type":"connected","user":"eve","target":"slack"}"#);
    let stale = delivery("hooked", "msg_4", body, HeaderStyle::Svix, 600);
    let unsigned =
        Request::builder().method("POST").uri("/oauth/hooked/webhooks").body(Body::from(body.to_vec())).unwrap();
    for (req, needle) in [(forged, "no signature matches"), (stale, "signed 600s ago"), (unsigned, "is missing")] {
        let answer = send(&s.app, req).await;
        assert_eq!(problem(&answer), (401, "webhook-rejected".to_owned()), "{answer:?}");
        assert!(answer.json()["detail"].as_str().unwrap().contains(needle), "{}", answer.body);
        assert!(!answer.body.contains(&SECRET[6..]));
    }
    assert!(s.seen.lock().unwrap().is_empty());
    // A refused delivery was not recorded: its authentic version is handled.
    let answer = send(&s.app, delivery("hooked", "msg_3", body, HeaderStyle::Svix, 0)).await;
    assert_eq!(outcome(&answer), "handled");
}

#[tokio::test]
async fn failures_the_platform_should_retry_are_5xx_and_nothing_is_recorded() {
    let dedupe = Arc::new(MemoryDedupe::default());
    let s = setup(dedupe.clone());
    let body = br#"{"type":"broken","user":"ada","target":"slack"}"#;
    s.hooked.down.store(true, Ordering::SeqCst);
    let answer = send(&s.app, delivery("hooked", "msg_5", body, HeaderStyle::Svix, 0)).await;
    assert_eq!(problem(&answer), (503, "unavailable".to_owned()));
    assert!(dedupe.is_empty(), "a failed delivery is not marked handled");
    s.hooked.down.store(false, Ordering::SeqCst);
    let answer = send(&s.app, delivery("hooked", "msg_5", body, HeaderStyle::Svix, 0)).await;
    assert_eq!(outcome(&answer), "handled");
    assert_eq!(s.seen.lock().unwrap()[0].kind, ConnectionEventKind::NeedsReauthorization);
}

/// A store that cannot be asked: the delivery is refused with 503 (the platform resends).
#[derive(Debug)]
struct Unreachable;

#[async_trait]
impl DeliveryDedupe for Unreachable {
    async fn first_delivery(
        &self,
        _: oauth_link_core::webhook::DeliveryKey,
        _: chrono::DateTime<chrono::Utc>,
    ) -> oauth_link_core::Result<bool> {
        Err(Error::ReplayGuard { message: "store down".into() })
    }

    async fn forget(&self, _: oauth_link_core::webhook::DeliveryKey) -> oauth_link_core::Result<()> {
        Err(Error::ReplayGuard { message: "store down".into() })
    }
}

#[tokio::test]
async fn an_unreachable_dedupe_store_fails_closed_and_other_routes_answer_problems() {
    let s = setup(Arc::new(Unreachable));
    let body = br#"{"type":"connected","user":"ada","target":"slack"}"#;
    let answer = send(&s.app, delivery("hooked", "msg_6", body, HeaderStyle::Svix, 0)).await;
    assert_eq!(problem(&answer), (503, "unavailable".to_owned()));
    assert!(s.seen.lock().unwrap().is_empty());

    let memory = send(&s.app, delivery("memory", "msg_7", body, HeaderStyle::Svix, 0)).await;
    assert_eq!(problem(&memory), (400, "unsupported".to_owned()));
    let unknown = send(&s.app, delivery("nope", "msg_8", body, HeaderStyle::Svix, 0)).await;
    assert_eq!(problem(&unknown), (404, "unknown-provider".to_owned()));
    let get = send(&s.app, Request::builder().uri("/oauth/hooked/webhooks").body(Body::empty()).unwrap()).await;
    assert_eq!(problem(&get), (405, "method-not-allowed".to_owned()));
}
