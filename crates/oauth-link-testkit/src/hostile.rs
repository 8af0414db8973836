//! The hostile-input suite every adapter runs: mutated success bodies, mutated error bodies,
//! oversized bodies, hostile callbacks, invalid link requests and ids. Every case must end in
//! a typed error (or `Ok` for a body that is still a valid document), never a panic; invalid
//! input must send no request; no secret shows in an error.
//!
//! An adapter describes itself in a [`Driver`] (its operations, the real documents each
//! decodes, which fields are required, how to build it against a base URL, which errors it
//! may answer) and runs [`hostile_suite!`](crate::hostile_suite). Proptests run from a fixed
//! seed and persist nothing: the same inputs on every run.

use std::fmt;
use std::future::Future;

use oauth_link_core::{Callback, Error, LinkRequest, SharedLinkProvider, Url};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};
use serde_json::{json, Value};
use tokio::runtime::Runtime;

use crate::config::Settings;
use crate::mutate::{apply, huge, is_json, mutation, Mutation};
use crate::stub::{guarded, runtime, BoxFut, Outcome, Route, Stub};

/// `n` cases from a fixed seed, nothing persisted: the same inputs on every run.
pub fn cases(n: u32) -> ProptestConfig {
    ProptestConfig { cases: n, failure_persistence: None, rng_seed: RngSeed::Fixed(2026), ..ProptestConfig::default() }
}

/// Cases per operation of the mutated-success-body property.
pub const BODY_CASES: u32 = 48;
/// Cases of each of the other properties.
pub const CASES: u32 = 64;

/// What the hostile suite needs to know about one adapter.
pub trait Driver: Settings + Sized + Send + Sync {
    /// An operation that reads a platform answer.
    type Op: Copy + fmt::Debug + Send + Sync + 'static;
    /// Every operation; each is run on its real document, then on mutations of it.
    const OPS: &'static [Self::Op];
    /// The operation the error-mapping property runs.
    const ERROR_OP: Self::Op;
    /// A parameter the adapter reads from a link request (oversized and control-character
    /// values of it are refused).
    const PARAM: &'static str;
    /// The statuses the adapter maps to [`Error::InvalidInput`] when the body names the
    /// field (else [`Error::Provider`] with the status).
    const INVALID_INPUT_STATUSES: &'static [u16] = &[422];

    /// The adapter's providers pointed at the stub at `base_url` (built inside the runtime).
    fn start(base_url: Url) -> Self;
    /// A provider pointed at an address where nothing listens: a request would end in
    /// [`Error::Transport`], which every assertion refuses (built inside a runtime).
    fn offline() -> SharedLinkProvider;
    /// Every provider the fixture holds (one per mode): invalid input is sent to each.
    fn providers(&self) -> Vec<SharedLinkProvider>;

    /// The real document `op` decodes and the pointers whose type must hold.
    fn shape(op: Self::Op) -> (Value, Vec<&'static str>);
    /// The stub's routes while `op` answers `status` with `body` (the other calls `op`
    /// makes get valid answers).
    fn routes(op: Self::Op, status: u16, body: Vec<u8>) -> Vec<Route>;
    /// Runs `op`.
    fn call(&self, op: Self::Op) -> BoxFut;
    /// The errors other than a [`Error::Decode`] of this adapter that a 2xx answer with a
    /// hostile body may produce for `op` (e.g. [`Error::Pending`] for a completion).
    fn acceptable_2xx(op: Self::Op, err: &Error) -> bool;
    /// True when `op`'s decode errors withhold the body (it holds a secret) instead of
    /// quoting an excerpt.
    fn withholds_body(_op: Self::Op) -> bool {
        false
    }
    /// Error documents the platform answers with.
    fn error_docs() -> Vec<Value>;
    /// What never shows in an error: the API key, tokens the documents hold.
    fn secrets() -> Vec<&'static str> {
        vec![Self::API_KEY]
    }

