#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![doc = include_str!("../docs.md")]

mod client;
mod config;
mod error;
mod provider;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use oauth_link_core::{adapter::Descriptor, CallbackModel, Capabilities, DEFAULT_STATE_TTL};

/// Provider kind of this adapter.
pub const KIND: &str = "alloy-connectors";

pub use config::{AlloyConnectorsConfig, CallbackMode};
pub use oauth_link_alloy::UserIdMode;
pub use provider::AlloyConnectorsProvider;
pub use wire::{Connector, ConnectorCredentialMetadata, CreatedUser};

/// How the `oauth-link` facade finds, configures and builds this adapter.
pub const DESCRIPTOR: Descriptor<AlloyConnectorsConfig> = Descriptor::new(
    KIND,
    || capabilities(DEFAULT_STATE_TTL),
    |config, ctx| Ok(Arc::new(AlloyConnectorsProvider::new(config, ctx)?)),
);

/// What this adapter can do; links live as long as their state (Alloy documents no lifetime
/// for `oauthUrl`).
fn capabilities(state_ttl: Duration) -> Capabilities {
    Capabilities::new(CallbackModel::AppRedirect).with_link_lifetime(state_ttl)
}
