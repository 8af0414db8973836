//! The platforms oauth-link knows: one table line per platform, each behind the cargo
//! feature named after its kind, and a [`Registry`] an app may extend with its own
//! adapters. Everything else here is generic over the adapters' [`Descriptor`]s.

use std::collections::HashMap;
use std::fmt;

use oauth_link_core::config::AdapterConfig;
use oauth_link_core::telemetry;
use oauth_link_core::{
    adapter::{ConfigMap, Descriptor},
    Capabilities, Error, LinkContext, Result, SharedLinkProvider,
};
use serde::Serialize;

use crate::settings::Settings;

/// Declares the built-in platforms, `"kind" => path::to::DESCRIPTOR`: the kind is also the
/// name of the `oauth-link` cargo feature that compiles the adapter in.
macro_rules! platforms {
    ($($kind:literal => $descriptor:path),* $(,)?) => {
        /// Every kind oauth-link knows, compiled in or not.
        pub const KNOWN: &[KnownKind] =
            &[$(KnownKind { kind: $kind, feature: $kind, compiled: cfg!(feature = $kind) }),*];

        /// The descriptors of the compiled-in kinds, in table order.
        #[allow(unused_mut, clippy::vec_init_then_push)]
        fn compiled() -> Vec<&'static dyn Platform> {
            let mut platforms: Vec<&'static dyn Platform> = Vec::new();
            $(
                #[cfg(feature = $kind)]
                platforms.push(&$descriptor);
            )*
            platforms
        }
    };
}

// The one place that names each platform (see docs/adding-a-platform.md).
platforms! {
    "alloy-headless" => oauth_link_alloy_headless::DESCRIPTOR,
    "alloy-connectors" => oauth_link_alloy_connectors::DESCRIPTOR,
    "novu" => oauth_link_novu::DESCRIPTOR,
    "junction" => oauth_link_junction::DESCRIPTOR,
    "memory" => oauth_link_core::testing::memory::DESCRIPTOR,
}

/// A provider kind and the facade feature that compiles it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownKind {
    /// The kind, as used in `OAUTH_LINK_PROVIDER` and config tables.
    pub kind: &'static str,
    /// The cargo feature of the `oauth-link` crate that enables it.
    pub feature: &'static str,
    /// True when this build includes it.
    pub compiled: bool,
}

/// A compiled-in kind with what it can do.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderInfo {
    /// The kind.
    pub kind: &'static str,
    /// Its capabilities with default settings.
    pub capabilities: Capabilities,
    /// The configuration keys it reads (the shared ones first).
    pub keys: Vec<&'static str>,
}

/// A descriptor with its settings type erased, so one table holds them all.
trait Platform: Send + Sync {
    fn kind(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    fn keys(&self) -> Vec<&'static str>;
    fn parse(&'static self, map: ConfigMap) -> Result<Box<dyn Parsed>>;
}

impl<S> Platform for Descriptor<S>
where
    S: AdapterConfig + fmt::Debug + Clone + Send + Sync + 'static,
{
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn capabilities(&self) -> Capabilities {
        (self.capabilities)()
    }

    fn keys(&self) -> Vec<&'static str> {
        (self.keys)()
    }

    fn parse(&'static self, map: ConfigMap) -> Result<Box<dyn Parsed>> {
        Ok(Box::new(Typed { descriptor: self, settings: (self.parse)(map)? }))
    }
}

/// Settings one descriptor parsed, with their type erased.
trait Parsed: fmt::Debug + Send + Sync {
    fn kind(&self) -> &'static str;
    fn to_json(&self) -> serde_json::Value;
    fn build(self: Box<Self>, ctx: LinkContext) -> Result<SharedLinkProvider>;
    fn clone_box(&self) -> Box<dyn Parsed>;
}

struct Typed<S: 'static> {
    descriptor: &'static Descriptor<S>,
    settings: S,
}

impl<S: fmt::Debug> fmt::Debug for Typed<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.fmt(f)
    }
}

impl<S> Parsed for Typed<S>
where
    S: AdapterConfig + fmt::Debug + Clone + Send + Sync + 'static,
{
    fn kind(&self) -> &'static str {
        self.descriptor.kind
    }

    fn to_json(&self) -> serde_json::Value {
        self.settings.settings()
    }

    /// Every provider the facade hands out is built here, so this is where each gets its
    /// operation spans and metrics, whatever its adapter.
    fn build(self: Box<Self>, ctx: LinkContext) -> Result<SharedLinkProvider> {
        (self.descriptor.build)(self.settings, ctx).map(telemetry::observe)
    }

    fn clone_box(&self) -> Box<dyn Parsed> {
        Box::new(Typed { descriptor: self.descriptor, settings: self.settings.clone() })
    }
}

/// A parsed, validated configuration of any provider kind, ready to build.
pub struct ProviderConfig(Box<dyn Parsed>);

impl ProviderConfig {
    /// Parses the settings of a built-in `kind`; unknown keys and bad values fail naming
    /// the key. [`Registry::parse`] does the same for a registry with extra adapters.
    pub fn parse(kind: &str, map: ConfigMap) -> Result<Self> {
        Registry::builtin().parse(kind, map)
    }

    /// The provider kind.
    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }

    /// The resolved settings as JSON, secrets shown as `[redacted]`.
    pub fn to_json(&self) -> serde_json::Value {
        self.0.to_json()
    }

    /// Builds the provider (no request is sent), with one span per operation and, with
    /// feature `metrics`, its metrics (see [`oauth_link_core::telemetry`]).
    pub fn build(self, ctx: LinkContext) -> Result<SharedLinkProvider> {
        self.0.build(ctx)
    }
}

