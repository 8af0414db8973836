//! `oauth-link-bench`: how much oauth-link adds over the HTTP round trip.
//!
//! Starts the sandbox in-process (faults off) and, for each provider, times N
//! `generate_link` and N `list_connections` calls at concurrency C through the adapter (one
//! shared `Arc<dyn LinkProvider>`), then the very same HTTP requests sent by a hand-written
//! reqwest loop (the floor). Rounds alternate raw / adapter after a warm-up; the best round
//! of each is reported with its p50/p99 latency, the adapter/raw ratio, and the process peak
//! RSS (`VmHWM`).
//!
//! The raw requests are captured from the adapter itself (a recording transport around
//! the default reqwest transport) and replayed byte for byte; only per-call values are
//! renewed (Novu's `idempotency-key`, Junction's `x-vital-link-token` from the previous
//! answer). Before timing, one adapter call and one raw call are compared in the sandbox
//! request log (method, path, query, headers, body) and the run stops if they differ.
//!
//! Every user is known to the platform before timing: seeding links each one through the
//! adapter (Novu's subscriber upsert, Alloy's user lookup or creation, Junction's user) and
//! the calibration calls repeat it, so both sides measure the steady state of a known user,
//! and the first-link requests are not in the floor. A sandbox reached by `--sandbox-url` is
//! reset first (`POST /__sandbox/reset`), so runs can follow each other against one sandbox.
//!
//! Two more columns: `paired`, the median over rounds of adapter round i / raw round i
//! (adjacent in time, so slow drifts of a shared machine cancel), and `own us`, the
//! adapter's mean time per call when every answer is served from memory by a transport
//! replaying the recorded responses (what the adapter itself adds, without the network).
//!
//! ```sh
//! cargo run --release -p oauth-link-bench -- --provider novu --requests 2000 --concurrency 64 --json
//! ```
//!
//! `--completion N` measures something else: Junction's completion latency, polling
//! against webhook events (see the `completion` module).
//!
//! ```sh
//! cargo run --release -p oauth-link-bench -- --completion 20 --latency-ms 20
//! ```

#![deny(missing_docs)]

mod canned;
mod completion;
mod stats;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use http::header::{HeaderMap, HeaderValue};
use oauth_link::http::{
    new_idempotency_key, HttpRequest, HttpResponse, HttpSettings, HttpTransport, ReqwestTransport, TransportFailure,
    USER_AGENT,
};
use oauth_link::{
    core::adapter::async_trait, ConfigMap, ConnectionQuery, LinkContext, LinkRequest, ProviderConfig,
    SharedLinkProvider,
};
use oauth_link_sandbox::{FaultConfig, RunningSandbox, Sandbox, SandboxConfig};
use serde_json::{json, Value};

use crate::canned::{own_cost, Canned};
use crate::stats::{median, peak_rss_bytes, process_cpu, RunStats};

const KINDS: [&str; 4] = ["alloy-headless", "alloy-connectors", "novu", "junction"];
const APP: &str = "https://app.example";
const GENERATE: &str = "generate_link";
const LIST: &str = "list_connections";

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "oauth-link-bench", about = "oauth-link adapters vs raw reqwest against the in-process sandbox")]
struct Args {
    /// One provider kind (alloy-headless, alloy-connectors, novu, junction); all when absent.
    #[arg(long)]
    provider: Option<String>,
    /// Calls per operation and round.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Calls in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Timed rounds of each side (raw, adapter, raw, adapter, ...); the best is reported.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Warm-up calls of each side before timing (default: min(requests, 500)).
    #[arg(long)]
    warmup: Option<usize>,
    /// Distinct app users the calls cycle through (each seeded with connections).
    #[arg(long, default_value_t = 32)]
    users: usize,
    /// Only this operation (generate_link or list_connections); both when absent.
    #[arg(long)]
    operation: Option<String>,
    /// Use a sandbox already running at this root URL (e.g. `oauth-link sandbox --port N`)
    /// instead of one in this process, so the peak RSS is the client's alone.
    #[arg(long)]
    sandbox_url: Option<String>,
    /// Skip the raw loop (e.g. to measure peak RSS over N adapter calls alone).
    #[arg(long)]
    no_raw: bool,
    /// Skip the adapter (profiling the raw loop alone).
    #[arg(long, hide = true)]
    no_adapter: bool,
    /// Only time the adapter with answers served from memory (its own cost; for profiling).
    #[arg(long)]
    own_only: bool,
    /// A/A check of the bench itself: after the request check, the adapter's side is a
    /// second raw loop on its own client, so the ratio columns show the spread of two
    /// identical sides (the noise floor of a ratio on this machine).
    #[arg(long)]
    aa: bool,
    /// Latency the in-process sandbox adds to every platform request, in milliseconds (0:
    /// none). With a round trip like a real platform's, the adapter's CPU hardly counts and
    /// what it does with the wait shows (requests it sends at once, caches that save one).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Instead of throughput: time N Junction completions polling, then N woken by the
    /// webhook event (`provider.connection.created` through the oauth-link-axum route), on
    /// the in-process sandbox with `--latency-ms` and `--connection-delay-ms`.
    #[arg(long, value_name = "N")]
    completion: Option<usize>,
    /// With `--completion`: how long after approval a new connection appears (and its event
    /// leaves).
    #[arg(long, default_value_t = 300)]
    connection_delay_ms: u64,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
}

