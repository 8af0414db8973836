//! The one error type of oauth-link.
//!
//! Variants are semantic (what went wrong), not per provider; each provider-sourced variant
//! names the provider kind. Messages say what happened and what to do next, and never
//! contain a secret: adapters scrub response bodies before they land here.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Result alias used across oauth-link.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Boxed source error kept for the `source()` chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Longest provider body excerpt kept in an error, in characters.
pub const BODY_EXCERPT_CHARS: usize = 256;

/// Everything that can go wrong while linking an account.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller passed a value the provider cannot accept; nothing was sent.
    #[error("invalid {field} for {provider}: {reason}")]
    InvalidInput {
        /// Provider kind.
        provider: &'static str,
        /// The offending field (`user`, `target`, `redirect_uri`, `params.shopSubdomain`...).
        field: String,
        /// Why it was rejected and what is expected instead.
        reason: String,
    },

    /// The configuration is missing a setting, has an unknown one, or holds a bad value.
    #[error("configuration error: {message}")]
    Config {
        /// The setting at fault (`api_key`, `OAUTH_LINK_NOVU_API_KEY`, `novu.region`...).
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },

    /// No provider of that kind exists.
    #[error("unknown provider `{kind}`; valid kinds: {}", available.join(", "))]
    UnknownProvider {
        /// The kind that was asked for.
        kind: String,
        /// Every kind oauth-link knows.
        available: Vec<&'static str>,
    },

    /// The provider exists but its adapter was not compiled into this build.
    #[error("provider `{kind}` is not compiled in; enable the cargo feature `{feature}` of the `oauth-link` crate")]
    ProviderNotCompiled {
        /// The provider kind.
        kind: &'static str,
        /// The facade feature that enables it.
        feature: &'static str,
    },

    /// The platform rejected the credentials (HTTP 401).
    #[error(
        "{provider} rejected the API key: {message}; check the `api_key` setting ({})",
        env_var(provider, "api_key")
    )]
    Unauthenticated {
        /// Provider kind.
        provider: &'static str,
        /// The platform's message.
        message: String,
    },

    /// The credentials are valid but not allowed to do this (HTTP 403).
    #[error("{provider} refused the operation (403): {message}; check the API key's permissions and environment")]
    Forbidden {
        /// Provider kind.
        provider: &'static str,
        /// The platform's message.
        message: String,
    },

    /// The user, app, connector or connection does not exist on the platform (HTTP 404).
    #[error("{provider} has no such resource: {message}")]
    NotFound {
        /// Provider kind.
        provider: &'static str,
        /// What was not found.
        message: String,
    },

    /// The request conflicts with the platform's current state (HTTP 409).
    #[error("{provider} reported a conflict: {message}")]
    Conflict {
        /// Provider kind.
        provider: &'static str,
        /// The platform's message.
        message: String,
    },

    /// The platform throttled the calls and retries did not outlast it (HTTP 429).
    #[error("{provider} rate limit reached{}: {message}; wait, then try again", fmt_retry_after(*retry_after))]
    RateLimited {
        /// Provider kind.
        provider: &'static str,
        /// How long the platform asked to wait, when it said.
        retry_after: Option<Duration>,
        /// The platform's message.
        message: String,
    },

    /// The end user refused consent, or the platform reported that the link failed.
    #[error("{provider} link was not completed ({code}): {reason}; offer the user to start a new link")]
    Denied {
        /// Provider kind.
        provider: &'static str,
        /// The platform's error code (`access_denied`, `user_cancelled`...).
        code: String,
        /// The human-readable reason, when the platform gave one.
        reason: String,
    },

    /// The link state is malformed, forged, tampered with, or belongs to another provider.
    #[error("link state rejected by {provider}: {reason}; the callback does not come from a link this app issued, start a new link")]
    StateInvalid {
        /// Provider kind.
        provider: &'static str,
        /// What failed.
        reason: String,
    },

    /// The link state is authentic but too old.
    #[error("link state for {provider} expired at {expired_at}; start a new link")]
    StateExpired {
        /// Provider kind.
        provider: &'static str,
        /// When it expired.
        expired_at: DateTime<Utc>,
    },

    /// The link state was already used to complete a link.
    #[error("link state for {provider} was already used; each link completes once, start a new link")]
    StateReplayed {
        /// Provider kind.
        provider: &'static str,
    },

    /// The replay guard could not record the state, so the callback was refused (fail closed).
    #[error("replay guard unavailable, callback refused: {message}")]
    ReplayGuard {
        /// What failed and what to do.
        message: String,
    },

    /// The platform has not shown the new connection within the polling window.
    #[error("{provider} has not confirmed the connection yet: {message}; the state was kept, call complete_callback again with the same callback shortly")]
    Pending {
        /// Provider kind.
        provider: &'static str,
        /// What was looked for.
        message: String,
    },

    /// Any other error status from the platform.
    #[error("{provider} answered HTTP {status}{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Provider {
        /// Provider kind.
        provider: &'static str,
        /// HTTP status.
        status: u16,
        /// The platform's error code, when it gave one.
        code: Option<String>,
        /// The platform's message.
        message: String,
    },

    /// The request did not complete: connection refused, timeout, reset.
    #[error("{provider} could not be reached ({kind}): {message}; check base_url and the network, then retry")]
    Transport {
        /// Provider kind.
        provider: &'static str,
        /// What kind of failure.
        kind: TransportKind,
        /// Details, with no URL query string.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },

    /// The platform answered with a body oauth-link cannot read.
    #[error("{provider} sent an unreadable response: {message}; body starts with: {body}")]
    Decode {
        /// Provider kind.
        provider: &'static str,
        /// What was expected.
        message: String,
        /// The first characters of the body, secrets scrubbed.
        body: String,
    },

    /// The provider does not offer this operation.
    #[error("{provider} does not support {operation}")]
    Unsupported {
        /// Provider kind.
        provider: &'static str,
        /// The operation asked for.
        operation: &'static str,
    },

    /// A webhook delivery was refused: unsigned, forged, tampered with, too old, or
    /// already handled (see [`webhook`](crate::webhook)).
    #[error("{provider} webhook delivery refused: {reason}")]
    WebhookRejected {
        /// Provider kind.
        provider: &'static str,
        /// Why, and what to do.
        reason: crate::webhook::WebhookError,
    },
}

