//! Several app instances under faults (issue 20, item 1).
//!
//! Three app instances run as separate processes (`src/bin/app_instance.rs`: the provider
//! from the environment only, the same code for every kind) and share one real
//! `redis-server` (the Redis replay guard, `OAUTH_LINK_REDIS_URL`) and one sandbox (in this
//! process) with 20% seeded platform faults. For each of the four kinds, N flows: link at
//! one instance, the user approves at the sandbox, then the callback is delivered twice, to
//! two other instances: at the same moment for even flows, one after the other for odd
//! ones. Each instance retries typed retryable errors itself (at most 5 attempts). A third
//! of the way into each kind's run, Redis is stopped (`SHUTDOWN SAVE`: a restart that keeps
//! its data, as a Redis holding replay marks must), kept down 1 s and started again on the
//! same port while flows are in flight.
//!
//! Asserted for every kind: every flow completes exactly once (one delivery returns the
//! connection, the other is refused as a replay or fails with a typed error); 0 double
//! completions; 0 lost (approved but never completed); no untyped failure (an instance
//! that panics or answers something else than its JSON); the platform holds exactly one
//! connection per flow's user, and `list_connections` at an instance shows that one with
//! the id completion returned; the Redis outage was seen by completions (typed
//! `ReplayGuard` errors) and its data survived the restart.
//!
//! `OAUTH_LINK_MULTI_FLOWS` sets N (default 250; the full size is 3000).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oauth_link_sandbox::{FaultConfig, RunningSandbox, Sandbox, SandboxConfig};
use oauth_link_testkit::redis_server::RedisServer;
use oauth_link_tests::sandbox::{settings, target, twenty_percent_faults, APP, KINDS};
use oauth_link_tests::STATE_SECRET;
use serde_json::{json, Value};

/// Sets the number of flows per provider.
const FLOWS_ENV: &str = "OAUTH_LINK_MULTI_FLOWS";
/// Flows per provider when [`FLOWS_ENV`] is unset.
const DEFAULT_FLOWS: usize = 250;
/// App instances (processes).
const INSTANCES: usize = 3;
/// Flows in flight at once.
const CONCURRENCY: usize = 24;
/// The app's bounded retry: attempts per request, first backoff (doubling).
const APP_ATTEMPTS: u32 = 5;
const APP_BACKOFF_MS: u64 = 150;
/// How long Redis stays down.
const REDIS_DOWN: Duration = Duration::from_secs(1);
/// Seed of the platform faults.
const SEED: u64 = 2027;

/// The soaks' 20% fault mix ([`twenty_percent_faults`]).
fn faults() -> FaultConfig {
    twenty_percent_faults(SEED)
}

fn flows_per_provider() -> usize {
    match std::env::var(FLOWS_ENV) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| panic!("{FLOWS_ENV} must be a positive number, got {v:?}")),
        Err(_) => DEFAULT_FLOWS,
    }
}

/// One app instance process, killed by PID when dropped (also when the test panics).
struct Instance {
    child: Option<Child>,
    url: String,
}

