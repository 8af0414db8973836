//! Shared in-memory state: one mutex per platform, the request log, faults and the clock.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderValue, StatusCode};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use serde_json::Value;

use crate::config::{FaultConfig, SandboxConfig};
use crate::store::{BoundedStore, Entry};

/// Locks a mutex, recovering from poisoning (a panicking handler must not wedge the sandbox).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) type Shared = Arc<Inner>;

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: SandboxConfig,
    pub(crate) faults: Mutex<FaultState>,
    pub(crate) alloy: Mutex<AlloyState>,
    pub(crate) novu: Mutex<NovuState>,
    pub(crate) junction: Mutex<JunctionState>,
    pub(crate) log: Mutex<RequestLog>,
    pub(crate) clock_offset: Mutex<chrono::Duration>,
    /// Set when served through [`crate::dropio::DropListener`] (mid-body drops possible).
    pub(crate) io_drop: std::sync::atomic::AtomicBool,
    /// Junction's webhook deliveries.
    pub(crate) webhooks: crate::webhooks::Emitter,
}

impl Inner {
    pub(crate) fn new(config: SandboxConfig) -> Self {
        let faults = FaultState::new(config.faults.clone());
        Inner {
            faults: Mutex::new(faults),
            alloy: Mutex::new(AlloyState::new(&config)),
            novu: Mutex::new(NovuState::new(&config)),
            junction: Mutex::new(JunctionState::new(&config)),
            log: Mutex::default(),
            clock_offset: Mutex::new(chrono::Duration::zero()),
            io_drop: std::sync::atomic::AtomicBool::new(false),
            webhooks: crate::webhooks::Emitter::new(
                config.junction_webhook.clone(),
                config.webhook_retry_schedule.clone(),
            ),
            config,
        }
    }

    /// The sandbox clock: wall clock plus the offset set by `POST /__sandbox/clock`.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + *lock(&self.clock_offset)
    }

    pub(crate) fn reset(&self) {
        *lock(&self.alloy) = AlloyState::new(&self.config);
        *lock(&self.novu) = NovuState::new(&self.config);
        *lock(&self.junction) = JunctionState::new(&self.config);
        lock(&self.log).entries.clear();
        *lock(&self.clock_offset) = chrono::Duration::zero();
        let cfg = lock(&self.faults).config.clone();
        *lock(&self.faults) = FaultState::new(cfg);
    }

    pub(crate) fn snapshot(&self) -> Value {
        serde_json::json!({
            "alloy": &*lock(&self.alloy),
            "novu": &*lock(&self.novu),
            "junction": &*lock(&self.junction),
        })
    }
}

/// Fault configuration plus its RNG.
#[derive(Debug)]
pub(crate) struct FaultState {
    pub(crate) config: FaultConfig,
    pub(crate) rng: StdRng,
}

/// A fault picked for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultKind {
    TooMany,
    Internal,
    Unavailable,
    Truncated,
    Malformed,
    Drop,
    /// A queued `fail_next` status.
    Status(u16),
}

impl FaultKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            FaultKind::TooMany => "429",
            FaultKind::Internal => "500",
            FaultKind::Unavailable => "503",
            FaultKind::Truncated => "truncated",
            FaultKind::Malformed => "malformed",
            FaultKind::Drop => "drop",
            FaultKind::Status(_) => "status",
        }
    }
}

impl FaultState {
    pub(crate) fn new(config: FaultConfig) -> Self {
        let rng = StdRng::seed_from_u64(config.seed);
        FaultState { config, rng }
    }

