use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use http::header::HeaderMap;
use http::Method;
use httpmock::prelude::*;
use httpmock::{HttpMockRequest, HttpMockResponse};
use serde::Deserialize;
use url::Url;

use super::*;
use crate::context::LinkContext;
use crate::http::{secret_header, ApiClient, HttpSettings, Idempotency, RetryPolicy};
use crate::types::{CallbackModel, ConnectionStatus};

const KIND: &str = "tiny";
const USER: &str = "user-secret-42";
const CONNECTION: &str = "conn-secret-7";
const API_KEY: &str = "tiny_secret_key";

/// A small adapter over a mocked platform, built like the real ones (`LinkContext` for the
/// state, `ApiClient` for HTTP), to drive real flows through [`observe`].
#[derive(Debug)]
struct Tiny {
    ctx: LinkContext,
    api: ApiClient,
}

#[derive(Deserialize)]
struct Minted {
    url: Url,
}

#[derive(Deserialize)]
struct Record {
    id: String,
    target: String,
}

impl Tiny {
    fn new(base: &str) -> Self {
        let ctx = LinkContext::ephemeral();
        let mut headers = HeaderMap::new();
        headers.insert("authorization", secret_header(&format!("Bearer {API_KEY}")).unwrap());
        let retry = RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            ..RetryPolicy::default()
        };
        let transport = ctx.transport(&HttpSettings::default()).unwrap();
        let api = ApiClient::new(KIND, Url::parse(base).unwrap(), headers, transport, retry);
        Self { ctx, api }
    }

    async fn connections(&self, user: &str) -> Result<Vec<Connection>> {
        let call = self.api.call(Method::GET, "list_connections", "/users/{userId}/connections", &[user]);
        let records: Vec<Record> = self.api.json(call, "a list of connections").await?;
        Ok(records
            .into_iter()
            .map(|r| Connection::new(r.id, KIND, user, r.target, ConnectionStatus::Connected))
            .collect())
    }
}

#[async_trait]
impl LinkProvider for Tiny {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new(CallbackModel::Hosted)
    }

    async fn generate_link(&self, request: &LinkRequest) -> Result<Link> {
        request.validate(KIND)?;
        // Minting a platform link is harmless to repeat: an unused one expires.
        let call = self
            .api
            .call(Method::POST, "create_link", "/links", &[])
            .json(&serde_json::json!({ "target": request.target }))
            .idempotency(Idempotency::Idempotent);
        let minted: Minted = self.api.json(call, "a link").await?;
        let issued = self.ctx.issue_link(KIND, request, &[]);
        Ok(Link::new(KIND, minted.url, issued.token, issued.expires_at))
    }

    async fn complete_callback(&self, callback: &Callback) -> Result<Connection> {
        self.ctx
            .complete_connection(KIND, callback, |claims| async move {
                let listed = self.connections(&claims.user).await?;
                listed.into_iter().find(|c| c.target == claims.target).ok_or_else(|| Error::Pending {
                    provider: KIND,
                    message: "the connection is not listed yet".into(),
                })
            })
            .await
    }

    async fn list_connections(&self, query: &ConnectionQuery) -> Result<Vec<Connection>> {
        self.connections(&query.user).await
    }

    async fn disconnect(&self, user: &str, connection_id: &str) -> Result<()> {
        let template = "/users/{userId}/connections/{connectionId}";
        self.api.send(self.api.call(Method::DELETE, "delete_connection", template, &[user, connection_id])).await?;
        Ok(())
    }
}