    /// A valid link request.
    fn request() -> LinkRequest;
    /// Invalid link requests particular to this adapter (the suite adds the common ones).
    fn bad_requests() -> Vec<(&'static str, LinkRequest)> {
        Vec::new()
    }
    /// Other calls that must be [`Error::InvalidInput`] before anything is sent.
    fn invalid_calls(&self) -> Vec<(&'static str, BoxFut)> {
        Vec::new()
    }
    /// `(user, connection id)` pairs particular to this adapter that `disconnect` must
    /// refuse (the suite adds [`hostile_disconnects`]).
    fn bad_connection_ids(_user: &str) -> Vec<(String, String)> {
        Vec::new()
    }

    /// `callback` with a fresh link state this adapter issued for [`Driver::request`].
    fn sign(&self, callback: Callback) -> Callback;
    /// The query the browser comes back with after consent, carrying `state` as
    /// `oauth_link_state`.
    fn returned(state: &str) -> String {
        format!("oauth_link_state={state}")
    }
    /// The query the browser comes back with after a refusal.
    fn denial(code: &str, description: &str) -> String {
        format!("error={code}&error_description={description}")
    }
    /// Queries without a valid link state particular to this adapter (the suite adds the
    /// common ones); each is [`Error::StateInvalid`].
    fn stateless_queries() -> Vec<&'static str> {
        Vec::new()
    }
    /// The errors a callback without a valid link state may answer.
    fn refuses_callback(err: &Error) -> bool {
        matches!(err, Error::StateInvalid { .. })
    }
}

/// A runtime, a stub and the adapter pointed at it: one per test.
pub struct Fixture<D> {
    /// Drives the operations.
    pub rt: Runtime,
    /// The mock platform.
    pub stub: Stub,
    /// The adapter's providers.
    pub driver: D,
}

impl<D> fmt::Debug for Fixture<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture").field("base_url", &self.stub.server.base_url()).finish_non_exhaustive()
    }
}

impl<D: Driver> Fixture<D> {
    /// Starts the stub and builds the adapter against it.
    pub fn start() -> Self {
        let rt = runtime();
        let stub = Stub::start();
        let driver = {
            let _entered = rt.enter();
            D::start(Url::parse(&stub.server.base_url()).unwrap())
        };
        Self { rt, stub, driver }
    }

    /// Runs `fut` in a task so a panic is reported as `what`.
    pub fn run(&self, what: &str, fut: impl Future<Output = Outcome> + Send + 'static) -> Outcome {
        guarded(&self.rt, what, fut)
    }

    /// Serves `op`'s routes with `status` and `body`.
    pub fn serve(&self, op: D::Op, status: u16, body: Vec<u8>) {
        self.stub.set(D::routes(op, status, body));
    }

    /// Serves `op`'s routes with `doc`.
    pub fn serve_doc(&self, op: D::Op, doc: &Value) {
        self.serve(op, 200, serde_json::to_vec(doc).unwrap());
    }

    /// Asserts that `fut` is [`Error::InvalidInput`] of this adapter and sent nothing.
    pub fn assert_refused(&self, what: &str, fut: impl Future<Output = Outcome> + Send + 'static) {
        let result = self.run(what, fut);
        assert!(
            matches!(result, Err(Error::InvalidInput { provider, .. }) if provider == D::KIND),
            "{what}: {result:?}"
        );
        assert_eq!(self.stub.hits(), 0, "{what}: a request was sent");
    }
}

/// Asserts that none of `secrets` shows in `text`.
pub fn assert_hidden(secrets: &[&str], text: &str) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} shows in: {text}");
    }
}

