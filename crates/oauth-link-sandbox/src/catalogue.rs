//! The built-in catalogue of apps, connectors, integrations and providers.

use serde_json::{json, Value};

/// An Alloy Embedded app (credential type).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AlloyApp {
    pub(crate) name: &'static str,
    pub(crate) display: &'static str,
    pub(crate) is_oauth: bool,
    pub(crate) integration_id: &'static str,
    /// (name, displayName, description)
    pub(crate) properties: &'static [(&'static str, &'static str, &'static str)],
}

pub(crate) const ALLOY_APPS: &[AlloyApp] = &[
    AlloyApp {
        name: "shopify",
        display: "Shopify",
        is_oauth: true,
        integration_id: "661e92e38eb4d42f032be2a1",
        properties: &[(
            "shopSubdomain",
            "Shop Subdomain",
            "Enter your store subdomain. If your store domain is example.myshopify.com, the subdomain would be example.",
        )],
    },
    AlloyApp { name: "slack", display: "Slack", is_oauth: true, integration_id: "661e92e38eb4d42f032be2a2", properties: &[] },
    AlloyApp {
        name: "hubspot",
        display: "HubSpot",
        is_oauth: true,
        integration_id: "661e92e38eb4d42f032be2a3",
        properties: &[],
    },
    AlloyApp {
        name: "netsuite",
        display: "NetSuite",
        is_oauth: false,
        integration_id: "661e92e38eb4d42f032be2a4",
        properties: &[
            ("realm", "Realm", "Your NetSuite account id"),
            ("consumerKey", "Consumer Key", "Integration consumer key"),
            ("consumerSecret", "Consumer Secret", "Integration consumer secret"),
            ("tokenId", "Token ID", "Access token id"),
            ("tokenSecret", "Token Secret", "Access token secret"),
        ],
    },
];

pub(crate) fn alloy_app(name: &str) -> Option<&'static AlloyApp> {
    ALLOY_APPS.iter().find(|a| a.name == name)
}

pub(crate) fn alloy_app_by_integration(id: &str) -> Option<&'static AlloyApp> {
    ALLOY_APPS.iter().find(|a| a.integration_id == id)
}

pub(crate) fn alloy_icon(name: &str) -> String {
    format!("https://cdn.runalloy.com/icons/{name}.png")
}

impl AlloyApp {
    pub(crate) fn properties_json(&self) -> Value {
        Value::Array(
            self.properties
                .iter()
                .map(|(n, d, desc)| json!({"name": n, "displayName": d, "description": desc}))
                .collect(),
        )
    }

    pub(crate) fn workflow_id(&self) -> String {
        // Derived from the integration id so it is stable.
        format!("{}f{}", &self.integration_id[..12], &self.integration_id[13..])
    }
}

/// Alloy Connectivity connectors (all OAuth 2).
pub(crate) const ALLOY_CONNECTORS: &[(&str, &str)] =
    &[("slack", "Slack"), ("notion", "Notion"), ("hubspot", "HubSpot")];

pub(crate) fn alloy_connector(id: &str) -> Option<&'static str> {
    ALLOY_CONNECTORS.iter().find(|(c, _)| *c == id).map(|(_, d)| *d)
}

/// A connector as `GET /connectors` lists it (shape UNCONFIRMED beyond `id`, a name and a
/// logo: the quick start says to render logos and names and use `id` as `connectorId`).
pub(crate) fn alloy_connector_json(id: &str, display: &str) -> Value {
    json!({ "id": id, "name": display, "icon": alloy_icon(id), "authenticationTypes": ["oauth2"] })
}

/// A Novu integration of the sandbox environment (what `GET /v1/integrations` lists).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NovuIntegration {
    /// The integration's `_id`.
    pub(crate) id: &'static str,
    pub(crate) identifier: &'static str,
    pub(crate) provider_id: &'static str,
    /// The integration's `name`.
    pub(crate) display: &'static str,
    pub(crate) channel: &'static str,
    pub(crate) primary: bool,
    /// The endpoint type a `link_user` approval creates; `Some` exactly for the chat
    /// integrations the OAuth-URL endpoints accept (Slack and MS Teams).
    pub(crate) user_endpoint_type: Option<&'static str>,
}

/// The sandbox's Novu environment id (`_environmentId`).
pub(crate) const NOVU_ENVIRONMENT_ID: &str = "6650f1c2a1b2c3d4e5f6a001";
/// The sandbox's Novu organization id (`_organizationId`).
pub(crate) const NOVU_ORGANIZATION_ID: &str = "6650f1c2a1b2c3d4e5f6b001";

pub(crate) const NOVU_INTEGRATIONS: &[NovuIntegration] = &[
    NovuIntegration {
        id: "6650f1c2a1b2c3d4e5f60001",
        identifier: "slack",
        provider_id: "slack",
        display: "Slack",
        channel: "chat",
        primary: true,
        user_endpoint_type: Some("slack_user"),
    },
    NovuIntegration {
        id: "6650f1c2a1b2c3d4e5f60002",
        identifier: "msteams",
        provider_id: "msteams",
        display: "Microsoft Teams",
        channel: "chat",
        primary: false,
        user_endpoint_type: Some("ms_teams_user"),
    },
    NovuIntegration {
        id: "6650f1c2a1b2c3d4e5f60003",
        identifier: "telegram",
        provider_id: "telegram",
        display: "Telegram",
        channel: "chat",
        primary: false,
        user_endpoint_type: None,
    },
    NovuIntegration {
        id: "6650f1c2a1b2c3d4e5f60004",
        identifier: "novu-in-app",
        provider_id: "novu",
        display: "Novu Inbox",
        channel: "in_app",
        primary: true,
        user_endpoint_type: None,
    },
    NovuIntegration {
        id: "6650f1c2a1b2c3d4e5f60005",
        identifier: "sendgrid",
        provider_id: "sendgrid",
        display: "SendGrid",
        channel: "email",
        primary: true,
        user_endpoint_type: None,
    },
];

