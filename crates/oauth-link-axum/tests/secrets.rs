//! No state, cookie value or key shows in a body, a redirect to the app, a log line or a
//! `Debug` output.

mod support;

use oauth_link_axum::{CookieKey, LinkRouter};
use oauth_link_testkit::logs::CapturedLogs;
use support::*;

#[tokio::test]
async fn no_secret_leaks_from_any_answer_log_or_debug() {
    let logs = CapturedLogs::default();
    let _guard = logs.install(tracing::Level::TRACE);

    let h = harness(|b| b.failure_url("/failed"));
    let mut answers = Vec::new();
    let mut ada = Browser::signed_in("ada");
    let start = ada.get(&h.app, "/oauth/redirecting/connect/notion").await;
    let back = back_address(start.location());
    let state = url::form_urlencoded::parse(back.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "oauth_link_state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(state.len() > 40, "{state}");
    let sealed: Vec<String> = ada.cookies.values().cloned().collect();
    assert!(sealed.iter().all(|v| !v.contains(&state)), "the cookie holds the state sealed");

    // Every failure the state can meet, browser and JSON.
    let mut mallory = ada.clone();
    mallory.user = Some("mallory".into());
    answers.push(mallory.get(&h.app, &back).await);
    let mut stranger = Browser::signed_in("ada");
    answers.push(stranger.get(&h.app, &back).await);
    stranger.accept_json = true;
    answers.push(stranger.get(&h.app, &back).await);
    let mut tampered = ada.clone();
    for v in tampered.cookies.values_mut() {
        v.insert(3, 'x');
    }
    tampered.accept_json = true;
    answers.push(tampered.get(&h.app, &back).await);
    answers.push(ada.get(&h.app, &format!("{back}&error=access_denied")).await);
    ada.get(&h.app, "/oauth/redirecting/connect/notion").await;
    let mut json = ada.clone();
    json.accept_json = true;
    answers.push(json.get(&h.app, &back).await);

    for answer in &answers {
        let shown = format!("{} {} {:?}", answer.body, answer.location(), answer.headers.get("location"));
        assert!(!shown.contains(&state), "state leaked: {shown}");
        for value in &sealed {
            assert!(!shown.contains(value.as_str()), "cookie value leaked: {shown}");
        }
    }
    let logged = logs.text();
    assert!(!logged.contains(&state), "state logged: {logged}");

    let key = CookieKey::generate();
    let builder = LinkRouter::builder(key.clone(), users()).provider(h.memory.clone());
    let debug = format!("{key:?} {builder:?}");
    assert!(debug.contains("[redacted]") && !debug.contains(&state), "{debug}");
}
