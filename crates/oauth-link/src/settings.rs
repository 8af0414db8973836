//! Where the provider choice and its settings come from: env, a TOML file, or a map.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use oauth_link_core::{
    adapter::ConfigMap, secret::SecretUrl, Error, FileReplayGuard, LinkContext, MemoryReplayGuard, ReplayGuard, Result,
    SigningKey, StateCodec, StateKeys, DEFAULT_STATE_TTL,
};
use serde::Serialize;

use crate::registry::KNOWN;

/// Env var naming the provider kind.
pub const PROVIDER_ENV: &str = "OAUTH_LINK_PROVIDER";
/// Env var holding the state signing secret.
pub const STATE_SECRET_ENV: &str = "OAUTH_LINK_STATE_SECRET";
/// Env var holding older state secrets still accepted (comma-separated), for rotation.
pub const STATE_PREVIOUS_SECRETS_ENV: &str = "OAUTH_LINK_STATE_PREVIOUS_SECRETS";
/// Env var holding the state lifetime in seconds.
pub const STATE_TTL_ENV: &str = "OAUTH_LINK_STATE_TTL_SECS";

/// Env var set to `true` during an upgrade from a build that signed link states (`v1`):
/// such states are accepted for one state lifetime, then refused.
pub const STATE_ACCEPT_SIGNED_ENV: &str = "OAUTH_LINK_STATE_ACCEPT_SIGNED";

/// Env var naming a directory where used states are recorded (shared by the processes of
/// one machine); without it, used states are kept in memory.
pub const REPLAY_DIR_ENV: &str = "OAUTH_LINK_REPLAY_DIR";

/// Env var holding a Redis URL: used states are recorded there, shared by every app
/// instance (feature `redis`).
pub const REDIS_URL_ENV: &str = "OAUTH_LINK_REDIS_URL";

/// Env var set to `true` when `OAUTH_LINK_REDIS_URL` lists the seed nodes of a Redis
/// Cluster (comma-separated) rather than one server.
pub const REDIS_CLUSTER_ENV: &str = "OAUTH_LINK_REDIS_CLUSTER";

/// Top-level keys of the TOML file and of a settings map (besides the adapter's own).
const GLOBAL_KEYS: [&str; 8] = [
    "provider",
    "state_secret",
    "state_previous_secrets",
    "state_ttl_secs",
    "state_accept_signed",
    "replay_dir",
    "redis_url",
    "redis_cluster",
];

/// How link state is sealed, and where used states are recorded.
#[derive(Clone, Serialize)]
pub struct StateSettings {
    /// The signing secret (at least 32 bytes), when configured.
    pub secret: Option<SigningKey>,
    /// Older secrets still accepted for verification.
    pub previous: Vec<SigningKey>,
    /// State lifetime.
    #[serde(rename = "ttl_secs", serialize_with = "secs")]
    pub ttl: Duration,
    /// Accept link states signed by earlier builds (`v1`) for one state lifetime from when
    /// the context is built (a rolling upgrade), then refuse them. Off by default.
    pub accept_signed: bool,
    /// Where used states are recorded ([`FileReplayGuard`]); in memory when `None`.
    pub replay_dir: Option<PathBuf>,
    /// Redis URL where used states are recorded, shared by every app instance (feature
    /// `redis`). Exclusive with `replay_dir`. With `redis_cluster`, one or more seed node
    /// URLs of a Redis Cluster, comma-separated.
    pub redis_url: Option<SecretUrl>,
    /// `redis_url` names a Redis Cluster (its seed nodes) rather than one server.
    pub redis_cluster: bool,
    #[serde(skip)]
    origin: &'static str,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

impl std::fmt::Debug for StateSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSettings")
            .field("secret", &self.secret)
            .field("previous", &self.previous.len())
            .field("ttl", &self.ttl)
            .field("accept_signed", &self.accept_signed)
            .field("replay_dir", &self.replay_dir)
            .field("redis_url", &self.redis_url)
            .field("redis_cluster", &self.redis_cluster)
            .finish()
    }
}

