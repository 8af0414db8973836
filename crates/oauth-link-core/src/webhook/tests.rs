use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use http::{HeaderMap, HeaderValue};

use super::*;
use crate::clock::ManualClock;

/// Svix's published example: "How to Verify Webhooks with the Svix Libraries",
/// <https://docs.svix.com/receiving/verifying-payloads/how> (secret, headers and payload as
/// printed there; the signature is the one Svix's libraries accept).
const SVIX_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SVIX_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SVIX_TIMESTAMP: i64 = 1_614_265_330;
const SVIX_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
const SVIX_PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;

/// The Standard Webhooks reference library's signing vector (`test_sign` in
/// github.com/standard-webhooks/standard-webhooks, `libraries/rust/src/lib.rs`).
const STD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const STD_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
const STD_TIMESTAMP: i64 = 1_649_367_553;
const STD_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
const STD_PAYLOAD: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;

/// A second secret, for rotation.
const NEW_SECRET: &str = "whsec_bmV3LXNpZ25pbmctc2VjcmV0LWFmdGVyLXJvdGF0aW9u";

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

fn headers(style: HeaderStyle, id: &str, timestamp: &str, signature: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [(style.id(), id), (style.timestamp(), timestamp), (style.signature(), signature)] {
        h.insert(name, HeaderValue::from_str(value).unwrap());
    }
    h
}

fn svix_headers() -> HeaderMap {
    headers(HeaderStyle::Svix, SVIX_ID, &SVIX_TIMESTAMP.to_string(), SVIX_SIGNATURE)
}

fn reason(result: Result<VerifiedDelivery>) -> WebhookError {
    match result {
        Err(Error::WebhookRejected { provider: "junction", reason }) => reason,
        other => panic!("expected WebhookRejected, got {other:?}"),
    }
}

fn verifier(secrets: &[&str]) -> WebhookVerifier {
    WebhookVerifier::new("junction", secrets).unwrap()
}

#[test]
fn svix_published_example_verifies_under_both_header_names() {
    let v = verifier(&[SVIX_SECRET]);
    let delivery = v.verify_at(&svix_headers(), SVIX_PAYLOAD, at(SVIX_TIMESTAMP)).unwrap();
    assert_eq!(
        (delivery.provider, delivery.id.as_str(), delivery.timestamp, delivery.style),
        ("junction", SVIX_ID, at(SVIX_TIMESTAMP), HeaderStyle::Svix)
    );
    let standard = headers(HeaderStyle::Standard, SVIX_ID, &SVIX_TIMESTAMP.to_string(), SVIX_SIGNATURE);
    assert_eq!(v.verify_at(&standard, SVIX_PAYLOAD, at(SVIX_TIMESTAMP)).unwrap().style, HeaderStyle::Standard);
    // The prefix is optional, and the signer reproduces the published signature.
    verifier(&[SVIX_SECRET.trim_start_matches("whsec_")])
        .verify_at(&svix_headers(), SVIX_PAYLOAD, at(SVIX_TIMESTAMP))
        .unwrap();
    let signer = WebhookSigner::new(SVIX_SECRET).unwrap();
    assert_eq!(signer.signature(SVIX_ID, SVIX_TIMESTAMP, SVIX_PAYLOAD), SVIX_SIGNATURE);
    assert_eq!(signer.svix_headers(SVIX_ID, SVIX_TIMESTAMP, SVIX_PAYLOAD), svix_headers());
}

#[test]
fn standard_webhooks_reference_vector() {
    let signer = WebhookSigner::new(STD_SECRET).unwrap();
    assert_eq!(signer.signature(STD_ID, STD_TIMESTAMP, STD_PAYLOAD), STD_SIGNATURE);
    let h = headers(HeaderStyle::Standard, STD_ID, &STD_TIMESTAMP.to_string(), STD_SIGNATURE);
    verifier(&[STD_SECRET]).verify_at(&h, STD_PAYLOAD, at(STD_TIMESTAMP)).unwrap();
}

