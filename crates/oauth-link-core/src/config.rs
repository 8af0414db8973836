//! Reading an adapter's settings from env, a TOML table or a string map.
//!
//! Every source becomes a [`ConfigMap`] of string values that remembers where each value
//! came from (`OAUTH_LINK_NOVU_API_KEY`, `[novu] api_key in oauth-link.toml`, `api_key`),
//! so errors name the exact thing to fix. Adapters read typed values from it and call
//! [`ConfigMap::finish`], which rejects any key they did not read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use url::Url;

use crate::error::{env_var, Error, Result};
use crate::http::{HttpSettings, RetryPolicy};

/// Prefix of every oauth-link environment variable.
pub const ENV_PREFIX: &str = "OAUTH_LINK_";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Env,
    File,
    Map,
}

#[derive(Clone)]
struct Entry {
    value: String,
    origin: String,
}

/// String settings for one provider kind, with their origins.
#[derive(Clone)]
pub struct ConfigMap {
    kind: &'static str,
    source: Source,
    entries: BTreeMap<String, Entry>,
    read: BTreeSet<&'static str>,
}

impl std::fmt::Debug for ConfigMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets: show keys only.
        f.debug_struct("ConfigMap")
            .field("kind", &self.kind)
            .field("keys", &self.entries.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ConfigMap {
    /// Settings from a key/value map (keys are the lower-case setting names).
    pub fn from_map(kind: &'static str, map: &HashMap<String, String>) -> Self {
        let entries =
            map.iter().map(|(k, v)| (k.clone(), Entry { value: v.clone(), origin: format!("key `{k}`") })).collect();
        Self { kind, source: Source::Map, entries, read: BTreeSet::new() }
    }

    /// Settings from the process environment: `OAUTH_LINK_<KIND>_<KEY>`.
    pub fn from_env(kind: &'static str) -> Self {
        Self::from_env_vars(kind, std::env::vars())
    }

    /// Settings from the given environment variables (for tests and custom sources).
    pub fn from_env_vars(kind: &'static str, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        // `OAUTH_LINK_<KIND>_`: env_var with an empty key keeps the trailing `_`.
        let prefix = env_var(kind, "");
        let entries = vars
            .into_iter()
            .filter_map(|(name, value)| {
                let key = name.strip_prefix(&prefix)?.to_ascii_lowercase();
                (!key.is_empty()).then(|| (key, Entry { value, origin: name.clone() }))
            })
            .collect();
        Self { kind, source: Source::Env, entries, read: BTreeSet::new() }
    }

    /// Settings from the TOML table `[kind]` of the file `file` (for messages). Numbers and
    /// booleans become strings; arrays of strings become comma-separated lists.
    pub fn from_toml(kind: &'static str, table: &toml::Table, file: &str) -> Result<Self> {
        let mut entries = BTreeMap::new();
        for (key, value) in table {
            let origin = format!("`{key}` under [{kind}] in {file}");
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => {
                    let mut parts = Vec::with_capacity(items.len());
                    for item in items {
                        match item {
                            toml::Value::String(s) => parts.push(s.clone()),
                            _ => return Err(Error::config(origin, "arrays may hold only strings")),
                        }
                    }
                    parts.join(",")
                }
                _ => {
                    return Err(Error::config(
                        origin.clone(),
                        format!("{origin} must be a string, number, boolean or array of strings"),
                    ))
                }
            };
            entries.insert(key.clone(), Entry { value: text, origin });
        }
        Ok(Self { kind, source: Source::File, entries, read: BTreeSet::new() })
    }

    /// The provider kind these settings are for.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    /// Sets a value (overriding what the source had), e.g. from a command-line flag.
    pub fn set(&mut self, key: &str, value: impl Into<String>, origin: impl Into<String>) {
        self.entries.insert(key.to_owned(), Entry { value: value.into(), origin: origin.into() });
    }

    /// True when `key` is present with a non-empty value.
    pub fn contains(&self, key: &str) -> bool {
        self.entries.get(key).is_some_and(|e| !e.value.is_empty())
    }

    /// Where to set `key`, phrased for the current source.
    pub fn where_to_set(&self, key: &str) -> String {
        match self.source {
            Source::Env => format!("set {}", env_var(self.kind, key)),
            Source::File => format!("add `{key} = ...` under [{}] in the config file", self.kind),
            Source::Map => format!("add the key `{key}`"),
        }
    }

    fn take(&mut self, key: &'static str) -> Option<Entry> {
        self.read.insert(key);
        self.entries.get(key).filter(|e| !e.value.is_empty()).cloned()
    }

    /// An optional string.
    pub fn string(&mut self, key: &'static str) -> Option<String> {
        self.take(key).map(|e| e.value)
    }

    /// A required string; the error names where to set it.
    pub fn required(&mut self, key: &'static str) -> Result<String> {
        self.string(key).ok_or_else(|| self.missing(key))
    }

    /// A required secret; the error names where to set it.
    pub fn required_secret<T: From<String>>(&mut self, key: &'static str) -> Result<T> {
        self.required(key).map(T::from)
    }

    /// The error for a missing required key.
    pub fn missing(&self, key: &'static str) -> Error {
        Error::config(
            env_var(self.kind, key),
            format!("missing required setting `{key}` for provider `{}`: {}", self.kind, self.where_to_set(key)),
        )
    }

    fn parse_err(&self, entry: &Entry, expected: &str) -> Error {
        Error::config(entry.origin.clone(), format!("{} must be {expected}", entry.origin))
    }

    /// An optional `http`/`https` URL (other schemes are refused: SSRF guard).
    pub fn url(&mut self, key: &'static str) -> Result<Option<Url>> {
        let Some(entry) = self.take(key) else { return Ok(None) };
        let url = Url::parse(&entry.value).map_err(|_| self.parse_err(&entry, "an absolute http(s) URL"))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(self.parse_err(&entry, "an absolute http(s) URL"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.parse_err(&entry, "a URL without query or fragment"));
        }
        Ok(Some(url))
    }

    /// An optional non-negative integer.
    pub fn u64(&mut self, key: &'static str) -> Result<Option<u64>> {
        let Some(entry) = self.take(key) else { return Ok(None) };
        entry.value.trim().parse().map(Some).map_err(|_| self.parse_err(&entry, "a non-negative integer"))
    }

    /// An optional duration given in milliseconds (keys end in `_ms`).
    pub fn millis(&mut self, key: &'static str) -> Result<Option<Duration>> {
        Ok(self.u64(key)?.map(Duration::from_millis))
    }

    /// An optional duration given in seconds (keys end in `_secs`).
    pub fn secs(&mut self, key: &'static str) -> Result<Option<Duration>> {
        Ok(self.u64(key)?.map(Duration::from_secs))
    }

    /// An optional boolean (`true`/`false`/`1`/`0`/`yes`/`no`).
    pub fn bool(&mut self, key: &'static str) -> Result<Option<bool>> {
        let Some(entry) = self.take(key) else { return Ok(None) };
        match entry.value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(self.parse_err(&entry, "true or false")),
        }
    }

    /// An optional comma-separated list (empty items dropped).
    pub fn list(&mut self, key: &'static str) -> Option<Vec<String>> {
        self.string(key).map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
    }

    /// An optional value from a fixed set; the error lists the choices.
    pub fn choice(&mut self, key: &'static str, choices: &[&'static str]) -> Result<Option<&'static str>> {
        let Some(entry) = self.take(key) else { return Ok(None) };
        let value = entry.value.trim().to_ascii_lowercase();
        choices
            .iter()
            .find(|c| **c == value)
            .copied()
            .map(Some)
            .ok_or_else(|| self.parse_err(&entry, &format!("one of: {}", choices.join(", "))))
    }

    /// Fails on any key that was never read, naming it and the keys that are valid.
    pub fn finish(self) -> Result<()> {
        let unknown: Vec<&Entry> =
            self.entries.iter().filter(|(k, _)| !self.read.contains(k.as_str())).map(|(_, e)| e).collect();
        match unknown.first() {
            None => Ok(()),
            Some(entry) => {
                let valid: Vec<&str> = self.read.iter().copied().collect();
                Err(Error::config(
                    entry.origin.clone(),
                    format!(
                        "unknown setting {} for provider `{}`; valid settings: {}",
                        entry.origin,
                        self.kind,
                        valid.join(", ")
                    ),
                ))
            }
        }
    }
}

