//! generate_link: exact requests, both link kinds, idempotency keys, retries, errors.

mod support;

use oauth_link_core::config::AdapterConfig;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use httpmock::prelude::*;
use oauth_link_core::{Error, LinkContext, LinkProvider, LinkRequest, Url};
use oauth_link_novu::{NovuConfig, NovuProvider, NovuRegion, KIND};
use serde_json::json;
use support::*;

const USER_PATH: &str = "/v1/integrations/channel-endpoints/oauth";
const WORKSPACE_PATH: &str = "/v1/integrations/channel-connections/oauth";

#[tokio::test]
async fn user_link_sends_the_exact_request_and_reads_201() {
    let server = MockServer::start_async().await;
    let upsert = subscriber_upsert(&server, "user-42").await;
    let watermark = server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS_PATH).header("authorization", AUTH).is_true(exact_query(&[
                ("subscriberId", "user-42"),
                ("integrationIdentifier", INTEGRATION),
                ("limit", "100"),
            ]));
            then.status(200).json_body(page(vec![], None));
        })
        .await;
    // The context as OLPC canonical JSON: keys sorted, no whitespace.
    let hash = expected_hash(r#"{"team":"blue","tenant":"acme"}"#);
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(USER_PATH)
                .is_true(no_query())
                .header("authorization", AUTH)
                .header("content-type", "application/json")
                .header("idempotency-key", "idem-user-1")
                .json_body(json!({
                    "subscriberId": "user-42",
                    "integrationIdentifier": INTEGRATION,
                    "connectionIdentifier": "conn-acme",
                    "context": {"tenant": "acme", "team": "blue"},
                    "contextHash": hash,
                    "userScope": ["identity.basic", "identity.email"]
                }));
            then.status(201)
                .header("content-type", "application/json")
                .header("idempotency-replay", "false")
                .header("ratelimit-remaining", "99")
                .json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let clock = clock();
    let provider = provider(config(&server), &clock);
    let request = LinkRequest::new("user-42", INTEGRATION)
        .with_scope("identity.basic")
        .with_scope("identity.email")
        .with_param("connectionIdentifier", "conn-acme")
        .with_param("context.tenant", "acme")
        .with_param("context.team", "blue")
        .with_idempotency_key("idem-user-1");
    let link = provider.generate_link(&request).await.unwrap();
    mock.assert_calls_async(1).await;
    upsert.assert_calls_async(1).await;
    watermark.assert_calls_async(1).await;
    assert_eq!(link.url.as_str(), SLACK_URL);
    // Novu's URL lives 5 minutes, less than the 10-minute state.
    assert_eq!(link.expires_at, ts("2026-03-01T12:05:00Z"));
    insta::assert_json_snapshot!("user_link", link, { ".state" => "[state]" });
}

#[tokio::test]
async fn the_data_envelope_novu_sends_is_accepted() {
    // Novu's API server wraps non-paginated bodies as {data: ...}; the OpenAPI shows {url}.
    let server = MockServer::start_async().await;
    platform_basics(&server).await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path(USER_PATH).header("authorization", AUTH);
            then.status(201).json_body(json!({"data": {"url": SLACK_URL}}));
        })
        .await;
    let link =
        provider(config(&server), &clock()).generate_link(&LinkRequest::new("user-42", INTEGRATION)).await.unwrap();
    assert_eq!(link.url.as_str(), SLACK_URL);
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_200_answer_is_accepted_too() {
    let server = MockServer::start_async().await;
    platform_basics(&server).await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(USER_PATH)
                .header("authorization", AUTH)
                .header_exists("idempotency-key")
                .json_body(json!({"subscriberId": "u1", "integrationIdentifier": INTEGRATION}));
            then.status(200).json_body(json!({"url": "https://login.microsoftonline.com/common/adminconsent?x=1"}));
        })
        .await;
    let link = provider(config(&server), &clock()).generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap();
    mock.assert_calls_async(1).await;
    assert_eq!(link.url.host_str(), Some("login.microsoftonline.com"));
}