#[test]
fn tampered_body_id_timestamp_or_signature_is_refused() {
    let v = verifier(&[SVIX_SECRET]);
    let now = at(SVIX_TIMESTAMP);
    let tampered_body = br#"{"test": 2432232315}"#;
    assert_eq!(reason(v.verify_at(&svix_headers(), tampered_body, now)), WebhookError::BadSignature);
    let mut other_id = svix_headers();
    other_id.insert("svix-id", HeaderValue::from_static("msg_other"));
    assert_eq!(reason(v.verify_at(&other_id, SVIX_PAYLOAD, now)), WebhookError::BadSignature);
    let moved = headers(HeaderStyle::Svix, SVIX_ID, &(SVIX_TIMESTAMP + 1).to_string(), SVIX_SIGNATURE);
    assert_eq!(reason(v.verify_at(&moved, SVIX_PAYLOAD, now)), WebhookError::BadSignature);
    // One flipped bit in the signature.
    let flipped = SVIX_SIGNATURE.replace("g0hM", "g0hN");
    let h = headers(HeaderStyle::Svix, SVIX_ID, &SVIX_TIMESTAMP.to_string(), &flipped);
    assert_eq!(reason(v.verify_at(&h, SVIX_PAYLOAD, now)), WebhookError::BadSignature);
    // A truncated signature is no match either (no prefix comparison).
    let h = headers(HeaderStyle::Svix, SVIX_ID, &SVIX_TIMESTAMP.to_string(), "v1,g0hM9SsE+OTPJTGt");
    assert_eq!(reason(v.verify_at(&h, SVIX_PAYLOAD, now)), WebhookError::BadSignature);
}

#[test]
fn tolerance_is_five_minutes_both_ways() {
    let v = verifier(&[SVIX_SECRET]);
    let signed = at(SVIX_TIMESTAMP);
    for (offset, expected) in [
        (300, None),
        (-300, None),
        (301, Some(WebhookError::Stale { age_secs: 301, tolerance_secs: 300 })),
        (-301, Some(WebhookError::Future { ahead_secs: 301, tolerance_secs: 300 })),
        (86_400, Some(WebhookError::Stale { age_secs: 86_400, tolerance_secs: 300 })),
    ] {
        let result = v.verify_at(&svix_headers(), SVIX_PAYLOAD, signed + TimeDelta::seconds(offset));
        match expected {
            None => assert!(result.is_ok(), "{offset}: {result:?}"),
            Some(want) => assert_eq!(reason(result), want, "{offset}"),
        }
    }
    let strict = verifier(&[SVIX_SECRET]).with_tolerance(Duration::from_secs(10));
    assert_eq!(strict.tolerance(), Duration::from_secs(10));
    let err = reason(strict.verify_at(&svix_headers(), SVIX_PAYLOAD, signed + TimeDelta::seconds(11)));
    assert_eq!(err, WebhookError::Stale { age_secs: 11, tolerance_secs: 10 });
}

#[test]
fn the_clock_decides_now() {
    let clock = ManualClock::new(at(SVIX_TIMESTAMP));
    let v = verifier(&[SVIX_SECRET]).with_clock(Arc::new(clock.clone()));
    v.verify(&svix_headers(), SVIX_PAYLOAD).unwrap();
    clock.advance(Duration::from_secs(301));
    assert!(matches!(reason(v.verify(&svix_headers(), SVIX_PAYLOAD)), WebhookError::Stale { .. }));
}

#[test]
fn unknown_secret_is_refused_and_rotation_accepts_either() {
    let now = at(SVIX_TIMESTAMP);
    assert_eq!(
        reason(verifier(&[NEW_SECRET]).verify_at(&svix_headers(), SVIX_PAYLOAD, now)),
        WebhookError::BadSignature
    );
    // Rotation on the receiving side: the old and the new secret both accepted.
    let both = verifier(&[NEW_SECRET, SVIX_SECRET]);
    assert_eq!(both.secrets(), 2);
    both.verify_at(&svix_headers(), SVIX_PAYLOAD, now).unwrap();
    let new_sig = WebhookSigner::new(NEW_SECRET).unwrap().signature(SVIX_ID, SVIX_TIMESTAMP, SVIX_PAYLOAD);
    let h = headers(HeaderStyle::Svix, SVIX_ID, &SVIX_TIMESTAMP.to_string(), &new_sig);
    both.verify_at(&h, SVIX_PAYLOAD, now).unwrap();
    // Rotation on the sending side: several signatures, other versions ignored, one match is enough.
    let listed = format!("v1a,AAAA v1,bm90LWl0 {new_sig} v2,{}", &SVIX_SIGNATURE[3..]);
    let h = headers(HeaderStyle::Svix, SVIX_ID, &SVIX_TIMESTAMP.to_string(), &listed);
    verifier(&[NEW_SECRET]).verify_at(&h, SVIX_PAYLOAD, now).unwrap();
    assert_eq!(reason(verifier(&[SVIX_SECRET]).verify_at(&h, SVIX_PAYLOAD, now)), WebhookError::BadSignature);
}