// ------------------------------------------------------------------ recording transport

/// Wraps the default transport and keeps every request/response pair (calibration only).
#[derive(Debug)]
struct Recorder {
    inner: ReqwestTransport,
    seen: Mutex<Vec<(HttpRequest, HttpResponse)>>,
}

#[async_trait]
impl HttpTransport for Recorder {
    async fn send(&self, request: HttpRequest, max_body: usize) -> Result<HttpResponse, TransportFailure> {
        let response = self.inner.send(request.clone(), max_body).await?;
        self.seen.lock().expect("recorder lock").push((request, response.clone()));
        Ok(response)
    }
}

impl Recorder {
    fn take(&self) -> Vec<(HttpRequest, HttpResponse)> {
        std::mem::take(&mut *self.seen.lock().expect("recorder lock"))
    }
}

// ------------------------------------------------------------------ raw requests

/// One HTTP request of an operation, as the adapter sent it.
#[derive(Debug, Clone)]
struct Step {
    method: http::Method,
    url: reqwest::Url,
    headers: HeaderMap,
    body: Option<bytes::Bytes>,
    /// Carries Novu's `idempotency-key`: a fresh one per call, as the adapter does.
    fresh_idempotency_key: bool,
    /// Carries Junction's `x-vital-link-token`: the one the previous answer gave.
    link_token: bool,
    /// Carries the signed state (in its URL or body), which holds what the earlier answers
    /// gave (Alloy connectors' credential-list watermark rides on the redirect URI of its
    /// link request): it waits for the steps before it, as the adapter must.
    carries_state: bool,
}

impl Step {
    fn from_recorded(request: &HttpRequest) -> Self {
        Step {
            method: request.method.clone(),
            url: request.url.clone(),
            headers: request.headers.clone(),
            body: request.body.clone(),
            fresh_idempotency_key: request.headers.contains_key("idempotency-key"),
            link_token: request.headers.contains_key("x-vital-link-token"),
            carries_state: request.url.as_str().contains("oauth_link_state")
                || request.body.as_ref().is_some_and(|b| String::from_utf8_lossy(b).contains("oauth_link_state")),
        }
    }
}

/// The floor: the same requests through one plain reqwest client, bodies read in full. Steps
/// that need nothing from an earlier answer are sent at once, as the adapter sends them
/// (Alloy connectors' one list per connector, Novu's watermark list beside its link POST);
/// a chain (Junction's link token, then its OAuth URL; a watermark read, then the link
/// request whose redirect URI carries the state made from it) is sent in turn.
async fn raw_call(client: &reqwest::Client, steps: &[Step], decode: bool) -> Result<(), String> {
    if steps.len() > 1 && !steps.iter().any(|s| s.link_token) {
        let (after, first): (Vec<&Step>, Vec<&Step>) = steps.iter().partition(|s| s.carries_state);
        let (first, after) = if first.is_empty() { (after, Vec::new()) } else { (first, after) };
        for group in [first, after] {
            let bodies =
                futures_util::future::try_join_all(group.into_iter().map(|s| raw_send(client, s, None))).await?;
            if decode {
                bodies.iter().try_for_each(|b| decoded(b).map(drop))?;
            }
        }
        return Ok(());
    }
    let mut link_token: Option<String> = None;
    for (k, step) in steps.iter().enumerate() {
        let token = if step.link_token {
            Some(link_token.take().ok_or("no link token from the previous answer")?)
        } else {
            None
        };
        let body = raw_send(client, step, token).await?;
        if steps.get(k + 1).is_some_and(|next| next.link_token) {
            let v: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            link_token = v["link_token"].as_str().map(str::to_owned);
        } else if decode {
            decoded(&body)?;
        }
    }
    Ok(())
}

