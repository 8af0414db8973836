//! Reading an adapter's settings from env, a TOML table or a string map.
//!
//! Every source becomes a [`ConfigMap`] of string values that remembers where each value
//! came from (`OAUTH_LINK_NOVU_API_KEY`, `[novu] api_key in oauth-link.toml`, `api_key`),
//! so errors name the exact thing to fix.
//!
//! An adapter's configuration is a struct deriving `Deserialize` whose field names are the
//! keys; it implements [`AdapterConfig`], whose [`from_config`](AdapterConfig::from_config)
//! reads the shared keys ([`CommonConfig`]) and the adapter's own from one map, rejects any
//! other key, and names the origin of every bad value.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{env_var, Error, Result};
use crate::http::{HttpSettings, RetryPolicy};

mod de;

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

    /// Settings from key/value pairs (keys are the lower-case setting names), as a map.
    pub fn from_pairs(kind: &'static str, pairs: &[(&str, &str)]) -> Self {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Self::from_map(kind, &map)
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

    /// Reads the struct `T` from the keys named by its fields (serde names: `rename`s and
    /// aliases count); the other keys stay for another struct or [`ConfigMap::finish`].
    /// Values are text: numbers, booleans, comma-separated lists and case-insensitive enum
    /// names are parsed, an empty value counts as unset, and every error names the value's
    /// origin and what it must be.
    pub fn parse<T: DeserializeOwned>(&mut self) -> Result<T> {
        T::deserialize(de::StructDeserializer { map: self }).map_err(|e| e.into_error(self))
    }

    /// The error for `key`'s value, naming its origin (or where to set it when unset).
    pub fn invalid(&self, key: &str, message: impl std::fmt::Display) -> Error {
        match self.entries.get(key) {
            Some(entry) => Error::config(entry.origin.clone(), format!("{} {message}", entry.origin)),
            None => Error::config(env_var(self.kind, key), format!("`{key}` {message}")),
        }
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
/// | `max_retries` | retries of transient failures (at most 20) | 3 |
/// | `retry_max_elapsed_ms` | no retry starts after this | 30000 |
/// | `poll_timeout_ms` | how long completion waits for the connection | 10000 |
/// | `poll_interval_ms` | first pause between looks | 250 |
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "CommonKeys", into = "CommonKeys")]
pub struct CommonConfig {
    /// Base URL override.
    pub base_url: Option<Url>,
    /// Transport timeouts.
    pub http: HttpSettings,
    /// Retries.
    pub retry: RetryPolicy,
    /// Completion polling.
    pub poll: PollPolicy,
}

/// [`CommonConfig`] as its keys.
#[derive(Serialize, Deserialize)]
struct CommonKeys {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "http_url")]
    base_url: Option<Url>,
    connect_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    max_retries: Option<u32>,
    retry_max_elapsed_ms: Option<u64>,
    poll_timeout_ms: Option<u64>,
    poll_interval_ms: Option<u64>,
}

impl From<CommonKeys> for CommonConfig {
    fn from(keys: CommonKeys) -> Self {
        let mut c = CommonConfig { base_url: keys.base_url, ..Default::default() };
        let ms = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_millis);
        c.http.connect_timeout = ms(keys.connect_timeout_ms, c.http.connect_timeout);
        c.http.request_timeout = ms(keys.request_timeout_ms, c.http.request_timeout);
        c.retry.max_retries = keys.max_retries.map_or(c.retry.max_retries, |n| n.min(20));
        c.retry.max_elapsed = ms(keys.retry_max_elapsed_ms, c.retry.max_elapsed);
        c.poll.timeout = ms(keys.poll_timeout_ms, c.poll.timeout);
        c.poll.interval = ms(keys.poll_interval_ms, c.poll.interval).max(Duration::from_millis(1));
        c
    }
}

impl From<CommonConfig> for CommonKeys {
    fn from(c: CommonConfig) -> Self {
        let ms = |d: Duration| Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        CommonKeys {
            base_url: c.base_url,
            connect_timeout_ms: ms(c.http.connect_timeout),
            request_timeout_ms: ms(c.http.request_timeout),
            max_retries: Some(c.retry.max_retries),
            retry_max_elapsed_ms: ms(c.retry.max_elapsed),
            poll_timeout_ms: ms(c.poll.timeout),
            poll_interval_ms: ms(c.poll.interval),
        }
    }
}

