//! Fault soak: 2,000 connect flows per provider against the sandbox with 20% of platform
//! requests failing (429 with Retry-After, 500, 503, a truncated or malformed body, a
//! dropped connection; plus latency), seeded, 3 attempts per request.
//!
//! What is safe to repeat is retried, so each operation must succeed about as often as
//! the ideal for its fault rate and attempts: `1 - f^attempts` per platform request,
//! compounded over the requests the operation makes (counted on a fault-free run of the
//! same flow first). Target: every operation within 1 point of its ideal, no duplicate
//! connection, no state completed twice, no HTTP call past its attempt budget. Prints,
//! per provider and operation: calls, successes, rate, ideal, errors by kind.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use oauth_link::{ConnectionQuery, Error, LinkContext, LinkRequest, SharedLinkProvider};
use oauth_link_sandbox::{FaultConfig, RunningSandbox};
use oauth_link_tests::capture::{self, Captured};
use oauth_link_tests::sandbox::{build, callback_from, sandbox, settings, target, twenty_percent_faults, KINDS};

const FLOWS: usize = 2_000;
const CONCURRENCY: usize = 32;
const MAX_RETRIES: u64 = 2;
const ATTEMPTS: i32 = 1 + MAX_RETRIES as i32;
/// The operations of one flow, in order.
const OPS: [&str; 3] = ["generate_link", "complete_callback", "list_connections"];

fn faults() -> FaultConfig {
    twenty_percent_faults(2026)
}

/// The share of platform requests that fail.
fn fault_rate(f: &FaultConfig) -> f64 {
    f.rate_429 + f.rate_500 + f.rate_503 + f.rate_truncated + f.rate_malformed + f.rate_drop
}

/// Outcome counts of one provider's soak.
#[derive(Debug, Default)]
struct Tally {
    calls: BTreeMap<&'static str, usize>,
    ok: BTreeMap<&'static str, usize>,
    errors: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
    completed_twice: usize,
}

impl Tally {
    fn record<T>(&mut self, op: &'static str, kind: &str, outcome: &Result<T, Error>) {
        *self.calls.entry(op).or_default() += 1;
        match outcome {
            Ok(_) => *self.ok.entry(op).or_default() += 1,
            Err(e) => {
                assert!(
                    e.provider() == Some(provider_kind(kind)) || matches!(e, Error::ReplayGuard { .. }),
                    "{kind} {op}: an error must name its provider: {e:?}"
                );
                assert!(!e.to_string().is_empty());
                *self.errors.entry(op).or_default().entry(variant(e)).or_default() += 1;
            }
        }
    }
}

fn provider_kind(kind: &str) -> &'static str {
    KINDS.iter().find(|k| **k == kind).copied().unwrap_or("unknown")
}

fn variant(e: &Error) -> &'static str {
    match e {
        Error::RateLimited { .. } => "RateLimited",
        Error::Provider { .. } => "Provider",
        Error::Transport { .. } => "Transport",
        Error::Decode { .. } => "Decode",
        Error::Pending { .. } => "Pending",
        Error::StateReplayed { .. } => "StateReplayed",
        Error::NotFound { .. } => "NotFound",
        Error::Unauthenticated { .. } => "Unauthenticated",
        Error::Conflict { .. } => "Conflict",
        Error::InvalidInput { .. } => "InvalidInput",
        Error::Denied { .. } => "Denied",
        _ => "Other",
    }
}

/// One connect flow: link, approve (the user, not faulted), complete, list. When the
/// completion failed for a transient reason, the app completes once more (the state was
/// released); after a success, a second completion must be refused as a replay.
async fn flow(
    provider: SharedLinkProvider,
    sb: oauth_link_sandbox::Sandbox,
    kind: &'static str,
    user: String,
    tally: Arc<Mutex<Tally>>,
) {
    let request = LinkRequest::new(&user, target(kind));
    let link = provider.generate_link(&request).await;
    tally.lock().unwrap().record("generate_link", kind, &link);
    let Ok(link) = link else { return };
    let Some(consent) = sb.approve(link.url.as_str()) else {
        panic!("{kind}: the sandbox does not know its own link {}", link.url);
    };
    let callback = callback_from(&provider, &link, consent.location.as_deref());
    let first = provider.complete_callback(&callback).await;
    tally.lock().unwrap().record("complete_callback", kind, &first);
    let second = provider.complete_callback(&callback).await;
    match (&first, &second) {
        (Ok(_), Ok(_)) => tally.lock().unwrap().completed_twice += 1,
        (Ok(_), Err(e)) => assert!(matches!(e, Error::StateReplayed { .. }), "{kind}: replay must be refused: {e:?}"),
        (Err(_), _) => {
            // Nothing is lost: a failed completion released the state for this retry.
            assert!(
                !matches!(second, Err(Error::StateReplayed { .. })),
                "{kind}: a failed completion used the state up"
            );
            tally.lock().unwrap().record("complete_callback (app retry)", kind, &second)
        }
    }
    let listed = provider.list_connections(&ConnectionQuery::user(&user)).await;
    tally.lock().unwrap().record("list_connections", kind, &listed);
}

