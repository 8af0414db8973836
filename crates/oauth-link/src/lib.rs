//! Connect your users' third-party accounts through an integration platform (Alloy
//! Automation, Novu, Junction) behind one trait, [`LinkProvider`]. The platform is chosen
//! by configuration, so an app swaps providers without code changes.
//!
//! ```no_run
//! # async fn app() -> oauth_link::Result<()> {
//! // OAUTH_LINK_PROVIDER=novu OAUTH_LINK_NOVU_API_KEY=... OAUTH_LINK_STATE_SECRET=...
//! let provider = oauth_link::from_env()?;
//! let link = provider.generate_link(&oauth_link::LinkRequest::new("user-42", "slack")).await?;
//! // redirect the browser to link.url; keep link.state in an HttpOnly cookie
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! | feature | enables | provider kind |
//! |---|---|---|
//! | `alloy-headless` | Alloy Automation Embedded, headless mode | `alloy-headless` |
//! | `alloy-connectors` | Alloy Connectivity API, connector credentials | `alloy-connectors` |
//! | `novu` | Novu chat channel-endpoint OAuth (Slack, MS Teams) | `novu` |
//! | `junction` | Junction (formerly Vital) link tokens | `junction` |
//! | `memory` | in-memory provider for tests and local experiments | `memory` |
//! | `redis` | Redis replay guard (`redis_url`, one server or a Redis Cluster with `redis_cluster`): single-use state across app instances | |
//! | `axum` | the connect flow as an axum `Router` to nest (`oauth_link::axum`, the `oauth-link-axum` crate) | |
//! | `metrics` | links issued, callbacks by outcome, retries, platform latency and replay refusals through the `metrics` facade crate ([`telemetry`]) | |
//!
//! Every provider built here runs each operation in one `oauth_link.operation` tracing
//! span (provider, operation, outcome class) above its HTTP spans ([`telemetry`]).
//!
//! A kind whose feature is off fails with [`Error::ProviderNotCompiled`] naming the feature.
//! An app adds its own adapter (an [`oauth_link_core::adapter::Descriptor`]) with
//! [`Registry::with`]; it is then configured exactly as the built-in ones are.
//!
//! # Configuration
//!
//! - Env: `OAUTH_LINK_PROVIDER`, `OAUTH_LINK_STATE_SECRET` (at least 32 bytes), optional
//!   `OAUTH_LINK_STATE_PREVIOUS_SECRETS` (comma-separated, for rotation) and
//!   `OAUTH_LINK_STATE_TTL_SECS`, `OAUTH_LINK_STATE_ACCEPT_SIGNED` (during an upgrade from
//!   signed link states), `OAUTH_LINK_REPLAY_DIR` (record used states in a directory
//!   shared by the processes of one machine instead of in memory), `OAUTH_LINK_REDIS_URL`
//!   (record them in Redis, shared by every app instance; feature `redis`) with
//!   `OAUTH_LINK_REDIS_CLUSTER=true` when it lists the seed nodes of a Redis Cluster
//!   (comma-separated); each adapter's settings as `OAUTH_LINK_<KIND>_<KEY>`
//!   (`OAUTH_LINK_NOVU_API_KEY`, `OAUTH_LINK_ALLOY_HEADLESS_BASE_URL`...).
//! - TOML: top-level `provider`, `state_secret`, `state_previous_secrets`, `state_ttl_secs`,
//!   `state_accept_signed`,
//!   `replay_dir`, `redis_url`, `redis_cluster`,
//!   then one table per kind with the same keys lower-cased (`[novu]` `api_key = "..."`).
//! - A map: [`from_map`].
//!
//! Unknown keys, unknown kinds and missing settings are errors naming the key or env var.
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod registry;
mod settings;

use std::collections::HashMap;
use std::path::Path;

// The app-facing part of core only; what adapter authors need stays at
// `oauth_link::core::adapter`.
pub use oauth_link_core::config::{AdapterConfig, ConfigMap};
#[cfg(feature = "memory")]
pub use oauth_link_core::testing;
pub use oauth_link_core::{
    clock, http, secret, telemetry, ApiKey, Callback, CallbackModel, Capabilities, Connection, ConnectionQuery,
    ConnectionStatus, DynLinkProvider, Error, ErrorClass, FileReplayGuard, Link, LinkContext, LinkProvider,
    LinkRequest, MemoryReplayGuard, ReplayGuard, Result, SharedLinkProvider, SigningKey, StateCodec, StateKeys,
    StateToken, Target, TargetAuth, TargetParam, TransportKind, Url, DEFAULT_STATE_TTL,
};
pub use registry::{available_providers, KnownKind, ProviderConfig, ProviderInfo, Registry, KNOWN};
pub use settings::{
    Settings, StateSettings, PROVIDER_ENV, REDIS_CLUSTER_ENV, REDIS_URL_ENV, REPLAY_DIR_ENV, STATE_ACCEPT_SIGNED_ENV,
    STATE_PREVIOUS_SECRETS_ENV, STATE_SECRET_ENV, STATE_TTL_ENV,
};

/// Re-export of the core crate.
pub use oauth_link_core as core;

/// The connect flow as an axum `Router` (the `oauth-link-axum` crate).
#[cfg(feature = "axum")]
pub use oauth_link_axum as axum;

/// Builds the provider the process environment names (`OAUTH_LINK_PROVIDER`).
pub fn from_env() -> Result<SharedLinkProvider> {
    from_settings(&Settings::from_env()?)
}

/// Builds the provider a TOML file names.
pub fn from_config_file(path: impl AsRef<Path>) -> Result<SharedLinkProvider> {
    from_settings(&Settings::from_toml_file(path)?)
}

/// Builds a provider of `kind` from a flat map of its settings (plus `state_secret`).
pub fn from_map(kind: &str, map: &HashMap<String, String>) -> Result<SharedLinkProvider> {
    Registry::builtin().from_map(kind, map)
}

/// Builds the provider `settings` name, with a state context from its state settings.
pub fn from_settings(settings: &Settings) -> Result<SharedLinkProvider> {
    Registry::builtin().from_settings(settings)
}

/// Parses and validates the settings of the chosen provider (or of `kind` when given)
/// without building it.
pub fn configure(settings: &Settings, kind: Option<&str>) -> Result<ProviderConfig> {
    Registry::builtin().configure(settings, kind)
}
