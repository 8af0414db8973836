//! Hostile input corpus: mutated response bodies, hostile callbacks, invalid link requests
//! and bad `base_url` schemes. Every case must end in a typed error (or `Ok` for a body that
//! is still a valid document), never a panic, and invalid input must send no request.

mod support;

use std::sync::Arc;
use std::time::Duration;

use oauth_link_alloy_headless::{AlloyHeadlessConfig, AlloyHeadlessProvider, StartInstallation, KIND};
use oauth_link_core::{Callback, ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest, PollPolicy, Url};
use oauth_link_testkit::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use support::*;
use tokio::runtime::Runtime;

// ---------------------------------------------------------------------------------------
// The Alloy headless shapes and the operation that parses each.
// ---------------------------------------------------------------------------------------

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

const OPS: [Op; 7] =
    [Op::Metadata, Op::Generate, Op::List, Op::Complete, Op::Integrations, Op::CreateUser, Op::StartInstallation];

struct Fixture {
    stub: Stub,
    provider: Arc<AlloyHeadlessProvider>,
    ctx: LinkContext,
}

fn fixture(rt: &Runtime) -> Fixture {
    let stub = Stub::start();
    let _entered = rt.enter();
    let ctx = LinkContext::ephemeral();
    // Every call reads the stub's current body: nothing is reused from an earlier answer.
    let config = config(&stub.server).with_metadata_ttl(Duration::ZERO).with_poll(PollPolicy {
        timeout: Duration::from_millis(20),
        interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(10),
    });
    let provider = Arc::new(provider_with(config, ctx.clone()));
    Fixture { stub, provider, ctx }
}

