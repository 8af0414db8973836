#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oauth_link_core::webhook::{DeliveryDedupe, DeliveryKey};
use oauth_link_core::{
    adapter::Nonce,
    clock::{Clock, SystemClock},
    Error, ReplayGuard, Result,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::Value;
use secrecy::{ExposeSecret, SecretString};

use oauth_link_core::secret::CredentialUrl;

/// Default prefix of the keys marking used states: `oauth-link:used:<32 hex digits>`.
pub const DEFAULT_KEY_PREFIX: &str = "oauth-link:used:";

/// Default bound on one Redis round trip, connecting included.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// Default time a used-state mark outlives the state's expiry (absorbs clock skew between
/// app instances; matches the issue-time skew the state codec tolerates).
pub const DEFAULT_EXPIRY_GRACE: Duration = Duration::from_secs(60);

/// What the guard answers when Redis cannot be asked (unreachable, timed out, erroring).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// Refuse the callback: `consume` and `release` return [`Error::ReplayGuard`]. The
    /// user can retry the same callback once Redis is back. Default, and the safe choice.
    #[default]
    Closed,
    /// **Unsafe.** Log a warning and treat every state as used for the first time
    /// (`consume` returns `true`, `release` succeeds). Callbacks keep completing while
    /// Redis is down, but a state can then complete more than once (a replayed or
    /// double-submitted callback goes through). Only for apps that prefer availability to
    /// replay protection.
    Open,
}

/// Settings for a [`RedisReplayGuard`]; start with [`RedisReplayGuard::builder`] (one
/// Redis server) or [`RedisReplayGuard::cluster_builder`] (a Redis Cluster).
pub struct RedisReplayGuardBuilder {
    target: Target,
    key_prefix: String,
    command_timeout: Duration,
    fail_mode: FailMode,
    expiry_grace: Duration,
    clock: Arc<dyn Clock>,
}

/// Where the guard's Redis is: the URLs stay secret until they are parsed.
enum Target {
    /// One server (or a proxy in front of several).
    Single(SecretString),
    /// Seed nodes of a Redis Cluster; the client discovers the others.
    Cluster(Vec<SecretString>),
}

impl Target {
    fn urls(&self) -> &[SecretString] {
        match self {
            Target::Single(url) => std::slice::from_ref(url),
            Target::Cluster(urls) => urls,
        }
    }
}

impl std::fmt::Debug for RedisReplayGuardBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self
            .target
            .urls()
            .iter()
            .map(|url| CredentialUrl::parse(url.expose_secret()).map_or("[unparseable URL]".to_owned(), |u| u.redacted))
            .collect();
        f.debug_struct("RedisReplayGuardBuilder")
            .field("cluster", &matches!(self.target, Target::Cluster(_)))
            .field("url", &urls.join(","))
            .field("key_prefix", &self.key_prefix)
            .field("command_timeout", &self.command_timeout)
            .field("fail_mode", &self.fail_mode)
            .field("expiry_grace", &self.expiry_grace)
            .finish_non_exhaustive()
    }
}

impl RedisReplayGuardBuilder {
    /// Prefix of the keys marking used states (default [`DEFAULT_KEY_PREFIX`]). Every app
    /// instance sharing link state must use the same prefix and the same Redis database.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Upper bound on each Redis call, connecting included (default
    /// [`DEFAULT_COMMAND_TIMEOUT`]); past it the call counts as a Redis failure.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// What to do when Redis cannot be asked (default [`FailMode::Closed`]).
    pub fn fail_mode(mut self, mode: FailMode) -> Self {
        self.fail_mode = mode;
        self
    }

    /// How long a used-state mark outlives the state's expiry (default
    /// [`DEFAULT_EXPIRY_GRACE`]). Keep it at least as large as the clock skew between
    /// app instances: an instance whose clock lags still accepts the state that long.
    pub fn expiry_grace(mut self, grace: Duration) -> Self {
        self.expiry_grace = grace;
        self
    }

