//! Every route and every error of the router, through `tower::ServiceExt::oneshot`.

mod support;

use axum::http::StatusCode;
use axum::Router;
use oauth_link_axum::{BuildError, CookieKey, LinkRouter, LinkRouterBuilder};
use support::*;

fn problem_code(answer: &Answer) -> String {
    assert_eq!(answer.content_type(), "application/problem+json", "{answer:?}");
    let body = answer.json();
    assert_eq!(body["type"], format!("urn:oauth-link:problem:{}", body["code"].as_str().unwrap()));
    assert_eq!(body["status"], answer.status.as_u16());
    body["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn hosted_flow_sets_a_sealed_cookie_and_completes_to_the_success_url() {
    let h = harness(|b| b.success_url("/connected").failure_url("/failed"));
    let mut ada = Browser::signed_in("ada");
    let start = ada.get(&h.app, "/oauth/memory/connect/slack").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    assert!(start.location().starts_with("https://memory.oauth-link.invalid/consent?"), "{}", start.location());
    let cookies = start.set_cookies();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = &cookies[0];
    assert!(cookie.starts_with("oauth_link_pending_"), "{cookie}");
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/oauth"] {
        assert!(cookie.split("; ").any(|a| a == attribute), "{attribute} missing: {cookie}");
    }
    let max_age: i64 = cookie.split("; ").find_map(|a| a.strip_prefix("Max-Age=")).unwrap().parse().unwrap();
    assert!((590..=600).contains(&max_age), "Max-Age is the link's remaining lifetime: {max_age}");
    // Sealed: the browser reads no claim.
    let value = cookie.split(';').next().unwrap().split_once('=').unwrap().1;
    for claim in ["ada", "slack", "memory", "v1."] {
        assert!(!value.contains(claim), "{claim} readable in {value}");
    }
    assert_eq!(start.headers["cache-control"], "no-store");
    assert_eq!(start.headers["referrer-policy"], "no-referrer");

    let done = ada.get(&h.app, "/oauth/memory/callback").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{done:?}");
    assert_eq!(done.location(), "/connected?provider=memory&connection=mem_1&target=slack");
    let cleared = done.set_cookies();
    assert!(cleared[0].contains("Max-Age=0") && cleared[0].contains("Path=/oauth"), "{cleared:?}");
    assert!(ada.cookies.is_empty());

    ada.accept_json = true;
    let list = ada.get(&h.app, "/oauth/memory/connections").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json()[0]["id"], "mem_1");
    assert_eq!(list.json()[0]["user"], "ada");
}

#[tokio::test]
async fn app_redirect_flow_returns_to_the_routers_own_callback_and_answers_json() {
    let h = harness(|b| b);
    let mut ada = Browser::signed_in("ada");
    let start = ada.post(&h.app, "/oauth/redirecting/connect/notion", "scope=read&params=workspace%3Dw1").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{start:?}");
    let back = back_address(start.location());
    assert!(back.starts_with("/oauth/redirecting/callback?oauth_link_state="), "{back}");
    ada.accept_json = true;
    let done = ada.get(&h.app, &back).await;
    assert_eq!(done.status, StatusCode::OK, "{done:?}");
    assert_eq!(done.json()["target"], "notion");
    assert_eq!(done.json()["user"], "ada");
}

#[tokio::test]
async fn connect_answers_json_for_api_clients() {
    let h = harness(|b| b);
    let mut ada = Browser { accept_json: true, ..Browser::signed_in("ada") };
    let start = ada.get(&h.app, "/oauth/memory/connect/github?scope=repo").await;
    assert_eq!(start.status, StatusCode::OK);
    let body = start.json();
    assert_eq!(body["provider"], "memory");
    assert!(body["url"].as_str().unwrap().starts_with("https://memory.oauth-link.invalid/"));
    assert!(body.get("state").is_none(), "{body}");
    assert_eq!(ada.cookies.len(), 1);
}

