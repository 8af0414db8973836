//! Against a real `redis-server`, or a three-node Redis Cluster, started by each test (see
//! `oauth_link_testkit::redis_server`). The race and restart tests run on both topologies.

mod topology;

use std::future::Future;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use oauth_link_core::{adapter::Nonce, Error, ReplayGuard};
use oauth_link_redis::{FailMode, RedisReplayGuard, DEFAULT_KEY_PREFIX};
use oauth_link_testkit::logs::CapturedLogs;
use oauth_link_testkit::redis_server::{key_slot, ChildGuard, RedisCluster, RedisServer, TempDir, SERVER_ENV};
use topology::{per_topology, Inspector, Redis, Seeds, Topology};

/// Selects the child mode of [`two_processes_race_exactly_one_wins`]:
/// `<topology> <url>[,<url>...],<first nonce as hex>,<count>,<start unix ms>,<forward|reverse>`.
const CHILD_ENV: &str = "OAUTH_LINK_REDIS_CHILD";
/// Selects the child mode of [`missing_redis_server_fails_with_install_hint`].
const MISSING_ENV: &str = "OAUTH_LINK_REDIS_MISSING_CHILD";

/// Every test body runs under this bound: nothing may hang.
async fn bounded<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), fut).await.expect("test exceeded 60 s")
}

fn in_ten_minutes() -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::minutes(10)
}

#[track_caller]
fn replay_message(result: oauth_link_core::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::ReplayGuard { message }) => message,
        other => panic!("expected Error::ReplayGuard, got {other:?}"),
    }
}

#[tokio::test]
async fn consume_release_and_key_layout() {
    let server = RedisServer::start();
    bounded(async {
        let guard = RedisReplayGuard::connect(&server.url()).await.unwrap();
        let mut redis = Inspector::single(&server.url()).await;
        let nonce = Nonce::random();
        let key = guard.key(nonce);
        assert_eq!(key, format!("{DEFAULT_KEY_PREFIX}{:032x}", nonce.as_u128()));
        assert_eq!(key.len(), DEFAULT_KEY_PREFIX.len() + 32);

        assert!(guard.consume(nonce, in_ten_minutes()).await.unwrap());
        assert!(!guard.consume(nonce, in_ten_minutes()).await.unwrap());
        assert_eq!(redis.get(&key).await.as_deref(), Some("1"));
        // Ten minutes plus the default 60 s grace.
        let pttl = redis.pttl(&key).await;
        assert!((659_000..=660_000).contains(&pttl), "PTTL {pttl}");

        guard.release(nonce).await.unwrap();
        assert!(!redis.exists(&key).await);
        guard.release(nonce).await.unwrap();
        assert!(guard.consume(nonce, in_ten_minutes()).await.unwrap());

        // A second guard (another app instance) sees the same marks.
        let other = RedisReplayGuard::connect(&server.url()).await.unwrap();
        assert!(!other.consume(nonce, in_ten_minutes()).await.unwrap());
        guard.ping().await.unwrap();
        assert_eq!(guard.fail_mode(), FailMode::Closed);
    })
    .await;
}

#[tokio::test]
async fn key_prefix_is_configurable() {
    let server = RedisServer::start();
    bounded(async {
        let guard = RedisReplayGuard::builder(&server.url()).key_prefix("app-a:used:").connect().await.unwrap();
        let default = RedisReplayGuard::connect(&server.url()).await.unwrap();
        let mut redis = Inspector::single(&server.url()).await;
        let nonce = Nonce::random();
        assert!(guard.consume(nonce, in_ten_minutes()).await.unwrap());
        assert!(redis.exists(&format!("app-a:used:{:032x}", nonce.as_u128())).await);
        assert!(!redis.exists(&default.key(nonce)).await);
        // Different prefixes are different namespaces.
        assert!(default.consume(nonce, in_ten_minutes()).await.unwrap());
    })
    .await;
}