    /// Time source for computing key lifetimes (must match the state codec's in tests).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Connects and checks Redis answers `PING` within the command timeout (for a
    /// cluster: that the client found the cluster's topology through a seed node and every
    /// primary answers).
    ///
    /// Errors: [`Error::Config`] for a malformed URL, an empty seed list or a zero timeout,
    /// [`Error::ReplayGuard`] when Redis cannot be reached or refuses the credentials
    /// (whatever the fail mode: use [`connect_lazy`](Self::connect_lazy) to start
    /// without Redis).
    pub async fn connect(self) -> Result<RedisReplayGuard> {
        let (client, settings) = self.prepare()?;
        let timeout = settings.command_timeout;
        let connecting = async {
            match client {
                Client::Single(client, config) => {
                    ConnectionManager::new_with_config(client, config).await.map(Connection::Single)
                }
                Client::Cluster(client, config) => {
                    client.get_async_connection_with_config(config).await.map(Connection::Cluster)
                }
            }
        };
        let connection = match tokio::time::timeout(timeout, connecting).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(e)) => return Err(settings.error(Op::Connect, Failure::Redis(e))),
            Err(_) => return Err(settings.error(Op::Connect, Failure::Timeout)),
        };
        let guard = RedisReplayGuard { connection, settings: Arc::new(settings) };
        if let Err(failure) = guard.ready().await {
            return Err(guard.settings.error(Op::Connect, failure));
        }
        Ok(guard)
    }

    /// Builds the guard without contacting Redis; the connection is opened on first use
    /// and each call then obeys the fail mode. Must be called inside a Tokio runtime.
    ///
    /// Errors: [`Error::Config`] for a malformed URL, an empty seed list, a zero timeout,
    /// or no runtime.
    pub fn connect_lazy(self) -> Result<RedisReplayGuard> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::config(
                "redis_url",
                "RedisReplayGuard::connect_lazy must be called inside a Tokio runtime",
            ));
        }
        let (client, settings) = self.prepare()?;
        let connection = match client {
            Client::Single(client, config) => Connection::Single(
                ConnectionManager::new_lazy_with_config(client, config)
                    .map_err(|e| settings.error(Op::Connect, Failure::Redis(e)))?,
            ),
            Client::Cluster(client, config) => {
                Connection::Cluster(client.get_pending_async_connection_with_config(config))
            }
        };
        Ok(RedisReplayGuard { connection, settings: Arc::new(settings) })
    }

    fn prepare(self) -> Result<(Client, Settings)> {
        let urls = self
            .target
            .urls()
            .iter()
            .map(|url| {
                CredentialUrl::parse(url.expose_secret()).ok_or_else(|| {
                    Error::config(
                        "redis_url",
                        "a Redis URL is not a URL; expected redis://[user:password@]host[:port][/db]",
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let endpoint = Endpoint { cluster: matches!(self.target, Target::Cluster(_)), urls };
        if self.command_timeout.is_zero() {
            return Err(Error::config("redis_command_timeout", "the Redis command timeout must be above zero"));
        }
        let timeout = self.command_timeout;
        let invalid = |e: redis::RedisError| {
            Error::config(
                "redis_url",
                format!("invalid Redis URL {}: {}", endpoint.redacted(), endpoint.scrub(&e.to_string())),
            )
        };
        let client = match &self.target {
            Target::Single(url) => {
                let client = redis::Client::open(url.expose_secret()).map_err(invalid)?;
                // Few, quick reconnection attempts: a callback must not wait behind a long
                // backoff, and every failed call starts a fresh attempt anyway.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(timeout);
                Client::Single(client, config)
            }
            Target::Cluster(urls) if urls.is_empty() => {
                return Err(Error::config(
                    "redis_url",
                    "no Redis Cluster node URL given; list one or more seed nodes, e.g. redis://10.0.0.1:6379,redis://10.0.0.2:6379",
                ))
            }
            Target::Cluster(urls) => {
                let max_wait_ms = u64::try_from(timeout.as_millis() / 4).unwrap_or(u64::MAX).max(10);
                // The client follows MOVED/ASK redirections, refreshes its slot map and
                // reconnects to a restarted node by itself, retrying a few times with short
                // waits; the whole call stays bounded by the command timeout.
                let client = ClusterClient::builder(urls.iter().map(|u| u.expose_secret().to_owned()))
                    .retries(CLUSTER_RETRIES)
                    .min_retry_wait(10)
                    .max_retry_wait(max_wait_ms)
                    .build()
                    .map_err(invalid)?;
                let config = ClusterConfig::new().set_connection_timeout(timeout).set_response_timeout(timeout);
                Client::Cluster(client, config)
            }
        };
        let settings = Settings {
            redacted: endpoint.redacted(),
            endpoint,
            key_prefix: self.key_prefix,
            command_timeout: timeout,
            fail_mode: self.fail_mode,
            expiry_grace: self.expiry_grace,
            clock: self.clock,
        };
        Ok((client, settings))
    }
}

/// Attempts of one cluster command beyond the first (redirections and reconnections
/// count), all within the command timeout.
const CLUSTER_RETRIES: u32 = 5;

/// A client ready to open the guard's connection.
enum Client {
    Single(redis::Client, ConnectionManagerConfig),
    Cluster(ClusterClient, ClusterConfig),
}

/// The guard's connection; both kinds are multiplexed, cheap to clone and reconnect by
/// themselves. Every command goes through [`Connection::query`].
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Connection {
    async fn query(&self, cmd: &redis::Cmd) -> redis::RedisResult<Value> {
        match self {
            Connection::Single(manager) => cmd.query_async(&mut manager.clone()).await,
            Connection::Cluster(cluster) => cmd.query_async(&mut cluster.clone()).await,
        }
    }
}

/// The Redis URL(s) of a guard, printable without their passwords.
struct Endpoint {
    cluster: bool,
    urls: Vec<CredentialUrl>,
}

impl Endpoint {
    /// The URLs with their passwords as `***`, comma-separated.
    fn redacted(&self) -> String {
        self.urls.iter().map(|u| u.redacted.as_str()).collect::<Vec<_>>().join(",")
    }

    /// `text` without any form of any URL's password.
    fn scrub(&self, text: &str) -> String {
        self.urls.iter().fold(text.to_owned(), |text, url| url.scrub(&text))
    }

    /// `Redis at <url>` or `Redis Cluster at <seed urls>`.
    fn describe(&self) -> String {
        let what = if self.cluster { "Redis Cluster" } else { "Redis" };
        format!("{what} at {}", self.redacted())
    }
}

/// A [`ReplayGuard`] shared by every app instance through Redis.
///
/// `consume` runs `SET <prefix><nonce as 32 hex digits> 1 NX PX <ms>`, which Redis applies
/// atomically: of any number of concurrent consumers, in any number of processes, exactly
/// one gets `OK` (`true`); the others get nil (`false`). The key expires on its own once
/// the state is past its expiry plus the grace. `release` runs `DEL`.
///
/// Against a Redis Cluster ([`cluster_builder`](Self::cluster_builder)) the commands are
/// the same: each key names one slot, so every command goes to the primary owning it.
///
/// Cloning is cheap and shares one multiplexed connection (one per node for a cluster),
/// which reconnects by itself after Redis restarts. `Debug` never shows the password of
/// the Redis URL.
#[derive(Clone)]
pub struct RedisReplayGuard {
    connection: Connection,
    settings: Arc<Settings>,
}

struct Settings {
    endpoint: Endpoint,
    /// [`Endpoint::redacted`], computed once.
    redacted: String,
    key_prefix: String,
    command_timeout: Duration,
    fail_mode: FailMode,
    expiry_grace: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RedisReplayGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.settings;
        f.debug_struct("RedisReplayGuard")
            .field("cluster", &s.endpoint.cluster)
            .field("url", &s.redacted)
            .field("key_prefix", &s.key_prefix)
            .field("command_timeout", &s.command_timeout)
            .field("fail_mode", &s.fail_mode)
            .field("expiry_grace", &s.expiry_grace)
            .finish_non_exhaustive()
    }
}

impl RedisReplayGuard {
    /// Connects with the default settings (see [`RedisReplayGuardBuilder::connect`]).
    ///
    /// `url` is `redis://[user:password@]host[:port][/db]` or
    /// `redis+unix:///path?pass=...`; its password is never printed.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::builder(url).connect().await
    }

    /// Connects with the default settings to the Redis Cluster reached through
    /// `seed_urls` (see [`cluster_builder`](Self::cluster_builder)).
    pub async fn connect_cluster<I>(seed_urls: I) -> Result<Self>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::cluster_builder(seed_urls).connect().await
    }

    /// Settings starting from the defaults, for the Redis at `url`.
    pub fn builder(url: &str) -> RedisReplayGuardBuilder {
        Self::with_target(Target::Single(SecretString::from(url.to_owned())))
    }

    /// Settings starting from the defaults, for a Redis Cluster: `seed_urls` are one or
    /// more of its nodes (`redis://[user:password@]host:port`, same credentials on each),
    /// through which the client discovers the others and which primary owns which slot.
    /// Every setting of the builder applies as for one server; the database must be 0 (or
    /// left out). An empty list is an [`Error::Config`] when connecting.
    pub fn cluster_builder<I>(seed_urls: I) -> RedisReplayGuardBuilder
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let urls = seed_urls.into_iter().map(|url| SecretString::from(url.as_ref().to_owned())).collect();
        Self::with_target(Target::Cluster(urls))
    }

    fn with_target(target: Target) -> RedisReplayGuardBuilder {
        RedisReplayGuardBuilder {
            target,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            fail_mode: FailMode::Closed,
            expiry_grace: DEFAULT_EXPIRY_GRACE,
            clock: Arc::new(SystemClock),
        }
    }

    /// The Redis key that marks `nonce` as used.
    pub fn key(&self, nonce: Nonce) -> String {
        format!("{}{:032x}", self.settings.key_prefix, nonce.as_u128())
    }

    /// The Redis URL with its password replaced by `***` (for a cluster: the seed URLs,
    /// comma-separated).
    pub fn redacted_url(&self) -> &str {
        &self.settings.redacted
    }

    /// True when the guard talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.settings.endpoint.cluster
    }

    /// The fail mode in force.
    pub fn fail_mode(&self) -> FailMode {
        self.settings.fail_mode
    }

    /// Checks that Redis answers `PING` within the command timeout, whatever the fail
    /// mode (for readiness probes). Errors: [`Error::ReplayGuard`].
    ///
    /// For a cluster, ready means every primary the client knows answers: `PING` goes to
    /// all of them, and one down (or unknown yet, with no seed node reachable) fails the
    /// check, since the states whose keys hash to its slots cannot be recorded.
    pub async fn ping(&self) -> Result<()> {
        self.ready().await.map_err(|failure| self.settings.error(Op::Ping, failure))
    }

    /// [`ping`](Self::ping)'s check, within the command timeout. A cluster must cover its
    /// 16384 slots (`CLUSTER SLOTS`), and every primary must answer a keyed read (`PTTL`
    /// of a probe key in one of its slots) routed as the guard's own commands are. (A bare
    /// `PING` cannot tell: the client sends it to the nodes it is connected to, skipping
    /// a primary that is down.)
    async fn ready(&self) -> Result<(), Failure> {
        if !self.settings.endpoint.cluster {
            return self.run(&redis::cmd("PING")).await.map(drop);
        }
        let check = async {
            let mut slots = redis::cmd("CLUSTER");
            slots.arg("SLOTS");
            let reply = match self.connection.query(&slots).await {
                Err(e) if e.is_connection_refusal() => self.connection.query(&slots).await,
                other => other,
            }
            .map_err(Failure::Redis)?;
            let (covered, primaries) =
                primaries_by_slot(&reply).ok_or_else(|| Failure::Unexpected(format!("{reply:?}")))?;
            if covered < SLOTS {
                return Err(Failure::Incomplete(format!("{covered} of {SLOTS} slots have a primary")));
            }
            for slot in primaries {
                let mut probe = redis::cmd("PTTL");
                probe.arg(probe_key(slot));
                self.connection.query(&probe).await.map_err(Failure::Redis)?;
            }
            Ok(())
        };
        tokio::time::timeout(self.settings.command_timeout, check).await.unwrap_or(Err(Failure::Timeout))
    }

    /// Milliseconds the mark for a state expiring at `expires_at` must live, or `None`
    /// when its expiry plus the grace has already passed.
    fn ttl_ms(&self, expires_at: DateTime<Utc>) -> Option<u64> {
        let remaining = expires_at.signed_duration_since(self.settings.clock.now());
        let remaining_us = remaining.num_microseconds().unwrap_or(if remaining > chrono::Duration::zero() {
            i64::MAX
        } else {
            i64::MIN
        });
        let grace_us = i64::try_from(self.settings.expiry_grace.as_micros()).unwrap_or(i64::MAX);
        let total_us = u64::try_from(remaining_us.saturating_add(grace_us)).ok().filter(|us| *us > 0)?;
        Some(total_us.div_ceil(1000))
    }

    /// Runs one command within the command timeout.
    async fn run(&self, cmd: &redis::Cmd) -> Result<Value, Failure> {
        let attempt = async {
            match self.connection.query(cmd).await {
                // A refused connection never carried the command, so trying again is safe:
                // the client has just started a new connection (Redis may be back).
                Err(e) if e.is_connection_refusal() => self.connection.query(cmd).await,
                other => other,
            }
        };
        match tokio::time::timeout(self.settings.command_timeout, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(Failure::Redis(e)),
            Err(_) => Err(Failure::Timeout),
        }
    }

    /// Applies the fail mode to a failure; `open` is the fail-open answer.
    fn on_failure<T>(&self, op: Op, failure: Failure, open: T) -> Result<T> {
        let error = self.settings.error(op, failure);
        match self.settings.fail_mode {
            FailMode::Closed => Err(error),
            FailMode::Open => {
                tracing::warn!(
                    redis = %self.settings.redacted,
                    operation = op.command(),
                    error = %error,
                    "Redis replay guard unavailable; fail-open mode proceeds WITHOUT replay protection"
                );
                Ok(open)
            }
        }
    }

    /// `SET key 1 NX PX ttl`: `true` for `OK`, `false` for nil; the fail mode decides on a
    /// failure. The one write of the guard and of [`RedisDedupe`].
    async fn set_nx(&self, key: String, ttl_ms: u64, op: Op) -> Result<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(1).arg("NX").arg("PX").arg(ttl_ms);
        match self.run(&cmd).await {
            Ok(Value::Okay) => Ok(true),
            Ok(Value::SimpleString(s)) if s == "OK" => Ok(true),
            Ok(Value::Nil) => Ok(false),
            Ok(other) => self.on_failure(op, Failure::Unexpected(format!("{other:?}")), true),
            Err(failure) => self.on_failure(op, failure, true),
        }
    }

    /// `DEL key`; deleting a key that is not there is not an error.
    async fn del(&self, key: String, op: Op) -> Result<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(key);
        match self.run(&cmd).await {
            Ok(_) => Ok(()),
            Err(failure) => self.on_failure(op, failure, ()),
        }
    }

    /// A [`DeliveryDedupe`] sharing this guard's connection, command timeout, fail mode,
    /// expiry grace and clock, keeping its marks under [`DEFAULT_DEDUPE_PREFIX`].
    pub fn dedupe(&self) -> RedisDedupe {
        RedisDedupe { guard: self.clone(), key_prefix: DEFAULT_DEDUPE_PREFIX.to_owned() }
    }
}