#[tokio::test]
async fn missing_tampered_foreign_expired_and_replayed_states_are_refused() {
    let h = harness(|b| b);
    let mut ada = Browser { accept_json: true, ..Browser::signed_in("ada") };

    // Missing: no link in progress.
    let missing = ada.get(&h.app, "/oauth/memory/callback").await;
    assert_eq!((missing.status, problem_code(&missing).as_str()), (StatusCode::BAD_REQUEST, "state-missing"));
    insta::assert_json_snapshot!("state_missing", missing.json());

    // Tampered: one character of the sealed value changed; the cookie is also cleared.
    ada.get(&h.app, "/oauth/memory/connect/slack").await;
    let (name, value) = ada.cookies.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap();
    let mut bytes = value.into_bytes();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    ada.cookies.insert(name.clone(), String::from_utf8(bytes).unwrap());
    let tampered = ada.get(&h.app, "/oauth/memory/callback").await;
    assert_eq!((tampered.status, problem_code(&tampered).as_str()), (StatusCode::BAD_REQUEST, "state-invalid"));
    assert!(tampered.set_cookies().iter().any(|c| c.starts_with(&format!("{name}=;")) && c.contains("Max-Age=0")));
    insta::assert_json_snapshot!("state_tampered", tampered.json());

    // A cookie sealed with another key (another deployment) is no better.
    let other = harness(|b| b);
    let mut elsewhere = Browser::signed_in("ada");
    elsewhere.get(&other.app, "/oauth/memory/connect/slack").await;
    ada.cookies = elsewhere.cookies.clone();
    let foreign_key = ada.get(&h.app, "/oauth/memory/callback").await;
    assert_eq!(problem_code(&foreign_key), "state-invalid");

    // Foreign: an app-redirect callback carrying a state this browser did not start.
    let mut eve = Browser::signed_in("eve");
    let eves = eve.get(&h.app, "/oauth/redirecting/connect/notion").await;
    let mut ada = Browser { accept_json: true, ..Browser::signed_in("ada") };
    ada.get(&h.app, "/oauth/redirecting/connect/notion").await;
    let foreign = ada.get(&h.app, &back_address(eves.location())).await;
    assert_eq!((foreign.status, problem_code(&foreign).as_str()), (StatusCode::BAD_REQUEST, "state-invalid"));
    insta::assert_json_snapshot!("state_foreign", foreign.json());
    // ... and eve's link is still intact.
    eve.accept_json = true;
    assert_eq!(eve.get(&h.app, &back_address(eves.location())).await.status, StatusCode::OK);

    // Expired: the link outlived its ten minutes.
    let mut ada = Browser { accept_json: true, ..Browser::signed_in("ada") };
    ada.get(&h.app, "/oauth/memory/connect/slack").await;
    h.clock.advance(TEN_MINUTES_AND_A_BIT);
    let expired = ada.get(&h.app, "/oauth/memory/callback").await;
    assert_eq!((expired.status, problem_code(&expired).as_str()), (StatusCode::BAD_REQUEST, "state-expired"));
    insta::assert_json_snapshot!("state_expired", expired.json(), { ".detail" => "[expired at a time]" });
    assert!(ada.cookies.is_empty(), "a dead link's cookie is cleared");

    // Replayed: the same cookie played again after the link completed.
    let mut ada = Browser { accept_json: true, ..Browser::signed_in("ada") };
    ada.get(&h.app, "/oauth/memory/connect/slack").await;
    let kept = ada.cookies.clone();
    assert_eq!(ada.get(&h.app, "/oauth/memory/callback").await.status, StatusCode::OK);
    ada.cookies = kept;
    let replayed = ada.get(&h.app, "/oauth/memory/callback").await;
    assert_eq!((replayed.status, problem_code(&replayed).as_str()), (StatusCode::CONFLICT, "state-replayed"));
    insta::assert_json_snapshot!("state_replayed", replayed.json());
}

#[tokio::test]
async fn a_link_started_by_one_user_is_refused_to_another_and_left_intact() {
    let h = harness(|b| b);
    for (kind, target) in [("memory", "slack"), ("redirecting", "notion")] {
        let mut browser = Browser::signed_in("ada");
        let start = browser.get(&h.app, &format!("/oauth/{kind}/connect/{target}")).await;
        browser.accept_json = true;
        let callback = match kind {
            "memory" => format!("/oauth/{kind}/callback"),
            _ => back_address(start.location()),
        };
        // Same browser, now signed in as mallory (session fixation / shared computer).
        browser.user = Some("mallory".into());
        let refused = browser.get(&h.app, &callback).await;
        assert_eq!((refused.status, problem_code(&refused).as_str()), (StatusCode::FORBIDDEN, "state-user-mismatch"));
        if kind == "memory" {
            insta::assert_json_snapshot!("state_user_mismatch", refused.json());
        }
        // Nothing of ada's was consumed: she completes her link.
        browser.user = Some("ada".into());
        let done = browser.get(&h.app, &callback).await;
        assert_eq!(done.status, StatusCode::OK, "{done:?}");
        assert_eq!(done.json()["user"], "ada");
    }
}