/// The mocked platform: links for `slack` (400 for `broken`), the user's one connection
/// listed after a first 503, 404 on delete.
async fn platform(server: &MockServer) {
    server
        .mock_async(|when, then| {
            when.method(POST).path("/links").json_body(serde_json::json!({"target": "slack"}));
            then.status(200).json_body(serde_json::json!({"url": "https://tiny.example/consent/xyz"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/links").json_body(serde_json::json!({"target": "broken"}));
            then.status(400).json_body(serde_json::json!({"error": "no such app"}));
        })
        .await;
    let listed = AtomicUsize::new(0);
    server
        .mock_async(move |when, then| {
            when.method(GET).path(format!("/users/{USER}/connections"));
            then.respond_with(move |_: &HttpMockRequest| {
                let status = if listed.fetch_add(1, Ordering::SeqCst) == 0 { 503 } else { 200 };
                let body = serde_json::json!([{ "id": CONNECTION, "target": "slack" }]).to_string();
                HttpMockResponse::builder().status(status).header("content-type", "application/json").body(body).build()
            });
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(DELETE).path(format!("/users/{USER}/connections/{CONNECTION}"));
            then.status(404).json_body(serde_json::json!({"error": "gone"}));
        })
        .await;
}

/// The flow every test drives, with what each step must return: a link issued, a 4xx link,
/// a callback completed after a retried 503, the same callback refused (replayed), a 4xx
/// disconnect, an unsupported operation. Returns the state, which no telemetry may show.
async fn drive(provider: &SharedLinkProvider) -> String {
    let link = provider.generate_link(&LinkRequest::new(USER, "slack")).await.expect("a link");
    let err = provider.generate_link(&LinkRequest::new(USER, "broken")).await.unwrap_err();
    assert!(matches!(err, Error::Provider { status: 400, .. }), "{err:?}");
    let callback = Callback::from_state(link.state.clone());
    let connection = provider.complete_callback(&callback).await.expect("completed after one retry");
    assert_eq!(connection.id, CONNECTION);
    let err = provider.complete_callback(&callback).await.unwrap_err();
    assert!(matches!(err, Error::StateReplayed { .. }), "{err:?}");
    let err = provider.disconnect(USER, CONNECTION).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = provider.list_targets().await.unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");
    link.state.expose().to_owned()
}

#[test]
fn outcomes_follow_the_error_classification() {
    use chrono::Utc;
    let cases: Vec<(Error, Outcome)> = vec![
        (Error::invalid_input(KIND, "user", "empty"), Outcome::InvalidRequest),
        (Error::Unsupported { provider: KIND, operation: "disconnect" }, Outcome::InvalidRequest),
        (Error::state_invalid(KIND, "bad signature"), Outcome::StateRefused),
        (Error::StateExpired { provider: KIND, expired_at: Utc::now() }, Outcome::StateRefused),
        (Error::StateReplayed { provider: KIND }, Outcome::StateRefused),
        (Error::Denied { provider: KIND, code: "access_denied".into(), reason: String::new() }, Outcome::Denied),
        (Error::Unauthenticated { provider: KIND, message: "m".into() }, Outcome::Platform),
        (Error::Forbidden { provider: KIND, message: "m".into() }, Outcome::Platform),
        (Error::NotFound { provider: KIND, message: "m".into() }, Outcome::Platform),
        (Error::Conflict { provider: KIND, message: "m".into() }, Outcome::Platform),
        (Error::Provider { provider: KIND, status: 422, code: None, message: "m".into() }, Outcome::Platform),
        (Error::Provider { provider: KIND, status: 503, code: None, message: "m".into() }, Outcome::Unavailable),
        (Error::RateLimited { provider: KIND, retry_after: None, message: "m".into() }, Outcome::Unavailable),
        (
            Error::Transport { provider: KIND, kind: crate::TransportKind::Timeout, message: "m".into(), source: None },
            Outcome::Unavailable,
        ),
        (Error::decode(KIND, "json", b"{"), Outcome::Unavailable),
        (Error::Pending { provider: KIND, message: "m".into() }, Outcome::Pending),
        (Error::ReplayGuard { message: "down".into() }, Outcome::ReplayGuard),
        (Error::config("api_key", "missing"), Outcome::Config),
        (Error::UnknownProvider { kind: "x".into(), available: vec![] }, Outcome::Config),
        (Error::ProviderNotCompiled { kind: "novu", feature: "novu" }, Outcome::Config),
    ];
    for (err, expected) in &cases {
        assert_eq!(Outcome::of_error(err), *expected, "{err:?}");
    }
    assert_eq!(Outcome::of(&Ok::<(), Error>(())), Outcome::Ok);
    let labels: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
    assert_eq!(
        labels,
        [
            "ok",
            "invalid_request",
            "state_refused",
            "denied",
            "platform",
            "unavailable",
            "pending",
            "replay_guard",
            "config"
        ]
    );
    // Every class but `ok` is reached by some error.
    for outcome in &Outcome::ALL[1..] {
        assert!(cases.iter().any(|(_, o)| o == outcome), "{outcome} unreachable");
    }
}

/// A span as the capture layer saw it: name, parent's name, every field recorded on it.
#[derive(Debug, Clone)]
struct SeenSpan {
    id: u64,
    name: &'static str,
    parent: Option<u64>,
    fields: Vec<String>,
}

impl SeenSpan {
    fn field(&self, name: &str) -> Option<&str> {
        let prefix = format!("{name}=");
        self.fields.iter().rev().find_map(|f| f.strip_prefix(&prefix))
    }
}

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<SeenSpan>>>);

use crate::test_fields::FieldText;

impl<S> tracing_subscriber::Layer<S> for Spans
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let parent = ctx.span(id).and_then(|span| span.parent()).map(|parent| parent.id().into_u64());
        let mut fields = Vec::new();
        attrs.record(&mut FieldText(&mut fields));
        let seen = SeenSpan { id: id.into_u64(), name: attrs.metadata().name(), parent, fields };
        self.0.lock().unwrap().push(seen);
    }
    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut spans = self.0.lock().unwrap();
        // Ids are reused once a span closes: the latest span with this id is the live one.
        if let Some(span) = spans.iter_mut().rev().find(|s| s.id == id.into_u64()) {
            values.record(&mut FieldText(&mut span.fields));
        }
    }
}