#[async_trait]
impl ReplayGuard for RedisReplayGuard {
    /// `SET key 1 NX PX ttl`: `true` for `OK`, `false` for nil. A state whose expiry plus
    /// the grace has passed is refused (`false`) without contacting Redis.
    async fn consume(&self, nonce: Nonce, expires_at: DateTime<Utc>) -> Result<bool> {
        let Some(ttl_ms) = self.ttl_ms(expires_at) else {
            tracing::debug!(%nonce, %expires_at, "link state refused: expired beyond the grace period");
            return Ok(false);
        };
        self.set_nx(self.key(nonce), ttl_ms, Op::Consume).await
    }

    /// `DEL key`; releasing a state that is not marked is not an error.
    async fn release(&self, nonce: Nonce) -> Result<()> {
        self.del(self.key(nonce), Op::Release).await
    }
}

/// Default prefix of the keys marking handled webhook deliveries:
/// `oauth-link:webhook:<32 hex digits>` ([`DeliveryKey`]).
pub const DEFAULT_DEDUPE_PREFIX: &str = "oauth-link:webhook:";

/// A [`DeliveryDedupe`] shared by every app instance through Redis: a resent webhook
/// delivery is handled once, whichever instance receives it. Made by
/// [`RedisReplayGuard::dedupe`].
///
/// `first_delivery` runs the guard's own `SET <prefix><key as 32 hex digits> 1 NX PX <ms>`
/// (the key lives until the given expiry plus the guard's grace); `forget` runs `DEL`. A
/// Redis failure obeys the guard's [`FailMode`]: closed, [`Error::ReplayGuard`] (answer
/// 503: the platform resends later); open, the delivery counts as new.
#[derive(Clone)]
pub struct RedisDedupe {
    guard: RedisReplayGuard,
    key_prefix: String,
}

