//! Criterion micro-benchmarks of the oauth-link core: link state seal (`sign`) / open
//! (`verify`) and the AEAD alone, the in-memory replay guard, configuration parsing and
//! error mapping.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use oauth_link::http::{status_error, ErrorBody, HttpResponse};
use oauth_link::{
    clock::{Clock, ManualClock},
    core::adapter::Nonce,
    core::seal::SealKeys,
    core::SigningKey,
    ConfigMap, MemoryReplayGuard, ProviderConfig, ReplayGuard, StateCodec, StateKeys,
};

/// Counts live heap bytes, to measure what the replay guard really holds.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Polls a future that never waits (the memory guard's) to completion, without a runtime.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the in-memory guard never waits"),
    }
}

fn state(c: &mut Criterion) {
    let codec = StateCodec::new(StateKeys::random());
    let mut claims = codec.claims("junction", "user-42", "oura");
    claims.extra.insert("uid".into(), "6a1e6f5c-9a4b-4d43-8b1f-3c1d2f0e9b77".into());
    let token = codec.sign(&claims);
    let mut g = c.benchmark_group("link_state");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign", |b| b.iter(|| codec.sign(black_box(&claims))));
    g.bench_function("verify", |b| b.iter(|| codec.verify("junction", black_box(&token)).unwrap()));
    g.bench_function("sign+verify", |b| {
        b.iter(|| {
            let t = codec.sign(black_box(&claims));
            codec.verify("junction", &t).unwrap()
        })
    });
    g.bench_function("claims+sign+verify", |b| {
        b.iter(|| {
            let t = codec.sign(&codec.claims("junction", black_box("user-42"), "oura"));
            codec.verify("junction", &t).unwrap()
        })
    });
    // The AEAD alone, on the same claims' JSON: what sealing costs of a pair.
    let keys = SealKeys::derive("bench", &SigningKey::new("k".repeat(43)), &[]);
    let json = serde_json::to_vec(&claims).unwrap();
    g.bench_function("seal+open", |b| {
        b.iter(|| {
            let sealed = keys.seal(b"v2", black_box(&json));
            keys.open(b"v2", &sealed).unwrap()
        })
    });
    g.finish();
}

/// Heap held by the in-memory guard per outstanding state, and after states expire.
fn replay_footprint() {
    const N: usize = 100_000;
    let clock = ManualClock::starting_now();
    let before = LIVE.load(Ordering::Relaxed);
    let guard = MemoryReplayGuard::new().with_clock(Arc::new(clock.clone()));
    let mut line = String::new();
    for round in 0..5 {
        let exp = clock.now() + chrono::Duration::seconds(60);
        for _ in 0..N {
            ready(guard.consume(Nonce::random(), exp)).unwrap();
        }
        let held = LIVE.load(Ordering::Relaxed) - before;
        line.push_str(&format!(" round {round}: {} states, {} B/state;", guard.len(), held / guard.len().max(1)));
        clock.advance(Duration::from_secs(61));
    }
    eprintln!("replay_memory footprint ({N} fresh states per round, all expired between rounds):{line}");
}

fn replay(c: &mut Criterion) {
    replay_footprint();
    let mut g = c.benchmark_group("replay_memory");
    g.throughput(Throughput::Elements(1));
    let guard = MemoryReplayGuard::new();
    // States that expire after 20 ms, so the guard sweeps as it would in a server.
    let fresh = || (Nonce::random(), chrono::Utc::now() + chrono::Duration::milliseconds(20));
    g.bench_function("consume_fresh", |b| {
        b.iter_batched(fresh, |(n, e)| ready(guard.consume(n, e)).unwrap(), BatchSize::SmallInput)
    });
    let expires = chrono::Utc::now() + chrono::Duration::minutes(10);
    let used = Nonce::random();
    ready(guard.consume(used, expires)).unwrap();
    g.bench_function("consume_replayed", |b| b.iter(|| ready(guard.consume(black_box(used), expires)).unwrap()));
    g.finish();
}

fn config(c: &mut Criterion) {
    let novu = HashMap::from([
        ("api_key".to_owned(), "sandbox_novu_secret_key".to_owned()),
        ("base_url".to_owned(), "http://127.0.0.1:8080/novu".to_owned()),
        ("request_timeout_ms".to_owned(), "10000".to_owned()),
        ("max_retries".to_owned(), "2".to_owned()),
    ]);
    let junction = HashMap::from([
        ("api_key".to_owned(), "sk_us_sandbox_junction_key".to_owned()),
        ("redirect_url".to_owned(), "https://app.example/junction/callback".to_owned()),
        ("user_cache_capacity".to_owned(), "5000".to_owned()),
    ]);
    let mut g = c.benchmark_group("config");
    g.bench_function("configmap_from_map", |b| b.iter(|| ConfigMap::from_map("novu", black_box(&novu))));
    g.bench_function("novu_parse", |b| {
        b.iter(|| ProviderConfig::parse("novu", ConfigMap::from_map("novu", black_box(&novu))).unwrap())
    });
    g.bench_function("junction_parse", |b| {
        b.iter(|| ProviderConfig::parse("junction", ConfigMap::from_map("junction", black_box(&junction))).unwrap())
    });
    g.finish();
}

fn errors(c: &mut Criterion) {
    let response = |status: u16, body: &'static str| {
        let mut headers = http::HeaderMap::new();
        headers.insert("retry-after", http::HeaderValue::from_static("3"));
        HttpResponse { status, headers, body: bytes::Bytes::from_static(body.as_bytes()) }
    };
    let limited = response(429, r#"{"message":"Too many requests"}"#);
    let unauth = response(401, r#"{"message":"Invalid API key sk_live_secret"}"#);
    let invalid = response(422, r#"{"message":"Invalid body","errors":[{"field":"redirectUri"},{"field":"userId"}]}"#);
    let mut g = c.benchmark_group("errors");
    g.bench_function("status_error_429", |b| {
        b.iter(|| {
            status_error("novu", black_box(&limited), ErrorBody { message: "Too many requests".into(), code: None })
        })
    });
    g.bench_function("alloy_api_error_401", |b| {
        b.iter(|| oauth_link_alloy::api_error("alloy-headless", black_box(&unauth)))
    });
    g.bench_function("alloy_api_error_422", |b| {
        b.iter(|| oauth_link_alloy::api_error("alloy-headless", black_box(&invalid)))
    });
    g.finish();
}

criterion_group!(benches, state, replay, config, errors);
criterion_main!(benches);