/// Any integration of the environment, by identifier.
pub(crate) fn novu_integration(id: &str) -> Option<&'static NovuIntegration> {
    NOVU_INTEGRATIONS.iter().find(|i| i.identifier == id)
}

/// A chat integration the OAuth-URL endpoints accept (Novu looks it up with `channel: chat`
/// and `providerId` in Slack, Novu-Slack, MS Teams; anything else is "not found").
pub(crate) fn novu_oauth_integration(id: &str) -> Option<&'static NovuIntegration> {
    novu_integration(id).filter(|i| i.channel == "chat" && i.user_endpoint_type.is_some())
}

/// A Junction provider: (slug, name, auth_type, source_type, resources).
#[derive(Debug, Clone, Copy)]
pub(crate) struct JunctionProvider {
    pub(crate) id: u32,
    pub(crate) slug: &'static str,
    pub(crate) name: &'static str,
    pub(crate) auth_type: &'static str,
    pub(crate) source_type: &'static str,
}

macro_rules! jp {
    ($id:expr, $slug:expr, $name:expr, $auth:expr, $st:expr) => {
        JunctionProvider { id: $id, slug: $slug, name: $name, auth_type: $auth, source_type: $st }
    };
}

pub(crate) const JUNCTION_PROVIDERS: &[JunctionProvider] = &[
    jp!(1, "oura", "Oura", "oauth", "device"),
    jp!(2, "fitbit", "Fitbit", "oauth", "device"),
    jp!(3, "garmin", "Garmin", "oauth", "device"),
    jp!(4, "strava", "Strava", "oauth", "app"),
    jp!(5, "wahoo", "Wahoo", "oauth", "device"),
    jp!(6, "ihealth", "iHealth", "oauth", "device"),
    jp!(7, "withings", "Withings", "oauth", "device"),
    jp!(8, "google_fit", "Google Fit", "oauth", "app"),
    jp!(9, "dexcom_v3", "Dexcom", "oauth", "device"),
    jp!(10, "polar", "Polar", "oauth", "device"),
    jp!(11, "cronometer", "Cronometer", "oauth", "app"),
    jp!(12, "omron", "Omron", "oauth", "device"),
    jp!(13, "whoop_v2", "WHOOP", "oauth", "device"),
    jp!(14, "my_fitness_pal_v2", "MyFitnessPal", "oauth", "app"),
    jp!(15, "ultrahuman", "Ultrahuman", "oauth", "device"),
    jp!(16, "runkeeper", "Runkeeper", "oauth", "app"),
    jp!(17, "google_health", "Google Health", "oauth", "app"),
    jp!(18, "peloton", "Peloton", "password", "device"),
];

pub(crate) fn junction_provider(slug: &str) -> Option<&'static JunctionProvider> {
    JUNCTION_PROVIDERS.iter().find(|p| p.slug == slug)
}

impl JunctionProvider {
    pub(crate) fn logo(&self) -> String {
        format!("https://storage.googleapis.com/vital-assets/{}.png", self.slug)
    }

    pub(crate) fn is_oauth(&self) -> bool {
        self.auth_type == "oauth"
    }

    pub(crate) fn resource_availability(&self) -> Value {
        let mut m = serde_json::Map::new();
        for r in ["activity", "sleep", "workouts", "body"] {
            m.insert(r.into(), json!({"status": "available", "scope_requirements": null}));
        }
        Value::Object(m)
    }
}

/// The whole catalogue as JSON (`GET /__sandbox/catalogue`).
pub(crate) fn catalogue_json() -> Value {
    json!({
        "alloy": {
            "apps": ALLOY_APPS.iter().map(|a| json!({
                "app": a.name,
                "displayName": a.display,
                "isOauth": a.is_oauth,
                "integrationId": a.integration_id,
                "properties": a.properties_json(),
            })).collect::<Vec<_>>(),
            "connectors": ALLOY_CONNECTORS.iter().map(|(c, d)| json!({
                "connectorId": c, "displayName": d, "authenticationTypes": ["oauth2"],
            })).collect::<Vec<_>>(),
        },
        "novu": {
            "integrations": NOVU_INTEGRATIONS.iter().map(|i| json!({
                "integrationIdentifier": i.identifier, "providerId": i.provider_id, "channel": i.channel,
                "name": i.display, "oauth": i.user_endpoint_type.is_some(), "userEndpointType": i.user_endpoint_type,
            })).collect::<Vec<_>>(),
        },
        "junction": {
            "providers": JUNCTION_PROVIDERS.iter().map(|p| json!({
                "id": p.id, "slug": p.slug, "name": p.name, "auth_type": p.auth_type, "source_type": p.source_type,
            })).collect::<Vec<_>>(),
        },
    })
}
