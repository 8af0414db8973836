//! The platform's catalogue: what an app may pass as [`LinkRequest::target`](crate::LinkRequest::target).

use serde::{Deserialize, Serialize};
use url::Url;

/// Something a user can connect, as the platform lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Target {
    /// The id to pass as [`LinkRequest::target`](crate::LinkRequest::target).
    pub id: String,
    /// The name to show a person.
    pub name: String,
    /// A logo to show beside the name, when the platform gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<Url>,
    /// How the user authenticates with the target.
    pub auth: TargetAuth,
    /// Extra parameters a link to this target needs (pass them in
    /// [`LinkRequest::params`](crate::LinkRequest::params)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<TargetParam>,
}

impl Target {
    /// A target named `name`, linked with `id`, authenticating by `auth`.
    pub fn new(id: impl Into<String>, name: impl Into<String>, auth: TargetAuth) -> Self {
        Self { id: id.into(), name: name.into(), logo_url: None, auth, params: Vec::new() }
    }

    /// Sets the logo, when `logo` is an absolute http(s) URL; anything else is dropped (a
    /// platform's relative or malformed logo path is no use to a page).
    pub fn with_logo(mut self, logo: Option<&str>) -> Self {
        self.logo_url =
            logo.and_then(|text| Url::parse(text).ok()).filter(|url| matches!(url.scheme(), "https" | "http"));
        self
    }

    /// Adds an extra parameter.
    pub fn with_param(mut self, param: TargetParam) -> Self {
        self.params.push(param);
        self
    }

    /// True when [`LinkProvider::generate_link`](crate::LinkProvider::generate_link) can
    /// start an OAuth consent for it.
    pub fn is_oauth(&self) -> bool {
        self.auth == TargetAuth::OAuth
    }
}

/// How a user authenticates with a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TargetAuth {
    /// An OAuth consent screen.
    #[serde(rename = "oauth")]
    OAuth,
    /// A form the platform shows (API key, password, email, a code).
    Form,
    /// A mobile SDK or device pairing, outside a browser.
    Sdk,
    /// Something else the platform names.
    Other,
}

/// An extra parameter a target needs (e.g. Shopify's `shopSubdomain`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TargetParam {
    /// The key to use in [`LinkRequest::params`](crate::LinkRequest::params).
    pub name: String,
    /// A label to show a person, when the platform gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// True when a link fails without it.
    pub required: bool,
}

impl TargetParam {
    /// A parameter named `name`.
    pub fn new(name: impl Into<String>, required: bool) -> Self {
        Self { name: name.into(), display_name: None, required }
    }

    /// Sets the label.
    pub fn with_display_name(mut self, label: impl Into<String>) -> Self {
        self.display_name = Some(label.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_stable_and_logos_are_checked() {
        let target = Target::new("shopify", "Shopify", TargetAuth::OAuth)
            .with_logo(Some("https://cdn.example/shopify.png"))
            .with_param(TargetParam::new("shopSubdomain", true).with_display_name("Shop subdomain"));
        assert_eq!(
            serde_json::to_value(&target).unwrap(),
            serde_json::json!({"id": "shopify", "name": "Shopify", "logo_url": "https://cdn.example/shopify.png",
                "auth": "oauth", "params": [{"name": "shopSubdomain", "display_name": "Shop subdomain", "required": true}]})
        );
        assert!(target.is_oauth());
        for bad in ["/logo.png", "javascript:alert(1)", "not a url"] {
            assert_eq!(Target::new("a", "A", TargetAuth::Form).with_logo(Some(bad)).logo_url, None, "{bad}");
        }
        let plain = serde_json::to_value(Target::new("oura", "Oura", TargetAuth::Sdk)).unwrap();
        assert_eq!(plain, serde_json::json!({"id": "oura", "name": "Oura", "auth": "sdk"}));
    }
}
