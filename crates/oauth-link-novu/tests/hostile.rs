//! Hostile input corpus: mutated response bodies, hostile callbacks, invalid link requests
//! and bad `base_url` schemes. Every case must end in a typed error (or `Ok` for a body that
//! is still a valid document), never a panic, and invalid input must send no request.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use oauth_link_core::{Callback, ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest, PollPolicy, Url};
use oauth_link_novu::{NovuConfig, NovuProvider, KIND};
use oauth_link_testkit::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use tokio::runtime::Runtime;

// ---------------------------------------------------------------------------------------
// The Novu shapes and the operation that parses each.
// ---------------------------------------------------------------------------------------

const OAUTH_PATH: &str = "/v1/integrations/channel-endpoints/oauth";
const ENDPOINTS: &str = "/v1/channel-endpoints";
const CONNECTIONS: &str = "/v1/channel-connections";
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

struct Fixture {
    stub: Stub,
    provider: Arc<NovuProvider>,
    ctx: LinkContext,
}

fn fixture(rt: &Runtime) -> Fixture {
    let stub = Stub::start();
    let _entered = rt.enter();
    let clock = clock();
    let ctx = context(&clock);
    let config = config(&stub.server).with_include_channel_connections(true).with_poll(PollPolicy {
        timeout: Duration::from_millis(20),
        interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(10),
    });
    let provider = Arc::new(NovuProvider::new(config, ctx.clone()).unwrap());
    Fixture { stub, provider, ctx }
}

fn created() -> chrono::DateTime<chrono::Utc> {
    ts("2026-03-01T12:00:01Z")
}

/// The valid document of `op`, the pointers whose type must hold, and the routes that
/// serve it (mutated body first).
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
            route("POST", "/v2/subscribers", 201, serde_json::to_vec(&subscriber_response(USER)).unwrap()),
            route("GET", ENDPOINTS, 200, empty),
        ],
        Op::Targets => vec![route("GET", "/v1/integrations", status, body)],
        Op::List | Op::Complete => vec![route("GET", ENDPOINTS, status, body), route("GET", CONNECTIONS, 200, empty)],
        Op::ListConnections => {
            vec![route("GET", ENDPOINTS, 200, empty), route("GET", CONNECTIONS, status, body)]
        }
        Op::Disconnect => vec![
            route("GET", "/v1/channel-endpoints/ep-1", status, body),
            route("DELETE", "/v1/channel-endpoints/ep-1", 204, Vec::new()),
        ],
    }
}

fn call(f: &Fixture, op: Op) -> BoxFut {
    let p = f.provider.clone();
    match op {
        Op::Generate => Box::pin(async move { p.generate_link(&LinkRequest::new(USER, INTEGRATION)).await.map(drop) }),
        Op::List | Op::ListConnections => {
            Box::pin(async move { p.list_connections(&ConnectionQuery::user(USER)).await.map(drop) })
        }
        Op::Complete => {
            let state = f.ctx.sign(&f.ctx.claims(KIND, USER, INTEGRATION));
            Box::pin(async move { p.complete_callback(&Callback::from_state(state)).await.map(drop) })
        }
        Op::Disconnect => Box::pin(async move { p.disconnect(USER, "ep-1").await }),
        Op::Targets => Box::pin(async move { p.list_targets().await.map(drop) }),
    }
}

/// The typed errors a 2xx answer with a hostile body may produce for `op`.
fn acceptable_2xx(op: Op, err: &Error) -> bool {
    match err {
        Error::Decode { provider, .. } => *provider == KIND,
        Error::Pending { .. } => matches!(op, Op::Complete),
        Error::NotFound { .. } => matches!(op, Op::Disconnect),
        _ => false,
    }
}

fn check_body(f: &Fixture, rt: &Runtime, op: Op, m: &Mutation) -> std::result::Result<(), TestCaseError> {
    let (doc, required) = shape(op);
    let (body, must_fail) = apply(&doc, &required, m);
    let what = format!("{op:?} {m:?} body={:?}", String::from_utf8_lossy(&body[..body.len().min(200)]));
    f.stub.set(routes(op, 200, body.clone()));
    match guarded(rt, &what, call(f, op)) {
        Ok(()) => {
            prop_assert!(!must_fail, "accepted a body it must refuse: {what}");
            // The deep nest is valid JSON that only a depth-limited parser refuses.
            let json = is_json(&body) || matches!(m, Mutation::DeepNest);
            prop_assert!(json, "accepted a body that is not JSON: {what}");
        }
        Err(err) => prop_assert!(acceptable_2xx(op, &err), "untyped error {err:?} for {what}"),
    }
    Ok(())
}