#[tokio::test]
async fn workspace_link_goes_to_channel_connections_oauth() {
    let server = MockServer::start_async().await;
    let upsert = subscriber_upsert(&server, "admin-1").await;
    // The watermark of a shared link: the context's connections (no subscriber).
    let watermark = server
        .mock_async(|when, then| {
            when.method(GET).path(CONNECTIONS_PATH).header("authorization", AUTH).is_true(exact_query(&[
                ("integrationIdentifier", INTEGRATION),
                ("contextKeys", "tenant:acme"),
                ("connectionMode", "shared"),
                ("limit", "100"),
            ]));
            then.status(200).json_body(page(vec![], None));
        })
        .await;
    let hash = expected_hash(r#"{"tenant":"acme"}"#);
    let (ids, recorder) = body_recorder("connectionIdentifier");
    let mock = server
        .mock_async(move |when, then| {
            when.method(POST)
                .path(WORKSPACE_PATH)
                .is_true(no_query())
                .header("authorization", AUTH)
                .header("content-type", "application/json")
                .header("idempotency-key", "idem-ws-1")
                .is_true(recorder)
                .is_true(move |req: &HttpMockRequest| {
                    let mut body: serde_json::Value = serde_json::from_slice(req.body_ref()).unwrap_or_default();
                    // The adapter names the connection this link creates: `olk-` + 32 hex digits.
                    let id = body.as_object_mut().and_then(|o| o.remove("connectionIdentifier"));
                    let id_ok = id.as_ref().and_then(|v| v.as_str()).is_some_and(|id| {
                        id.len() == 36 && id.starts_with("olk-") && id[4..].bytes().all(|b| b.is_ascii_hexdigit())
                    });
                    id_ok
                        && body
                            == json!({
                                "integrationIdentifier": INTEGRATION,
                                "subscriberId": "admin-1",
                                "context": {"tenant": "acme"},
                                "contextHash": hash,
                                "scope": ["chat:write", "channels:read"],
                                "connectionMode": "shared",
                                "autoLinkUser": false
                            })
                });
            then.status(201).json_body(json!({"data": {"url": SLACK_URL}}));
        })
        .await;
    let request = LinkRequest::new("admin-1", INTEGRATION)
        .with_param("link_kind", "workspace")
        .with_param("context.tenant", "acme")
        .with_param("connectionMode", "shared")
        .with_param("autoLinkUser", "false")
        .with_scope("chat:write")
        .with_scope("channels:read")
        .with_idempotency_key("idem-ws-1");
    let provider = provider(config(&server), &clock());
    let link = provider.generate_link(&request).await.unwrap();
    mock.assert_calls_async(1).await;
    upsert.assert_calls_async(1).await;
    watermark.assert_calls_async(1).await;
    insta::assert_json_snapshot!("workspace_link", link, { ".state" => "[state]" });
    // The same logical request (same key) sends the same body, so Novu can replay it (it
    // answers 422 to a key reused with another body); another request names another connection.
    provider.generate_link(&request).await.unwrap();
    let mut fresh = request.clone();
    fresh.idempotency_key = Some("idem-ws-2".into());
    server
        .mock_async(|when, then| {
            when.method(POST).path(WORKSPACE_PATH).header("idempotency-key", "idem-ws-2");
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let (other_ids, other) = body_recorder("connectionIdentifier");
    let other_mock = server
        .mock_async(move |when, then| {
            when.method(POST).path(WORKSPACE_PATH).header("idempotency-key", "idem-ws-3").is_true(other);
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    fresh.idempotency_key = Some("idem-ws-3".into());
    provider.generate_link(&fresh).await.unwrap();
    other_mock.assert_calls_async(1).await;
    let ids = ids.lock().unwrap().clone();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[0], ids[1], "{ids:?}");
    let other_ids = other_ids.lock().unwrap().clone();
    assert_ne!(other_ids[0], ids[0], "{other_ids:?} {ids:?}");
    upsert.assert_calls_async(1).await;
}

#[tokio::test]
async fn default_target_uses_the_configured_integration() {
    let server = MockServer::start_async().await;
    platform_basics(&server).await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(USER_PATH)
                .header("authorization", AUTH)
                .header_exists("idempotency-key")
                .json_body(json!({"subscriberId": "u1", "integrationIdentifier": "teams-prod"}));
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let with_default = provider(config(&server).with_integration_identifier("teams-prod"), &clock());
    with_default.generate_link(&LinkRequest::new("u1", "default")).await.unwrap();
    mock.assert_calls_async(1).await;
    let without = provider(config(&server), &clock());
    let err = without.generate_link(&LinkRequest::new("u1", "default")).await.unwrap_err();
    assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "target"), "{err:?}");
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn generated_idempotency_key_is_identical_across_retries() {
    let server = MockServer::start_async().await;
    platform_basics(&server).await;
    let (keys, recorder) = key_recorder();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let mock = server
        .mock_async(move |when, then| {
            when.method(POST)
                .path(USER_PATH)
                .header("authorization", AUTH)
                .json_body(json!({"subscriberId": "u1", "integrationIdentifier": INTEGRATION}))
                .is_true(recorder);
            then.respond_with(move |_| {
                if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    HttpMockResponse::builder()
                        .status(429)
                        .header("retry-after", "0")
                        .header("ratelimit-remaining", "0")
                        .body(r#""API rate limit exceeded""#)
                        .build()
                } else {
                    HttpMockResponse::builder()
                        .status(201)
                        .header("content-type", "application/json")
                        .body(json!({"url": SLACK_URL}).to_string())
                        .build()
                }
            });
        })
        .await;
    let link = provider(config(&server), &clock()).generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap();
    mock.assert_calls_async(2).await;
    assert_eq!(link.url.as_str(), SLACK_URL);
    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], keys[1], "the retry must carry the same idempotency key");
    assert_eq!(keys[0].len(), 32, "a core-generated key: {keys:?}");
}

#[tokio::test]
async fn a_new_logical_request_gets_a_new_key() {
    let server = MockServer::start_async().await;
    platform_basics(&server).await;
    let (keys, recorder) = key_recorder();
    server
        .mock_async(move |when, then| {
            when.method(POST).path(USER_PATH).header("authorization", AUTH).is_true(recorder);
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let provider = provider(config(&server), &clock());
    provider.generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap();
    provider.generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap();
    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
}

#[tokio::test]
async fn caller_key_rides_on_every_retry_until_503_is_exhausted() {
    let server = MockServer::start_async().await;
    platform_basics(&server).await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(USER_PATH)
                .header("authorization", AUTH)
                .header("idempotency-key", "idem-503")
                .json_body(json!({"subscriberId": "u1", "integrationIdentifier": INTEGRATION}));
            then.status(503).header("retry-after", "0").body(r#""Please wait some time, then try again.""#);
        })
        .await;
    let config = config(&server);
    let max_retries = config.common.retry.max_retries as usize;
    let request = LinkRequest::new("u1", INTEGRATION).with_idempotency_key("idem-503");
    let err = provider(config, &clock()).generate_link(&request).await.unwrap_err();
    mock.assert_calls_async(1 + max_retries).await;
    assert!(matches!(err, Error::Provider { status: 503, .. }) && err.is_retryable(), "{err:?}");
    insta::assert_snapshot!("error_503_exhausted", err.to_string());
}

#[tokio::test]
async fn rate_limit_exhausted_is_rate_limited_with_retry_after() {
    let server = MockServer::start_async().await;
    platform_basics(&server).await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(USER_PATH)
                .header("authorization", AUTH)
                .header_exists("idempotency-key")
                .json_body(json!({"subscriberId": "u1", "integrationIdentifier": INTEGRATION}));
            then.status(429).header("retry-after", "0").body(r#""API rate limit exceeded""#);
        })
        .await;
    let err =
        provider(config(&server), &clock()).generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap_err();
    mock.assert_calls_async(3).await;
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    insta::assert_snapshot!("error_429_exhausted", err.to_string());
}

#[tokio::test]
async fn validation_error_422_lists_the_fields_and_is_not_retried() {
    let server = MockServer::start_async().await;
    platform_basics(&server).await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(USER_PATH)
                .header("authorization", AUTH)
                .header_exists("idempotency-key")
                .json_body(json!({"subscriberId": "u1", "integrationIdentifier": "nope"}));
            then.status(422).json_body(json!({
                "statusCode": 422, "timestamp": "2026-03-01T12:00:00.000Z", "path": USER_PATH,
                "message": "Validation Error",
                "errors": {
                    "integrationIdentifier": {"messages": ["integrationIdentifier must be a valid integration"], "value": "nope"},
                    "userScope": {"messages": ["each value in userScope must be a string"]}
                }
            }));
        })
        .await;
    let err = provider(config(&server), &clock()).generate_link(&LinkRequest::new("u1", "nope")).await.unwrap_err();
    mock.assert_calls_async(1).await;
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "integrationIdentifier, userScope"),
        "{err:?}"
    );
    insta::assert_snapshot!("error_422_fields", err.to_string());
}

