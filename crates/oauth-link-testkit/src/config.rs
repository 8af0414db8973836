//! The configuration suite every adapter runs, through its `from_config` only: the settings
//! every adapter shares are read from a map, the environment and a TOML file; a bad value,
//! an unknown key and a missing API key are [`Error::Config`] naming where they came from;
//! URLs other than absolute http(s) ones are refused; the API key never shows.
//!
//! An adapter implements [`Settings`] and runs [`config_suite!`](crate::config_suite).

use std::collections::HashMap;
use std::fmt;

use oauth_link_core::config::AdapterConfig;
use oauth_link_core::{adapter::ConfigMap, Error, Result};
use serde_json::{json, Value};

/// URL settings no adapter may accept: non-http(s) schemes, no host, a query.
pub const BAD_URLS: [&str; 6] =
    ["file:///etc/passwd", "gopher://x", "ftp://h", "javascript:alert(1)", "http://", "https://h/?q=1"];

/// The settings every adapter reads, a value for each and how the parsed configuration
/// shows it when serialized.
fn common() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("base_url", "https://platform.example/api", json!("https://platform.example/api")),
        ("connect_timeout_ms", "1234", json!(1234)),
        ("request_timeout_ms", "2345", json!(2345)),
        ("max_retries", "1", json!(1)),
        ("retry_max_elapsed_ms", "3456", json!(3456)),
        ("poll_timeout_ms", "4567", json!(4567)),
        ("poll_interval_ms", "56", json!(56)),
    ]
}

/// The file name the TOML source reports.
const FILE: &str = "oauth-link-test.toml";

/// What the configuration suite needs to know about one adapter.
pub trait Settings: 'static {
    /// The adapter's kind (`[kind]` in a file, `OAUTH_LINK_<KIND>_` in the environment).
    const KIND: &'static str;
    /// An API key the adapter accepts; it must never show.
    const API_KEY: &'static str;
    /// The adapter's configuration.
    type Config: fmt::Debug + AdapterConfig;

    /// Reads the configuration (the adapter's [`AdapterConfig::from_config`]).
    fn parse(map: ConfigMap) -> Result<Self::Config> {
        Self::Config::from_config(map)
    }

    /// The URL settings the adapter reads and values each must refuse (by default
    /// `base_url` and [`BAD_URLS`]).
    fn url_settings() -> Vec<(&'static str, Vec<&'static str>)> {
        vec![("base_url", BAD_URLS.to_vec())]
    }
}

/// Where a setting came from.
#[derive(Debug, Clone, Copy)]
enum Source {
    Map,
    Env,
    Toml,
}

const SOURCES: [Source; 3] = [Source::Map, Source::Env, Source::Toml];

/// The environment variable of `key` for `kind` (`OAUTH_LINK_ALLOY_HEADLESS_MAX_RETRIES`).
pub fn env_name(kind: &str, key: &str) -> String {
    format!("OAUTH_LINK_{kind}_{key}").to_ascii_uppercase().replace(['-', '.'], "_")
}

impl Source {
    fn map(self, kind: &'static str, pairs: &[(&str, &str)]) -> ConfigMap {
        match self {
            Source::Map => {
                let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                ConfigMap::from_map(kind, &map)
            }
            Source::Env => {
                ConfigMap::from_env_vars(kind, pairs.iter().map(|(k, v)| (env_name(kind, k), v.to_string())))
            }
            Source::Toml => {
                let table: toml::Table =
                    pairs.iter().map(|(k, v)| (k.to_string(), toml::Value::String(v.to_string()))).collect();
                ConfigMap::from_toml(kind, &table, FILE).unwrap()
            }
        }
    }

    /// The words an error about `key` must hold to name where it came from.
    fn origin(self, kind: &str, key: &str) -> Vec<String> {
        match self {
            Source::Map => vec![key.to_owned()],
            Source::Env => vec![env_name(kind, key)],
            Source::Toml => vec![key.to_owned(), FILE.to_owned()],
        }
    }
}

/// A [`Error::Config`] naming `origin`, with no secret in it.
fn assert_config_error<S: Settings>(result: Result<S::Config>, what: &str, origin: &[String]) {
    match result {
        Err(err @ Error::Config { .. }) => {
            let text = format!("{err} {err:?}");
            for word in origin {
                assert!(text.contains(word.as_str()), "{what}: the error does not name `{word}`: {err}");
            }
            assert!(!text.contains(S::API_KEY), "{what}: the API key shows: {text}");
        }
        other => panic!("{what}: expected Error::Config, got {other:?}"),
    }
}