impl StateSettings {
    /// Builds the state context: codec from the secret, in-memory replay guard.
    ///
    /// Fails naming where to set the secret when none is configured.
    pub fn context(&self) -> Result<LinkContext> {
        let secret = self.secret.as_ref().ok_or_else(|| {
            Error::config(
                STATE_SECRET_ENV,
                format!(
                    "missing the state signing secret: {}; use at least 32 random bytes, e.g. `openssl rand -hex 32`",
                    self.where_to_set()
                ),
            )
        })?;
        let keys = StateKeys::new(secret, &self.previous)?;
        let codec = StateCodec::new(keys).with_ttl(self.ttl).accept_signed_states(self.accept_signed);
        Ok(LinkContext::new(codec, self.replay_guard()?))
    }

    /// The replay guard these settings ask for: Redis (`redis_url`, a Redis Cluster with
    /// `redis_cluster`), a directory (`replay_dir`), or memory. A Redis guard connects
    /// lazily, so it must be built inside a Tokio runtime; it fails closed when Redis (for a
    /// cluster, the node owning a state's slot) is unreachable.
    pub fn replay_guard(&self) -> Result<Arc<dyn ReplayGuard>> {
        match (&self.redis_url, &self.replay_dir) {
            (Some(_), Some(_)) => Err(Error::config(
                "redis_url",
                "both redis_url and replay_dir are set; used states go to one place: keep redis_url for several app instances, or replay_dir for one machine",
            )),
            (None, _) if self.redis_cluster => Err(Error::config(
                "redis_cluster",
                "redis_cluster is set but redis_url is not; list the cluster's seed node URLs in redis_url (comma-separated), or drop redis_cluster",
            )),
            (Some(url), None) => redis_guard(url, self.redis_cluster),
            (None, Some(dir)) => Ok(Arc::new(FileReplayGuard::new(dir)?)),
            (None, None) => Ok(Arc::new(MemoryReplayGuard::new())),
        }
    }

    fn empty(origin: &'static str) -> Self {
        Self {
            secret: None,
            previous: Vec::new(),
            ttl: DEFAULT_STATE_TTL,
            accept_signed: false,
            replay_dir: None,
            redis_url: None,
            redis_cluster: false,
            origin,
        }
    }

    /// A context with a random secret, for sandboxes and demos (states die with the process).
    pub fn ephemeral_context(&self) -> Result<LinkContext> {
        Ok(LinkContext::new(StateCodec::new(StateKeys::random()).with_ttl(self.ttl), self.replay_guard()?))
    }

    fn where_to_set(&self) -> &'static str {
        match self.origin {
            "file" => "add `state_secret = \"...\"` at the top of the config file",
            "map" => "add the key `state_secret`",
            _ => "set OAUTH_LINK_STATE_SECRET",
        }
    }
}

/// The provider choice and every setting, as read from one source.
///
/// Reading a source does not interpret the adapters' settings: which kinds exist is the
/// [`Registry`](crate::Registry)'s business, when it configures a provider from them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The chosen provider kind, when the source names one.
    pub provider: Option<String>,
    /// Link state signing.
    pub state: StateSettings,
    source: String,
    adapters: AdapterSource,
}

/// The adapters' settings as the source holds them.
#[derive(Clone)]
enum AdapterSource {
    /// `OAUTH_LINK_*` variables: each kind reads its own `OAUTH_LINK_<KIND>_*`.
    Env(Vec<(String, String)>),
    /// The file's tables, by name.
    Toml(BTreeMap<String, toml::Table>),
    /// The keys of one kind.
    Map(String, HashMap<String, String>),
}