#[tokio::test]
async fn status_and_body_errors_are_typed() {
    let dto = |status: u16, message: serde_json::Value| {
        json!({"statusCode": status, "timestamp": "2026-03-01T12:00:00.000Z", "path": USER_PATH, "message": message})
            .to_string()
    };
    // (status, body, error, attempts): the keyed POST is retried on 409 and 5xx and on a 2xx
    // body that is not complete JSON (config: 2 retries), sent once otherwise.
    let cases: Vec<(u16, String, &str, usize)> = vec![
        (400, dto(400, json!(["subscriberId must be a string"])), "Provider", 1),
        (401, dto(401, json!("API Key not found")), "Unauthenticated", 1),
        (403, dto(403, json!("Forbidden resource")), "Forbidden", 1),
        (404, dto(404, json!("Integration not found: slack-main in environment e1")), "NotFound", 1),
        (409, dto(409, json!({"reason": "already linking"})), "Conflict", 3),
        (
            500,
            json!({"statusCode": 500, "timestamp": "t", "path": USER_PATH, "message": "Internal", "errorId": "e-1"})
                .to_string(),
            "Provider",
            3,
        ),
        (201, "{not json".into(), "Decode", 3),
        (201, r#"{"url":"https://slack.com/oauth"#.into(), "Decode", 3),
        (201, json!({"link": SLACK_URL}).to_string(), "Decode", 1),
        (201, json!({"url": "javascript:alert(1)"}).to_string(), "Decode", 1),
    ];
    let mut snapshot = Vec::new();
    for (status, body, variant, attempts) in cases {
        let server = MockServer::start_async().await;
        platform_basics(&server).await;
        let mock = server
            .mock_async(|when, then| {
                when.method(POST)
                    .path(USER_PATH)
                    .header("authorization", AUTH)
                    .header_exists("idempotency-key")
                    .json_body(json!({"subscriberId": "u1", "integrationIdentifier": INTEGRATION}));
                then.status(status).header("content-type", "application/json").body(body.clone());
            })
            .await;
        let err =
            provider(config(&server), &clock()).generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap_err();
        mock.assert_calls_async(attempts).await;
        assert!(format!("{err:?}").starts_with(variant), "{status} {body}: {err:?}");
        assert_eq!(err.provider(), Some(KIND));
        let text = err.to_string();
        assert!(!text.contains(API_KEY), "{text}");
        snapshot.push(format!("{status}: {}", text.replace(&server.base_url(), "[server]")));
    }
    insta::assert_snapshot!("generate_errors", snapshot.join("\n"));
}

#[tokio::test]
async fn invalid_input_sends_nothing() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let provider = provider(config(&server), &clock());
    let bad = [
        LinkRequest::new("", INTEGRATION),
        LinkRequest::new("u\n1", INTEGRATION),
        LinkRequest::new("u1", " "),
        LinkRequest::new("u1", INTEGRATION).with_param("link_kind", "team"),
        LinkRequest::new("u1", INTEGRATION).with_param("shopSubdomain", "x"),
        LinkRequest::new("u1", INTEGRATION).with_param("connectionMode", "shared"),
        LinkRequest::new("u1", INTEGRATION).with_param("link_kind", "workspace").with_param("autoLinkUser", "yes"),
        LinkRequest::new("u1", INTEGRATION).with_idempotency_key("kéy"),
        LinkRequest::new("u1", INTEGRATION).with_scope(""),
    ];
    for request in bad {
        let err = provider.generate_link(&request).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{request:?}: {err:?}");
    }
    any.assert_calls_async(0).await;
}