#[tokio::test]
async fn one_operation_span_per_call_with_its_outcome_and_the_http_spans_under_it() {
    use tracing_subscriber::layer::SubscriberExt;
    let spans = Spans::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
    let server = MockServer::start_async().await;
    platform(&server).await;
    let provider = observe(Arc::new(Tiny::new(&server.base_url())));
    let state = drive(&provider).await;

    let seen = spans.0.lock().unwrap().clone();
    let operations: Vec<&SeenSpan> = seen.iter().filter(|s| s.name == "oauth_link.operation").collect();
    let summary: Vec<(&str, &str)> = operations
        .iter()
        .map(|s| (s.field("oauth_link.operation").unwrap(), s.field("oauth_link.outcome").unwrap_or("(none)")))
        .collect();
    assert_eq!(
        summary,
        [
            ("generate_link", "ok"),
            ("generate_link", "platform"),
            ("complete_callback", "ok"),
            ("complete_callback", "state_refused"),
            ("disconnect", "platform"),
            ("list_targets", "invalid_request"),
        ]
    );
    for span in &operations {
        assert_eq!(span.field("oauth_link.provider"), Some(KIND));
        assert_eq!(span.parent, None, "an operation span is a root here");
        let op = span.field("oauth_link.operation").unwrap();
        assert_eq!(span.field("otel.name"), Some(format!("oauth_link.{op}").as_str()));
        match span.field("oauth_link.outcome") {
            Some("ok") => assert!(span.field("error.type").is_none() && span.field("otel.status_code").is_none()),
            outcome => {
                assert_eq!(span.field("error.type"), outcome, "{span:?}");
                assert_eq!(span.field("otel.status_code"), Some("ERROR"));
            }
        }
    }

    // Each HTTP span is the child of the operation that sent it: one per platform call
    // (the retried 503 stays inside its call's span).
    let http: Vec<(&str, &str)> = seen
        .iter()
        .filter(|s| s.name == "oauth_link.http")
        .map(|s| {
            let parent = operations.iter().find(|o| Some(o.id) == s.parent).expect("an HTTP span outside an operation");
            (parent.field("oauth_link.operation").unwrap(), s.field("oauth_link.operation").unwrap())
        })
        .collect();
    assert_eq!(
        http,
        [
            ("generate_link", "create_link"),
            ("generate_link", "create_link"),
            ("complete_callback", "list_connections"),
            ("disconnect", "delete_connection"),
        ]
    );

    // No id, user, state or key in any field of any span.
    for span in &seen {
        for field in &span.fields {
            for secret in [USER, CONNECTION, API_KEY, state.as_str()] {
                assert!(!field.contains(secret), "{secret} in {field} of {}", span.name);
            }
        }
    }
}

#[tokio::test]
async fn the_wrapper_is_transparent() {
    let server = MockServer::start_async().await;
    platform(&server).await;
    let inner: SharedLinkProvider = Arc::new(Tiny::new(&server.base_url()));
    let provider = observe(inner.clone());
    assert_eq!(provider.kind(), KIND);
    assert_eq!(provider.capabilities(), inner.capabilities());
    assert_eq!(format!("{provider:?}"), format!("Observed({inner:?})"));
    assert!(!format!("{provider:?}").contains(API_KEY));
    // The GET answers 503 once, then the connection: the wrapper returns what the adapter does.
    let listed = provider.list_connections(&ConnectionQuery::user(USER)).await.unwrap();
    assert_eq!(listed, inner.list_connections(&ConnectionQuery::user(USER)).await.unwrap());
    let err = provider.webhook_event(&HeaderMap::new(), b"{}").await.unwrap_err();
    assert!(matches!(err, Error::Unsupported { provider: KIND, .. }), "{err:?}");
}

