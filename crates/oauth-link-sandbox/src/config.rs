//! Sandbox configuration: keys, link lifetimes, return URLs, response-shape switches and faults.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One of the emulated platform APIs.
///
/// Alloy's two APIs (Embedded headless mode and the Connectivity API) share the `/alloy`
/// prefix and one API key, but are separate platforms for the adapters, so they are
/// listed separately here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// Alloy Embedded, headless mode (`/headless/oauthUrl`, `/users/{id}/credentials`, ...).
    AlloyHeadless,
    /// Alloy Connectivity API (`/connectors/{id}/credentials`, ...).
    AlloyConnectors,
    /// Novu chat channel endpoints and connections.
    Novu,
    /// Junction (formerly Vital) Link.
    Junction,
}

impl Platform {
    /// Every platform, in `settings()` order.
    pub const ALL: [Platform; 4] =
        [Platform::Novu, Platform::AlloyHeadless, Platform::AlloyConnectors, Platform::Junction];

    /// The URL path prefix (without slashes) under which the sandbox serves this platform.
    pub fn prefix(self) -> &'static str {
        match self {
            Platform::AlloyHeadless | Platform::AlloyConnectors => "alloy",
            Platform::Novu => "novu",
            Platform::Junction => "junction",
        }
    }

    /// The key of this platform in [`crate::RunningSandbox::settings`] (`"alloy-headless"`, ...).
    pub fn settings_key(self) -> &'static str {
        match self {
            Platform::AlloyHeadless => "alloy-headless",
            Platform::AlloyConnectors => "alloy-connectors",
            Platform::Novu => "novu",
            Platform::Junction => "junction",
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.settings_key())
    }
}

/// Which response shape `GET /alloy/headless/oauthUrl` answers with (the sources disagree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlloyOauthUrlShape {
    /// `{"oauthUrl": "..."}` as in the 2025-09 OpenAPI schema (default).
    #[default]
    Flat,
    /// `{"data": {"oauthUrl": "..."}}` as in the headless guide and the Node SDK typedef.
    Wrapped,
}

/// Which of the two documented "list a user's credentials" paths the Alloy emulation serves.
/// The one not served answers 404 `{message}`, so an adapter's fallback can be tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlloyCredentialPaths {
    /// Both `GET /users/{userId}/credentials` and `GET /credentials/users/{userId}` (default).
    #[default]
    Both,
    /// Only the guide/SDK path `GET /users/{userId}/credentials`.
    UsersFirstOnly,
    /// Only the 2025-09 reference path `GET /credentials/users/{userId}`; the old
    /// `/users/{userId}/credentials` answers 404.
    CredentialsFirstOnly,
}

