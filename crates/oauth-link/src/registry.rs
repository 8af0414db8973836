//! The provider kinds oauth-link knows, which are compiled in, and how each is configured
//! and built. One `match` arm per adapter, each behind its cargo feature.

use oauth_link_core::{Capabilities, ConfigMap, Error, LinkContext, Result, SharedLinkProvider};
use serde::Serialize;

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

/// Every kind oauth-link knows, compiled in or not.
pub const KNOWN: &[KnownKind] = &[
    KnownKind { kind: "alloy-headless", feature: "alloy-headless", compiled: cfg!(feature = "alloy-headless") },
    KnownKind { kind: "alloy-connectors", feature: "alloy-connectors", compiled: cfg!(feature = "alloy-connectors") },
    KnownKind { kind: "novu", feature: "novu", compiled: cfg!(feature = "novu") },
    KnownKind { kind: "junction", feature: "junction", compiled: cfg!(feature = "junction") },
    KnownKind { kind: "memory", feature: "memory", compiled: cfg!(feature = "memory") },
];

/// Finds a known kind by name.
pub(crate) fn lookup(kind: &str) -> Option<&'static KnownKind> {
    KNOWN.iter().find(|k| k.kind == kind)
}

pub(crate) fn unknown_provider(kind: &str) -> Error {
    Error::UnknownProvider { kind: kind.to_owned(), available: KNOWN.iter().map(|k| k.kind).collect() }
}

/// Key used to build providers only to read their capabilities.
#[allow(dead_code)]
const PLACEHOLDER_KEY: &str = "placeholder-key-for-capabilities";

/// A compiled-in kind with what it can do.
#[derive(Debug, Clone, Serialize)]
pub struct ProviderInfo {
    /// The kind.
    pub kind: &'static str,
    /// Its capabilities with default settings.
    pub capabilities: Capabilities,
}

/// Settings of the in-memory provider.
#[cfg(feature = "memory")]
#[derive(Debug, Clone, Serialize)]
pub struct MemorySettings {
    /// Complete every link as if the user approved (default true: no browser plays the user).
    pub auto_approve: bool,
}

/// A parsed, validated adapter configuration.
// Built once at start-up: boxing the larger configs would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AdapterConfig {
    /// Alloy headless.
    #[cfg(feature = "alloy-headless")]
    AlloyHeadless(oauth_link_alloy_headless::AlloyHeadlessConfig),
    /// Alloy connectors.
    #[cfg(feature = "alloy-connectors")]
    AlloyConnectors(oauth_link_alloy_connectors::AlloyConnectorsConfig),
    /// Novu.
    #[cfg(feature = "novu")]
    Novu(oauth_link_novu::NovuConfig),
    /// Junction.
    #[cfg(feature = "junction")]
    Junction(oauth_link_junction::JunctionConfig),
    /// The in-memory provider.
    #[cfg(feature = "memory")]
    Memory(MemorySettings),
    /// Never constructed: keeps the enum inhabited-by-type when no adapter feature is on.
    #[doc(hidden)]
    Uninhabited(std::convert::Infallible),
}

impl AdapterConfig {
    /// Parses the settings of `kind`; unknown keys and bad values fail naming the key.
    pub fn parse(kind: &str, map: ConfigMap) -> Result<Self> {
        let known = lookup(kind).ok_or_else(|| unknown_provider(kind))?;
        #[allow(unused_mut, unused_variables)]
        let mut map = map;
        match known.kind {
            #[cfg(feature = "alloy-headless")]
            oauth_link_alloy_headless::KIND => {
                Ok(AdapterConfig::AlloyHeadless(oauth_link_alloy_headless::AlloyHeadlessConfig::from_config(map)?))
            }
            #[cfg(feature = "alloy-connectors")]
            oauth_link_alloy_connectors::KIND => Ok(AdapterConfig::AlloyConnectors(
                oauth_link_alloy_connectors::AlloyConnectorsConfig::from_config(map)?,
            )),
            #[cfg(feature = "novu")]
            oauth_link_novu::KIND => Ok(AdapterConfig::Novu(oauth_link_novu::NovuConfig::from_config(map)?)),
            #[cfg(feature = "junction")]
            oauth_link_junction::KIND => {
                Ok(AdapterConfig::Junction(oauth_link_junction::JunctionConfig::from_config(map)?))
            }
            #[cfg(feature = "memory")]
            "memory" => {
                let auto_approve = map.bool("auto_approve")?.unwrap_or(true);
                map.finish()?;
                Ok(AdapterConfig::Memory(MemorySettings { auto_approve }))
            }
            _ => Err(Error::ProviderNotCompiled { kind: known.kind, feature: known.feature }),
        }
    }

