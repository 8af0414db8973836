//! The HTTP seam every adapter goes through.
//!
//! - [`HttpTransport`] is the injectable boundary (a fake in tests, the pooled
//!   [`ReqwestTransport`] by default); no reqwest type appears in its signature.
//! - [`ApiClient`] is what an adapter holds: base URL, default headers (auth marked
//!   sensitive), retry policy, and one shared transport. It builds URLs from path
//!   segments (never by string formatting), retries with backoff and jitter, honours
//!   `Retry-After`, caps response bodies, and records one `tracing` span per call with no
//!   secret in any field (and, with feature `metrics`, each attempt's duration and each
//!   retry: see [`crate::telemetry`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use http::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::Instrument;
use url::Url;

use crate::error::{BoxError, Error, Result, TransportKind};

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default timeout for one whole request (connect, send, read).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on a response body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// The `User-Agent` oauth-link sends.
pub const USER_AGENT: &str = concat!("oauth-link/", env!("CARGO_PKG_VERSION"));

/// One HTTP request as the transport sees it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Absolute URL.
    pub url: Url,
    /// Headers (secret ones are marked sensitive).
    pub headers: HeaderMap,
    /// Body, if any.
    pub body: Option<Bytes>,
}

/// One HTTP response, body fully read.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// Body (at most the configured cap).
    pub body: Bytes,
}

impl HttpResponse {
    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header's value, when present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Retry-After` header, in seconds or as an HTTP date.
    pub fn retry_after(&self) -> Option<Duration> {
        self.header(RETRY_AFTER.as_str()).and_then(parse_retry_after)
    }
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (a past date means 0).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

/// A request that did not produce a response.
#[derive(Debug)]
pub struct TransportFailure {
    /// What kind of failure.
    pub kind: TransportKind,
    /// Description, with no URL.
    pub message: String,
    /// Underlying error.
    pub source: Option<BoxError>,
}

/// Sends HTTP requests. Implement it to route oauth-link through another client or a fake.
#[async_trait]
pub trait HttpTransport: std::fmt::Debug + Send + Sync {
    /// Sends one request and reads at most `max_body` bytes of the response body.
    async fn send(&self, request: HttpRequest, max_body: usize) -> std::result::Result<HttpResponse, TransportFailure>;
}

/// Transport settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self { connect_timeout: DEFAULT_CONNECT_TIMEOUT, request_timeout: DEFAULT_REQUEST_TIMEOUT }
    }
}

impl From<&HttpSettings> for HttpSettings {
    fn from(settings: &HttpSettings) -> Self {
        settings.clone()
    }
}

/// The default transport: one pooled `reqwest` client with rustls, timeouts, no redirects
/// followed (an OAuth client must not follow redirects: SSRF) and oauth-link's user agent.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// Builds the pooled client.
    pub fn new(settings: &HttpSettings) -> Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| Error::config("http", format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { client })
    }

    /// Sends through the app's own `reqwest` client (a proxy, extra TLS roots, its own
    /// pool), reqwest 0.12. The client's own timeouts apply instead of the adapter's
    /// `connect_timeout_ms` / `request_timeout_ms`. Build it with
    /// `.redirect(reqwest::redirect::Policy::none())`: an OAuth client must not follow a
    /// platform's redirects (an answer could send it, with its API key, anywhere).
    ///
    /// Hand it to every adapter with
    /// [`LinkContext::with_transport`](crate::LinkContext::with_transport).
    pub fn from_client(client: reqwest::Client) -> Self {
        Self { client }
    }
}

fn transport_failure(err: reqwest::Error) -> TransportFailure {
    let kind = if err.is_connect() {
        TransportKind::Connect
    } else if err.is_timeout() {
        TransportKind::Timeout
    } else {
        TransportKind::Io
    };
    let err = err.without_url();
    let mut message = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    TransportFailure { kind, message, source: Some(Box::new(err)) }
}

