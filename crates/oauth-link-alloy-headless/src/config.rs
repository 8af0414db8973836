//! Settings of the Alloy headless adapter.

use std::time::Duration;

use oauth_link_alloy::{UserIdMode, DEFAULT_API_VERSION, DEFAULT_CLOCK_SKEW};
use oauth_link_core::config::millis;
use oauth_link_core::{
    adapter::{CommonConfig, ConfigMap},
    ApiKey, Result,
};
use serde::{Deserialize, Serialize};

/// How long an app's credential metadata is reused by default: it describes the app (OAuth
/// or not, which properties it needs), which changes with Alloy's catalogue, not per user.
pub const DEFAULT_METADATA_TTL: Duration = Duration::from_secs(300);

/// Settings of [`AlloyHeadlessProvider`](crate::AlloyHeadlessProvider).
///
/// The field names are the keys (read with [`AdapterConfig::from_config`](oauth_link_core::config::AdapterConfig::from_config)). `Debug` and
/// `Serialize` never show the API key (it prints and serializes as `[redacted]`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlloyHeadlessConfig {
    /// Alloy API key, sent as `Authorization: bearer <key>`.
    pub api_key: ApiKey,
    /// Value of the `x-api-version` header (default `2025-09`).
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// What `LinkRequest::user` is: the app's own id (`app`, default: the adapter finds or
    /// creates the Alloy user whose `username` it is) or an Alloy `userId` (`platform`).
    #[serde(default)]
    pub user_id_mode: UserIdMode,
    /// Read `GET /metadata/credentials/{app}` before each link to check the app is OAuth
    /// and that every required property was passed (default true).
    #[serde(default = "yes")]
    pub check_metadata: bool,
    /// How long an app's metadata, once read for that check, is reused before it is read
    /// again (default 5 minutes; zero reads it before every link). Failed reads are never
    /// kept.
    #[serde(rename = "metadata_ttl_ms", with = "millis", default = "default_metadata_ttl")]
    pub metadata_ttl: Duration,
    /// How long before the link was issued a credential may have been created and still be
    /// taken as the one the link produced, for states issued without a watermark (by an
    /// older version; default 60 s).
    #[serde(rename = "clock_skew_ms", with = "millis", default = "default_clock_skew")]
    pub clock_skew: Duration,
    /// Base URL, timeouts, retries and polling (the shared keys).
    #[serde(skip)]
    pub common: CommonConfig,
}

fn default_api_version() -> String {
    DEFAULT_API_VERSION.to_owned()
}

fn yes() -> bool {
    true
}

fn default_metadata_ttl() -> Duration {
    DEFAULT_METADATA_TTL
}

fn default_clock_skew() -> Duration {
    DEFAULT_CLOCK_SKEW
}

oauth_link_core::adapter_config!(
    AlloyHeadlessConfig,
    fn finish(&mut self, map: &ConfigMap) -> Result<()> {
        oauth_link_alloy::check_api_version(&self.api_version)
            .map_err(|e| map.invalid("api_version", format_args!("is refused: {e}")))
    }
);

impl AlloyHeadlessConfig {
    /// Settings with `api_key` and every default.
    pub fn new(api_key: impl Into<ApiKey>) -> Self {
        Self {
            api_key: api_key.into(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            user_id_mode: UserIdMode::App,
            check_metadata: true,
            metadata_ttl: DEFAULT_METADATA_TTL,
            clock_skew: DEFAULT_CLOCK_SKEW,
            common: CommonConfig::default(),
        }
    }

    /// Sets the API version header value.
    pub fn with_api_version(mut self, version: impl Into<String>) -> Self {
        self.api_version = version.into();
        self
    }

    /// Sets what `LinkRequest::user` is (the app's id, or an Alloy `userId`).
    pub fn with_user_id_mode(mut self, mode: UserIdMode) -> Self {
        self.user_id_mode = mode;
        self
    }

    /// Turns the metadata check before each link on or off.
    pub fn with_check_metadata(mut self, check: bool) -> Self {
        self.check_metadata = check;
        self
    }

    /// Sets how long an app's metadata is reused (zero: read before every link).
    pub fn with_metadata_ttl(mut self, ttl: Duration) -> Self {
        self.metadata_ttl = ttl;
        self
    }

    /// Sets the clock skew tolerance.
    pub fn with_clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth_link_core::config::AdapterConfig;
    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        ConfigMap::from_pairs(crate::KIND, pairs)
    }

    #[test]
    fn reads_every_key() {
        let c = AlloyHeadlessConfig::from_config(map(&[
            ("api_key", "sk_headless_secret"),
            ("base_url", "https://embedded.runalloy.com"),
            ("api_version", "2024-03"),
            ("user_id_mode", "platform"),
            ("check_metadata", "false"),
            ("metadata_ttl_ms", "0"),
            ("clock_skew_ms", "1500"),
            ("poll_timeout_ms", "20"),
        ]))
        .unwrap();
        assert_eq!(c.api_key.expose(), "sk_headless_secret");
        assert_eq!(c.api_version, "2024-03");
        assert_eq!(c.user_id_mode, UserIdMode::Platform);
        assert!(!c.check_metadata);
        assert_eq!(c.metadata_ttl, Duration::ZERO);
        assert_eq!(c.clock_skew, Duration::from_millis(1500));
        assert_eq!(c.common.poll.timeout, Duration::from_millis(20));
        assert_eq!(c.common.base_url.unwrap().host_str(), Some("embedded.runalloy.com"));
    }

    #[test]
    fn defaults_missing_and_unknown_keys() {
        let c = AlloyHeadlessConfig::from_config(map(&[("api_key", "k")])).unwrap();
        assert_eq!((c.api_version.as_str(), c.check_metadata, c.clock_skew), ("2025-09", true, DEFAULT_CLOCK_SKEW));
        assert_eq!(c.metadata_ttl, DEFAULT_METADATA_TTL);
        assert_eq!(c.user_id_mode, UserIdMode::App);
        let err = AlloyHeadlessConfig::from_config(map(&[("api_key", "k"), ("user_id_mode", "alloy")])).unwrap_err();
        assert!(err.to_string().contains("user_id_mode"), "{err}");
        let err = AlloyHeadlessConfig::from_config(map(&[])).unwrap_err().to_string();
        assert!(err.contains("api_key"), "{err}");
        let err = AlloyHeadlessConfig::from_config(map(&[("api_key", "k"), ("chek_metadata", "1")])).unwrap_err();
        assert!(err.to_string().contains("chek_metadata"), "{err}");
        let err = AlloyHeadlessConfig::from_config(map(&[("api_key", "k"), ("api_version", "20 25")])).unwrap_err();
        assert!(err.to_string().contains("api_version"), "{err}");
        assert!(AlloyHeadlessConfig::from_config(map(&[("api_key", "k"), ("check_metadata", "maybe")])).is_err());
    }

    #[test]
    fn secret_never_shows() {
        let c = AlloyHeadlessConfig::new("sk_headless_secret");
        let json = c.settings();
        assert!(!format!("{c:?}").contains("sk_headless_secret"));
        assert!(!json.to_string().contains("sk_headless_secret"));
        insta::assert_json_snapshot!(json);
    }
}