#[tokio::test]
async fn nobody_signed_in_unknown_provider_routes_and_methods() {
    let h = harness(|b| b);
    let mut anon = Browser::default();
    for uri in [
        "/oauth/memory/connect/slack",
        "/oauth/memory/callback",
        "/oauth/memory/connections",
        "/oauth/redirecting/connections",
    ] {
        let answer = anon.get(&h.app, uri).await;
        assert_eq!(
            (answer.status, problem_code(&answer).as_str()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{uri}"
        );
    }
    let answer = anon.get(&h.app, "/oauth/memory/connect/slack").await;
    insta::assert_json_snapshot!("unauthenticated", answer.json());
    let mut ada = Browser::signed_in("ada");
    let unknown = ada.get(&h.app, "/oauth/nope/connect/slack").await;
    assert_eq!((unknown.status, problem_code(&unknown).as_str()), (StatusCode::NOT_FOUND, "unknown-provider"));
    insta::assert_json_snapshot!("unknown_provider", unknown.json());
    let route = ada.get(&h.app, "/oauth/memory/elsewhere").await;
    assert_eq!((route.status, problem_code(&route).as_str()), (StatusCode::NOT_FOUND, "not-found"));
    let req = ada.request("PUT", "/oauth/memory/callback", None);
    let method = ada.send(&h.app, req).await;
    assert_eq!((method.status, problem_code(&method).as_str()), (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed"));
}

#[tokio::test]
async fn bad_input_is_a_problem_and_request_fields_cannot_choose_user_or_redirect() {
    let h = harness(|b| b);
    let mut ada = Browser { accept_json: true, ..Browser::signed_in("ada") };
    for (uri, field) in [
        ("/oauth/memory/connect/slack?user=eve", "user"),
        ("/oauth/redirecting/connect/notion?redirect_uri=https%3A%2F%2Fevil.example%2F", "redirect_uri"),
        ("/oauth/memory/connect/slack?params=novalue", "params"),
        (&*format!("/oauth/memory/connect/{}", "t".repeat(300)), "target"),
    ] {
        let answer = ada.get(&h.app, uri).await;
        assert_eq!(
            (answer.status, problem_code(&answer).as_str()),
            (StatusCode::BAD_REQUEST, "invalid-input"),
            "{uri}"
        );
        assert!(answer.json()["detail"].as_str().unwrap().contains(field), "{uri}: {}", answer.body);
        assert!(ada.cookies.is_empty());
    }
    let answer = ada.get(&h.app, "/oauth/memory/connect/slack?user=eve").await;
    insta::assert_json_snapshot!("invalid_input", answer.json());
    let too_long = format!("/oauth/memory/callback?x={}", "a".repeat(17 * 1024));
    assert_eq!(problem_code(&ada.get(&h.app, &too_long).await), "invalid-input");
}

#[tokio::test]
async fn failures_go_to_the_failure_url_with_class_and_code_and_nothing_else() {
    let h = harness(|b| b.success_url("https://app.example/ok?tab=links").failure_url("/failed"));
    let mut ada = Browser::signed_in("ada");
    // Request input that tries to steer the browser elsewhere is ignored.
    let missing =
        ada.get(&h.app, "/oauth/memory/callback?next=https%3A%2F%2Fevil.example&return_to=%2F%2Fevil.example").await;
    assert_eq!(missing.status, StatusCode::SEE_OTHER);
    assert_eq!(missing.location(), "/failed?provider=memory&error=caller&code=state-missing");
    // A denial at the platform.
    let start = ada.get(&h.app, "/oauth/redirecting/connect/notion").await;
    let denied = ada.get(&h.app, &format!("{}&error=access_denied", back_address(start.location()))).await;
    assert_eq!(denied.location(), "/failed?provider=redirecting&error=rejected&code=denied");
    assert!(ada.cookies.is_empty(), "a denied link's cookie is cleared");
    // Success keeps the configured query.
    let start = ada.get(&h.app, "/oauth/redirecting/connect/notion").await;
    let done = ada.get(&h.app, &back_address(start.location())).await;
    assert_eq!(done.location(), "https://app.example/ok?tab=links&provider=redirecting&connection=red_1&target=notion");
    // Not signed in, a browser is sent to the failure page too.
    let anon = Browser::default().get(&h.app, "/oauth/memory/connect/slack").await;
    assert_eq!(anon.location(), "/failed?provider=memory&error=caller&code=unauthenticated");
}

#[tokio::test]
async fn open_redirect_targets_and_bad_settings_are_refused_at_build_time() {
    type Configure = fn(LinkRouterBuilder) -> LinkRouterBuilder;
    let build = |f: Configure| {
        let h = harness(|b| b);
        f(LinkRouter::builder(CookieKey::generate(), users()).provider(h.memory.clone())).build::<()>().map(|_| ())
    };
    let cases: [(Configure, &str); 5] = [
        (|b| b.success_url("//evil.example/x"), "success_url"),
        (|b| b.failure_url("/\\evil.example"), "failure_url"),
        (|b| b.success_url("javascript:alert(1)"), "success_url"),
        (|b| b.failure_url("evil.example"), "failure_url"),
        (|b| b.success_url("https://u:p@app.example/"), "success_url"),
    ];
    for (f, which) in cases {
        match build(f) {
            Err(BuildError::UnsafeReturnUrl { which: w, .. }) => assert_eq!(w, which),
            other => panic!("expected UnsafeReturnUrl for {which}, got {other:?}"),
        }
    }
    assert!(matches!(build(|b| b.max_pending_links(0)), Err(BuildError::MaxPendingLinks { got: 0 })));
    assert!(matches!(build(|b| b.public_url("/oauth")), Err(BuildError::PublicUrl { .. })));
    let h = harness(|b| b);
    let no_public = LinkRouter::builder(CookieKey::generate(), users()).provider_returning_here(h.redirecting.clone());
    assert!(matches!(no_public.build::<()>(), Err(BuildError::PublicUrlRequired { kind: "redirecting" })));
    let twice =
        LinkRouter::builder(CookieKey::generate(), users()).provider(h.memory.clone()).provider(h.memory.clone());
    assert!(matches!(twice.build::<()>(), Err(BuildError::DuplicateProvider { kind: "memory" })));
    assert!(matches!(LinkRouter::builder(CookieKey::generate(), users()).build::<()>(), Err(BuildError::NoProvider)));
    let err = build(|b| b.success_url("//evil.example/x")).unwrap_err().to_string();
    insta::assert_snapshot!("unsafe_return_url", err);
}

#[tokio::test]
async fn connections_are_listed_and_only_ones_own_can_be_removed() {
    let h = harness(|b| b.success_url("/connected"));
    let mut ada = Browser { accept_json: true, ..Browser::signed_in("ada") };
    let mut bob = Browser { accept_json: true, ..Browser::signed_in("bob") };
    for browser in [&mut ada, &mut bob] {
        browser.get(&h.app, "/oauth/memory/connect/slack").await;
        assert_eq!(browser.get(&h.app, "/oauth/memory/callback").await.status, StatusCode::OK);
    }
    let filtered = ada.get(&h.app, "/oauth/memory/connections?target=github").await;
    assert_eq!(filtered.json(), serde_json::json!([]));
    // Ada cannot remove Bob's connection (mem_2) by naming its id.
    let req = ada.request("DELETE", "/oauth/memory/connections/mem_2", None);
    let foreign = ada.send(&h.app, req).await;
    assert_eq!((foreign.status, problem_code(&foreign).as_str()), (StatusCode::NOT_FOUND, "not-found"));
    insta::assert_json_snapshot!("connection_not_found", foreign.json());
    let req = ada.request("DELETE", "/oauth/memory/connections/mem_1", None);
    assert_eq!(ada.send(&h.app, req).await.status, StatusCode::NO_CONTENT);
    assert_eq!(ada.get(&h.app, "/oauth/memory/connections").await.json(), serde_json::json!([]));
    assert_eq!(bob.get(&h.app, "/oauth/memory/connections").await.json()[0]["id"], "mem_2");
    // The HTML-form variant goes back to the success URL.
    bob.accept_json = false;
    let removed = bob.post(&h.app, "/oauth/memory/connections/mem_2/disconnect", "").await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(removed.location(), "/connected?provider=memory&disconnected=mem_2");
    // The catalogue.
    let targets = ada.get(&h.app, "/oauth/memory/targets").await;
    assert_eq!(targets.json()[0]["id"], "slack");
}

#[tokio::test]
async fn the_connect_route_reconnects_the_signed_in_users_own_connection() {
    let h = harness(|b| b.success_url("/connected").failure_url("/failed"));
    let mut ada = Browser::signed_in("ada");
    ada.get(&h.app, "/oauth/memory/connect/slack").await;
    assert_eq!(
        ada.get(&h.app, "/oauth/memory/callback").await.location(),
        "/connected?provider=memory&connection=mem_1&target=slack"
    );
    // A form's Reconnect button: the connection to re-authorise, its target in the path.
    let start = ada.post(&h.app, "/oauth/memory/connect/slack", "reconnect=mem_1").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{start:?}");
    let done = ada.get(&h.app, "/oauth/memory/callback").await;
    assert_eq!(done.location(), "/connected?provider=memory&connection=mem_1&target=slack", "the same id");
    ada.accept_json = true;
    let listed = ada.get(&h.app, "/oauth/memory/connections").await.json();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    // Another user cannot re-authorise Ada's connection; a target it is not to is refused.
    let mut bob = Browser { accept_json: true, ..Browser::signed_in("bob") };
    let foreign = bob.post(&h.app, "/oauth/memory/connect/slack", "reconnect=mem_1").await;
    assert_eq!((foreign.status, problem_code(&foreign).as_str()), (StatusCode::NOT_FOUND, "not-found"));
    let wrong = ada.post(&h.app, "/oauth/memory/connect/github", "reconnect=mem_1").await;
    assert_eq!(problem_code(&wrong), "invalid-input");
    assert!(bob.cookies.is_empty(), "no link was started");
}

#[tokio::test]
async fn cross_site_posts_and_deletes_are_refused() {
    let h = harness(|b| b);
    let ada = Browser::signed_in("ada");
    let mut req = ada.request("POST", "/oauth/memory/connect/slack", Some(""));
    req.headers_mut().insert("origin", "https://evil.example".parse().unwrap());
    req.headers_mut().insert("host", "app.example".parse().unwrap());
    let answer = send(&h.app, req).await;
    assert_eq!((answer.status, problem_code(&answer).as_str()), (StatusCode::FORBIDDEN, "cross-site-request"));
    insta::assert_json_snapshot!("cross_site", answer.json());
    let mut req = ada.request("DELETE", "/oauth/memory/connections/mem_1", None);
    req.headers_mut().insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(problem_code(&send(&h.app, req).await), "cross-site-request");
    // A same-origin form under Referrer-Policy: no-referrer: Origin null, Sec-Fetch-Site says.
    let mut req = ada.request("POST", "/oauth/memory/connect/slack", Some(""));
    req.headers_mut().insert("origin", "null".parse().unwrap());
    let refused = send(&h.app, req).await;
    assert_eq!(problem_code(&refused), "cross-site-request", "no Sec-Fetch-Site: an opaque origin is refused");
    let mut req = ada.request("POST", "/oauth/memory/connect/slack", Some(""));
    req.headers_mut().insert("origin", "null".parse().unwrap());
    req.headers_mut().insert("sec-fetch-site", "same-origin".parse().unwrap());
    assert_eq!(send(&h.app, req).await.status, StatusCode::SEE_OTHER);
    // Same origin (Host, or the public URL behind a proxy) passes.
    for (origin, host) in [("http://localhost:3000", "localhost:3000"), ("https://app.example", "internal:8080")] {
        let mut req = ada.request("POST", "/oauth/memory/connect/slack", Some(""));
        req.headers_mut().insert("origin", origin.parse().unwrap());
        req.headers_mut().insert("host", host.parse().unwrap());
        assert_eq!(send(&h.app, req).await.status, StatusCode::SEE_OTHER, "{origin}");
    }
}

#[tokio::test]
async fn links_in_progress_are_bounded_the_oldest_evicted() {
    let h = harness(|b| b.max_pending_links(2));
    let mut ada = Browser::signed_in("ada");
    ada.get(&h.app, "/oauth/memory/connect/slack").await;
    let first: Vec<String> = ada.cookies.keys().cloned().collect();
    ada.get(&h.app, "/oauth/memory/connect/github").await;
    assert_eq!(ada.cookies.len(), 2);
    let third = ada.get(&h.app, "/oauth/memory/connect/shopify?param.shopSubdomain=s").await;
    assert_eq!(ada.cookies.len(), 2, "{:?}", third.set_cookies());
    assert!(!ada.cookies.contains_key(&first[0]), "the oldest link's cookie went");
    // The newest hosted link is the one a callback completes.
    ada.accept_json = true;
    assert_eq!(ada.get(&h.app, "/oauth/memory/callback").await.json()["target"], "shopify");
}

#[tokio::test]
async fn cookie_path_follows_the_nesting_without_a_public_url_and_layers_apply() {
    let h = harness(|b| b);
    let links =
        LinkRouter::builder(h.key.clone(), users()).provider(h.memory.clone()).secure_cookies(false).build().unwrap();
    let app: Router =
        Router::new().nest("/account/links", links).layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            axum::http::HeaderName::from_static("x-layer"),
            axum::http::HeaderValue::from_static("yes"),
        ));
    let mut ada = Browser::signed_in("ada");
    let start = ada.get(&app, "/account/links/memory/connect/slack").await;
    let cookie = &start.set_cookies()[0];
    assert!(cookie.contains("Path=/account/links") && !cookie.contains("Secure"), "{cookie}");
    assert_eq!(start.headers["x-layer"], "yes");
}

#[tokio::test]
async fn instances_sharing_a_context_and_key_complete_a_link_once() {
    // Two app instances: the same cookie key and the same LinkContext (its replay guard is
    // what a Redis guard makes shared in production).
    let h = harness(|b| b);
    let second = LinkRouter::builder(h.key.clone(), users())
        .provider(std::sync::Arc::new(oauth_link_core::testing::MemoryProvider::new(h.ctx.clone()).auto_approving()))
        .build()
        .unwrap();
    let second: Router = Router::new().nest("/oauth", second);
    let mut ada = Browser { accept_json: true, ..Browser::signed_in("ada") };
    ada.get(&h.app, "/oauth/memory/connect/slack").await;
    let kept = ada.cookies.clone();
    assert_eq!(ada.get(&second, "/oauth/memory/callback").await.status, StatusCode::OK);
    ada.cookies = kept;
    assert_eq!(problem_code(&ada.get(&h.app, "/oauth/memory/callback").await), "state-replayed");
}

#[tokio::test]
async fn a_transient_failure_keeps_the_link_for_a_retry() {
    let clock = oauth_link_core::clock::ManualClock::starting_now();
    let ctx = context(&clock);
    let memory = std::sync::Arc::new(oauth_link_core::testing::MemoryProvider::new(ctx).auto_approving());
    let links = LinkRouter::builder(CookieKey::generate(), users()).provider(memory.clone()).build().unwrap();
    let app: Router = Router::new().nest("/oauth", links);
    let mut ada = Browser { accept_json: true, ..Browser::signed_in("ada") };
    ada.get(&app, "/oauth/memory/connect/slack").await;
    memory.fail_next(503);
    let failed = ada.get(&app, "/oauth/memory/callback").await;
    assert_eq!((failed.status, problem_code(&failed).as_str()), (StatusCode::BAD_GATEWAY, "platform-error"));
    insta::assert_json_snapshot!("platform_error", failed.json());
    assert_eq!(ada.cookies.len(), 1, "the state was released, the cookie kept");
    assert_eq!(ada.get(&app, "/oauth/memory/callback").await.status, StatusCode::OK);
    memory.fail_next(429);
    let limited = ada.get(&app, "/oauth/memory/connections").await;
    assert_eq!((limited.status, problem_code(&limited).as_str()), (StatusCode::TOO_MANY_REQUESTS, "rate-limited"));
}