#[async_trait]
impl HttpTransport for ReqwestTransport {
    async fn send(&self, request: HttpRequest, max_body: usize) -> std::result::Result<HttpResponse, TransportFailure> {
        let mut builder = self.client.request(request.method, request.url).headers(request.headers);
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder.send().await.map_err(transport_failure)?;
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        if response.content_length().is_some_and(|len| len > max_body as u64) {
            return Ok(HttpResponse { status, headers, body: body_too_large(max_body) });
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_failure)? {
            if body.len() + chunk.len() > max_body {
                return Ok(HttpResponse { status, headers, body: body_too_large(max_body) });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse { status, headers, body: body.freeze() })
    }
}

/// Marker body for an oversized response: not JSON, so decoding fails with a clear excerpt.
fn body_too_large(max: usize) -> Bytes {
    Bytes::from(format!("[response body larger than {max} bytes, discarded]"))
}

/// How retries are paced and bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (0 disables retries).
    pub max_retries: u32,
    /// Backoff before the first retry; doubles each time.
    pub initial_backoff: Duration,
    /// Longest backoff between two attempts.
    pub max_backoff: Duration,
    /// No retry starts once this much time has passed since the first attempt; a
    /// `Retry-After` that would overrun it ends the call with the last answer.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_elapsed: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self { max_retries: 0, ..Self::default() }
    }

    /// The jittered backoff before retry number `retry` (0-based): a random value between
    /// half and all of `min(max_backoff, initial_backoff * 2^retry)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let base = self.initial_backoff.saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX));
        let capped = base.min(self.max_backoff);
        let half = capped / 2;
        half + capped.saturating_sub(half).mul_f64(rand::random::<f64>())
    }
}

/// Whether a request may be sent again (not to be confused with the
/// [`ReplayGuard`](crate::ReplayGuard), which makes a link state single-use). Each adapter
/// call says which, with the reason beside it.
///
/// A call that may be repeated is retried on the statuses of
/// [`is_retryable_status`](crate::adapter::is_retryable_status), on any transport failure, and on a
/// 2xx answer whose body is not complete JSON (truncated or garbled on the way). A
/// [`Idempotency::Keyed`] call is also retried on 409, which platforms answer while a request
/// with the same key is still in progress. A [`Idempotency::SendOnce`] call is sent again only
/// when the connection could not even be opened: then it never left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// Safe to repeat: reads, deletes, upserts, and POSTs whose repetition is harmless
    /// (one that mints a fresh platform link: an unused link simply expires).
    Idempotent,
    /// A POST carrying an idempotency key the platform honours: safe to repeat.
    Keyed,
    /// Sent once: never repeated once it may have reached the server (a single-use code
    /// exchange, a create that would duplicate).
    SendOnce,
}

/// One logical call: operation name and path template for traces, the request, and
/// whether it may be repeated. Built by [`ApiClient::call`], then refined with
/// [`Call::query`], [`Call::json`], [`Call::header`] and [`Call::idempotency`].
#[derive(Debug)]
pub struct Call {
    /// Operation name for traces (`generate_link`, `list_credentials`...).
    pub operation: &'static str,
    /// Path template for traces, without ids (`/users/{userId}/credentials`).
    pub path_template: &'static str,
    /// The request.
    pub request: HttpRequest,
    /// Whether it may be repeated.
    pub idempotency: Idempotency,
}

impl Call {
    /// Appends `pairs` to the query, form-encoded.
    pub fn query<'q>(mut self, pairs: impl IntoIterator<Item = (&'q str, &'q str)>) -> Self {
        let mut pairs = pairs.into_iter().peekable();
        if pairs.peek().is_some() {
            self.request.url.query_pairs_mut().extend_pairs(pairs);
        }
        self
    }

    /// Sends `body` as JSON.
    pub fn json<B: serde::Serialize + ?Sized>(mut self, body: &B) -> Self {
        let bytes = serde_json::to_vec(body).expect("request bodies always serialize");
        self.request.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        self.request.body = Some(Bytes::from(bytes));
        self
    }

    /// Sets a header. Mark a secret value sensitive ([`secret_header`]): the client then
    /// scrubs it from every error this call produces.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.request.headers.insert(name, value);
        self
    }

    /// Says whether the call may be repeated. The default follows the method: GET, HEAD,
    /// PUT, DELETE and OPTIONS are [`Idempotency::Idempotent`], POST and PATCH
    /// [`Idempotency::SendOnce`]. Say why beside any other choice.
    pub fn idempotency(mut self, idempotency: Idempotency) -> Self {
        self.idempotency = idempotency;
        self
    }

    /// The request as it will be sent.
    pub fn request(&self) -> &HttpRequest {
        &self.request
    }
}

