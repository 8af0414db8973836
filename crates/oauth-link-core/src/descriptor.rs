//! One value per adapter that tells the `oauth-link` facade everything it needs: the
//! kind, what the adapter can do, how to read its settings and how to build it.
//!
//! An adapter crate exports one [`Descriptor`]:
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use std::sync::Arc;
//!
//! use oauth_link_core::config::CommonConfig;
//! use oauth_link_core::testing::MemoryProvider;
//! use oauth_link_core::{CallbackModel, Capabilities, LinkContext, Result, SharedLinkProvider, adapter::Descriptor};
//! use serde::{Deserialize, Serialize};
//!
//! /// Settings of the example adapter: the field names are the keys (`greeting`, plus the
//! /// shared ones); `Serialize` prints them for `oauth-link config check`.
//! #[derive(Debug, Clone, Serialize, Deserialize)]
//! pub struct ExampleConfig {
//!     #[serde(default = "hello")]
//!     greeting: String,
//!     #[serde(skip)]
//!     common: CommonConfig,
//! }
//!
//! fn hello() -> String {
//!     "hello".into()
//! }
//!
//! oauth_link_core::adapter_config!(ExampleConfig);
//!
//! fn build(_config: ExampleConfig, ctx: LinkContext) -> Result<SharedLinkProvider> {
//!     Ok(Arc::new(MemoryProvider::new(ctx)))
//! }
//!
//! /// How the facade finds, configures and builds this adapter.
//! pub const DESCRIPTOR: Descriptor<ExampleConfig> =
//!     Descriptor::new("example", || Capabilities::new(CallbackModel::Hosted), build);
//! # }
//! ```
//!
//! The facade lists built-in descriptors in one table, one line per platform behind its
//! cargo feature; an app registers its own with `oauth_link::Registry::with`. See
//! `docs/adding-a-platform.md`.

use std::fmt;

use crate::config::{AdapterConfig, ConfigMap};
use crate::context::LinkContext;
use crate::error::Result;
use crate::provider::SharedLinkProvider;
use crate::types::Capabilities;

/// An adapter as the facade sees it: kind, static capabilities, settings parser and
/// constructor. `S` is the adapter's configuration ([`AdapterConfig`]).
///
/// For the facade to use it, `S` must also be `Debug + Clone + Send + Sync + 'static`. Its
/// [`settings`](AdapterConfig::settings) are what `oauth-link config check` prints, so
/// secrets must serialize as `[redacted]` (the secret types of [`crate::secret`] do).
#[non_exhaustive]
pub struct Descriptor<S> {
    /// The provider kind: the value of `OAUTH_LINK_PROVIDER`, the TOML table name, the
    /// env prefix `OAUTH_LINK_<KIND>_` and the name in [`LinkProvider::kind`](crate::LinkProvider::kind).
    pub kind: &'static str,
    /// What the adapter can do with default settings (and the default state lifetime),
    /// read without building a provider. A built provider may narrow settings-dependent
    /// fields, such as `link_lifetime`.
    pub capabilities: fn() -> Capabilities,
    /// Reads and validates the settings ([`AdapterConfig::from_config`]): unknown keys
    /// fail naming where they were set.
    pub parse: fn(ConfigMap) -> Result<S>,
    /// The keys the settings read ([`AdapterConfig::keys`]).
    pub keys: fn() -> Vec<&'static str>,
    /// Builds the provider from parsed settings and the app's state context. Sends no
    /// request.
    pub build: fn(S, LinkContext) -> Result<SharedLinkProvider>,
}

impl<S: AdapterConfig> Descriptor<S> {
    /// A descriptor from the kind, the capabilities and the constructor; the settings are
    /// read by `S`'s [`AdapterConfig`] (usable in a `const`).
    pub const fn new(
        kind: &'static str,
        capabilities: fn() -> Capabilities,
        build: fn(S, LinkContext) -> Result<SharedLinkProvider>,
    ) -> Self {
        Self { kind, capabilities, parse: S::from_config, keys: S::keys, build }
    }
}

impl<S> fmt::Debug for Descriptor<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Descriptor").field("kind", &self.kind).finish_non_exhaustive()
    }
}