/// How a completion waits for the platform to show a new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollPolicy {
    /// Give up after this long.
    pub timeout: Duration,
    /// First pause between two looks; doubles up to `max_interval`.
    pub interval: Duration,
    /// Longest pause between two looks.
    pub max_interval: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(2),
        }
    }
}

impl PollPolicy {
    /// Calls `probe` until it yields a value or the timeout passes (`Ok(None)`). Probe
    /// errors end the polling at once.
    pub async fn poll<T, F, Fut>(&self, mut probe: F) -> Result<Option<T>>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        let started = tokio::time::Instant::now();
        let mut interval = self.interval;
        loop {
            if let Some(value) = probe().await? {
                return Ok(Some(value));
            }
            let elapsed = started.elapsed();
            if elapsed >= self.timeout {
                return Ok(None);
            }
            tokio::time::sleep(interval.min(self.timeout - elapsed)).await;
            interval = (interval * 2).min(self.max_interval);
        }
    }
}

/// Settings every adapter shares: base URL override, timeouts, retries, polling.
///
/// | key | meaning | default |
/// |---|---|---|
/// | `base_url` | platform address (http/https only) | the adapter's |
/// | `connect_timeout_ms` | connect timeout | 5000 |
/// | `request_timeout_ms` | whole-request timeout | 30000 |
/// | `max_retries` | retries of transient failures | 3 |
/// | `retry_max_elapsed_ms` | no retry starts after this | 30000 |
/// | `poll_timeout_ms` | how long completion waits for the connection | 10000 |
/// | `poll_interval_ms` | first pause between looks | 250 |
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommonConfig {
    /// Base URL override.
    pub base_url: Option<Url>,
    /// Transport timeouts.
    pub http: HttpSettingsConfig,
    /// Retries.
    pub retry: RetryPolicy,
    /// Completion polling.
    pub poll: PollPolicy,
}