    /// Decides the fault and latency (ms) for a request under `prefix`.
    pub(crate) fn decide(&mut self, prefix: &str) -> (Option<FaultKind>, u64) {
        let c = &self.config;
        if c.draws_nothing() || !c.in_scope(prefix) {
            return (None, 0);
        }
        if !self.config.fail_next.is_empty() {
            return (Some(FaultKind::Status(self.config.fail_next.remove(0))), 0);
        }
        let c = &self.config;
        let r: f64 = self.rng.random();
        let table = [
            (c.rate_429, FaultKind::TooMany),
            (c.rate_500, FaultKind::Internal),
            (c.rate_503, FaultKind::Unavailable),
            (c.rate_truncated, FaultKind::Truncated),
            (c.rate_malformed, FaultKind::Malformed),
            (c.rate_drop, FaultKind::Drop),
        ];
        let mut acc = 0.0;
        let mut kind = None;
        for (rate, k) in table {
            acc += rate;
            if rate > 0.0 && r < acc {
                kind = Some(k);
                break;
            }
        }
        let mut latency = 0;
        if c.latency_ms > 0 {
            let r2: f64 = self.rng.random();
            if r2 < c.latency_rate {
                latency = c.latency_ms;
            }
        }
        (kind, latency)
    }
}

/// The request log.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    pub(crate) entries: VecDeque<LogEntry>,
    pub(crate) next_seq: u64,
}

/// One logged platform request, kept as received: it is rendered as JSON (secrets masked,
/// query decoded, body parsed) only when the log is read, so logging costs the request
/// path almost nothing.
#[derive(Debug)]
pub(crate) struct LogEntry {
    pub(crate) seq: u64,
    pub(crate) time: DateTime<Utc>,
    pub(crate) platform: &'static str,
    pub(crate) method: http::Method,
    pub(crate) uri: http::Uri,
    pub(crate) headers: http::HeaderMap,
    /// The body, unless longer than the log shows (then empty, with `body_len` kept).
    pub(crate) body: axum::body::Bytes,
    pub(crate) body_len: usize,
    pub(crate) status: u16,
    pub(crate) fault: Option<&'static str>,
    pub(crate) latency_ms: u64,
}

/// Largest request body the log shows (bigger bodies are still served).
pub(crate) const MAX_LOGGED_BODY: usize = 1 << 20;

/// A header value as the log shows it: credentials masked.
fn mask_header(name: &str, value: &str) -> String {
    match name {
        "authorization" | "proxy-authorization" => match value.trim().split_once(' ') {
            Some((scheme, _)) => format!("{scheme} ***"),
            None => "***".into(),
        },
        "x-vital-api-key" | "x-vital-link-token" | "cookie" | "x-api-key" => "***".into(),
        _ => value.into(),
    }
}

impl LogEntry {
    /// `{seq, time, platform, method, path, query, headers, body, status, fault, latency_ms}`.
    pub(crate) fn to_json(&self) -> Value {
        let mut headers = serde_json::Map::new();
        for (name, value) in &self.headers {
            let v = value.to_str().unwrap_or("<binary>");
            headers.insert(name.as_str().to_string(), Value::String(mask_header(name.as_str(), v)));
        }
        let mut query = serde_json::Map::new();
        for (k, v) in query_pairs(&self.uri) {
            query.insert(k, Value::String(v));
        }
        let body = if self.body_len == 0 {
            Value::Null
        } else if self.body_len > MAX_LOGGED_BODY {
            Value::String(format!("<{} bytes>", self.body_len))
        } else {
            match serde_json::from_slice::<Value>(&self.body) {
                Ok(v) => v,
                Err(_) => Value::String(String::from_utf8_lossy(&self.body).into_owned()),
            }
        };
        serde_json::json!({
            "seq": self.seq,
            "time": fmt_time(self.time),
            "platform": self.platform,
            "method": self.method.as_str(),
            "path": self.uri.path(),
            "query": query,
            "headers": headers,
            "body": body,
            "status": self.status,
            "fault": self.fault,
            "latency_ms": self.latency_ms,
        })
    }
}

// ---------------------------------------------------------------- Alloy

/// An Alloy user.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlloyUser {
    pub(crate) user_id: String,
    pub(crate) username: String,
    pub(crate) full_name: Option<String>,
    pub(crate) created_at: String,
}

/// An Alloy credential (headless app credential or connector credential).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlloyCredential {
    pub(crate) credential_id: String,
    pub(crate) user_id: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) name: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    /// `"headless"` or `"connector"`.
    pub(crate) origin: String,
    pub(crate) app: String,
    pub(crate) connector_id: Option<String>,
    pub(crate) connection_id: Option<String>,
}

