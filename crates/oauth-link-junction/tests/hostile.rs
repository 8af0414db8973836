//! The shared hostile-input and configuration suites (`oauth_link_testkit`), driven by the
//! Junction shapes with users given directly and mapped from the app's ids, plus the cases
//! particular to this adapter (link tokens, Junction's own `state` outcome).

mod support;

use oauth_link_core::config::AdapterConfig;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use oauth_link_core::http::RetryPolicy;
use oauth_link_core::{
    adapter::{CommonConfig, ConfigMap},
    Callback, ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest, SharedLinkProvider, Url,
};
use oauth_link_junction::{JunctionConfig, JunctionProvider, UserMapping, ANY_PROVIDER, KIND};
use oauth_link_testkit::mock::hasty_poll;
use oauth_link_testkit::{
    config_suite, fast_retry, hostile_suite, route, BoxFut, Driver, Fixture, Route, Settings, BAD_URLS,
};
use serde_json::{json, Value};
use support::*;

const SLUG: &str = "oura";
const WEB_URL: &str = "https://link.tryvital.io/?token=lt_SECRET_link_token_0002&env=sandbox&region=us";

#[derive(Clone, Copy, Debug)]
enum Op {
    ResolveUser,
    CreateUser,
    LinkToken,
    Source,
    Providers,
    Complete,
    Deregister,
    Targets,
}

struct Junction {
    /// `user` is Junction's user id: no user lookup.
    provider: Arc<JunctionProvider>,
    /// `user` is the app's id: resolved (and created) first.
    mapped: Arc<JunctionProvider>,
    ctx: LinkContext,
    users: AtomicUsize,
}

/// Settings for Junction at `base_url`, retrying `retries` times, polling briefly.
fn junction_config(base_url: Url, retries: u32) -> JunctionConfig {
    let retry = RetryPolicy { max_retries: retries, ..fast_retry() };
    let common = CommonConfig { base_url: Some(base_url), retry, poll: hasty_poll(), ..CommonConfig::default() };
    JunctionConfig::new(API_KEY).with_common(common).with_redirect_uri(Url::parse(REDIRECT).unwrap())
}

fn link_token_doc() -> Value {
    json!({"link_token": LINK_TOKEN, "link_web_url": WEB_URL})
}

impl Settings for Junction {
    const KIND: &'static str = KIND;
    const API_KEY: &'static str = API_KEY;
    type Config = JunctionConfig;

    fn parse(map: ConfigMap) -> oauth_link_core::Result<JunctionConfig> {
        JunctionConfig::from_config(map)
    }

    fn url_settings() -> Vec<(&'static str, Vec<&'static str>)> {
        vec![("base_url", BAD_URLS.to_vec()), ("redirect_uri", BAD_URLS.to_vec())]
    }
}

