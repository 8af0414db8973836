//! Settings of the Junction adapter.

use std::fmt;

use oauth_link_core::config::{http_url, AdapterConfig};
use oauth_link_core::{
    adapter::{validate_redirect_uri, CommonConfig, ConfigMap},
    ApiKey, Result, SigningKey, Url,
};
use serde::{Deserialize, Serialize};

use crate::KIND;

/// Default size of the in-memory `client_user_id -> user_id` map (core's
/// [`UserMap`](oauth_link_core::adapter::UserMap) capacity).
pub const DEFAULT_USER_CACHE_CAPACITY: usize = oauth_link_core::adapter::DEFAULT_USER_CAPACITY;

/// Junction environment: production or sandbox (sandbox keys start with `sk_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    /// Live data (`pk_*` keys).
    #[default]
    Production,
    /// Test data, at most 50 users per team (`sk_*` keys).
    Sandbox,
}

/// Junction region: where the team's data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    /// United States.
    #[default]
    Us,
    /// European Union.
    Eu,
}

impl Environment {
    /// The configuration value (`production`, `sandbox`).
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Sandbox => "sandbox",
        }
    }
}

impl Region {
    /// The configuration value (`us`, `eu`).
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
        }
    }
}

/// The documented API host of an environment and region.
///
/// | environment | region | host |
/// |---|---|---|
/// | production | us | `https://api.us.junction.com` |
/// | production | eu | `https://api.eu.junction.com` |
/// | sandbox | us | `https://api.sandbox.us.junction.com` |
/// | sandbox | eu | `https://api.sandbox.eu.junction.com` |
pub fn default_base_url(environment: Environment, region: Region) -> Url {
    let host = match (environment, region) {
        (Environment::Production, Region::Us) => "https://api.us.junction.com",
        (Environment::Production, Region::Eu) => "https://api.eu.junction.com",
        (Environment::Sandbox, Region::Us) => "https://api.sandbox.us.junction.com",
        (Environment::Sandbox, Region::Eu) => "https://api.sandbox.eu.junction.com",
    };
    Url::parse(host).expect("static URL")
}

/// What [`LinkRequest::user`](oauth_link_core::LinkRequest::user) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserMapping {
    /// `user` is the app's own id (Junction's `client_user_id`). The adapter resolves it
    /// with `GET /v2/user/resolve/{client_user_id}`, creates the Junction user with
    /// `POST /v2/user` when there is none, and caches the mapping in memory.
    #[default]
    ClientUserId,
    /// `user` already is Junction's `user_id` (a UUID): no extra call.
    JunctionUserId,
}

impl UserMapping {
    /// The configuration value.
    pub fn as_str(self) -> &'static str {
        match self {
            UserMapping::ClientUserId => "client_user_id",
            UserMapping::JunctionUserId => "junction_user_id",
        }
    }
}

/// Settings of the Junction adapter: the field names are the keys (read with
/// [`AdapterConfig::from_config`]). `Debug` and `Serialize` never show the API key or the
/// webhook secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JunctionConfig {
    /// Team API key, sent as `x-vital-api-key`.
    pub api_key: ApiKey,
    /// Production or sandbox (picks the default host); unset, the key's prefix decides.
    #[serde(default)]
    pub environment: Environment,
    /// US or EU (picks the default host); unset, the key's prefix decides.
    #[serde(default)]
    pub region: Region,
    /// Where Junction sends the browser back when the request names none (Junction's
    /// `redirect_url`; the key is `redirect_uri` as on every adapter, `redirect_url` is
    /// accepted as an alias).
    #[serde(alias = "redirect_url", default, deserialize_with = "http_url")]
    pub redirect_uri: Option<Url>,
    /// What `LinkRequest::user` means.
    #[serde(default)]
    pub user_mapping: UserMapping,
    /// Most `client_user_id -> user_id` mappings kept in memory (the capacity of the
    /// adapter's [`UserMap`](oauth_link_core::adapter::UserMap); each is kept for
    /// [`DEFAULT_USER_TTL`](oauth_link_core::adapter::DEFAULT_USER_TTL); 0 keeps none).
    #[serde(default = "default_user_cache_capacity")]
    pub user_cache_capacity: usize,
    /// The webhook endpoint's Svix signing secrets (`whsec_...`, a comma list: the new and
    /// the old during a rotation), accepted by [`JunctionConfig::webhook_verifier`]. The key
    /// is `webhook_secret`; `webhook_secrets` is accepted as an alias.
    #[serde(rename = "webhook_secret", alias = "webhook_secrets", default)]
    pub webhook_secrets: Vec<SigningKey>,
    /// Base URL override, timeouts, retries, polling (the shared keys).
    #[serde(skip)]
    pub common: CommonConfig,
}