impl std::fmt::Debug for RedisDedupe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDedupe")
            .field("cluster", &self.guard.settings.endpoint.cluster)
            .field("url", &self.guard.settings.redacted)
            .field("key_prefix", &self.key_prefix)
            .field("fail_mode", &self.guard.settings.fail_mode)
            .finish_non_exhaustive()
    }
}

impl RedisDedupe {
    /// Keeps the marks under `prefix` instead of [`DEFAULT_DEDUPE_PREFIX`]. Every instance
    /// receiving the same webhooks must use the same prefix and Redis database.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// The Redis key that marks delivery `key` as handled.
    pub fn key(&self, key: DeliveryKey) -> String {
        format!("{}{key}", self.key_prefix)
    }
}

#[async_trait]
impl DeliveryDedupe for RedisDedupe {
    /// An expiry already past (with the grace) counts as a resend (`false`), like a state.
    async fn first_delivery(&self, key: DeliveryKey, expires_at: DateTime<Utc>) -> Result<bool> {
        let Some(ttl_ms) = self.guard.ttl_ms(expires_at) else {
            return Ok(false);
        };
        self.guard.set_nx(self.key(key), ttl_ms, Op::Record).await
    }

    async fn forget(&self, key: DeliveryKey) -> Result<()> {
        self.guard.del(self.key(key), Op::Forget).await
    }
}

