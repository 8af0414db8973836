//! The shared hostile-input and configuration suites (`oauth_link_testkit`), driven by the
//! Alloy Connectivity shapes in both callback modes, plus the cases particular to this
//! adapter.

mod support;

use oauth_link_core::config::AdapterConfig;
use std::sync::Arc;

use oauth_link_alloy_connectors::{AlloyConnectorsConfig, AlloyConnectorsProvider, CallbackMode, UserIdMode, KIND};
use oauth_link_core::{
    adapter::ConfigMap, Callback, ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest, SharedLinkProvider,
    Url,
};
use oauth_link_testkit::mock::hasty_poll;
use oauth_link_testkit::{
    config_suite, hostile, hostile_suite, route, BoxFut, Driver, Fixture, Route, Settings, BAD_URLS,
};
use serde_json::{json, Value};
use support::*;

const USER: &str = "alloy-user-1";
const CONNECTOR: &str = "slack";
const OAUTH_URL: &str = "https://slack.com/oauth/v2/authorize?client_id=c&state=alloy";
const CREDENTIALS: &str = "/connectors/slack/credentials";

#[derive(Clone, Copy, Debug)]
enum Op {
    Generate,
    List,
    Complete,
    Exchange,
    Metadata,
    CreateUser,
}

/// The providers under test, one per callback mode; users are Alloy `userId`s.
struct Connectors {
    provider: Arc<AlloyConnectorsProvider>,
    exchanging: Arc<AlloyConnectorsProvider>,
    ctx: LinkContext,
}

fn iso_later() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Settings for Connectors {
    const KIND: &'static str = KIND;
    const API_KEY: &'static str = KEY;
    type Config = AlloyConnectorsConfig;

    fn parse(map: ConfigMap) -> oauth_link_core::Result<AlloyConnectorsConfig> {
        AlloyConnectorsConfig::from_config(map)
    }

    fn url_settings() -> Vec<(&'static str, Vec<&'static str>)> {
        // The configured redirect URI is held to the same rules as a request's.
        let bad_redirects =
            ["javascript:alert(1)", "data:text/html,x", "ftp://h/cb", "http://public.example/cb", "file:///etc/passwd"];
        vec![("base_url", BAD_URLS.to_vec()), ("redirect_uri", bad_redirects.to_vec())]
    }
}

impl Driver for Connectors {
    type Op = Op;
    const OPS: &'static [Op] = &[Op::Generate, Op::List, Op::Complete, Op::Exchange, Op::Metadata, Op::CreateUser];
    const ERROR_OP: Op = Op::Generate;
    const PARAM: &'static str = "workspace";

