#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod client;
pub mod config;
mod error;
pub mod provider;
pub mod redirect;
pub mod slug;
mod users;
pub mod webhook;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use oauth_link_core::{adapter::Descriptor, CallbackModel, Capabilities, DEFAULT_STATE_TTL};

/// Provider kind of this adapter.
pub const KIND: &str = "junction";

pub use config::{Environment, JunctionConfig, Region, UserMapping};
pub use provider::{JunctionProvider, ANY_PROVIDER, LINK_TOKEN_LIFETIME};
pub use redirect::LinkErrorType;
pub use slug::{AuthKind, ProviderSlug};
pub use webhook::{JunctionEvent, WebhookVerifier};

/// How the `oauth-link` facade finds, configures and builds this adapter.
pub const DESCRIPTOR: Descriptor<JunctionConfig> = Descriptor::new(
    KIND,
    || capabilities(DEFAULT_STATE_TTL),
    |config, ctx| Ok(Arc::new(JunctionProvider::new(config, ctx)?)),
);

/// What this adapter can do; a link token lives as long as Junction allows, or less when
/// the state does. A reconnect keeps the connection's id: Junction keeps one record per user
/// and provider, and a new link for them replaces its credentials.
fn capabilities(state_ttl: Duration) -> Capabilities {
    Capabilities::new(CallbackModel::AppRedirect)
        .with_link_lifetime(LINK_TOKEN_LIFETIME.min(state_ttl))
        .with_reconnect_keeps_id(true)
        .with_regions(["us", "eu"])
}
