//! The link cookie as the browser holds it: sealed by oauth-link-core's seal module
//! (AES-256-GCM-SIV, the cookie's name as associated data), so nothing in it reads,
//! changes or moves; keys from the state secret, random, and rotated.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use oauth_link_axum::{CookieKey, LinkRouter};
use oauth_link_core::clock::ManualClock;
use oauth_link_core::testing::MemoryProvider;
use oauth_link_core::LinkContext;
use support::*;

const USER: &str = "ada.lovelace@example.com";
const TAMPERED: &str = "the link cookie was altered or comes from another key; start a new link";

/// A router nested under `/oauth` over an auto-approving memory provider on `ctx`.
fn app(key: CookieKey, ctx: &LinkContext) -> Router {
    let memory = Arc::new(MemoryProvider::new(ctx.clone()).auto_approving());
    Router::new().nest("/oauth", LinkRouter::builder(key, users()).provider(memory).build().unwrap())
}

/// The answer is today's refusal of an altered cookie: 400 `state-invalid`, and the
/// cookie `name` is cleared.
fn assert_refused_as_tampered(answer: &Answer, name: &str) {
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{answer:?}");
    assert_eq!(answer.content_type(), "application/problem+json");
    assert_eq!(answer.json()["code"], "state-invalid", "{answer:?}");
    assert_eq!(answer.json()["detail"], TAMPERED);
    let cleared = answer.set_cookies();
    assert!(cleared.iter().any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0")), "{cleared:?}");
}

/// Every base64 reading of `text`: both alphabets, any padding, trailing bits allowed, from
/// each of the four alignments.
fn base64_readings(text: &str) -> Vec<Vec<u8>> {
    let lenient = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let engines = [
        GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient),
        GeneralPurpose::new(&base64::alphabet::STANDARD, lenient),
    ];
    let mut readings = Vec::new();
    for skip in 0..4 {
        let mut part = &text[skip..];
        // A length of 4n + 1 characters is not base64 in any alignment: drop the last one.
        if part.len() % 4 == 1 {
            part = &part[..part.len() - 1];
        }
        let translated = part.replace('-', "+").replace('_', "/");
        for engine in &engines {
            readings.extend(engine.decode(part).ok());
            readings.extend(engine.decode(&translated).ok());
        }
    }
    readings
}

#[tokio::test]
async fn no_claim_reads_from_the_cookie_in_clear_or_in_any_base64_decoding() {
    let h = harness(|b| b);
    let mut ada = Browser::signed_in(USER);
    let start = ada.get(&h.app, "/oauth/redirecting/connect/notion").await;
    let back = back_address(start.location());
    let state = back.split_once("oauth_link_state=").unwrap().1.to_owned();
    let value = ada.cookies.values().next().unwrap().clone();
    assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)), "base64url: {value}");

    let claims = [USER, "ada.lovelace", "notion", "redirecting", state.as_str(), &state[..16]];
    let readings = base64_readings(&value);
    assert!(readings.len() >= 8, "the value decodes as base64: {}", readings.len());
    for text in std::iter::once(value.clone()).chain(readings.iter().map(|r| String::from_utf8_lossy(r).into_owned())) {
        for claim in claims {
            assert!(!text.contains(claim), "{claim} readable in {text:?}");
        }
    }
    // Not a structure either: no JSON punctuation survives in the first reading.
    assert!(!String::from_utf8_lossy(&readings[0]).contains("\":\""), "{:?}", readings[0]);

    // ... and the sealed link still completes.
    ada.accept_json = true;
    assert_eq!(ada.get(&h.app, &back).await.json()["user"], USER);
}

#[tokio::test]
async fn a_value_moved_to_another_cookie_name_is_refused() {
    let h = harness(|b| b);
    let mut ada = Browser { accept_json: true, ..Browser::signed_in(USER) };
    ada.get(&h.app, "/oauth/memory/connect/slack").await;
    let (name, value) = ada.cookies.pop_first().unwrap();
    let moved = "oauth_link_pending_0123456789abcdef";
    assert_ne!(name, moved);
    ada.cookies.insert(moved.to_owned(), value.clone());
    assert_refused_as_tampered(&ada.get(&h.app, "/oauth/memory/callback").await, moved);

    // Two links whose values swap names: neither opens.
    let mut bob = Browser { accept_json: true, ..Browser::signed_in("bob") };
    bob.get(&h.app, "/oauth/memory/connect/slack").await;
    bob.get(&h.app, "/oauth/memory/connect/notion").await;
    let names: Vec<String> = bob.cookies.keys().cloned().collect();
    let values: Vec<String> = bob.cookies.values().cloned().collect();
    bob.cookies = names.iter().cloned().zip(values.into_iter().rev()).collect();
    let swapped = bob.get(&h.app, "/oauth/memory/callback").await;
    for name in &names {
        assert_refused_as_tampered(&swapped, name);
    }
}