/// `n` cases from a fixed seed: the same inputs on every run.
fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: n,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(2026),
        ..ProptestConfig::default()
    }
}

#[test]
fn mutated_success_bodies_give_typed_errors() {
    let rt = runtime();
    let f = fixture(&rt);
    for op in [Op::Generate, Op::List, Op::ListConnections, Op::Complete, Op::Disconnect, Op::Targets] {
        // The unmutated shapes are accepted (the corpus starts from real documents).
        let (doc, _) = shape(op);
        f.stub.set(routes(op, 200, serde_json::to_vec(&doc).unwrap()));
        guarded(&rt, &format!("{op:?} valid"), call(&f, op)).unwrap_or_else(|e| panic!("{op:?}: {e:?}"));
        proptest!(cases(48), |(m in mutation())| { check_body(&f, &rt, op, &m)?; });
    }
}

#[test]
fn mutated_error_bodies_give_status_errors() {
    let rt = runtime();
    let f = fixture(&rt);
    let doc = json!({"statusCode": 422, "timestamp": "2026-03-01T12:00:00.000Z", "path": OAUTH_PATH,
        "message": "Validation failed", "errorId": "err-1",
        "errors": {"subscriberId": {"messages": ["subscriberId must be a string"], "value": 1}}});
    let statuses = [400u16, 401, 403, 404, 409, 422, 429, 500, 503];
    proptest!(cases(64), |(m in mutation(), s in prop::sample::select(statuses.to_vec()))| {
        let (body, _) = apply(&doc, &[], &m);
        let what = format!("HTTP {s} {m:?}");
        f.stub.set(routes(Op::Generate, s, body));
        let result = guarded(&rt, &what, call(&f, Op::Generate));
        let typed = match (&result, s) {
            (Err(Error::Unauthenticated { .. }), 401)
            | (Err(Error::Forbidden { .. }), 403)
            | (Err(Error::NotFound { .. }), 404)
            | (Err(Error::Conflict { .. }), 409)
            | (Err(Error::RateLimited { .. }), 429) => true,
            (Err(Error::InvalidInput { .. }) | Err(Error::Provider { status: 422, .. }), 422) => true,
            (Err(Error::Provider { status, .. }), _) => *status == s,
            _ => false,
        };
        prop_assert!(typed, "{what}: {result:?}");
    });
}

#[test]
fn oversized_bodies_give_decode_errors() {
    let rt = runtime();
    let f = fixture(&rt);
    for op in [Op::Generate, Op::List, Op::ListConnections, Op::Complete, Op::Disconnect, Op::Targets] {
        let (doc, _) = shape(op);
        let body = huge(&doc);
        assert!(body.len() > 1024 * 1024);
        f.stub.set(routes(op, 200, body));
        match guarded(&rt, &format!("{op:?} huge"), call(&f, op)) {
            Err(Error::Decode { body, .. }) => assert!(body.contains("larger than"), "{op:?}: {body}"),
            other => panic!("{op:?}: expected Decode for a body over the cap, got {other:?}"),
        }
    }
    // An oversized error body still maps to the status.
    f.stub.set(routes(Op::Generate, 500, vec![b'x'; 2 * 1024 * 1024]));
    assert!(matches!(guarded(&rt, "huge 500", call(&f, Op::Generate)), Err(Error::Provider { status: 500, .. })));
}

// ---------------------------------------------------------------------------------------
// Hostile callbacks: no state, duplicated or oversized queries, bad encodings.
// ---------------------------------------------------------------------------------------