impl Clone for ProviderConfig {
    fn clone(&self) -> Self {
        Self(self.0.clone_box())
    }
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ProviderConfig").field(&self.0).finish()
    }
}

/// The adapters a process can choose from by configuration: the built-in ones of this
/// build, plus any the app adds with [`Registry::with`]. The crate-level functions
/// ([`from_env`](crate::from_env), [`from_settings`](crate::from_settings), ...) use
/// [`Registry::builtin`].
///
/// ```
/// # #[cfg(feature = "memory")] {
/// use std::collections::HashMap;
///
/// let registry = oauth_link::Registry::builtin(); // .with(&my_adapter::DESCRIPTOR)
/// let map = HashMap::from([("state_secret".to_owned(), "0123456789abcdef0123456789abcdef".to_owned())]);
/// let provider = registry.from_map("memory", &map)?;
/// assert_eq!(provider.kind(), "memory");
/// # }
/// # Ok::<(), oauth_link::Error>(())
/// ```
#[derive(Clone)]
pub struct Registry {
    platforms: Vec<&'static dyn Platform>,
}

impl Registry {
    /// The adapters compiled into this build.
    pub fn builtin() -> Self {
        Self { platforms: compiled() }
    }

    /// Adds an adapter, configured and built exactly as the built-in ones are. One with the
    /// kind of an adapter already here replaces it.
    pub fn with<S>(mut self, descriptor: &'static Descriptor<S>) -> Self
    where
        S: AdapterConfig + fmt::Debug + Clone + Send + Sync + 'static,
    {
        match self.platforms.iter_mut().find(|p| p.kind() == descriptor.kind) {
            Some(slot) => *slot = descriptor,
            None => self.platforms.push(descriptor),
        }
        self
    }

    /// Every kind this registry knows: the built-in ones (compiled in or not), then the
    /// added ones.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut kinds: Vec<&'static str> = KNOWN.iter().map(|k| k.kind).collect();
        kinds.extend(self.platforms.iter().map(|p| p.kind()).filter(|kind| !kinds.contains(kind)).collect::<Vec<_>>());
        kinds
    }

    /// The usable kinds with their capabilities under default settings. Builds nothing.
    pub fn available_providers(&self) -> Vec<ProviderInfo> {
        let info = |p: &&dyn Platform| ProviderInfo { kind: p.kind(), capabilities: p.capabilities(), keys: p.keys() };
        self.platforms.iter().map(info).collect()
    }

    /// Parses the settings of `kind`; unknown keys and bad values fail naming the key.
    pub fn parse(&self, kind: &str, map: ConfigMap) -> Result<ProviderConfig> {
        Ok(ProviderConfig(self.platform(kind)?.parse(map)?))
    }

    /// Parses and validates the settings of the chosen provider (or of `kind` when given)
    /// without building it.
    pub fn configure(&self, settings: &Settings, kind: Option<&str>) -> Result<ProviderConfig> {
        let kinds = self.kinds();
        // Every table of a file must name a known kind and hold readable values.
        for name in settings.table_names() {
            let kind = kinds.iter().find(|k| **k == name).ok_or_else(|| settings.unknown_table(name, &kinds))?;
            settings.adapter(kind)?;
        }
        let kind = match kind {
            Some(kind) => kind,
            None => settings.provider_kind_in(&kinds)?,
        };
        let platform = self.platform(kind)?;
        Ok(ProviderConfig(platform.parse(settings.adapter(platform.kind())?)?))
    }

    /// Builds the provider `settings` name, with a state context from its state settings.
    pub fn from_settings(&self, settings: &Settings) -> Result<SharedLinkProvider> {
        let config = self.configure(settings, None)?;
        config.build(settings.state.context()?)
    }

    /// Builds a provider of `kind` from a flat map of its settings (plus `state_secret`).
    pub fn from_map(&self, kind: &str, map: &HashMap<String, String>) -> Result<SharedLinkProvider> {
        self.from_settings(&Settings::from_map(kind, map)?)
    }

    fn platform(&self, kind: &str) -> Result<&'static dyn Platform> {
        if let Some(platform) = self.platforms.iter().find(|p| p.kind() == kind) {
            return Ok(*platform);
        }
        Err(match KNOWN.iter().find(|k| k.kind == kind) {
            Some(known) => Error::ProviderNotCompiled { kind: known.kind, feature: known.feature },
            None => Error::UnknownProvider { kind: kind.to_owned(), available: self.kinds() },
        })
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").field("kinds", &self.platforms.iter().map(|p| p.kind()).collect::<Vec<_>>()).finish()
    }
}

/// The compiled-in kinds with their default capabilities (builds nothing).
pub fn available_providers() -> Vec<ProviderInfo> {
    Registry::builtin().available_providers()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_table_line_names_its_descriptor_s_kind() {
        let platforms = compiled();
        assert_eq!(platforms.len(), KNOWN.iter().filter(|k| k.compiled).count());
        for (platform, known) in platforms.iter().zip(KNOWN.iter().filter(|k| k.compiled)) {
            assert_eq!(platform.kind(), known.kind);
        }
    }

    #[cfg(feature = "memory")]
    #[test]
    fn every_built_provider_is_observed() {
        let secret = ("state_secret".to_owned(), "0123456789abcdef0123456789abcdef".to_owned());
        let provider = Registry::builtin().from_map("memory", &HashMap::from([secret])).unwrap();
        assert_eq!(provider.kind(), "memory");
        // `telemetry::observe`'s wrapper, around the adapter's own provider.
        let printed = format!("{provider:?}");
        assert!(printed.starts_with("Observed(MemoryProvider {"), "{printed}");
    }
}
