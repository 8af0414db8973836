//! `--completion N`: how long Junction's `complete_callback` takes, polling against events.
//!
//! Each mode runs its own in-process sandbox (the same `--latency-ms` on every platform
//! request) where a new connection appears `--connection-delay-ms` after the approval, as on
//! a platform that finishes the connection after the browser came back. N times, one after
//! the other: a link for a new user, the sandbox approves it, and `complete_callback` is
//! timed from the callback to the `Connection`.
//!
//! - `polling`: no webhooks; completion looks at `GET /v2/user/providers/{user_id}` with the
//!   default poll policy (250 ms, doubling up to 2 s, for at most 10 s).
//! - `events`: the sandbox delivers `provider.connection.created` (Svix-signed) when the
//!   connection appears, to the oauth-link-axum router's `POST /junction/webhooks` in this
//!   process, which verifies it and (through `webhook_event`) wakes the waiting
//!   completion; the same polling stays the fallback.

use std::time::{Duration, Instant};

use oauth_link::axum::{user_fn, CookieKey, LinkRouter};
use oauth_link::{Callback, ConfigMap, LinkContext, LinkRequest, ProviderConfig, SharedLinkProvider};
use oauth_link_sandbox::{FaultConfig, Sandbox, SandboxConfig, WebhookTarget};
use serde_json::{json, Value};

use crate::stats::percentile;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One mode's completion times.
struct Mode {
    name: &'static str,
    micros: Vec<u64>,
}

impl Mode {
    fn json(&self) -> Value {
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        let ms = |us: u64| (us as f64 / 100.0).round() / 10.0;
        let mean = sorted.iter().sum::<u64>() / sorted.len().max(1) as u64;
        json!({
            "mode": self.name,
            "completions": sorted.len(),
            "p50_ms": ms(percentile(&sorted, 50.0)),
            "p95_ms": ms(percentile(&sorted, 95.0)),
            "max_ms": ms(sorted.last().copied().unwrap_or(0)),
            "mean_ms": ms(mean),
        })
    }
}

/// Runs both modes and prints the table (or JSON).
pub(crate) async fn run(n: usize, latency_ms: u64, delay_ms: u64, as_json: bool) {
    let mut modes = Vec::new();
    for events in [false, true] {
        modes.push(measure(n, latency_ms, delay_ms, events).await);
    }
    let doc = json!({
        "benchmark": "junction complete_callback latency",
        "latency_ms": latency_ms,
        "connection_delay_ms": delay_ms,
        "poll": {"interval_ms": 250, "max_interval_ms": 2000, "timeout_ms": 10000},
        "results": modes.iter().map(Mode::json).collect::<Vec<_>>(),
    });
    if as_json {
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        return;
    }
    println!(
        "junction complete_callback, {n} completions per mode; the sandbox adds {latency_ms} ms to every request, a new connection appears {delay_ms} ms after approval"
    );
    println!("{:<8} {:>8} {:>8} {:>8} {:>8}", "mode", "p50 ms", "p95 ms", "max ms", "mean ms");
    for row in doc["results"].as_array().into_iter().flatten() {
        println!(
            "{:<8} {:>8.1} {:>8.1} {:>8.1} {:>8.1}",
            row["mode"].as_str().unwrap_or(""),
            row["p50_ms"].as_f64().unwrap_or_default(),
            row["p95_ms"].as_f64().unwrap_or_default(),
            row["max_ms"].as_f64().unwrap_or_default(),
            row["mean_ms"].as_f64().unwrap_or_default()
        );
    }
}

async fn measure(n: usize, latency_ms: u64, delay_ms: u64, events: bool) -> Mode {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the app");
    let app_url = format!("http://{}", listener.local_addr().expect("app address"));
    let mut config = SandboxConfig::default()
        .request_log_capacity(256)
        .faults(FaultConfig { latency_ms, ..FaultConfig::default() })
        .junction_connection_delay(Duration::from_millis(delay_ms));
    if events {
        let target = WebhookTarget::new(&format!("{app_url}/oauth/junction/webhooks"), SECRET).expect("target");
        config = config.junction_webhook(target).webhook_retry_schedule(vec![Duration::ZERO]);
    }
    let sandbox = Sandbox::start(config).await.expect("sandbox starts");
    let mut map = oauth_link_sandbox::adapter_settings(&sandbox.settings(), "junction", &app_url);
    map.insert("webhook_secret".into(), SECRET.into());
    let provider: SharedLinkProvider = ProviderConfig::parse("junction", ConfigMap::from_map("junction", &map))
        .expect("config")
        .build(LinkContext::ephemeral())
        .expect("provider");
    let links = LinkRouter::builder(CookieKey::generate(), user_fn(|_: &axum::http::request::Parts| None::<String>))
        .provider(provider.clone())
        .build()
        .expect("router");
    let app = axum::Router::new().nest("/oauth", links);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut micros = Vec::with_capacity(n);
    for i in 0..n {
        let user = format!("completion-user-{}-{i}", if events { "e" } else { "p" });
        let link = provider.generate_link(&LinkRequest::new(user, "oura")).await.expect("link");
        let consent = sandbox.sandbox().approve(link.url.as_str()).expect("a link the sandbox knows");
        let location = consent.location.expect("Junction redirects back");
        let callback = Callback::from_url("junction", &location).expect("callback");
        let started = Instant::now();
        provider.complete_callback(&callback).await.expect("completes");
        micros.push(started.elapsed().as_micros() as u64);
    }
    server.abort();
    sandbox.shutdown().await.expect("sandbox stops");
    Mode { name: if events { "events" } else { "polling" }, micros }
}
