//! httpmock responders and the fast retry and poll policies of tests against a mock
//! platform.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpmock::{HttpMockRequest, HttpMockResponse};
use oauth_link_core::adapter::PollPolicy;
use oauth_link_core::http::RetryPolicy;
use serde_json::Value;

/// A JSON answer.
pub fn json_response(status: u16, body: Value) -> HttpMockResponse {
    HttpMockResponse::builder().status(status).header("content-type", "application/json").body(body.to_string()).build()
}

/// A responder that answers `first` to the first `n` calls and `then` afterwards.
pub fn sequence(
    n: usize,
    first: HttpMockResponse,
    then: HttpMockResponse,
) -> impl Fn(&HttpMockRequest) -> HttpMockResponse + Send + Sync + 'static {
    let calls = Arc::new(AtomicUsize::new(0));
    move |_| if calls.fetch_add(1, Ordering::SeqCst) < n { first.clone() } else { then.clone() }
}

/// A responder that answers 429 with `Retry-After: 1` once, then `body`.
pub fn limited_once_then(body: Value) -> impl Fn(&HttpMockRequest) -> HttpMockResponse + Send + Sync + 'static {
    let limited = HttpMockResponse::builder()
        .status(429)
        .header("retry-after", "1")
        .body(r#"{"message":"Too many requests"}"#)
        .build();
    sequence(1, limited, json_response(200, body))
}

/// A responder that records each JSON body it receives and answers `response`.
pub fn recording(
    bodies: Arc<Mutex<Vec<Value>>>,
    response: HttpMockResponse,
) -> impl Fn(&HttpMockRequest) -> HttpMockResponse + Send + Sync + 'static {
    move |req| {
        bodies.lock().unwrap().push(serde_json::from_slice(&req.body_vec()).unwrap_or_default());
        response.clone()
    }
}

/// The request path's segments, percent-decoded.
pub fn segments(req: &HttpMockRequest) -> Vec<String> {
    req.uri().path().trim_start_matches('/').split('/').map(percent_decode).collect()
}

/// `segment` with its `%XX` escapes decoded (lossily, for test routing only).
pub fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A header's value, or empty.
pub fn header(req: &HttpMockRequest, name: &str) -> String {
    req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// Two retries a few milliseconds apart.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 2,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(5),
    }
}

/// A completion that looks for 150 ms.
pub fn fast_poll() -> PollPolicy {
    PollPolicy {
        timeout: Duration::from_millis(150),
        interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(40),
    }
}

/// A completion that gives up after 20 ms (hostile cases must not wait).
pub fn hasty_poll() -> PollPolicy {
    PollPolicy {
        timeout: Duration::from_millis(20),
        interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(10),
    }
}
