//! Settings of the Novu adapter.

use std::time::Duration;

use oauth_link_core::config::millis;
use oauth_link_core::{
    adapter::{validate_id, CommonConfig, ConfigMap},
    ApiKey, Result, Url,
};
use serde::{Deserialize, Serialize};

use crate::KIND;

/// Default tolerance between Novu's clock and the app's, used only to complete a state issued
/// before watermarks (an earlier version of the adapter).
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// The Novu Cloud region the adapter talks to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NovuRegion {
    /// `https://api.novu.co` (the default).
    #[default]
    Us,
    /// `https://eu.api.novu.co`.
    Eu,
}

impl NovuRegion {
    /// The region's name as configured (`us`, `eu`).
    pub fn as_str(self) -> &'static str {
        match self {
            NovuRegion::Us => "us",
            NovuRegion::Eu => "eu",
        }
    }

    /// The region's API address.
    pub fn base_url(self) -> Url {
        let url = match self {
            NovuRegion::Us => "https://api.novu.co",
            NovuRegion::Eu => "https://eu.api.novu.co",
        };
        Url::parse(url).expect("static URL")
    }
}

/// Configuration of [`NovuProvider`](crate::NovuProvider).
///
/// Build it with [`NovuConfig::new`] and the `with_*` methods (the shared ones come from
/// [`AdapterConfig`](oauth_link_core::config::AdapterConfig)), or read it from a [`ConfigMap`] (env, TOML, map) with
/// [`AdapterConfig::from_config`](oauth_link_core::config::AdapterConfig::from_config): the field names are the keys. `Debug` and `Serialize`
/// never show the API key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NovuConfig {
    /// Novu secret key, sent as `Authorization: ApiKey <key>`.
    pub api_key: ApiKey,
    /// Cloud region; ignored when `common.base_url` is set.
    #[serde(default)]
    pub region: NovuRegion,
    /// Integration used when a request's target is `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_identifier: Option<String>,
    /// Whether `list_connections` also lists the subscriber's channel connections.
    #[serde(default)]
    pub include_channel_connections: bool,
    /// How much earlier than the link's issue time a new record's `createdAt` may be, for a
    /// state that carries no watermark (issued by an earlier version); newer states compare
    /// against Novu's own timestamps only.
    #[serde(rename = "clock_skew_ms", with = "millis", default = "default_clock_skew")]
    pub clock_skew: Duration,
    /// Base URL override, timeouts, retries, polling (the shared keys).
    #[serde(skip)]
    pub common: CommonConfig,
}

fn default_clock_skew() -> Duration {
    DEFAULT_CLOCK_SKEW
}

oauth_link_core::adapter_config!(
    NovuConfig,
    fn finish(&mut self, map: &ConfigMap) -> Result<()> {
        match &self.integration_identifier {
            Some(id) => validate_id(KIND, "integration_identifier", id)
                .map_err(|e| map.invalid("integration_identifier", format!("is not a valid identifier: {e}"))),
            None => Ok(()),
        }
    }
);

impl NovuConfig {
    /// A configuration for the US region with default settings.
    pub fn new(api_key: impl Into<ApiKey>) -> Self {
        Self {
            api_key: api_key.into(),
            region: NovuRegion::Us,
            integration_identifier: None,
            include_channel_connections: false,
            clock_skew: DEFAULT_CLOCK_SKEW,
            common: CommonConfig::default(),
        }
    }

    /// Sets the region.
    pub fn with_region(mut self, region: NovuRegion) -> Self {
        self.region = region;
        self
    }

    /// Sets the integration used for requests whose target is `default`.
    pub fn with_integration_identifier(mut self, identifier: impl Into<String>) -> Self {
        self.integration_identifier = Some(identifier.into());
        self
    }

    /// Makes `list_connections` list channel connections too.
    pub fn with_include_channel_connections(mut self, include: bool) -> Self {
        self.include_channel_connections = include;
        self
    }