/// Whether `err` is the typed error of an answer with HTTP `status`: 401
/// [`Error::Unauthenticated`], 403 [`Error::Forbidden`], 404 [`Error::NotFound`], 409
/// [`Error::Conflict`], 429 [`Error::RateLimited`], a status of `invalid_input`
/// [`Error::InvalidInput`] (or [`Error::Provider`] when the body names no field), any
/// other [`Error::Provider`] with the status.
pub fn is_typed_status(status: u16, err: &Error, invalid_input: &[u16]) -> bool {
    match (status, err) {
        (401, Error::Unauthenticated { .. })
        | (403, Error::Forbidden { .. })
        | (404, Error::NotFound { .. })
        | (409, Error::Conflict { .. })
        | (429, Error::RateLimited { .. }) => true,
        (401 | 403 | 404 | 409 | 429, _) => false,
        (s, Error::InvalidInput { .. }) => invalid_input.contains(&s),
        (s, Error::Provider { status, .. }) => *status == s,
        _ => false,
    }
}

fn check_body<D: Driver>(f: &Fixture<D>, op: D::Op, m: &Mutation) -> Result<(), TestCaseError> {
    let (doc, required) = D::shape(op);
    let (body, must_fail) = apply(&doc, &required, m);
    let what = format!("{op:?} {m:?} body={:?}", String::from_utf8_lossy(&body[..body.len().min(200)]));
    f.serve(op, 200, body.clone());
    match f.run(&what, f.driver.call(op)) {
        Ok(()) => {
            prop_assert!(!must_fail, "accepted a body it must refuse: {what}");
            // The deep nest is valid JSON that only a depth-limited parser refuses.
            let json = is_json(&body) || matches!(m, Mutation::DeepNest);
            prop_assert!(json, "accepted a body that is not JSON: {what}");
        }
        Err(err) => {
            let typed = matches!(&err, Error::Decode { provider, .. } if *provider == D::KIND);
            prop_assert!(typed || D::acceptable_2xx(op, &err), "untyped error {err:?} for {what}");
            let text = format!("{err} {err:?}");
            for secret in D::secrets() {
                prop_assert!(!text.contains(secret), "{secret} shows in {err:?} for {what}");
            }
        }
    }
    Ok(())
}

/// Each operation accepts its real document, then ends every mutation of it in `Ok` (a
/// document still valid) or a typed error without secrets.
pub fn mutated_success_bodies<D: Driver>() {
    let f = Fixture::<D>::start();
    for &op in D::OPS {
        // The unmutated shapes are accepted (the corpus starts from real documents).
        f.serve_doc(op, &D::shape(op).0);
        f.run(&format!("{op:?} valid"), f.driver.call(op)).unwrap_or_else(|e| panic!("{op:?}: {e:?}"));
        proptest!(cases(BODY_CASES), |(m in mutation())| { check_body(&f, op, &m)?; });
    }
}

/// Mutated error documents under every status map to the status's typed error, with no
/// secret in it.
pub fn mutated_error_bodies<D: Driver>() {
    let f = Fixture::<D>::start();
    let docs = D::error_docs();
    let statuses = vec![400u16, 401, 403, 404, 409, 422, 429, 500, 503];
    proptest!(cases(CASES), |(m in mutation(), s in prop::sample::select(statuses), d in 0..docs.len())| {
        let (body, _) = apply(&docs[d], &[], &m);
        let what = format!("HTTP {s} {m:?}");
        f.serve(D::ERROR_OP, s, body);
        let result = f.run(&what, f.driver.call(D::ERROR_OP));
        let typed = result.as_ref().err().is_some_and(|e| is_typed_status(s, e, D::INVALID_INPUT_STATUSES));
        prop_assert!(typed, "{what}: {result:?}");
        let text = format!("{result:?}");
        for secret in D::secrets() {
            prop_assert!(!text.contains(secret), "{secret} shows in {text}");
        }
    });
}

/// A success body over the size cap is a decode error saying so; an error body over it
/// still maps to its status.
pub fn oversized_bodies<D: Driver>() {
    let f = Fixture::<D>::start();
    for &op in D::OPS {
        f.serve(op, 200, huge(&D::shape(op).0));
        match f.run(&format!("{op:?} huge"), f.driver.call(op)) {
            Err(Error::Decode { body, .. }) => {
                let said = if D::withholds_body(op) { "withheld" } else { "larger than" };
                assert!(body.contains(said), "{op:?}: {body}")
            }
            other => panic!("{op:?}: expected Decode for a body over the cap, got {other:?}"),
        }
    }
    f.serve(D::ERROR_OP, 500, vec![b'x'; 2 * 1024 * 1024]);
    let result = f.run("huge 500", f.driver.call(D::ERROR_OP));
    assert!(matches!(result, Err(Error::Provider { status: 500, .. })), "{result:?}");
}