/// What kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The connection could not be opened; the request never left.
    Connect,
    /// The request or connect timeout elapsed.
    Timeout,
    /// The connection broke mid-way or the body could not be read.
    Io,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connect failed",
            TransportKind::Timeout => "timed out",
            TransportKind::Io => "connection broken",
        })
    }
}

/// How an error should be reported by a command-line tool or an HTTP handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The caller's input, configuration or link state is at fault; retrying the same
    /// thing will not help.
    Caller,
    /// The platform or the user rejected the request (4xx, consent denied).
    Rejected,
    /// A transient failure: network, timeout, 5xx, rate limit, pending confirmation.
    Transient,
}

impl Error {
    /// The provider kind the error came from, if any.
    pub fn provider(&self) -> Option<&'static str> {
        match self {
            Error::InvalidInput { provider, .. }
            | Error::Unauthenticated { provider, .. }
            | Error::Forbidden { provider, .. }
            | Error::NotFound { provider, .. }
            | Error::Conflict { provider, .. }
            | Error::RateLimited { provider, .. }
            | Error::Denied { provider, .. }
            | Error::StateInvalid { provider, .. }
            | Error::StateExpired { provider, .. }
            | Error::StateReplayed { provider }
            | Error::Pending { provider, .. }
            | Error::Provider { provider, .. }
            | Error::Transport { provider, .. }
            | Error::Decode { provider, .. }
            | Error::Unsupported { provider, .. }
            | Error::WebhookRejected { provider, .. } => Some(provider),
            Error::ProviderNotCompiled { kind, .. } => Some(kind),
            Error::Config { .. } | Error::UnknownProvider { .. } | Error::ReplayGuard { .. } => None,
        }
    }

    /// True when the same call may succeed if made again later. An unreadable answer
    /// ([`Error::Decode`]) counts: it is most often a cut or garbled transfer, and every
    /// operation that can end in one is safe to call again (a new link, a completion whose
    /// state was released, a list).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::RateLimited { .. }
            | Error::Transport { .. }
            | Error::Pending { .. }
            | Error::ReplayGuard { .. }
            | Error::Decode { .. } => true,
            Error::Provider { status, .. } => is_retryable_status(*status),
            _ => false,
        }
    }

    /// How long the platform asked to wait before the next call, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The broad class of the error (drives CLI exit codes and HTTP status choices).
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::InvalidInput { .. }
            | Error::Config { .. }
            | Error::UnknownProvider { .. }
            | Error::ProviderNotCompiled { .. }
            | Error::StateInvalid { .. }
            | Error::StateExpired { .. }
            | Error::StateReplayed { .. }
            | Error::Unsupported { .. }
            | Error::WebhookRejected { .. } => ErrorClass::Caller,
            Error::Unauthenticated { .. }
            | Error::Forbidden { .. }
            | Error::NotFound { .. }
            | Error::Conflict { .. }
            | Error::Denied { .. } => ErrorClass::Rejected,
            Error::Provider { status, .. } if *status < 500 && !is_retryable_status(*status) => ErrorClass::Rejected,
            Error::Provider { .. }
            | Error::RateLimited { .. }
            | Error::Pending { .. }
            | Error::Transport { .. }
            | Error::Decode { .. }
            | Error::ReplayGuard { .. } => ErrorClass::Transient,
        }
    }

    /// This error with every occurrence of each of `secrets` replaced in its text
    /// (redaction rule 2, see [`crate::secret`]): what [`ApiClient`](crate::http::ApiClient)
    /// applies to every error it returns, with the secrets it sent.
    pub fn scrubbed(self, secrets: &[&str]) -> Self {
        if secrets.is_empty() {
            return self;
        }
        let clean = |text: String| crate::secret::scrub(&text, secrets);
        match self {
            Error::InvalidInput { provider, field, reason } => {
                Error::InvalidInput { provider, field: clean(field), reason: clean(reason) }
            }
            Error::Unauthenticated { provider, message } => {
                Error::Unauthenticated { provider, message: clean(message) }
            }
            Error::Forbidden { provider, message } => Error::Forbidden { provider, message: clean(message) },
            Error::NotFound { provider, message } => Error::NotFound { provider, message: clean(message) },
            Error::Conflict { provider, message } => Error::Conflict { provider, message: clean(message) },
            Error::RateLimited { provider, retry_after, message } => {
                Error::RateLimited { provider, retry_after, message: clean(message) }
            }
            Error::Denied { provider, code, reason } => {
                Error::Denied { provider, code: clean(code), reason: clean(reason) }
            }
            Error::Pending { provider, message } => Error::Pending { provider, message: clean(message) },
            Error::Provider { provider, status, code, message } => {
                Error::Provider { provider, status, code: code.map(clean), message: clean(message) }
            }
            Error::Transport { provider, kind, message, source } => {
                Error::Transport { provider, kind, message: clean(message), source }
            }
            Error::Decode { provider, message, body } => {
                Error::Decode { provider, message: clean(message), body: clean(body) }
            }
            other => other,
        }
    }

    /// Builds an [`Error::InvalidInput`].
    pub fn invalid_input(provider: &'static str, field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput { provider, field: field.into(), reason: reason.into() }
    }

    /// Builds an [`Error::Config`].
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { key: key.into(), message: message.into() }
    }

    /// Builds an [`Error::Decode`] from what was expected and the raw body (truncated here;
    /// the caller scrubs secrets first).
    pub fn decode(provider: &'static str, message: impl Into<String>, body: &[u8]) -> Self {
        Error::Decode { provider, message: message.into(), body: excerpt(body) }
    }

    /// Builds an [`Error::StateInvalid`].
    pub fn state_invalid(provider: &'static str, reason: impl Into<String>) -> Self {
        Error::StateInvalid { provider, reason: reason.into() }
    }
}