impl Driver for Junction {
    type Op = Op;
    const OPS: &'static [Op] = &[
        Op::ResolveUser,
        Op::CreateUser,
        Op::LinkToken,
        Op::Source,
        Op::Providers,
        Op::Complete,
        Op::Deregister,
        Op::Targets,
    ];
    const ERROR_OP: Op = Op::LinkToken;
    /// Junction takes no parameter: any is refused.
    const PARAM: &'static str = "x";
    const INVALID_INPUT_STATUSES: &'static [u16] = &[400, 422];

    fn start(base_url: Url) -> Self {
        let ctx = LinkContext::ephemeral();
        let config = junction_config(base_url, 2);
        let direct = config.clone().with_user_mapping(UserMapping::JunctionUserId);
        let provider = Arc::new(JunctionProvider::new(direct, ctx.clone()).unwrap());
        let mapped = Arc::new(JunctionProvider::new(config, ctx.clone()).unwrap());
        Self { provider, mapped, ctx, users: AtomicUsize::new(0) }
    }

    fn offline() -> SharedLinkProvider {
        let config = junction_config(Url::parse("http://127.0.0.1:9/").unwrap(), 0);
        Arc::new(JunctionProvider::new(config, LinkContext::ephemeral()).unwrap())
    }

    fn providers(&self) -> Vec<SharedLinkProvider> {
        vec![self.provider.clone(), self.mapped.clone()]
    }

    fn shape(op: Op) -> (Value, Vec<&'static str>) {
        match op {
            Op::ResolveUser | Op::CreateUser => (user_json(UID, APP_USER), vec!["/user_id"]),
            Op::LinkToken => (link_token_doc(), vec!["/link_token", "/link_web_url"]),
            // `oauth_url` may be null (the widget URL is used then): no pointer must hold.
            Op::Source => (
                json!({"name": "Oura", "slug": SLUG, "description": "Smart ring", "logo": "https://storage.example/oura.png",
                    "group": null, "oauth_url": "https://cloud.ouraring.com/oauth/authorize?client_id=c&state=s",
                    "auth_type": "oauth", "source_type": "app", "is_active": true, "backfill_num_days": 180}),
                vec![],
            ),
            Op::Providers | Op::Complete => {
                let doc = json!({"providers": [connected(SLUG, "2026-01-02T03:04:05+00:00"),
                    errored("fitbit", "2026-01-01T00:00:00")]});
                // Listing reads every record; completion only the one it picks.
                let mut required = vec!["/providers", "/providers/0", "/providers/0/slug"];
                if matches!(op, Op::Providers) {
                    required.extend(["/providers/1", "/providers/1/slug"]);
                }
                (doc, required)
            }
            Op::Deregister => (json!({"success": true}), vec!["/success"]),
            // Entries that do not decode are skipped: only the array itself must hold.
            Op::Targets => (catalogue_json(), vec![]),
        }
    }

    fn routes(op: Op, status: u16, body: Vec<u8>) -> Vec<Route> {
        let to_vec = |v: Value| serde_json::to_vec(&v).unwrap();
        let source = to_vec(Self::shape(Op::Source).0);
        let providers = format!("/v2/user/providers/{UID}");
        match op {
            // A widget link for a user Junction already had reads its providers first.
            Op::ResolveUser => vec![
                route("GET", "/v2/user/resolve/*", status, body),
                route("GET", &providers, 200, to_vec(json!({"providers": []}))),
                route("POST", "/v2/link/token", 200, to_vec(link_token_doc())),
            ],
            Op::CreateUser => vec![
                route("GET", "/v2/user/resolve/*", 404, to_vec(json!({"detail": "User not found"}))),
                route("POST", "/v2/user", status, body),
                route("POST", "/v2/link/token", 200, to_vec(link_token_doc())),
            ],
            Op::LinkToken => vec![
                route("POST", "/v2/link/token", status, body),
                route("GET", "/v2/link/provider/oauth/oura", 200, source),
            ],
            Op::Source => vec![
                route("POST", "/v2/link/token", 200, to_vec(link_token_doc())),
                route("GET", "/v2/link/provider/oauth/oura", status, body),
            ],
            Op::Providers | Op::Complete => vec![route("GET", &providers, status, body)],
            Op::Deregister => vec![route("DELETE", &format!("/v2/user/{UID}/{SLUG}"), status, body)],
            Op::Targets => vec![route("GET", "/v2/link/providers", status, body)],
        }
    }

    fn call(&self, op: Op) -> BoxFut {
        let p = self.provider.clone();
        match op {
            Op::ResolveUser | Op::CreateUser => {
                // A new app user each time: the adapter caches mappings it has resolved.
                let user = format!("app-user-{}", self.users.fetch_add(1, Ordering::SeqCst));
                let p = self.mapped.clone();
                Box::pin(async move { p.generate_link(&LinkRequest::new(user, ANY_PROVIDER)).await.map(drop) })
            }
            Op::LinkToken | Op::Source => Box::pin(async move { p.generate_link(&Self::request()).await.map(drop) }),
            Op::Providers => Box::pin(async move { p.list_connections(&ConnectionQuery::user(UID)).await.map(drop) }),
            Op::Complete => {
                let cb = self.sign(Callback::from_query(KIND, "state=success").unwrap());
                Box::pin(async move { p.complete_callback(&cb).await.map(drop) })
            }
            Op::Deregister => Box::pin(async move { p.disconnect(UID, &format!("{UID}/{SLUG}")).await }),
            Op::Targets => Box::pin(async move { p.list_targets().await.map(drop) }),
        }
    }

    fn acceptable_2xx(op: Op, err: &Error) -> bool {
        match err {
            Error::Pending { .. } => matches!(op, Op::Complete),
            // `{"success": false}`.
            Error::Provider { status: 200, .. } => matches!(op, Op::Deregister),
            _ => false,
        }
    }

    /// The link token answer keeps no excerpt at all.
    fn withholds_body(op: Op) -> bool {
        matches!(op, Op::LinkToken)
    }

    fn error_docs() -> Vec<Value> {
        vec![
            json!({"detail": [{"loc": ["body", "user_id"], "msg": "field required", "type": "value_error.missing"}]}),
            json!({"detail": {"error_type": "INVALID_REQUEST", "error_message": "bad provider", "user_id": UID}}),
            json!({"detail": "Unauthorized", "message": "bad key", "error_type": "UNAUTHORIZED"}),
        ]
    }

    fn secrets() -> Vec<&'static str> {
        vec![API_KEY, LINK_TOKEN]
    }

    fn request() -> LinkRequest {
        LinkRequest::new(UID, SLUG)
    }

    fn bad_requests() -> Vec<(&'static str, LinkRequest)> {
        let redirect = |s: &str| Self::request().with_redirect_uri(Url::parse(s).unwrap());
        vec![
            ("redirect with state", redirect("https://app.example/cb?state=success")),
            ("redirect with oauth_link_state", redirect("https://app.example/cb?oauth_link_state=x")),
            ("any scope", Self::request().with_scope("sleep")),
            ("any param", Self::request().with_param("region", "eu")),
        ]
    }

    fn invalid_calls(&self) -> Vec<(&'static str, BoxFut)> {
        let p = || self.provider.clone();
        let (a, b, c) = (p(), p(), p());
        let foreign = "00000000-0000-4000-8000-000000000000/oura";
        vec![
            // Only where the user is Junction's id (an app's id is any string).
            (
                "non-uuid user",
                Box::pin(async move { a.generate_link(&LinkRequest::new("app-user-1", SLUG)).await.map(drop) }),
            ),
            ("disconnect foreign owner", Box::pin(async move { b.disconnect(UID, foreign).await })),
            (
                "list control user",
                Box::pin(async move { c.list_connections(&ConnectionQuery::user("u\0")).await.map(drop) }),
            ),
        ]
    }

    /// Junction ids are `<user_id>/<slug>`: dot segments inside them must not climb either.
    fn bad_connection_ids(user: &str) -> Vec<(String, String)> {
        [format!("{UID}/.."), format!("{UID}/."), "../..".to_owned(), "a/b/c".to_owned(), "/oura".to_owned()]
            .into_iter()
            .map(|id| (user.to_owned(), id))
            .collect()
    }

    fn sign(&self, callback: Callback) -> Callback {
        let mut claims = self.ctx.claims(KIND, UID, SLUG);
        claims.extra.insert("jid".into(), UID.into());
        callback.with_state(self.ctx.sign(&claims))
    }

    /// Junction's redirect says how the widget ended.
    fn returned(state: &str) -> String {
        format!("oauth_link_state={state}&state=success")
    }

    fn denial(code: &str, description: &str) -> String {
        format!("state=error&error_type={code}&error={description}")
    }

    fn stateless_queries() -> Vec<&'static str> {
        vec![
            "state=success",
            "state=error&error_type=user_cancelled",
            "state=success&oauth_link_state=",
            "state=success&oauth_link_state=garbage",
            "state=success&oauth_link_state=%FF%FE",
            "state=success&oauth_link_state=v1.%00%01.x",
        ]
    }

    /// A `state` Junction never sends is refused as input.
    fn refuses_callback(err: &Error) -> bool {
        matches!(err, Error::StateInvalid { .. } | Error::InvalidInput { .. })
    }
}