/// An answer echoing the API key back (an error page, a validation message) under any
/// status never puts it in an error, and no provider shows a secret in its Debug output.
/// (Tokens are covered where the adapter holds them: [`Driver::secrets`] in the mutated
/// bodies of [`mutated_success_bodies`].)
pub fn echoed_secrets<D: Driver>() {
    let f = Fixture::<D>::start();
    for p in f.driver.providers() {
        assert_hidden(&D::secrets(), &format!("{p:?}"));
    }
    let key = D::API_KEY;
    let bodies = [
        format!("<html><body>key {key} rejected</body></html>"),
        json!({"message": format!("Invalid API key {key}"), "detail": format!("token {key}"), "errors": [key]})
            .to_string(),
    ];
    for &op in D::OPS {
        for status in [200u16, 401, 422, 500] {
            for body in &bodies {
                f.serve(op, status, body.clone().into_bytes());
                if let Err(err) = f.run(&format!("{op:?} HTTP {status} echo"), f.driver.call(op)) {
                    assert_hidden(&[key], &format!("{op:?} HTTP {status}: {err} {err:?}"));
                }
            }
        }
    }
    f.serve(D::ERROR_OP, 500, bodies[0].clone().into_bytes());
    let result = f.run("echo", f.driver.call(D::ERROR_OP));
    assert!(matches!(result, Err(Error::Provider { status: 500, .. })), "{result:?}");
}

/// Timestamps at and beyond the ends of every range neither panic nor fail a listing; a
/// completion reading them stays pending. `doc` is a listing whose records were created at
/// the given value. (Regression: `createdAt: i64::MIN` overflowed `i64::abs`.)
pub fn extreme_timestamps<D: Driver>(list: D::Op, complete: D::Op, doc: impl Fn(&Value) -> Value) {
    let f = Fixture::<D>::start();
    for created in
        [json!(i64::MIN), json!(i64::MAX), json!(u64::MAX), json!(-1.5e300), json!("+275760-09-13T00:00:00Z")]
    {
        f.serve_doc(list, &doc(&created));
        let result = f.run(&format!("createdAt {created}"), f.driver.call(list));
        assert!(result.is_ok(), "{created}: {result:?}");
        f.serve_doc(complete, &doc(&created));
        let result = f.run(&format!("complete createdAt {created}"), f.driver.call(complete));
        assert!(matches!(result, Err(Error::Pending { .. })), "{created}: {result:?}");
    }
}

/// Queries without a valid link state: no state, an empty one, garbage, bad encodings.
pub const STATELESS: [&str; 9] = [
    "",
    "?",
    "code=abc",
    "error=access_denied",
    "oauth_link_state=",
    "oauth_link_state=%FF%FE",
    "oauth_link_state=garbage",
    "oauth_link_state=v1.%00%01.x",
    "oauth_link_state=%C3%28%A0%A1",
];

/// Callback queries refused while parsing: duplicated parameters.
pub const DUPLICATED: [&str; 5] = [
    "a=1&a=2",
    "oauth_link_state=x&oauth_link_state=y",
    "error=a&error=b",
    "code=1&code=2",
    "state=success&state=error",
];

/// Callback URLs refused while parsing.
pub const BAD_CALLBACK_URLS: [&str; 4] = ["not a url", "", "://missing-scheme", "http://[::1"];