/// Statuses worth retrying: request timeout, rate limit and server failures (every 5xx
/// but 501 Not Implemented and 505 HTTP Version Not Supported, which do not pass). The
/// official Novu and Junction SDKs retry 5xx too.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502..=504 | 506..=599)
}

/// The environment variable that sets `key` for the provider `kind`
/// (`OAUTH_LINK_<KIND>_<KEY>`, kind upper-cased with `_`).
pub fn env_var(kind: &str, key: &str) -> String {
    let mut name = String::with_capacity(12 + kind.len() + key.len());
    name.push_str("OAUTH_LINK_");
    for part in [kind, key] {
        name.extend(part.chars().map(|c| if c == '-' || c == '.' { '_' } else { c.to_ascii_uppercase() }));
        name.push('_');
    }
    name.pop();
    name
}

/// The first [`BODY_EXCERPT_CHARS`] characters of a body, lossily decoded, control
/// characters replaced, the values of secret-named fields masked (even in a body cut
/// short: see [`mask_secret_values`](crate::secret::mask_secret_values)).
pub fn excerpt(body: &[u8]) -> String {
    let text = crate::secret::mask_secret_values(&String::from_utf8_lossy(body), crate::secret::is_secret_field_name);
    let mut out: String = text.chars().take(BODY_EXCERPT_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().count() > BODY_EXCERPT_CHARS {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty)");
    }
    out
}