/// Timeouts as configured (kept separate from [`HttpSettings`] so both stay `Eq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettingsConfig {
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
}

impl Default for HttpSettingsConfig {
    fn default() -> Self {
        let d = HttpSettings::default();
        Self { connect_timeout: d.connect_timeout, request_timeout: d.request_timeout }
    }
}

impl From<&HttpSettingsConfig> for HttpSettings {
    fn from(c: &HttpSettingsConfig) -> Self {
        HttpSettings { connect_timeout: c.connect_timeout, request_timeout: c.request_timeout }
    }
}

/// Serializes under the configuration key names, flat (`base_url` only when set), so an
/// adapter config can `#[serde(flatten)]` it and `config check` shows the keys users set.
impl serde::Serialize for CommonConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let mut map = serializer.serialize_map(None)?;
        if let Some(url) = &self.base_url {
            map.serialize_entry("base_url", url.as_str())?;
        }
        map.serialize_entry("connect_timeout_ms", &ms(self.http.connect_timeout))?;
        map.serialize_entry("request_timeout_ms", &ms(self.http.request_timeout))?;
        map.serialize_entry("max_retries", &self.retry.max_retries)?;
        map.serialize_entry("retry_max_elapsed_ms", &ms(self.retry.max_elapsed))?;
        map.serialize_entry("poll_timeout_ms", &ms(self.poll.timeout))?;
        map.serialize_entry("poll_interval_ms", &ms(self.poll.interval))?;
        map.end()
    }
}