/// Fault injection settings. Serialized form is the JSON accepted by `POST /__sandbox/faults`.
///
/// For every request to a platform API (never `/__sandbox/*` or consent pages) that is in
/// scope, the sandbox draws one number from a `StdRng` seeded with [`FaultConfig::seed`] and
/// picks at most one fault by cumulative rate, in this order: 429, 500, 503, truncated,
/// malformed, drop. When `latency_ms > 0` a second number decides whether latency is added.
/// The same seed and the same request sequence give the same faults. Setting the faults
/// (or `POST /__sandbox/reset`) restarts the sequence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Seed of the fault RNG.
    pub seed: u64,
    /// Share of requests answered 429 with `Retry-After` (before the handler runs).
    pub rate_429: f64,
    /// Value of `Retry-After` (seconds) on 429 and 503.
    pub retry_after_secs: u64,
    /// Share of requests answered 500 (before the handler runs).
    pub rate_500: f64,
    /// Share of requests answered 503 with `Retry-After` (before the handler runs).
    pub rate_503: f64,
    /// Latency added to a request, in milliseconds.
    pub latency_ms: u64,
    /// Share of requests that get `latency_ms` (default 1.0: all of them).
    pub latency_rate: f64,
    /// Share of responses whose JSON body is cut in half (the handler did run).
    pub rate_truncated: f64,
    /// Share of responses whose body is replaced by invalid JSON (the handler did run).
    pub rate_malformed: f64,
    /// Share of responses whose connection breaks mid-body (the handler did run).
    pub rate_drop: f64,
    /// Restrict faults to these prefixes (`"alloy"`, `"novu"`, `"junction"`); empty = all.
    pub platforms: Vec<String>,
    /// Statuses (4xx/5xx) answered, in order, to the next platform API calls in scope, in the
    /// platform's error shape, before any rate applies: `[401]` makes the next call fail as
    /// with a bad key. Each is used once.
    pub fail_next: Vec<u16>,
    /// Milliseconds every platform API call in scope spends *inside* the platform, after the
    /// platform accepted it (auth passed; on Novu, after its `idempotency-key` was marked in
    /// progress) and before its result is stored and sent. Unlike `latency_ms` (a delay
    /// before the platform sees the request), a second Novu request with the same
    /// `idempotency-key` arriving meanwhile gets Novu's `409` with `Retry-After: 1`.
    pub processing_ms: u64,
    /// The next N `DELETE /alloy/users/{userId}/credentials/{credentialId}` calls answer
    /// `200 {"success": false}` and delete nothing (one used per call; `platforms` does not
    /// apply). The 2025-09 reference types `success` as a boolean but documents no case in
    /// which it is `false`; this lets a test see what a client does with one.
    pub alloy_delete_success_false: u32,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            seed: 0,
            rate_429: 0.0,
            retry_after_secs: 1,
            rate_500: 0.0,
            rate_503: 0.0,
            latency_ms: 0,
            latency_rate: 1.0,
            rate_truncated: 0.0,
            rate_malformed: 0.0,
            rate_drop: 0.0,
            platforms: Vec::new(),
            fail_next: Vec::new(),
            processing_ms: 0,
            alloy_delete_success_false: 0,
        }
    }
}

impl FaultConfig {
    /// True when nothing can be injected: no fault, no latency, no processing time and no
    /// queued `{success: false}`.
    pub fn is_off(&self) -> bool {
        self.draws_nothing() && self.processing_ms == 0 && self.alloy_delete_success_false == 0
    }

    /// True when no request can get a fault or latency from the RNG or `fail_next`.
    pub(crate) fn draws_nothing(&self) -> bool {
        self.latency_ms == 0 && self.error_rate_sum() == 0.0 && self.fail_next.is_empty()
    }

    /// Whether requests under `prefix` (`alloy`, `novu`, `junction`) are in scope.
    pub(crate) fn in_scope(&self, prefix: &str) -> bool {
        self.platforms.is_empty() || self.platforms.iter().any(|p| p == prefix)
    }

    /// [`FaultConfig::processing_ms`] for a request under `prefix` (0 out of scope).
    pub(crate) fn processing_for(&self, prefix: &str) -> u64 {
        if self.in_scope(prefix) {
            self.processing_ms
        } else {
            0
        }
    }

    pub(crate) fn error_rate_sum(&self) -> f64 {
        self.rate_429 + self.rate_500 + self.rate_503 + self.rate_truncated + self.rate_malformed + self.rate_drop
    }

    /// Checks that every rate is within `[0, 1]`, that the fault rates add up to at most 1
    /// and that scoped platforms are known prefixes.
    pub fn validate(&self) -> Result<(), String> {
        let rates = [
            ("rate_429", self.rate_429),
            ("rate_500", self.rate_500),
            ("rate_503", self.rate_503),
            ("rate_truncated", self.rate_truncated),
            ("rate_malformed", self.rate_malformed),
            ("rate_drop", self.rate_drop),
            ("latency_rate", self.latency_rate),
        ];
        for (name, r) in rates {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if self.error_rate_sum() > 1.0 + 1e-9 {
            return Err("the fault rates add up to more than 1".into());
        }
        if let Some(bad) = self.fail_next.iter().find(|s| !(400..=599).contains(*s)) {
            return Err(format!("fail_next holds {bad}; use HTTP error statuses (400-599)"));
        }
        for p in &self.platforms {
            if !["alloy", "novu", "junction"].contains(&p.as_str()) {
                return Err(format!("unknown platform prefix {p:?} (use alloy, novu or junction)"));
            }
        }
        Ok(())
    }
}

/// Configuration of a sandbox. `Default` gives fixed API keys, the documented link
/// lifetimes, no return URLs, the flat Alloy `oauthUrl` shape, both credential paths and
/// faults off. Chain the setters to change it.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxConfig {
    pub(crate) port: u16,
    pub(crate) public_url: Option<String>,
    pub(crate) alloy_api_key: String,
    pub(crate) novu_api_key: String,
    pub(crate) junction_api_key: String,
    pub(crate) alloy_oauth_url_shape: AlloyOauthUrlShape,
    pub(crate) alloy_credential_paths: AlloyCredentialPaths,
    pub(crate) alloy_return_url: Option<String>,
    pub(crate) alloy_link_lifetime: Duration,
    pub(crate) novu_link_lifetime: Duration,
    pub(crate) junction_link_lifetime: Duration,
    pub(crate) novu_redirect_urls: BTreeMap<String, String>,
    pub(crate) novu_data_envelope: bool,
    pub(crate) novu_hmac_integrations: BTreeSet<String>,
    pub(crate) alloy_duplicate_username_status: u16,
    pub(crate) faults: FaultConfig,
    pub(crate) request_log_capacity: usize,
    pub(crate) link_capacity: usize,
    pub(crate) idempotency_capacity: usize,
    pub(crate) junction_webhook: Option<crate::webhooks::WebhookTarget>,
    pub(crate) webhook_retry_schedule: Vec<Duration>,
    pub(crate) junction_connection_delay: Duration,
}