#[test]
fn missing_and_malformed_headers_are_named() {
    let v = verifier(&[SVIX_SECRET]);
    let now = at(SVIX_TIMESTAMP);
    for (svix, standard) in
        [("svix-id", "webhook-id"), ("svix-timestamp", "webhook-timestamp"), ("svix-signature", "webhook-signature")]
    {
        let mut h = svix_headers();
        h.remove(svix);
        let err = reason(v.verify_at(&h, SVIX_PAYLOAD, now));
        assert_eq!(err, WebhookError::MissingHeader { header: standard });
        assert!(err.to_string().contains(svix) && err.to_string().contains(standard), "{err}");
    }
    let ts = SVIX_TIMESTAMP.to_string();
    let long_id = "m".repeat(MAX_DELIVERY_ID_LEN + 1);
    for (id, timestamp, signature, header) in [
        ("", ts.as_str(), SVIX_SIGNATURE, "svix-id"),
        ("msg 1", ts.as_str(), SVIX_SIGNATURE, "svix-id"),
        (long_id.as_str(), ts.as_str(), SVIX_SIGNATURE, "svix-id"),
        (SVIX_ID, "yesterday", SVIX_SIGNATURE, "svix-timestamp"),
        (SVIX_ID, "1614265330.5", SVIX_SIGNATURE, "svix-timestamp"),
        (SVIX_ID, "99999999999999999", SVIX_SIGNATURE, "svix-timestamp"),
        (SVIX_ID, ts.as_str(), "", "svix-signature"),
        (SVIX_ID, ts.as_str(), "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "svix-signature"),
        (SVIX_ID, ts.as_str(), "v1,not base64!!", "svix-signature"),
    ] {
        let err = reason(v.verify_at(&headers(HeaderStyle::Svix, id, timestamp, signature), SVIX_PAYLOAD, now));
        assert!(matches!(err, WebhookError::MalformedHeader { header: h, .. } if h == header), "{header}: {err:?}");
    }
    let mut h = svix_headers();
    h.insert("svix-id", HeaderValue::from_bytes(b"msg_\xff").unwrap());
    assert!(matches!(
        reason(v.verify_at(&h, SVIX_PAYLOAD, now)),
        WebhookError::MalformedHeader { header: "svix-id", .. }
    ));
    // verify_parts names the headers with their standard names.
    let err = reason(v.verify_parts(SVIX_ID, "x", SVIX_SIGNATURE, SVIX_PAYLOAD, now));
    assert!(matches!(err, WebhookError::MalformedHeader { header: "webhook-timestamp", .. }), "{err:?}");
    assert!(v.verify_parts(SVIX_ID, &ts, SVIX_SIGNATURE, SVIX_PAYLOAD, now).is_ok());
}

#[test]
fn bad_secrets_fail_as_configuration_without_showing_them() {
    for bad in [vec![], vec!["whsec_!!!not-base64"], vec!["whsec_"], vec![SVIX_SECRET, "plain text secret"]] {
        let err = WebhookVerifier::new("junction", &bad).unwrap_err();
        assert!(matches!(err, Error::Config { ref key, .. } if key == "webhook_secret"), "{err:?}");
        let text = err.to_string();
        assert!(!text.contains("not-base64") && !text.contains("plain text") && !text.contains("MfKQ9r8G"), "{text}");
    }
    assert!(WebhookSigner::new("%%").is_err());
}

#[test]
fn no_secret_in_debug_or_errors() {
    let v = verifier(&[SVIX_SECRET, NEW_SECRET]);
    let signer = WebhookSigner::new(SVIX_SECRET).unwrap();
    let mut texts = vec![format!("{v:?}"), format!("{signer:?}")];
    let now = at(SVIX_TIMESTAMP);
    for h in [svix_headers(), HeaderMap::new()] {
        if let Err(e) = v.verify_at(&h, b"tampered", now) {
            texts.push(e.to_string());
            texts.push(format!("{e:?}"));
        }
    }
    assert_eq!(texts.len(), 6);
    for text in texts {
        for secret in [SVIX_SECRET, NEW_SECRET] {
            assert!(!text.contains(&secret[6..16]), "{text}");
        }
    }
    assert!(format!("{v:?}").contains("secrets: 2"));
}

#[test]
fn rejections_are_caller_errors_naming_the_provider() {
    let err = verifier(&[SVIX_SECRET]).verify_at(&svix_headers(), b"x", at(SVIX_TIMESTAMP)).unwrap_err();
    assert_eq!((err.provider(), err.class(), err.is_retryable()), (Some("junction"), crate::ErrorClass::Caller, false));
    assert!(err.to_string().starts_with("junction webhook delivery refused: no signature matches"), "{err}");
}

#[test]
fn delivery_keys_are_stable_and_distinct() {
    let key = DeliveryKey::new("junction", SVIX_ID);
    assert_eq!(key, DeliveryKey::new("junction", SVIX_ID));
    assert_ne!(key, DeliveryKey::new("novu", SVIX_ID));
    assert_ne!(DeliveryKey::new("a", "bc"), DeliveryKey::new("ab", "c"));
    assert_eq!(key.to_string().len(), 32);
    assert_eq!(key.as_nonce().as_u128(), key.as_u128());
    assert_eq!(format!("{key:?}"), format!("DeliveryKey({key})"));
}

#[tokio::test]
async fn memory_dedupe_remembers_until_expiry_within_its_bound() {
    let clock = ManualClock::new(at(1_000_000));
    let dedupe = MemoryDedupe::new(3).with_clock(Arc::new(clock.clone()));
    let in_an_hour = at(1_000_000 + 3600);
    let key = DeliveryKey::new("junction", "msg_1");
    assert!(dedupe.first_delivery(key, in_an_hour).await.unwrap());
    assert!(!dedupe.first_delivery(key, in_an_hour).await.unwrap());
    dedupe.forget(key).await.unwrap();
    assert!(dedupe.first_delivery(key, in_an_hour).await.unwrap());
    // Bounded: a fourth delivery makes the oldest forgotten.
    for n in 2..=4 {
        assert!(dedupe.first_delivery(DeliveryKey::new("junction", &format!("msg_{n}")), in_an_hour).await.unwrap());
    }
    assert_eq!(dedupe.len(), 3);
    assert!(dedupe.first_delivery(key, in_an_hour).await.unwrap(), "the oldest was dropped to make room");
    // Expiring: past the expiry the same id counts as new.
    let other = DeliveryKey::new("junction", "msg_4");
    clock.advance(Duration::from_secs(3600));
    assert!(dedupe.first_delivery(other, at(1_000_000 + 7200)).await.unwrap());
    assert!(!dedupe.is_empty());
}

#[tokio::test]
async fn concurrent_deliveries_of_one_id_are_handled_once() {
    let dedupe = Arc::new(MemoryDedupe::default());
    let expires = Utc::now() + TimeDelta::hours(1);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let dedupe = dedupe.clone();
            tokio::spawn(async move { dedupe.first_delivery(DeliveryKey::new("junction", "msg_x"), expires).await })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        firsts += usize::from(task.await.unwrap().unwrap());
    }
    assert_eq!(firsts, 1);
}