    fn secrets() -> Vec<&'static str> {
        // The token in the listed credential: masked even when the body is cut short.
        vec![Self::API_KEY, "rt-secret"]
    }

    fn start(base_url: Url) -> Self {
        let ctx = LinkContext::ephemeral();
        let config = config_at(base_url)
            .with_user_id_mode(UserIdMode::Platform)
            .with_connectors([CONNECTOR])
            .with_poll(hasty_poll());
        let provider = Arc::new(provider_with(config.clone(), ctx.clone()));
        let exchanging = Arc::new(provider_with(config.with_callback_mode(CallbackMode::Exchange), ctx.clone()));
        Self { provider, exchanging, ctx }
    }

    fn offline() -> SharedLinkProvider {
        let config = AlloyConnectorsConfig::new(KEY)
            .with_base_url(Url::parse("http://127.0.0.1:9/").unwrap())
            .with_redirect_uri(Url::parse(REDIRECT).unwrap())
            .with_retry(fast_retry());
        Arc::new(provider_with(config, LinkContext::ephemeral()))
    }

    fn providers(&self) -> Vec<SharedLinkProvider> {
        vec![self.provider.clone(), self.exchanging.clone()]
    }

    fn shape(op: Op) -> (Value, Vec<&'static str>) {
        match op {
            Op::Generate => (json!({"oauthUrl": OAUTH_URL, "credentialId": "cred-1"}), vec!["/oauthUrl"]),
            Op::List | Op::Complete => (
                json!({"data": [{"credentialId": "cred-1", "name": "Acme Slack", "type": "slack-oauth2",
                    "createdAt": iso_later(), "updatedAt": iso_later(), "refreshToken": "rt-secret"}]}),
                vec!["/data/0", "/data/0/credentialId"],
            ),
            Op::Exchange => {
                (json!({"connectionId": "conn-1", "credentialId": "cred-1", "status": "active"}), vec!["/credentialId"])
            }
            Op::Metadata => (
                json!({"metadata": [{"authenticationType": "oauth2", "authConfigRequired": false,
                    "inputSchema": {"type": "object", "properties": {"data": {"type": "object"}}},
                    "sampleInput": {"authenticationType": "oauth2", "redirectUri": "https://app.example/cb"}}]}),
                vec!["/metadata", "/metadata/0", "/metadata/0/authenticationType", "/metadata/0/authConfigRequired"],
            ),
            Op::CreateUser => (json!({"userId": "alloy-user-2"}), vec!["/userId"]),
        }
    }

    fn routes(op: Op, status: u16, body: Vec<u8>) -> Vec<Route> {
        match op {
            Op::Generate => vec![
                route("POST", CREDENTIALS, status, body),
                route("GET", CREDENTIALS, 200, serde_json::to_vec(&json!({"credentials": []})).unwrap()),
            ],
            Op::List | Op::Complete => vec![route("GET", CREDENTIALS, status, body)],
            Op::Exchange => vec![route("POST", "/connectors/slack/credentials/callback", status, body)],
            Op::Metadata => vec![route("GET", "/connectors/slack/credentials/metadata", status, body)],
            Op::CreateUser => vec![route("POST", "/users", status, body)],
        }
    }

    fn call(&self, op: Op) -> BoxFut {
        let p = self.provider.clone();
        match op {
            Op::Generate => Box::pin(async move { p.generate_link(&Self::request()).await.map(drop) }),
            Op::List => Box::pin(async move { p.list_connections(&ConnectionQuery::user(USER)).await.map(drop) }),
            Op::Complete => {
                let cb = self.sign(Callback::from_query(KIND, "").unwrap());
                Box::pin(async move { p.complete_callback(&cb).await.map(drop) })
            }
            Op::Exchange => {
                let p = self.exchanging.clone();
                let state = self.ctx.sign(&self.ctx.claims(KIND, USER, CONNECTOR));
                let query = format!("code=auth-code-1&state=slack-state&oauth_link_state={}", state.expose());
                let cb = Callback::from_query(KIND, &query).unwrap();
                Box::pin(async move { p.complete_callback(&cb).await.map(drop) })
            }
            Op::Metadata => Box::pin(async move { p.credential_metadata(CONNECTOR).await.map(drop) }),
            Op::CreateUser => Box::pin(async move { p.create_user("new-user", Some("New User")).await.map(drop) }),
        }
    }

    fn acceptable_2xx(op: Op, err: &Error) -> bool {
        matches!(err, Error::Pending { .. }) && matches!(op, Op::Complete)
    }

    fn error_docs() -> Vec<Value> {
        vec![json!({"message": "Validation failed", "code": 4221, "error": {"message": "bad redirectUri"},
            "fields": [{"path": "redirectUri"}, {"property": "userId"}]})]
    }

    fn request() -> LinkRequest {
        LinkRequest::new(USER, CONNECTOR)
    }

    fn bad_requests() -> Vec<(&'static str, LinkRequest)> {
        vec![("too many params", (0..33).fold(Self::request(), |r, i| r.with_param(format!("p{i}"), "v")))]
    }

    fn invalid_calls(&self) -> Vec<(&'static str, BoxFut)> {
        let p = || self.provider.clone();
        let (a, b, c) = (p(), p(), p());
        let control_user = ConnectionQuery::user("u\r\nx-evil: 1");
        vec![
            ("create_user blank", Box::pin(async move { a.create_user(" ", None).await.map(drop) })),
            (
                "metadata long connector",
                Box::pin(async move { b.credential_metadata(&"a".repeat(257)).await.map(drop) }),
            ),
            ("list control user", Box::pin(async move { c.list_connections(&control_user).await.map(drop) })),
        ]
    }

    fn sign(&self, callback: Callback) -> Callback {
        callback.with_state(self.ctx.sign(&self.ctx.claims(KIND, USER, CONNECTOR)))
    }

    /// Consent returns a code (exchanged in exchange mode).
    fn returned(state: &str) -> String {
        format!("oauth_link_state={state}&code=c")
    }

    /// A refusal that still carries a code: nothing is exchanged.
    fn denial(code: &str, description: &str) -> String {
        format!("error={code}&error_description={description}&code=abc")
    }

    fn stateless_queries() -> Vec<&'static str> {
        vec!["oauth_link_state=garbage&code=x"]
    }
}

hostile_suite!(Connectors);
config_suite!(Connectors);

#[test]
fn extreme_timestamps_do_not_panic() {
    // Regression: `createdAt: i64::MIN` overflowed `i64::abs` in the shared `parse_timestamp`.
    hostile::extreme_timestamps::<Connectors>(
        Op::List,
        Op::Complete,
        |created| json!({"data": [{"credentialId": "cred-1", "type": "slack-oauth2", "createdAt": created}]}),
    );
}

#[test]
fn exchange_mode_without_a_usable_code_lists_instead() {
    // Nothing is exchanged; completion lists the credentials instead (the stub serves only
    // the list: an exchange would be a 404).
    let f = Fixture::<Connectors>::start();
    f.serve_doc(Op::Complete, &Connectors::shape(Op::Complete).0);
    for query in ["", "code=", "code=%20%20"] {
        let (cb, p) = (f.driver.sign(Callback::from_query(KIND, query).unwrap()), f.driver.exchanging.clone());
        let result = f.run(query, async move { p.complete_callback(&cb).await.map(drop) });
        assert!(matches!(result, Ok(()) | Err(Error::Pending { .. })), "{query}: {result:?}");
    }
    assert!(f.stub.hits() >= 3);
}
