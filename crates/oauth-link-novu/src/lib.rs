#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod canonical;
mod client;
mod config;
mod error;
mod provider;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use oauth_link_core::{adapter::Descriptor, CallbackModel, Capabilities, DEFAULT_STATE_TTL};

pub use config::{NovuConfig, NovuRegion, DEFAULT_CLOCK_SKEW};
pub use provider::NovuProvider;

/// Provider kind of the Novu adapter (`OAUTH_LINK_PROVIDER=novu`, env prefix `OAUTH_LINK_NOVU_`).
pub const KIND: &str = "novu";

/// How the `oauth-link` facade finds, configures and builds this adapter.
pub const DESCRIPTOR: Descriptor<NovuConfig> = Descriptor::new(
    KIND,
    || capabilities(DEFAULT_STATE_TTL),
    |config, ctx| Ok(Arc::new(NovuProvider::new(config, ctx)?)),
);

/// What this adapter can do; a link lives 5 minutes on Novu, or less when the state does.
fn capabilities(state_ttl: Duration) -> Capabilities {
    Capabilities::new(CallbackModel::Hosted)
        .with_link_lifetime(provider::NOVU_LINK_LIFETIME.min(state_ttl))
        .with_idempotency(true)
        .with_regions(["us", "eu"])
}