/// Default Alloy API key (serves both Alloy APIs).
pub const DEFAULT_ALLOY_API_KEY: &str = "sandbox_alloy_key";
/// Default Novu secret key.
pub const DEFAULT_NOVU_API_KEY: &str = "sandbox_novu_secret_key";
/// Default Junction team API key (sandbox keys start with `sk_us_`).
pub const DEFAULT_JUNCTION_API_KEY: &str = "sk_us_sandbox_junction_key";

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            public_url: None,
            alloy_api_key: DEFAULT_ALLOY_API_KEY.into(),
            novu_api_key: DEFAULT_NOVU_API_KEY.into(),
            junction_api_key: DEFAULT_JUNCTION_API_KEY.into(),
            alloy_oauth_url_shape: AlloyOauthUrlShape::Flat,
            alloy_credential_paths: AlloyCredentialPaths::Both,
            alloy_return_url: None,
            alloy_link_lifetime: Duration::from_secs(10 * 60),
            novu_link_lifetime: Duration::from_secs(5 * 60),
            junction_link_lifetime: Duration::from_secs(10 * 60),
            novu_redirect_urls: BTreeMap::new(),
            novu_data_envelope: true,
            novu_hmac_integrations: BTreeSet::new(),
            alloy_duplicate_username_status: 400,
            faults: FaultConfig::default(),
            request_log_capacity: 10_000,
            link_capacity: 10_000,
            idempotency_capacity: 10_000,
            junction_webhook: None,
            webhook_retry_schedule: crate::webhooks::SVIX_RETRY_SCHEDULE.to_vec(),
            junction_connection_delay: Duration::ZERO,
        }
    }
}

