//! The shared hostile-input and configuration suites (`oauth_link_testkit`), driven by the
//! Alloy headless shapes, plus the cases particular to this adapter.

mod support;

use oauth_link_core::config::AdapterConfig;
use std::sync::Arc;
use std::time::Duration;

use oauth_link_alloy_headless::{AlloyHeadlessConfig, AlloyHeadlessProvider, StartInstallation, UserIdMode, KIND};
use oauth_link_core::{
    adapter::ConfigMap, Callback, ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest, Url,
};
use oauth_link_testkit::mock::hasty_poll;
use oauth_link_testkit::{config_suite, hostile, hostile_suite, route, BoxFut, Driver, Route, Settings};
use serde_json::{json, Value};
use support::*;

const USER: &str = "alloy-user-1";
const APP: &str = "shopify";
const OAUTH_URL: &str = "https://accounts.shopify.example/oauth/authorize?client_id=c&state=alloy";

#[derive(Clone, Copy, Debug)]
enum Op {
    Metadata,
    Generate,
    List,
    Complete,
    Integrations,
    CreateUser,
    StartInstallation,
}

/// The providers under test; users are Alloy `userId`s.
struct Headless {
    provider: Arc<AlloyHeadlessProvider>,
    ctx: LinkContext,
}

fn iso_later() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn metadata_doc() -> Value {
    json!({"data": {"connector": APP, "icon": "https://cdn.example/shopify.png", "isOauth": true,
        "properties": [{"name": "shopSubdomain", "displayName": "Shop subdomain", "description": "the shop"}]}})
}

impl Settings for Headless {
    const KIND: &'static str = KIND;
    const API_KEY: &'static str = KEY;
    type Config = AlloyHeadlessConfig;

    fn parse(map: ConfigMap) -> oauth_link_core::Result<AlloyHeadlessConfig> {
        AlloyHeadlessConfig::from_config(map)
    }
}

impl Driver for Headless {
    type Op = Op;
    const OPS: &'static [Op] =
        &[Op::Metadata, Op::Generate, Op::List, Op::Complete, Op::Integrations, Op::CreateUser, Op::StartInstallation];
    const ERROR_OP: Op = Op::CreateUser;
    const PARAM: &'static str = "shopSubdomain";

