//! The shared hostile-input and configuration suites (`oauth_link_testkit`), driven by the
//! Novu shapes.

mod support;

use oauth_link_core::config::AdapterConfig;
use std::sync::Arc;

use oauth_link_core::{
    adapter::ConfigMap, Callback, ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest, SharedLinkProvider,
    Url,
};
use oauth_link_novu::{NovuConfig, NovuProvider, KIND};
use oauth_link_testkit::mock::hasty_poll;
use oauth_link_testkit::{config_suite, fast_retry, hostile_suite, route, BoxFut, Driver, Route, Settings};
use serde_json::{json, Value};
use support::*;

const OAUTH_PATH: &str = "/v1/integrations/channel-endpoints/oauth";
const USER: &str = "user-7";

#[derive(Clone, Copy, Debug)]
enum Op {
    Generate,
    List,
    ListConnections,
    Complete,
    Disconnect,
    Targets,
}

/// The provider under test, reading channel connections too, on a stopped clock.
struct Novu {
    provider: Arc<NovuProvider>,
    ctx: LinkContext,
}

fn created() -> chrono::DateTime<chrono::Utc> {
    ts("2026-03-01T12:00:01Z")
}

impl Settings for Novu {
    const KIND: &'static str = KIND;
    const API_KEY: &'static str = API_KEY;
    type Config = NovuConfig;

    fn parse(map: ConfigMap) -> oauth_link_core::Result<NovuConfig> {
        NovuConfig::from_config(map)
    }
}

impl Driver for Novu {
    type Op = Op;
    const OPS: &'static [Op] =
        &[Op::Generate, Op::List, Op::ListConnections, Op::Complete, Op::Disconnect, Op::Targets];
    const ERROR_OP: Op = Op::Generate;
    const PARAM: &'static str = "connectionIdentifier";

    fn start(base_url: Url) -> Self {
        let ctx = context(&clock());
        let config = NovuConfig::new(API_KEY)
            .with_base_url(base_url)
            .with_retry(fast_retry())
            .with_poll(hasty_poll())
            .with_include_channel_connections(true);
        Self { provider: Arc::new(NovuProvider::new(config, ctx.clone()).unwrap()), ctx }
    }

    fn offline() -> SharedLinkProvider {
        let config = NovuConfig::new(API_KEY).with_base_url(Url::parse("http://127.0.0.1:9/").unwrap());
        Arc::new(NovuProvider::new(config, LinkContext::ephemeral()).unwrap())
    }

    fn providers(&self) -> Vec<SharedLinkProvider> {
        vec![self.provider.clone()]
    }

    fn shape(op: Op) -> (Value, Vec<&'static str>) {
        match op {
            Op::Generate => (json!({"url": SLACK_URL}), vec!["/url"]),
            Op::List | Op::Complete => (
                page(vec![endpoint("ep-1", USER, INTEGRATION, created())], None),
                vec!["/data", "/data/0", "/data/0/identifier"],
            ),
            Op::ListConnections => (
                page(vec![channel_connection("conn-1", USER, INTEGRATION, created())], None),
                vec!["/data", "/data/0", "/data/0/identifier"],
            ),
            Op::Disconnect => (endpoint("ep-1", USER, INTEGRATION, created()), vec!["/identifier"]),
            Op::Targets => (
                json!({"data": [{"_id": "i1", "identifier": INTEGRATION, "name": "Slack", "providerId": "slack",
                    "channel": "chat", "active": true, "deleted": false}]}),
                vec!["/data"],
            ),
        }
    }

    fn routes(op: Op, status: u16, body: Vec<u8>) -> Vec<Route> {
        let empty = serde_json::to_vec(&page(vec![], None)).unwrap();
        match op {
            Op::Generate => vec![
                route("POST", OAUTH_PATH, status, body),
                route("POST", SUBSCRIBERS, 201, serde_json::to_vec(&subscriber_response(USER)).unwrap()),
                route("GET", ENDPOINTS_PATH, 200, empty),
            ],
            Op::Targets => vec![route("GET", "/v1/integrations", status, body)],
            Op::List | Op::Complete => {
                vec![route("GET", ENDPOINTS_PATH, status, body), route("GET", CONNECTIONS_PATH, 200, empty)]
            }
            Op::ListConnections => {
                vec![route("GET", ENDPOINTS_PATH, 200, empty), route("GET", CONNECTIONS_PATH, status, body)]
            }
            Op::Disconnect => vec![
                route("GET", "/v1/channel-endpoints/ep-1", status, body),
                route("DELETE", "/v1/channel-endpoints/ep-1", 204, Vec::new()),
            ],
        }
    }

    fn call(&self, op: Op) -> BoxFut {
        let p = self.provider.clone();
        match op {
            Op::Generate => Box::pin(async move { p.generate_link(&Self::request()).await.map(drop) }),
            Op::List | Op::ListConnections => {
                Box::pin(async move { p.list_connections(&ConnectionQuery::user(USER)).await.map(drop) })
            }
            Op::Complete => {
                let cb = self.sign(Callback::from_query(KIND, "").unwrap());
                Box::pin(async move { p.complete_callback(&cb).await.map(drop) })
            }
            Op::Disconnect => Box::pin(async move { p.disconnect(USER, "ep-1").await }),
            Op::Targets => Box::pin(async move { p.list_targets().await.map(drop) }),
        }
    }

    fn acceptable_2xx(op: Op, err: &Error) -> bool {
        match err {
            Error::Pending { .. } => matches!(op, Op::Complete),
            Error::NotFound { .. } => matches!(op, Op::Disconnect),
            _ => false,
        }
    }

    fn error_docs() -> Vec<Value> {
        vec![json!({"statusCode": 422, "timestamp": "2026-03-01T12:00:00.000Z", "path": OAUTH_PATH,
            "message": "Validation failed", "errorId": "err-1",
            "errors": {"subscriberId": {"messages": ["subscriberId must be a string"], "value": 1}}})]
    }

    fn request() -> LinkRequest {
        LinkRequest::new(USER, INTEGRATION)
    }

    fn bad_requests() -> Vec<(&'static str, LinkRequest)> {
        let many = (0..33).fold(Self::request(), |r, i| r.with_param(format!("context.k{i}"), "v"));
        vec![("too many params", many)]
    }

    fn sign(&self, callback: Callback) -> Callback {
        callback.with_state(self.ctx.sign(&self.ctx.claims(KIND, USER, INTEGRATION)))
    }
}

hostile_suite!(Novu);
config_suite!(Novu);