impl SandboxConfig {
    /// Same as `SandboxConfig::default()`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Port to bind on 127.0.0.1 (0, the default, picks an ephemeral port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Absolute root URL the sandbox is reachable at (used to build link URLs). When unset,
    /// [`crate::Sandbox::start`] uses `http://127.0.0.1:PORT`, and an embedded router uses the
    /// request's `Host` header plus the path it is mounted under.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into().trim_end_matches('/').to_string());
        self
    }

    /// API key accepted by both Alloy APIs (`Authorization: bearer <key>`).
    pub fn alloy_api_key(mut self, key: impl Into<String>) -> Self {
        self.alloy_api_key = key.into();
        self
    }

    /// Secret key accepted by Novu (`Authorization: ApiKey <key>`).
    pub fn novu_api_key(mut self, key: impl Into<String>) -> Self {
        self.novu_api_key = key.into();
        self
    }

    /// Team API key accepted by Junction (`x-vital-api-key: <key>`).
    pub fn junction_api_key(mut self, key: impl Into<String>) -> Self {
        self.junction_api_key = key.into();
        self
    }

    /// Shape of the `GET /headless/oauthUrl` response.
    pub fn alloy_oauth_url_shape(mut self, shape: AlloyOauthUrlShape) -> Self {
        self.alloy_oauth_url_shape = shape;
        self
    }

    /// Which credential-list paths Alloy serves.
    pub fn alloy_credential_paths(mut self, paths: AlloyCredentialPaths) -> Self {
        self.alloy_credential_paths = paths;
        self
    }

    /// Where the Alloy headless consent page sends the browser after Approve (no query) or
    /// Deny (`?error=access_denied`). Unset: a "you may close this tab" page.
    pub fn alloy_return_url(mut self, url: impl Into<String>) -> Self {
        self.alloy_return_url = Some(url.into());
        self
    }

    /// Lifetime of Alloy links (headless and connectors); default 10 minutes (undocumented).
    pub fn alloy_link_lifetime(mut self, d: Duration) -> Self {
        self.alloy_link_lifetime = d;
        self
    }

    /// Lifetime of Novu OAuth URLs; default 5 minutes as documented.
    pub fn novu_link_lifetime(mut self, d: Duration) -> Self {
        self.novu_link_lifetime = d;
        self
    }

    /// Lifetime of Junction link tokens; default 10 minutes as in the API description.
    pub fn junction_link_lifetime(mut self, d: Duration) -> Self {
        self.junction_link_lifetime = d;
        self
    }

    /// Sets the `credentials.redirectUrl` of a Novu integration (`slack`, `msteams`): after
    /// Approve the browser gets a 303 to exactly this URL. Unset: a "you may close this tab" page.
    pub fn novu_redirect_url(mut self, integration_identifier: impl Into<String>, url: impl Into<String>) -> Self {
        self.novu_redirect_urls.insert(integration_identifier.into(), url.into());
        self
    }

    /// Wrap Novu's non-paginated success bodies as `{"data": ...}` (e.g. `201 {"data": {"url"}}`,
    /// `GET /v1/channel-endpoints/{id}` → `{"data": {...}}`), as Novu's API server does (its
    /// global `ResponseInterceptor`; the official SDK unwraps single-key `data` bodies). On by
    /// default, since that is the real wire shape; `false` serves the bare DTOs of the OpenAPI
    /// (`{"url": ...}`). Paginated lists are the same either way.
    pub fn novu_data_envelope(mut self, wrap: bool) -> Self {
        self.novu_data_envelope = wrap;
        self
    }

    /// Protects a Novu integration (`slack`, `msteams`) with context HMAC, as its
    /// `credentials.hmac: true` does: OAuth-URL requests for it then need a `context` and a
    /// `contextHash` = lower-case hex HMAC-SHA256(key = the Novu API key, message = OLPC
    /// canonical JSON of `context`), else 400. Off by default; can also be changed at run
    /// time ([`crate::Sandbox::set_novu_integration_hmac`], `POST /__sandbox/novu/integrations/{identifier}`).
    pub fn novu_integration_hmac(mut self, integration_identifier: impl Into<String>, enabled: bool) -> Self {
        let id = integration_identifier.into();
        if enabled {
            self.novu_hmac_integrations.insert(id);
        } else {
            self.novu_hmac_integrations.remove(&id);
        }
        self
    }

    /// Status of Alloy's answer to `POST /users` with a username that already exists
    /// (default 400, in Alloy's `{"message"}` shape). The docs only say usernames are unique
    /// (UNCONFIRMED which status the platform uses); values outside 400..=499 mean 400.
    pub fn alloy_duplicate_username_status(mut self, status: u16) -> Self {
        self.alloy_duplicate_username_status = if (400..=499).contains(&status) { status } else { 400 };
        self
    }

    /// Initial fault injection setting (off by default).
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }

    /// How many requests the request log keeps (oldest dropped first); default 10 000.
    pub fn request_log_capacity(mut self, n: usize) -> Self {
        self.request_log_capacity = n;
        self
    }

    /// How many links each platform keeps (Alloy links and authorization codes, Novu OAuth
    /// URLs, Junction link tokens); default 10 000, at least 1. When a new link finds its
    /// platform full, the expired (or used-up) links at the head of the queue are dropped
    /// first, then the oldest ones. A dropped link answers exactly as one never issued (the
    /// consent page's 404; Junction's `invalid_token`; Alloy's `Invalid authorization code`).
    /// This bounds the sandbox's memory however many links
    /// a test or benchmark creates. Connected records (credentials, endpoints, connections,
    /// users) are never dropped.
    pub fn link_capacity(mut self, n: usize) -> Self {
        self.link_capacity = n.max(1);
        self
    }

    /// How many Novu `idempotency-key`s are remembered within their 24 h window; default
    /// 10 000, at least 1. Beyond it the expired keys, then the oldest ones, are forgotten
    /// first, and a forgotten key is treated as a new one (no replay).
    pub fn idempotency_capacity(mut self, n: usize) -> Self {
        self.idempotency_capacity = n.max(1);
        self
    }

    /// Delivers Junction's connection events to `target`, Svix-signed (see
    /// [`WebhookTarget::new`](crate::WebhookTarget::new) and the crate docs' Webhooks
    /// section). Default: none sent.
    pub fn junction_webhook(mut self, target: crate::webhooks::WebhookTarget) -> Self {
        self.junction_webhook = Some(target);
        self
    }

    /// The pauses before each delivery attempt (the first usually zero): a delivery answered
    /// anything but 2xx is tried again after the next one. Default
    /// [`SVIX_RETRY_SCHEDULE`](crate::SVIX_RETRY_SCHEDULE) (8 attempts over about 27.6 hours).
    pub fn webhook_retry_schedule(mut self, schedule: Vec<Duration>) -> Self {
        self.webhook_retry_schedule = schedule;
        self
    }

    /// How long after an approval a **new** Junction connection takes to appear in
    /// `GET /v2/user/providers/{user_id}` (and its `provider.connection.created` to be
    /// sent); default zero. Models a platform that finishes the connection after the
    /// browser came back, which is when an app polls, or waits for the event.
    pub fn junction_connection_delay(mut self, delay: Duration) -> Self {
        self.junction_connection_delay = delay;
        self
    }

    /// The API key the sandbox accepts for `platform`.
    pub fn api_key(&self, platform: Platform) -> &str {
        match platform {
            Platform::AlloyHeadless | Platform::AlloyConnectors => &self.alloy_api_key,
            Platform::Novu => &self.novu_api_key,
            Platform::Junction => &self.junction_api_key,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_config_validation_and_json() {
        assert!(FaultConfig::default().validate().is_ok());
        assert!(FaultConfig::default().is_off());
        assert!(FaultConfig { rate_429: 0.7, rate_500: 0.7, ..Default::default() }.validate().is_err());
        assert!(FaultConfig { platforms: vec!["stripe".into()], ..Default::default() }.validate().is_err());
        let c: FaultConfig = serde_json::from_str(r#"{"seed": 3, "rate_drop": 0.5}"#).unwrap();
        assert_eq!((c.seed, c.rate_drop, c.latency_rate, c.retry_after_secs), (3, 0.5, 1.0, 1));
        assert!(serde_json::from_str::<FaultConfig>(r#"{"rate_999": 1}"#).is_err());
        assert!(!FaultConfig { processing_ms: 5, ..Default::default() }.is_off());
        assert!(FaultConfig { processing_ms: 5, ..Default::default() }.draws_nothing());
        let scoped = FaultConfig { processing_ms: 5, platforms: vec!["novu".into()], ..Default::default() };
        assert_eq!((scoped.processing_for("novu"), scoped.processing_for("alloy")), (5, 0));
    }

    #[test]
    fn defaults_match_the_documented_lifetimes() {
        let c = SandboxConfig::default();
        assert_eq!(c.novu_link_lifetime, Duration::from_secs(300));
        assert_eq!(c.junction_link_lifetime, Duration::from_secs(600));
        assert_eq!(c.api_key(Platform::AlloyConnectors), c.api_key(Platform::AlloyHeadless));
        assert_eq!(Platform::AlloyConnectors.prefix(), "alloy");
        assert_eq!(Platform::AlloyHeadless.settings_key(), "alloy-headless");
        assert_eq!(c.alloy_duplicate_username_status(409).alloy_duplicate_username_status, 409);
        assert_eq!(SandboxConfig::new().alloy_duplicate_username_status(200).alloy_duplicate_username_status, 400);
        let h = SandboxConfig::new().novu_integration_hmac("slack", true).novu_integration_hmac("msteams", false);
        assert!(h.novu_hmac_integrations.contains("slack") && h.novu_hmac_integrations.len() == 1);
    }
}