#[tokio::test]
async fn file_guard_dedupes_across_instances() {
    let dir = std::env::temp_dir().join(format!("oauth-link-webhook-dedupe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let first = FileReplayGuard::new(&dir).unwrap();
    let second = FileReplayGuard::new(&dir).unwrap();
    dedupe_delivery(&first, "junction", "msg_1").await.unwrap();
    let err = dedupe_delivery(&second, "junction", "msg_1").await.unwrap_err();
    assert!(matches!(err, Error::WebhookRejected { reason: WebhookError::Replayed { ref id }, .. } if id == "msg_1"));
    assert!(err.to_string().contains("already handled"), "{err}");
    assert_eq!(err.class(), crate::ErrorClass::Caller);
    DeliveryDedupe::forget(&second, DeliveryKey::new("junction", "msg_1")).await.unwrap();
    dedupe_delivery(&first, "junction", "msg_1").await.unwrap();
    dedupe_delivery(&first, "novu", "msg_1").await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn events_serialise_flat_and_round_trip() {
    let delivery = VerifiedDelivery {
        provider: "junction",
        id: "msg_1".into(),
        timestamp: at(SVIX_TIMESTAMP),
        style: HeaderStyle::Svix,
    };
    assert_eq!(delivery.key(), DeliveryKey::new("junction", "msg_1"));
    let event = ConnectionEvent::new(
        ConnectionEventKind::NeedsReauthorization,
        &delivery,
        "provider.connection.error",
        "u-1",
        "oura",
    )
    .with_platform_user("6d1c")
    .with_connection_id("6d1c/oura")
    .with_reason("token_refresh_failed: expired");
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "event": "needs_reauthorization", "provider": "junction", "user": "u-1", "user_mapped": true,
            "platform_user": "6d1c", "target": "oura", "connection_id": "6d1c/oura",
            "reason": "token_refresh_failed: expired", "platform_event": "provider.connection.error",
            "delivery_id": "msg_1", "delivered_at": "2021-02-25T15:02:10Z"
        })
    );
    assert_eq!(serde_json::from_value::<ConnectionEvent>(json).unwrap(), event);
    assert!(!event.clone().with_user_mapped(false).user_mapped);
    for kind in [
        ConnectionEventKind::Created,
        ConnectionEventKind::NeedsReauthorization,
        ConnectionEventKind::Failed,
        ConnectionEventKind::Removed,
    ] {
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        assert_eq!(kind.to_string(), kind.as_str());
    }
}