per_topology!(#[tokio::test(flavor = "multi_thread", worker_threads = 4)] async concurrent_tasks_exactly_one_wins);
async fn concurrent_tasks_exactly_one_wins(topology: Topology) {
    let redis = Redis::start(topology);
    bounded(async {
        let shared = redis.builder().connect().await.unwrap();
        let own: Vec<RedisReplayGuard> = {
            let mut guards = Vec::new();
            for _ in 0..4 {
                guards.push(redis.builder().connect().await.unwrap());
            }
            guards
        };
        for round in 0..25 {
            let nonce = Nonce::random();
            let exp = in_ten_minutes();
            let barrier = Arc::new(tokio::sync::Barrier::new(16));
            let tasks: Vec<_> = (0..16)
                .map(|i| {
                    // Half share one connection, half use one of four others.
                    let guard = if i % 2 == 0 { shared.clone() } else { own[i % 4].clone() };
                    let barrier = barrier.clone();
                    tokio::spawn(async move {
                        barrier.wait().await;
                        guard.consume(nonce, exp).await.unwrap()
                    })
                })
                .collect();
            let mut wins = 0;
            for task in tasks {
                wins += usize::from(task.await.unwrap());
            }
            assert_eq!(wins, 1, "round {round}");
        }
    })
    .await;
}

per_topology!(#[test] sync two_processes_race_exactly_one_wins);
/// Parent: starts Redis and two copies of this test binary in child mode, which consume
/// the same 500 nonces from the same instant, one from each end of the list (so they
/// collide where they meet); every nonce must be won by exactly one process. Child
/// (`OAUTH_LINK_REDIS_CHILD` set): does the consuming.
fn two_processes_race_exactly_one_wins(topology: Topology) {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        return race_child(&spec);
    }
    const COUNT: u128 = 500;
    let redis = Redis::start(topology);
    let name = match topology {
        Topology::Single => "two_processes_race_exactly_one_wins::single",
        Topology::Cluster => "two_processes_race_exactly_one_wins::cluster",
    };
    let first = Nonce::random().as_u128() & !0xffff;
    let start_ms = Utc::now().timestamp_millis() + 1500;
    let exe = std::env::current_exe().unwrap();
    let mut children: Vec<ChildGuard> = ["forward", "reverse"]
        .into_iter()
        .map(|order| {
            let spec = format!("{},{first:032x},{COUNT},{start_ms},{order}", redis.seeds().encode());
            let child = Command::new(&exe)
                .args(["--exact", name, "--nocapture", "--test-threads=1"])
                .env(CHILD_ENV, &spec)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("re-execute the test binary");
            ChildGuard::new(child)
        })
        .collect();
    let reports: Vec<Vec<u8>> = children
        .iter_mut()
        .map(|child| {
            let output = child.wait_with_timeout(Duration::from_secs(30));
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "child failed ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
            // libtest prints `test <name> ... ` on the same line before the output.
            let at = stdout.find("RACE_RESULT=").unwrap_or_else(|| panic!("child printed no result:\n{stdout}"));
            stdout[at + "RACE_RESULT=".len()..].bytes().take_while(|b| matches!(b, b'0' | b'1')).collect()
        })
        .collect();
    for report in &reports {
        assert_eq!(report.len(), COUNT as usize);
    }
    let mut wins_per_child = [0usize; 2];
    for (i, (first, second)) in reports[0].iter().zip(&reports[1]).enumerate() {
        match (first, second) {
            (b'1', b'0') => wins_per_child[0] += 1,
            (b'0', b'1') => wins_per_child[1] += 1,
            _ => panic!(
                "nonce {i}: process results {} and {}, expected exactly one win",
                *first as char, *second as char
            ),
        }
    }
    eprintln!("{topology:?}: two processes, {COUNT} contested nonces: wins per process {wins_per_child:?}");
}

fn race_child(spec: &str) {
    let mut parts = spec.rsplitn(5, ',');
    let reverse = parts.next().unwrap() == "reverse";
    let start_ms: i64 = parts.next().unwrap().parse().unwrap();
    let count: u128 = parts.next().unwrap().parse().unwrap();
    let first = u128::from_str_radix(parts.next().unwrap(), 16).unwrap();
    let seeds = Seeds::decode(parts.next().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(bounded(async move {
        let guard = seeds.builder().connect().await.unwrap();
        let wait = start_ms - Utc::now().timestamp_millis();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        let exp = in_ten_minutes();
        let mut result = vec![b'?'; count as usize];
        for step in 0..count {
            let i = if reverse { count - 1 - step } else { step };
            let won = guard.consume(Nonce((first + i).to_be_bytes()), exp).await.unwrap();
            result[i as usize] = if won { b'1' } else { b'0' };
        }
        println!("RACE_RESULT={}", String::from_utf8(result).unwrap());
    }));
}

#[tokio::test]
async fn ttl_expiry_is_checked_in_redis() {
    let server = RedisServer::start();
    bounded(async {
        let guard = RedisReplayGuard::builder(&server.url()).expiry_grace(Duration::ZERO).connect().await.unwrap();
        let mut redis = Inspector::single(&server.url()).await;
        let nonce = Nonce::random();
        let key = guard.key(nonce);
        let consumed_at = Instant::now();
        assert!(guard.consume(nonce, Utc::now() + chrono::Duration::milliseconds(200)).await.unwrap());
        let pttl = redis.pttl(&key).await;
        assert!((1..=200).contains(&pttl), "PTTL {pttl}");
        assert!(!guard.consume(nonce, Utc::now() + chrono::Duration::milliseconds(200)).await.unwrap());

        // Redis drops the mark by itself once the state has expired (PTTL -2: no key).
        let deadline = Instant::now() + Duration::from_secs(3);
        while redis.pttl(&key).await != -2 {
            assert!(Instant::now() < deadline, "the mark did not expire");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let lived = consumed_at.elapsed();
        assert!(lived >= Duration::from_millis(150), "the mark vanished early, after {lived:?}");
        // The same nonce (say, in a new state) can be consumed again.
        assert!(guard.consume(nonce, Utc::now() + chrono::Duration::milliseconds(200)).await.unwrap());
        assert!((1..=200).contains(&redis.pttl(&key).await));
    })
    .await;
}

#[tokio::test]
async fn expiry_grace_and_already_expired_states() {
    let server = RedisServer::start();
    bounded(async {
        let mut redis = Inspector::single(&server.url()).await;
        let strict = RedisReplayGuard::builder(&server.url()).expiry_grace(Duration::ZERO).connect().await.unwrap();
        let graced = RedisReplayGuard::connect(&server.url()).await.unwrap();

        // Expired, no grace: refused without storing anything.
        let nonce = Nonce::random();
        assert!(!strict.consume(nonce, Utc::now() - chrono::Duration::seconds(1)).await.unwrap());
        assert!(!strict.consume(nonce, Utc::now() - chrono::Duration::seconds(1)).await.unwrap());
        assert!(!redis.exists(&strict.key(nonce)).await);

        // Expired 1 s ago, within the default 60 s grace: recorded until expiry + grace.
        let nonce = Nonce::random();
        assert!(graced.consume(nonce, Utc::now() - chrono::Duration::seconds(1)).await.unwrap());
        let pttl = redis.pttl(&graced.key(nonce)).await;
        assert!((58_000..=59_000).contains(&pttl), "PTTL {pttl}");
        assert!(!graced.consume(nonce, Utc::now() - chrono::Duration::seconds(1)).await.unwrap());

        // Expired beyond the grace: refused.
        let nonce = Nonce::random();
        assert!(!graced.consume(nonce, Utc::now() - chrono::Duration::seconds(61)).await.unwrap());
        assert!(!redis.exists(&graced.key(nonce)).await);

        // Sub-millisecond remainders round up to at least 1 ms.
        let nonce = Nonce::random();
        assert!(strict.consume(nonce, Utc::now() + chrono::Duration::microseconds(1500)).await.unwrap());
    })
    .await;
}

per_topology!(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async redis_restart_fails_closed_then_recovers);
/// The node holding the states (the server, or the cluster primary owning their slot) is
/// killed and restarted empty on the same port: callbacks on it are refused (fail closed)
/// and retry successfully once it is back; fail-open carries on unprotected.
async fn redis_restart_fails_closed_then_recovers(topology: Topology) {
    let mut redis = Redis::start(topology);
    let timeout = Duration::from_millis(500);
    let guard = bounded(redis.builder().command_timeout(timeout).connect()).await.expect("connect");
    let open = redis.builder().command_timeout(timeout).fail_mode(FailMode::Open).connect_lazy().unwrap();
    // The states the test follows live on one node, the one it restarts.
    let victim = redis.node_for_key(&guard.key(Nonce::random()));
    let on_victim = || loop {
        let nonce = Nonce::random();
        if redis.node_for_key(&guard.key(nonce)) == victim {
            break nonce;
        }
    };
    let (used, nonce) = (on_victim(), on_victim());

    // A background "app" keeps consuming fresh states all along.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, down) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let background = {
        let (guard, stop, ok, down) = (guard.clone(), stop.clone(), ok.clone(), down.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                match guard.consume(Nonce::random(), in_ten_minutes()).await {
                    Ok(true) => ok.fetch_add(1, Ordering::SeqCst),
                    Ok(false) => panic!("a fresh state was reported as used"),
                    Err(Error::ReplayGuard { .. }) => down.fetch_add(1, Ordering::SeqCst),
                    Err(other) => panic!("unexpected error {other}"),
                };
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    bounded(async {
        assert!(guard.consume(used, in_ten_minutes()).await.unwrap());
        assert!(open.consume(Nonce::random(), in_ten_minutes()).await.unwrap());

        redis.stop(victim);
        let started = Instant::now();
        let message = replay_message(guard.consume(nonce, in_ten_minutes()).await);
        let took = started.elapsed();
        eprintln!("{topology:?}: refused after {took:?}: {message}");
        assert!(took < timeout + Duration::from_millis(500), "failing closed took {took:?}");
        assert!(message.contains(&format!("127.0.0.1:{}", redis.port(victim))), "{message}");
        assert!(message.contains("reachable from this app") || message.contains("CLUSTER INFO"), "{message}");
        assert!(message.contains("retry the same callback"), "{message}");
        let full = Error::ReplayGuard { message: message.clone() };
        assert!(full.is_retryable());
        assert!(full.to_string().starts_with("replay guard unavailable, callback refused: Redis"), "{full}");
        let message = replay_message(guard.release(used).await);
        assert!(message.contains("DEL"), "{message}");
        // Not ready: for a cluster, one primary down is enough.
        replay_message(guard.ping().await);
        // Fail-open carries on, unprotected.
        assert!(open.consume(nonce, in_ten_minutes()).await.unwrap());
        assert!(open.consume(nonce, in_ten_minutes()).await.unwrap());
        open.release(nonce).await.unwrap();
        // A new instance cannot start while Redis (any primary of a cluster) is down.
        let started = Instant::now();
        let message = replay_message(redis.builder().command_timeout(timeout).connect().await);
        assert!(started.elapsed() < timeout * 2 + Duration::from_millis(500), "took {:?}", started.elapsed());
        assert!(message.contains("connect_lazy"), "{message}");

        tokio::time::sleep(Duration::from_millis(300)).await;
        redis.restart(victim);
        let restarted = Instant::now();
        let mut attempts = 0;
        let won = loop {
            attempts += 1;
            match guard.consume(nonce, in_ten_minutes()).await {
                Ok(won) => break won,
                Err(Error::ReplayGuard { .. }) if restarted.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(other) => panic!("no recovery within 10 s: {other}"),
            }
        };
        eprintln!("{topology:?}: recovered {:?} after the restart, in {attempts} attempt(s)", restarted.elapsed());
        assert!(won, "the state refused during the outage completes once Redis is back");
        assert!(!guard.consume(nonce, in_ten_minutes()).await.unwrap());
        assert!(!open.consume(nonce, in_ten_minutes()).await.unwrap(), "fail-open is protected again too");
        guard.ping().await.unwrap();
        let before = ok.load(Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while ok.load(Ordering::SeqCst) < before + 5 {
            assert!(Instant::now() < deadline, "the background consumer did not recover");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    bounded(background).await.unwrap();
    assert!(down.load(Ordering::SeqCst) > 0, "the background consumer never saw the outage");
}

/// Keys spread over the primaries by slot (one seed URL is enough to find them all), and
/// single use holds while a slot moves: the client follows `ASK` during the migration and
/// `MOVED` after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_routes_by_slot_and_follows_redirections() {
    let cluster = RedisCluster::start();
    bounded(async {
        let seed = &cluster.urls()[..1];
        let guard = RedisReplayGuard::cluster_builder(seed).connect().await.unwrap();
        assert!(guard.is_cluster());
        assert_eq!(guard.redacted_url(), cluster.urls()[0]);
        let mut per_node = [0usize; 3];
        for _ in 0..60 {
            let nonce = Nonce::random();
            assert!(guard.consume(nonce, in_ten_minutes()).await.unwrap());
            assert!(!guard.consume(nonce, in_ten_minutes()).await.unwrap());
            per_node[cluster.node_for_key(&guard.key(nonce))] += 1;
        }
        for (node, port) in cluster.ports().into_iter().enumerate() {
            let dbsize: String = cluster.cli(node, &["DBSIZE"]);
            assert_eq!(dbsize.trim(), per_node[node].to_string(), "node on port {port}");
        }
        assert!(per_node.iter().all(|n| *n > 0), "{per_node:?}");

        // Move the slot of fresh states from their node to the next one, as a resharding
        // does, while the guard keeps its slot map from before.
        let (nonce, late) = (Nonce::random(), Nonce::random());
        let slot = key_slot(&guard.key(nonce)).to_string();
        let (from, to) = {
            let from = cluster.node_for_key(&guard.key(nonce));
            (from, (from + 1) % 3)
        };
        let late = (0..u128::MAX)
            .map(|i| Nonce((late.as_u128().wrapping_add(i)).to_be_bytes()))
            .find(|n| key_slot(&guard.key(*n)).to_string() == slot)
            .unwrap();
        let (from_id, to_id) = (cluster.node_id(from), cluster.node_id(to));
        assert_eq!(cluster.cli(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]).trim(), "OK");
        assert_eq!(cluster.cli(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]).trim(), "OK");
        // Migrating: the source answers ASK for keys it does not hold; the target records.
        assert!(guard.consume(nonce, in_ten_minutes()).await.unwrap());
        assert!(!guard.consume(nonce, in_ten_minutes()).await.unwrap(), "single use during the migration");
        assert_eq!(cluster.cli(to, &["DBSIZE"]).trim(), (per_node[to] + 1).to_string());
        // Done: every node learns the new owner; the source answers MOVED.
        for node in [to, from, 3 - to - from] {
            assert_eq!(cluster.cli(node, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]).trim(), "OK");
        }
        assert!(!guard.consume(nonce, in_ten_minutes()).await.unwrap(), "single use after the migration");
        assert!(guard.consume(late, in_ten_minutes()).await.unwrap());
        assert!(!guard.consume(late, in_ten_minutes()).await.unwrap());
        assert_eq!(cluster.node_for_key(&guard.key(late)), to);
        guard.release(late).await.unwrap();
        assert!(guard.consume(late, in_ten_minutes()).await.unwrap());
        guard.ping().await.unwrap();
    })
    .await;
}

/// A cluster's seed URLs are secrets like one server's: never printed; bad seed lists are
/// configuration errors.
#[tokio::test]
async fn cluster_credentials_and_seed_list_errors() {
    const PASSWORD: &str = "pw-Cl7-cluster-secret";
    let cluster = RedisCluster::start_with_password(PASSWORD);
    let urls = cluster.urls();
    assert!(urls.iter().all(|u| u.contains(PASSWORD)));
    bounded(async {
        let guard = RedisReplayGuard::connect_cluster(&urls).await.unwrap();
        assert!(guard.consume(Nonce::random(), in_ten_minutes()).await.unwrap());
        guard.dedupe();
        let printed = format!("{guard:?} {:?} {:?}", RedisReplayGuard::cluster_builder(&urls), guard.dedupe());
        assert!(!printed.contains(PASSWORD), "{printed}");
        assert!(printed.contains("cluster: true"), "{printed}");
        assert_eq!(guard.redacted_url().matches(":***@127.0.0.1").count(), 3, "{}", guard.redacted_url());

        // Wrong credentials: refused, not leaked.
        let wrong: Vec<String> = urls.iter().map(|u| u.replace(PASSWORD, "wrong-Pa55-guess")).collect();
        let message = replay_message(RedisReplayGuard::connect_cluster(&wrong).await);
        assert!(!message.contains("wrong-Pa55-guess"), "{message}");
        assert!(message.starts_with("Redis Cluster at redis://:***@127.0.0.1:"), "{message}");
        assert!(message.contains("credentials") || message.contains("connect_lazy"), "{message}");

        // Seed lists the client refuses are configuration errors, scrubbed too.
        let mixed = urls[1].replace(PASSWORD, "other-Pa55-word");
        for (seeds, expected) in [
            (vec![urls[0].as_str(), mixed.as_str()], "different password"),
            (vec![], "no Redis Cluster node URL"),
            (vec!["redis+unix:///tmp/redis.sock"], "unix socket"),
            (vec!["127.0.0.1:7000"], "not a URL"),
        ] {
            match RedisReplayGuard::cluster_builder(&seeds).connect_lazy() {
                Err(err @ Error::Config { .. }) => {
                    let text = format!("{err} {err:?}");
                    assert!(!text.contains(PASSWORD) && !text.contains("other-Pa55-word"), "{text}");
                    assert!(text.contains("redis_url"), "{text}");
                    assert!(text.contains(expected), "{expected}: {text}");
                }
                other => panic!("{seeds:?}: expected a config error, got {other:?}"),
            }
        }
    })
    .await;
}

/// A server that accepts connections and never answers: calls must time out, not hang.
#[tokio::test]
async fn unresponsive_redis_times_out() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let blackhole = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    bounded(async {
        let url = format!("redis://127.0.0.1:{port}/0");
        let timeout = Duration::from_millis(300);
        let guard = RedisReplayGuard::builder(&url).command_timeout(timeout).connect_lazy().unwrap();
        for _ in 0..2 {
            let started = Instant::now();
            let message = replay_message(guard.consume(Nonce::random(), in_ten_minutes()).await);
            let took = started.elapsed();
            assert!(took >= timeout && took < timeout * 3, "took {took:?}");
            assert!(message.contains("did not answer"), "{message}");
        }
        let started = Instant::now();
        replay_message(RedisReplayGuard::builder(&url).command_timeout(timeout).connect().await);
        assert!(started.elapsed() < timeout * 3);
    })
    .await;
    blackhole.abort();
}

#[tokio::test]
async fn password_never_leaks() {
    const PASSWORD: &str = "pw-Zx81-very-secret";
    let mut server = RedisServer::start_with_password(PASSWORD);
    let url = server.url();
    assert!(url.contains(PASSWORD));
    let logs = CapturedLogs::default();
    let _default = logs.install(tracing::Level::TRACE);
    bounded(async {
        let guard = RedisReplayGuard::connect(&url).await.unwrap();
        assert!(guard.consume(Nonce::random(), in_ten_minutes()).await.unwrap());
        let printed = format!("{guard:?} {:?}", RedisReplayGuard::builder(&url));
        assert!(!printed.contains(PASSWORD), "{printed}");
        assert!(printed.contains(":***@127.0.0.1"), "{printed}");
        assert_eq!(guard.redacted_url(), format!("redis://:***@127.0.0.1:{}/0", server.port()));

        // Wrong and missing credentials.
        let wrong = url.replace(PASSWORD, "wrong-Pa55-guess");
        let message = replay_message(RedisReplayGuard::connect(&wrong).await);
        assert!(!message.contains("wrong-Pa55-guess"), "{message}");
        assert!(message.contains("credentials"), "{message}");
        let anonymous = format!("redis://127.0.0.1:{}/0", server.port());
        let message = replay_message(RedisReplayGuard::connect(&anonymous).await);
        assert!(message.contains("credentials"), "{message}");

        // A malformed URL.
        let bad = url.replace("/0", "/not-a-db");
        match RedisReplayGuard::connect(&bad).await {
            Err(err @ Error::Config { .. }) => {
                let text = format!("{err} {err:?}");
                assert!(!text.contains(PASSWORD), "{text}");
                assert!(text.contains("redis_url"), "{text}");
            }
            other => panic!("expected a config error, got {other:?}"),
        }
        let message = match RedisReplayGuard::connect("no url here").await {
            Err(Error::Config { message, .. }) => message,
            other => panic!("expected a config error, got {other:?}"),
        };
        assert!(message.contains("redis://"), "{message}");

        // Outage: errors and fail-open warnings.
        let open = RedisReplayGuard::builder(&url).fail_mode(FailMode::Open).connect().await.unwrap();
        server.stop();
        let err = guard.consume(Nonce::random(), in_ten_minutes()).await.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(text.contains(":***@"), "{text}");
        assert!(open.consume(Nonce::random(), in_ten_minutes()).await.unwrap());
    })
    .await;
    let logs = logs.text();
    assert!(logs.contains("WITHOUT replay protection"), "{logs}");
    assert!(logs.contains(":***@127.0.0.1"), "{logs}");
    assert!(!logs.contains(PASSWORD), "{logs}");
}

#[tokio::test]
async fn zero_timeout_is_a_config_error() {
    let err =
        RedisReplayGuard::builder("redis://127.0.0.1:1/0").command_timeout(Duration::ZERO).connect_lazy().unwrap_err();
    assert!(matches!(err, Error::Config { ref key, .. } if key == "redis_command_timeout"), "{err}");
}

#[test]
fn connect_lazy_outside_a_runtime_is_a_config_error() {
    let err = RedisReplayGuard::builder("redis://127.0.0.1:1/0").connect_lazy().unwrap_err();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}

/// Without `redis-server` the suite must fail loudly, not skip: the child runs the harness
/// with an empty `PATH` and must panic with the installation hint.
#[test]
fn missing_redis_server_fails_with_install_hint() {
    if std::env::var_os(MISSING_ENV).is_some() {
        let _server = RedisServer::start();
        return;
    }
    let empty = TempDir::new("empty-path");
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "missing_redis_server_fails_with_install_hint", "--nocapture", "--test-threads=1"])
        .env(MISSING_ENV, "1")
        .env("PATH", empty.path())
        .env_remove(SERVER_ENV)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = ChildGuard::new(child).wait_with_timeout(Duration::from_secs(30));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success(), "the child passed without redis-server:\n{text}");
    assert!(text.contains("redis-server was not found"), "{text}");
    assert!(text.contains("apt-get install redis-server"), "{text}");
}