impl Instance {
    /// Starts the instance binary with exactly `env` (plus `PATH`) and waits for its address.
    fn start(name: &str, env: &[(String, String)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_app_instance"));
        command.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start app instance {name}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut instance = Self { child: Some(child), url: String::new() };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let Some(addr) = line.trim().strip_prefix("listening ") else {
            panic!("app instance {name} did not start (first stdout line {line:?}); see its stderr above");
        };
        instance.url = format!("http://{addr}");
        instance
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The environment of an app instance of `kind`: what an app deployment sets.
fn instance_env(running: &RunningSandbox, kind: &str, redis_url: &str) -> Vec<(String, String)> {
    let prefix = format!("OAUTH_LINK_{}_", kind.to_ascii_uppercase().replace('-', "_"));
    let mut env: Vec<(String, String)> = settings(running, kind)
        .into_iter()
        .map(|(key, value)| (format!("{prefix}{}", key.to_ascii_uppercase()), value))
        .collect();
    env.extend(
        [
            ("OAUTH_LINK_PROVIDER", kind),
            ("OAUTH_LINK_STATE_SECRET", STATE_SECRET),
            ("OAUTH_LINK_REDIS_URL", redis_url),
            ("APP_RETRY_ATTEMPTS", &APP_ATTEMPTS.to_string()),
            ("APP_RETRY_BASE_MS", &APP_BACKOFF_MS.to_string()),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    env.sort();
    env
}

/// What an instance answered to one request.
#[derive(Debug, Clone)]
struct Reply {
    /// Attempts the instance made (its bounded retry).
    attempts: u64,
    /// The typed error kind of each failed attempt.
    errors: Vec<String>,
    outcome: Outcome,
}

#[derive(Debug, Clone)]
enum Outcome {
    Ok(Value),
    Typed {
        kind: String,
        retryable: bool,
        message: String,
    },
    /// Anything but the instance's JSON: a crash, a panic, an unreachable instance.
    Untyped(String),
}

impl Reply {
    fn ok(&self) -> Option<&Value> {
        match &self.outcome {
            Outcome::Ok(v) => Some(v),
            _ => None,
        }
    }

    fn error_kind(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Typed { kind, .. } => Some(kind),
            _ => None,
        }
    }
}

async fn call(client: &reqwest::Client, base: &str, path: &str, body: &Value, field: &str) -> Reply {
    let untyped = |why: String| Reply { attempts: 0, errors: Vec::new(), outcome: Outcome::Untyped(why) };
    let sent = client
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => return untyped(format!("{path}: instance unreachable: {e}")),
    };
    let status = response.status().as_u16();
    let bytes = match response.bytes().await {
        Ok(b) => b,
        Err(e) => return untyped(format!("{path}: body unreadable (HTTP {status}): {e}")),
    };
    let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
        return untyped(format!("{path}: HTTP {status}, not JSON: {}", String::from_utf8_lossy(&bytes)));
    };
    let attempts = json["attempts"].as_u64().unwrap_or(0);
    let errors = json["errors"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
    let outcome = match (status, json.get(field), json.get("error")) {
        (200, Some(value), _) => Outcome::Ok(value.clone()),
        (400 | 403 | 503, None, Some(e)) if e["kind"].is_string() && e["retryable"].is_boolean() => Outcome::Typed {
            kind: e["kind"].as_str().unwrap_or_default().to_owned(),
            retryable: e["retryable"].as_bool().unwrap_or_default(),
            message: e["message"].as_str().unwrap_or_default().to_owned(),
        },
        _ => Outcome::Untyped(format!("{path}: HTTP {status}: {json}")),
    };
    Reply { attempts, errors, outcome }
}

/// What one flow produced.
#[derive(Debug)]
struct Flow {
    index: usize,
    user: String,
    concurrent: bool,
    link: Reply,
    deliveries: Vec<(usize, Reply)>,
}

impl Flow {
    fn completions(&self) -> Vec<&Value> {
        self.deliveries.iter().filter_map(|(_, r)| r.ok()).collect()
    }

    fn replies(&self) -> impl Iterator<Item = &Reply> {
        std::iter::once(&self.link).chain(self.deliveries.iter().map(|(_, r)| r))
    }

    fn evidence(&self) -> String {
        format!(
            "flow {} user {} ({}): link {:?}; deliveries {:?}",
            self.index,
            self.user,
            if self.concurrent { "concurrent" } else { "sequential" },
            self.link,
            self.deliveries
        )
    }
}

struct Driver {
    client: reqwest::Client,
    instances: Vec<String>,
    running: Arc<RunningSandbox>,
    kind: &'static str,
}

impl Driver {
    async fn flow(&self, index: usize) -> Flow {
        let kind = self.kind;
        let user = format!("mi-{kind}-{index}@example.com");
        let at = index % INSTANCES;
        let link =
            call(&self.client, &self.instances[at], "/link", &json!({"user": user, "target": target(kind)}), "link")
                .await;
        let concurrent = index.is_multiple_of(2);
        let mut flow = Flow { index, user, concurrent, link, deliveries: Vec::new() };
        let Some(link) = flow.link.ok() else { return flow };
        let (Some(url), Some(state)) = (link["url"].as_str(), link["state"].as_str()) else {
            flow.link.outcome = Outcome::Untyped(format!("link without url or state: {link}"));
            return flow;
        };
        let (url, state) = (url.to_owned(), state.to_owned());
        // The user approves (the consent page is not faulted); the browser comes back.
        let Some(consent) = self.running.sandbox().approve(&url) else {
            panic!("{kind}: the sandbox does not know its own link {url}");
        };
        let callback_url = consent.location.filter(|l| l.starts_with(APP));
        let body = json!({"callback_url": callback_url, "state": state});
        // Two other instances; which one goes first alternates.
        let (a, b) = if index % 4 < 2 {
            ((at + 1) % INSTANCES, (at + 2) % INSTANCES)
        } else {
            ((at + 2) % INSTANCES, (at + 1) % INSTANCES)
        };
        let deliver = |i: usize| call(&self.client, &self.instances[i], "/complete", &body, "connection");
        let (first, second) = if concurrent {
            tokio::join!(deliver(a), deliver(b))
        } else {
            let first = deliver(a).await;
            (first, deliver(b).await)
        };
        flow.deliveries = vec![(a, first), (b, second)];
        flow
    }
}

/// Counts of one provider's run.
#[derive(Debug, Default)]
struct Tally {
    flows: usize,
    completed: usize,
    completed_after_typed_error: usize,
    refused_replays: usize,
    retries: u64,
    errors: BTreeMap<String, usize>,
    final_errors: BTreeMap<String, usize>,
    /// One message per final error kind.
    samples: BTreeMap<String, String>,
    double: Vec<String>,
    lost: Vec<String>,
    link_failed: Vec<String>,
    untyped: Vec<String>,
}

impl Tally {
    fn add(&mut self, flow: &Flow) {
        self.flows += 1;
        for reply in flow.replies() {
            self.retries += reply.attempts.saturating_sub(1);
            for kind in &reply.errors {
                *self.errors.entry(kind.clone()).or_default() += 1;
            }
            match &reply.outcome {
                Outcome::Untyped(why) => self.untyped.push(format!("{why} [{}]", flow.evidence())),
                Outcome::Typed { kind, retryable, message } => {
                    let key = format!("{kind}{}", if *retryable { " (retryable)" } else { "" });
                    *self.final_errors.entry(key.clone()).or_default() += 1;
                    self.samples.entry(key).or_insert_with(|| message.clone());
                }
                Outcome::Ok(_) => {}
            }
        }
        if flow.link.ok().is_none() {
            if !matches!(flow.link.outcome, Outcome::Untyped(_)) {
                self.link_failed.push(flow.evidence());
            }
            return;
        }
        self.refused_replays += flow.deliveries.iter().filter(|(_, r)| r.error_kind() == Some("StateReplayed")).count();
        match flow.completions().len() {
            0 => self.lost.push(flow.evidence()),
            1 => {
                self.completed += 1;
                let typed_error = flow.deliveries.iter().any(|(_, r)| {
                    r.errors.iter().any(|k| k != "StateReplayed")
                        || matches!(&r.outcome, Outcome::Typed { kind, .. } if kind != "StateReplayed")
                });
                if typed_error {
                    self.completed_after_typed_error += 1;
                }
            }
            _ => self.double.push(flow.evidence()),
        }
    }
}

/// Sends one inline command to the Redis on `port` and returns its first reply line.
fn redis_inline(port: u16, command: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(format!("{command}\r\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

fn dbsize(port: u16) -> i64 {
    let reply = redis_inline(port, "DBSIZE").unwrap_or_else(|e| panic!("DBSIZE on port {port}: {e}"));
    reply.trim_start_matches(':').parse().unwrap_or_else(|_| panic!("DBSIZE answered {reply:?}"))
}

/// Sets its flag when dropped.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// What the restart saw.
#[derive(Debug)]
struct Restart {
    in_flight: usize,
    keys_before: i64,
    keys_after: i64,
}

/// Stops Redis the way an operator restarts it (`SHUTDOWN SAVE`: the marks are written to
/// disk and the process exits), keeps it down for [`REDIS_DOWN`], starts it again on the
/// same port (it loads its snapshot).
fn restart_redis(redis: &Mutex<RedisServer>, in_flight: usize) -> Restart {
    let mut server = redis.lock().unwrap_or_else(|p| p.into_inner());
    let port = server.port();
    let keys_before = dbsize(port);
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect to Redis for SHUTDOWN");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("read timeout");
    stream.write_all(b"SHUTDOWN SAVE\r\n").expect("send SHUTDOWN SAVE");
    // Redis answers nothing: the connection closes when the process exits, after the save.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    server.stop();
    std::thread::sleep(REDIS_DOWN);
    server.restart();
    Restart { in_flight, keys_before, keys_after: dbsize(port) }
}

/// `evidence` followed by the platform requests (still in the sandbox's request log) that
/// name the flow's user: method, path, status and the fault injected.
fn with_platform_log(evidence: &str, log: &[Value]) -> String {
    let user = evidence.split_whitespace().find(|w| w.starts_with("mi-")).unwrap_or("mi-?");
    let encoded = user.replace('@', "%40");
    // Alloy's consent URL names its own user id.
    let alloy_id: Option<String> = evidence
        .split_once("userId=")
        .map(|(_, rest)| rest.chars().take_while(char::is_ascii_alphanumeric).collect())
        .filter(|id: &String| !id.is_empty());
    let requests: Vec<String> = log
        .iter()
        .filter(|entry| {
            let text = entry.to_string();
            text.contains(user) || text.contains(&encoded) || alloy_id.as_ref().is_some_and(|id| text.contains(id))
        })
        .map(|e| format!("{} {} -> {} fault {}", e["method"], e["path"], e["status"], e["fault"]))
        .collect();
    format!("{evidence}\n    platform requests naming {user}: {requests:#?}")
}

/// The records the platform holds for each app user of `kind` (from the sandbox state).
fn platform_records(state: &Value, kind: &str) -> BTreeMap<String, usize> {
    let mut per_user = BTreeMap::new();
    let rows = |v: &Value| v.as_array().cloned().unwrap_or_default();
    match kind {
        "alloy-headless" | "alloy-connectors" => {
            let origin = if kind == "alloy-headless" { "headless" } else { "connector" };
            let names: BTreeMap<String, String> = rows(&state["alloy"]["users"])
                .iter()
                .filter_map(|u| Some((u["userId"].as_str()?.to_owned(), u["username"].as_str()?.to_owned())))
                .collect();
            for c in rows(&state["alloy"]["credentials"]).iter().filter(|c| c["origin"] == origin) {
                let user = c["userId"].as_str().and_then(|id| names.get(id)).cloned().unwrap_or_default();
                *per_user.entry(user).or_default() += 1;
            }
        }
        "novu" => {
            for e in rows(&state["novu"]["endpoints"]) {
                *per_user.entry(e["subscriberId"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
            }
        }
        _ => {
            let names: BTreeMap<String, String> = rows(&state["junction"]["users"])
                .iter()
                .filter_map(|u| Some((u["user_id"].as_str()?.to_owned(), u["client_user_id"].as_str()?.to_owned())))
                .collect();
            for c in rows(&state["junction"]["connections"]) {
                let user = c["user_id"].as_str().and_then(|id| names.get(id)).cloned().unwrap_or_default();
                *per_user.entry(user).or_default() += 1;
            }
        }
    }
    per_user
}

/// Runs `flows` flows of `kind` against three fresh instances, restarting Redis mid-run.
async fn run_kind(
    kind: &'static str,
    flows: usize,
    running: Arc<RunningSandbox>,
    redis: Arc<Mutex<RedisServer>>,
    report: &mut String,
) -> Vec<String> {
    let started = Instant::now();
    let redis_url = redis.lock().unwrap_or_else(|p| p.into_inner()).url();
    let env = instance_env(&running, kind, &redis_url);
    let instances: Vec<Instance> = (0..INSTANCES).map(|i| Instance::start(&format!("{kind}#{i}"), &env)).collect();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("HTTP client");
    let driver = Arc::new(Driver {
        client,
        instances: instances.iter().map(|i| i.url.clone()).collect(),
        running: running.clone(),
        kind,
    });

    let finished = Arc::new(AtomicUsize::new(0));
    let begun = Arc::new(AtomicUsize::new(0));
    // When this run ends early (a panic), the restart thread stops waiting.
    let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let restart = {
        let (finished, begun, redis, cancelled) = (finished.clone(), begun.clone(), redis.clone(), cancel.0.clone());
        tokio::task::spawn_blocking(move || {
            while finished.load(Ordering::SeqCst) < flows / 3 {
                if cancelled.load(Ordering::SeqCst) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let in_flight = begun.load(Ordering::SeqCst) - finished.load(Ordering::SeqCst);
            Some(restart_redis(&redis, in_flight))
        })
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..flows {
        let (driver, permits, finished, begun) = (driver.clone(), permits.clone(), finished.clone(), begun.clone());
        tasks.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            begun.fetch_add(1, Ordering::SeqCst);
            let flow = driver.flow(index).await;
            finished.fetch_add(1, Ordering::SeqCst);
            flow
        });
    }
    let mut results = Vec::with_capacity(flows);
    while let Some(done) = tasks.join_next().await {
        results.push(done.unwrap_or_else(|e| panic!("{kind}: a flow panicked: {e}")));
    }
    let restart = restart
        .await
        .unwrap_or_else(|e| panic!("{kind}: the Redis restart failed: {e}"))
        .expect("the restart ran: every flow finished");
    drop(cancel);
    let flows_took = started.elapsed();
    results.sort_by_key(|f| f.index);

    let mut tally = Tally::default();
    results.iter().for_each(|f| tally.add(f));

    // Cross-check with the platform: one record per flow's user, and list_connections at an
    // instance shows it with the id completion returned.
    let mut mismatches = Vec::new();
    let state = running.sandbox().state();
    let records = platform_records(&state, kind);
    let expected: BTreeMap<&str, &Value> = results
        .iter()
        .filter_map(|f| match f.completions()[..] {
            [one] => Some((f.user.as_str(), one)),
            _ => None,
        })
        .collect();
    for flow in &results {
        let n = records.get(&flow.user).copied().unwrap_or(0);
        if flow.link.ok().is_some() && n != 1 {
            mismatches.push(format!("platform holds {n} connections for {} [{}]", flow.user, flow.evidence()));
        }
    }
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut listings = tokio::task::JoinSet::new();
    for (i, (user, connection)) in expected.iter().enumerate() {
        let (driver, permits, user, id) = (driver.clone(), permits.clone(), user.to_string(), connection["id"].clone());
        listings.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("semaphore open");
            let base = &driver.instances[i % INSTANCES];
            let reply = call(&driver.client, base, "/connections", &json!({"user": user}), "connections").await;
            let ids: Vec<Value> =
                reply.ok().and_then(Value::as_array).into_iter().flatten().map(|c| c["id"].clone()).collect();
            (ids != [id.clone()]).then(|| format!("{user}: completed {id}, list_connections {ids:?} ({reply:?})"))
        });
    }
    while let Some(done) = listings.join_next().await {
        mismatches.extend(done.unwrap_or_else(|e| panic!("{kind}: a listing panicked: {e}")));
    }
    drop(instances);

    let _ = writeln!(
        report,
        "{kind}: {} flows in {:.1}s ({} concurrent deliveries, {} sequential), Redis restarted with {} flows in flight ({} keys before, {} after)",
        tally.flows,
        flows_took.as_secs_f64(),
        results.iter().filter(|f| f.concurrent).count(),
        results.iter().filter(|f| !f.concurrent).count(),
        restart.in_flight,
        restart.keys_before,
        restart.keys_after,
    );
    let _ = writeln!(
        report,
        "  completed {} (after a typed error {}), refused duplicate deliveries {}, app retries {}, double completions {}, lost {}, link failed {}, untyped {}",
        tally.completed,
        tally.completed_after_typed_error,
        tally.refused_replays,
        tally.retries,
        tally.double.len(),
        tally.lost.len(),
        tally.link_failed.len(),
        tally.untyped.len(),
    );
    let _ = writeln!(report, "  typed errors by kind (every failed attempt): {:?}", tally.errors);
    let _ = writeln!(report, "  final errors by kind (after the app's retry): {:?}", tally.final_errors);
    for (kind, message) in &tally.samples {
        let _ = writeln!(report, "    e.g. {kind}: {message}");
    }
    let _ = writeln!(report, "  platform cross-check: {} users, {} mismatches", records.len(), mismatches.len());

    let mut failures = Vec::new();
    let mut log = None;
    let mut fail = |what: &str, evidence: &[String]| {
        if !evidence.is_empty() {
            let log = log.get_or_insert_with(|| running.sandbox().requests());
            let shown: Vec<String> = evidence.iter().take(5).map(|e| with_platform_log(e, log)).collect();
            failures.push(format!("{kind}: {} {what} (seed {SEED}), e.g.:\n  {shown:#?}", evidence.len()));
        }
    };
    fail("double completions", &tally.double);
    fail("lost flows (approved, never completed)", &tally.lost);
    fail("flows whose link failed after the app's retry", &tally.link_failed);
    fail("untyped failures", &tally.untyped);
    fail("platform / listing mismatches", &mismatches);
    if tally.completed != flows {
        failures.push(format!("{kind}: {} of {flows} flows completed exactly once", tally.completed));
    }
    if restart.in_flight == 0 || tally.errors.get("ReplayGuard").copied().unwrap_or(0) == 0 {
        failures.push(format!("{kind}: the Redis restart was not seen by any flow in flight ({restart:?})"));
    }
    if restart.keys_after < restart.keys_before {
        failures.push(format!("{kind}: Redis lost replay marks over the restart ({restart:?})"));
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_complete_every_flow_exactly_once_under_faults_and_a_redis_restart() {
    let flows = flows_per_provider();
    assert!(flows >= 6, "{FLOWS_ENV} must be at least 6");
    let started = Instant::now();
    let redis = Arc::new(Mutex::new(RedisServer::start()));
    // Hosted platforms send the browser back to the app; the request log keeps a whole
    // kind's run, for the evidence of a failing flow.
    let config = SandboxConfig::default()
        .alloy_return_url(format!("{APP}/alloy/back"))
        .novu_redirect_url("slack", format!("{APP}/novu/back"))
        .novu_redirect_url("msteams", format!("{APP}/novu/back"))
        .request_log_capacity((flows * 12).max(10_000))
        .faults(faults());
    let running = Arc::new(Sandbox::start(config).await.expect("sandbox starts"));

    let f = faults();
    let rate = f.rate_429 + f.rate_500 + f.rate_503 + f.rate_truncated + f.rate_malformed + f.rate_drop;
    let mut report = format!(
        "{INSTANCES} app instances, {flows} flows per provider, {CONCURRENCY} in flight, platform fault rate {rate:.2} (seed {SEED}), app retry {APP_ATTEMPTS} attempts from {APP_BACKOFF_MS} ms\n"
    );
    let mut failures = Vec::new();
    for kind in KINDS {
        // Each kind starts from an empty platform, log and fault sequence.
        running.sandbox().reset();
        failures.extend(run_kind(kind, flows, running.clone(), redis.clone(), &mut report).await);
    }
    let _ = writeln!(report, "total {:.1}s", started.elapsed().as_secs_f64());
    println!("{report}");
    assert!(failures.is_empty(), "{}\n\n{report}", failures.join("\n"));
    if let Ok(running) = Arc::try_unwrap(running) {
        running.shutdown().await.expect("sandbox stops");
    }
}