fn default_user_cache_capacity() -> usize {
    DEFAULT_USER_CACHE_CAPACITY
}

impl AdapterConfig for JunctionConfig {
    fn common(&self) -> &CommonConfig {
        &self.common
    }

    fn common_mut(&mut self) -> &mut CommonConfig {
        &mut self.common
    }

    fn finish(&mut self, map: &ConfigMap) -> Result<()> {
        let (key_environment, key_region) = infer_from_key(self.api_key.expose());
        if !map.contains("environment") {
            self.environment = key_environment.unwrap_or_default();
        }
        if !map.contains("region") {
            self.region = key_region.unwrap_or_default();
        }
        if let Some(url) = &self.redirect_uri {
            let key = if map.contains("redirect_uri") { "redirect_uri" } else { "redirect_url" };
            validate_redirect_uri(KIND, url).map_err(|e| map.invalid(key, format_args!("is refused: {e}")))?;
        }
        if !self.webhook_secrets.is_empty() {
            // Fail at start-up, not at the first delivery.
            self.webhook_verifier()?;
        }
        Ok(())
    }
}

impl JunctionConfig {
    /// Production US settings for `api_key`, with every other setting at its default.
    pub fn new(api_key: impl Into<ApiKey>) -> Self {
        Self {
            api_key: api_key.into(),
            environment: Environment::default(),
            region: Region::default(),
            redirect_uri: None,
            user_mapping: UserMapping::default(),
            user_cache_capacity: DEFAULT_USER_CACHE_CAPACITY,
            webhook_secrets: Vec::new(),
            common: CommonConfig::default(),
        }
    }

    /// Sets the environment.
    pub fn with_environment(mut self, environment: Environment) -> Self {
        self.environment = environment;
        self
    }

    /// Sets the region.
    pub fn with_region(mut self, region: Region) -> Self {
        self.region = region;
        self
    }

    /// Sets the default redirect URI.
    pub fn with_redirect_uri(mut self, redirect_uri: Url) -> Self {
        self.redirect_uri = Some(redirect_uri);
        self
    }

    /// The old name of [`JunctionConfig::with_redirect_uri`].
    #[deprecated(since = "0.1.0", note = "use with_redirect_uri: one name on every adapter")]
    pub fn with_redirect_url(self, redirect_url: Url) -> Self {
        self.with_redirect_uri(redirect_url)
    }

    /// Sets the user mapping.
    pub fn with_user_mapping(mut self, user_mapping: UserMapping) -> Self {
        self.user_mapping = user_mapping;
        self
    }

    /// Sets the user-mapping cache size (0 disables the cache).
    pub fn with_user_cache_capacity(mut self, capacity: usize) -> Self {
        self.user_cache_capacity = capacity;
        self
    }

    /// Adds a webhook signing secret (`whsec_...`).
    pub fn with_webhook_secret(mut self, secret: impl Into<SigningKey>) -> Self {
        self.webhook_secrets.push(secret.into());
        self
    }

    /// The API address: `base_url` when set, else the documented host of
    /// environment and region.
    pub fn base_url(&self) -> Url {
        self.common.base_url.clone().unwrap_or_else(|| default_base_url(self.environment, self.region))
    }