/// An adapter's configuration: a struct deriving `Serialize` and `Deserialize` whose field
/// names are its keys, with its [`CommonConfig`] in a `#[serde(skip)]` field. The provided
/// methods are the one set of setters and readers every adapter shares.
pub trait AdapterConfig: Sized + Serialize + DeserializeOwned {
    /// The shared settings.
    fn common(&self) -> &CommonConfig;

    /// The shared settings, to change them.
    fn common_mut(&mut self) -> &mut CommonConfig;

    /// Finishes the configuration once its keys are read: defaults that depend on another
    /// key (was it set? [`ConfigMap::contains`]), checks across keys. Errors name the key
    /// with [`ConfigMap::invalid`]. Nothing by default.
    fn finish(&mut self, map: &ConfigMap) -> Result<()> {
        let _ = map;
        Ok(())
    }

    /// Reads the configuration from `map` (env, TOML or a map): the shared keys and the
    /// adapter's own. Every error names where to fix it; a key neither knows is refused.
    fn from_config(mut map: ConfigMap) -> Result<Self> {
        let common: CommonConfig = map.parse()?;
        let mut config: Self = map.parse()?;
        *config.common_mut() = common;
        config.finish(&map)?;
        map.finish()?;
        Ok(config)
    }

    /// Every key the configuration reads: the shared ones, then the adapter's own (aliases
    /// included), as the documentation tables list them.
    fn keys() -> Vec<&'static str> {
        let mut keys = de::keys::<CommonConfig>().to_vec();
        keys.extend(de::keys::<Self>());
        keys
    }

    /// Every setting under its key, flat, secrets redacted: what `config check` shows.
    fn settings(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let (Some(own), Ok(serde_json::Value::Object(common))) =
            (value.as_object_mut(), serde_json::to_value(self.common()))
        {
            own.extend(common);
        }
        value
    }

    /// Overrides the platform's address.
    fn with_base_url(mut self, base_url: Url) -> Self {
        self.common_mut().base_url = Some(base_url);
        self
    }

    /// Sets the retry policy.
    fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.common_mut().retry = retry;
        self
    }

    /// Sets how completion polls for the new connection.
    fn with_poll(mut self, poll: PollPolicy) -> Self {
        self.common_mut().poll = poll;
        self
    }

    /// Replaces all the shared settings.
    fn with_common(mut self, common: CommonConfig) -> Self {
        *self.common_mut() = common;
        self
    }

    /// Sets the transport timeouts.
    fn with_http(mut self, http: HttpSettings) -> Self {
        self.common_mut().http = http;
        self
    }
}

/// Implements [`AdapterConfig`] for a configuration whose shared settings are its field
/// `common`, with any other items of the trait given after the type (`finish`):
///
/// ```
/// # use oauth_link_core::config::{AdapterConfig, CommonConfig, ConfigMap};
/// #[derive(Debug, serde::Serialize, serde::Deserialize)]
/// struct ExampleConfig {
///     greeting: String,
///     #[serde(skip)]
///     common: CommonConfig,
/// }
///
/// oauth_link_core::adapter_config!(ExampleConfig,
///     fn finish(&mut self, map: &ConfigMap) -> oauth_link_core::Result<()> {
///         match self.greeting.is_empty() {
///             true => Err(map.invalid("greeting", "must not be empty")),
///             false => Ok(()),
///         }
///     }
/// );
/// ```
#[macro_export]
macro_rules! adapter_config {
    ($config:ty $(, $item:item)* $(,)?) => {
        impl $crate::config::AdapterConfig for $config {
            fn common(&self) -> &$crate::config::CommonConfig {
                &self.common
            }

            fn common_mut(&mut self) -> &mut $crate::config::CommonConfig {
                &mut self.common
            }

            $($item)*
        }
    };
}

/// The timeouts as configured: the same type as [`HttpSettings`].
pub type HttpSettingsConfig = HttpSettings;