impl AlloyCredential {
    pub(crate) fn public_json(&self) -> Value {
        serde_json::json!({
            "credentialId": self.credential_id,
            "type": self.kind,
            "name": self.name,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }
}

/// What an Alloy link authorizes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum AlloyLinkKind {
    Headless {
        /// The catalogue's app name.
        app: &'static str,
        #[serde(rename = "userId")]
        user_id: String,
        properties: BTreeMap<String, String>,
    },
    Connector {
        #[serde(rename = "connectorId")]
        connector_id: String,
        #[serde(rename = "userId")]
        user_id: String,
        #[serde(rename = "redirectUri")]
        redirect_uri: String,
        #[serde(rename = "authConfigId")]
        auth_config_id: Option<String>,
    },
}

/// A consent link (its id is its key in the [`BoundedStore`] holding it).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Link<K> {
    #[serde(flatten)]
    pub(crate) kind: K,
    pub(crate) created_at: DateTime<Utc>,
    pub(crate) expires_at: DateTime<Utc>,
    /// `None` while pending.
    pub(crate) outcome: Option<LinkOutcome>,
}

/// How a consent link was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum LinkOutcome {
    Approved,
    Denied,
}

impl LinkOutcome {
    pub(crate) fn new(approve: bool) -> Self {
        if approve {
            LinkOutcome::Approved
        } else {
            LinkOutcome::Denied
        }
    }
}

impl std::fmt::Display for LinkOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinkOutcome::Approved => "approved",
            LinkOutcome::Denied => "denied",
        })
    }
}

impl<K> Entry for Link<K> {
    fn expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// An authorization code handed to a connector `redirectUri` (the code is its key in
/// [`AlloyState::codes`]).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlloyCode {
    pub(crate) state: String,
    pub(crate) connector_id: String,
    pub(crate) credential_id: String,
    pub(crate) connection_id: String,
    pub(crate) used: bool,
}

impl Entry for AlloyCode {
    const ID_FIELD: &'static str = "code";

    /// A used code is spent (it answers as an unknown one), so it goes first.
    fn expired(&self, _now: DateTime<Utc>) -> bool {
        self.used
    }
}

/// An Alloy installation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AlloyInstallation {
    pub(crate) installation_id: String,
    pub(crate) integration_id: String,
    pub(crate) user_id: String,
    pub(crate) credential_ids: BTreeMap<String, String>,
    pub(crate) workflow_ids: Vec<String>,
    pub(crate) form_data: Value,
    pub(crate) installed_at: Option<String>,
    pub(crate) enabled: bool,
}

/// Alloy (both APIs) state.
#[derive(Debug, Serialize)]
pub(crate) struct AlloyState {
    pub(crate) users: Vec<AlloyUser>,
    pub(crate) credentials: Vec<AlloyCredential>,
    pub(crate) installations: Vec<AlloyInstallation>,
    /// Headless and connector links, at most [`SandboxConfig::link_capacity`].
    pub(crate) links: BoundedStore<Link<AlloyLinkKind>>,
    /// Authorization codes, at most [`SandboxConfig::link_capacity`].
    pub(crate) codes: BoundedStore<AlloyCode>,
}

impl AlloyState {
    pub(crate) fn new(config: &SandboxConfig) -> Self {
        AlloyState {
            users: Vec::new(),
            credentials: Vec::new(),
            installations: Vec::new(),
            links: BoundedStore::new(config.link_capacity),
            codes: BoundedStore::new(config.link_capacity),
        }
    }

    /// Finds a user by `userId` or `username`.
    pub(crate) fn user(&self, id_or_name: &str) -> Option<&AlloyUser> {
        self.users
            .iter()
            .find(|u| u.user_id == id_or_name)
            .or_else(|| self.users.iter().find(|u| u.username == id_or_name))
    }
}

// ---------------------------------------------------------------- Novu

/// A Novu channel endpoint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NovuEndpoint {
    #[serde(skip)]
    pub(crate) seq: u64,
    pub(crate) identifier: String,
    pub(crate) channel: String,
    pub(crate) provider_id: String,
    pub(crate) integration_identifier: String,
    pub(crate) connection_identifier: Option<String>,
    pub(crate) subscriber_id: Option<String>,
    pub(crate) context_keys: Vec<String>,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) endpoint: Value,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

