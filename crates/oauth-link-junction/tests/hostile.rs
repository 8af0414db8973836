//! Hostile input corpus: mutated response bodies, hostile callbacks, invalid link requests
//! and bad `base_url` schemes. Every case must end in a typed error (or `Ok` for a body that
//! is still a valid document), never a panic, and invalid input must send no request.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use httpmock::prelude::*;
use oauth_link_core::{
    Callback, CommonConfig, ConnectionQuery, Error, LinkContext, LinkProvider, LinkRequest, PollPolicy, Url,
};
use oauth_link_junction::{JunctionConfig, JunctionProvider, UserMapping, ANY_PROVIDER, KIND};
use oauth_link_testkit::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use tokio::runtime::Runtime;

// ---------------------------------------------------------------------------------------
// The Junction shapes and the operation that parses each.
// ---------------------------------------------------------------------------------------

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

const OPS: [Op; 8] = [
    Op::ResolveUser,
    Op::CreateUser,
    Op::LinkToken,
    Op::Source,
    Op::Providers,
    Op::Complete,
    Op::Deregister,
    Op::Targets,
];

struct Fixture {
    stub: Stub,
    /// `user` is Junction's user id: no user lookup.
    provider: Arc<JunctionProvider>,
    /// `user` is the app's id: resolved (and created) first.
    mapped: Arc<JunctionProvider>,
    ctx: LinkContext,
    users: AtomicUsize,
}

fn fast(server: &MockServer) -> CommonConfig {
    let mut common = fast_common(server);
    common.poll = PollPolicy {
        timeout: Duration::from_millis(20),
        interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(10),
    };
    common
}

fn fixture(rt: &Runtime) -> Fixture {
    let stub = Stub::start();
    let _entered = rt.enter();
    let ctx = LinkContext::ephemeral();
    let config = config(&stub.server).with_common(fast(&stub.server));
    let provider = Arc::new(
        JunctionProvider::new(config.clone().with_user_mapping(UserMapping::JunctionUserId), ctx.clone()).unwrap(),
    );
    let mapped = Arc::new(JunctionProvider::new(config, ctx.clone()).unwrap());
    Fixture { stub, provider, mapped, ctx, users: AtomicUsize::new(0) }
}

fn link_token_doc() -> Value {
    json!({"link_token": LINK_TOKEN, "link_web_url": WEB_URL})
}

/// The valid document of `op` and the pointers whose type must hold.
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
    let source = to_vec(shape(Op::Source).0);
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

fn call(f: &Fixture, op: Op) -> BoxFut {
    let p = f.provider.clone();
    match op {
        Op::ResolveUser | Op::CreateUser => {
            // A new app user each time: the adapter caches mappings it has resolved.
            let user = format!("app-user-{}", f.users.fetch_add(1, Ordering::SeqCst));
            let p = f.mapped.clone();
            Box::pin(async move { p.generate_link(&LinkRequest::new(user, ANY_PROVIDER)).await.map(drop) })
        }
        Op::LinkToken | Op::Source => {
            Box::pin(async move { p.generate_link(&LinkRequest::new(UID, SLUG)).await.map(drop) })
        }
        Op::Providers => Box::pin(async move { p.list_connections(&ConnectionQuery::user(UID)).await.map(drop) }),
        Op::Complete => {
            let mut claims = f.ctx.claims(KIND, UID, SLUG);
            claims.extra.insert("jid".into(), UID.into());
            let cb = Callback::from_query(KIND, "state=success").unwrap().with_state(f.ctx.sign(&claims));
            Box::pin(async move { p.complete_callback(&cb).await.map(drop) })
        }
        Op::Deregister => Box::pin(async move { p.disconnect(UID, &format!("{UID}/{SLUG}")).await }),
        Op::Targets => Box::pin(async move { p.list_targets().await.map(drop) }),
    }
}

