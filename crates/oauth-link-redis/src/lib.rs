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

/// Settings for a [`RedisReplayGuard`]; start with [`RedisReplayGuard::builder`].
pub struct RedisReplayGuardBuilder {
    url: SecretString,
    key_prefix: String,
    command_timeout: Duration,
    fail_mode: FailMode,
    expiry_grace: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RedisReplayGuardBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = CredentialUrl::parse(self.url.expose_secret());
        f.debug_struct("RedisReplayGuardBuilder")
            .field("url", &url.as_ref().map_or("[unparseable URL]", |u| u.redacted.as_str()))
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

    /// Connects and checks Redis answers `PING` within the command timeout.
    ///
    /// Errors: [`Error::Config`] for a malformed URL or a zero timeout,
    /// [`Error::ReplayGuard`] when Redis cannot be reached or refuses the credentials
    /// (whatever the fail mode: use [`connect_lazy`](Self::connect_lazy) to start
    /// without Redis).
    pub async fn connect(self) -> Result<RedisReplayGuard> {
        let (client, config, settings) = self.prepare()?;
        let timeout = settings.command_timeout;
        let manager = match tokio::time::timeout(timeout, ConnectionManager::new_with_config(client, config)).await {
            Ok(Ok(manager)) => manager,
            Ok(Err(e)) => return Err(settings.error(Op::Connect, Failure::Redis(e))),
            Err(_) => return Err(settings.error(Op::Connect, Failure::Timeout)),
        };
        let guard = RedisReplayGuard { manager, settings: Arc::new(settings) };
        guard.ping().await?;
        Ok(guard)
    }

    /// Builds the guard without contacting Redis; the connection is opened on first use
    /// and each call then obeys the fail mode. Must be called inside a Tokio runtime.
    ///
    /// Errors: [`Error::Config`] for a malformed URL, a zero timeout, or no runtime.
    pub fn connect_lazy(self) -> Result<RedisReplayGuard> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::config(
                "redis_url",
                "RedisReplayGuard::connect_lazy must be called inside a Tokio runtime",
            ));
        }
        let (client, config, settings) = self.prepare()?;
        let manager = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| settings.error(Op::Connect, Failure::Redis(e)))?;
        Ok(RedisReplayGuard { manager, settings: Arc::new(settings) })
    }

    fn prepare(self) -> Result<(redis::Client, ConnectionManagerConfig, Settings)> {
        let url = CredentialUrl::parse(self.url.expose_secret()).ok_or_else(|| {
            Error::config("redis_url", "the Redis URL is not a URL; expected redis://[user:password@]host[:port][/db]")
        })?;
        let client = redis::Client::open(self.url.expose_secret()).map_err(|e| {
            Error::config("redis_url", format!("invalid Redis URL {}: {}", url.redacted, url.scrub(&e.to_string())))
        })?;
        if self.command_timeout.is_zero() {
            return Err(Error::config("redis_command_timeout", "the Redis command timeout must be above zero"));
        }
        let timeout = self.command_timeout;
        // Few, quick reconnection attempts: a callback must not wait behind a long backoff,
        // and every failed call starts a fresh attempt anyway.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(timeout);
        let settings = Settings {
            url,
            key_prefix: self.key_prefix,
            command_timeout: timeout,
            fail_mode: self.fail_mode,
            expiry_grace: self.expiry_grace,
            clock: self.clock,
        };
        Ok((client, config, settings))
    }
}

/// A [`ReplayGuard`] shared by every app instance through Redis.
///
/// `consume` runs `SET <prefix><nonce as 32 hex digits> 1 NX PX <ms>`, which Redis applies
/// atomically: of any number of concurrent consumers, in any number of processes, exactly
/// one gets `OK` (`true`); the others get nil (`false`). The key expires on its own once
/// the state is past its expiry plus the grace. `release` runs `DEL`.
///
/// Cloning is cheap and shares one multiplexed connection, which reconnects by itself
/// after Redis restarts. `Debug` never shows the password of the Redis URL.
#[derive(Clone)]
pub struct RedisReplayGuard {
    manager: ConnectionManager,
    settings: Arc<Settings>,
}

struct Settings {
    url: CredentialUrl,
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
            .field("url", &s.url.redacted)
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

    /// Settings starting from the defaults, for the Redis at `url`.
    pub fn builder(url: &str) -> RedisReplayGuardBuilder {
        RedisReplayGuardBuilder {
            url: SecretString::from(url.to_owned()),
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

    /// The Redis URL with its password replaced by `***`.
    pub fn redacted_url(&self) -> &str {
        &self.settings.url.redacted
    }

    /// The fail mode in force.
    pub fn fail_mode(&self) -> FailMode {
        self.settings.fail_mode
    }

    /// Checks that Redis answers `PING` within the command timeout, whatever the fail
    /// mode (for readiness probes). Errors: [`Error::ReplayGuard`].
    pub async fn ping(&self) -> Result<()> {
        match self.run(&redis::cmd("PING")).await {
            Ok(_) => Ok(()),
            Err(failure) => Err(self.settings.error(Op::Ping, failure)),
        }
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
        let mut conn = self.manager.clone();
        let attempt = async {
            match cmd.query_async::<Value>(&mut conn).await {
                // A refused connection never carried the command, so trying again is safe:
                // the manager has just started a new connection (Redis may be back).
                Err(e) if e.is_connection_refusal() => cmd.query_async::<Value>(&mut conn).await,
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
                    redis = %self.settings.url.redacted,
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
            .field("url", &self.guard.settings.url.redacted)
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
            Op::Ping => "Callbacks are refused until Redis answers",
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
}

impl Settings {
    fn error(&self, op: Op, failure: Failure) -> Error {
        let url = &self.url.redacted;
        let operation = op.command();
        let what = match failure {
            Failure::Timeout => format!(
                "Redis at {url} did not answer {operation} within {} ms; check that Redis is up and reachable from this app (or raise the command timeout)",
                self.command_timeout.as_millis()
            ),
            Failure::Redis(e) if is_auth_error(&e) => format!(
                "Redis at {url} refused the credentials during {operation} ({}); check the user and password in the Redis URL",
                self.url.scrub(&e.to_string())
            ),
            Failure::Redis(e) if e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() => format!(
                "Redis at {url} is unreachable during {operation} ({}); check that Redis is running and reachable from this app",
                self.url.scrub(&e.to_string())
            ),
            Failure::Redis(e) => format!(
                "Redis at {url} failed {operation} ({}); check the Redis server's state and logs",
                self.url.scrub(&e.to_string())
            ),
            Failure::Unexpected(reply) => format!(
                "Redis at {url} gave an unexpected reply to {operation} ({}); check that the URL points to a Redis server",
                self.url.scrub(&reply)
            ),
        };
        Error::ReplayGuard { message: format!("{what}. {}", op.consequence()) }
    }
}

fn is_auth_error(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed || matches!(e.code(), Some("WRONGPASS" | "NOAUTH" | "NOPERM"))
}