#[cfg(feature = "testing")]
#[tokio::test]
async fn a_wrapped_provider_passes_the_conformance_suite() {
    use crate::clock::ManualClock;
    use crate::replay::MemoryReplayGuard;
    use crate::state::{StateCodec, StateKeys};
    use crate::testing::{conformance, MemoryProvider};

    struct Wrapped {
        memory: Arc<MemoryProvider>,
        observed: SharedLinkProvider,
        clock: ManualClock,
    }

    #[async_trait]
    impl conformance::Driver for Wrapped {
        fn provider(&self) -> SharedLinkProvider {
            self.observed.clone()
        }
        fn clock(&self) -> &ManualClock {
            &self.clock
        }
        fn request(&self, n: u32) -> LinkRequest {
            LinkRequest::new(format!("user-{n}"), "slack")
        }
        async fn approve(&self, link: &Link, _: &LinkRequest) -> Callback {
            self.memory.approve(link).unwrap()
        }
        async fn deny(&self, link: &Link, _: &LinkRequest) -> Option<Callback> {
            Some(self.memory.deny(link).unwrap())
        }
        async fn fail_next_generate(&self, status: u16) {
            self.memory.fail_next(status);
        }
    }

    let clock = ManualClock::starting_now();
    let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
    let memory = Arc::new(MemoryProvider::new(LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()))));
    let observed = observe(memory.clone());
    conformance::run(&Wrapped { memory, observed, clock }).await;
}

#[cfg(feature = "metrics")]
mod recorded {
    use std::collections::HashMap;
    use std::sync::atomic::AtomicU64;

    use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

    use super::*;

    /// A recorder for one test: counters and histogram samples by `name{label=value,...}`
    /// (labels in the order they were given), and what was described.
    #[derive(Debug, Default)]
    struct TestRecorder {
        counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
        histograms: Mutex<HashMap<String, Arc<Samples>>>,
        described: Mutex<Vec<(String, Option<Unit>)>>,
    }

    #[derive(Debug, Default)]
    struct Samples(Mutex<Vec<f64>>);

    impl metrics::HistogramFn for Samples {
        fn record(&self, value: f64) {
            self.0.lock().unwrap().push(value);
        }
    }

    fn key_text(key: &Key) -> String {
        let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        format!("{}{{{}}}", key.name(), labels.join(","))
    }

    impl TestRecorder {
        fn counters(&self) -> HashMap<String, u64> {
            let counters = self.counters.lock().unwrap();
            counters.iter().map(|(k, v)| (k.clone(), v.load(Ordering::SeqCst))).collect()
        }

        fn samples(&self) -> HashMap<String, Vec<f64>> {
            let histograms = self.histograms.lock().unwrap();
            histograms.iter().map(|(k, v)| (k.clone(), v.0.lock().unwrap().clone())).collect()
        }

        fn describe(&self, key: KeyName, unit: Option<Unit>) {
            self.described.lock().unwrap().push((key.as_str().to_owned(), unit));
        }
    }

