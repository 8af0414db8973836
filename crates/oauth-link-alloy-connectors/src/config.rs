//! Settings of the Alloy Connectivity adapter.

use std::time::Duration;

use oauth_link_alloy::{UserIdMode, DEFAULT_API_VERSION, DEFAULT_CLOCK_SKEW};
use oauth_link_core::config::serialize_millis;
use oauth_link_core::http::RetryPolicy;
use oauth_link_core::{
    adapter::{validate_id, validate_redirect_uri, CommonConfig, ConfigMap, PollPolicy},
    ApiKey, Error, Result, Url,
};
use serde::Serialize;

use crate::KIND;

/// How `complete_callback` confirms the new credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
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
/// `Debug` and `Serialize` never show the API key.
#[derive(Clone, Debug, Serialize)]
pub struct AlloyConnectorsConfig {
    /// Alloy API key, sent as `Authorization: bearer <key>`.
    pub api_key: ApiKey,
    /// Value of the `x-api-version` header (default `2025-09`).
    pub api_version: String,
    /// What `LinkRequest::user` is: the app's own id (`app`, default: the adapter finds or
    /// creates the Alloy user whose `username` it is) or an Alloy `userId` (`platform`).
    pub user_id_mode: UserIdMode,
    /// Where Alloy sends the browser back when the request names none (absolute https, or
    /// http on a loopback host).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<Url>,
    /// Connector ids listed by `list_connections` when the query names no target.
    pub connectors: Vec<String>,
    /// How completion confirms the credential.
    pub callback_mode: CallbackMode,
    /// Custom auth config sent as `authConfigId`, when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_config_id: Option<String>,
    /// How long before the link was issued a credential may have been created and still be
    /// taken as the one the link produced, for states issued without a watermark (by an
    /// older version; default 60 s).
    #[serde(rename = "clock_skew_ms", serialize_with = "serialize_millis")]
    pub clock_skew: Duration,
    /// Base URL, timeouts, retries and polling.
    #[serde(flatten)]
    pub common: CommonConfig,
}

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

    /// Reads the settings from a map (env, TOML or key/value): `api_key` (required),
    /// `api_version`, `user_id_mode` (`app`/`platform`), `redirect_uri`, `connectors` (comma list), `callback_mode`
    /// (`list`/`exchange`), `auth_config_id`, `clock_skew_ms` and the shared keys of
    /// [`CommonConfig`]. Unknown keys fail, naming the key.
    pub fn from_config(mut map: ConfigMap) -> Result<Self> {
        let common = CommonConfig::read(&mut map)?;
        let mut config = Self::new(map.required_secret::<ApiKey>("api_key")?).with_common(common);
        if let Some(version) = map.string("api_version") {
            oauth_link_alloy::check_api_version(&version)?;
            config.api_version = version;
        }
        if let Some(mode) = UserIdMode::read(&mut map)? {
            config.user_id_mode = mode;
        }
        if let Some(raw) = map.string("redirect_uri") {
            let bad = |reason: String| Error::config("redirect_uri", format!("redirect_uri {reason}"));
            let url = Url::parse(&raw).map_err(|e| bad(format!("is not an absolute URL ({e})")))?;
            validate_redirect_uri(KIND, &url).map_err(|e| match e {
                Error::InvalidInput { reason, .. } => bad(reason),
                other => other,
            })?;
            config.redirect_uri = Some(url);
        }
        if let Some(connectors) = map.list("connectors") {
            for c in &connectors {
                validate_id(KIND, "connectors", c).map_err(|e| Error::config("connectors", e.to_string()))?;
            }
            config.connectors = connectors;
        }
        if let Some(mode) = map.choice("callback_mode", &["list", "exchange"])? {
            config.callback_mode = if mode == "exchange" { CallbackMode::Exchange } else { CallbackMode::List };
        }
        config.auth_config_id = map.string("auth_config_id");
        if let Some(skew) = map.millis("clock_skew_ms")? {
            config.clock_skew = skew;
        }
        map.finish()?;
        Ok(config)
    }

    /// Sets the base URL (default `https://production.runalloy.com`).
    pub fn with_base_url(mut self, url: Url) -> Self {
        self.common.base_url = Some(url);
        self
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

    /// Sets how completion polls for the new credential.
    pub fn with_poll(mut self, poll: PollPolicy) -> Self {
        self.common.poll = poll;
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.common.retry = retry;
        self
    }

    /// Replaces the shared settings.
    pub fn with_common(mut self, common: CommonConfig) -> Self {
        self.common = common;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ConfigMap::from_map(KIND, &m)
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
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("sk_connectors_secret"));
        insta::assert_json_snapshot!(c);
    }
}