fn iso_later() -> String {
    (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn metadata_doc() -> Value {
    json!({"data": {"connector": APP, "icon": "https://cdn.example/shopify.png", "isOauth": true,
        "properties": [{"name": "shopSubdomain", "displayName": "Shop subdomain", "description": "the shop"}]}})
}

/// The valid document of `op` and the pointers whose type must hold.
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
    match op {
        Op::Metadata => vec![
            route("GET", "/metadata/credentials/shopify", status, body),
            route("GET", "/headless/oauthUrl", 200, serde_json::to_vec(&json!({"oauthUrl": OAUTH_URL})).unwrap()),
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

fn link_request() -> LinkRequest {
    LinkRequest::new(USER, APP).with_param("shopSubdomain", "acme")
}

fn call(f: &Fixture, op: Op) -> BoxFut {
    let p = f.provider.clone();
    match op {
        Op::Metadata | Op::Generate => Box::pin(async move { p.generate_link(&link_request()).await.map(drop) }),
        Op::List => Box::pin(async move { p.list_connections(&ConnectionQuery::user(USER)).await.map(drop) }),
        Op::Complete => {
            let state = f.ctx.sign(&f.ctx.claims(KIND, USER, APP));
            Box::pin(async move { p.complete_callback(&Callback::from_state(state)).await.map(drop) })
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

/// The typed errors a 2xx answer with a hostile body may produce for `op`.
fn acceptable_2xx(op: Op, err: &Error) -> bool {
    match err {
        Error::Decode { provider, .. } => *provider == KIND,
        Error::Pending { .. } => matches!(op, Op::Complete),
        // The metadata may say the app is not OAuth, or name properties the request lacks.
        Error::InvalidInput { .. } => matches!(op, Op::Metadata),
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
    for op in OPS {
        // The unmutated shapes are accepted (the corpus starts from real documents).
        let (doc, _) = shape(op);
        f.stub.set(routes(op, 200, serde_json::to_vec(&doc).unwrap()));
        guarded(&rt, &format!("{op:?} valid"), call(&f, op)).unwrap_or_else(|e| panic!("{op:?}: {e:?}"));
        proptest!(cases(40), |(m in mutation())| { check_body(&f, &rt, op, &m)?; });
    }
}

#[test]
fn extreme_timestamps_do_not_panic() {
    // Regression: `createdAt: i64::MIN` overflowed `i64::abs` in `parse_timestamp`.
    let rt = runtime();
    let f = fixture(&rt);
    for created in
        [json!(i64::MIN), json!(i64::MAX), json!(u64::MAX), json!(-1.5e300), json!("+275760-09-13T00:00:00Z")]
    {
        let doc =
            json!({"data": [{"credentialId": "cred-1", "type": APP, "createdAt": created, "updatedAt": created}]});
        f.stub.set(routes(Op::List, 200, serde_json::to_vec(&doc).unwrap()));
        let result = guarded(&rt, &format!("createdAt {created}"), call(&f, Op::List));
        assert!(result.is_ok(), "{created}: {result:?}");
        let result = guarded(&rt, &format!("complete createdAt {created}"), call(&f, Op::Complete));
        assert!(matches!(result, Err(Error::Pending { .. })), "{created}: {result:?}");
    }
}

#[test]
fn mutated_error_bodies_give_status_errors() {
    let rt = runtime();
    let f = fixture(&rt);
    let doc = json!({"message": "Validation failed", "code": "INVALID", "error": {"message": "bad userId"},
        "errors": [{"field": "userId", "message": "must be a string"}, "app"]});
    let statuses = [400u16, 401, 403, 404, 409, 422, 429, 500, 503];
    proptest!(cases(64), |(m in mutation(), s in prop::sample::select(statuses.to_vec()))| {
        let (body, _) = apply(&doc, &[], &m);
        let what = format!("HTTP {s} {m:?}");
        f.stub.set(routes(Op::CreateUser, s, body));
        let result = guarded(&rt, &what, call(&f, Op::CreateUser));
        let typed = match (&result, s) {
            (Err(Error::Unauthenticated { .. }), 401)
            | (Err(Error::Forbidden { .. }), 403)
            | (Err(Error::NotFound { .. }), 404)
            | (Err(Error::Conflict { .. }), 409)
            | (Err(Error::RateLimited { .. }), 429)
            | (Err(Error::InvalidInput { .. }), 422) => true,
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
    for op in OPS {
        let (doc, _) = shape(op);
        let body = huge(&doc);
        assert!(body.len() > 1024 * 1024);
        f.stub.set(routes(op, 200, body));
        match guarded(&rt, &format!("{op:?} huge"), call(&f, op)) {
            Err(Error::Decode { body, .. }) => assert!(body.contains("larger than"), "{op:?}: {body}"),
            other => panic!("{op:?}: expected Decode for a body over the cap, got {other:?}"),
        }
    }
    f.stub.set(routes(Op::CreateUser, 500, vec![b'x'; 2 * 1024 * 1024]));
    assert!(matches!(guarded(&rt, "huge 500", call(&f, Op::CreateUser)), Err(Error::Provider { status: 500, .. })));
}

// ---------------------------------------------------------------------------------------
// Hostile callbacks: no state, duplicated or oversized queries, bad encodings.
// ---------------------------------------------------------------------------------------

#[test]
fn hostile_callbacks_are_typed_and_send_nothing() {
    let rt = runtime();
    let f = fixture(&rt);
    f.stub.set(routes(Op::Complete, 200, serde_json::to_vec(&shape(Op::Complete).0).unwrap()));
    let state = || f.ctx.sign(&f.ctx.claims(KIND, USER, APP));

    let long = format!("oauth_link_state={}", "a".repeat(17 * 1024));
    for query in ["a=1&a=2", "oauth_link_state=x&oauth_link_state=y", "error=a&error=b", long.as_str()] {
        assert!(matches!(Callback::from_query(KIND, query), Err(Error::InvalidInput { .. })), "{query:.60}");
    }
    for url in ["not a url", "", "://missing-scheme", "http://[::1"] {
        assert!(matches!(Callback::from_url(KIND, url), Err(Error::InvalidInput { .. })), "{url}");
    }

    let stateless = ["", "?", "code=abc", "error=access_denied", "oauth_link_state=", "oauth_link_state=%FF%FE"];
    let garbage = ["oauth_link_state=garbage", "oauth_link_state=v1.%00%01.x", "oauth_link_state=%C3%28%A0%A1"];
    for query in stateless.iter().chain(&garbage) {
        let cb = Callback::from_query(KIND, query).unwrap();
        let p = f.provider.clone();
        let result = guarded(&rt, query, async move { p.complete_callback(&cb).await.map(drop) });
        assert!(matches!(result, Err(Error::StateInvalid { .. })), "{query}: {result:?}");
        assert_eq!(f.stub.hits(), 0, "{query}: a request was sent for an invalid state");
    }

    let cb = Callback::from_query(KIND, "oauth_link_state=other").unwrap().with_state(state());
    let p = f.provider.clone();
    let result = guarded(&rt, "mismatch", async move { p.complete_callback(&cb).await.map(drop) });
    assert!(matches!(result, Err(Error::StateInvalid { .. })), "{result:?}");

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

fn offline(rt: &Runtime) -> Arc<AlloyHeadlessProvider> {
    let _entered = rt.enter();
    // Nothing listens there: a request would end in Transport, which the assertions reject.
    let config = AlloyHeadlessConfig::new(KEY)
        .with_base_url(Url::parse("http://127.0.0.1:9/").unwrap())
        .with_retry(fast_retry());
    Arc::new(provider_with(config, LinkContext::ephemeral()))
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
        let provider = offline(&rt);
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
    let ok = link_request;
    let uri = |s: &str| Url::parse(s).unwrap();
    let long = "u".repeat(257);
    let many = (0..33).fold(ok(), |r, i| r.with_param(format!("p{i}"), "v"));
    vec![
        ("empty user", LinkRequest::new("", APP)),
        ("dot user", LinkRequest::new(".", APP)),
        ("dot-dot target", LinkRequest::new(USER, "..")),
        ("blank user", LinkRequest::new(" \t ", APP)),
        ("long user", LinkRequest::new(long.clone(), APP)),
        ("empty target", LinkRequest::new(USER, "")),
        ("blank target", LinkRequest::new(USER, "\u{3000}")),
        ("long target", LinkRequest::new(USER, long.clone())),
        ("newline user", LinkRequest::new("user\n7", APP)),
        ("nul user", LinkRequest::new("user\u{0}7", APP)),
        ("del target", LinkRequest::new(USER, "shopify\u{7f}")),
        ("javascript redirect", ok().with_redirect_uri(uri("javascript:alert(1)"))),
        ("data redirect", ok().with_redirect_uri(uri("data:text/html,<script>1</script>"))),
        ("ftp redirect", ok().with_redirect_uri(uri("ftp://files.example/cb"))),
        ("public http redirect", ok().with_redirect_uri(uri("http://public.example/cb"))),
        ("file redirect", ok().with_redirect_uri(uri("file:///etc/passwd"))),
        ("fragment redirect", ok().with_redirect_uri(uri("https://app.example/cb#frag"))),
        ("long idempotency key", ok().with_idempotency_key(long.clone())),
        ("spaced idempotency key", ok().with_idempotency_key("a b")),
        ("control scope", ok().with_scope("read\r\nx")),
        ("long param value", ok().with_param("shopSubdomain", "c".repeat(2049))),
        ("control param value", ok().with_param("shopSubdomain", "acme\u{0}")),
        ("long param key", ok().with_param(long, "v")),
        ("reserved param userId", ok().with_param("userId", "someone-else")),
        ("reserved param app", ok().with_param("app", "slack")),
        ("too many params", many),
        ("33 scopes", (0..33).fold(ok(), |r, i| r.with_scope(format!("s{i}")))),
    ]
}

#[test]
fn invalid_link_requests_send_nothing() {
    let rt = runtime();
    let f = fixture(&rt);
    f.stub.set(routes(Op::Generate, 200, serde_json::to_vec(&shape(Op::Generate).0).unwrap()));
    for (name, request) in bad_requests() {
        let p = f.provider.clone();
        let result = guarded(&rt, name, async move { p.generate_link(&request).await.map(drop) });
        assert!(matches!(result, Err(Error::InvalidInput { provider: KIND, .. })), "{name}: {result:?}");
        assert_eq!(f.stub.hits(), 0, "{name}: a request was sent");
    }
    // The extras validate their ids before sending too.
    let p = f.provider.clone();
    let extras: Vec<(&str, BoxFut)> = vec![
        (
            "create_user blank",
            Box::pin({
                let p = p.clone();
                async move { p.create_user(" ", None).await.map(drop) }
            }),
        ),
        (
            "create_user control name",
            Box::pin({
                let p = p.clone();
                async move { p.create_user("u", Some("a\u{1b}[31m")).await.map(drop) }
            }),
        ),
        (
            "metadata long app",
            Box::pin({
                let p = p.clone();
                async move { p.credential_metadata(&"a".repeat(257)).await.map(drop) }
            }),
        ),
        (
            "integrations nul user",
            Box::pin({
                let p = p.clone();
                async move { p.list_integrations("u\0").await.map(drop) }
            }),
        ),
        (
            "disconnect blank id",
            Box::pin({
                let p = p.clone();
                async move { p.disconnect(USER, "  ").await }
            }),
        ),
        (
            "complete_installation control",
            Box::pin(async move { p.complete_installation("inst\n1", &[]).await.map(drop) }),
        ),
    ];
    for (name, fut) in extras {
        let result = guarded(&rt, name, fut);
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
            0 => LinkRequest::new(bad, APP),
            1 => LinkRequest::new(USER, bad),
            _ => link_request().with_param("shopSubdomain", bad),
        };
        let provider = offline(&rt);
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
    let (doc, _) = shape(Op::List);
    f.stub.set(routes(Op::List, 200, serde_json::to_vec(&doc).unwrap()));
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
    assert_config_rejects(KIND, &[("api_key", KEY)], "base_url", &BAD_URLS, |m| {
        AlloyHeadlessConfig::from_config(m).map(drop)
    });
}