/// A Novu channel connection.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NovuConnection {
    #[serde(skip)]
    pub(crate) seq: u64,
    pub(crate) identifier: String,
    pub(crate) channel: String,
    pub(crate) provider_id: String,
    pub(crate) integration_identifier: String,
    pub(crate) subscriber_id: Option<String>,
    pub(crate) context_keys: Vec<String>,
    pub(crate) workspace: Value,
    pub(crate) auth: Value,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

/// What a Novu OAuth URL does on approval.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NovuLinkKind {
    pub(crate) mode: NovuLinkMode,
    /// The catalogue's integration identifier.
    pub(crate) integration_identifier: &'static str,
    pub(crate) subscriber_id: Option<String>,
    pub(crate) connection_identifier: Option<String>,
    pub(crate) context_keys: Vec<String>,
    pub(crate) connection_mode: NovuConnectionMode,
    pub(crate) auto_link_user: bool,
}

/// Which Novu OAuth endpoint issued a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NovuLinkMode {
    /// `POST /v1/integrations/channel-endpoints/oauth`.
    LinkUser,
    /// `POST /v1/integrations/channel-connections/oauth`.
    Connect,
}

impl NovuLinkMode {
    /// The mode as `GET /__sandbox/state` shows it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            NovuLinkMode::LinkUser => "link_user",
            NovuLinkMode::Connect => "connect",
        }
    }
}

/// Novu's `connectionMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NovuConnectionMode {
    Subscriber,
    Shared,
}

/// A stored idempotent response (its key is its id in [`NovuState::idempotency`]): a
/// success, or a 4xx error (Novu caches and replays those too).
#[derive(Debug, Clone)]
pub(crate) struct Idempotent {
    /// The route the key was first used on.
    pub(crate) route: &'static str,
    /// The request body as sent, without insignificant whitespace (key order kept, as
    /// Novu hashes `JSON.stringify(body)`).
    pub(crate) body: Box<str>,
    pub(crate) status: u16,
    /// The response body, serialized as first sent.
    pub(crate) response: Box<[u8]>,
    pub(crate) created_at: DateTime<Utc>,
}

/// How long Novu remembers an idempotency key.
pub(crate) const IDEMPOTENCY_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

impl Entry for Idempotent {
    fn expired(&self, now: DateTime<Utc>) -> bool {
        now - self.created_at >= IDEMPOTENCY_WINDOW
    }
}

impl Idempotent {
    /// Whether `body` (see [`minify_json`]) is the body this key was first used with.
    pub(crate) fn same_body(&self, body: &str) -> bool {
        *self.body == *body
    }
}

/// A JSON text without insignificant whitespace, everything else (key order, number
/// spelling) as sent; an empty body is `{}`.
pub(crate) fn minify_json(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if !c.is_whitespace() {
            if c == '"' {
                in_string = true;
            }
            out.push(c);
        }
    }
    if out.is_empty() {
        out.push_str("{}");
    }
    out
}

/// A Novu subscriber.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct NovuSubscriber {
    /// Internal `_id`.
    pub(crate) id: String,
    pub(crate) subscriber_id: String,
    /// `firstName`, `lastName`, `email`, `phone`, `avatar`, `locale`, `timezone`, `data` as set.
    pub(crate) fields: serde_json::Map<String, Value>,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
}

/// Marks a response whose handler already spent [`crate::FaultConfig::processing_ms`], so
/// the middleware does not add it again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcessingDone;

fn values_of<S: serde::Serializer>(m: &BTreeMap<String, NovuSubscriber>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(m.values())
}