/// Serializes a duration as whole milliseconds, for `*_ms` settings:
/// `#[serde(rename = "clock_skew_ms", serialize_with = "serialize_millis")]`.
pub fn serialize_millis<S: serde::Serializer>(d: &Duration, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl CommonConfig {
    /// Reads the shared keys from `map`.
    pub fn read(map: &mut ConfigMap) -> Result<Self> {
        let mut c = CommonConfig { base_url: map.url("base_url")?, ..Default::default() };
        if let Some(v) = map.millis("connect_timeout_ms")? {
            c.http.connect_timeout = v;
        }
        if let Some(v) = map.millis("request_timeout_ms")? {
            c.http.request_timeout = v;
        }
        if let Some(v) = map.u64("max_retries")? {
            c.retry.max_retries = u32::try_from(v.min(20)).unwrap_or(20);
        }
        if let Some(v) = map.millis("retry_max_elapsed_ms")? {
            c.retry.max_elapsed = v;
        }
        if let Some(v) = map.millis("poll_timeout_ms")? {
            c.poll.timeout = v;
        }
        if let Some(v) = map.millis("poll_interval_ms")? {
            c.poll.interval = v.max(Duration::from_millis(1));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::ApiKey;

    fn env(kind: &'static str, vars: &[(&str, &str)]) -> ConfigMap {
        ConfigMap::from_env_vars(kind, vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn env_keys_are_scoped_to_the_kind() {
        let mut m = env(
            "alloy-headless",
            &[
                ("OAUTH_LINK_ALLOY_HEADLESS_API_KEY", "k1"),
                ("OAUTH_LINK_ALLOY_CONNECTORS_API_KEY", "k2"),
                ("OAUTH_LINK_PROVIDER", "novu"),
                ("PATH", "/bin"),
            ],
        );
        let key: ApiKey = m.required_secret("api_key").unwrap();
        assert_eq!(key.expose(), "k1");
        m.finish().unwrap();
    }

    #[test]
    fn missing_key_names_the_env_var() {
        let mut m = env("novu", &[]);
        let err = m.required_secret::<ApiKey>("api_key").unwrap_err();
        assert!(err.to_string().contains("set OAUTH_LINK_NOVU_API_KEY"), "{err}");
        let mut m = ConfigMap::from_map("novu", &HashMap::new());
        assert!(m.required("api_key").unwrap_err().to_string().contains("add the key `api_key`"));
    }

    #[test]
    fn unknown_key_is_named_with_its_origin() {
        let mut m = env("novu", &[("OAUTH_LINK_NOVU_API_KEY", "k"), ("OAUTH_LINK_NOVU_REGOIN", "eu")]);
        m.required("api_key").unwrap();
        m.string("region");
        let err = m.finish().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("OAUTH_LINK_NOVU_REGOIN") && text.contains("valid settings: api_key, region"), "{text}");
    }

    #[test]
    fn toml_values_become_strings_and_errors_name_the_file() {
        let table: toml::Table = toml::from_str(
            "api_key = \"k\"\nmax_retries = 2\nconnectors = [\"slack\", \"notion\"]\nflag = true\nbad_key = 1",
        )
        .unwrap();
        let mut m = ConfigMap::from_toml("alloy-connectors", &table, "oauth-link.toml").unwrap();
        assert_eq!(m.u64("max_retries").unwrap(), Some(2));
        assert_eq!(m.list("connectors").unwrap(), vec!["slack", "notion"]);
        assert_eq!(m.bool("flag").unwrap(), Some(true));
        m.required("api_key").unwrap();
        let err = m.finish().unwrap_err().to_string();
        assert!(err.contains("`bad_key` under [alloy-connectors] in oauth-link.toml"), "{err}");
        let table: toml::Table = toml::from_str("nested = { a = 1 }").unwrap();
        assert!(ConfigMap::from_toml("x", &table, "f").is_err());
    }

    #[test]
    fn typed_values_are_checked() {
        let mut m = env(
            "novu",
            &[
                ("OAUTH_LINK_NOVU_BASE_URL", "file:///etc/passwd"),
                ("OAUTH_LINK_NOVU_MAX_RETRIES", "-1"),
                ("OAUTH_LINK_NOVU_REGION", "mars"),
                ("OAUTH_LINK_NOVU_FLAG", "maybe"),
            ],
        );
        assert!(m
            .url("base_url")
            .unwrap_err()
            .to_string()
            .contains("OAUTH_LINK_NOVU_BASE_URL must be an absolute http(s) URL"));
        assert!(m.u64("max_retries").is_err());
        assert!(m.choice("region", &["us", "eu"]).unwrap_err().to_string().contains("one of: us, eu"));
        assert!(m.bool("flag").is_err());
        for bad in ["gopher://x", "http://", "not a url", "https://h/?q=1"] {
            let mut m = env("novu", &[("OAUTH_LINK_NOVU_BASE_URL", bad)]);
            assert!(m.url("base_url").is_err(), "{bad}");
        }
    }

    #[test]
    fn common_config_reads_shared_keys() {
        let mut m = env(
            "novu",
            &[
                ("OAUTH_LINK_NOVU_BASE_URL", "http://127.0.0.1:9/novu"),
                ("OAUTH_LINK_NOVU_MAX_RETRIES", "1"),
                ("OAUTH_LINK_NOVU_POLL_TIMEOUT_MS", "50"),
                ("OAUTH_LINK_NOVU_REQUEST_TIMEOUT_MS", "1000"),
            ],
        );
        let c = CommonConfig::read(&mut m).unwrap();
        assert_eq!(c.base_url.unwrap().as_str(), "http://127.0.0.1:9/novu");
        assert_eq!(c.retry.max_retries, 1);
        assert_eq!(c.poll.timeout, Duration::from_millis(50));
        assert_eq!(c.http.request_timeout, Duration::from_secs(1));
        m.finish().unwrap();
    }

    #[test]
    fn common_config_serializes_flat_under_its_keys() {
        let mut m =
            env("novu", &[("OAUTH_LINK_NOVU_MAX_RETRIES", "1"), ("OAUTH_LINK_NOVU_BASE_URL", "https://h.example/x")]);
        let c = CommonConfig::read(&mut m).unwrap();
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"base_url": "https://h.example/x", "connect_timeout_ms": 5000, "request_timeout_ms": 30000,
                "max_retries": 1, "retry_max_elapsed_ms": 30000, "poll_timeout_ms": 10000, "poll_interval_ms": 250})
        );
        let unset = serde_json::to_value(CommonConfig::default()).unwrap();
        assert!(unset.get("base_url").is_none());
    }

    #[test]
    fn debug_shows_no_values() {
        let m = env("novu", &[("OAUTH_LINK_NOVU_API_KEY", "sk_secret_value")]);
        assert!(!format!("{m:?}").contains("sk_secret_value"));
    }

    #[tokio::test(start_paused = true)]
    async fn poll_gives_up_after_the_timeout() {
        let policy = PollPolicy { timeout: Duration::from_secs(3), ..Default::default() };
        let mut looks = 0;
        let start = tokio::time::Instant::now();
        let found: Option<()> = policy
            .poll(|| {
                looks += 1;
                async { Ok(None) }
            })
            .await
            .unwrap();
        assert!(found.is_none());
        assert!(start.elapsed() >= Duration::from_secs(3) && start.elapsed() < Duration::from_secs(4));
        assert!((3..=8).contains(&looks), "{looks}");
        let mut n = 0;
        let found = policy
            .poll(|| {
                n += 1;
                let v = n;
                async move { Ok((v == 3).then_some(v)) }
            })
            .await
            .unwrap();
        assert_eq!(found, Some(3));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            // A fixed seed: the same inputs on every run.
            #![proptest_config(ProptestConfig {
                failure_persistence: None,
                rng_seed: proptest::test_runner::RngSeed::Fixed(2026),
                ..ProptestConfig::default()
            })]
            #[test]
            fn parsing_never_panics(key in "[a-z_]{1,20}", value in "\\PC{0,60}") {
                let mut map = HashMap::new();
                map.insert(key, value);
                let mut m = ConfigMap::from_map("novu", &map);
                let _ = CommonConfig::read(&mut m);
                let _ = m.bool("flag");
                let _ = m.choice("region", &["us", "eu"]);
                let _ = m.finish();
            }

            #[test]
            fn toml_never_panics(text in "\\PC{0,120}") {
                if let Ok(table) = toml::from_str::<toml::Table>(&text) {
                    if let Ok(mut m) = ConfigMap::from_toml("novu", &table, "f.toml") {
                        let _ = CommonConfig::read(&mut m);
                        let _ = m.finish();
                    }
                }
            }
        }
    }
}