/// Reads a platform's error answer (any status but 2xx) into the core error. Each adapter
/// gives its [`ApiClient`] one ([`ApiClient::with_errors`]); the client scrubs its secrets
/// from whatever the mapper returns, so a mapper need not.
pub type ErrorMapper = fn(provider: &'static str, response: &HttpResponse) -> Error;

/// The mapper of a client given none: the status class ([`status_error`]) with an excerpt
/// of the body as the message.
pub fn default_error(provider: &'static str, response: &HttpResponse) -> Error {
    let message = if response.body.iter().all(u8::is_ascii_whitespace) {
        format!("empty body (HTTP {})", response.status)
    } else {
        crate::error::excerpt(&response.body)
    };
    status_error(provider, response, ErrorBody { message, code: None })
}

/// The values of the sensitive headers a call sent (auth headers, link tokens), each also
/// without its scheme (`Bearer <key>` gives `<key>` too): what the client scrubs from the
/// errors of that call.
#[derive(Clone, Default)]
struct SentSecrets(Vec<SecretString>);

impl SentSecrets {
    /// The sensitive values among `headers`.
    fn of(headers: &HeaderMap) -> Self {
        let mut secrets = Self::default();
        for text in headers.values().filter(|v| v.is_sensitive()).filter_map(|v| v.to_str().ok()) {
            secrets.add(text);
        }
        secrets
    }

    /// Adds a secret, and its last word (`Bearer <key>` gives `<key>` too), keeping the
    /// longest first so a value containing another is replaced whole.
    fn add(&mut self, text: &str) {
        if let Some((_, token)) = text.rsplit_once(' ') {
            self.0.push(SecretString::from(token.to_owned()));
        }
        self.0.push(SecretString::from(text.to_owned()));
        self.0.sort_by_key(|s| std::cmp::Reverse(s.expose_secret().len()));
    }

    fn scrub(&self, error: Error) -> Error {
        let secrets: Vec<&str> = self.0.iter().map(|s| s.expose_secret()).collect();
        error.scrubbed(&secrets)
    }
}

impl std::fmt::Debug for SentSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} secrets", self.0.len())
    }
}

/// A platform's answer to one call. Every error made from it ([`Reply::json`],
/// [`Reply::error`], [`Reply::decode_error`], [`Reply::scrub`]) has the call's secrets
/// removed, and `Debug` shows no body (a platform may echo what it was sent).
pub struct Reply {
    response: HttpResponse,
    provider: &'static str,
    errors: ErrorMapper,
    secrets: Arc<SentSecrets>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("provider", &self.provider)
            .field("status", &self.response.status)
            .field("body_len", &self.response.body.len())
            .finish_non_exhaustive()
    }
}