fn fmt_retry_after(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(d) if d.subsec_millis() == 0 => format!(" (retry after {}s)", d.as_secs()),
        Some(d) => format!(" (retry after {:.1}s)", d.as_secs_f64()),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names_follow_the_convention() {
        assert_eq!(env_var("novu", "api_key"), "OAUTH_LINK_NOVU_API_KEY");
        assert_eq!(env_var("alloy-headless", "base_url"), "OAUTH_LINK_ALLOY_HEADLESS_BASE_URL");
    }

    #[test]
    fn retryable_and_classes() {
        let rate = Error::RateLimited {
            provider: "novu",
            retry_after: Some(Duration::from_secs(3)),
            message: "slow down".into(),
        };
        assert!(rate.is_retryable());
        assert_eq!(rate.retry_after(), Some(Duration::from_secs(3)));
        assert_eq!(rate.class(), ErrorClass::Transient);
        assert_eq!(rate.to_string(), "novu rate limit reached (retry after 3s): slow down; wait, then try again");

        let p400 = Error::Provider { provider: "junction", status: 400, code: None, message: "bad".into() };
        assert!(!p400.is_retryable());
        assert_eq!(p400.class(), ErrorClass::Rejected);
        let p503 =
            Error::Provider { provider: "junction", status: 503, code: Some("busy".into()), message: "m".into() };
        assert!(p503.is_retryable());
        assert_eq!(p503.class(), ErrorClass::Transient);
        assert_eq!(p503.to_string(), "junction answered HTTP 503 (busy): m");

        assert!(!Error::StateReplayed { provider: "novu" }.is_retryable());
        assert_eq!(Error::StateReplayed { provider: "novu" }.class(), ErrorClass::Caller);
        assert_eq!(
            Error::Denied { provider: "novu", code: "x".into(), reason: "y".into() }.class(),
            ErrorClass::Rejected
        );
    }

    #[test]
    fn unauthenticated_names_the_env_var() {
        let e = Error::Unauthenticated { provider: "alloy-headless", message: "Invalid key".into() };
        assert!(e.to_string().contains("OAUTH_LINK_ALLOY_HEADLESS_API_KEY"), "{e}");
        assert_eq!(e.provider(), Some("alloy-headless"));
    }

    #[test]
    fn excerpt_is_bounded_and_printable() {
        let long = "x".repeat(1000);
        let e = excerpt(long.as_bytes());
        assert_eq!(e.chars().count(), BODY_EXCERPT_CHARS + 1);
        assert_eq!(excerpt(b"a\nb\x00"), "a b ");
        assert_eq!(excerpt(b""), "(empty)");
        assert_eq!(excerpt(&[0xff, b'a']), "\u{fffd}a");
    }
}