/// What the guard was doing when Redis failed.
#[derive(Clone, Copy)]
enum Op {
    Connect,
    Ping,
    Consume,
    Release,
    /// [`RedisDedupe::first_delivery`].
    Record,
    /// [`RedisDedupe::forget`].
    Forget,
}

impl Op {
    fn command(self) -> &'static str {
        match self {
            Op::Connect => "the connection",
            Op::Ping => "PING",
            Op::Consume => "SET NX (consume)",
            Op::Release => "DEL (release)",
            Op::Record => "SET NX (webhook delivery)",
            Op::Forget => "DEL (webhook delivery)",
        }
    }

    fn consequence(self) -> &'static str {
        match self {
            Op::Connect => "The replay guard could not start: fix Redis or the URL, or build the guard with connect_lazy to start while Redis is down",
            Op::Ping => "Callbacks are refused until Redis answers (for a cluster, those whose keys fall on a primary that does not)",
            Op::Consume => "The link state could not be recorded, so the callback was refused to keep it single-use; retry the same callback once Redis answers (the state stays valid until it expires)",
            Op::Release => "The link state stays marked as used until it expires; the user has to start a new link",
            Op::Record => "The webhook delivery could not be recorded, so it was refused to keep it handled once; answer 503 and the platform resends it later",
            Op::Forget => "The webhook delivery stays marked as handled until its mark expires; a resend of it will be ignored",
        }
    }
}