impl Reply {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.response.status
    }

    /// True for 2xx.
    pub fn is_success(&self) -> bool {
        self.response.is_success()
    }

    /// The response (status, headers, body).
    pub fn response(&self) -> &HttpResponse {
        &self.response
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.response.body
    }

    /// Decodes the JSON body (`T` may borrow from it, e.g. `&RawValue` records), or fails
    /// with [`Error::Decode`] saying `what` was expected, with a scrubbed excerpt.
    pub fn json<'a, T: Deserialize<'a>>(&'a self, what: &str) -> Result<T> {
        serde_json::from_slice(&self.response.body).map_err(|e| self.decode_error(what, e))
    }

    /// An [`Error::Decode`] for a body that parsed but is not what was expected: `what`
    /// was, and `reason` says why this is not it.
    pub fn decode_error(&self, what: &str, reason: impl std::fmt::Display) -> Error {
        let error = Error::Decode {
            provider: self.provider,
            message: format!("expected {what} (HTTP {}): {reason}", self.response.status),
            body: crate::error::excerpt(&self.response.body),
        };
        self.secrets.scrub(error)
    }

    /// The client's [`ErrorMapper`] applied to this answer, scrubbed.
    pub fn error(&self) -> Error {
        self.secrets.scrub((self.errors)(self.provider, &self.response))
    }

    /// `error` (one the adapter made from this answer) with the call's secrets removed.
    pub fn scrub(&self, error: Error) -> Error {
        self.secrets.scrub(error)
    }
}

/// What an adapter holds to talk to its platform.
#[derive(Debug, Clone)]
pub struct ApiClient {
    provider: &'static str,
    base_url: Url,
    headers: HeaderMap,
    transport: Arc<dyn HttpTransport>,
    retry: RetryPolicy,
    max_body: usize,
    errors: ErrorMapper,
    /// What every call's errors lose: the sensitive values of `headers`, and the secrets
    /// given to [`ApiClient::with_secret`]. Worked out once, not per call.
    secrets: Arc<SentSecrets>,
}

impl ApiClient {
    /// A client for `provider` at `base_url` sending `headers` on every request.
    ///
    /// Mark secret header values sensitive (see [`secret_header`]).
    pub fn new(
        provider: &'static str,
        base_url: Url,
        headers: HeaderMap,
        transport: Arc<dyn HttpTransport>,
        retry: RetryPolicy,
    ) -> Self {
        let mut headers = headers;
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
        let secrets = Arc::new(SentSecrets::of(&headers));
        Self {
            provider,
            base_url,
            headers,
            transport,
            retry,
            max_body: DEFAULT_MAX_BODY_BYTES,
            errors: default_error,
            secrets,
        }
    }

    /// Sets how the platform's error answers become core errors (one mapper per client).
    pub fn with_errors(mut self, errors: ErrorMapper) -> Self {
        self.errors = errors;
        self
    }

    /// Also scrubs `secret` from every error, though this client never sends it: a key
    /// another client of the adapter sends, which a misrouted answer could echo.
    pub fn with_secret(mut self, secret: &str) -> Self {
        Arc::make_mut(&mut self.secrets).add(secret);
        self
    }

    /// Sets the response body cap.
    pub fn with_max_body(mut self, max_body: usize) -> Self {
        self.max_body = max_body;
        self
    }

    /// Provider kind.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// A call to `template` (`/users/{userId}/credentials`, written once: it is also what
    /// traces show), each `{…}` segment filled with the next of `args` as one
    /// percent-encoded path segment, so an id holding `/` or `?` cannot change the path; a
    /// `.` or `..` id is sent escaped, so it can only ever miss. The request carries the
    /// client's headers; its [`Idempotency`] follows the method until [`Call::idempotency`]
    /// says otherwise.
    pub fn call(&self, method: Method, operation: &'static str, template: &'static str, args: &[&str]) -> Call {
        let idempotency = match method {
            Method::POST | Method::PATCH => Idempotency::SendOnce,
            _ => Idempotency::Idempotent,
        };
        let request =
            HttpRequest { method, url: self.url_for(template, args), headers: self.headers.clone(), body: None };
        Call { operation, path_template: template, request, idempotency }
    }

