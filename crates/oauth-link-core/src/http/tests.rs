use std::collections::VecDeque;
use std::sync::Mutex;

use super::*;

/// One scripted answer: a status with headers, or a transport failure.
type Answer = std::result::Result<(u16, Vec<(&'static str, String)>), TransportKind>;
type Check = fn(&Error) -> bool;

/// A transport that answers from a script and counts calls.
#[derive(Debug, Default)]
struct Scripted {
    answers: Mutex<VecDeque<Answer>>,
    calls: Mutex<Vec<HttpRequest>>,
}

impl Scripted {
    fn new(answers: Vec<Answer>) -> Arc<Self> {
        Arc::new(Self { answers: Mutex::new(answers.into()), calls: Mutex::default() })
    }

    fn calls(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

#[async_trait]
impl HttpTransport for Scripted {
    async fn send(&self, request: HttpRequest, _max: usize) -> std::result::Result<HttpResponse, TransportFailure> {
        self.calls.lock().unwrap().push(request);
        match self.answers.lock().unwrap().pop_front().expect("script ran out") {
            Ok((status, headers)) => {
                let mut map = HeaderMap::new();
                let mut body = Bytes::from_static(b"{}");
                for (k, v) in headers {
                    // A scripted body travels as the pseudo-header `body`.
                    if k == "body" {
                        body = Bytes::from(v);
                    } else {
                        map.insert(k, HeaderValue::from_str(&v).unwrap());
                    }
                }
                Ok(HttpResponse { status, headers: map, body })
            }
            Err(kind) => Err(TransportFailure { kind, message: "scripted".into(), source: None }),
        }
    }
}

fn client(transport: Arc<Scripted>) -> ApiClient {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", secret_header("ApiKey sk_test_secret").unwrap());
    ApiClient::new("novu", Url::parse("http://127.0.0.1:1/novu").unwrap(), headers, transport, RetryPolicy::default())
}

fn get(c: &ApiClient) -> Call {
    c.call(Method::GET, "op", "/x", &[])
}

fn post(c: &ApiClient, idempotency: Idempotency) -> Call {
    c.call(Method::POST, "op", "/x", &[]).json(&serde_json::json!({"a": 1})).idempotency(idempotency)
}

/// `segments`, each as one `{…}` placeholder filled with itself.
fn url(c: &ApiClient, segments: &[&str]) -> Url {
    let template = vec!["{s}"; segments.len()].join("/");
    c.url_for(&template, segments)
}

fn status(code: u16) -> Answer {
    Ok((code, vec![]))
}

#[tokio::test(start_paused = true)]
async fn get_is_retried_on_503_then_succeeds() {
    let t = Scripted::new(vec![status(503), status(502), status(200)]);
    let c = client(t.clone());
    let r = c.exchange(get(&c)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(t.calls(), 3);
    let sent = &t.calls.lock().unwrap()[0];
    assert_eq!(sent.headers["authorization"], "ApiKey sk_test_secret");
    assert_eq!(sent.headers["accept"], "application/json");
}

#[tokio::test(start_paused = true)]
async fn retries_stop_after_max_retries_with_the_last_answer() {
    let t = Scripted::new(vec![status(503); 4]);
    let c = client(t.clone());
    assert_eq!(c.exchange(get(&c)).await.unwrap().status(), 503);
    assert_eq!(t.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_never_call_is_repeated_only_when_it_never_left() {
    for failure in
        [status(503), status(500), status(429), status(409), Err(TransportKind::Timeout), Err(TransportKind::Io)]
    {
        let t = Scripted::new(vec![failure, status(200)]);
        let c = client(t.clone());
        let _ = c.exchange(post(&c, Idempotency::SendOnce)).await;
        assert_eq!(t.calls(), 1);
    }
    let garbled = Scripted::new(vec![Ok((200, vec![("body", "{\"url\":\"htt".into())])), status(200)]);
    let c = client(garbled.clone());
    assert_eq!(c.exchange(post(&c, Idempotency::SendOnce)).await.unwrap().body(), b"{\"url\":\"htt");
    assert_eq!(garbled.calls(), 1, "a single-use call's answer is never thrown away");
    // A refused connection: the request never reached the platform.
    let t = Scripted::new(vec![Err(TransportKind::Connect), status(200)]);
    let c = client(t.clone());
    assert_eq!(c.exchange(post(&c, Idempotency::SendOnce)).await.unwrap().status(), 200);
    assert_eq!(t.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn every_5xx_that_may_pass_is_retried() {
    for code in [500, 502, 503, 504, 507, 520, 599] {
        let t = Scripted::new(vec![status(code), status(200)]);
        let c = client(t.clone());
        assert_eq!(c.exchange(get(&c)).await.unwrap().status(), 200, "{code}");
        assert_eq!(t.calls(), 2, "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_2xx_body_that_is_not_complete_json_is_fetched_again() {
    for body in ["{\"providers\": [", "<html>proxy</html>", "{\"a\":1}{"] {
        let t = Scripted::new(vec![Ok((200, vec![("body", body.into())])), status(200)]);
        let c = client(t.clone());
        assert_eq!(c.exchange(get(&c)).await.unwrap().body(), b"{}", "{body}");
        assert_eq!(t.calls(), 2, "{body}");
    }
    // Empty and complete bodies end the call.
    for body in ["", " \n", "[]", "{\"data\": {\"url\": \"x\"}}"] {
        let t = Scripted::new(vec![Ok((200, vec![("body", body.into())]))]);
        let c = client(t.clone());
        assert_eq!(c.exchange(get(&c)).await.unwrap().body(), body.as_bytes());
        assert_eq!(t.calls(), 1, "{body:?}");
    }
    // Still garbled when the budget is spent: the last answer comes back for the adapter's
    // decode error.
    let t = Scripted::new(vec![Ok((200, vec![("body", "{".into())])); 4]);
    let c = client(t.clone());
    assert_eq!(c.exchange(get(&c)).await.unwrap().body(), b"{");
    assert_eq!(t.calls(), 4);
}

#[tokio::test(start_paused = true)]
async fn conflict_is_retried_only_for_keyed_calls() {
    let in_progress = || Ok((409, vec![("retry-after", "1".into())]));
    let t = Scripted::new(vec![in_progress(), status(201)]);
    let c = client(t.clone());
    let start = tokio::time::Instant::now();
    assert_eq!(c.exchange(post(&c, Idempotency::Keyed)).await.unwrap().status(), 201);
    assert_eq!(t.calls(), 2);
    assert!(start.elapsed() >= Duration::from_secs(1), "Retry-After is honoured");
    for idempotency in [Idempotency::Idempotent, Idempotency::SendOnce] {
        let t = Scripted::new(vec![in_progress(), status(201)]);
        let c = client(t.clone());
        assert_eq!(c.exchange(post(&c, idempotency)).await.unwrap().status(), 409);
        assert_eq!(t.calls(), 1, "{idempotency:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn keyed_post_is_retried_and_keeps_its_body() {
    let t = Scripted::new(vec![status(503), status(201)]);
    let c = client(t.clone());
    assert_eq!(c.exchange(post(&c, Idempotency::Keyed)).await.unwrap().status(), 201);
    let calls = t.calls.lock().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].body, calls[1].body);
    assert_eq!(calls[1].headers["content-type"], "application/json");
}

#[tokio::test(start_paused = true)]
async fn non_retried_statuses_return_at_once() {
    for code in [400, 401, 403, 404, 409, 422, 501, 505] {
        let t = Scripted::new(vec![status(code)]);
        let c = client(t.clone());
        assert_eq!(c.exchange(get(&c)).await.unwrap().status(), code);
        assert_eq!(t.calls(), 1, "{code}");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_seconds_is_honoured() {
    let t = Scripted::new(vec![Ok((429, vec![("retry-after", "3".into())])), status(200)]);
    let c = client(t.clone());
    let start = tokio::time::Instant::now();
    assert_eq!(c.exchange(get(&c)).await.unwrap().status(), 200);
    assert!(start.elapsed() >= Duration::from_secs(3), "{:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn retry_after_http_date_is_honoured() {
    let when = std::time::SystemTime::now() + Duration::from_secs(5);
    let t = Scripted::new(vec![Ok((503, vec![("retry-after", httpdate::fmt_http_date(when))])), status(200)]);
    let c = client(t.clone());
    let start = tokio::time::Instant::now();
    assert_eq!(c.exchange(get(&c)).await.unwrap().status(), 200);
    assert!(start.elapsed() >= Duration::from_secs(3), "{:?}", start.elapsed());
}

#[tokio::test(start_paused = true)]
async fn retry_after_beyond_the_budget_returns_the_429() {
    let t = Scripted::new(vec![Ok((429, vec![("retry-after", "120".into())])), status(200)]);
    let c = client(t.clone());
    let r = c.exchange(get(&c)).await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.response().retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(t.calls(), 1);
    let err = r.error();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(120)));
}

#[tokio::test(start_paused = true)]
async fn max_elapsed_bounds_the_whole_call() {
    let t = Scripted::new(vec![Ok((503, vec![("retry-after", "20".into())])); 5]);
    let mut c = client(t.clone());
    c.retry.max_retries = 10;
    let start = tokio::time::Instant::now();
    assert_eq!(c.exchange(get(&c)).await.unwrap().status(), 503);
    assert_eq!(t.calls(), 2, "20s + 20s would pass the 30s budget");
    assert!(start.elapsed() <= Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn connect_errors_are_retried_then_typed() {
    let t = Scripted::new(vec![Err(TransportKind::Connect), status(200)]);
    let c = client(t.clone());
    assert_eq!(c.exchange(get(&c)).await.unwrap().status(), 200);

    let t = Scripted::new(vec![Err(TransportKind::Timeout); 4]);
    let c = client(t.clone());
    let err = c.exchange(get(&c)).await.unwrap_err();
    assert!(matches!(err, Error::Transport { kind: TransportKind::Timeout, .. }), "{err}");
    assert!(err.is_retryable());
    assert_eq!(t.calls(), 4);
}

#[test]
fn backoff_grows_is_jittered_and_capped() {
    let policy = RetryPolicy::default();
    for _ in 0..100 {
        let first = policy.backoff(0);
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200), "{first:?}");
        let third = policy.backoff(2);
        assert!(third >= Duration::from_millis(400) && third <= Duration::from_millis(800), "{third:?}");
        assert!(policy.backoff(40) <= policy.max_backoff);
    }
}

#[test]
fn retry_after_parsing() {
    assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
    assert_eq!(parse_retry_after("soon"), None);
    assert_eq!(parse_retry_after("-1"), None);
}

#[test]
fn url_segments_are_encoded() {
    let c = client(Scripted::new(vec![]));
    assert_eq!(
        url(&c, &["users", "a/b?c", "credentials"]).as_str(),
        "http://127.0.0.1:1/novu/users/a%2Fb%3Fc/credentials"
    );
    // Dot segments never climb: they stay in place, escaped.
    assert_eq!(url(&c, &["v2", "user", "u1", ".."]).as_str(), "http://127.0.0.1:1/novu/v2/user/u1/%252E%252E");
    assert_eq!(url(&c, &["v2", ".", "x"]).as_str(), "http://127.0.0.1:1/novu/v2/%252E/x");
    assert_eq!(url(&client_at("https://api.example.com/"), &["v1", "x"]).as_str(), "https://api.example.com/v1/x");
}

/// A client at `base` that sends nothing.
fn client_at(base: &str) -> ApiClient {
    ApiClient::new("x", Url::parse(base).unwrap(), HeaderMap::new(), Scripted::new(vec![]), RetryPolicy::none())
}

/// A path segment percent-decoded (UTF-8 text in these tests).
fn percent_decoded(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], segment.get(i + 1..i + 3).and_then(|hex| u8::from_str_radix(hex, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn each_segment_stays_one_segment() {
    let tricky = [
        ".",
        "..",
        "...",
        ".%2E",
        "%2e",
        "%2e%2e",
        "%",
        "%%",
        "a%2Fb",
        "a/b",
        "a\\b",
        "/",
        "\\",
        "?x",
        "#f",
        "a b",
        "a\tb",
        "a\nb",
        "é",
        "日本",
        "{x}",
        "`",
        "\"",
        "<>",
        "^|[]",
        "a;b=c",
        "@:",
        "~-_.!*'()",
        "\u{7f}",
        "\u{1}",
        "x?y#z/w",
        "%zz",
        "plain-id_123",
        "user@example.com",
    ];
    for base in [
        "http://127.0.0.1:1/novu/",
        "http://127.0.0.1:1/novu",
        "https://api.example.com/",
        "https://API.Example.com:443",
        "https://api.example.com/a//",
        "https://api.example.com/v1/x?keep=1",
        "http://[::1]:8080/p",
    ] {
        let c = client_at(base);
        let base_segments = url(&c, &["z"]).path_segments().unwrap().count() - 1;
        for a in tricky {
            for segments in [vec![a], vec!["users", a, "credentials"], vec![a, a]] {
                let url = url(&c, &segments);
                let context = format!("base {base:?}, segments {segments:?}: {url}");
                // What the server parses is what was built: nothing normalised away.
                assert_eq!(Url::parse(url.as_str()).unwrap(), url, "{context}");
                assert_eq!(url.query(), c.base_url().query(), "{context}");
                assert_eq!(url.fragment(), None, "{context}");
                let sent: Vec<&str> = url.path_segments().unwrap().collect();
                let sent = &sent[sent.len() - segments.len()..];
                assert_eq!(url.path_segments().unwrap().count(), base_segments + segments.len(), "{context}");
                for (sent, given) in sent.iter().zip(&segments) {
                    // Dot segments are escaped once more; tabs and newlines are dropped.
                    let expected = match *given {
                        "." | ".." => given.replace('.', "%2E"),
                        other => other.replace(['\t', '\n'], ""),
                    };
                    assert_eq!(percent_decoded(sent), expected, "{context}");
                }
            }
        }
        assert!(url(&c, &["users", "", "x"]).path().ends_with("/users//x"));
    }
}

#[test]
fn query_pairs_are_appended_form_encoded() {
    let values = ["", "plain", "a b", "a+b", "a&b=c", "é日本", "%2F", "x?y#z", "\u{1}\t", "~-_.*'()!", "v1.abc-_.def"];
    for base in ["http://127.0.0.1:1/novu/", "https://api.example.com", "https://api.example.com/v1/x?keep=1"] {
        let c = client_at(base);
        for value in values {
            let query = [("subscriberId", value), (value, "limit"), ("limit", "100")];
            let call = c.call(Method::GET, "op", "/v1/{value}", &[value]).query(query);
            let url = call.request().url.clone();
            assert_eq!(url.path(), self::url(&c, &["v1", value]).path(), "base {base:?}, {value:?}");
            let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
            let mut expected: Vec<(String, String)> =
                c.base_url().query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
            expected.extend(query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
            assert_eq!(pairs, expected, "base {base:?}, {value:?}");
        }
    }
    let c = client_at("http://127.0.0.1:1/novu");
    assert_eq!(
        c.call(Method::GET, "op", "/v1/subscribers", &[])
            .query([("q", "a b&c"), ("limit", "10")])
            .request()
            .url
            .as_str(),
        "http://127.0.0.1:1/novu/v1/subscribers?q=a+b%26c&limit=10"
    );
    assert_eq!(
        c.call(Method::GET, "op", "/v1", &[]).query([]).request().url.as_str(),
        "http://127.0.0.1:1/novu/v1",
        "no pairs, no `?`"
    );
}

#[test]
fn status_mapping_table() {
    let cases: [(u16, Check); 7] = [
        (401, |e| matches!(e, Error::Unauthenticated { .. })),
        (403, |e| matches!(e, Error::Forbidden { .. })),
        (404, |e| matches!(e, Error::NotFound { .. })),
        (409, |e| matches!(e, Error::Conflict { .. })),
        (429, |e| matches!(e, Error::RateLimited { .. })),
        (422, |e| matches!(e, Error::Provider { status: 422, .. })),
        (503, |e| matches!(e, Error::Provider { status: 503, .. }) && e.is_retryable()),
    ];
    for (code, check) in cases {
        let r = HttpResponse { status: code, headers: HeaderMap::new(), body: Bytes::new() };
        let e = status_error("novu", &r, ErrorBody { message: "m".into(), code: None });
        assert!(check(&e), "{code}: {e:?}");
        assert_eq!(e.provider(), Some("novu"));
    }
}

#[test]
fn debug_of_client_hides_the_key() {
    let printed = format!("{:?}", client(Scripted::new(vec![])));
    assert!(!printed.contains("sk_test_secret"), "{printed}");
}

#[tokio::test]
async fn decode_errors_keep_a_scrubbed_excerpt() {
    let body = "{\"echo\":\"ApiKey sk_test_secret\",\"key\":\"sk_test_secret\"";
    let c = client(Scripted::new(vec![Ok((200, vec![("body", body.into())])), Ok((200, vec![("body", body.into())]))]));
    let c = ApiClient { retry: RetryPolicy::none(), ..c };
    let err = c.json::<serde_json::Value>(get(&c), "a JSON object").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Decode { .. }) && text.contains("expected a JSON object"), "{text}");
    assert!(text.contains("[redacted]") && !text.contains("sk_test_secret"), "{text}");
    let reply = c.send(get(&c)).await.unwrap();
    let text = reply.decode_error("a link", "no `url`").to_string();
    assert!(text.contains("expected a link (HTTP 200): no `url`") && !text.contains("sk_test_secret"), "{text}");
}

/// An error mapper that echoes the body as the platform's message, as careless platforms do.
fn echo(provider: &'static str, response: &HttpResponse) -> Error {
    let message = String::from_utf8_lossy(&response.body).into_owned();
    status_error(provider, response, ErrorBody { message: message.clone(), code: Some(message) })
}

#[tokio::test]
async fn errors_are_mapped_once_and_carry_no_secret_the_call_sent() {
    let echoed = "Bearer lt_link_token_1 and ApiKey sk_test_secret and sk_test_secret";
    let t = Scripted::new(vec![
        Ok((401, vec![("body", echoed.into())])),
        Ok((404, vec![("body", echoed.into())])),
        Ok((400, vec![("body", "{\"message\":\"bad\"}".into())])),
    ]);
    let c = client(t.clone()).with_errors(echo);
    let token = secret_header("Bearer lt_link_token_1").unwrap();
    let call = get(&c).header(HeaderName::from_static("x-link-token"), token);
    let err = c.send(call).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(matches!(err, Error::Unauthenticated { .. }), "{text}");
    assert!(!text.contains("sk_test_secret") && !text.contains("lt_link_token_1"), "{text}");
    // Any status: the adapter reads it, and maps the others through the same mapper.
    let reply = c.exchange(get(&c)).await.unwrap();
    assert_eq!(reply.status(), 404);
    let text = format!("{:?}", reply.error());
    assert!(text.contains("NotFound") && !text.contains("sk_test_secret"), "{text}");
    assert!(!format!("{reply:?}").contains("sk_test_secret"));
    // A secret the client never sends, given to it to scrub all the same.
    let t2 = Scripted::new(vec![Ok((403, vec![("body", "proxy saw key other_client_key_9".into())]))]);
    let kept = client(t2).with_secret("other_client_key_9");
    let err = kept.send(get(&kept)).await.unwrap_err();
    assert!(!err.to_string().contains("other_client_key_9") && err.to_string().contains("[redacted]"), "{err}");
    // The default mapper: the status class, an excerpt of the body.
    let plain = client(t.clone());
    let err = plain.json::<serde_json::Value>(get(&plain), "x").await.unwrap_err();
    assert!(matches!(&err, Error::Provider { status: 400, message, .. } if message.contains("bad")), "{err:?}");
}

#[tokio::test]
async fn transport_errors_carry_no_secret() {
    let c = ApiClient { retry: RetryPolicy::none(), ..client(Scripted::new(vec![Err(TransportKind::Io)])) };
    let err = c.send(get(&c)).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }) && !format!("{err:?}").contains("sk_test_secret"));
}

#[test]
fn calls_fill_their_template_and_default_their_idempotency() {
    let c = client(Scripted::new(vec![]));
    let call = c.call(Method::GET, "list", "/users/{userId}/credentials", &["a/b?c"]);
    assert_eq!(call.request().url.as_str(), "http://127.0.0.1:1/novu/users/a%2Fb%3Fc/credentials");
    assert_eq!(call.path_template, "/users/{userId}/credentials");
    assert!(call.request().headers.contains_key("authorization"));
    for (method, expected) in [
        (Method::GET, Idempotency::Idempotent),
        (Method::DELETE, Idempotency::Idempotent),
        (Method::PUT, Idempotency::Idempotent),
        (Method::POST, Idempotency::SendOnce),
        (Method::PATCH, Idempotency::SendOnce),
    ] {
        assert_eq!(c.call(method.clone(), "op", "/x", &[]).idempotency, expected, "{method}");
    }
    let call = c.call(Method::POST, "op", "/x", &[]).json(&serde_json::json!({"a": 1})).idempotency(Idempotency::Keyed);
    assert_eq!(call.idempotency, Idempotency::Keyed);
    assert_eq!(call.request().body.as_deref(), Some(&b"{\"a\":1}"[..]));
    assert_eq!(call.request().headers[CONTENT_TYPE], "application/json");
}

#[test]
fn idempotency_keys_are_unique() {
    let a = new_idempotency_key();
    assert_eq!(a.len(), 32);
    assert_ne!(a, new_idempotency_key());
}

mod reqwest_transport {
    use httpmock::prelude::*;

    use super::*;

    fn real_client(base: &str) -> ApiClient {
        let transport = Arc::new(ReqwestTransport::new(&HttpSettings::default()).unwrap());
        ApiClient::new("novu", Url::parse(base).unwrap(), HeaderMap::new(), transport, RetryPolicy::none())
            .with_max_body(64)
    }

    #[tokio::test]
    async fn sends_user_agent_and_does_not_follow_redirects() {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                when.method(GET).path("/x").header("user-agent", USER_AGENT);
                then.status(302).header("location", "http://169.254.169.254/");
            })
            .await;
        let c = real_client(&server.base_url());
        let r = c.exchange(get(&c)).await.unwrap();
        assert_eq!(r.status(), 302);
        mock.assert_calls_async(1).await;
    }

    #[tokio::test]
    async fn oversized_bodies_are_discarded() {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(GET).path("/x");
                then.status(200).body("x".repeat(1000));
            })
            .await;
        let c = real_client(&server.base_url());
        let r = c.exchange(get(&c)).await.unwrap();
        let err = r.json::<serde_json::Value>("JSON").unwrap_err();
        assert!(err.to_string().contains("larger than 64 bytes"), "{err}");
    }

    #[tokio::test]
    async fn refused_connection_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let c = real_client(&format!("http://127.0.0.1:{port}"));
        let err = c.exchange(get(&c)).await.unwrap_err();
        assert!(matches!(err, Error::Transport { kind: TransportKind::Connect, .. }), "{err}");
        assert!(!err.to_string().contains("127.0.0.1"), "no URL in the message: {err}");
    }
}

#[tokio::test]
async fn the_apps_own_reqwest_client_carries_the_calls() {
    let server = httpmock::MockServer::start_async().await;
    let hit = server
        .mock_async(|when, then| {
            when.method("GET")
                .path("/x")
                .header("user-agent", "the-app/1")
                .header("authorization", "ApiKey sk_test_secret");
            then.status(200).body("{}");
        })
        .await;
    let own =
        reqwest::Client::builder().user_agent("the-app/1").redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("authorization", secret_header("ApiKey sk_test_secret").unwrap());
    let c = ApiClient::new(
        "novu",
        Url::parse(&server.base_url()).unwrap(),
        headers,
        Arc::new(ReqwestTransport::from_client(own)),
        RetryPolicy::none(),
    );
    assert_eq!(c.exchange(get(&c)).await.unwrap().status(), 200);
    hit.assert_calls_async(1).await;
}

/// Every field recorded on `oauth_link.http` spans, as `name=value`.
#[derive(Clone, Default)]
struct SpanFields(Arc<Mutex<Vec<String>>>);

use crate::test_fields::FieldText;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanFields {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() == "oauth_link.http" {
            attrs.record(&mut FieldText(&mut self.0.lock().unwrap()));
        }
    }
    fn on_record(
        &self,
        _: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        values.record(&mut FieldText(&mut self.0.lock().unwrap()));
    }
}

#[tokio::test(start_paused = true)]
async fn http_spans_use_opentelemetry_names_and_no_ids() {
    use tracing_subscriber::layer::SubscriberExt;
    let fields = SpanFields::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(fields.clone()));
    let c = client(Scripted::new(vec![status(503), status(200)]));
    c.send(c.call(Method::GET, "list_things", "/users/{userId}/things", &["user-secret-id"])).await.unwrap();
    let recorded = fields.0.lock().unwrap().clone();
    for expected in [
        "oauth_link.provider=novu",
        "oauth_link.operation=list_things",
        "http.request.method=GET",
        "url.template=/users/{userId}/things",
        "server.address=127.0.0.1",
        "server.port=1",
        "http.response.status_code=503",
        "http.response.status_code=200",
        "http.request.resend_count=1",
    ] {
        assert!(recorded.iter().any(|f| f == expected), "{expected} not in {recorded:?}");
    }
    assert!(recorded.iter().all(|f| !f.contains("user-secret-id")), "{recorded:?}");
}
