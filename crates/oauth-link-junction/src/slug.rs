//! Junction provider slugs (`LinkRequest::target`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// How the end user authenticates with a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    /// OAuth consent at the provider: the link is the `oauth_url` from
    /// `GET /v2/link/provider/oauth/{provider}`.
    OAuth,
    /// Username and password entered in the Junction Link widget.
    Password,
    /// Email entered in the Junction Link widget.
    Email,
}

macro_rules! slugs {
    ($($(#[$doc:meta])* $variant:ident => $slug:literal, $kind:ident;)*) => {
        /// A Junction provider slug.
        ///
        /// The documented slugs are variants; Junction says its lists are non-exhaustive, so
        /// any other slug parses to [`ProviderSlug::Other`] and is sent to the API unchanged.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ProviderSlug {
            $($(#[$doc])* $variant,)*
            /// A slug this version does not know, kept verbatim.
            Other(String),
        }

        impl ProviderSlug {
            /// Every documented slug.
            pub const KNOWN: &'static [ProviderSlug] = &[$(ProviderSlug::$variant),*];

            /// The slug as Junction spells it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ProviderSlug::$variant => $slug,)*
                    ProviderSlug::Other(s) => s,
                }
            }

            /// How the user authenticates; `None` for a slug this version does not know.
            pub fn auth_kind(&self) -> Option<AuthKind> {
                match self {
                    $(ProviderSlug::$variant => Some(AuthKind::$kind),)*
                    ProviderSlug::Other(_) => None,
                }
            }
        }

        impl FromStr for ProviderSlug {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(match s {
                    $($slug => ProviderSlug::$variant,)*
                    other => ProviderSlug::Other(other.to_owned()),
                })
            }
        }
    };
}

slugs! {
    /// Oura ring.
    Oura => "oura", OAuth;
    /// Fitbit.
    Fitbit => "fitbit", OAuth;
    /// Garmin.
    Garmin => "garmin", OAuth;
    /// Strava.
    Strava => "strava", OAuth;
    /// Wahoo.
    Wahoo => "wahoo", OAuth;
    /// iHealth.
    Ihealth => "ihealth", OAuth;
    /// Withings.
    Withings => "withings", OAuth;
    /// Google Fit.
    GoogleFit => "google_fit", OAuth;
    /// Dexcom (API v3).
    DexcomV3 => "dexcom_v3", OAuth;
    /// Polar.
    Polar => "polar", OAuth;
    /// Cronometer.
    Cronometer => "cronometer", OAuth;
    /// Omron.
    Omron => "omron", OAuth;
    /// WHOOP (API v2).
    WhoopV2 => "whoop_v2", OAuth;
    /// MyFitnessPal (v2).
    MyFitnessPalV2 => "my_fitness_pal_v2", OAuth;
    /// Ultrahuman.
    Ultrahuman => "ultrahuman", OAuth;
    /// Runkeeper.
    Runkeeper => "runkeeper", OAuth;
    /// Google Health (API 0.4.687).
    GoogleHealth => "google_health", OAuth;
    /// WHOOP, legacy password connection (`PasswordProviders` of the Python SDK).
    Whoop => "whoop", Password;
    /// FreeStyle Libre (`EmailProviders` of the Python SDK).
    FreestyleLibre => "freestyle_libre", Email;
}

impl ProviderSlug {
    /// True for providers linked through an OAuth URL.
    pub fn is_oauth(&self) -> bool {
        self.auth_kind() == Some(AuthKind::OAuth)
    }
}

impl fmt::Display for ProviderSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for ProviderSlug {
    fn from(s: &str) -> Self {
        match s.parse() {
            Ok(slug) => slug,
            Err(never) => match never {},
        }
    }
}

impl Serialize for ProviderSlug {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProviderSlug {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| ProviderSlug::from(s.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_slugs_round_trip() {
        for slug in ProviderSlug::KNOWN {
            let text = slug.to_string();
            assert_eq!(&ProviderSlug::from(text.as_str()), slug);
            let json = serde_json::to_string(slug).unwrap();
            assert_eq!(serde_json::from_str::<ProviderSlug>(&json).unwrap(), *slug);
            assert!(slug.auth_kind().is_some());
        }
        assert_eq!(ProviderSlug::KNOWN.iter().filter(|s| s.is_oauth()).count(), 17);
        assert_eq!(ProviderSlug::from("google_health"), ProviderSlug::GoogleHealth);
        assert_eq!(ProviderSlug::Whoop.auth_kind(), Some(AuthKind::Password));
        assert_eq!(ProviderSlug::FreestyleLibre.auth_kind(), Some(AuthKind::Email));
    }

    #[test]
    fn unknown_slugs_pass_through_unchanged() {
        let slug: ProviderSlug = "Eight_Sleep-X".parse().unwrap();
        assert_eq!(slug, ProviderSlug::Other("Eight_Sleep-X".into()));
        assert_eq!(slug.to_string(), "Eight_Sleep-X");
        assert_eq!(slug.auth_kind(), None);
        assert!(!slug.is_oauth());
        assert_eq!(serde_json::to_string(&slug).unwrap(), "\"Eight_Sleep-X\"");
        // Case matters: Junction slugs are lower case, anything else is passed as given.
        assert_eq!(ProviderSlug::from("Oura"), ProviderSlug::Other("Oura".into()));
    }
}