    fn secrets() -> Vec<&'static str> {
        // The token in the listed credential: masked even when the body is cut short.
        vec![Self::API_KEY, "at-secret"]
    }

    fn start(base_url: Url) -> Self {
        let ctx = LinkContext::ephemeral();
        // Every call reads the stub's current body: nothing is reused from an earlier answer.
        let config = config_at(base_url)
            .with_user_id_mode(UserIdMode::Platform)
            .with_metadata_ttl(Duration::ZERO)
            .with_poll(hasty_poll());
        Self { provider: Arc::new(provider_with(config, ctx.clone())), ctx }
    }

    fn offline() -> oauth_link_core::SharedLinkProvider {
        let config = AlloyHeadlessConfig::new(KEY)
            .with_base_url(Url::parse("http://127.0.0.1:9/").unwrap())
            .with_retry(fast_retry());
        Arc::new(provider_with(config, LinkContext::ephemeral()))
    }

    fn providers(&self) -> Vec<oauth_link_core::SharedLinkProvider> {
        vec![self.provider.clone()]
    }

    fn shape(op: Op) -> (Value, Vec<&'static str>) {
        match op {
            Op::Metadata => (
                metadata_doc(),
                vec![
                    "/data",
                    "/data/connector",
                    "/data/isOauth",
                    "/data/properties",
                    "/data/properties/0",
                    "/data/properties/0/name",
                ],
            ),
            Op::Generate => (json!({"oauthUrl": OAUTH_URL}), vec!["/oauthUrl"]),
            Op::List | Op::Complete => (
                json!({"data": [{"credentialId": "cred-1", "name": "My shop", "type": APP, "createdAt": iso_later(),
                    "updatedAt": iso_later(), "accessToken": "at-secret"}]}),
                vec!["/data/0", "/data/0/credentialId"],
            ),
            Op::Integrations => (
                json!({"data": [{"integrationId": "int-1", "description": "Orders", "primaryConnector": APP,
                    "installed": false, "icon": "https://cdn.example/i.png", "workflows": [{"id": "w1"}],
                    "credentials": ["cred-1"]}]}),
                vec![
                    "/data",
                    "/data/0",
                    "/data/0/integrationId",
                    "/data/0/workflows",
                    "/data/0/credentials",
                    "/data/0/credentials/0",
                ],
            ),
            Op::CreateUser => (json!({"userId": "alloy-user-2"}), vec!["/userId"]),
            Op::StartInstallation => (
                json!({"installationId": "inst-1", "data": [{"workflowId": "w1", "app": APP, "blockId": "b1",
                    "fields": [{"name": "channel", "displayName": "Channel", "type": "string", "required": true,
                        "options": ["a", "b"]}]}]}),
                vec![
                    "/installationId",
                    "/data",
                    "/data/0",
                    "/data/0/workflowId",
                    "/data/0/blockId",
                    "/data/0/fields",
                    "/data/0/fields/0",
                    "/data/0/fields/0/name",
                ],
            ),
        }
    }

    fn routes(op: Op, status: u16, body: Vec<u8>) -> Vec<Route> {
        let metadata = serde_json::to_vec(&metadata_doc()).unwrap();
        let credentials = format!("/credentials/users/{USER}");
        let none = serde_json::to_vec(&json!({"data": []})).unwrap();
        let oauth_url = serde_json::to_vec(&json!({"oauthUrl": OAUTH_URL})).unwrap();
        match op {
            Op::Metadata => vec![
                route("GET", "/metadata/credentials/shopify", status, body),
                route("GET", "/headless/oauthUrl", 200, oauth_url),
                route("GET", &credentials, 200, none),
            ],
            Op::Generate => vec![
                route("GET", "/metadata/credentials/shopify", 200, metadata),
                route("GET", "/headless/oauthUrl", status, body),
                route("GET", &credentials, 200, none),
            ],
            Op::List | Op::Complete => vec![route("GET", &credentials, status, body)],
            Op::Integrations => vec![route("GET", "/integrations", status, body)],
            Op::CreateUser => vec![route("POST", "/users", status, body)],
            Op::StartInstallation => vec![route("POST", "/headless/startInstallation", status, body)],
        }
    }

    fn call(&self, op: Op) -> BoxFut {
        let p = self.provider.clone();
        match op {
            Op::Metadata | Op::Generate => Box::pin(async move { p.generate_link(&Self::request()).await.map(drop) }),
            Op::List => Box::pin(async move { p.list_connections(&ConnectionQuery::user(USER)).await.map(drop) }),
            Op::Complete => {
                let cb = self.sign(Callback::from_query(KIND, "").unwrap());
                Box::pin(async move { p.complete_callback(&cb).await.map(drop) })
            }
            Op::Integrations => Box::pin(async move { p.list_integrations(USER).await.map(drop) }),
            Op::CreateUser => Box::pin(async move { p.create_user("new-user", Some("New User")).await.map(drop) }),
            Op::StartInstallation => Box::pin(async move {
                let request = StartInstallation {
                    user_id: USER.into(),
                    integration_id: "int-1".into(),
                    credential_ids: None,
                    workflow_ids: None,
                };
                p.start_installation(&request).await.map(drop)
            }),
        }
    }

    fn acceptable_2xx(op: Op, err: &Error) -> bool {
        match err {
            Error::Pending { .. } => matches!(op, Op::Complete),
            // The metadata may say the app is not OAuth, or name properties the request lacks.
            Error::InvalidInput { .. } => matches!(op, Op::Metadata),
            _ => false,
        }
    }

    fn error_docs() -> Vec<Value> {
        vec![json!({"message": "Validation failed", "code": "INVALID", "error": {"message": "bad userId"},
            "errors": [{"field": "userId", "message": "must be a string"}, "app"]})]
    }

    fn request() -> LinkRequest {
        LinkRequest::new(USER, APP).with_param("shopSubdomain", "acme")
    }

    fn bad_requests() -> Vec<(&'static str, LinkRequest)> {
        vec![
            ("reserved param userId", Self::request().with_param("userId", "someone-else")),
            ("reserved param app", Self::request().with_param("app", "slack")),
            ("too many params", (0..33).fold(Self::request(), |r, i| r.with_param(format!("p{i}"), "v"))),
        ]
    }

    fn invalid_calls(&self) -> Vec<(&'static str, BoxFut)> {
        let p = || self.provider.clone();
        let (a, b, c, d, e) = (p(), p(), p(), p(), p());
        vec![
            ("create_user blank", Box::pin(async move { a.create_user(" ", None).await.map(drop) })),
            (
                "create_user control name",
                Box::pin(async move { b.create_user("u", Some("a\u{1b}[31m")).await.map(drop) }),
            ),
            ("metadata long app", Box::pin(async move { c.credential_metadata(&"a".repeat(257)).await.map(drop) })),
            ("integrations nul user", Box::pin(async move { d.list_integrations("u\0").await.map(drop) })),
            (
                "complete_installation control",
                Box::pin(async move { e.complete_installation("inst\n1", &[]).await.map(drop) }),
            ),
        ]
    }

    fn sign(&self, callback: Callback) -> Callback {
        callback.with_state(self.ctx.sign(&self.ctx.claims(KIND, USER, APP)))
    }
}

hostile_suite!(Headless);
config_suite!(Headless);

#[test]
fn extreme_timestamps_do_not_panic() {
    // Regression: `createdAt: i64::MIN` overflowed `i64::abs` in `parse_timestamp`.
    hostile::extreme_timestamps::<Headless>(
        Op::List,
        Op::Complete,
        |created| json!({"data": [{"credentialId": "cred-1", "type": APP, "createdAt": created, "updatedAt": created}]}),
    );
}
