//! The facade's table of platforms: built-in kinds, and an extra adapter registered with
//! `Registry::with` that is then configured from env, a TOML file or a map exactly as the
//! built-in ones are.

use std::collections::HashMap;
use std::sync::Arc;

use oauth_link::core::adapter::CommonConfig;
use oauth_link::core::testing::MemoryProvider;
use oauth_link::{
    core::adapter::{async_trait, Descriptor},
    Callback, CallbackModel, Capabilities, ConfigMap, Connection, ConnectionQuery, Error, Link, LinkContext,
    LinkProvider, LinkRequest, Registry, Result, Settings, SharedLinkProvider, Target, KNOWN,
};
use serde::{Deserialize, Serialize};

const STATE_SECRET: &str = "0123456789abcdef0123456789abcdef";
const API_KEY: &str = "custom-api-key-not-for-logs";

/// The extra platform: settings read from configuration like any adapter's (the field
/// names are the keys).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CustomSettings {
    api_key: oauth_link::ApiKey,
    #[serde(default = "hello")]
    greeting: String,
    #[serde(skip)]
    common: CommonConfig,
}

fn hello() -> String {
    "hello".into()
}

oauth_link::core::adapter_config!(CustomSettings);

fn build(_settings: CustomSettings, ctx: LinkContext) -> Result<SharedLinkProvider> {
    Ok(Arc::new(CustomProvider(MemoryProvider::new(ctx).auto_approving())))
}

fn capabilities() -> Capabilities {
    Capabilities::new(CallbackModel::Hosted).with_regions(["moon"])
}

/// The adapter's one export, as every adapter crate has.
const CUSTOM: Descriptor<CustomSettings> = Descriptor::new("custom", capabilities, build);

/// The in-memory platform under its own kind.
#[derive(Debug)]
struct CustomProvider(MemoryProvider);

impl CustomProvider {
    fn relabel(mut connection: Connection) -> Connection {
        connection.provider = "custom".into();
        connection
    }
}

#[async_trait]
impl LinkProvider for CustomProvider {
    fn kind(&self) -> &'static str {
        "custom"
    }

    fn capabilities(&self) -> Capabilities {
        capabilities()
    }

    async fn generate_link(&self, request: &LinkRequest) -> Result<Link> {
        self.0.generate_link(request).await
    }

    async fn complete_callback(&self, callback: &Callback) -> Result<Connection> {
        self.0.complete_callback(callback).await.map(Self::relabel)
    }

    async fn list_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>> {
        Ok(self.0.list_connections(query).await?.into_iter().map(Self::relabel).collect())
    }

    async fn list_targets(&self) -> Result<Vec<Target>> {
        self.0.list_targets().await
    }

    async fn disconnect(&self, user: &str, connection_id: &str) -> Result<()> {
        self.0.disconnect(user, connection_id).await
    }
}

fn registry() -> Registry {
    Registry::builtin().with(&CUSTOM)
}

async fn link_and_complete(provider: &SharedLinkProvider) -> Connection {
    assert_eq!(provider.kind(), "custom");
    let link = provider.generate_link(&LinkRequest::new("user-7", "slack")).await.unwrap();
    let connection = provider.complete_callback(&Callback::from_state(link.state)).await.unwrap();
    assert_eq!((connection.provider.as_str(), connection.user.as_str()), ("custom", "user-7"));
    let listed = provider.list_connections(&ConnectionQuery::user("user-7")).await.unwrap();
    assert_eq!(listed, vec![connection.clone()]);
    connection
}

#[test]
fn the_extra_kind_is_listed_after_the_built_in_ones() {
    let registry = registry();
    let mut expected: Vec<&str> = KNOWN.iter().map(|k| k.kind).collect();
    expected.push("custom");
    assert_eq!(registry.kinds(), expected);
    let available = registry.available_providers();
    let custom = available.iter().find(|p| p.kind == "custom").expect("custom is available");
    assert_eq!(custom.capabilities, capabilities());
    let compiled: Vec<&str> = KNOWN.iter().filter(|k| k.compiled).map(|k| k.kind).collect();
    let listed: Vec<&str> = available.iter().map(|p| p.kind).filter(|k| *k != "custom").collect();
    assert_eq!(listed, compiled);
    assert!(!Registry::builtin().kinds().contains(&"custom"));
    assert!(format!("{registry:?}").contains("custom"), "{registry:?}");
}

#[tokio::test]
async fn the_extra_adapter_is_built_from_a_map() {
    let map = HashMap::from([("state_secret".to_owned(), STATE_SECRET.to_owned()), ("api_key".into(), API_KEY.into())]);
    link_and_complete(&registry().from_map("custom", &map).unwrap()).await;

    let err = oauth_link::from_map("custom", &map).unwrap_err();
    assert!(matches!(err, Error::UnknownProvider { .. }), "the built-in registry does not know it: {err}");
    let err = registry().from_map("custom", &HashMap::from([("state_secret".into(), STATE_SECRET.into())]));
    let err = err.unwrap_err().to_string();
    assert!(err.contains("missing required setting `api_key` for provider `custom`: add the key `api_key`"), "{err}");
}