    /// Sets the clock skew tolerance used to confirm a state that carries no watermark.
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// The address requests go to: `base_url` when set, else the region's.
    pub fn base_url(&self) -> Url {
        self.common.base_url.clone().unwrap_or_else(|| self.region.base_url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth_link_core::config::AdapterConfig;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        ConfigMap::from_pairs(KIND, pairs)
    }

    #[test]
    fn regions_have_their_documented_hosts() {
        let us = NovuConfig::new("sk_test_secret_key");
        assert_eq!(us.base_url().as_str(), "https://api.novu.co/");
        let eu = NovuConfig::new("sk_test_secret_key").with_region(NovuRegion::Eu);
        assert_eq!(eu.base_url().as_str(), "https://eu.api.novu.co/");
        let custom = eu.with_base_url(Url::parse("http://127.0.0.1:9/novu").unwrap());
        assert_eq!(custom.base_url().as_str(), "http://127.0.0.1:9/novu", "base_url overrides the region");
    }

    #[test]
    fn from_config_reads_every_key() {
        let c = NovuConfig::from_config(map(&[
            ("api_key", "sk_test_secret_key"),
            ("region", "EU"),
            ("integration_identifier", "slack-main"),
            ("include_channel_connections", "true"),
            ("clock_skew_ms", "5000"),
            ("poll_timeout_ms", "100"),
            ("max_retries", "1"),
        ]))
        .unwrap();
        assert_eq!(c.api_key.expose(), "sk_test_secret_key");
        assert_eq!(c.region, NovuRegion::Eu);
        assert_eq!(c.base_url().as_str(), "https://eu.api.novu.co/");
        assert_eq!(c.integration_identifier.as_deref(), Some("slack-main"));
        assert!(c.include_channel_connections);
        assert_eq!(c.clock_skew, Duration::from_secs(5));
        assert_eq!(c.common.poll.timeout, Duration::from_millis(100));
        assert_eq!(c.common.retry.max_retries, 1);

        let d = NovuConfig::from_config(map(&[("api_key", "k")])).unwrap();
        assert_eq!(d.region, NovuRegion::Us);
        assert!(!d.include_channel_connections);
        assert_eq!(d.clock_skew, DEFAULT_CLOCK_SKEW);
    }

    #[test]
    fn from_config_errors_name_the_key() {
        let err = NovuConfig::from_config(map(&[])).unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
        let err = NovuConfig::from_config(map(&[("api_key", "k"), ("regoin", "eu")])).unwrap_err();
        assert!(err.to_string().contains("regoin"), "{err}");
        let err = NovuConfig::from_config(map(&[("api_key", "k"), ("region", "ap")])).unwrap_err();
        assert!(err.to_string().contains("one of: us, eu"), "{err}");
        let err =
            NovuConfig::from_config(map(&[("api_key", "k"), ("include_channel_connections", "perhaps")])).unwrap_err();
        assert!(err.to_string().contains("true or false"), "{err}");
        let err = NovuConfig::from_config(map(&[("api_key", "k"), ("integration_identifier", "a\u{7}b")])).unwrap_err();
        assert!(err.to_string().contains("integration_identifier"), "{err}");
        let env = ConfigMap::from_env_vars(KIND, [("OAUTH_LINK_NOVU_REGION".to_string(), "eu".to_string())]);
        let err = NovuConfig::from_config(env).unwrap_err();
        assert!(err.to_string().contains("OAUTH_LINK_NOVU_API_KEY"), "{err}");
    }

    #[test]
    fn debug_and_serialize_hide_the_key() {
        let c = NovuConfig::new("sk_test_secret_key").with_integration_identifier("slack-main");
        let debug = format!("{c:?}");
        assert!(!debug.contains("sk_test_secret_key") && debug.contains("[redacted]"), "{debug}");
        let json = c.settings();
        assert_eq!(json["api_key"], "[redacted]");
        assert_eq!(json["region"], "us");
        assert_eq!(json["clock_skew_ms"], 60000);
        assert_eq!(json["poll_timeout_ms"], 10000);
        assert!(!json.to_string().contains("sk_test_secret_key"));
    }
}
