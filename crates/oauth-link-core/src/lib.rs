//! Core of [oauth-link](https://example.invalid/oauth-link): connect an app's end users'
//! third-party accounts through integration platforms (Alloy Automation, Novu, Junction)
//! behind one provider-agnostic trait.
//!
//! This crate holds what every adapter shares:
//!
//! - [`LinkProvider`]: generate a link, complete the callback, list connections,
//!   disconnect; apps hold an `Arc<dyn LinkProvider>`.
//! - Provider-neutral types: [`LinkRequest`], [`Link`], [`Callback`], [`Connection`],
//!   [`Capabilities`].
//! - One error enum, [`Error`], with [`Error::is_retryable`] and [`Error::class`].
//! - Sealed (encrypted and authenticated), expiring, single-use link state ([`seal`]): [`StateCodec`], [`ReplayGuard`].
//! - Redacting secret types ([`secret`]) and the HTTP seam ([`http`]) with retries.
//! - Configuration from env, TOML or a map ([`config`]).
//! - Webhooks ([`webhook`]): Standard Webhooks / Svix verification, delivery dedupe, and
//!   the provider-neutral `ConnectionEvent`.
//! - With feature `testing`: the conformance suite and an in-memory provider.
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use oauth_link_core::{testing::MemoryProvider, LinkContext, LinkProvider, LinkRequest, ConnectionQuery};
//!
//! let provider = MemoryProvider::new(LinkContext::ephemeral());
//! let link = provider.generate_link(&LinkRequest::new("user-42", "slack")).await?;
//! // ... the browser visits link.url, the user approves ...
//! let callback = provider.approve(&link)?;
//! let connection = provider.complete_callback(&callback).await?;
//! assert_eq!(provider.list_connections(&ConnectionQuery::user("user-42")).await?, vec![connection]);
//! # Ok::<(), oauth_link_core::Error>(())
//! # }).unwrap();
//! ```
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

pub mod clock;
pub mod config;
mod context;
mod descriptor;
mod error;
mod expiring;
pub mod http;
mod provider;
mod raw;
mod replay;
mod replay_file;
pub mod seal;
pub mod secret;
mod state;
mod target;
pub mod telemetry;
#[cfg(test)]
mod test_fields;
mod types;
mod unreleased;
mod users;
pub mod webhook;

#[cfg(feature = "testing")]
pub mod testing;

// What an app uses: the trait, the request and result types, the error, the secrets it
// configures, and the state and replay types it sets up. At most 30 names.
pub use context::LinkContext;
pub use error::{Error, ErrorClass, Result, TransportKind};
pub use provider::{DynLinkProvider, LinkProvider, SharedLinkProvider};
pub use replay::{MemoryReplayGuard, ReplayGuard};
pub use replay_file::FileReplayGuard;
pub use secret::{ApiKey, SigningKey, StateToken};
pub use state::{StateCodec, StateKeys, DEFAULT_STATE_TTL};
pub use target::{Target, TargetAuth, TargetParam};
pub use types::{
    Callback, CallbackModel, Capabilities, Connection, ConnectionQuery, ConnectionStatus, Link, LinkRequest,
};
pub use url::Url;

/// What an adapter author needs beyond the app-facing types: configuration reading, the
/// descriptor the facade's table lists, state claims, input checks, record scanning,
/// error helpers, what an adapter keeps between calls. The HTTP seam is [`http`], the
/// secret types and redaction rules are [`secret`], time is [`clock`].
pub mod adapter {
    pub use crate::config::{CommonConfig, ConfigMap, PollPolicy};
    pub use crate::descriptor::Descriptor;
    pub use crate::error::{env_var, excerpt, is_retryable_status, BoxError, BODY_EXCERPT_CHARS};
    pub use crate::expiring::ExpiringMap;
    pub use crate::raw::{scan_record, RawRecord, RecordScan};
    pub use crate::replay::DEFAULT_MEMORY_CAPACITY;
    pub use crate::state::{IssuedToken, Nonce, StateClaims, MAX_TOKEN_LEN, MIN_KEY_LEN};
    pub use crate::types::{
        redacted_url, redirect_with_state, validate_id, validate_redirect_uri, MAX_CALLBACK_QUERY, MAX_ID_LEN,
        MAX_PARAMS, MAX_PARAM_LEN, STATE_PARAM,
    };
    pub use crate::users::{UserMap, DEFAULT_USER_CAPACITY, DEFAULT_USER_TTL};
    /// Re-exported so adapters and apps implement the trait with the same version.
    pub use async_trait::async_trait;
}