    /// The base URL with `template`'s segments appended, `{…}` ones filled from `args` in
    /// order (see [`ApiClient::call`]).
    pub fn url_for(&self, template: &str, args: &[&str]) -> Url {
        let mut args = args.iter();
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for part in template.split('/').filter(|part| !part.is_empty()) {
                let segment = if part.starts_with('{') && part.ends_with('}') {
                    args.next().copied().unwrap_or_default()
                } else {
                    part
                };
                match segment {
                    "." | ".." => path.push(&segment.replace('.', "%2E")),
                    other => path.push(other),
                };
            }
        }
        debug_assert!(args.next().is_none(), "more arguments than placeholders in {template}");
        url
    }

    /// Sends a call and returns its 2xx answer, or the client's mapped error for any other
    /// status; retries as the call's [`Idempotency`] allows. Errors carry none of the
    /// secrets the call sent.
    pub async fn send(&self, call: Call) -> Result<Reply> {
        let reply = self.exchange(call).await?;
        if reply.is_success() {
            Ok(reply)
        } else {
            Err(reply.error())
        }
    }

    /// [`ApiClient::send`], then the body decoded as `T` (`what` names it in errors).
    pub async fn json<T: serde::de::DeserializeOwned>(&self, call: Call, what: &str) -> Result<T> {
        self.send(call).await?.json(what)
    }

    /// Sends a call and returns its answer whatever the status, for the calls where a
    /// status has a meaning of its own (a 404 that means "none yet"); [`Reply::error`]
    /// maps the others. Fails only with [`Error::Transport`].
    pub async fn exchange(&self, call: Call) -> Result<Reply> {
        let mut secrets = Arc::clone(&self.secrets);
        for (name, value) in &call.request.headers {
            // A sensitive header of the call's own (a link token): its errors lose it too.
            if value.is_sensitive() && self.headers.get(name) != Some(value) {
                if let Ok(text) = value.to_str() {
                    Arc::make_mut(&mut secrets).add(text);
                }
            }
        }
        let response = self.execute(call).await.map_err(|e| secrets.scrub(e))?;
        Ok(Reply { response, provider: self.provider, errors: self.errors, secrets })
    }

    /// Sends a call, retrying transient failures as its [`Idempotency`] allows, and returns the
    /// last response whatever its status. Fails only with [`Error::Transport`].
    ///
    /// Boxed, as `async_trait` methods are: an adapter's future then holds a pointer to the
    /// retry loop, not the loop itself, which it would copy at every move (measured in
    /// docs/benchmarks.md).
    fn execute(&self, call: Call) -> Pin<Box<dyn Future<Output = Result<HttpResponse>> + Send + '_>> {
        // OpenTelemetry's HTTP client span names; the path is the template, never the ids.
        let url = &call.request.url;
        let span = tracing::info_span!(
            "oauth_link.http",
            oauth_link.provider = self.provider,
            oauth_link.operation = call.operation,
            http.request.method = %call.request.method,
            url.template = call.path_template,
            server.address = url.host_str().unwrap_or_default(),
            server.port = url.port_or_known_default(),
            http.response.status_code = tracing::field::Empty,
            http.request.resend_count = tracing::field::Empty,
            oauth_link.latency_ms = tracing::field::Empty,
        );
        Box::pin(self.send_with_retries(call).instrument(span))
    }

    async fn send_with_retries(&self, call: Call) -> Result<HttpResponse> {
        let Call { operation, path_template, mut request, idempotency } = call;
        // A call from `ApiClient::call` has the client's headers already; one built by hand
        // gets those it does not set itself.
        for (name, value) in &self.headers {
            if !request.headers.contains_key(name) {
                request.headers.insert(name.clone(), value.clone());
            }
        }
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent_at = Instant::now();
            let outcome = self.transport.send(request.clone(), self.max_body).await;
            let latency = sent_at.elapsed();
            self.observe(&outcome, attempt, latency);
            crate::telemetry::platform_latency(self.provider, operation, latency);
            let Some(wait) = self.retry_wait(&outcome, idempotency, attempt, started) else {
                return self.finish(outcome, operation, path_template);
            };
            tracing::debug!(wait_ms = wait.as_millis() as u64, attempt, "retrying");
            crate::telemetry::platform_retry(self.provider, operation);
            tokio::time::sleep(wait).await;
        }
    }

    /// Records one attempt on the call's span and in the debug log.
    fn observe(&self, outcome: &std::result::Result<HttpResponse, TransportFailure>, attempt: u32, latency: Duration) {
        let span = tracing::Span::current();
        if attempt > 1 {
            span.record("http.request.resend_count", attempt - 1);
        }
        span.record("oauth_link.latency_ms", latency.as_millis() as u64);
        match outcome {
            Ok(response) => {
                span.record("http.response.status_code", response.status);
                tracing::debug!(status = response.status, attempt, latency_ms = latency.as_millis() as u64, "response");
            }
            Err(failure) => tracing::debug!(kind = %failure.kind, attempt, "transport failure"),
        }
    }

    /// How long to wait before the next attempt, or `None` when this outcome ends the call:
    /// the last attempt the policy allows, an answer that is not retried (see [`Idempotency`]), or
    /// a wait that would overrun the retry budget.
    fn retry_wait(
        &self,
        outcome: &std::result::Result<HttpResponse, TransportFailure>,
        idempotency: Idempotency,
        attempt: u32,
        started: Instant,
    ) -> Option<Duration> {
        if attempt > self.retry.max_retries {
            return None;
        }
        let retry_after = match (outcome, idempotency) {
            (Err(failure), Idempotency::SendOnce) if failure.kind != TransportKind::Connect => return None,
            (Err(_), _) => None,
            (Ok(_), Idempotency::SendOnce) => return None,
            (Ok(response), _) if response.is_success() => {
                if is_complete_json(&response.body) {
                    return None;
                }
                tracing::debug!(status = response.status, "2xx body is not complete JSON");
                None
            }
            (Ok(response), Idempotency::Keyed) if response.status == 409 => response.retry_after(),
            (Ok(response), _) if !crate::error::is_retryable_status(response.status) => return None,
            (Ok(response), _) => response.retry_after(),
        };
        let wait = retry_after.unwrap_or_else(|| self.retry.backoff(attempt - 1));
        if started.elapsed() + wait > self.retry.max_elapsed {
            tracing::debug!(wait_ms = wait.as_millis() as u64, "retry budget exhausted");
            return None;
        }
        Some(wait)
    }

    /// The call's result: the last answer whatever its status, or the last transport failure.
    fn finish(
        &self,
        outcome: std::result::Result<HttpResponse, TransportFailure>,
        operation: &'static str,
        path_template: &'static str,
    ) -> Result<HttpResponse> {
        outcome.map_err(|failure| Error::Transport {
            provider: self.provider,
            kind: failure.kind,
            message: format!("{operation} {path_template}: {}", failure.message),
            source: failure.source,
        })
    }
}

