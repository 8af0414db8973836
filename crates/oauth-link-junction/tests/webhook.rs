//! Svix signature verification: vectors signed here with hmac, verified by the module.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use oauth_link_core::Error;
use oauth_link_junction::webhook::{JunctionEvent, WebhookVerifier};
use serde_json::json;
use sha2::Sha256;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_SECRET: &str = "whsec_b2xkLXNpZ25pbmctc2VjcmV0LWZvci1yb3RhdGlvbg==";
const MSG_ID: &str = "msg_2b8u7cKXNEDmq1mGg6ZqZ5bT1Xy";

fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn headers(id: &str, timestamp: i64, signature: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("svix-id", HeaderValue::from_str(id).unwrap());
    h.insert("svix-timestamp", HeaderValue::from_str(&timestamp.to_string()).unwrap());
    h.insert("svix-signature", HeaderValue::from_str(signature).unwrap());
    h
}

fn now() -> DateTime<Utc> {
    "2026-05-01T12:00:00Z".parse().unwrap()
}

fn created_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event_type": "provider.connection.created",
        "user_id": "6d1c52a4-3f1e-4c59-9a57-2f0b1c2d3e4f",
        "client_user_id": "app-user-1",
        "team_id": "team-1",
        "data": {
            "user_id": "6d1c52a4-3f1e-4c59-9a57-2f0b1c2d3e4f",
            "provider": {"name": "Oura", "slug": "oura", "logo": "https://logo"},
            "source": {"name": "Oura", "slug": "oura", "logo": "https://logo"},
            "external_user_id": "oura-77",
            "resource_availability": {"sleep": {"status": "available"}}
        }
    }))
    .unwrap()
}

#[test]
fn valid_delivery_is_parsed() {
    let body = created_body();
    let ts = now().timestamp();
    let verifier = WebhookVerifier::new([SECRET]).unwrap();
    let event = verifier.verify(&headers(MSG_ID, ts, &sign(SECRET, MSG_ID, ts, &body)), &body, now()).unwrap();
    match &event {
        JunctionEvent::ConnectionCreated(e) => {
            assert_eq!(e.client_user_id, "app-user-1");
            assert_eq!(e.provider.slug, "oura");
            assert_eq!(e.external_user_id.as_deref(), Some("oura-77"));
        }
        other => panic!("{other:?}"),
    }
    insta::assert_json_snapshot!("connection_created_event", event, { ".raw" => "[raw]" });
}

#[test]
fn tolerance_is_five_minutes_both_ways() {
    let body = created_body();
    let verifier = WebhookVerifier::new([SECRET]).unwrap();
    for (offset, ok) in [(-300, true), (300, true), (-301, false), (301, false), (-3600, false)] {
        let ts = (now() + TimeDelta::seconds(offset)).timestamp();
        let result = verifier.verify_parts(MSG_ID, &ts.to_string(), &sign(SECRET, MSG_ID, ts, &body), &body, now());
        assert_eq!(result.is_ok(), ok, "offset {offset}: {result:?}");
        if let Err(err) = result {
            assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "svix-timestamp"), "{err:?}");
        }
    }
}

#[test]
fn tampered_body_and_wrong_secret_are_rejected() {
    let body = created_body();
    let ts = now().timestamp();
    let signature = sign(SECRET, MSG_ID, ts, &body);
    let verifier = WebhookVerifier::new([SECRET]).unwrap();
    let mut tampered = body.clone();
    tampered[20] ^= 1;
    let other_id = verifier.verify_parts("msg_other", &ts.to_string(), &signature, &body, now());
    let cases = [
        verifier.verify_parts(MSG_ID, &ts.to_string(), &signature, &tampered, now()),
        verifier.verify_parts(MSG_ID, &ts.to_string(), &sign(OLD_SECRET, MSG_ID, ts, &body), &body, now()),
        other_id,
    ];
    for result in cases {
        let err = result.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "svix-signature"), "{err:?}");
        assert!(!err.to_string().contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    }
}

