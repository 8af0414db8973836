#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![doc = include_str!("../docs.md")]

mod client;
mod config;
mod error;
mod provider;
mod wire;

/// Provider kind of this adapter.
pub const KIND: &str = "alloy-headless";

pub use config::{AlloyHeadlessConfig, DEFAULT_METADATA_TTL};
pub use oauth_link_alloy::UserIdMode;
pub use provider::AlloyHeadlessProvider;
pub use wire::{
    CompletedInstallation, CreatedCredential, CreatedUser, CredentialMetadata, CredentialProperty, FieldValue,
    Installation, InstallationBlock, InstallationField, InstallationInput, Integration, StartInstallation,
};