#[test]
fn hostile_callbacks_are_typed_and_send_nothing() {
    let rt = runtime();
    let f = fixture(&rt);
    f.stub.set(routes(Op::Complete, 200, serde_json::to_vec(&shape(Op::Complete).0).unwrap()));
    let state = || f.ctx.sign(&f.ctx.claims(KIND, USER, INTEGRATION));

    // Rejected while parsing.
    let long = format!("oauth_link_state={}", "a".repeat(17 * 1024));
    for query in ["a=1&a=2", "oauth_link_state=x&oauth_link_state=y", long.as_str()] {
        assert!(matches!(Callback::from_query(KIND, query), Err(Error::InvalidInput { .. })), "{query:.60}");
    }
    for url in ["not a url", "", "://missing-scheme", "http://[::1"] {
        assert!(matches!(Callback::from_url(KIND, url), Err(Error::InvalidInput { .. })), "{url}");
    }

    // Parsed, then refused before any call: no state, garbage state, bad percent-encodings.
    let stateless = ["", "?", "code=abc", "error=access_denied", "oauth_link_state=", "oauth_link_state=%FF%FE"];
    let garbage = ["oauth_link_state=garbage", "oauth_link_state=v1.%00%01.x", "oauth_link_state=%C3%28%A0%A1"];
    for query in stateless.iter().chain(&garbage) {
        let cb = Callback::from_query(KIND, query).unwrap();
        let p = f.provider.clone();
        let result = guarded(&rt, query, async move { p.complete_callback(&cb).await.map(drop) });
        assert!(matches!(result, Err(Error::StateInvalid { .. })), "{query}: {result:?}");
        assert_eq!(f.stub.hits(), 0, "{query}: a request was sent for an invalid state");
    }

    // A kept state that differs from the redirect's is refused.
    let cb = Callback::from_query(KIND, "oauth_link_state=other").unwrap().with_state(state());
    let p = f.provider.clone();
    let result = guarded(&rt, "mismatch", async move { p.complete_callback(&cb).await.map(drop) });
    assert!(matches!(result, Err(Error::StateInvalid { .. })), "{result:?}");

    // Error parameters with huge or odd values: Denied, bounded, nothing sent.
    let huge_code = "e".repeat(12 * 1024);
    for query in [
        format!("error={huge_code}&error_description=%FF%FE%00"),
        "error=%00%0A%0D&error_description=".to_owned(),
        "error=&error_description=x".to_owned(),
        format!("error=access_denied&error_description={}", "%E2%80%AE".repeat(1000)),
    ] {
        let cb = Callback::from_query(KIND, &query).unwrap().with_state(state());
        let p = f.provider.clone();
        match guarded(&rt, &query, async move { p.complete_callback(&cb).await.map(drop) }) {
            Err(Error::Denied { code, reason, .. }) => {
                assert!(code.len() < 1024 && reason.len() < 2048, "{query:.40}: unbounded Denied");
                assert!(!code.chars().chain(reason.chars()).any(char::is_control), "{query:.40}");
            }
            other => panic!("{query:.40}: expected Denied, got {other:?}"),
        }
        assert_eq!(f.stub.hits(), 0, "{query:.40}");
    }
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn arbitrary_callback_queries_never_panic(query in prop_oneof![
        "\\PC{0,200}",
        prop::collection::vec(any::<u8>(), 0..120).prop_map(|b| b.iter().map(|x| format!("%{x:02X}")).collect::<String>()),
        ("[a-z_]{1,16}", "[ -~]{0,64}").prop_map(|(k, v)| format!("{k}={v}&{k}={v}")),
        "[ -~]{0,40}".prop_map(|v| format!("oauth_link_state={v}&error=x")),
    ]) {
        let rt = runtime();
        let ctx = LinkContext::ephemeral();
        // No server: any request would fail with Transport, which the assertion rejects.
        let config = NovuConfig::new(API_KEY).with_base_url(Url::parse("http://127.0.0.1:9/").unwrap());
        let provider = Arc::new({ let _e = rt.enter(); NovuProvider::new(config, ctx).unwrap() });
        match Callback::from_query(KIND, &query) {
            Err(e) => prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}"),
            Ok(cb) => {
                let result = guarded(&rt, &query, async move { provider.complete_callback(&cb).await.map(drop) });
                prop_assert!(matches!(result, Err(Error::StateInvalid { .. })), "{query:?}: {result:?}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invalid link requests: refused before anything is sent.
// ---------------------------------------------------------------------------------------

fn bad_requests() -> Vec<(&'static str, LinkRequest)> {
    let ok = || LinkRequest::new(USER, INTEGRATION);
    let uri = |s: &str| Url::parse(s).unwrap();
    let long = "u".repeat(257);
    let mut many = ok();
    for i in 0..33 {
        many = many.with_param(format!("context.k{i}"), "v");
    }
    vec![
        ("empty user", LinkRequest::new("", INTEGRATION)),
        ("dot user", LinkRequest::new(".", INTEGRATION)),
        ("dot-dot target", LinkRequest::new(USER, "..")),
        ("blank user", LinkRequest::new(" \t ", INTEGRATION)),
        ("long user", LinkRequest::new(long.clone(), INTEGRATION)),
        ("empty target", LinkRequest::new(USER, "")),
        ("blank target", LinkRequest::new(USER, "\u{3000}")),
        ("long target", LinkRequest::new(USER, long.clone())),
        ("newline user", LinkRequest::new("user\n7", INTEGRATION)),
        ("nul user", LinkRequest::new("user\u{0}7", INTEGRATION)),
        ("del target", LinkRequest::new(USER, "slack\u{7f}")),
        ("javascript redirect", ok().with_redirect_uri(uri("javascript:alert(1)"))),
        ("data redirect", ok().with_redirect_uri(uri("data:text/html,<script>1</script>"))),
        ("ftp redirect", ok().with_redirect_uri(uri("ftp://files.example/cb"))),
        ("public http redirect", ok().with_redirect_uri(uri("http://public.example/cb"))),
        ("file redirect", ok().with_redirect_uri(uri("file:///etc/passwd"))),
        ("fragment redirect", ok().with_redirect_uri(uri("https://app.example/cb#frag"))),
        ("long idempotency key", ok().with_idempotency_key(long.clone())),
        ("spaced idempotency key", ok().with_idempotency_key("a b")),
        ("control scope", ok().with_scope("chat:write\r\nx")),
        ("long param value", ok().with_param("connectionIdentifier", "c".repeat(2049))),
        ("long param key", ok().with_param(long, "v")),
        ("too many params", many),
        ("33 scopes", (0..33).fold(ok(), |r, i| r.with_scope(format!("s{i}")))),
    ]
}

#[test]
fn invalid_link_requests_send_nothing() {
    let rt = runtime();
    let f = fixture(&rt);
    f.stub.set(routes(Op::Generate, 201, serde_json::to_vec(&json!({"url": SLACK_URL})).unwrap()));
    for (name, request) in bad_requests() {
        let p = f.provider.clone();
        let result = guarded(&rt, name, async move { p.generate_link(&request).await.map(drop) });
        assert!(matches!(result, Err(Error::InvalidInput { provider: KIND, .. })), "{name}: {result:?}");
        assert_eq!(f.stub.hits(), 0, "{name}: a request was sent");
    }
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn ids_with_control_characters_send_nothing(
        prefix in "[a-z0-9-]{0,20}",
        ctl in prop::sample::select(vec!['\n', '\r', '\0', '\u{7f}', '\u{1b}', '\u{85}', '\t']),
        suffix in "[a-z0-9-]{0,20}",
        field in 0..3usize,
    ) {
        let rt = runtime();
        let bad = format!("{prefix}{ctl}{suffix}");
        let request = match field {
            0 => LinkRequest::new(bad, INTEGRATION),
            1 => LinkRequest::new(USER, bad),
            _ => LinkRequest::new(USER, INTEGRATION).with_param("connectionIdentifier", bad),
        };
        let config = NovuConfig::new(API_KEY).with_base_url(Url::parse("http://127.0.0.1:9/").unwrap());
        let provider = Arc::new({ let _e = rt.enter(); NovuProvider::new(config, LinkContext::ephemeral()).unwrap() });
        let result = guarded(&rt, "control id", async move { provider.generate_link(&request).await.map(drop) });
        prop_assert!(matches!(result, Err(Error::InvalidInput { .. })), "{result:?}");
    }
}

#[test]
fn hostile_disconnect_ids_send_nothing() {
    // Regression: `..` / `.` dropped out of the request path (`path_segments_mut` skips
    // them), so `disconnect(user, "..")` addressed the parent resource.
    let rt = runtime();
    let f = fixture(&rt);
    let (doc, _) = shape(Op::Disconnect);
    f.stub.set(routes(Op::Disconnect, 200, serde_json::to_vec(&doc).unwrap()));
    let cases = hostile_disconnects(USER);
    for (user, id) in cases {
        let p = f.provider.clone();
        let what = format!("disconnect({user:?}, {id:.40?})");
        let result = guarded(&rt, &what, async move { p.disconnect(&user, &id).await });
        assert!(matches!(result, Err(Error::InvalidInput { provider: KIND, .. })), "{what}: {result:?}");
        assert_eq!(f.stub.hits(), 0, "{what}: a request was sent");
    }
}

// ---------------------------------------------------------------------------------------
// base_url schemes other than http(s) are refused at config time.
// ---------------------------------------------------------------------------------------

#[test]
fn bad_base_urls_are_config_errors() {
    assert_config_rejects(KIND, &[("api_key", API_KEY)], "base_url", &BAD_URLS, |m| {
        NovuConfig::from_config(m).map(drop)
    });
}