#[test]
fn regions_select_the_documented_hosts_without_network() {
    let ctx = LinkContext::ephemeral();
    let us = NovuProvider::new(NovuConfig::new(API_KEY), ctx.clone()).unwrap();
    assert_eq!(us.base_url().as_str(), "https://api.novu.co/");
    let eu = NovuProvider::new(NovuConfig::new(API_KEY).with_region(NovuRegion::Eu), ctx.clone()).unwrap();
    assert_eq!(eu.base_url().as_str(), "https://eu.api.novu.co/");
    assert_eq!(eu.config().region, NovuRegion::Eu);
    let custom = NovuConfig::new(API_KEY)
        .with_region(NovuRegion::Eu)
        .with_base_url(Url::parse("http://127.0.0.1:1/novu-proxy").unwrap());
    let custom = NovuProvider::new(custom, ctx).unwrap();
    assert_eq!(custom.base_url().as_str(), "http://127.0.0.1:1/novu-proxy");
    let caps = us.capabilities();
    assert_eq!(caps.regions, vec!["us", "eu"]);
    insta::assert_json_snapshot!("capabilities", caps);
}

#[tokio::test]
async fn base_url_prefix_is_kept_in_every_path() {
    let server = MockServer::start_async().await;
    let upsert = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("/proxy{SUBSCRIBERS}")).header("authorization", AUTH);
            then.status(201).json_body(subscriber_response("u1"));
        })
        .await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("/proxy{ENDPOINTS_PATH}")).header("authorization", AUTH);
            then.status(200).json_body(page(vec![], None));
        })
        .await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path(format!("/proxy{USER_PATH}")).header("authorization", AUTH);
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let config = config(&server).with_base_url(Url::parse(&format!("{}/proxy", server.base_url())).unwrap());
    provider(config, &clock()).generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap();
    mock.assert_calls_async(1).await;
    upsert.assert_calls_async(1).await;
    list.assert_calls_async(1).await;
}