    impl Recorder for TestRecorder {
        fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
            self.describe(key, unit);
        }
        fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
            self.describe(key, unit);
        }
        fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
            self.describe(key, unit);
        }
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            Counter::from_arc(self.counters.lock().unwrap().entry(key_text(key)).or_default().clone())
        }
        fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
            panic!("oauth-link records no gauge, got {}", key_text(key))
        }
        fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::from_arc(self.histograms.lock().unwrap().entry(key_text(key)).or_default().clone())
        }
    }

    /// Runs `flow` on a current-thread runtime with `recorder` installed for this thread
    /// only, so tests running in parallel never see each other's metrics.
    fn with_recorder<T>(recorder: &TestRecorder, flow: impl Future<Output = T>) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        metrics::with_local_recorder(recorder, || runtime.block_on(flow))
    }

    #[test]
    fn flows_record_exact_counts_and_labels() {
        let recorder = TestRecorder::default();
        let state = with_recorder(&recorder, async {
            let server = MockServer::start_async().await;
            platform(&server).await;
            let provider = observe(Arc::new(Tiny::new(&server.base_url())));
            drive(&provider).await
        });

        let expected: HashMap<String, u64> = [
            // One link issued; the 400 issued none.
            ("oauth_link_links_issued_total{provider=tiny}", 1),
            ("oauth_link_callbacks_total{provider=tiny,outcome=ok}", 1),
            ("oauth_link_callbacks_total{provider=tiny,outcome=state_refused}", 1),
            ("oauth_link_replay_refusals_total{provider=tiny}", 1),
            // The connection list answered 503 once.
            ("oauth_link_platform_retries_total{provider=tiny,operation=list_connections}", 1),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(recorder.counters(), expected);

        // One sample per HTTP attempt: two links asked, the list sent twice, one delete.
        let samples = recorder.samples();
        let counts: HashMap<&str, usize> = samples.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
        let expected: HashMap<&str, usize> = [
            ("oauth_link_platform_request_duration_seconds{provider=tiny,operation=create_link}", 2),
            ("oauth_link_platform_request_duration_seconds{provider=tiny,operation=list_connections}", 2),
            ("oauth_link_platform_request_duration_seconds{provider=tiny,operation=delete_connection}", 1),
        ]
        .into_iter()
        .collect();
        assert_eq!(counts, expected);
        for value in samples.values().flatten() {
            assert!((0.0..10.0).contains(value) && *value > 0.0, "a loopback attempt in seconds: {value}");
        }

        // Described once, when the provider was built, with units.
        let described = recorder.described.lock().unwrap().clone();
        let expected = [
            (LINKS_ISSUED, Some(Unit::Count)),
            (CALLBACKS, Some(Unit::Count)),
            (PLATFORM_RETRIES, Some(Unit::Count)),
            (PLATFORM_REQUEST_DURATION, Some(Unit::Seconds)),
            (REPLAY_REFUSALS, Some(Unit::Count)),
        ];
        assert_eq!(described, expected.map(|(name, unit)| (name.to_owned(), unit)));

        // No label carries an id, a user, the state or the key.
        for key in recorder.counters().keys().chain(samples.keys()) {
            for secret in [USER, CONNECTION, API_KEY, state.as_str()] {
                assert!(!key.contains(secret), "{secret} in {key}");
            }
        }
    }

    #[test]
    fn pending_and_forged_callbacks_are_counted_by_class() {
        // The mocked platform lists nothing at first (pending), then the user's connection.
        let recorder = TestRecorder::default();
        with_recorder(&recorder, async {
            let server = MockServer::start_async().await;
            server
                .mock_async(|when, then| {
                    when.method(POST).path("/links");
                    then.status(200).json_body(serde_json::json!({"url": "https://tiny.example/consent/xyz"}));
                })
                .await;
            let empty = server
                .mock_async(|when, then| {
                    when.method(GET).path(format!("/users/{USER}/connections"));
                    then.status(200).json_body(serde_json::json!([]));
                })
                .await;
            let provider = observe(Arc::new(Tiny::new(&server.base_url())));
            let link = provider.generate_link(&LinkRequest::new(USER, "slack")).await.unwrap();
            let callback = Callback::from_state(link.state.clone());
            let err = provider.complete_callback(&callback).await.unwrap_err();
            assert!(matches!(err, Error::Pending { .. }), "{err:?}");
            // Pending released the state: once the platform lists it, the same callback completes.
            empty.delete_async().await;
            server
                .mock_async(|when, then| {
                    when.method(GET).path(format!("/users/{USER}/connections"));
                    then.status(200).json_body(serde_json::json!([{ "id": CONNECTION, "target": "slack" }]));
                })
                .await;
            provider.complete_callback(&callback).await.unwrap();
            // A state from another app instance's keys is refused before the guard.
            let foreign = LinkContext::ephemeral().issue_link(KIND, &LinkRequest::new(USER, "slack"), &[]);
            let err = provider.complete_callback(&Callback::from_state(foreign.token)).await.unwrap_err();
            assert!(matches!(err, Error::StateInvalid { .. }), "{err:?}");
        });
        let counters = recorder.counters();
        let count = |key: &str| counters.get(key).copied().unwrap_or(0);
        assert_eq!(count("oauth_link_callbacks_total{provider=tiny,outcome=pending}"), 1);
        assert_eq!(count("oauth_link_callbacks_total{provider=tiny,outcome=ok}"), 1);
        assert_eq!(count("oauth_link_callbacks_total{provider=tiny,outcome=state_refused}"), 1);
        assert_eq!(count("oauth_link_replay_refusals_total{provider=tiny}"), 0, "a forged state is not a replay");
        assert_eq!(count("oauth_link_platform_retries_total{provider=tiny,operation=list_connections}"), 0);
    }
}
