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
//! - Signed, expiring, single-use link state: [`StateCodec`], [`ReplayGuard`].
//! - Redacting secret types ([`secret`]) and the HTTP seam ([`http`]) with retries.
//! - Configuration from env, TOML or a map ([`config`]).
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
pub mod secret;
mod state;
mod target;
mod types;
mod users;

#[cfg(feature = "testing")]
pub mod testing;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{CommonConfig, ConfigMap, PollPolicy};
pub use context::LinkContext;
pub use descriptor::Descriptor;
pub use error::{
    env_var, excerpt, is_retryable_status, BoxError, Error, ErrorClass, Result, TransportKind, BODY_EXCERPT_CHARS,
};
pub use expiring::ExpiringMap;
pub use provider::{DynLinkProvider, LinkProvider, SharedLinkProvider};
pub use raw::{scan_record, RawRecord, RecordScan};
pub use replay::{MemoryReplayGuard, ReplayGuard, DEFAULT_MEMORY_CAPACITY};
pub use replay_file::FileReplayGuard;
pub use secret::{AccessToken, ApiKey, AuthCode, LinkToken, SecretUrl, SigningKey, StateToken};
pub use state::{IssuedState, LinkState, Nonce, StateCodec, StateKeys, DEFAULT_STATE_TTL, MAX_TOKEN_LEN, MIN_KEY_LEN};
pub use target::{Target, TargetAuth, TargetParam};
pub use types::{
    redacted_url, redirect_with_state, validate_id, validate_redirect_uri, Callback, CallbackModel, Capabilities,
    Connection, ConnectionQuery, ConnectionStatus, Link, LinkRequest, MAX_CALLBACK_QUERY, MAX_ID_LEN, MAX_PARAMS,
    MAX_PARAM_LEN, STATE_PARAM,
};
pub use users::{UserMap, DEFAULT_USER_CAPACITY, DEFAULT_USER_TTL};

/// Re-exported so adapters and apps use the same versions.
pub use async_trait::async_trait;
pub use url::Url;
