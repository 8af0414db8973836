//! Fault soak: 2,000 connect flows per provider against the sandbox with 20% injected
//! faults (429 with Retry-After, 500, 503, latency, truncated and malformed JSON, dropped
//! connections), seeded. Every operation ends in success or a typed error; nothing panics;
//! no retried POST duplicates a platform link; no state completes twice; no HTTP call goes
//! past its retry budget. Prints the counts.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use oauth_link::{ConnectionQuery, Error, LinkContext, LinkRequest, SharedLinkProvider};
use oauth_link_sandbox::FaultConfig;
use oauth_link_tests::capture;
use oauth_link_tests::sandbox::{build, callback_from, create_alloy_users, sandbox, settings, target, KINDS};

const FLOWS: usize = 2_000;
const CONCURRENCY: usize = 32;
const MAX_RETRIES: u64 = 2;

/// Outcome counts of one provider's soak.
#[derive(Debug, Default)]
struct Tally {
    ok: BTreeMap<&'static str, usize>,
    errors: BTreeMap<String, usize>,
    completed_twice: usize,
}

impl Tally {
    fn record(&mut self, op: &'static str, kind: &str, outcome: &Result<(), Error>) {
        match outcome {
            Ok(()) => *self.ok.entry(op).or_default() += 1,
            Err(e) => {
                assert!(
                    e.provider() == Some(provider_kind(kind)) || matches!(e, Error::ReplayGuard { .. }),
                    "{kind} {op}: an error must name its provider: {e:?}"
                );
                assert!(!e.to_string().is_empty());
                *self.errors.entry(format!("{op}:{}", variant(e))).or_default() += 1;
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
        _ => "Other",
    }
}

/// One connect flow: link, approve (the user, not faulted), complete, complete again,
/// list. Returns whether the state completed, counting both attempts.
async fn flow(
    provider: SharedLinkProvider,
    sb: oauth_link_sandbox::Sandbox,
    kind: &'static str,
    user: String,
    tally: Arc<Mutex<Tally>>,
) {
    let request = LinkRequest::new(&user, target(kind));
    let link = match provider.generate_link(&request).await {
        Ok(link) => link,
        Err(e) => return tally.lock().unwrap().record("generate_link", kind, &Err(e)),
    };
    tally.lock().unwrap().record("generate_link", kind, &Ok(()));
    let Some(consent) = sb.approve(link.url.as_str()) else {
        panic!("{kind}: the sandbox does not know its own link {}", link.url);
    };
    let callback = callback_from(&provider, &link, consent.location.as_deref());
    let mut completions = 0;
    for _ in 0..2 {
        let outcome = provider.complete_callback(&callback).await;
        completions += usize::from(outcome.is_ok());
        // A second attempt after a success must be a replay; after a transient failure the
        // state was released and may complete now.
        tally.lock().unwrap().record("complete_callback", kind, &outcome.map(|_| ()));
    }
    if completions > 1 {
        tally.lock().unwrap().completed_twice += 1;
    }
    let listed = provider.list_connections(&ConnectionQuery::user(&user)).await;
    tally.lock().unwrap().record("list_connections", kind, &listed.map(|_| ()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_faulty_flows_per_provider() {
    let captured = capture::install(tracing::Level::DEBUG);
    let running = sandbox().await;
    let users: Vec<String> = (0..FLOWS).map(|i| format!("soak-{i}")).collect();
    create_alloy_users(&running, users.iter().cloned()).await;
    let faults = FaultConfig {
        seed: 2026,
        rate_429: 0.05,
        retry_after_secs: 0,
        rate_500: 0.03,
        rate_503: 0.04,
        rate_truncated: 0.03,
        rate_malformed: 0.02,
        rate_drop: 0.03,
        latency_ms: 3,
        latency_rate: 0.1,
        ..FaultConfig::default()
    };
    running.sandbox().set_faults(faults).expect("valid faults");

    let ctx = LinkContext::ephemeral();
    let mut report = String::new();
    for kind in KINDS {
        let mut map = settings(&running, kind);
        map.insert("max_retries".into(), MAX_RETRIES.to_string());
        map.insert("poll_timeout_ms".into(), "300".into());
        let provider = build(kind, &map, ctx.clone());
        let tally = Arc::new(Mutex::new(Tally::default()));
        let retries_before = captured.retries.load(Ordering::Relaxed);
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
        let retries = captured.retries.load(Ordering::Relaxed) - retries_before;
        assert_eq!(tally.completed_twice, 0, "{kind}: a state completed twice");
        assert_eq!(
            tally.ok.get("generate_link").copied().unwrap_or(0)
                + tally.errors.iter().filter(|(k, _)| k.starts_with("generate_link:")).map(|(_, n)| n).sum::<usize>(),
            FLOWS,
            "{kind}: every flow ended"
        );
        let ok = tally.ok.get("complete_callback").copied().unwrap_or(0);
        assert!(ok > FLOWS / 2, "{kind}: most flows should complete despite 20% faults, got {ok}");
        report.push_str(&format!(
            "{kind}: {FLOWS} flows in {:.1}s, ok {:?}, errors {:?}, http retries {retries}\n",
            started.elapsed().as_secs_f64(),
            tally.ok,
            tally.errors
        ));
    }

    // Retried POSTs did not duplicate platform links: Novu replays an idempotency key, the
    // others never retry a POST. At most one link per generate_link call on each platform.
    let state = running.sandbox().state();
    let novu_links = state["novu"]["links"].as_array().map_or(0, Vec::len);
    let junction_links = state["junction"]["link_tokens"].as_array().map_or(0, Vec::len);
    let alloy_links = state["alloy"]["links"].as_array().map_or(0, Vec::len);
    assert!(novu_links <= FLOWS, "novu: {novu_links} links for {FLOWS} generate_link calls");
    assert!(junction_links <= FLOWS, "junction: {junction_links} link tokens for {FLOWS} calls");
    assert!(alloy_links <= 2 * FLOWS, "alloy: {alloy_links} links for {} calls", 2 * FLOWS);
    // Each flow's user approved once: never more than one connection per user.
    for (platform, list, user_key) in
        [("novu", &state["novu"]["endpoints"], "subscriberId"), ("alloy", &state["alloy"]["credentials"], "userId")]
    {
        let mut per_user: BTreeMap<String, usize> = BTreeMap::new();
        for record in list.as_array().into_iter().flatten() {
            if let Some(user) = record[user_key].as_str() {
                *per_user.entry(user.to_owned()).or_default() += 1;
            }
        }
        // Alloy keeps one credential per user and adapter (headless and connectors both run).
        let limit = if platform == "alloy" { 2 } else { 1 };
        assert!(per_user.values().all(|n| *n <= limit), "{platform}: a user got duplicate connections");
    }
    let max_attempt = captured.max_attempt.load(Ordering::Relaxed);
    assert!(max_attempt <= 1 + MAX_RETRIES, "an HTTP call made {max_attempt} attempts, budget {}", 1 + MAX_RETRIES);
    report.push_str(&format!(
        "links created: novu {novu_links}, junction {junction_links}, alloy {alloy_links}; max attempts per call {max_attempt}\n"
    ));
    println!("{report}");
    running.shutdown().await.unwrap();
}
