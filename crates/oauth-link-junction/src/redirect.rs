//! What Junction appends to `redirect_url`: `state=success`, or
//! `state=error&error_type=...&error=...`.

use std::fmt;
use std::str::FromStr;

use oauth_link_core::{adapter::excerpt, Callback, Error, Result};

use crate::KIND;

macro_rules! error_types {
    ($($(#[$doc:meta])* $variant:ident => $code:literal, $hint:literal;)*) => {
        /// The documented Link error types (`error_type` on an error redirect). Junction says
        /// the list is non-exhaustive: other values parse to [`LinkErrorType::Other`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum LinkErrorType {
            $($(#[$doc])* $variant,)*
            /// A value this version does not know, kept verbatim.
            Other(String),
        }

        impl LinkErrorType {
            /// Every documented error type.
            pub const KNOWN: &'static [LinkErrorType] = &[$(LinkErrorType::$variant),*];

            /// The value as Junction spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(LinkErrorType::$variant => $code,)*
                    LinkErrorType::Other(s) => s,
                }
            }

            /// What it means, for when the redirect carries no `error` message.
            pub fn hint(&self) -> &'static str {
                match self {
                    $(LinkErrorType::$variant => $hint,)*
                    LinkErrorType::Other(_) => "Junction reported a link error this version does not know",
                }
            }
        }

        impl FromStr for LinkErrorType {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                Ok(match s {
                    $($code => LinkErrorType::$variant,)*
                    other => LinkErrorType::Other(other.to_owned()),
                })
            }
        }
    };
}

error_types! {
    /// The link token is not valid.
    InvalidToken => "invalid_token", "the link token is not valid";
    /// The link token expired before it was used.
    TokenExpired => "token_expired", "the link token expired before the user finished";
    /// The link token was already used.
    TokenConsumed => "token_consumed", "the link token was already used";
    /// The user closed the widget (`on_close=redirect`).
    UserCancelled => "user_cancelled", "the user cancelled the connection";
    /// Wrong provider credentials.
    ProviderCredentialError => "provider_credential_error", "the provider rejected the user's credentials";
    /// The provider password expired.
    ProviderPasswordExpired => "provider_password_expired", "the user's provider password has expired";
    /// The provider's API failed.
    ProviderApiError => "provider_api_error", "the provider's API failed during the connection";
    /// The provider account is in a region Junction does not serve.
    UnsupportedRegion => "unsupported_region", "the provider account's region is not supported";
    /// The provider account is already connected.
    DuplicateConnection => "duplicate_connection", "this provider account is already connected";
    /// The user did not grant the required scopes.
    RequiredScopesNotGranted => "required_scopes_not_granted", "the user did not grant the required permissions";
    /// Wrong multi-factor code.
    IncorrectMfaCode => "incorrect_mfa_code", "the multi-factor code was wrong";
}

impl fmt::Display for LinkErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome the redirect reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    Failed { error_type: LinkErrorType, message: Option<String> },
}

impl Outcome {
    /// Reads `state` / `error_type` / `error`. `None` when Junction's `state` is absent
    /// (Junction reported nothing: the user left, or only the app's state came back); an
    /// unknown `state` is [`Error::InvalidInput`] (checked before the link state is
    /// consumed).
    pub(crate) fn read(callback: &Callback) -> Result<Option<Self>> {
        Ok(Some(match callback.param("state") {
            Some("success") => Outcome::Success,
            Some("error") => {
                let error_type = callback.param("error_type").filter(|s| !s.trim().is_empty()).unwrap_or("unknown");
                let message = callback.param("error").filter(|s| !s.trim().is_empty()).map(|m| excerpt(m.as_bytes()));
                Outcome::Failed {
                    error_type: LinkErrorType::from_str(&excerpt(error_type.as_bytes())).unwrap_or_else(|n| match n {}),
                    message,
                }
            }
            Some(other) => {
                return Err(Error::invalid_input(
                    KIND,
                    "callback.state",
                    format!(
                        "Junction's `state` parameter must be `success` or `error`, got `{}`",
                        excerpt(other.as_bytes())
                    ),
                ))
            }
            None => return Ok(None),
        }))
    }

    /// The typed error of a failed link: always [`Error::Denied`] with the error type as
    /// `code` and Junction's message (or a hint) as `reason`.
    pub(crate) fn into_error(error_type: LinkErrorType, message: Option<String>) -> Error {
        let reason = message.unwrap_or_else(|| error_type.hint().to_owned());
        Error::Denied { provider: KIND, code: error_type.as_str().to_owned(), reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_round_trip() {
        for t in LinkErrorType::KNOWN {
            assert_eq!(&t.as_str().parse::<LinkErrorType>().unwrap(), t);
            assert!(!t.hint().is_empty());
        }
        assert_eq!(LinkErrorType::KNOWN.len(), 11);
        let other: LinkErrorType = "brand_new".parse().unwrap();
        assert_eq!(other.to_string(), "brand_new");
    }

    #[test]
    fn reading_the_redirect() {
        let read = |q: &str| Outcome::read(&Callback::from_query(KIND, q).unwrap());
        assert_eq!(read("state=success").unwrap(), Some(Outcome::Success));
        assert_eq!(
            read("state=error&error_type=user_cancelled&error=closed").unwrap(),
            Some(Outcome::Failed { error_type: LinkErrorType::UserCancelled, message: Some("closed".into()) })
        );
        assert_eq!(
            read("state=error").unwrap(),
            Some(Outcome::Failed { error_type: LinkErrorType::Other("unknown".into()), message: None })
        );
        assert!(matches!(read("state=maybe"), Err(Error::InvalidInput { .. })));
        assert_eq!(read("oauth_link_state=x").unwrap(), None);
    }
}