/// Novu state.
#[derive(Debug, Serialize)]
pub(crate) struct NovuState {
    /// Subscribers by `subscriberId` (shown as an array).
    #[serde(serialize_with = "values_of")]
    pub(crate) subscribers: BTreeMap<String, NovuSubscriber>,
    /// Identifiers of the integrations protected with context HMAC.
    pub(crate) hmac_integrations: BTreeSet<String>,
    pub(crate) endpoints: Vec<NovuEndpoint>,
    pub(crate) connections: Vec<NovuConnection>,
    /// OAuth URLs issued, at most [`SandboxConfig::link_capacity`].
    pub(crate) links: BoundedStore<Link<NovuLinkKind>>,
    /// Idempotency keys, at most [`SandboxConfig::idempotency_capacity`].
    #[serde(skip)]
    pub(crate) idempotency: BoundedStore<Idempotent>,
    /// Idempotency keys whose first request is still being processed.
    #[serde(skip)]
    pub(crate) in_progress: HashSet<String>,
    #[serde(skip)]
    pub(crate) next_seq: u64,
}

impl NovuState {
    pub(crate) fn new(config: &SandboxConfig) -> Self {
        NovuState {
            subscribers: BTreeMap::new(),
            hmac_integrations: config.novu_hmac_integrations.clone(),
            endpoints: Vec::new(),
            connections: Vec::new(),
            links: BoundedStore::new(config.link_capacity),
            idempotency: BoundedStore::new(config.idempotency_capacity),
            in_progress: HashSet::new(),
            next_seq: 0,
        }
    }
}

// ---------------------------------------------------------------- Junction

/// A Junction user.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JunctionUser {
    pub(crate) user_id: String,
    pub(crate) client_user_id: String,
    pub(crate) created_on: String,
    pub(crate) extra: serde_json::Map<String, Value>,
}

/// A connected provider.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JunctionConnection {
    pub(crate) user_id: String,
    pub(crate) provider: String,
    /// When first connected; a re-link keeps it (Junction exposes no updated time).
    pub(crate) created_on: String,
    /// `connected` or `error`.
    pub(crate) status: String,
    pub(crate) external_user_id: Option<String>,
    /// `{error_type, error_message, errored_at}` while `status` is `error`.
    pub(crate) error_details: Option<Value>,
    /// Listed only from then on (a new connection with
    /// [`SandboxConfig::junction_connection_delay`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) visible_from: Option<DateTime<Utc>>,
}

/// A Junction link token (provider slugs are the catalogue's).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct JunctionToken {
    pub(crate) user_id: String,
    pub(crate) provider: Option<&'static str>,
    pub(crate) redirect_url: Option<String>,
    pub(crate) filter_on_providers: Option<Vec<&'static str>>,
    /// `on_close: "redirect"`: the widget's Close sends the browser back with `user_cancelled`.
    pub(crate) on_close: bool,
    /// `on_error: "redirect"`: password/email form errors send the browser back.
    pub(crate) on_error: bool,
}

/// Junction state.
#[derive(Debug, Serialize)]
pub(crate) struct JunctionState {
    pub(crate) users: Vec<JunctionUser>,
    pub(crate) connections: Vec<JunctionConnection>,
    /// Link tokens issued, at most [`SandboxConfig::link_capacity`]; every link call looks
    /// one up by token.
    pub(crate) link_tokens: BoundedStore<Link<JunctionToken>>,
}

impl JunctionState {
    pub(crate) fn new(config: &SandboxConfig) -> Self {
        JunctionState {
            users: Vec::new(),
            connections: Vec::new(),
            link_tokens: BoundedStore::new(config.link_capacity),
        }
    }
}

// ---------------------------------------------------------------- helpers

/// ISO-8601 UTC timestamp with milliseconds, as the platforms send.
pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A 24-hex-digit id shaped like a MongoDB ObjectId (Alloy, Novu).
pub(crate) fn object_id() -> String {
    let mut rng = rand::rng();
    let secs = Utc::now().timestamp() as u32;
    let tail: u64 = rng.random();
    format!("{secs:08x}{:016x}", tail)
}

/// A random alphanumeric token.
pub(crate) fn token(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char).collect()
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    resp
}

/// A JSON response from already serialized bytes (same headers as [`json_response`]).
pub(crate) fn json_bytes_response(status: StatusCode, bytes: axum::body::Bytes) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    resp
}