/// Hostile callbacks are typed and send nothing: duplicated or oversized queries and bad
/// URLs are refused while parsing; no or a garbage link state, or one other than the kept
/// one, is [`Error::StateInvalid`]; refusals with huge or odd values are a bounded
/// [`Error::Denied`] without control characters.
pub fn hostile_callbacks<D: Driver>() {
    let f = Fixture::<D>::start();
    f.stub.set(Vec::new());
    let long = "a".repeat(17 * 1024);
    let oversized = [format!("oauth_link_state={long}"), D::returned(&long)];
    for query in DUPLICATED.iter().copied().chain(oversized.iter().map(String::as_str)) {
        assert!(matches!(Callback::from_query(D::KIND, query), Err(Error::InvalidInput { .. })), "{query:.60}");
    }
    for url in BAD_CALLBACK_URLS {
        assert!(matches!(Callback::from_url(D::KIND, url), Err(Error::InvalidInput { .. })), "{url}");
    }

    for p in f.driver.providers() {
        // Parsed, then refused before any call.
        for query in STATELESS.into_iter().chain(D::stateless_queries()) {
            let (cb, p) = (Callback::from_query(D::KIND, query).unwrap(), p.clone());
            let result = f.run(query, async move { p.complete_callback(&cb).await.map(drop) });
            assert!(matches!(result, Err(Error::StateInvalid { .. })), "{query}: {result:?}");
            assert_eq!(f.stub.hits(), 0, "{query}: a request was sent for an invalid state");
        }

        // The full redirect URL works as a callback; a kept state that differs is refused.
        let url = format!("https://app.example.com/oauth/back?tenant=7&{}", D::returned("other"));
        let (cb, q) = (f.driver.sign(Callback::from_url(D::KIND, &url).unwrap()), p.clone());
        let result = f.run("mismatch", async move { q.complete_callback(&cb).await.map(drop) });
        assert!(matches!(result, Err(Error::StateInvalid { .. })), "{result:?}");
        assert_eq!(f.stub.hits(), 0, "mismatch: a request was sent");

        let huge_code = "e".repeat(12 * 1024);
        for query in [
            D::denial(&huge_code, "%FF%FE%00"),
            D::denial("%00%0A%0D", ""),
            D::denial("", "x"),
            D::denial("access_denied", &"%E2%80%AE".repeat(1000)),
        ] {
            let (cb, q) = (f.driver.sign(Callback::from_query(D::KIND, &query).unwrap()), p.clone());
            match f.run(&query, async move { q.complete_callback(&cb).await.map(drop) }) {
                Err(Error::Denied { code, reason, .. }) => {
                    assert!(code.len() < 1024 && reason.len() < 2048, "{query:.40}: unbounded Denied");
                    assert!(!code.chars().chain(reason.chars()).any(char::is_control), "{query:.40}");
                }
                other => panic!("{query:.40}: expected Denied, got {other:?}"),
            }
            assert_eq!(f.stub.hits(), 0, "{query:.40}");
        }
    }
}

/// Arbitrary callback queries never panic: refused while parsing, or refused by the
/// adapter before anything is sent (the provider is offline).
pub fn arbitrary_callback_queries<D: Driver>() {
    let queries = prop_oneof![
        "\\PC{0,200}",
        prop::collection::vec(any::<u8>(), 0..120)
            .prop_map(|b| b.iter().map(|x| format!("%{x:02X}")).collect::<String>()),
        ("[a-z_]{1,16}", "[ -~]{0,64}").prop_map(|(k, v)| format!("{k}={v}&{k}={v}")),
        "[ -~]{0,40}".prop_map(|v| D::returned(&v)),
        "[ -~]{0,40}".prop_map(|v| format!("{}&oauth_link_state=x", D::denial(&v, &v))),
    ];
    proptest!(cases(CASES), |(query in queries)| {
        let rt = runtime();
        let provider = {
            let _entered = rt.enter();
            D::offline()
        };
        match Callback::from_query(D::KIND, &query) {
            Err(e) => prop_assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}"),
            Ok(cb) => {
                let result = guarded(&rt, &query, async move { provider.complete_callback(&cb).await.map(drop) });
                prop_assert!(result.as_ref().is_err_and(D::refuses_callback), "{query:?}: {result:?}");
            }
        }
    });
}