    /// A verifier (core's) for the configured webhook secrets.
    ///
    /// Errors: [`Error::Config`](oauth_link_core::Error::Config) (key `webhook_secret`) when
    /// none is configured or one is not `whsec_` base64.
    pub fn webhook_verifier(&self) -> Result<oauth_link_core::webhook::WebhookVerifier> {
        crate::webhook::verifier(self.webhook_secrets.iter().map(|s| s.expose()))
    }
}

/// Environment and region implied by a documented key prefix (`pk_us_`, `pk_eu_`,
/// `sk_us_`, `sk_eu_`); used only for settings that were not given.
pub fn infer_from_key(key: &str) -> (Option<Environment>, Option<Region>) {
    let environment = if key.starts_with("pk_") {
        Some(Environment::Production)
    } else if key.starts_with("sk_") {
        Some(Environment::Sandbox)
    } else {
        None
    };
    let region = match key.get(3..6) {
        Some("us_") if environment.is_some() => Some(Region::Us),
        Some("eu_") if environment.is_some() => Some(Region::Eu),
        _ => None,
    };
    (environment, region)
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use oauth_link_core::config::AdapterConfig;
    use oauth_link_core::Error;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ConfigMap::from_map(KIND, &m)
    }

    #[test]
    fn the_four_documented_hosts() {
        let cases = [
            ("production", "us", "https://api.us.junction.com/"),
            ("production", "eu", "https://api.eu.junction.com/"),
            ("sandbox", "us", "https://api.sandbox.us.junction.com/"),
            ("sandbox", "eu", "https://api.sandbox.eu.junction.com/"),
        ];
        for (env, region, host) in cases {
            let c =
                JunctionConfig::from_config(map(&[("api_key", "k_1234"), ("environment", env), ("region", region)]))
                    .unwrap();
            assert_eq!(c.base_url().as_str(), host, "{env}/{region}");
        }
        let c = JunctionConfig::from_config(map(&[("api_key", "k_1234")])).unwrap();
        assert_eq!(c.base_url().as_str(), "https://api.us.junction.com/");
    }

    #[test]
    fn base_url_overrides_environment_and_region() {
        let c = JunctionConfig::from_config(map(&[
            ("api_key", "k"),
            ("environment", "sandbox"),
            ("region", "eu"),
            ("base_url", "http://127.0.0.1:9/junction"),
        ]))
        .unwrap();
        assert_eq!(c.base_url().as_str(), "http://127.0.0.1:9/junction");
    }

    #[test]
    fn key_prefix_picks_unset_environment_and_region() {
        let c = JunctionConfig::from_config(map(&[("api_key", "sk_eu_abcdef")])).unwrap();
        assert_eq!((c.environment, c.region), (Environment::Sandbox, Region::Eu));
        let c = JunctionConfig::from_config(map(&[("api_key", "pk_eu_abcdef"), ("region", "us")])).unwrap();
        assert_eq!((c.environment, c.region), (Environment::Production, Region::Us));
        assert_eq!(infer_from_key("whatever"), (None, None));
        assert_eq!(infer_from_key("sk_xx_1"), (Some(Environment::Sandbox), None));
    }

    #[test]
    fn every_key_is_read_and_checked() {
        let c = JunctionConfig::from_config(map(&[
            ("api_key", "k"),
            ("redirect_uri", "https://app.example.com/junction/done"),
            ("user_mapping", "junction_user_id"),
            ("user_cache_capacity", "5"),
            ("webhook_secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, whsec_c2VjcmV0LXR3bw=="),
            ("poll_timeout_ms", "50"),
        ]))
        .unwrap();
        assert_eq!(c.user_mapping, UserMapping::JunctionUserId);
        assert_eq!(c.user_cache_capacity, 5);
        assert_eq!(c.webhook_secrets.len(), 2);
        assert_eq!(c.redirect_uri.unwrap().as_str(), "https://app.example.com/junction/done");
        // Junction's own word is an alias; both at once is a mistake.
        let alias =
            JunctionConfig::from_config(map(&[("api_key", "k"), ("redirect_url", "https://a.example/cb")])).unwrap();
        assert_eq!(alias.redirect_uri.unwrap().as_str(), "https://a.example/cb");
        let both = [("api_key", "k"), ("redirect_uri", "https://a.example/1"), ("redirect_url", "https://a.example/2")];
        let err = JunctionConfig::from_config(map(&both)).unwrap_err();
        assert!(matches!(err, Error::Config { ref key, .. } if key == "key `redirect_uri`"), "{err}");
        assert!(err.to_string().contains("set twice"), "{err}");

        let err = JunctionConfig::from_config(map(&[("api_key", "k"), ("colour", "blue")])).unwrap_err();
        assert!(err.to_string().contains("unknown setting key `colour`"), "{err}");
        let err = JunctionConfig::from_config(map(&[])).unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
        let err = JunctionConfig::from_config(map(&[("api_key", "k"), ("region", "mars")])).unwrap_err();
        assert!(err.to_string().contains("one of: us, eu"), "{err}");
        let err = JunctionConfig::from_config(map(&[("api_key", "k"), ("redirect_uri", "http://app.example.com/cb")]))
            .unwrap_err();
        assert!(matches!(err, Error::Config { ref key, .. } if key == "key `redirect_uri`"), "{err}");
        let err = JunctionConfig::from_config(map(&[("api_key", "k"), ("webhook_secret", "not-base64!")])).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err}");
        // The old key still reads, as an alias; both at once is a mistake.
        let old = JunctionConfig::from_config(map(&[("api_key", "k"), ("webhook_secrets", "whsec_c2VjcmV0LXR3bw==")]))
            .unwrap();
        assert_eq!(old.webhook_verifier().unwrap().secrets(), 1);
        let both = [
            ("api_key", "k"),
            ("webhook_secret", "whsec_c2VjcmV0LXR3bw=="),
            ("webhook_secrets", "whsec_c2VjcmV0LXR3bw=="),
        ];
        let err = JunctionConfig::from_config(map(&both)).unwrap_err();
        assert!(err.to_string().contains("set twice"), "{err}");
        let none = JunctionConfig::from_config(map(&[("api_key", "k")])).unwrap();
        let err = none.webhook_verifier().unwrap_err();
        assert!(matches!(err, Error::Config { ref key, .. } if key == "webhook_secret"), "{err}");
        let err = JunctionConfig::from_config(map(&[("api_key", "k"), ("user_mapping", "email")])).unwrap_err();
        assert!(err.to_string().contains("client_user_id, junction_user_id"), "{err}");
    }

    #[test]
    fn no_secret_in_debug_or_serialized_config() {
        let c = JunctionConfig::from_config(map(&[
            ("api_key", "sk_us_topsecretkey"),
            ("webhook_secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ]))
        .unwrap();
        let debug = format!("{c:?}");
        let json = c.settings().to_string();
        for text in [&debug, &json] {
            assert!(!text.contains("topsecretkey"), "{text}");
            assert!(!text.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), "{text}");
        }
        assert!(json.contains("\"environment\":\"sandbox\""), "{json}");
    }

    #[test]
    fn the_enums_read_as_they_print() {
        let c = JunctionConfig::from_config(map(&[
            ("api_key", "k"),
            ("environment", "sandbox"),
            ("region", "eu"),
            ("user_mapping", "client_user_id"),
        ]))
        .unwrap();
        assert_eq!(c.environment.to_string(), "sandbox");
        assert_eq!(c.region.to_string(), "eu");
        assert_eq!(c.user_mapping.as_str(), "client_user_id");
        for key in ["environment", "region", "user_mapping"] {
            let err = JunctionConfig::from_config(map(&[("api_key", "k"), (key, "x")])).unwrap_err();
            assert!(matches!(err, Error::Config { .. }) && err.to_string().contains(key), "{key}: {err}");
        }
    }
}