/// The careful floor's decoding: the answer parsed as JSON (an empty body is no answer).
fn decoded(body: &[u8]) -> Result<Value, String> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| format!("answer is not JSON: {e}"))
}

/// The careful floor's state: claims (user, target, a 16-byte nonce, expiry) as JSON, signed
/// with HMAC-SHA256, both halves base64url, as a hand-written client would issue it.
fn signed_state(key: &[u8], user: &str, target: &str) -> Result<String, String> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let nonce: [u8; 16] = rand::random();
    let exp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs() + 600;
    let claims = json!({ "u": user, "t": target, "n": URL_SAFE_NO_PAD.encode(nonce), "e": exp });
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).map_err(|e| e.to_string())?);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).map_err(|e| e.to_string())?;
    mac.update(payload.as_bytes());
    Ok(format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())))
}

/// Sends one recorded request (with a fresh idempotency key, and `link_token` when given)
/// and reads its body in full; a non-2xx answer is an error.
async fn raw_send(client: &reqwest::Client, step: &Step, link_token: Option<String>) -> Result<bytes::Bytes, String> {
    let mut headers = step.headers.clone();
    if step.fresh_idempotency_key {
        headers.insert("idempotency-key", HeaderValue::from_str(&new_idempotency_key()).map_err(|e| e.to_string())?);
    }
    if let Some(token) = link_token {
        headers.insert("x-vital-link-token", HeaderValue::from_str(&token).map_err(|e| e.to_string())?);
    }
    let mut builder = client.request(step.method.clone(), step.url.clone()).headers(headers);
    if let Some(body) = &step.body {
        builder = builder.body(body.clone());
    }
    let response = builder.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(body)
}

/// The client of the raw loop: the settings `ReqwestTransport` uses.
fn new_raw_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(USER_AGENT)
        .pool_idle_timeout(Duration::from_secs(90))
        .build()
        .expect("raw client")
}

/// Call `i` of the raw loop: the recorded requests of user `i % users`.
fn raw_loop(client: reqwest::Client, steps: Arc<Vec<Vec<Step>>>) -> CallFn {
    Arc::new(move |i| {
        let (client, steps) = (client.clone(), steps.clone());
        Box::pin(async move { raw_call(&client, &steps[i % steps.len()], false).await })
    })
}

/// The second floor, what a careful hand-written client does: the same requests, every
/// answer decoded with serde_json, and for a link an HMAC-signed state issued first.
fn careful_loop(client: reqwest::Client, steps: Arc<Vec<Vec<Step>>>, link_target: Option<&'static str>) -> CallFn {
    const KEY: [u8; 32] = [7; 32];
    Arc::new(move |i| {
        let (client, steps) = (client.clone(), steps.clone());
        Box::pin(async move {
            let n = i % steps.len();
            if let Some(target) = link_target {
                std::hint::black_box(signed_state(&KEY, &user(n), target)?);
            }
            raw_call(&client, &steps[n], true).await
        })
    })
}

// ------------------------------------------------------------------ timing

type Outcome = Result<(), String>;
type CallFn = Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync>;

/// Runs `n` calls of `f`, `c` at a time, and times each.
async fn timed(n: usize, c: usize, f: &CallFn) -> (RunStats, Option<String>) {
    let next = Arc::new(AtomicUsize::new(0));
    let first_error = Arc::new(Mutex::new(None::<String>));
    let started = Instant::now();
    let cpu_before = process_cpu();
    let mut tasks = Vec::with_capacity(c);
    for _ in 0..c.max(1) {
        let (next, f, first_error) = (next.clone(), f.clone(), first_error.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(n / c.max(1) + 1);
            let (mut ok, mut errors) = (0usize, 0usize);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let t = Instant::now();
                match f(i).await {
                    Ok(()) => ok += 1,
                    Err(e) => {
                        errors += 1;
                        first_error.lock().expect("error lock").get_or_insert(e);
                    }
                }
                latencies.push(t.elapsed().as_nanos() as u64);
            }
            (ok, errors, latencies)
        }));
    }
    let (mut ok, mut errors, mut latencies) = (0, 0, Vec::with_capacity(n));
    for task in tasks {
        let (o, e, l) = task.await.expect("bench task");
        ok += o;
        errors += e;
        latencies.extend(l);
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    let error = first_error.lock().expect("error lock").take();
    let mut stats = RunStats::new(ok, errors, elapsed, latencies);
    stats.cpu = cpu;
    (stats, error)
}

// ------------------------------------------------------------------ sandbox

/// The sandbox: in this process, or another one reached through its admin endpoints.
enum Sb {
    Local(RunningSandbox),
    Remote { root: String, http: reqwest::Client, settings: Value },
}