fn created_event(user: &str) -> ConnectionEvent {
    let delivery =
        VerifiedDelivery { provider: "junction", id: "msg_n".into(), timestamp: at(0), style: HeaderStyle::Svix };
    ConnectionEvent::new(ConnectionEventKind::Created, &delivery, "provider.connection.created", user, "oura")
}

#[tokio::test]
async fn the_notifier_wakes_only_matching_waiters_and_forgets_them() {
    let notifier = ConnectionNotifier::new();
    notifier.notify(&created_event("nobody-listens")); // no waiter: nothing kept
    let mut watch = notifier.subscribe();
    assert_eq!(notifier.waiting(), 1);
    let ada = |e: &ConnectionEvent| e.user == "ada";
    let sender = notifier.clone();
    let feeding = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        sender.notify(&created_event("bob"));
        sender.notify(&created_event("ada"));
    });
    let started = std::time::Instant::now();
    assert!(watch.wait(Duration::from_secs(5), &ada).await, "woken by ada's event");
    assert!(started.elapsed() < Duration::from_secs(1));
    feeding.await.unwrap();
    assert!(!watch.wait(Duration::from_millis(30), &ada).await, "bob's was skipped, nothing else came");
    drop(watch);
    assert_eq!(notifier.waiting(), 0);
    // A waiter that fell behind looks again rather than miss its event.
    let mut behind = notifier.subscribe();
    for _ in 0..(NOTIFIER_CAPACITY + 5) {
        notifier.notify(&created_event("bob"));
    }
    assert!(behind.wait(Duration::from_millis(30), &ada).await);
    // Every context has one, shared by its clones.
    let ctx = crate::LinkContext::ephemeral();
    let _watch = ctx.clone().notifier().subscribe();
    assert_eq!(ctx.notifier().waiting(), 1);
}

#[tokio::test]
async fn poll_or_event_polls_as_the_policy_says_and_an_event_cuts_the_pause() {
    let policy = crate::adapter::PollPolicy {
        timeout: Duration::from_secs(10),
        interval: Duration::from_secs(5),
        max_interval: Duration::from_secs(5),
    };
    let looks = std::sync::atomic::AtomicUsize::new(0);
    let notifier = ConnectionNotifier::new();
    let sender = notifier.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        sender.notify(&created_event("ada"));
    });
    let started = std::time::Instant::now();
    let any = |_: &ConnectionEvent| true;
    let found = poll_or_event(&policy, Some(notifier.subscribe()), &any, || {
        let n = looks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move { Ok((n == 1).then_some("connected")) }
    })
    .await
    .unwrap();
    assert_eq!(found, Some("connected"));
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn without_a_watch_poll_or_event_is_the_policys_polling() {
    let any = |_: &ConnectionEvent| true;
    let short = crate::adapter::PollPolicy {
        timeout: Duration::from_millis(50),
        interval: Duration::from_millis(10),
        max_interval: Duration::from_millis(20),
    };
    let counted = std::sync::atomic::AtomicUsize::new(0);
    let none: Option<()> = poll_or_event(&short, None, &any, || {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Ok(None) }
    })
    .await
    .unwrap();
    assert_eq!(none, None);
    // Looks at 0, 10, 30 and 50 ms (the pause doubles to its 20 ms cap; the last at the timeout).
    assert_eq!(counted.into_inner(), 4);
    let failing: Result<Option<()>> =
        poll_or_event(&short, None, &any, || async { Err(Error::config("x", "probe failed")) }).await;
    assert!(failing.is_err());
}