#[test]
fn rotated_secrets_are_all_accepted() {
    let body = created_body();
    let ts = now().timestamp();
    let verifier = WebhookVerifier::new([SECRET, OLD_SECRET]).unwrap();
    for secret in [SECRET, OLD_SECRET] {
        verifier.verify_parts(MSG_ID, &ts.to_string(), &sign(secret, MSG_ID, ts, &body), &body, now()).unwrap();
    }
    // Svix lists several signatures during rotation; one match is enough.
    let both = format!("v1,AAAA {} v2,ignored", sign(OLD_SECRET, MSG_ID, ts, &body));
    WebhookVerifier::new([OLD_SECRET]).unwrap().verify_parts(MSG_ID, &ts.to_string(), &both, &body, now()).unwrap();
}

#[test]
fn malformed_headers_are_rejected() {
    let body = created_body();
    let ts = now().timestamp();
    let good = sign(SECRET, MSG_ID, ts, &body);
    let verifier = WebhookVerifier::new([SECRET]).unwrap();
    let cases: Vec<(&str, String, String, &str)> = vec![
        ("", ts.to_string(), good.clone(), "svix-id"),
        (MSG_ID, "yesterday".into(), good.clone(), "svix-timestamp"),
        (MSG_ID, ts.to_string(), "".into(), "svix-signature"),
        (MSG_ID, ts.to_string(), good.replace("v1,", "v2,"), "svix-signature"),
        (MSG_ID, ts.to_string(), "v1,not base64!!".into(), "svix-signature"),
    ];
    for (id, timestamp, signature, field) in cases {
        let err = verifier.verify_parts(id, &timestamp, &signature, &body, now()).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { field: ref f, .. } if f == field), "{field}: {err:?}");
    }
    let mut missing = headers(MSG_ID, ts, &good);
    missing.remove("svix-signature");
    let err = verifier.verify(&missing, &body, now()).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "svix-signature"), "{err:?}");

    for bad in [vec![], vec!["whsec_!!!"], vec!["whsec_"]] {
        assert!(matches!(WebhookVerifier::new(bad), Err(Error::Config { .. })));
    }
    assert!(!format!("{verifier:?}").contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
}

#[test]
fn error_and_unknown_events() {
    let verifier = WebhookVerifier::new([SECRET]).unwrap();
    let ts = now().timestamp();
    let verify =
        |body: &[u8]| verifier.verify_parts(MSG_ID, &ts.to_string(), &sign(SECRET, MSG_ID, ts, body), body, now());

    let body = serde_json::to_vec(&json!({
        "event_type": "provider.connection.error",
        "user_id": "u-1", "client_user_id": "app-user-1", "team_id": "team-1",
        "data": {"provider": "fitbit", "user_id": "u-1", "message": "token refresh failed",
                 "error_type": "token_refresh_failed", "error_details": {"status": 401}}
    }))
    .unwrap();
    match verify(&body).unwrap() {
        JunctionEvent::ConnectionError(e) => {
            assert_eq!(e.provider.slug, "fitbit");
            assert_eq!(e.error_type.as_deref(), Some("token_refresh_failed"));
            assert_eq!(e.message.as_deref(), Some("token refresh failed"));
        }
        other => panic!("{other:?}"),
    }

    let body = br#"{"event_type":"daily.data.sleep.created","data":{"id":1}}"#;
    match verify(body).unwrap() {
        JunctionEvent::Unknown { event_type, raw } => {
            assert_eq!(event_type, "daily.data.sleep.created");
            assert_eq!(raw["data"]["id"], 1);
        }
        other => panic!("{other:?}"),
    }

    for bad in [&b"not json"[..], br#"{"data":{}}"#, br#"{"event_type":"provider.connection.created","data":{}}"#] {
        assert!(matches!(verify(bad), Err(Error::Decode { .. })), "{}", String::from_utf8_lossy(bad));
    }
}
