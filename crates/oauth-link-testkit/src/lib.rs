//! Test support shared by the oauth-link adapters: each property is written once here and
//! driven per adapter by a small driver that supplies its shapes.
//!
//! - [`hostile`]: the hostile-input suite ([`hostile::Driver`], [`hostile_suite!`]):
//!   mutated success and error bodies (the error-mapping property), oversized bodies,
//!   hostile callbacks, invalid link requests and ids.
//! - [`config`]: the configuration suite ([`config::Settings`], [`config_suite!`]): the
//!   shared settings from a map, the environment and a file; errors that name their origin;
//!   URLs refused; the API key hidden.
//! - [`stub`]: one mock platform per test answering from a route table, counting requests.
//! - [`mutate`]: proptest mutations of a real response shape.
//! - [`mock`]: httpmock responders and fast retry and poll policies.
//! - [`logs`]: what `tracing` writes during a test, to prove no secret reaches a log.
//! - [`alloy`]: what the two Alloy adapters' tests share (pinned user calls, an in-memory
//!   account for their conformance drivers).
//!
//! This crate, not core's `testing` module, holds them: core's `testing` feature is turned
//! on for apps by the facade's `memory` feature, so it stays free of test-only
//! dependencies (httpmock, proptest); this crate is never published and only ever a
//! dev-dependency.
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

pub mod alloy;
pub mod config;
pub mod hostile;
pub mod logs;
pub mod mock;
pub mod mutate;
pub mod redis_server;
pub mod stub;

pub use config::{assert_config_rejects, Settings, BAD_URLS};
pub use hostile::{hostile_disconnects, Driver, Fixture};
pub use mock::{fast_poll, fast_retry, json_response, recording, sequence};
pub use mutate::{apply, huge, is_json, mutation, pointers, same_kind, wrong, Mutation, Wrong};
pub use stub::{guarded, matches_path, route, runtime, BoxFut, Outcome, Route, Stub};