impl std::fmt::Debug for AdapterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets: names only.
        match self {
            AdapterSource::Env(vars) => {
                f.debug_tuple("Env").field(&vars.iter().map(|(k, _)| k).collect::<Vec<_>>()).finish()
            }
            AdapterSource::Toml(tables) => f
                .debug_map()
                .entries(tables.iter().map(|(name, table)| (name, table.keys().collect::<Vec<_>>())))
                .finish(),
            AdapterSource::Map(kind, map) => {
                f.debug_tuple("Map").field(kind).field(&map.keys().collect::<Vec<_>>()).finish()
            }
        }
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_env_vars(std::env::vars())
    }

    /// Reads the given environment variables (`OAUTH_LINK_*`).
    pub fn from_env_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<Self> {
        let vars: HashMap<String, String> = vars.into_iter().filter(|(k, _)| k.starts_with("OAUTH_LINK_")).collect();
        let get = |name: &str| vars.get(name).filter(|v| !v.trim().is_empty()).cloned();
        let ttl = match get(STATE_TTL_ENV) {
            Some(v) => parse_ttl(&v, STATE_TTL_ENV)?,
            None => DEFAULT_STATE_TTL,
        };
        let state = StateSettings {
            secret: get(STATE_SECRET_ENV).map(SigningKey::new),
            previous: split_secrets(get(STATE_PREVIOUS_SECRETS_ENV)),
            ttl,
            accept_signed: match get(STATE_ACCEPT_SIGNED_ENV) {
                Some(v) => parse_bool(&v, STATE_ACCEPT_SIGNED_ENV)?,
                None => false,
            },
            replay_dir: get(REPLAY_DIR_ENV).map(PathBuf::from),
            redis_url: get(REDIS_URL_ENV).map(SecretUrl::new),
            redis_cluster: match get(REDIS_CLUSTER_ENV) {
                Some(v) => parse_bool(&v, REDIS_CLUSTER_ENV)?,
                None => false,
            },
            origin: "env",
        };
        let provider = get(PROVIDER_ENV);
        let adapters = AdapterSource::Env(vars.into_iter().collect());
        Ok(Self { provider, state, source: "environment".into(), adapters })
    }

    /// Reads a TOML file: top-level `provider`, `state_secret`, `state_previous_secrets`,
    /// `state_ttl_secs`, then one table per provider kind (`[novu]`, `[alloy-headless]`...).
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::config(path.display().to_string(), format!("cannot read config file {}: {e}", path.display()))
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Parses TOML text; `label` names the file in errors.
    pub fn from_toml_str(text: &str, label: &str) -> Result<Self> {
        let table: toml::Table = toml::from_str(text)
            .map_err(|e| Error::config(label, format!("{label} is not valid TOML: {}", e.message())))?;
        let mut provider = None;
        let mut state = StateSettings::empty("file");
        let mut adapters = BTreeMap::new();
        for (key, value) in &table {
            let as_str = || {
                value
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Error::config(key, format!("`{key}` in {label} must be a string")))
            };
            match (key.as_str(), value) {
                ("provider", _) => provider = Some(as_str()?),
                ("state_secret", _) => state.secret = Some(SigningKey::new(as_str()?)),
                ("state_previous_secrets", toml::Value::Array(items)) => {
                    for item in items {
                        let s = item.as_str().ok_or_else(|| {
                            Error::config(key, format!("`state_previous_secrets` in {label} must hold strings"))
                        })?;
                        state.previous.push(SigningKey::new(s));
                    }
                }
                ("state_previous_secrets", _) => state.previous = split_secrets(Some(as_str()?)),
                ("state_ttl_secs", toml::Value::Integer(secs)) => {
                    state.ttl = parse_ttl(&secs.to_string(), "state_ttl_secs")?;
                }
                ("state_accept_signed", toml::Value::Boolean(accept)) => state.accept_signed = *accept,
                ("state_accept_signed", _) => {
                    return Err(Error::config(key, format!("`state_accept_signed` in {label} must be true or false")))
                }
                ("replay_dir", _) => state.replay_dir = Some(PathBuf::from(as_str()?)),
                ("redis_url", _) => state.redis_url = Some(SecretUrl::new(as_str()?)),
                ("redis_cluster", toml::Value::Boolean(cluster)) => state.redis_cluster = *cluster,
                ("redis_cluster", _) => {
                    return Err(Error::config(key, format!("`redis_cluster` in {label} must be true or false")))
                }
                ("state_ttl_secs", _) => {
                    return Err(Error::config(key, format!("`state_ttl_secs` in {label} must be an integer")))
                }
                (name, toml::Value::Table(adapter)) => {
                    adapters.insert(name.to_owned(), adapter.clone());
                }
                (name, _) => {
                    return Err(Error::config(
                        name,
                        format!(
                        "unknown top-level key `{name}` in {label}; valid keys: {}, and one table per provider kind",
                        GLOBAL_KEYS.join(", ")
                    ),
                    ))
                }
            }
        }
        Ok(Self { provider, state, source: label.to_owned(), adapters: AdapterSource::Toml(adapters) })
    }

    /// Settings for `kind` from a flat map: the adapter's keys plus the optional
    /// `state_secret`, `state_previous_secrets` and `state_ttl_secs`.
    pub fn from_map(kind: &str, map: &HashMap<String, String>) -> Result<Self> {
        let mut adapter_map = map.clone();
        let mut state = StateSettings::empty("map");
        if let Some(secret) = adapter_map.remove("state_secret") {
            state.secret = Some(SigningKey::new(secret));
        }
        state.previous = split_secrets(adapter_map.remove("state_previous_secrets"));
        if let Some(ttl) = adapter_map.remove("state_ttl_secs") {
            state.ttl = parse_ttl(&ttl, "state_ttl_secs")?;
        }
        if let Some(accept) = adapter_map.remove("state_accept_signed") {
            state.accept_signed = parse_bool(&accept, "state_accept_signed")?;
        }
        if let Some(dir) = adapter_map.remove("replay_dir") {
            state.replay_dir = Some(PathBuf::from(dir));
        }
        state.redis_url = adapter_map.remove("redis_url").map(SecretUrl::new);
        if let Some(cluster) = adapter_map.remove("redis_cluster") {
            state.redis_cluster = parse_bool(&cluster, "redis_cluster")?;
        }
        adapter_map.remove("provider");
        let adapters = AdapterSource::Map(kind.to_owned(), adapter_map);
        Ok(Self { provider: Some(kind.to_owned()), state, source: "settings map".into(), adapters })
    }

    /// Where the settings came from (for messages).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The chosen kind, or an error saying how to choose one.
    pub fn provider_kind(&self) -> Result<&str> {
        self.provider_kind_in(&KNOWN.iter().map(|k| k.kind).collect::<Vec<_>>())
    }

    /// The chosen kind, or an error saying how to choose one of `kinds`.
    pub(crate) fn provider_kind_in(&self, kinds: &[&str]) -> Result<&str> {
        self.provider.as_deref().ok_or_else(|| {
            Error::config(
                PROVIDER_ENV,
                format!(
                    "no provider chosen in {}: set OAUTH_LINK_PROVIDER, `provider = \"...\"` in the config file, or --provider; one of: {}",
                    self.source,
                    kinds.join(", ")
                ),
            )
        })
    }

    /// The settings of `kind` (empty when the source has none). Fails when its table in a
    /// file holds a value that is not a string, number, boolean or array of strings.
    pub fn adapter(&self, kind: &'static str) -> Result<ConfigMap> {
        let empty = || ConfigMap::from_map(kind, &HashMap::new());
        match &self.adapters {
            AdapterSource::Env(vars) => Ok(ConfigMap::from_env_vars(kind, vars.iter().cloned())),
            AdapterSource::Toml(tables) => match tables.get(kind) {
                Some(table) => ConfigMap::from_toml(kind, table, &self.source),
                None => Ok(empty()),
            },
            AdapterSource::Map(name, map) if name == kind => Ok(ConfigMap::from_map(kind, map)),
            AdapterSource::Map(..) => Ok(empty()),
        }
    }

    /// The names of the file's tables (none for other sources).
    pub(crate) fn table_names(&self) -> impl Iterator<Item = &str> {
        let tables = match &self.adapters {
            AdapterSource::Toml(tables) => Some(tables.keys().map(String::as_str)),
            _ => None,
        };
        tables.into_iter().flatten()
    }

    /// The error for a table no kind of `kinds` reads.
    pub(crate) fn unknown_table(&self, name: &str, kinds: &[&str]) -> Error {
        Error::config(
            name,
            format!(
                "unknown table [{name}] in {}; tables are named by provider kind: {}",
                self.source,
                kinds.join(", ")
            ),
        )
    }
}