/// Why Redis could not be asked.
enum Failure {
    Timeout,
    Redis(redis::RedisError),
    Unexpected(String),
    /// The cluster's slots are not all served (the reason).
    Incomplete(String),
}

impl Settings {
    fn error(&self, op: Op, failure: Failure) -> Error {
        let redis = self.endpoint.describe();
        let operation = op.command();
        let scrub = |text: &str| self.endpoint.scrub(text);
        let what = match failure {
            Failure::Timeout => format!(
                "{redis} did not answer {operation} within {} ms; check that Redis is up and reachable from this app (or raise the command timeout)",
                self.command_timeout.as_millis()
            ),
            Failure::Redis(e) if is_auth_error(&e) => format!(
                "{redis} refused the credentials during {operation} ({}); check the user and password in the Redis URL",
                scrub(&e.to_string())
            ),
            Failure::Redis(e) if is_cluster_unavailable(&e) => format!(
                "{redis} cannot serve the key's slot during {operation} ({}); a node it needs is down or unreachable, or the slot is failing over or moving: check that every node is running and reachable from this app, and CLUSTER INFO",
                scrub(&e.to_string())
            ),
            Failure::Redis(e) if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() => format!(
                "{redis} is unreachable during {operation} ({}); check that Redis is running and reachable from this app",
                scrub(&e.to_string())
            ),
            Failure::Redis(e) => format!(
                "{redis} failed {operation} ({}); check the Redis server's state and logs",
                scrub(&e.to_string())
            ),
            Failure::Incomplete(why) => format!(
                "{redis} is not whole during {operation} ({why}); check CLUSTER INFO (cluster_state:ok) on its nodes"
            ),
            Failure::Unexpected(reply) => format!(
                "{redis} gave an unexpected reply to {operation} ({}); check that the URL points to a Redis server",
                scrub(&reply)
            ),
        };
        Error::ReplayGuard { message: format!("{what}. {}", op.consequence()) }
    }
}