/// Platform requests each operation makes for a first-time user, counted on a fault-free
/// flow (the tracing spans of `ApiClient::execute`, one per logical request).
async fn requests_per_operation(
    provider: &SharedLinkProvider,
    sb: &RunningSandbox,
    kind: &'static str,
    captured: &Captured,
) -> BTreeMap<&'static str, usize> {
    let spans = || captured.text.lock().unwrap().matches("span oauth_link.http:").count();
    let mut counts = BTreeMap::new();
    // The second flow is the steady state (what the adapter caches per app is warm).
    for n in 0..2 {
        let user = format!("warm-{kind}-{n}");
        let before = spans();
        let link = provider.generate_link(&LinkRequest::new(&user, target(kind))).await.expect("fault-free link");
        counts.insert("generate_link", spans() - before);
        let consent = sb.sandbox().approve(link.url.as_str()).expect("the sandbox knows its link");
        let before = spans();
        provider
            .complete_callback(&callback_from(provider, &link, consent.location.as_deref()))
            .await
            .expect("fault-free completion");
        counts.insert("complete_callback", spans() - before);
        let before = spans();
        provider.list_connections(&ConnectionQuery::user(&user)).await.expect("fault-free list");
        counts.insert("list_connections", spans() - before);
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_faulty_flows_per_provider_succeed_as_often_as_retries_allow() {
    let captured = capture::install(tracing::Level::DEBUG);
    let running = sandbox().await;
    let faults = faults();
    let per_request = 1.0 - fault_rate(&faults).powi(ATTEMPTS);
    let users: Vec<String> = (0..FLOWS).map(|i| format!("soak-{i}@example.com")).collect();

    let ctx = LinkContext::ephemeral();
    let mut report =
        format!("fault rate {:.2}, {ATTEMPTS} attempts: ideal per request {per_request:.4}\n", fault_rate(&faults));
    let mut misses = Vec::new();
    for kind in KINDS {
        let mut map = settings(&running, kind);
        map.insert("max_retries".into(), MAX_RETRIES.to_string());
        map.insert("poll_timeout_ms".into(), "300".into());
        let provider = build(kind, &map, ctx.clone());
        running.sandbox().set_faults(FaultConfig::default()).expect("no faults");
        let requests = requests_per_operation(&provider, &running, kind, &captured).await;
        running.sandbox().set_faults(faults.clone()).expect("valid faults");

        let tally = Arc::new(Mutex::new(Tally::default()));
        let started = std::time::Instant::now();
        for chunk in users.chunks(CONCURRENCY) {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|user| {
                    let sb = running.sandbox().clone();
                    tokio::spawn(flow(provider.clone(), sb, kind, user.clone(), tally.clone()))
                })
                .collect();
            for task in tasks {
                task.await.unwrap_or_else(|e| panic!("{kind}: a flow panicked: {e}"));
            }
        }
        let tally = std::mem::take(&mut *tally.lock().unwrap());
        assert_eq!(tally.completed_twice, 0, "{kind}: a state completed twice");
        assert_eq!(tally.calls["generate_link"], FLOWS, "{kind}: every flow ended");
        let _ = writeln!(report, "{kind} ({:.1}s):", started.elapsed().as_secs_f64());
        for op in OPS.into_iter().chain(["complete_callback (app retry)"]) {
            let calls = tally.calls.get(op).copied().unwrap_or(0);
            let ok = tally.ok.get(op).copied().unwrap_or(0);
            let rate = if calls == 0 { 1.0 } else { ok as f64 / calls as f64 };
            let errors = tally.errors.get(op).cloned().unwrap_or_default();
            match requests.get(op) {
                Some(&n) => {
                    let ideal = per_request.powi(n as i32);
                    let _ = writeln!(
                        report,
                        "  {op:<18} {calls:>5} calls {ok:>5} ok  {:>6.2}%  ideal {:>6.2}% ({n} requests)  errors {errors:?}",
                        rate * 100.0,
                        ideal * 100.0
                    );
                    if rate < ideal - 0.01 {
                        misses.push(format!("{kind} {op}: {:.2}% < ideal {:.2}% - 1", rate * 100.0, ideal * 100.0));
                    }
                }
                None => {
                    let _ = writeln!(report, "  {op:<18} {calls:>5} calls {ok:>5} ok  errors {errors:?}");
                }
            }
        }
    }

    // Each flow's user approved once: never more than one connection per user and platform.
    let state = running.sandbox().state();
    for (platform, list, user_key) in [
        ("novu", &state["novu"]["endpoints"], "subscriberId"),
        ("alloy", &state["alloy"]["credentials"], "userId"),
        ("junction", &state["junction"]["connections"], "user_id"),
    ] {
        let mut per_user: BTreeMap<String, usize> = BTreeMap::new();
        for record in list.as_array().into_iter().flatten() {
            if let Some(user) = record[user_key].as_str() {
                *per_user.entry(user.to_owned()).or_default() += 1;
            }
        }
        // Alloy keeps one credential per user and adapter (headless and connectors both run).
        let limit = if platform == "alloy" { 2 } else { 1 };
        let duplicates = per_user.values().filter(|n| **n > limit).count();
        let _ = writeln!(report, "{platform}: {} users with connections, {duplicates} with duplicates", per_user.len());
        assert_eq!(duplicates, 0, "{platform}: a user got duplicate connections");
    }
    let max_attempt = captured.max_attempt.load(Ordering::Relaxed);
    let _ = writeln!(report, "max attempts per request {max_attempt}");
    println!("{report}");
    assert!(max_attempt <= 1 + MAX_RETRIES, "an HTTP call made {max_attempt} attempts, budget {}", 1 + MAX_RETRIES);
    assert!(misses.is_empty(), "operations below their ideal:\n{}\n{report}", misses.join("\n"));
    running.shutdown().await.unwrap();
}