/// The Redis guard for `redis_url`: one server, or (`cluster`) a Redis Cluster whose seed
/// node URLs `url` lists comma-separated. Several URLs without `cluster` are refused: they
/// would be read as one malformed URL.
#[cfg(feature = "redis")]
fn redis_guard(url: &SecretUrl, cluster: bool) -> Result<Arc<dyn ReplayGuard>> {
    use oauth_link_redis::RedisReplayGuard;
    let seeds = redis_seeds(url.expose());
    let builder = match (cluster, seeds.len()) {
        (_, 0) => {
            return Err(Error::config(
                "redis_url",
                "redis_url holds no URL; set redis://[user:password@]host[:port][/db] (with redis_cluster, one or more seed node URLs, comma-separated)",
            ))
        }
        (true, _) => RedisReplayGuard::cluster_builder(&seeds),
        (false, 1) => RedisReplayGuard::builder(url.expose().trim()),
        (false, n) => {
            return Err(Error::config(
                "redis_url",
                format!("redis_url lists {n} URLs but redis_cluster is not set; set redis_cluster = true for a Redis Cluster, or keep one URL"),
            ))
        }
    };
    Ok(Arc::new(builder.connect_lazy()?))
}

/// The URLs of a comma-separated `redis_url`, trimmed, empty ones dropped. A part that
/// does not start like a URL continues the previous one (a password holding a comma;
/// `%2C` works too).
#[cfg(feature = "redis")]
fn redis_seeds(value: &str) -> Vec<String> {
    let mut seeds: Vec<String> = Vec::new();
    for part in value.split(',') {
        match seeds.last_mut() {
            Some(last) if !last.trim().is_empty() && !part.trim().is_empty() && !looks_like_url(part.trim_start()) => {
                last.push(',');
                last.push_str(part);
            }
            _ => seeds.push(part.to_owned()),
        }
    }
    seeds.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
}