#[tokio::test]
async fn the_extra_adapter_is_built_from_the_environment() {
    let env = |key: Option<&str>| {
        let mut vars = vec![
            ("OAUTH_LINK_PROVIDER".to_owned(), "custom".to_owned()),
            ("OAUTH_LINK_STATE_SECRET".to_owned(), STATE_SECRET.to_owned()),
            ("OAUTH_LINK_CUSTOM_GREETING".to_owned(), "hi".to_owned()),
        ];
        vars.extend(key.map(|k| ("OAUTH_LINK_CUSTOM_API_KEY".to_owned(), k.to_owned())));
        Settings::from_env_vars(vars).unwrap()
    };
    link_and_complete(&registry().from_settings(&env(Some(API_KEY))).unwrap()).await;
    let err = registry().from_settings(&env(None)).unwrap_err().to_string();
    assert!(err.contains("set OAUTH_LINK_CUSTOM_API_KEY"), "{err}");
}

#[tokio::test]
async fn the_extra_adapter_is_built_from_a_file_and_its_errors_name_the_key() {
    let file = |table: &str| {
        let text = format!("provider = \"custom\"\nstate_secret = \"{STATE_SECRET}\"\n[custom]\n{table}\n");
        Settings::from_toml_str(&text, "app.toml").unwrap()
    };
    let settings = file(&format!("api_key = \"{API_KEY}\"\ngreeting = \"hey\""));
    link_and_complete(&registry().from_settings(&settings).unwrap()).await;

    let err = registry().from_settings(&file(&format!("api_key = \"{API_KEY}\"\ngreting = \"hey\""))).unwrap_err();
    assert!(err.to_string().contains("`greting` under [custom] in app.toml"), "{err}");
    let err = oauth_link::from_settings(&settings).unwrap_err().to_string();
    assert!(err.contains("unknown table [custom] in app.toml"), "{err}");
}

#[test]
fn the_extra_adapter_s_settings_print_with_the_secret_redacted() {
    let map = HashMap::from([("api_key".to_owned(), API_KEY.to_owned()), ("greeting".into(), "hey".into())]);
    let settings = Settings::from_map("custom", &map).unwrap();
    let config = registry().configure(&settings, None).unwrap();
    assert_eq!(config.kind(), "custom");
    let shown = config.to_json();
    assert_eq!(
        (&shown["api_key"], &shown["greeting"], &shown["max_retries"]),
        (&"[redacted]".into(), &"hey".into(), &3.into())
    );
    assert!(!format!("{config:?}").contains(API_KEY), "{config:?}");
    let config = registry().parse("custom", ConfigMap::from_map("custom", &map)).unwrap();
    assert_eq!(config.clone().to_json(), config.to_json());
}

#[test]
fn a_registered_descriptor_replaces_one_of_the_same_kind() {
    const SHADOW: Descriptor<CustomSettings> = Descriptor::new("novu", capabilities, build);
    let registry = Registry::builtin().with(&SHADOW);
    assert_eq!(registry.kinds(), KNOWN.iter().map(|k| k.kind).collect::<Vec<_>>());
    let novu = registry.available_providers().into_iter().find(|p| p.kind == "novu").unwrap();
    assert_eq!(novu.capabilities, capabilities());
    let map = HashMap::from([("api_key".to_owned(), API_KEY.to_owned())]);
    assert_eq!(registry.parse("novu", ConfigMap::from_map("novu", &map)).unwrap().to_json()["greeting"], "hello");
}

#[test]
fn unknown_kinds_list_every_known_one() {
    let err = oauth_link::from_map("nope", &HashMap::new()).unwrap_err();
    assert!(matches!(err, Error::UnknownProvider { .. }));
    let text = err.to_string();
    assert!(text.contains("alloy-headless, alloy-connectors, novu, junction, memory"), "{text}");
    let text = registry().from_map("nope", &HashMap::new()).unwrap_err().to_string();
    assert!(text.contains("novu, junction, memory, custom"), "{text}");
}

#[test]
fn a_kind_whose_feature_is_off_names_the_feature() {
    for known in KNOWN.iter().filter(|k| !k.compiled) {
        let err = oauth_link::ProviderConfig::parse(known.kind, ConfigMap::from_map("x", &HashMap::new())).unwrap_err();
        assert!(matches!(err, Error::ProviderNotCompiled { feature, .. } if feature == known.feature), "{err}");
    }
}

#[cfg(feature = "memory")]
mod memory {
    use super::*;

    #[test]
    fn unknown_adapter_key_is_named() {
        let map =
            HashMap::from([("state_secret".to_owned(), STATE_SECRET.to_owned()), ("auto_aprove".into(), "1".into())]);
        let err = oauth_link::from_map("memory", &map).unwrap_err();
        assert!(err.to_string().contains("`auto_aprove`"), "{err}");
    }

    #[tokio::test]
    async fn from_map_builds_a_working_provider() {
        let map = HashMap::from([("state_secret".to_owned(), STATE_SECRET.to_owned())]);
        let provider = oauth_link::from_map("memory", &map).unwrap();
        assert_eq!(provider.kind(), "memory");
        let link = provider.generate_link(&LinkRequest::new("u", "slack")).await.unwrap();
        let connection = provider.complete_callback(&Callback::from_state(link.state)).await.unwrap();
        assert_eq!(connection.user, "u");
    }

    #[test]
    fn available_providers_lists_compiled_kinds_without_building_them() {
        let kinds: Vec<&str> = oauth_link::available_providers().iter().map(|p| p.kind).collect();
        assert!(kinds.contains(&"memory"));
        for known in KNOWN {
            assert_eq!(kinds.contains(&known.kind), known.compiled, "{}", known.kind);
        }
    }
}