/// An HTML response.
pub(crate) fn html_response(status: StatusCode, html: String) -> Response {
    (status, [(http::header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

/// Query pairs of a URI, in order.
pub(crate) fn query_pairs(uri: &http::Uri) -> Vec<(String, String)> {
    uri.query().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

/// First value of a query parameter.
pub(crate) fn query_get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Parses a JSON request body. An empty body is `{}`. `Err` when the body is not JSON.
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// A non-empty string field of a JSON object.
pub(crate) fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty())
}

/// Appends query parameters to a URL, keeping its existing query.
pub(crate) fn append_query(base: &str, pairs: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in pairs {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => {
            let extra: String =
                url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs.iter()).finish();
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}{extra}")
        }
    }
}

/// Absolute root URL of the sandbox for this request (see [`crate::SandboxConfig::public_url`]).
#[derive(Debug, Clone)]
pub(crate) struct RootUrl(pub(crate) String);

/// HTML-escapes text.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Helpers for the handler tests of each platform module.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Fresh sandbox state with `config`.
    pub(crate) fn shared(config: SandboxConfig) -> Shared {
        Arc::new(Inner::new(config))
    }

    /// The root URL handlers see (set by the `root_url` middleware in a server).
    pub(crate) fn root() -> RootUrl {
        RootUrl("http://sandbox.test".into())
    }

    /// A header map from pairs.
    pub(crate) fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("header value"));
        }
        h
    }

    /// Status, `Location` and body of a response: what a browser or client sees.
    pub(crate) async fn read(r: Response) -> (u16, Option<String>, String) {
        let status = r.status().as_u16();
        let location = r.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        let body = axum::body::to_bytes(r.into_body(), usize::MAX).await.expect("body");
        (status, location, String::from_utf8_lossy(&body).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_decisions_repeat_for_a_seed() {
        let cfg = FaultConfig {
            seed: 42,
            rate_429: 0.3,
            rate_drop: 0.2,
            latency_ms: 5,
            latency_rate: 0.5,
            ..Default::default()
        };
        let run = |c: &FaultConfig| {
            let mut f = FaultState::new(c.clone());
            (0..50).map(|_| f.decide("novu")).collect::<Vec<_>>()
        };
        let a = run(&cfg);
        assert_eq!(a, run(&cfg));
        assert!(a.iter().any(|(k, _)| *k == Some(FaultKind::TooMany)));
        assert!(a.iter().any(|(k, _)| *k == Some(FaultKind::Drop)));
        assert!(a.iter().any(|(k, _)| k.is_none()));
        assert!(a.iter().any(|(_, l)| *l == 5) && a.iter().any(|(_, l)| *l == 0));
        assert_ne!(a, run(&FaultConfig { seed: 43, ..cfg.clone() }));
    }

    #[test]
    fn faults_respect_scope_and_off() {
        let mut off = FaultState::new(FaultConfig::default());
        assert_eq!(off.decide("alloy"), (None, 0));
        let mut scoped =
            FaultState::new(FaultConfig { rate_500: 1.0, platforms: vec!["junction".into()], ..Default::default() });
        assert_eq!(scoped.decide("alloy"), (None, 0));
        assert_eq!(scoped.decide("junction"), (Some(FaultKind::Internal), 0));
    }

    #[test]
    fn append_query_keeps_existing_parameters() {
        assert_eq!(
            append_query("https://a.example/cb?x=1", &[("state", "success")]),
            "https://a.example/cb?x=1&state=success"
        );
        assert_eq!(append_query("https://a.example/cb", &[("error", "a b")]), "https://a.example/cb?error=a+b");
    }

    #[test]
    fn minified_bodies_keep_key_order_and_string_contents() {
        assert_eq!(minify_json(b" { \"b\" : 1,\n \"a\": \"x y \\\" z\" } "), r#"{"b":1,"a":"x y \" z"}"#);
        assert_ne!(minify_json(br#"{"a":1,"b":2}"#), minify_json(br#"{"b":2,"a":1}"#));
        assert_eq!(minify_json(b"  "), "{}");
    }

    #[test]
    fn object_ids_look_like_mongo_ids() {
        let id = object_id();
        assert_eq!(id.len(), 24);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(id, object_id());
    }
}
