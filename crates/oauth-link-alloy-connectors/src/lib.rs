#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![doc = include_str!("../docs.md")]

mod client;
mod config;
mod error;
mod provider;
mod wire;

/// Provider kind of this adapter.
pub const KIND: &str = "alloy-connectors";

pub use config::{AlloyConnectorsConfig, CallbackMode};
pub use oauth_link_alloy::UserIdMode;
pub use provider::AlloyConnectorsProvider;
pub use wire::{Connector, ConnectorCredentialMetadata, CreatedUser};
