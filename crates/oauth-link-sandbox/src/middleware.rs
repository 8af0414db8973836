//! Root-URL discovery, the request log and fault injection.

use axum::body::Body;
use axum::extract::{OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderValue, StatusCode};
use serde_json::json;

use crate::state::{
    fmt_time, json_response, lock, FaultKind, LogEntry, ProcessingDone, RootUrl, Shared, MAX_LOGGED_BODY,
};

/// Largest request body accepted at all.
const MAX_BODY: usize = 8 << 20;

/// Works out the sandbox's absolute root URL for this request.
pub(crate) async fn root_url(State(s): State<Shared>, mut req: Request, next: Next) -> Response {
    let root = match &s.config.public_url {
        Some(u) => u.clone(),
        None => {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
            let prefix = req
                .extensions()
                .get::<OriginalUri>()
                .and_then(|o| o.0.path().strip_suffix(req.uri().path()).map(|p| p.trim_end_matches('/').to_string()))
                .unwrap_or_default();
            format!("http://{host}{prefix}")
        }
    };
    req.extensions_mut().insert(RootUrl(root));
    next.run(req).await
}

/// Logs platform requests and injects faults into platform API calls.
pub(crate) async fn log_and_faults(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let mut segs = req.uri().path().split('/').filter(|x| !x.is_empty());
    let prefix = segs.next().unwrap_or("");
    if prefix == "__sandbox" {
        return next.run(req).await;
    }
    let platform: Option<&'static str> = ["alloy", "novu", "junction"].into_iter().find(|p| *p == prefix);
    let is_consent = segs.next() == Some("consent");
    let prefix = platform.unwrap_or("");

    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return json_response(StatusCode::PAYLOAD_TOO_LARGE, &json!({"message": "Request body too large"})),
    };
    // What the log keeps, rendered to JSON only when read (`GET /__sandbox/requests`).
    let logged = platform.map(|_| (s.now(), parts.method.clone(), parts.uri.clone(), parts.headers.clone()));
    let req = Request::from_parts(parts, Body::from(bytes.clone()));

    let (fault, latency, retry_after, processing) = {
        let mut faults = lock(&s.faults);
        let api_call = platform.is_some() && !is_consent;
        let (fault, latency) = if api_call { faults.decide(prefix) } else { (None, 0) };
        let processing = if api_call { faults.config.processing_for(prefix) } else { 0 };
        (fault, latency, faults.config.retry_after_secs, processing)
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let resp = match fault {
        Some(k @ (FaultKind::TooMany | FaultKind::Internal | FaultKind::Unavailable | FaultKind::Status(_))) => {
            let path = req.uri().path();
            fault_response(prefix, k, path, retry_after)
        }
        Some(k) => {
            let resp = processed(next.run(req).await, processing).await;
            corrupt(resp, k, s.io_drop.load(std::sync::atomic::Ordering::Relaxed)).await
        }
        None => processed(next.run(req).await, processing).await,
    };

    if let (Some(platform), Some((time, method, uri, headers))) = (platform, logged) {
        let mut log = lock(&s.log);
        log.next_seq += 1;
        let entry = LogEntry {
            seq: log.next_seq,
            time,
            platform,
            method,
            uri,
            headers,
            body: if bytes.len() > MAX_LOGGED_BODY { axum::body::Bytes::new() } else { bytes.clone() },
            body_len: bytes.len(),
            status: resp.status().as_u16(),
            fault: fault.map(FaultKind::name),
            latency_ms: latency,
        };
        log.entries.push_back(entry);
        while log.entries.len() > s.config.request_log_capacity {
            log.entries.pop_front();
        }
    }
    resp
}

/// Holds a handled response back for [`crate::FaultConfig::processing_ms`], unless its
/// handler already spent that time (Novu requests with an idempotency key).
async fn processed(resp: Response, processing_ms: u64) -> Response {
    if processing_ms > 0 && resp.extensions().get::<ProcessingDone>().is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(processing_ms)).await;
    }
    resp
}

/// A 429/500/503 in the platform's error shape.
fn fault_response(prefix: &str, kind: FaultKind, path: &str, retry_after: u64) -> Response {
    let status = match kind {
        FaultKind::TooMany => StatusCode::TOO_MANY_REQUESTS,
        FaultKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        FaultKind::Status(code) => StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = match prefix {
        "novu" => {
            let p = path.strip_prefix("/novu").unwrap_or(path);
            match kind {
                FaultKind::TooMany => json!("API rate limit exceeded"),
                FaultKind::Unavailable => json!("Please wait some time, then try again."),
                _ => {
                    let mut dto = json!({
                        "statusCode": status.as_u16(),
                        "timestamp": fmt_time(chrono::Utc::now()),
                        "path": p,
                        "message": status.canonical_reason().unwrap_or("Error"),
                    });
                    if status == StatusCode::INTERNAL_SERVER_ERROR {
                        dto["errorId"] = json!(uuid::Uuid::new_v4().to_string());
                    }
                    dto
                }
            }
        }
        "junction" => json!({ "detail": status.canonical_reason().unwrap_or("Error") }),
        _ => json!({ "message": status.canonical_reason().unwrap_or("Error") }),
    };
    let mut r = json_response(status, &body);
    r.headers_mut().insert("x-sandbox-fault", HeaderValue::from_static(kind.name()));
    if prefix == "novu" && kind == FaultKind::TooMany {
        let h = r.headers_mut();
        h.insert("RateLimit-Limit", HeaderValue::from_static("100"));
        h.insert("RateLimit-Remaining", HeaderValue::from_static("0"));
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            h.insert("RateLimit-Reset", v);
        }
    }
    if matches!(kind, FaultKind::TooMany | FaultKind::Unavailable) {
        if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

/// Damages a response that the handler already produced.
async fn corrupt(resp: Response, kind: FaultKind, io_drop: bool) -> Response {
    let (mut parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    match kind {
        FaultKind::Truncated => {
            parts.headers.insert("x-sandbox-fault", HeaderValue::from_static("truncated"));
            Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)))
        }
        FaultKind::Malformed => {
            parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
            parts.headers.insert("x-sandbox-fault", HeaderValue::from_static("malformed"));
            Response::from_parts(parts, Body::from(&b"{\"sandboxFault\": \"malformed\", oops: [1, 2,}"[..]))
        }
        _ if io_drop && !bytes.is_empty() => {
            // The connection wrapper sees the marker, sends headers and half the body, then fails.
            parts.headers.insert("x-sandbox-fault", HeaderValue::from_static("drop"));
            Response::from_parts(parts, Body::from(bytes))
        }
        _ => {
            // Empty body, or embedded without the connection wrapper: promise the whole body (and more), send half, then end the stream: hyper aborts
            // the connection and the client sees it break mid-body.
            let half = bytes.slice(..bytes.len() / 2);
            let promised = bytes.len() + 64;
            if parts.status == StatusCode::NO_CONTENT {
                parts.status = StatusCode::OK;
            }
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(promised));
            let stream = Body::from(half).into_data_stream();
            Response::from_parts(parts, Body::from_stream(stream))
        }
    }
}