impl Sb {
    fn settings(&self) -> Value {
        match self {
            Sb::Local(sb) => sb.settings(),
            Sb::Remote { settings, .. } => settings.clone(),
        }
    }

    async fn admin(&self, method: http::Method, path: &str, body: Option<Value>) -> Value {
        let Sb::Remote { root, http, .. } = self else { unreachable!("admin calls go to a remote sandbox") };
        let mut r = http.request(method, format!("{root}/__sandbox/{path}"));
        if let Some(body) = body {
            r = r.header("content-type", "application/json").body(body.to_string());
        }
        let response = r.send().await.expect("sandbox admin call");
        serde_json::from_slice(&response.bytes().await.expect("sandbox admin body")).expect("sandbox admin JSON")
    }

    /// Approves a link as the user would; the `status` the browser would get.
    async fn approve(&self, url: &str) -> u64 {
        match self {
            Sb::Local(sb) => u64::from(sb.sandbox().approve(url).expect("the sandbox knows the link").status),
            Sb::Remote { .. } => {
                let r = self.admin(http::Method::POST, "approve", Some(json!({ "url": url }))).await;
                r["status"].as_u64().unwrap_or(0)
            }
        }
    }

    /// The request log entries after `seq`.
    async fn requests_since(&self, seq: u64) -> Vec<Value> {
        let all = match self {
            Sb::Local(sb) => sb.sandbox().requests(),
            Sb::Remote { .. } => {
                let r = self.admin(http::Method::GET, &format!("requests?since={seq}"), None).await;
                r["requests"].as_array().cloned().unwrap_or_default()
            }
        };
        all.into_iter().filter(|e| e["seq"].as_u64().unwrap_or(0) > seq).collect()
    }

    async fn has_alloy_users(&self) -> bool {
        let state = match self {
            Sb::Local(sb) => sb.sandbox().state(),
            Sb::Remote { .. } => self.admin(http::Method::GET, "state", None).await,
        };
        state["alloy"]["users"].as_array().is_some_and(|u| !u.is_empty())
    }
}

// ------------------------------------------------------------------ setup

fn settings(sb: &Sb, kind: &str) -> HashMap<String, String> {
    oauth_link_sandbox::adapter_settings(&sb.settings(), kind, APP)
}

fn build(kind: &str, map: &HashMap<String, String>, ctx: LinkContext) -> SharedLinkProvider {
    let kind: &'static str = KINDS.into_iter().find(|k| *k == kind).expect("known kind");
    ProviderConfig::parse(kind, ConfigMap::from_map(kind, map)).expect("config").build(ctx).expect("provider")
}

/// What each provider's users get connected to; the first is the benchmarked target.
fn targets(kind: &str) -> &'static [&'static str] {
    match kind {
        "alloy-headless" => &["slack", "hubspot", "shopify"],
        "alloy-connectors" => &["slack", "notion", "hubspot"],
        // Novu's OAuth chat integrations are two; a subscriber has one endpoint on each.
        "novu" => &["slack", "msteams"],
        _ => &["oura", "fitbit", "strava"],
    }
}

fn user(n: usize) -> String {
    format!("bench-user-{n}")
}

async fn create_alloy_users(sb: &Sb, users: usize) {
    let http = reqwest::Client::new();
    let s = sb.settings();
    let (base, key) =
        (s["alloy-headless"]["base_url"].as_str().unwrap(), s["alloy-headless"]["api_key"].as_str().unwrap());
    for n in 0..users {
        let r = http
            .post(format!("{base}/users"))
            .header("authorization", format!("bearer {key}"))
            .header("x-api-version", "2025-09")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&json!({ "username": user(n) })).unwrap())
            .send()
            .await
            .expect("create user");
        assert!(r.status().is_success(), "create user {}: {}", user(n), r.status());
    }
}

/// Connects every user to each of the provider's targets, through the adapter and the
/// sandbox's consent (so `list_connections` returns real records).
async fn seed(sb: &Sb, provider: &SharedLinkProvider, kind: &str, users: usize) {
    for n in 0..users {
        for target in targets(kind) {
            let mut request = LinkRequest::new(user(n), *target);
            if *target == "shopify" {
                // The sandbox's Shopify, as Alloy's, requires its one property.
                request = request.with_param("shopSubdomain", "bench-shop");
            }
            let link = provider.generate_link(&request).await.expect("seed link");
            let status = sb.approve(link.url.as_str()).await;
            assert!(matches!(status, 200 | 303), "{kind} approve {target}: HTTP {status}");
        }
    }
    let listed = provider.list_connections(&ConnectionQuery::user(user(0))).await.expect("seeded list");
    assert_eq!(listed.len(), targets(kind).len(), "{kind}: seeded connections of {}", user(0));
}