#[tokio::test]
async fn every_altered_character_cut_or_extension_is_refused_as_tampered() {
    let h = harness(|b| b);
    let mut ada = Browser { accept_json: true, ..Browser::signed_in(USER) };
    ada.get(&h.app, "/oauth/memory/connect/slack").await;
    let (name, value) = ada.cookies.first_key_value().map(|(k, v)| (k.clone(), v.clone())).unwrap();
    let mut forgeries: Vec<String> = (0..value.len())
        .map(|i| {
            let mut bytes = value.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            String::from_utf8(bytes).unwrap()
        })
        .collect();
    forgeries.extend([&value[..value.len() - 1], &value[1..], &value[..40]].map(str::to_owned));
    forgeries.extend([format!("{value}A"), format!("{value}AAAA"), "!!".into(), "x".repeat(value.len())]);
    for forged in forgeries {
        let mut mallory = ada.clone();
        mallory.cookies.insert(name.clone(), forged);
        assert_refused_as_tampered(&mallory.get(&h.app, "/oauth/memory/callback").await, &name);
    }
    // The untouched cookie still completes the link.
    assert_eq!(ada.get(&h.app, "/oauth/memory/callback").await.status, StatusCode::OK);
}

#[tokio::test]
async fn keys_from_the_state_secret_and_random_keys_both_work() {
    let ctx = support::context(&ManualClock::starting_now());
    let secret = b"the app's state secret, 32 bytes or more, from the environment";
    // Two instances that each derive the key from the same secret share their cookies.
    let (first, second) =
        (app(CookieKey::derive_from(secret).unwrap(), &ctx), app(CookieKey::derive_from(secret).unwrap(), &ctx));
    let mut ada = Browser { accept_json: true, ..Browser::signed_in(USER) };
    ada.get(&first, "/oauth/memory/connect/slack").await;
    assert_eq!(ada.get(&second, "/oauth/memory/callback").await.status, StatusCode::OK);

    let random = app(CookieKey::generate(), &ctx);
    ada.get(&random, "/oauth/memory/connect/slack").await;
    let kept = ada.cookies.clone();
    assert_eq!(ada.get(&random, "/oauth/memory/callback").await.status, StatusCode::OK);
    // A random key is its own: another instance's key does not open its cookies.
    ada.cookies = kept;
    let name = ada.cookies.keys().next().unwrap().clone();
    assert_refused_as_tampered(&ada.get(&first, "/oauth/memory/callback").await, &name);
}

#[tokio::test]
async fn after_a_rotation_cookies_sealed_with_the_previous_key_still_open() {
    let ctx = support::context(&ManualClock::starting_now());
    let (old, new) = (CookieKey::generate(), CookieKey::generate());
    let before = app(old.clone(), &ctx);
    let rotated = app(new.clone().with_previous(&old), &ctx);
    let forgotten = app(new, &ctx);

    let mut ada = Browser { accept_json: true, ..Browser::signed_in(USER) };
    ada.get(&before, "/oauth/memory/connect/slack").await;
    let sealed_before = ada.cookies.clone();
    let name = sealed_before.keys().next().unwrap().clone();
    assert_refused_as_tampered(&ada.get(&forgotten, "/oauth/memory/callback").await, &name);
    ada.cookies = sealed_before;
    let done = ada.get(&rotated, "/oauth/memory/callback").await;
    assert_eq!((done.status, done.json()["user"].as_str()), (StatusCode::OK, Some(USER)), "{done:?}");

    // What the rotated instance seals, the new key alone opens; the old one does not.
    ada.get(&rotated, "/oauth/memory/connect/notion").await;
    let sealed_after = ada.cookies.clone();
    let name = sealed_after.keys().next().unwrap().clone();
    assert_refused_as_tampered(&ada.get(&before, "/oauth/memory/callback").await, &name);
    ada.cookies = sealed_after;
    assert_eq!(ada.get(&forgotten, "/oauth/memory/callback").await.json()["target"], "notion");
}
