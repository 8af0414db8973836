//! Settings of the Alloy Connectivity adapter.

use std::time::Duration;

use oauth_link_alloy::{UserIdMode, DEFAULT_API_VERSION, DEFAULT_CLOCK_SKEW};
use oauth_link_core::config::{absolute_url, millis};
use oauth_link_core::{
    adapter::{validate_id, validate_redirect_uri, CommonConfig, ConfigMap},
    ApiKey, Error, Result, Url,
};
use serde::{Deserialize, Serialize};

use crate::KIND;

/// How `complete_callback` confirms the new credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackMode {
    /// List the connector's credentials for the user and take the one the link created
    /// (documented by Alloy; the default).
    #[default]
    List,
    /// Post the callback's `code` and `state` to
    /// `POST /connectors/{connectorId}/credentials/callback` (described only by a community
    /// guide; unconfirmed). Sent exactly once, never retried.
    Exchange,
}

/// Settings of [`AlloyConnectorsProvider`](crate::AlloyConnectorsProvider).
///
/// The field names are the keys (read with [`AdapterConfig::from_config`](oauth_link_core::config::AdapterConfig::from_config)). `Debug` and
/// `Serialize` never show the API key.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AlloyConnectorsConfig {
    /// Alloy API key, sent as `Authorization: bearer <key>`.
    pub api_key: ApiKey,
    /// Value of the `x-api-version` header (default `2025-09`).
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// What `LinkRequest::user` is: the app's own id (`app`, default: the adapter finds or
    /// creates the Alloy user whose `username` it is) or an Alloy `userId` (`platform`).
    #[serde(default)]
    pub user_id_mode: UserIdMode,
    /// Where Alloy sends the browser back when the request names none (absolute https, or
    /// http on a loopback host).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "absolute_url")]
    pub redirect_uri: Option<Url>,
    /// Connector ids listed by `list_connections` when the query names no target.
    #[serde(default)]
    pub connectors: Vec<String>,
    /// How completion confirms the credential.
    #[serde(default)]
    pub callback_mode: CallbackMode,
    /// Custom auth config sent as `authConfigId`, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_config_id: Option<String>,
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

fn default_clock_skew() -> Duration {
    DEFAULT_CLOCK_SKEW
}

oauth_link_core::adapter_config!(
    AlloyConnectorsConfig,
    fn finish(&mut self, map: &ConfigMap) -> Result<()> {
        oauth_link_alloy::check_api_version(&self.api_version)
            .map_err(|e| map.invalid("api_version", format_args!("is refused: {e}")))?;
        if let Some(url) = &self.redirect_uri {
            validate_redirect_uri(KIND, url).map_err(|e| match e {
                Error::InvalidInput { reason, .. } => map.invalid("redirect_uri", reason),
                other => other,
            })?;
        }
        for connector in &self.connectors {
            validate_id(KIND, "connectors", connector)
                .map_err(|e| map.invalid("connectors", format_args!("is refused: {e}")))?;
        }
        Ok(())
    }
);

impl AlloyConnectorsConfig {
    /// Settings with `api_key` and every default.
    pub fn new(api_key: impl Into<ApiKey>) -> Self {
        Self {
            api_key: api_key.into(),
            api_version: DEFAULT_API_VERSION.to_owned(),
            user_id_mode: UserIdMode::App,
            redirect_uri: None,
            connectors: Vec::new(),
            callback_mode: CallbackMode::List,
            auth_config_id: None,
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

    /// Sets the default redirect URI (checked again, with the request's, at each link).
    pub fn with_redirect_uri(mut self, uri: Url) -> Self {
        self.redirect_uri = Some(uri);
        self
    }

    /// Sets the connectors listed when no target is given.
    pub fn with_connectors<I, S>(mut self, connectors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.connectors = connectors.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the callback mode.
    pub fn with_callback_mode(mut self, mode: CallbackMode) -> Self {
        self.callback_mode = mode;
        self
    }

    /// Sets the custom auth config id.
    pub fn with_auth_config_id(mut self, id: impl Into<String>) -> Self {
        self.auth_config_id = Some(id.into());
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
        ConfigMap::from_pairs(KIND, pairs)
    }

    #[test]
    fn reads_every_key() {
        let c = AlloyConnectorsConfig::from_config(map(&[
            ("api_key", "sk_connectors_secret"),
            ("base_url", "https://production.runalloy.com"),
            ("api_version", "2025-09"),
            ("user_id_mode", "platform"),
            ("redirect_uri", "https://app.example.com/oauth/callback?tenant=7"),
            ("connectors", "slack, notion,,hubspot"),
            ("callback_mode", "exchange"),
            ("auth_config_id", "ac-1"),
            ("clock_skew_ms", "0"),
            ("poll_timeout_ms", "20"),
        ]))
        .unwrap();
        assert_eq!(c.connectors, ["slack", "notion", "hubspot"]);
        assert_eq!(c.user_id_mode, UserIdMode::Platform);
        assert_eq!(c.callback_mode, CallbackMode::Exchange);
        assert_eq!(c.redirect_uri.unwrap().query(), Some("tenant=7"));
        assert_eq!(c.auth_config_id.as_deref(), Some("ac-1"));
        assert_eq!(c.clock_skew, Duration::ZERO);
    }

    #[test]
    fn rejects_bad_values_and_unknown_keys() {
        for (key, value) in [
            ("redirect_uri", "http://app.example.com/cb"),
            ("redirect_uri", "/relative"),
            ("callback_mode", "poll"),
            ("user_id_mode", "alloy"),
            ("clock_skew_ms", "-5"),
            ("conectors", "slack"),
        ] {
            let err =
                AlloyConnectorsConfig::from_config(map(&[("api_key", "k"), (key, value)])).unwrap_err().to_string();
            assert!(err.contains(key) || err.contains("https"), "{key}={value}: {err}");
        }
        let ok =
            AlloyConnectorsConfig::from_config(map(&[("api_key", "k"), ("redirect_uri", "http://127.0.0.1:3000/cb")]));
        assert!(ok.is_ok());
        assert!(AlloyConnectorsConfig::from_config(map(&[])).unwrap_err().to_string().contains("api_key"));
        let defaults = AlloyConnectorsConfig::from_config(map(&[("api_key", "k")])).unwrap();
        assert_eq!(defaults.user_id_mode, UserIdMode::App);
    }

    #[test]
    fn secret_never_shows() {
        let c = AlloyConnectorsConfig::new("sk_connectors_secret")
            .with_connectors(["slack"])
            .with_redirect_uri(Url::parse("https://app.example.com/cb").unwrap());
        assert!(!format!("{c:?}").contains("sk_connectors_secret"));
        let json = c.settings();
        assert!(!json.to_string().contains("sk_connectors_secret"));
        insta::assert_json_snapshot!(json);
    }
}