// ------------------------------------------------------------------ request-log check

async fn last_seq(sb: &Sb) -> u64 {
    sb.requests_since(0).await.iter().filter_map(|e| e["seq"].as_u64()).max().unwrap_or(0)
}

/// Cuts the per-call `oauth_link_state=...` value out of a string.
fn without_state(text: &str) -> String {
    match text.find("oauth_link_state=") {
        Some(at) => {
            let rest = &text[at + "oauth_link_state=".len()..];
            let end = rest.find('&').unwrap_or(rest.len());
            format!("{}oauth_link_state=<state:{}>{}", &text[..at], end, &rest[end..])
        }
        None => text.to_owned(),
    }
}

fn normalise_body(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(without_state(s)),
        Value::Array(a) => Value::Array(a.iter().map(normalise_body).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), normalise_body(v))).collect()),
        other => other.clone(),
    }
}

/// A logged request with its per-call values (idempotency key, signed state) reduced to
/// their shape.
fn normalise(entry: &Value) -> Value {
    let mut headers = entry["headers"].clone();
    if let Some(key) = headers.get_mut("idempotency-key") {
        let k = key.as_str().unwrap_or_default();
        let hex = k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit());
        *key = json!(if hex { "<32 hex>" } else { k });
    }
    json!({
        "method": entry["method"],
        "path": entry["path"],
        "query": entry["query"],
        "headers": headers,
        "body": normalise_body(&entry["body"]),
        "status": entry["status"],
    })
}

// ------------------------------------------------------------------ one provider

struct OpResult {
    operation: &'static str,
    http_requests_per_call: usize,
    adapter: Vec<RunStats>,
    raw: Vec<RunStats>,
    /// The second floor (decoding, signed state), round by round beside `raw`.
    careful: Vec<RunStats>,
    /// The adapter's mean time per call with every answer served from memory.
    own: Duration,
}