/// Reads an optional `http`/`https` URL without query or fragment (other schemes are
/// refused: SSRF guard): `#[serde(default, deserialize_with = "http_url")]`.
pub fn http_url<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Option<Url>, D::Error> {
    use serde::de::Error as _;
    let text = String::deserialize(deserializer)?;
    let url = Url::parse(text.trim()).map_err(|_| D::Error::custom("must be an absolute http(s) URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(D::Error::custom("must be an absolute http(s) URL"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(D::Error::custom("must be a URL without query or fragment"));
    }
    Ok(Some(url))
}

/// Reads an optional absolute URL, any scheme, query allowed (the adapter checks it further
/// in [`AdapterConfig::finish`]): `#[serde(default, deserialize_with = "absolute_url")]`.
pub fn absolute_url<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Option<Url>, D::Error> {
    use serde::de::Error as _;
    let text = String::deserialize(deserializer)?;
    Url::parse(text.trim()).map(Some).map_err(|e| D::Error::custom(format_args!("must be an absolute URL ({e})")))
}

/// A duration given in whole milliseconds, for `*_ms` keys:
/// `#[serde(rename = "clock_skew_ms", with = "millis")]`.
pub mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the duration as whole milliseconds.
    pub fn serialize<S: Serializer>(d: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Reads whole milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// Serializes a duration as whole milliseconds (see [`millis`]).
pub fn serialize_millis<S: serde::Serializer>(d: &Duration, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    millis::serialize(d, serializer)
}

impl CommonConfig {
    /// Reads the shared keys from `map`.
    pub fn read(map: &mut ConfigMap) -> Result<Self> {
        map.parse()
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

    /// An adapter's configuration as adapters write one.
    #[derive(Debug, Serialize, Deserialize)]
    struct Sample {
        api_key: ApiKey,
        #[serde(default)]
        region: Region,
        integration_identifier: Option<String>,
        #[serde(default)]
        include_channel_connections: bool,
        #[serde(rename = "clock_skew_ms", with = "millis", default = "default_skew")]
        clock_skew: Duration,
        #[serde(default)]
        connectors: Vec<String>,
        #[serde(alias = "redirect_url", default, deserialize_with = "http_url")]
        redirect_uri: Option<Url>,
        #[serde(skip)]
        common: CommonConfig,
    }

    fn default_skew() -> Duration {
        Duration::from_secs(60)
    }

    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Region {
        #[default]
        Us,
        Eu,
    }

    crate::adapter_config!(
        Sample,
        fn finish(&mut self, map: &ConfigMap) -> Result<()> {
            match &self.integration_identifier {
                Some(id) if id.contains(' ') => Err(map.invalid("integration_identifier", "must hold no space")),
                _ => Ok(()),
            }
        }
    );

    fn sample(vars: &[(&str, &str)]) -> Result<Sample> {
        Sample::from_config(env("novu", vars))
    }

    #[test]
    fn a_derived_config_reads_every_key_from_every_source() {
        let c = sample(&[
            ("OAUTH_LINK_NOVU_API_KEY", "sk_secret_value"),
            ("OAUTH_LINK_NOVU_REGION", "EU"),
            ("OAUTH_LINK_NOVU_INTEGRATION_IDENTIFIER", "slack-main"),
            ("OAUTH_LINK_NOVU_INCLUDE_CHANNEL_CONNECTIONS", "yes"),
            ("OAUTH_LINK_NOVU_CLOCK_SKEW_MS", "5000"),
            ("OAUTH_LINK_NOVU_CONNECTORS", "slack, notion,,"),
            ("OAUTH_LINK_NOVU_REDIRECT_URL", "https://app.example/back"),
            ("OAUTH_LINK_NOVU_MAX_RETRIES", "1"),
            ("OAUTH_LINK_NOVU_POLL_TIMEOUT_MS", "50"),
        ])
        .unwrap();
        assert_eq!(c.api_key.expose(), "sk_secret_value");
        assert_eq!(c.region, Region::Eu);
        assert_eq!(c.integration_identifier.as_deref(), Some("slack-main"));
        assert!(c.include_channel_connections);
        assert_eq!(c.clock_skew, Duration::from_secs(5));
        assert_eq!(c.connectors, ["slack", "notion"]);
        assert_eq!(c.redirect_uri.as_ref().map(Url::as_str), Some("https://app.example/back"));
        assert_eq!((c.common.retry.max_retries, c.common.poll.timeout), (1, Duration::from_millis(50)));

        let d = sample(&[("OAUTH_LINK_NOVU_API_KEY", "k"), ("OAUTH_LINK_NOVU_REGION", "")]).unwrap();
        assert_eq!((d.region, d.clock_skew, d.common.clone()), (Region::Us, default_skew(), CommonConfig::default()));

        let table: toml::Table =
            toml::from_str("api_key = \"k\"\nconnectors = [\"slack\"]\nmax_retries = 2\nclock_skew_ms = 10").unwrap();
        let c = Sample::from_config(ConfigMap::from_toml("novu", &table, "oauth-link.toml").unwrap()).unwrap();
        assert_eq!(
            (c.connectors, c.common.retry.max_retries, c.clock_skew),
            (vec!["slack".to_owned()], 2, Duration::from_millis(10))
        );
    }

    #[test]
    fn a_derived_config_names_the_origin_of_every_error() {
        let cases: [(&[(&str, &str)], &str); 9] = [
            (&[], "missing required setting `api_key` for provider `novu`: set OAUTH_LINK_NOVU_API_KEY"),
            (&[("OAUTH_LINK_NOVU_REGION", "mars")], "OAUTH_LINK_NOVU_REGION must be one of: us, eu"),
            (
                &[("OAUTH_LINK_NOVU_INCLUDE_CHANNEL_CONNECTIONS", "perhaps")],
                "OAUTH_LINK_NOVU_INCLUDE_CHANNEL_CONNECTIONS must be true or false",
            ),
            (
                &[("OAUTH_LINK_NOVU_CLOCK_SKEW_MS", "-5")],
                "OAUTH_LINK_NOVU_CLOCK_SKEW_MS must be a non-negative integer",
            ),
            (&[("OAUTH_LINK_NOVU_MAX_RETRIES", "x")], "OAUTH_LINK_NOVU_MAX_RETRIES must be a non-negative integer"),
            (
                &[("OAUTH_LINK_NOVU_BASE_URL", "file:///etc/passwd")],
                "OAUTH_LINK_NOVU_BASE_URL must be an absolute http(s) URL",
            ),
            (&[("OAUTH_LINK_NOVU_REGOIN", "eu")], "unknown setting OAUTH_LINK_NOVU_REGOIN for provider `novu`"),
            (
                &[("OAUTH_LINK_NOVU_INTEGRATION_IDENTIFIER", "a b")],
                "OAUTH_LINK_NOVU_INTEGRATION_IDENTIFIER must hold no space",
            ),
            (
                &[
                    ("OAUTH_LINK_NOVU_REDIRECT_URI", "https://a.example/"),
                    ("OAUTH_LINK_NOVU_REDIRECT_URL", "https://b.example/"),
                ],
                "OAUTH_LINK_NOVU_REDIRECT_URI is set twice for provider `novu`, under `redirect_uri` and an alias",
            ),
        ];
        for (vars, expected) in cases {
            let mut vars = vars.to_vec();
            if !expected.contains("api_key") {
                vars.push(("OAUTH_LINK_NOVU_API_KEY", "sk_secret_value"));
            }
            let err = sample(&vars).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::Config { .. }) && text.contains(expected), "{vars:?}: {text}");
            assert!(!text.contains("sk_secret_value"), "{text}");
        }
        let err =
            sample(&[("OAUTH_LINK_NOVU_API_KEY", "k"), ("OAUTH_LINK_NOVU_REGOIN", "eu")]).unwrap_err().to_string();
        for key in ["api_key", "region", "clock_skew_ms", "redirect_uri", "base_url", "poll_interval_ms"] {
            assert!(err.contains(key), "the valid keys are listed: {err}");
        }
        let table: toml::Table = toml::from_str("api_key = \"k\"\nregion = 3").unwrap();
        let err = Sample::from_config(ConfigMap::from_toml("novu", &table, "oauth-link.toml").unwrap()).unwrap_err();
        assert!(err.to_string().contains("`region` under [novu] in oauth-link.toml must be one of: us, eu"), "{err}");
    }

    #[test]
    fn keys_are_the_field_names() {
        assert_eq!(
            Sample::keys(),
            [
                "base_url",
                "connect_timeout_ms",
                "request_timeout_ms",
                "max_retries",
                "retry_max_elapsed_ms",
                "poll_timeout_ms",
                "poll_interval_ms",
                "api_key",
                "region",
                "integration_identifier",
                "include_channel_connections",
                "clock_skew_ms",
                "connectors",
                "redirect_uri",
                "redirect_url",
            ]
        );
    }

    #[test]
    fn settings_are_flat_and_redacted() {
        let c =
            sample(&[("OAUTH_LINK_NOVU_API_KEY", "sk_secret_value"), ("OAUTH_LINK_NOVU_MAX_RETRIES", "1")]).unwrap();
        let settings = c.settings();
        assert_eq!(settings["api_key"], "[redacted]");
        assert_eq!(settings["clock_skew_ms"], 60000);
        assert_eq!(settings["max_retries"], 1);
        assert_eq!(settings["poll_timeout_ms"], 10000);
        assert!(settings.get("common").is_none() && settings.get("base_url").is_none(), "{settings}");
        let c = c.with_base_url(Url::parse("http://127.0.0.1:9/x").unwrap()).with_retry(RetryPolicy::none());
        assert_eq!((c.settings()["base_url"].as_str(), c.common.retry.max_retries), (Some("http://127.0.0.1:9/x"), 0));
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
                let _ = Sample::from_config(m.clone());
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
