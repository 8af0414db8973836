//! Admin endpoints, request log, faults, settings and embedding.

mod support;

use oauth_link_sandbox::{FaultConfig, Platform, Sandbox, SandboxConfig};
use serde_json::{json, Value};
use support::{start, T};

async fn statuses(t: &T, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(t.novu("GET", "/v1/channel-endpoints", None).await.status);
    }
    out
}

#[tokio::test]
async fn faults_are_deterministic_for_a_seed() {
    let t = start(SandboxConfig::default()).await;
    let cfg = json!({"seed": 7, "rate_429": 0.2, "rate_500": 0.2, "rate_503": 0.2});
    let r = t.admin("POST", "/faults", Some(&cfg)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(t.admin("GET", "/faults", None).await.json()["rate_503"], 0.2);
    let first = statuses(&t, 30).await;
    t.admin("POST", "/faults", Some(&cfg)).await;
    let second = statuses(&t, 30).await;
    assert_eq!(first, second, "same seed, same sequence");
    assert!(first.contains(&429) && first.contains(&500) && first.contains(&503) && first.contains(&200), "{first:?}");
    t.admin("POST", "/faults", Some(&json!({"seed": 8, "rate_429": 0.2, "rate_500": 0.2, "rate_503": 0.2}))).await;
    assert_ne!(statuses(&t, 30).await, first, "another seed, another sequence");

    // Shapes and Retry-After.
    t.admin("POST", "/faults", Some(&json!({"rate_429": 1.0, "retry_after_secs": 3}))).await;
    let r = t.novu("GET", "/v1/channel-endpoints", None).await;
    assert_eq!((r.status, r.header("retry-after").as_deref()), (429, Some("3")));
    assert_eq!(r.json(), json!("API rate limit exceeded"));
    let r = t.alloy("GET", "/users", None).await;
    assert_eq!(r.status, 429);
    assert!(r.json()["message"].is_string());
    let r = t.junction("POST", "/v2/user", Some(&json!({"client_user_id": "x"}))).await;
    assert_eq!(r.status, 429);
    assert!(r.json()["detail"].is_string());
    // Never on admin endpoints or consent pages.
    assert_eq!(t.admin("GET", "/state", None).await.status, 200);
    assert_eq!(t.req("GET", "/novu/consent/unknown", &[], None).await.status, 404);

    // Scoped to one platform.
    t.admin("POST", "/faults", Some(&json!({"rate_503": 1.0, "platforms": ["junction"]}))).await;
    assert_eq!(t.alloy("GET", "/users", None).await.status, 200);
    assert_eq!(t.junction("GET", "/v2/user/resolve/x", None).await.status, 503);

    // Queued statuses: used once each, in order, in the platform's error shape.
    t.admin("POST", "/faults", Some(&json!({"fail_next": [401, 403], "platforms": ["novu"]}))).await;
    assert_eq!(t.alloy("GET", "/users", None).await.status, 200, "out of scope");
    let r = t.novu("GET", "/v1/channel-endpoints", None).await;
    assert_eq!((r.status, r.json()["statusCode"].clone()), (401, json!(401)));
    assert!(r.json().get("errorId").is_none(), "errorId is for 500s only");
    assert_eq!(t.novu("GET", "/v1/channel-endpoints", None).await.status, 403);
    assert_eq!(t.novu("GET", "/v1/channel-endpoints", None).await.status, 200);
    assert_eq!(t.admin("GET", "/faults", None).await.json()["fail_next"], json!([]));
    t.admin("POST", "/faults", Some(&json!({"fail_next": [404]}))).await;
    let r = t.junction("GET", "/v2/user/resolve/x", None).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["detail"].is_string());

    // Bad settings are rejected.
    assert_eq!(t.admin("POST", "/faults", Some(&json!({"fail_next": [200]}))).await.status, 400);
    assert_eq!(t.admin("POST", "/faults", Some(&json!({"rate_500": 2.0}))).await.status, 400);
    assert_eq!(t.admin("POST", "/faults", Some(&json!({"rate_5000": 0.1}))).await.status, 400);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn body_faults_break_the_client() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("s").await;
    let link = t
        .novu(
            "POST",
            "/v1/integrations/channel-endpoints/oauth",
            Some(&json!({"subscriberId": "s", "integrationIdentifier": "slack"})),
        )
        .await
        .json()["data"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    t.sb.sandbox().approve(&link).unwrap();
    let endpoint = t.sb.sandbox().state()["novu"]["endpoints"][0]["identifier"].as_str().unwrap().to_string();
    t.admin("DELETE", "/requests", None).await;
    t.sb.sandbox().set_faults(FaultConfig { rate_truncated: 1.0, ..Default::default() }).unwrap();
    let r = t.alloy("GET", "/metadata/credentials", None).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err(), "truncated: {}", r.text());

    t.sb.sandbox().set_faults(FaultConfig { rate_malformed: 1.0, ..Default::default() }).unwrap();
    let r = t.alloy("GET", "/metadata/credentials", None).await;
    assert!(serde_json::from_slice::<Value>(&r.body).is_err(), "malformed: {}", r.text());

    t.sb.sandbox().set_faults(FaultConfig { rate_drop: 1.0, ..Default::default() }).unwrap();
    let resp = t
        .http
        .get(t.url("/alloy/metadata/credentials"))
        .header("authorization", "Bearer sandbox_alloy_key")
        .header("x-api-version", "2025-09")
        .send()
        .await;
    let resp = resp.expect("status and headers arrive");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers().get("x-sandbox-fault"), None, "the marker header is not sent");
    assert!(resp.bytes().await.is_err(), "the connection must break mid-body");
    // A bodiless answer (Novu DELETE 204) must not look like a success either.
    let r = t
        .http
        .delete(t.url(&format!("/novu/v1/channel-endpoints/{endpoint}")))
        .header("authorization", "ApiKey sandbox_novu_secret_key")
        .send()
        .await;
    assert!(r.is_err(), "the connection closes before the 204 is sent");
    assert_eq!(t.sb.sandbox().state()["novu"]["endpoints"], json!([]), "the handler did run");

    t.sb.sandbox().set_faults(FaultConfig { latency_ms: 150, ..Default::default() }).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(t.alloy("GET", "/users", None).await.status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    let log = t.admin("GET", "/requests?platform=alloy", None).await.json();
    let faults: Vec<Value> = log["requests"].as_array().unwrap().iter().map(|e| e["fault"].clone()).collect();
    assert_eq!(faults, vec![json!("truncated"), json!("malformed"), json!("drop"), Value::Null]);
    let novu = t.admin("GET", "/requests?platform=novu", None).await.json();
    assert_eq!(novu["requests"][0]["fault"], "drop");
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn request_log_masks_secrets_and_reset_clears_everything() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("s").await;
    t.admin("DELETE", "/requests", None).await;
    t.novu(
        "POST",
        "/v1/integrations/channel-endpoints/oauth",
        Some(&json!({"subscriberId": "s", "integrationIdentifier": "slack"})),
    )
    .await;
    t.junction("POST", "/v2/user", Some(&json!({"client_user_id": "log-me"}))).await;
    let log = t.admin("GET", "/requests", None).await.json();
    let entries = log["requests"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "admin calls are not logged: {log}");
    let n = &entries[0];
    assert_eq!(n["platform"], "novu");
    assert_eq!(n["method"], "POST");
    assert_eq!(n["path"], "/novu/v1/integrations/channel-endpoints/oauth");
    assert_eq!(n["headers"]["authorization"], "ApiKey ***");
    assert_eq!(n["body"], json!({"subscriberId": "s", "integrationIdentifier": "slack"}));
    assert_eq!(n["status"], 201);
    assert_eq!(entries[1]["headers"]["x-vital-api-key"], "***");
    assert!(!log.to_string().contains("sandbox_novu_secret_key"));
    assert!(!log.to_string().contains("sk_us_sandbox_junction_key"));
    let only = t.admin("GET", "/requests?platform=junction&method=post", None).await.json();
    assert_eq!(only["requests"].as_array().unwrap().len(), 1);

    let state = t.admin("GET", "/state", None).await.json();
    assert_eq!(state["junction"]["users"][0]["client_user_id"], "log-me");
    assert_eq!(state["novu"]["links"].as_array().unwrap().len(), 1);
    assert_eq!(t.admin("POST", "/reset", None).await.status, 200);
    let state = t.admin("GET", "/state", None).await.json();
    assert_eq!(state["junction"]["users"], json!([]));
    assert_eq!(state["novu"]["links"], json!([]));
    assert_eq!(state["novu"]["subscribers"], json!([]));
    assert_eq!(t.admin("GET", "/requests", None).await.json()["requests"], json!([]));
    // The user is really gone.
    assert_eq!(t.junction("POST", "/v2/user", Some(&json!({"client_user_id": "log-me"}))).await.status, 200);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn admin_approve_and_deny_return_the_redirect() {
    let t = start(SandboxConfig::default()).await;
    let uid = t.junction("POST", "/v2/user", Some(&json!({"client_user_id": "a"}))).await.json()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let tok = t
        .junction(
            "POST",
            "/v2/link/token",
            Some(&json!({"user_id": uid, "provider": "garmin", "redirect_url": "https://x.example/r"})),
        )
        .await
        .json();
    let r = t.admin("POST", "/approve", Some(&json!({"url": tok["link_web_url"]}))).await.json();
    assert_eq!(r["platform"], "junction");
    assert_eq!(r["status"], 303);
    assert_eq!(r["location"], "https://x.example/r?state=success");
    // By bare id: the token is spent now.
    let r = t.admin("POST", "/deny", Some(&json!({"id": tok["link_token"]}))).await.json();
    assert!(r["location"].as_str().unwrap().contains("error_type=token_consumed"), "{r}");
    let r = t.admin("POST", "/approve", Some(&json!({"url": "http://127.0.0.1:1/novu/consent/nope"}))).await;
    assert_eq!(r.status, 404);
    t.novu_subscriber("s").await;

    let url = t
        .novu(
            "POST",
            "/v1/integrations/channel-endpoints/oauth",
            Some(&json!({"subscriberId": "s", "integrationIdentifier": "slack"})),
        )
        .await
        .json()["data"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t.sb.sandbox().deny(&url).unwrap();
    assert_eq!((r.platform, r.status, r.body.as_deref()), (Platform::Novu, 400, Some("OAuth error: access_denied")));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn settings_have_the_documented_shape() {
    let t = start(SandboxConfig::default().novu_api_key("my-novu-key")).await;
    let root = t.sb.url().to_string();
    let s = t.sb.settings();
    assert_eq!(
        s,
        json!({
            "novu": {"base_url": format!("{root}/novu"), "api_key": "my-novu-key"},
            "alloy-headless": {"base_url": format!("{root}/alloy"), "api_key": "sandbox_alloy_key"},
            "alloy-connectors": {"base_url": format!("{root}/alloy"), "api_key": "sandbox_alloy_key"},
            "junction": {"base_url": format!("{root}/junction"), "api_key": "sk_us_sandbox_junction_key"},
        })
    );
    assert_eq!(t.admin("GET", "/settings", None).await.json(), s);
    assert_eq!(t.sb.base_url(Platform::AlloyConnectors), format!("{root}/alloy"));
    assert!(root.starts_with("http://127.0.0.1:"));
    assert_eq!(t.sb.api_key(Platform::Novu), "my-novu-key");
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn router_can_be_nested_in_another_app() {
    let sandbox = Sandbox::new(SandboxConfig::default());
    let app = axum::Router::new().nest("/sandbox", sandbox.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = http
        .post(format!("http://{addr}/sandbox/novu/v2/subscribers"))
        .header("authorization", "ApiKey sandbox_novu_secret_key")
        .header("content-type", "application/json")
        .body(r#"{"subscriberId": "s"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("http://{addr}/sandbox/novu/v1/integrations/channel-endpoints/oauth"))
        .header("authorization", "ApiKey sandbox_novu_secret_key")
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({"subscriberId": "s", "integrationIdentifier": "slack"})).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let url = serde_json::from_slice::<Value>(&r.bytes().await.unwrap()).unwrap()["data"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with(&format!("http://{addr}/sandbox/novu/consent/")), "{url}");
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let approve = http.post(format!("{url}/approve")).send().await.unwrap();
    assert_eq!(approve.status(), 200, "close-tab page");
    assert_eq!(sandbox.state()["novu"]["endpoints"].as_array().unwrap().len(), 1);
    let settings = sandbox.settings_for(&format!("http://{addr}/sandbox"));
    assert_eq!(settings["novu"]["base_url"], format!("http://{addr}/sandbox/novu"));
    server.abort();
}

#[tokio::test]
async fn shutdown_is_graceful_and_frees_the_port() {
    let t = start(SandboxConfig::default()).await;
    let addr = t.sb.addr();
    assert_eq!(t.admin("GET", "/health", None).await.json(), json!({"ok": true}));
    t.sb.shutdown().await.expect("clean shutdown");
    let after = reqwest::Client::new().get(format!("http://{addr}/__sandbox/health")).send().await;
    assert!(after.is_err(), "nothing listens after shutdown");
    // The port can be bound again, e.g. by a sandbox on a fixed port.
    let again = Sandbox::start(SandboxConfig::default().port(addr.port())).await.expect("port is free again");
    assert_eq!(again.addr(), addr);
    again.shutdown().await.unwrap();
}

#[tokio::test]
async fn processing_time_delays_the_answer_after_the_handler_ran() {
    let t = start(SandboxConfig::default()).await;
    let faults = json!({"processing_ms": 150, "platforms": ["junction"]});
    assert_eq!(t.admin("POST", "/faults", Some(&faults)).await.json()["processing_ms"], 150);
    let started = std::time::Instant::now();
    assert_eq!(t.alloy("GET", "/users", None).await.status, 200);
    assert!(started.elapsed() < std::time::Duration::from_millis(150), "out of scope");
    let started = std::time::Instant::now();
    let body = json!({"client_user_id": "slow"});
    let slow = t.junction("POST", "/v2/user", Some(&body));
    let (r, seen) = tokio::join!(slow, async {
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
        t.sb.sandbox().state()["junction"]["users"].as_array().map(Vec::len)
    });
    assert_eq!(r.status, 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
    assert_eq!(seen, Some(1), "the user existed before the answer arrived");
    t.sb.shutdown().await.unwrap();
}