    /// The provider kind.
    pub fn kind(&self) -> &'static str {
        match *self {
            #[cfg(feature = "alloy-headless")]
            AdapterConfig::AlloyHeadless(_) => oauth_link_alloy_headless::KIND,
            #[cfg(feature = "alloy-connectors")]
            AdapterConfig::AlloyConnectors(_) => oauth_link_alloy_connectors::KIND,
            #[cfg(feature = "novu")]
            AdapterConfig::Novu(_) => oauth_link_novu::KIND,
            #[cfg(feature = "junction")]
            AdapterConfig::Junction(_) => oauth_link_junction::KIND,
            #[cfg(feature = "memory")]
            AdapterConfig::Memory(_) => "memory",
            AdapterConfig::Uninhabited(never) => match never {},
        }
    }

    /// The resolved settings as JSON, secrets shown as `[redacted]`.
    pub fn to_json(&self) -> serde_json::Value {
        match *self {
            #[cfg(feature = "alloy-headless")]
            AdapterConfig::AlloyHeadless(ref c) => serde_json::to_value(c).unwrap_or_default(),
            #[cfg(feature = "alloy-connectors")]
            AdapterConfig::AlloyConnectors(ref c) => serde_json::to_value(c).unwrap_or_default(),
            #[cfg(feature = "novu")]
            AdapterConfig::Novu(ref c) => serde_json::to_value(c).unwrap_or_default(),
            #[cfg(feature = "junction")]
            AdapterConfig::Junction(ref c) => serde_json::to_value(c).unwrap_or_default(),
            #[cfg(feature = "memory")]
            AdapterConfig::Memory(ref s) => serde_json::to_value(s).unwrap_or_default(),
            AdapterConfig::Uninhabited(never) => match never {},
        }
    }

    /// Builds the provider.
    #[cfg_attr(
        not(any(
            feature = "alloy-headless",
            feature = "alloy-connectors",
            feature = "novu",
            feature = "junction",
            feature = "memory"
        )),
        allow(unused_variables)
    )]
    pub fn build(self, ctx: LinkContext) -> Result<SharedLinkProvider> {
        match self {
            #[cfg(feature = "alloy-headless")]
            AdapterConfig::AlloyHeadless(c) => {
                Ok(std::sync::Arc::new(oauth_link_alloy_headless::AlloyHeadlessProvider::new(c, ctx)?))
            }
            #[cfg(feature = "alloy-connectors")]
            AdapterConfig::AlloyConnectors(c) => {
                Ok(std::sync::Arc::new(oauth_link_alloy_connectors::AlloyConnectorsProvider::new(c, ctx)?))
            }
            #[cfg(feature = "novu")]
            AdapterConfig::Novu(c) => Ok(std::sync::Arc::new(oauth_link_novu::NovuProvider::new(c, ctx)?)),
            #[cfg(feature = "junction")]
            AdapterConfig::Junction(c) => Ok(std::sync::Arc::new(oauth_link_junction::JunctionProvider::new(c, ctx)?)),
            #[cfg(feature = "memory")]
            AdapterConfig::Memory(s) => {
                let provider = oauth_link_core::testing::MemoryProvider::new(ctx);
                Ok(std::sync::Arc::new(if s.auto_approve { provider.auto_approving() } else { provider }))
            }
            AdapterConfig::Uninhabited(never) => match never {},
        }
    }
}

/// The compiled-in kinds with their default capabilities.
///
/// Builds each with a placeholder key (no request is sent) to read what it can do.
pub fn available_providers() -> Vec<ProviderInfo> {
    let mut out = Vec::new();
    let mut push = |provider: Result<SharedLinkProvider>| {
        if let Ok(p) = provider {
            out.push(ProviderInfo { kind: p.kind(), capabilities: p.capabilities() });
        }
    };
    #[cfg(feature = "alloy-headless")]
    push(
        AdapterConfig::AlloyHeadless(oauth_link_alloy_headless::AlloyHeadlessConfig::new(PLACEHOLDER_KEY))
            .build(LinkContext::ephemeral()),
    );
    #[cfg(feature = "alloy-connectors")]
    push(
        AdapterConfig::AlloyConnectors(oauth_link_alloy_connectors::AlloyConnectorsConfig::new(PLACEHOLDER_KEY))
            .build(LinkContext::ephemeral()),
    );
    #[cfg(feature = "novu")]
    push(AdapterConfig::Novu(oauth_link_novu::NovuConfig::new(PLACEHOLDER_KEY)).build(LinkContext::ephemeral()));
    #[cfg(feature = "junction")]
    push(
        AdapterConfig::Junction(oauth_link_junction::JunctionConfig::new(PLACEHOLDER_KEY))
            .build(LinkContext::ephemeral()),
    );
    #[cfg(feature = "memory")]
    push(AdapterConfig::Memory(MemorySettings { auto_approve: false }).build(LinkContext::ephemeral()));
    let _ = &mut push;
    out
}