/// The invalid link requests every adapter refuses, built from a valid `ok` request and a
/// parameter `param` the adapter reads.
pub fn bad_link_requests(ok: &LinkRequest, param: &str) -> Vec<(&'static str, LinkRequest)> {
    let (user, target) = (ok.user.as_str(), ok.target.as_str());
    let with_redirect = |s: &str| ok.clone().with_redirect_uri(Url::parse(s).unwrap());
    let long = "u".repeat(257);
    vec![
        ("empty user", LinkRequest::new("", target)),
        ("dot user", LinkRequest::new(".", target)),
        ("dot-dot target", LinkRequest::new(user, "..")),
        ("blank user", LinkRequest::new(" \t ", target)),
        ("long user", LinkRequest::new(long.clone(), target)),
        ("empty target", LinkRequest::new(user, "")),
        ("blank target", LinkRequest::new(user, "\u{3000}")),
        ("long target", LinkRequest::new(user, long.clone())),
        ("newline user", LinkRequest::new(format!("{user}\n7"), target)),
        ("nul user", LinkRequest::new(format!("{user}\u{0}7"), target)),
        ("nul target", LinkRequest::new(user, format!("{target}\u{0}"))),
        ("del target", LinkRequest::new(user, format!("{target}\u{7f}"))),
        ("javascript redirect", with_redirect("javascript:alert(1)")),
        ("data redirect", with_redirect("data:text/html,<script>1</script>")),
        ("ftp redirect", with_redirect("ftp://files.example/cb")),
        ("public http redirect", with_redirect("http://public.example/cb")),
        ("file redirect", with_redirect("file:///etc/passwd")),
        ("fragment redirect", with_redirect("https://app.example/cb#frag")),
        ("long idempotency key", ok.clone().with_idempotency_key(long.clone())),
        ("spaced idempotency key", ok.clone().with_idempotency_key("a b")),
        ("control scope", ok.clone().with_scope("read\r\nx")),
        ("33 scopes", (0..33).fold(ok.clone(), |r, i| r.with_scope(format!("s{i}")))),
        ("long param value", ok.clone().with_param(param, "c".repeat(2049))),
        ("control param value", ok.clone().with_param(param, "acme\u{0}")),
        ("long param key", ok.clone().with_param(long, "v")),
    ]
}

/// Invalid link requests (and the adapter's other invalid calls) are refused before
/// anything is sent, by every provider of the fixture.
pub fn invalid_link_requests<D: Driver>() {
    let f = Fixture::<D>::start();
    f.stub.set(Vec::new());
    let requests = bad_link_requests(&D::request(), D::PARAM).into_iter().chain(D::bad_requests());
    for (name, request) in requests {
        for p in f.driver.providers() {
            let request = request.clone();
            f.assert_refused(name, async move { p.generate_link(&request).await.map(drop) });
        }
    }
    for (name, fut) in f.driver.invalid_calls() {
        f.assert_refused(name, fut);
    }
}

/// Ids with a control character anywhere are refused before anything is sent.
pub fn control_characters_in_ids<D: Driver>() {
    let controls = vec!['\n', '\r', '\0', '\u{7f}', '\u{1b}', '\u{85}', '\t'];
    proptest!(cases(CASES), |(
        prefix in "[a-z0-9-]{0,20}",
        ctl in prop::sample::select(controls),
        suffix in "[a-z0-9-]{0,20}",
        field in 0..3usize,
    )| {
        let rt = runtime();
        let bad = format!("{prefix}{ctl}{suffix}");
        let ok = D::request();
        let request = match field {
            0 => LinkRequest::new(bad, ok.target.clone()),
            1 => LinkRequest::new(ok.user.clone(), bad),
            _ => ok.with_param(D::PARAM, bad),
        };
        let provider = {
            let _entered = rt.enter();
            D::offline()
        };
        let result = guarded(&rt, "control id", async move { provider.generate_link(&request).await.map(drop) });
        prop_assert!(matches!(result, Err(Error::InvalidInput { .. })), "{result:?}");
    });
}