/// Asserts that `parse` refuses each of `bad` values for the setting `key` (next to the
/// settings in `base`, e.g. an API key) with an [`Error::Config`] naming `key`.
pub fn assert_config_rejects(
    kind: &'static str,
    base: &[(&str, &str)],
    key: &str,
    bad: &[&str],
    parse: impl Fn(ConfigMap) -> Result<()>,
) {
    for value in bad {
        let map: HashMap<String, String> =
            base.iter().chain([(key, *value)].iter()).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        match parse(ConfigMap::from_map(kind, &map)) {
            Err(Error::Config { key: named, .. }) => {
                assert!(named.contains(key), "{key}={value}: the error names `{named}`")
            }
            other => panic!("{key}={value}: expected Error::Config, got {other:?}"),
        }
    }
}

/// Each URL setting refuses its bad values, naming where it was set, from every source.
pub fn bad_urls<S: Settings>() {
    for (key, bad) in S::url_settings() {
        assert_config_rejects(S::KIND, &[("api_key", S::API_KEY)], key, &bad, |m| S::parse(m).map(drop));
        for source in SOURCES {
            for value in &bad {
                let result = S::parse(source.map(S::KIND, &[("api_key", S::API_KEY), (key, value)]));
                assert_config_error::<S>(result, &format!("{source:?} {key}={value}"), &source.origin(S::KIND, key));
            }
        }
    }
}

/// The shared settings are read from every source and show in the serialized
/// configuration under their own names; the API key shows in neither Debug nor JSON.
pub fn common_settings_are_read<S: Settings>() {
    for source in SOURCES {
        let mut pairs = vec![("api_key", S::API_KEY)];
        pairs.extend(common().iter().map(|(k, v, _)| (*k, *v)));
        let config = S::parse(source.map(S::KIND, &pairs)).unwrap_or_else(|e| panic!("{source:?}: {e}"));
        let shown = config.settings();
        for (key, _, expected) in common() {
            assert_eq!(shown[key], expected, "{source:?}: `{key}` as serialized: {shown}");
        }
        for text in [format!("{config:?}"), shown.to_string()] {
            assert!(!text.contains(S::API_KEY), "{source:?}: the API key shows: {text}");
        }
    }
}

/// A bad value of a shared setting is an [`Error::Config`] naming the setting where it was
/// set: the key of a map, the environment variable, the key and the file.
pub fn bad_settings_name_their_origin<S: Settings>() {
    for source in SOURCES {
        for (key, _, _) in common().into_iter().filter(|(k, _, _)| *k != "base_url") {
            for value in ["soon", "-1", "1.5", "18446744073709551616"] {
                let result = S::parse(source.map(S::KIND, &[("api_key", S::API_KEY), (key, value)]));
                assert_config_error::<S>(result, &format!("{source:?} {key}={value}"), &source.origin(S::KIND, key));
            }
        }
    }
}

/// An unknown key is refused by name and a missing API key says where to set it, from
/// every source.
pub fn unknown_and_missing_settings_are_refused<S: Settings>() {
    for source in SOURCES {
        let result = S::parse(source.map(S::KIND, &[("api_key", S::API_KEY), ("colour", "blue")]));
        assert_config_error::<S>(result, &format!("{source:?} colour"), &source.origin(S::KIND, "colour"));
        let result = S::parse(source.map(S::KIND, &[]));
        let origin = match source {
            Source::Env => vec![env_name(S::KIND, "api_key")],
            Source::Map | Source::Toml => vec!["api_key".to_owned()],
        };
        assert_config_error::<S>(result, &format!("{source:?} no api_key"), &origin);
    }
}

/// The configuration suite as `#[test]` functions, for a type implementing [`Settings`].
#[macro_export]
macro_rules! config_suite {
    ($settings:ty) => {
        #[test]
        fn bad_base_urls_are_config_errors() {
            $crate::config::bad_urls::<$settings>();
        }

        #[test]
        fn common_settings_are_read() {
            $crate::config::common_settings_are_read::<$settings>();
        }

        #[test]
        fn bad_settings_name_their_origin() {
            $crate::config::bad_settings_name_their_origin::<$settings>();
        }

        #[test]
        fn unknown_and_missing_settings_are_refused() {
            $crate::config::unknown_and_missing_settings_are_refused::<$settings>();
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_names_follow_the_kind() {
        assert_eq!(env_name("alloy-headless", "max_retries"), "OAUTH_LINK_ALLOY_HEADLESS_MAX_RETRIES");
        let from_env = Source::Env.map("novu", &[("region", "eu")]);
        assert!(from_env.contains("region"));
    }
}