/// Slots of a Redis Cluster.
const SLOTS: u32 = 16384;

/// From a `CLUSTER SLOTS` reply: how many slots have a primary, and one slot of each
/// distinct primary (to route a `PING` to it). `None` when the reply is not shaped like one.
fn primaries_by_slot(reply: &Value) -> Option<(u32, Vec<u16>)> {
    let Value::Array(ranges) = reply else { return None };
    let mut covered = 0;
    let mut seen: Vec<(&Value, &Value)> = Vec::new();
    let mut slots = Vec::new();
    for range in ranges {
        let Value::Array(fields) = range else { return None };
        let [Value::Int(start), Value::Int(end), Value::Array(primary), ..] = fields.as_slice() else { return None };
        let (start, end) = (u16::try_from(*start).ok()?, u16::try_from(*end).ok()?);
        covered += u32::from(end.checked_sub(start)?) + 1;
        // A primary is [host, port, id, ...]; its address names it.
        let address = (primary.first()?, primary.get(1)?);
        if !seen.contains(&address) {
            seen.push(address);
            slots.push(start);
        }
    }
    Some((covered, slots))
}

/// The Redis Cluster hash slot of `key` (no hash tag in it): CRC16-XMODEM modulo 16384.
fn key_slot(key: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in key {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc % 16384
}

/// A key in `slot` that the guard never writes, for [`RedisReplayGuard::ping`]'s probe:
/// `oauth-link:ready:<n>` with the first `n` that hashes there.
fn probe_key(slot: u16) -> String {
    (0u32..).map(|n| format!("oauth-link:ready:{n}")).find(|key| key_slot(key.as_bytes()) == slot).unwrap_or_default()
}

/// A cluster-side refusal: no primary for the slot, a failover under way, no connection
/// to the node owning it, or redirections the client gave up following (the owner named
/// by `MOVED` or `ASK` stayed unreachable).
fn is_cluster_unavailable(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::ClusterConnectionNotFound
        || matches!(e.code(), Some("CLUSTERDOWN" | "MASTERDOWN" | "TRYAGAIN" | "MOVED" | "ASK"))
}

fn is_auth_error(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_slots_match_redis() {
        // `CLUSTER KEYSLOT` values; the first is the specification's CRC16 check value.
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"foo"), 12182);
        for slot in [0, 5460, 5461, 16383] {
            assert_eq!(key_slot(probe_key(slot).as_bytes()), slot);
        }
    }

    #[test]
    fn cluster_slots_replies() {
        let node = |port: i64| {
            Value::Array(vec![
                Value::BulkString(b"127.0.0.1".to_vec()),
                Value::Int(port),
                Value::BulkString(b"id".to_vec()),
            ])
        };
        let range =
            |start: i64, end: i64, port: i64| Value::Array(vec![Value::Int(start), Value::Int(end), node(port)]);
        let whole =
            Value::Array(vec![range(0, 5460, 1), range(5461, 10922, 2), range(10923, 16383, 3), range(7, 7, 1)]);
        assert_eq!(primaries_by_slot(&whole), Some((16385, vec![0, 5461, 10923])));
        let gap = Value::Array(vec![range(0, 5460, 1), range(10923, 16383, 3)]);
        assert_eq!(primaries_by_slot(&gap), Some((10922, vec![0, 10923])));
        assert_eq!(primaries_by_slot(&Value::Okay), None);
        assert_eq!(primaries_by_slot(&Value::Array(vec![range(9, 3, 1)])), None);
        assert_eq!(primaries_by_slot(&Value::Array(vec![Value::Int(1)])), None);
    }
}