/// `(user, connection id)` pairs every adapter's `disconnect` must refuse before sending
/// anything: dot segments (which URL rules would resolve away), empty, whitespace, control
/// characters, oversized ids, and the same faults in the user.
pub fn hostile_disconnects(user: &str) -> Vec<(String, String)> {
    let long = "c".repeat(257);
    let mut cases: Vec<(String, String)> = ["..", ".", "", " ", "  ", "a\nb", "a\u{0}", "a\u{7f}", long.as_str()]
        .iter()
        .map(|id| (user.to_owned(), id.to_string()))
        .collect();
    cases.extend(["..", ".", "", "u\r\n"].iter().map(|u| (u.to_string(), "conn-1".to_owned())));
    cases
}

/// Hostile connection ids are refused before anything is sent. (Regression: `..` and `.`
/// dropped out of the request path, so `disconnect(user, "..")` addressed the parent
/// resource.)
pub fn hostile_disconnect_ids<D: Driver>() {
    let f = Fixture::<D>::start();
    f.stub.set(Vec::new());
    let user = D::request().user;
    for p in f.driver.providers() {
        for (user, id) in hostile_disconnects(&user).into_iter().chain(D::bad_connection_ids(&user)) {
            let p = p.clone();
            let what = format!("disconnect({user:?}, {id:.40?})");
            f.assert_refused(&what, async move { p.disconnect(&user, &id).await });
        }
    }
}

/// The hostile-input suite as `#[test]` functions, for a type implementing [`Driver`].
#[macro_export]
macro_rules! hostile_suite {
    ($driver:ty) => {
        #[test]
        fn mutated_success_bodies_give_typed_errors() {
            $crate::hostile::mutated_success_bodies::<$driver>();
        }

        #[test]
        fn mutated_error_bodies_give_status_errors() {
            $crate::hostile::mutated_error_bodies::<$driver>();
        }

        #[test]
        fn oversized_bodies_give_decode_errors() {
            $crate::hostile::oversized_bodies::<$driver>();
        }

        #[test]
        fn echoed_secrets_never_show() {
            $crate::hostile::echoed_secrets::<$driver>();
        }

        #[test]
        fn hostile_callbacks_are_typed_and_send_nothing() {
            $crate::hostile::hostile_callbacks::<$driver>();
        }

        #[test]
        fn arbitrary_callback_queries_never_panic() {
            $crate::hostile::arbitrary_callback_queries::<$driver>();
        }

        #[test]
        fn invalid_link_requests_send_nothing() {
            $crate::hostile::invalid_link_requests::<$driver>();
        }

        #[test]
        fn ids_with_control_characters_send_nothing() {
            $crate::hostile::control_characters_in_ids::<$driver>();
        }

        #[test]
        fn hostile_disconnect_ids_send_nothing() {
            $crate::hostile::hostile_disconnect_ids::<$driver>();
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_with_its_own_error_needs_that_error() {
        let invalid = Error::invalid_input("x", "field", "bad");
        assert!(is_typed_status(422, &invalid, &[422]));
        assert!(!is_typed_status(400, &invalid, &[422]));
        assert!(!is_typed_status(401, &invalid, &[401]), "401 is Unauthenticated");
        assert!(!is_typed_status(500, &Error::decode("x", "not JSON", b"<html>"), &[]));
    }

    #[test]
    fn the_common_corpus_is_built_from_the_valid_request() {
        let ok = LinkRequest::new("u-1", "slack");
        let bad = bad_link_requests(&ok, "workspace");
        assert_eq!(bad.len(), 25);
        let newline = &bad.iter().find(|(name, _)| *name == "newline user").unwrap().1;
        assert_eq!((newline.user.as_str(), newline.target.as_str()), ("u-1\n7", "slack"));
        assert!(hostile_disconnects("u-1").iter().any(|(user, id)| user == "u-1" && id == ".."));
    }
}