#[tokio::test]
async fn in_progress_409_with_retry_after_is_retried_for_the_keyed_post() {
    // Novu answers 409 + `Retry-After: 1` while a request with the same key is in flight.
    let server = MockServer::start_async().await;
    platform_basics(&server).await;
    let (keys, recorder) = key_recorder();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let mock = server
        .mock_async(move |when, then| {
            when.method(POST)
                .path(USER_PATH)
                .header("authorization", AUTH)
                .json_body(json!({"subscriberId": "u1", "integrationIdentifier": INTEGRATION}))
                .is_true(recorder);
            then.respond_with(move |_| {
                if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                    HttpMockResponse::builder()
                        .status(409)
                        .header("content-type", "application/json")
                        .header("retry-after", "1")
                        .header("link", "https://docs.novu.co/additional-resources/idempotency")
                        .body(
                            json!({"statusCode": 409, "timestamp": "t", "path": USER_PATH,
                                "message": "Request with key \"k\" is currently being processed. Please retry after 1 second"})
                            .to_string(),
                        )
                        .build()
                } else {
                    HttpMockResponse::builder()
                        .status(201)
                        .header("content-type", "application/json")
                        .body(json!({"data": {"url": SLACK_URL}}).to_string())
                        .build()
                }
            });
        })
        .await;
    let started = std::time::Instant::now();
    let link = provider(config(&server), &clock()).generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap();
    mock.assert_calls_async(2).await;
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "Retry-After: 1 was honoured");
    assert_eq!(link.url.as_str(), SLACK_URL);
    let keys = keys.lock().unwrap().clone();
    assert_eq!(keys[0], keys[1], "the retry carries the same key: {keys:?}");
}

