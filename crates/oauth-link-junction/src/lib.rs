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

/// Provider kind of this adapter.
pub const KIND: &str = "junction";

pub use config::{Environment, JunctionConfig, Region, UserMapping};
pub use provider::{JunctionProvider, ANY_PROVIDER, LINK_TOKEN_LIFETIME};
pub use redirect::LinkErrorType;
pub use slug::{AuthKind, ProviderSlug};
pub use webhook::{JunctionEvent, WebhookVerifier};