/// The typed errors a 2xx answer with a hostile body may produce for `op`.
fn acceptable_2xx(op: Op, err: &Error) -> bool {
    match err {
        Error::Decode { provider, .. } => *provider == KIND,
        Error::Pending { .. } => matches!(op, Op::Complete),
        // `{"success": false}`.
        Error::Provider { status: 200, .. } => matches!(op, Op::Deregister),
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
        Err(err) => {
            prop_assert!(acceptable_2xx(op, &err), "untyped error {err:?} for {what}");
            // The link token never appears in an error.
            prop_assert!(!format!("{err:?}").contains(LINK_TOKEN), "link token leaked: {err:?}");
        }
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
fn mutated_error_bodies_give_status_errors() {
    let rt = runtime();
    let f = fixture(&rt);
    let docs = [
        json!({"detail": [{"loc": ["body", "user_id"], "msg": "field required", "type": "value_error.missing"}]}),
        json!({"detail": {"error_type": "INVALID_REQUEST", "error_message": "bad provider", "user_id": UID}}),
        json!({"detail": "Unauthorized", "message": "bad key", "error_type": "UNAUTHORIZED"}),
    ];
    let statuses = [400u16, 401, 403, 404, 409, 422, 429, 500, 503];
    proptest!(cases(64), |(m in mutation(), s in prop::sample::select(statuses.to_vec()), d in 0..3usize)| {
        let (body, _) = apply(&docs[d], &[], &m);
        let what = format!("HTTP {s} {m:?}");
        f.stub.set(routes(Op::LinkToken, s, body));
        let result = guarded(&rt, &what, call(&f, Op::LinkToken));
        let typed = match (&result, s) {
            (Err(Error::Unauthenticated { .. }), 401)
            | (Err(Error::Forbidden { .. }), 403)
            | (Err(Error::NotFound { .. }), 404)
            | (Err(Error::Conflict { .. }), 409)
            | (Err(Error::RateLimited { .. }), 429)
            | (Err(Error::InvalidInput { .. }), 400 | 422) => true,
            (Err(Error::Provider { status, .. }), _) => *status == s,
            _ => false,
        };
        prop_assert!(typed, "{what}: {result:?}");
        prop_assert!(!format!("{result:?}").contains(API_KEY), "API key leaked: {result:?}");
    });
}

#[test]
fn oversized_bodies_give_decode_errors() {
    let rt = runtime();
    let f = fixture(&rt);
    for op in OPS {
        let (doc, _) = shape(op);
        let body = match (op, doc) {
            // `huge` pads objects; the catalogue is a bare array.
            (Op::Targets, Value::Array(mut entries)) => {
                entries.push(json!({"slug": "pad", "name": "Pad", "padding": "p".repeat(1024 * 1024 + 16)}));
                serde_json::to_vec(&entries).unwrap()
            }
            (_, doc) => huge(&doc),
        };
        assert!(body.len() > 1024 * 1024);
        f.stub.set(routes(op, 200, body));
        match guarded(&rt, &format!("{op:?} huge"), call(&f, op)) {
            // The link token answer keeps no excerpt at all.
            Err(Error::Decode { body, .. }) => {
                assert!(body.contains("larger than") || body.contains("withheld"), "{op:?}: {body}")
            }
            other => panic!("{op:?}: expected Decode for a body over the cap, got {other:?}"),
        }
    }
    f.stub.set(routes(Op::LinkToken, 500, vec![b'x'; 2 * 1024 * 1024]));
    assert!(matches!(guarded(&rt, "huge 500", call(&f, Op::LinkToken)), Err(Error::Provider { status: 500, .. })));
}

#[test]
fn link_tokens_that_cannot_travel_as_a_header_are_refused() {
    // Regression: a non-ASCII token (`Insert` of U+0800) was sent on as `x-vital-link-token`.
    let rt = runtime();
    let f = fixture(&rt);
    for token in ["lt_\u{800}_token", "lt token", "lt\u{7f}", "lt_\u{e9}", "lt\ttoken"] {
        let doc = json!({"link_token": token, "link_web_url": WEB_URL});
        f.stub.set(routes(Op::LinkToken, 200, serde_json::to_vec(&doc).unwrap()));
        match guarded(&rt, token, call(&f, Op::LinkToken)) {
            Err(Error::Decode { message, body, .. }) => {
                assert!(message.contains("visible ASCII") && body.contains("withheld"), "{token:?}: {message}")
            }
            other => panic!("{token:?}: expected Decode, got {other:?}"),
        }
        assert_eq!(f.stub.hits(), 1, "{token:?}: the token was sent on");
    }
}

// ---------------------------------------------------------------------------------------
// Hostile callbacks: no state, duplicated or oversized queries, bad encodings.
// ---------------------------------------------------------------------------------------

#[test]
fn hostile_callbacks_are_typed_and_send_nothing() {
    let rt = runtime();
    let f = fixture(&rt);
    f.stub.set(routes(Op::Complete, 200, serde_json::to_vec(&shape(Op::Complete).0).unwrap()));
    let state = || {
        let mut claims = f.ctx.claims(KIND, UID, SLUG);
        claims.extra.insert("jid".into(), UID.into());
        f.ctx.sign(&claims)
    };

    let long = format!("state=success&oauth_link_state={}", "a".repeat(17 * 1024));
    for query in ["a=1&a=2", "state=success&state=error", "oauth_link_state=x&oauth_link_state=y", long.as_str()] {
        assert!(matches!(Callback::from_query(KIND, query), Err(Error::InvalidInput { .. })), "{query:.60}");
    }
    for url in ["not a url", "", "://missing-scheme", "http://[::1"] {
        assert!(matches!(Callback::from_url(KIND, url), Err(Error::InvalidInput { .. })), "{url}");
    }

    // Without Junction's `state`: Junction reported nothing, so Pending (state released).
    for query in ["", "?", "error_type=user_cancelled", "foo=bar"] {
        let cb = Callback::from_query(KIND, query).unwrap().with_state(state());
        let p = f.provider.clone();
        let result = guarded(&rt, query, async move { p.complete_callback(&cb).await.map(drop) });
        assert!(matches!(result, Err(Error::Pending { .. })), "{query}: {result:?}");
        assert_eq!(f.stub.hits(), 0, "{query}");
    }
    // A `state` Junction never sends: InvalidInput, the link state left unused.
    for query in ["state=", "state=%FF%FE", "state=maybe", "state=SUCCESS"] {
        let cb = Callback::from_query(KIND, query).unwrap().with_state(state());
        let p = f.provider.clone();
        let result = guarded(&rt, query, async move { p.complete_callback(&cb).await.map(drop) });
        assert!(matches!(result, Err(Error::InvalidInput { .. })), "{query}: {result:?}");
        assert_eq!(f.stub.hits(), 0, "{query}");
    }

    // With it but no valid link state: StateInvalid, nothing sent.
    let stateless = ["state=success", "state=error&error_type=user_cancelled", "state=success&oauth_link_state="];
    let garbage = [
        "state=success&oauth_link_state=garbage",
        "state=success&oauth_link_state=%FF%FE",
        "state=success&oauth_link_state=v1.%00%01.x",
    ];
    for query in stateless.iter().chain(&garbage) {
        let cb = Callback::from_query(KIND, query).unwrap();
        let p = f.provider.clone();
        let result = guarded(&rt, query, async move { p.complete_callback(&cb).await.map(drop) });
        assert!(matches!(result, Err(Error::StateInvalid { .. })), "{query}: {result:?}");
        assert_eq!(f.stub.hits(), 0, "{query}: a request was sent for an invalid state");
    }

    let url = format!("{REDIRECT}?oauth_link_state=other&state=success");
    let cb = Callback::from_url(KIND, &url).unwrap().with_state(state());
    let p = f.provider.clone();
    let result = guarded(&rt, "mismatch", async move { p.complete_callback(&cb).await.map(drop) });
    assert!(matches!(result, Err(Error::StateInvalid { .. })), "{result:?}");

    // Error redirects with huge or odd values: Denied, bounded, nothing sent.
    let huge = "e".repeat(12 * 1024);
    for query in [
        format!("state=error&error_type={huge}&error=%FF%FE%00"),
        "state=error&error_type=%00%0A%0D&error=".to_owned(),
        "state=error&error_type=&error=x".to_owned(),
        format!("state=error&error_type=user_cancelled&error={}", "%E2%80%AE".repeat(1000)),
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

fn offline(rt: &Runtime) -> Arc<JunctionProvider> {
    let _entered = rt.enter();
    // Nothing listens there: a request would end in Transport, which the assertions reject.
    let mut common = CommonConfig { base_url: Some(Url::parse("http://127.0.0.1:9/").unwrap()), ..Default::default() };
    common.retry.max_retries = 0;
    let config = JunctionConfig::new(API_KEY).with_common(common).with_redirect_url(Url::parse(REDIRECT).unwrap());
    Arc::new(JunctionProvider::new(config, LinkContext::ephemeral()).unwrap())
}

proptest! {
    #![proptest_config(cases(64))]

    #[test]
    fn arbitrary_callback_queries_never_panic(query in prop_oneof![
        "\\PC{0,200}",
        prop::collection::vec(any::<u8>(), 0..120).prop_map(|b| b.iter().map(|x| format!("%{x:02X}")).collect::<String>()),
        ("[a-z_]{1,16}", "[ -~]{0,64}").prop_map(|(k, v)| format!("{k}={v}&{k}={v}")),
        "[ -~]{0,40}".prop_map(|v| format!("state=success&oauth_link_state={v}")),
        "[ -~]{0,40}".prop_map(|v| format!("state=error&error_type={v}&error={v}&oauth_link_state=x")),
    ]) {
        let rt = runtime();
        let provider = offline(&rt);
        match Callback::from_query(KIND, &query) {
            Err(e) => prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}"),
            Ok(cb) => {
                let result = guarded(&rt, &query, async move { provider.complete_callback(&cb).await.map(drop) });
                prop_assert!(
                    matches!(result, Err(Error::StateInvalid { .. }) | Err(Error::InvalidInput { .. })),
                    "{query:?}: {result:?}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invalid link requests: refused before anything is sent.
// ---------------------------------------------------------------------------------------

fn bad_requests() -> Vec<(&'static str, LinkRequest)> {
    let ok = || LinkRequest::new(UID, SLUG);
    let uri = |s: &str| Url::parse(s).unwrap();
    let long = "u".repeat(257);
    vec![
        ("empty user", LinkRequest::new("", SLUG)),
        ("dot user", LinkRequest::new(".", SLUG)),
        ("dot-dot target", LinkRequest::new(UID, "..")),
        ("blank user", LinkRequest::new(" \t ", SLUG)),
        ("long user", LinkRequest::new(long.clone(), SLUG)),
        ("non-uuid user", LinkRequest::new("app-user-1", SLUG)),
        ("empty target", LinkRequest::new(UID, "")),
        ("blank target", LinkRequest::new(UID, "\u{3000}")),
        ("long target", LinkRequest::new(UID, long.clone())),
        ("newline user", LinkRequest::new(format!("{UID}\n"), SLUG)),
        ("nul target", LinkRequest::new(UID, "oura\u{0}")),
        ("del target", LinkRequest::new(UID, "oura\u{7f}")),
        ("javascript redirect", ok().with_redirect_uri(uri("javascript:alert(1)"))),
        ("data redirect", ok().with_redirect_uri(uri("data:text/html,<script>1</script>"))),
        ("ftp redirect", ok().with_redirect_uri(uri("ftp://files.example/cb"))),
        ("public http redirect", ok().with_redirect_uri(uri("http://public.example/cb"))),
        ("file redirect", ok().with_redirect_uri(uri("file:///etc/passwd"))),
        ("fragment redirect", ok().with_redirect_uri(uri("https://app.example/cb#frag"))),
        ("redirect with state", ok().with_redirect_uri(uri("https://app.example/cb?state=success"))),
        ("redirect with oauth_link_state", ok().with_redirect_uri(uri("https://app.example/cb?oauth_link_state=x"))),
        ("long idempotency key", ok().with_idempotency_key(long.clone())),
        ("control scope", ok().with_scope("read\r\nx")),
        ("any scope", ok().with_scope("sleep")),
        ("any param", ok().with_param("region", "eu")),
        ("long param value", ok().with_param("x", "c".repeat(2049))),
        ("long param key", ok().with_param(long, "v")),
    ]
}

#[test]
fn invalid_link_requests_send_nothing() {
    let rt = runtime();
    let f = fixture(&rt);
    f.stub.set(routes(Op::LinkToken, 200, serde_json::to_vec(&link_token_doc()).unwrap()));
    for (name, request) in bad_requests() {
        for p in [&f.provider, &f.mapped] {
            if name == "non-uuid user" && Arc::ptr_eq(p, &f.mapped) {
                continue;
            }
            let (p, request) = (p.clone(), request.clone());
            let result = guarded(&rt, name, async move { p.generate_link(&request).await.map(drop) });
            assert!(matches!(result, Err(Error::InvalidInput { provider: KIND, .. })), "{name}: {result:?}");
            assert_eq!(f.stub.hits(), 0, "{name}: a request was sent");
        }
    }
    let p = f.provider.clone();
    let extras: Vec<(&str, BoxFut)> = vec![
        (
            "disconnect blank id",
            Box::pin({
                let p = p.clone();
                async move { p.disconnect(UID, "  ").await }
            }),
        ),
        (
            "disconnect nested id",
            Box::pin({
                let p = p.clone();
                async move { p.disconnect(UID, "a/b/c").await }
            }),
        ),
        (
            "disconnect empty owner",
            Box::pin({
                let p = p.clone();
                async move { p.disconnect(UID, "/oura").await }
            }),
        ),
        (
            "disconnect foreign owner",
            Box::pin({
                let p = p.clone();
                async move { p.disconnect(UID, "00000000-0000-4000-8000-000000000000/oura").await }
            }),
        ),
        (
            "list control user",
            Box::pin(async move { p.list_connections(&ConnectionQuery::user("u\0")).await.map(drop) }),
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
        field in 0..2usize,
    ) {
        let rt = runtime();
        let bad = format!("{prefix}{ctl}{suffix}");
        let request = match field {
            0 => LinkRequest::new(bad, SLUG),
            _ => LinkRequest::new(APP_USER, bad),
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
    let (doc, _) = shape(Op::Deregister);
    f.stub.set(routes(Op::Deregister, 200, serde_json::to_vec(&doc).unwrap()));
    let mut cases = hostile_disconnects(UID);
    // Junction ids are `<user_id>/<slug>`: dot segments inside them must not climb either.
    cases.extend(
        [format!("{UID}/.."), format!("{UID}/."), "../..".to_owned()].into_iter().map(|id| (UID.to_owned(), id)),
    );
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
    for key in ["base_url", "redirect_url"] {
        assert_config_rejects(KIND, &[("api_key", API_KEY)], key, &BAD_URLS, |m| {
            JunctionConfig::from_config(m).map(drop)
        });
    }
}