/// True for an empty body (204, a bare 200) or one complete JSON document: a 2xx body
/// that fails this was cut short or garbled on the way.
fn is_complete_json(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace) || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// A header value marked sensitive (hidden from `Debug` and HTTP/2 compression tables).
pub fn secret_header(value: &str) -> Result<HeaderValue> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| Error::config("api_key", "the API key contains characters not allowed in an HTTP header"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// A header name from a static string.
pub fn header_name(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

/// What an adapter extracted from an error response, for [`status_error`].
#[derive(Debug, Clone, Default)]
pub struct ErrorBody {
    /// The platform's message (already scrubbed).
    pub message: String,
    /// The platform's error code, when it has one.
    pub code: Option<String>,
}

/// Maps an error status to the core variant: 401 Unauthenticated, 403 Forbidden, 404
/// NotFound, 409 Conflict, 429 RateLimited (with `Retry-After`), anything else Provider.
pub fn status_error(provider: &'static str, response: &HttpResponse, body: ErrorBody) -> Error {
    let ErrorBody { message, code } = body;
    match response.status {
        401 => Error::Unauthenticated { provider, message },
        403 => Error::Forbidden { provider, message },
        404 => Error::NotFound { provider, message },
        409 => Error::Conflict { provider, message },
        429 => Error::RateLimited { provider, retry_after: response.retry_after(), message },
        status => Error::Provider { provider, status, code, message },
    }
}

/// A fresh random idempotency key (32 hex characters).
pub fn new_idempotency_key() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests;
