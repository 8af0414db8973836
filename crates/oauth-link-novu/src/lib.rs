#![doc = include_str!("../docs.md")]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod canonical;
mod client;
mod config;
mod error;
mod provider;
mod wire;

pub use config::{NovuConfig, NovuRegion, DEFAULT_CLOCK_SKEW};
pub use provider::NovuProvider;

/// Provider kind of the Novu adapter (`OAUTH_LINK_PROVIDER=novu`, env prefix `OAUTH_LINK_NOVU_`).
pub const KIND: &str = "novu";