fn side_json(runs: &[RunStats]) -> Value {
    if runs.is_empty() {
        return Value::Null;
    }
    let best = runs.iter().max_by(|a, b| a.ops_per_sec().total_cmp(&b.ops_per_sec())).expect("one round");
    let all: Vec<f64> = runs.iter().map(RunStats::ops_per_sec).collect();
    json!({
        "ops_per_sec": round1(best.ops_per_sec()),
        "median_ops_per_sec": round1(median(&all)),
        "p50_ms": round3(best.percentile_ms(50.0)),
        "p99_ms": round3(best.percentile_ms(99.0)),
        "cpu_us_per_call": round1(best.cpu.as_secs_f64() * 1e6 / best.ok.max(1) as f64),
        "rounds_ops_per_sec": all.iter().map(|x| round1(*x)).collect::<Vec<_>>(),
        "errors": runs.iter().map(|r| r.errors).sum::<usize>(),
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn bench_provider(sb: &Sb, kind: &'static str, args: &Args) -> Vec<OpResult> {
    let users = args.users.max(1);
    if kind.starts_with("alloy") && !sb.has_alloy_users().await {
        create_alloy_users(sb, users).await;
    }
    let map = settings(sb, kind);
    let provider = build(kind, &map, LinkContext::ephemeral());
    seed(sb, &provider, kind, users).await;

    // Calibration: the adapter's own requests, recorded per user and operation.
    let recorder = Arc::new(Recorder {
        inner: ReqwestTransport::new(&HttpSettings::default()).expect("transport"),
        seen: Mutex::default(),
    });
    let recording = build(kind, &map, LinkContext::ephemeral().with_transport(recorder.clone()));
    let target = targets(kind)[0];
    let requests: Arc<Vec<LinkRequest>> = Arc::new((0..users).map(|n| LinkRequest::new(user(n), target)).collect());
    let queries: Arc<Vec<ConnectionQuery>> = Arc::new((0..users).map(|n| ConnectionQuery::user(user(n))).collect());
    let mut canned = Canned::default();
    let remember = |canned: &mut Canned, pairs: Vec<(HttpRequest, HttpResponse)>| {
        pairs.iter().for_each(|(request, response)| canned.insert(request, response))
    };
    let mut gen_steps = Vec::with_capacity(users);
    let mut list_steps = Vec::with_capacity(users);
    for n in 0..users {
        // Prime caches (Junction's user mapping) so the recorded call is the steady-state one.
        recording.generate_link(&requests[n]).await.expect("calibration link");
        recording.list_connections(&queries[n]).await.expect("calibration list");
        remember(&mut canned, recorder.take());
        recording.generate_link(&requests[n]).await.expect("calibration link");
        let pairs = recorder.take();
        gen_steps.push(pairs.iter().map(|(r, _)| Step::from_recorded(r)).collect::<Vec<_>>());
        remember(&mut canned, pairs);
        recording.list_connections(&queries[n]).await.expect("calibration list");
        let pairs = recorder.take();
        list_steps.push(pairs.iter().map(|(r, _)| Step::from_recorded(r)).collect::<Vec<_>>());
        remember(&mut canned, pairs);
    }
    let offline = build(kind, &map, LinkContext::ephemeral().with_transport(Arc::new(canned)));
    let gen_steps = Arc::new(gen_steps);
    let list_steps = Arc::new(list_steps);

    let raw_client = new_raw_client();

    let mut out = Vec::new();
    for operation in [GENERATE, LIST] {
        if args.operation.as_deref().is_some_and(|o| o != operation) {
            continue;
        }
        let steps = if operation == GENERATE { gen_steps.clone() } else { list_steps.clone() };
        let adapter_fn: CallFn = {
            let (p, requests, queries) = (provider.clone(), requests.clone(), queries.clone());
            Arc::new(move |i| {
                let (p, requests, queries) = (p.clone(), requests.clone(), queries.clone());
                Box::pin(async move {
                    let n = i % requests.len();
                    if operation == GENERATE {
                        p.generate_link(&requests[n]).await.map(drop).map_err(|e| e.to_string())
                    } else {
                        p.list_connections(&queries[n]).await.map(drop).map_err(|e| e.to_string())
                    }
                })
            })
        };
        let raw_fn = raw_loop(raw_client.clone(), steps.clone());
        let careful_fn = careful_loop(new_raw_client(), steps.clone(), (operation == GENERATE).then_some(target));

        // The raw loop must send what the adapter sends: compare both in the request log,
        // as sets (requests the adapter sends at once, such as Alloy connectors' one list
        // per connector, reach the log in either order; the raw loop sends them in turn).
        let logged = |entries: Vec<Value>| {
            let mut texts: Vec<String> =
                entries.iter().map(|e| serde_json::to_string_pretty(&normalise(e)).unwrap()).collect();
            texts.sort();
            texts
        };
        let before = last_seq(sb).await;
        adapter_fn(0).await.expect("adapter call");
        let adapter_log = logged(sb.requests_since(before).await);
        let before = last_seq(sb).await;
        raw_fn(0).await.expect("raw call");
        let raw_log = logged(sb.requests_since(before).await);
        let before = last_seq(sb).await;
        careful_fn(0).await.expect("careful raw call");
        let careful_log = logged(sb.requests_since(before).await);
        assert_eq!(adapter_log, careful_log, "{kind} {operation}: the careful floor must send the adapter's requests");
        assert!(!adapter_log.is_empty(), "{kind} {operation}: nothing logged");
        assert_eq!(adapter_log, raw_log, "{kind} {operation}: the raw loop must send the adapter's requests");

        // A/A: the other side is the same raw loop, with a connection pool of its own as
        // the adapter has.
        let adapter_fn = if args.aa { raw_loop(new_raw_client(), steps.clone()) } else { adapter_fn };
        let warmup = if args.own_only { 0 } else { args.warmup.unwrap_or(args.requests.min(500)) };
        let c = args.concurrency.max(1);
        if !args.no_raw {
            timed(warmup, c, &raw_fn).await;
            timed(warmup, c, &careful_fn).await;
        }
        if !args.no_adapter {
            timed(warmup, c, &adapter_fn).await;
        }
        let (mut adapter, mut raw, mut careful) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..if args.own_only { 0 } else { args.rounds.max(1) } {
            for (f, into) in [(&raw_fn, &mut raw), (&adapter_fn, &mut adapter), (&careful_fn, &mut careful)] {
                let is_raw = Arc::ptr_eq(f, &raw_fn) || Arc::ptr_eq(f, &careful_fn);
                if (args.no_raw && is_raw) || (args.no_adapter && Arc::ptr_eq(f, &adapter_fn)) {
                    continue;
                }
                let (stats, error) = timed(args.requests, c, f).await;
                if let Some(e) = error {
                    eprintln!("{kind} {operation}: {} errors, first: {e}", stats.errors);
                }
                into.push(stats);
            }
        }
        let own_n = if args.own_only { args.requests } else { (args.requests / 2).max(1) };
        own_cost(&offline, operation == GENERATE, &requests, &queries, own_n.min(500)).await;
        let own = own_cost(&offline, operation == GENERATE, &requests, &queries, own_n).await;
        out.push(OpResult { operation, http_requests_per_call: adapter_log.len(), adapter, raw, careful, own });
    }
    out
}

// ------------------------------------------------------------------ machine

fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, m)| m.trim().to_owned()))
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu_model": cpu,
        "mem_total_mb": mem_kb / 1024,
        "loadavg": load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    })
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let kinds: Vec<&'static str> = match &args.provider {
        Some(p) => match KINDS.into_iter().find(|k| k == p) {
            Some(k) => vec![k],
            None => {
                eprintln!("error: unknown provider `{p}`; one of {}", KINDS.join(", "));
                std::process::exit(2);
            }
        },
        None => KINDS.to_vec(),
    };
    if let Some(op) = &args.operation {
        if op != GENERATE && op != LIST {
            eprintln!("error: unknown operation `{op}`; {GENERATE} or {LIST}");
            std::process::exit(2);
        }
    }
    if args.latency_ms > 0 && args.sandbox_url.is_some() {
        eprintln!("error: --latency-ms applies to the in-process sandbox; set a separate sandbox's faults through POST /__sandbox/faults");
        std::process::exit(2);
    }
    if let Some(n) = args.completion {
        if args.sandbox_url.is_some() || n == 0 {
            eprintln!("error: --completion N (N > 0) runs its own in-process sandboxes; drop --sandbox-url");
            std::process::exit(2);
        }
        completion::run(n, args.latency_ms, args.connection_delay_ms, args.json).await;
        return;
    }
    // Faults are off by default; a short request log is enough for the request check.
    let sb = match &args.sandbox_url {
        None => {
            let faults = FaultConfig { latency_ms: args.latency_ms, ..FaultConfig::default() };
            let config = SandboxConfig::default().request_log_capacity(256).faults(faults);
            Sb::Local(Sandbox::start(config).await.expect("sandbox starts"))
        }
        Some(root) => {
            let root = root.trim_end_matches('/').to_owned();
            let http = reqwest::Client::new();
            // A clean sandbox for every run: the seeded connections of a previous run would
            // add to this run's (and its request log to the request check).
            let reset = http.post(format!("{root}/__sandbox/reset")).send().await.expect("sandbox reachable");
            assert!(reset.status().is_success(), "POST /__sandbox/reset: HTTP {}", reset.status());
            let response = http.get(format!("{root}/__sandbox/settings")).send().await.expect("sandbox reachable");
            let settings: Value =
                serde_json::from_slice(&response.bytes().await.expect("settings body")).expect("sandbox settings");
            Sb::Remote { root, http, settings }
        }
    };
    let started = Instant::now();
    let mut rows = Vec::new();
    for kind in kinds {
        for r in bench_provider(&sb, kind, &args).await {
            let best = |runs: &[RunStats]| runs.iter().map(RunStats::ops_per_sec).fold(0.0, f64::max);
            let ratio = best(&r.adapter) / best(&r.raw).max(f64::MIN_POSITIVE);
            let med = |runs: &[RunStats]| median(&runs.iter().map(RunStats::ops_per_sec).collect::<Vec<_>>());
            let ratio_median = med(&r.adapter) / med(&r.raw).max(f64::MIN_POSITIVE);
            // Round i of each side ran back to back: their ratio cancels slow drifts of the
            // shared machine that best-of and median-of rounds do not.
            let paired: Vec<f64> = r
                .adapter
                .iter()
                .zip(&r.raw)
                .map(|(a, raw)| a.ops_per_sec() / raw.ops_per_sec().max(f64::MIN_POSITIVE))
                .collect();
            let paired_careful: Vec<f64> = r
                .adapter
                .iter()
                .zip(&r.careful)
                .map(|(a, raw)| a.ops_per_sec() / raw.ops_per_sec().max(f64::MIN_POSITIVE))
                .collect();
            rows.push(json!({
                "provider": kind,
                "operation": r.operation,
                "http_requests_per_call": r.http_requests_per_call,
                "adapter": side_json(&r.adapter),
                "raw": side_json(&r.raw),
                "ratio": round3(ratio),
                "ratio_median": round3(ratio_median),
                "ratio_paired_median": round3(median(&paired)),
                "careful": side_json(&r.careful),
                "ratio_careful_paired_median": round3(median(&paired_careful)),
                "adapter_own_us_per_call": round3(r.own.as_secs_f64() * 1e6),
                "peak_rss_mb_so_far": round1(peak_rss_bytes() as f64 / 1048576.0),
            }));
        }
    }
    let peak = peak_rss_bytes();
    if let Sb::Local(sb) = sb {
        sb.shutdown().await.expect("sandbox stops");
    }
    let doc = json!({
        "machine": machine(),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "users": args.users,
        "sandbox": if args.sandbox_url.is_some() { "separate process" } else { "in process" },
        "latency_ms": args.latency_ms,
        "mode": if args.aa { "a/a: raw loop against raw loop" } else { "adapter against raw loop" },
        "results": rows,
        "peak_rss_bytes": peak,
        "peak_rss_mb": round1(peak as f64 / 1048576.0),
        "wall_secs": round1(started.elapsed().as_secs_f64()),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
        return;
    }
    let m = &doc["machine"];
    println!(
        "oauth-link-bench: N={} C={} rounds={} users={} | {} x {} | load {}",
        args.requests,
        args.concurrency,
        args.rounds,
        args.users,
        m["nproc"],
        m["cpu_model"].as_str().unwrap_or(""),
        m["loadavg"].as_str().unwrap_or("")
    );
    if args.latency_ms > 0 {
        println!("the sandbox adds {} ms to every platform request", args.latency_ms);
    }
    if args.aa {
        println!("A/A check: the adapter columns are a second raw loop (its own client); ratios show the noise floor");
    }
    println!(
        "{:<17} {:<17} {:>4} {:>11} {:>8} {:>8} {:>7} {:>11} {:>8} {:>8} {:>7} {:>7} {:>7} {:>7} {:>10} {:>8}",
        "provider",
        "operation",
        "req",
        "adapter/s",
        "p50 ms",
        "p99 ms",
        "cpu us",
        "raw/s",
        "p50 ms",
        "p99 ms",
        "cpu us",
        "ratio",
        "paired",
        "own us",
        "careful/s",
        "paired2"
    );
    for r in doc["results"].as_array().expect("rows") {
        println!(
            "{:<17} {:<17} {:>4} {:>11.0} {:>8.3} {:>8.3} {:>7.1} {:>11.0} {:>8.3} {:>8.3} {:>7.1} {:>7.3} {:>7.3} {:>7.2} {:>10.0} {:>8.3}",
            r["provider"].as_str().unwrap_or(""),
            r["operation"].as_str().unwrap_or(""),
            r["http_requests_per_call"],
            r["adapter"]["ops_per_sec"].as_f64().unwrap_or(0.0),
            r["adapter"]["p50_ms"].as_f64().unwrap_or(0.0),
            r["adapter"]["p99_ms"].as_f64().unwrap_or(0.0),
            r["adapter"]["cpu_us_per_call"].as_f64().unwrap_or(0.0),
            r["raw"]["ops_per_sec"].as_f64().unwrap_or(0.0),
            r["raw"]["p50_ms"].as_f64().unwrap_or(0.0),
            r["raw"]["p99_ms"].as_f64().unwrap_or(0.0),
            r["raw"]["cpu_us_per_call"].as_f64().unwrap_or(0.0),
            r["ratio"].as_f64().unwrap_or(0.0),
            r["ratio_paired_median"].as_f64().unwrap_or(0.0),
            r["adapter_own_us_per_call"].as_f64().unwrap_or(0.0),
            r["careful"]["ops_per_sec"].as_f64().unwrap_or(0.0),
            r["ratio_careful_paired_median"].as_f64().unwrap_or(0.0),
        );
    }
    println!(
        "peak RSS {:.1} MB (VmHWM), wall {:.1} s",
        doc["peak_rss_mb"].as_f64().unwrap_or(0.0),
        doc["wall_secs"].as_f64().unwrap_or(0.0)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{KeyInit, Mac};

    #[test]
    fn the_careful_floor_signs_fresh_verifiable_states() {
        let key = [7u8; 32];
        let a = signed_state(&key, "bench-user-0", "slack").unwrap();
        let b = signed_state(&key, "bench-user-0", "slack").unwrap();
        assert_ne!(a, b, "a fresh nonce per state");
        let (payload, tag) = a.split_once('.').unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(payload.as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(tag).unwrap()).unwrap();
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!((claims["u"].as_str(), claims["t"].as_str()), (Some("bench-user-0"), Some("slack")));
    }

    #[test]
    fn the_careful_floor_rejects_an_answer_that_is_not_json() {
        assert_eq!(decoded(b"").unwrap(), Value::Null);
        assert_eq!(decoded(br#"{"a":1}"#).unwrap(), json!({ "a": 1 }));
        assert!(decoded(b"<html>").is_err());
    }
}