/// True when `text` starts with `<scheme>://` (letters, digits, `+`, `-`, `.`).
#[cfg(feature = "redis")]
fn looks_like_url(text: &str) -> bool {
    text.split_once("://").is_some_and(|(scheme, _)| {
        !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    })
}

#[cfg(not(feature = "redis"))]
fn redis_guard(_: &SecretUrl, _: bool) -> Result<Arc<dyn ReplayGuard>> {
    Err(Error::config("redis_url", "redis_url is set but this build has no Redis support; enable the cargo feature `redis` of the `oauth-link` crate"))
}

fn split_secrets(value: Option<String>) -> Vec<SigningKey> {
    value
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(SigningKey::new).collect())
        .unwrap_or_default()
}

fn parse_bool(value: &str, origin: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(Error::config(origin, format!("{origin} must be true or false"))),
    }
}

fn parse_ttl(value: &str, origin: &str) -> Result<Duration> {
    match value.trim().parse::<u64>() {
        Ok(secs) if (1..=86_400).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(Error::config(origin, format!("{origin} must be a number of seconds between 1 and 86400"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_settings() {
        let s = Settings::from_env_vars([
            ("OAUTH_LINK_PROVIDER".to_owned(), "example".to_owned()),
            ("OAUTH_LINK_STATE_SECRET".to_owned(), "x".repeat(40)),
            ("OAUTH_LINK_STATE_TTL_SECS".to_owned(), "60".to_owned()),
            ("OAUTH_LINK_EXAMPLE_API_KEY".to_owned(), "sk_hidden_value".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ])
        .unwrap();
        assert_eq!(s.provider_kind().unwrap(), "example");
        assert!(s.adapter("example").unwrap().contains("api_key"));
        assert!(!format!("{s:?}").contains("sk_hidden_value"), "{s:?}");
        assert_eq!(s.state.ttl, Duration::from_secs(60));
        s.state.context().unwrap();
        assert!(!format!("{s:?}").contains("xxxx"), "{s:?}");
    }

    #[test]
    fn signed_states_of_earlier_builds_are_accepted_only_when_asked_for_one_ttl() {
        let secret = ("OAUTH_LINK_STATE_SECRET".to_owned(), "x".repeat(40));
        let off = Settings::from_env_vars([secret.clone()]).unwrap();
        assert!(!off.state.accept_signed);
        assert_eq!(off.state.context().unwrap().codec().signed_states_until(), None);

        let on = Settings::from_env_vars([secret, ("OAUTH_LINK_STATE_ACCEPT_SIGNED".to_owned(), "true".to_owned())])
            .unwrap();
        let until = on.state.context().unwrap().codec().signed_states_until().expect("an upgrade window");
        let ttl = chrono::Duration::from_std(on.state.ttl).unwrap();
        assert!(until <= chrono::Utc::now() + ttl && until > chrono::Utc::now() + ttl - chrono::Duration::seconds(5));

        let toml = format!("state_secret = \"{}\"\nstate_accept_signed = true\n", "y".repeat(40));
        assert!(Settings::from_toml_str(&toml, "f.toml").unwrap().state.accept_signed);
        let map = HashMap::from([("state_accept_signed".to_owned(), "yes".to_owned())]);
        assert!(Settings::from_map("example", &map).unwrap().state.accept_signed);
        let bad = Settings::from_toml_str("state_accept_signed = \"maybe\"\n", "f.toml").unwrap_err();
        assert!(bad.to_string().contains("must be true or false"), "{bad}");
        let bad = Settings::from_env_vars([("OAUTH_LINK_STATE_ACCEPT_SIGNED".to_owned(), "maybe".to_owned())]);
        assert!(bad.unwrap_err().to_string().contains("OAUTH_LINK_STATE_ACCEPT_SIGNED"));
    }

    #[test]
    fn missing_provider_and_secret_name_what_to_set() {
        let s = Settings::from_env_vars(Vec::new()).unwrap();
        assert!(s.provider_kind().unwrap_err().to_string().contains("set OAUTH_LINK_PROVIDER"));
        assert!(s.state.context().unwrap_err().to_string().contains("set OAUTH_LINK_STATE_SECRET"));
        let bad_ttl = Settings::from_env_vars([("OAUTH_LINK_STATE_TTL_SECS".to_owned(), "0".to_owned())]);
        assert!(bad_ttl.unwrap_err().to_string().contains("OAUTH_LINK_STATE_TTL_SECS"));
    }

    #[test]
    fn toml_settings_and_errors() {
        let text = format!(
            "provider = \"example\"\nstate_secret = \"{}\"\nstate_ttl_secs = 30\n[example]\nauto_approve = true\n",
            "k".repeat(32)
        );
        let s = Settings::from_toml_str(&text, "app.toml").unwrap();
        assert_eq!(s.provider.as_deref(), Some("example"));
        assert_eq!(s.state.ttl, Duration::from_secs(30));
        assert!(s.adapter("example").unwrap().contains("auto_approve"));

        let err = Settings::from_toml_str("provider = \"example\"\nstat_secret = \"x\"", "app.toml").unwrap_err();
        assert!(err.to_string().contains("unknown top-level key `stat_secret` in app.toml"), "{err}");
        // Which tables are known is the registry's business: reading the file keeps them all.
        let typo = Settings::from_toml_str("[nvou]\napi_key = \"x\"", "app.toml").unwrap();
        let err = crate::configure(&typo, None).unwrap_err();
        assert!(err.to_string().contains("unknown table [nvou] in app.toml"), "{err}");
        let bad_value = Settings::from_toml_str("[example]\nkey = { inline = 1 }", "app.toml").unwrap();
        let err = bad_value.adapter("example").unwrap_err();
        assert!(err.to_string().contains("`key` under [example] in app.toml"), "{err}");
        let err = Settings::from_toml_str("provider = ", "app.toml").unwrap_err();
        assert!(err.to_string().contains("app.toml is not valid TOML"), "{err}");
        let err = Settings::from_toml_str("provider = 3", "app.toml").unwrap_err();
        assert!(err.to_string().contains("must be a string"), "{err}");
        let no_secret = Settings::from_toml_str("provider = \"example\"", "app.toml").unwrap();
        assert!(no_secret.state.context().unwrap_err().to_string().contains("state_secret"));
    }

    #[test]
    fn redis_url_is_secret_and_exclusive_with_replay_dir() {
        let s = Settings::from_env_vars([
            ("OAUTH_LINK_REDIS_URL".to_owned(), "redis://:hunter2pass@127.0.0.1:1/0".to_owned()),
            ("OAUTH_LINK_REPLAY_DIR".to_owned(), "/tmp/x".to_owned()),
        ])
        .unwrap();
        assert!(!format!("{s:?}").contains("hunter2pass"));
        assert!(!serde_json::to_string(&s.state).unwrap().contains("hunter2pass"));
        let err = s.state.replay_guard().unwrap_err().to_string();
        assert!(err.contains("both redis_url and replay_dir"), "{err}");
        assert!(!err.contains("hunter2pass"));
        let toml = "redis_url = \"redis://127.0.0.1:1\"\n";
        assert!(Settings::from_toml_str(toml, "f.toml").unwrap().state.redis_url.is_some());
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn redis_url_builds_a_lazy_guard_that_fails_closed() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let s = Settings::from_env_vars([(
            "OAUTH_LINK_REDIS_URL".to_owned(),
            format!("redis://:pw-secret@127.0.0.1:{port}"),
        )])
        .unwrap();
        let guard = s.state.replay_guard().unwrap();
        let err = guard
            .consume(oauth_link_core::adapter::Nonce::random(), chrono::Utc::now() + chrono::Duration::minutes(5))
            .await;
        let err = err.unwrap_err();
        assert!(matches!(err, Error::ReplayGuard { .. }), "{err}");
        assert!(!err.to_string().contains("pw-secret"), "{err}");
    }

    #[test]
    fn redis_cluster_from_every_source_and_bad_values() {
        let env = |pairs: &[(&str, &str)]| {
            Settings::from_env_vars(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
        };
        let s = env(&[("OAUTH_LINK_REDIS_URL", "redis://127.0.0.1:1"), ("OAUTH_LINK_REDIS_CLUSTER", "true")]).unwrap();
        assert!(s.state.redis_cluster);
        assert!(!env(&[("OAUTH_LINK_REDIS_CLUSTER", "0")]).unwrap().state.redis_cluster);
        let err = env(&[("OAUTH_LINK_REDIS_CLUSTER", "maybe")]).unwrap_err();
        assert!(matches!(&err, Error::Config { key, .. } if key == "OAUTH_LINK_REDIS_CLUSTER"), "{err}");
        assert!(err.to_string().contains("true or false"), "{err}");

        let toml = "redis_url = \"redis://127.0.0.1:1,redis://127.0.0.1:2\"\nredis_cluster = true\n";
        assert!(Settings::from_toml_str(toml, "f.toml").unwrap().state.redis_cluster);
        let err = Settings::from_toml_str("redis_cluster = \"yes\"", "f.toml").unwrap_err();
        assert!(matches!(&err, Error::Config { key, .. } if key == "redis_cluster"), "{err}");
        assert!(err.to_string().contains("`redis_cluster` in f.toml must be true or false"), "{err}");
        let err = Settings::from_toml_str("redis_clustr = true", "f.toml").unwrap_err();
        assert!(err.to_string().contains("redis_url, redis_cluster"), "{err}");

        let mut map = HashMap::new();
        map.insert("redis_cluster".to_owned(), "yes".to_owned());
        let s = Settings::from_map("example", &map).unwrap();
        assert!(s.state.redis_cluster && !s.adapter("example").unwrap().contains("redis_cluster"));
        map.insert("redis_cluster".to_owned(), "2".to_owned());
        let err = Settings::from_map("example", &map).unwrap_err();
        assert!(matches!(&err, Error::Config { key, .. } if key == "redis_cluster"), "{err}");
    }

    #[test]
    fn redis_cluster_bad_combinations_are_config_errors() {
        let state = |url: Option<&str>, cluster: bool, dir: Option<&str>| {
            let mut state = StateSettings::empty("map");
            state.redis_url = url.map(SecretUrl::new);
            state.redis_cluster = cluster;
            state.replay_dir = dir.map(PathBuf::from);
            state
        };
        let config_error = |state: StateSettings| match state.replay_guard() {
            Err(err @ Error::Config { .. }) => {
                let text = format!("{err} {err:?} {state:?}");
                assert!(!text.contains("hunter2pass"), "{text}");
                err
            }
            Err(other) => panic!("expected a config error, got {other}"),
            Ok(guard) => panic!("expected a config error, got {guard:?}"),
        };
        let err = config_error(state(None, true, None));
        assert!(matches!(&err, Error::Config { key, .. } if key == "redis_cluster"), "{err}");
        assert!(err.to_string().contains("redis_cluster is set but redis_url is not"), "{err}");
        let err = config_error(state(Some("redis://:hunter2pass@127.0.0.1:1"), true, Some("/tmp/x")));
        assert!(err.to_string().contains("both redis_url and replay_dir"), "{err}");
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn redis_seed_lists() {
        assert_eq!(
            redis_seeds(" redis://a:1 , redis://b:2,,rediss://c:3 "),
            ["redis://a:1", "redis://b:2", "rediss://c:3"]
        );
        // A comma in a password stays in its URL.
        assert_eq!(redis_seeds("redis://:pa,ss@a:1,redis://:pa,ss@b:2"), ["redis://:pa,ss@a:1", "redis://:pa,ss@b:2"]);
        assert!(redis_seeds(" , ").is_empty());

        let state = |url: &str, cluster: bool| {
            let mut state = StateSettings::empty("env");
            state.redis_url = Some(SecretUrl::new(url));
            state.redis_cluster = cluster;
            state.replay_guard()
        };
        for (url, cluster, expected) in [
            (" , ", true, "redis_url holds no URL"),
            ("", false, "redis_url holds no URL"),
            ("redis://:hunter2pass@127.0.0.1:1,redis://:hunter2pass@127.0.0.1:2", false, "set redis_cluster = true"),
            ("redis://:hunter2pass@127.0.0.1:1,redis://:other-pass@127.0.0.1:2", true, "different password"),
            ("redis+unix:///tmp/redis.sock?pass=hunter2pass", true, "unix socket"),
        ] {
            let err = state(url, cluster).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(matches!(&err, Error::Config { key, .. } if key == "redis_url"), "{url}: {text}");
            assert!(text.contains(expected), "{url}: {text}");
            assert!(!text.contains("hunter2pass") && !text.contains("other-pass"), "{text}");
        }
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn redis_cluster_builds_a_lazy_cluster_guard_that_fails_closed() {
        let free_port = || {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let (a, b) = (free_port(), free_port());
        let s = Settings::from_env_vars([
            (
                "OAUTH_LINK_REDIS_URL".to_owned(),
                format!("redis://:pw-secret@127.0.0.1:{a}, redis://:pw-secret@127.0.0.1:{b}"),
            ),
            ("OAUTH_LINK_REDIS_CLUSTER".to_owned(), "true".to_owned()),
        ])
        .unwrap();
        assert!(!format!("{s:?}").contains("pw-secret"), "{s:?}");
        let guard = s.state.replay_guard().unwrap();
        let printed = format!("{guard:?}");
        assert!(printed.contains("cluster: true") && !printed.contains("pw-secret"), "{printed}");
        let started = std::time::Instant::now();
        let err = guard
            .consume(oauth_link_core::adapter::Nonce::random(), chrono::Utc::now() + chrono::Duration::minutes(5))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
        let text = format!("{err} {err:?}");
        assert!(matches!(err, Error::ReplayGuard { .. }), "{text}");
        assert!(text.contains("Redis Cluster at redis://:***@127.0.0.1:"), "{text}");
        assert!(text.contains(&format!("127.0.0.1:{a}")) && text.contains(&format!("127.0.0.1:{b}")), "{text}");
        assert!(!text.contains("pw-secret"), "{text}");
        assert!(err.is_retryable());
    }

    #[test]
    fn map_settings_split_state_keys_from_adapter_keys() {
        let mut map = HashMap::new();
        map.insert("state_secret".to_owned(), "s".repeat(32));
        map.insert("auto_approve".to_owned(), "true".to_owned());
        let s = Settings::from_map("example", &map).unwrap();
        let adapter = s.adapter("example").unwrap();
        assert!(adapter.contains("auto_approve") && !adapter.contains("state_secret"));
        assert!(!s.adapter("other").unwrap().contains("auto_approve"));
        assert!(matches!(crate::from_map("nope", &map).unwrap_err(), Error::UnknownProvider { .. }));
    }
}