#[tokio::test]
async fn calls_without_a_key_are_not_retried_on_409() {
    // Only the keyed OAuth-URL POST may be repeated on 409: the upsert and the reads are not.
    let conflict = json!({"statusCode": 409, "timestamp": "t", "path": "/p", "message": "conflict"});
    let server = MockServer::start_async().await;
    let upsert = server
        .mock_async(|when, then| {
            when.method(POST).path(SUBSCRIBERS);
            then.status(409).header("retry-after", "0").json_body(conflict.clone());
        })
        .await;
    empty_lists(&server).await;
    let link = server
        .mock_async(|when, then| {
            when.method(POST).path(USER_PATH);
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let err =
        provider(config(&server), &clock()).generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    upsert.assert_calls_async(1).await;
    link.assert_calls_async(0).await;

    let server = MockServer::start_async().await;
    any_subscriber_upsert(&server).await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET).path(ENDPOINTS_PATH);
            then.status(409).header("retry-after", "0").json_body(conflict.clone());
        })
        .await;
    let link = server
        .mock_async(|when, then| {
            when.method(POST).path(USER_PATH);
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    let err =
        provider(config(&server), &clock()).generate_link(&LinkRequest::new("u1", INTEGRATION)).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    list.assert_calls_async(1).await;
    assert!(link.calls_async().await <= 1);
}

#[tokio::test]
async fn idempotency_keys_over_255_characters_are_refused_before_anything_is_sent() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(500);
        })
        .await;
    let provider = provider(config(&server), &clock());
    let err = provider
        .generate_link(&LinkRequest::new("u1", INTEGRATION).with_idempotency_key("k".repeat(256)))
        .await
        .unwrap_err();
    assert!(matches!(&err, Error::InvalidInput { field, .. } if field == "idempotency_key"), "{err:?}");
    assert!(err.to_string().contains("255"), "{err}");
    any.assert_calls_async(0).await;
    any.delete_async().await;

    // 255 is Novu's limit, and is sent as it is.
    platform_basics(&server).await;
    let key = "k".repeat(255);
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path(USER_PATH).header("idempotency-key", key.as_str());
            then.status(201).json_body(json!({"url": SLACK_URL}));
        })
        .await;
    provider.generate_link(&LinkRequest::new("u1", INTEGRATION).with_idempotency_key(key.clone())).await.unwrap();
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_context_that_cannot_be_shared_or_hashed_is_refused_before_sending() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(500);
        })
        .await;
    let provider = provider(config(&server), &clock());
    let mut six = LinkRequest::new("u1", INTEGRATION);
    for i in 0..6 {
        six = six.with_param(format!("context.t{i}"), "x");
    }
    for request in [
        six,
        LinkRequest::new("u1", INTEGRATION).with_param("link_kind", "workspace").with_param("connectionMode", "shared"),
    ] {
        let err = provider.generate_link(&request).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{request:?}: {err:?}");
    }
    any.assert_calls_async(0).await;
}