hostile_suite!(Junction);
config_suite!(Junction);

#[test]
fn link_tokens_that_cannot_travel_as_a_header_are_refused() {
    // Regression: a non-ASCII token (`Insert` of U+0800) was sent on as `x-vital-link-token`.
    let f = Fixture::<Junction>::start();
    for token in ["lt_\u{800}_token", "lt token", "lt\u{7f}", "lt_\u{e9}", "lt\ttoken"] {
        f.serve_doc(Op::LinkToken, &json!({"link_token": token, "link_web_url": WEB_URL}));
        match f.run(token, f.driver.call(Op::LinkToken)) {
            Err(Error::Decode { message, body, .. }) => {
                assert!(message.contains("visible ASCII") && body.contains("withheld"), "{token:?}: {message}")
            }
            other => panic!("{token:?}: expected Decode, got {other:?}"),
        }
        assert_eq!(f.stub.hits(), 1, "{token:?}: the token was sent on");
    }
}

#[test]
fn junction_outcomes_are_read_before_anything_is_sent() {
    let f = Fixture::<Junction>::start();
    f.stub.set(Vec::new());
    let p = &f.driver.provider;
    // Without Junction's `state`: Junction reported nothing, so Pending (state released).
    for query in ["", "?", "error_type=user_cancelled", "foo=bar"] {
        let (cb, p) = (f.driver.sign(Callback::from_query(KIND, query).unwrap()), p.clone());
        let result = f.run(query, async move { p.complete_callback(&cb).await.map(drop) });
        assert!(matches!(result, Err(Error::Pending { .. })), "{query}: {result:?}");
        assert_eq!(f.stub.hits(), 0, "{query}");
    }
    // A `state` Junction never sends: InvalidInput, the link state left unused.
    for query in ["state=", "state=%FF%FE", "state=maybe", "state=SUCCESS"] {
        let (cb, p) = (f.driver.sign(Callback::from_query(KIND, query).unwrap()), p.clone());
        let result = f.run(query, async move { p.complete_callback(&cb).await.map(drop) });
        assert!(matches!(result, Err(Error::InvalidInput { .. })), "{query}: {result:?}");
        assert_eq!(f.stub.hits(), 0, "{query}");
    }
}
