//! Junction Link emulation over real HTTP.

mod support;

use std::time::Duration;

use oauth_link_sandbox::SandboxConfig;
use serde_json::json;
use support::{q, query_of, start, T};

async fn user(t: &T, cuid: &str) -> String {
    let r = t.junction("POST", "/v2/user", Some(&json!({"client_user_id": cuid}))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["user_id"].as_str().unwrap().to_string()
}

async fn token(t: &T, body: serde_json::Value) -> (String, String) {
    let r = t.junction("POST", "/v2/link/token", Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    (v["link_token"].as_str().unwrap().to_string(), v["link_web_url"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn auth_validation_and_user_exists() {
    let t = start(SandboxConfig::default()).await;
    let r = t.req("POST", "/junction/v2/user", &[], Some(&json!({"client_user_id": "x"}))).await;
    assert_eq!(r.status, 401);
    assert!(r.json()["detail"].is_string());
    let r = t
        .req("POST", "/junction/v2/user", &[("x-vital-api-key", "sk_us_other")], Some(&json!({"client_user_id": "x"})))
        .await;
    assert_eq!(r.status, 401);

    let r = t.junction("POST", "/v2/user", Some(&json!({}))).await;
    assert_eq!(r.status, 422);
    let d = &r.json()["detail"][0];
    assert_eq!(d["loc"], json!(["body", "client_user_id"]));
    assert_eq!(d["type"], "missing");
    assert!(d["msg"].is_string());

    let first = t.junction("POST", "/v2/user", Some(&json!({"client_user_id": "app-user-1"}))).await.json();
    assert_eq!(first["client_user_id"], "app-user-1");
    assert!(first["team_id"].is_string() && first["connected_sources"].is_array());
    let r = t.junction("POST", "/v2/user", Some(&json!({"client_user_id": "app-user-1"}))).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.json(),
        json!({"detail": {
            "error_type": "INVALID_REQUEST",
            "error_message": "Client user id already exists.",
            "user_id": first["user_id"],
            "created_on": first["created_on"],
        }})
    );
    let resolved = t.junction("GET", "/v2/user/resolve/app-user-1", None).await.json();
    assert_eq!(resolved["user_id"], first["user_id"]);
    assert_eq!(t.junction("GET", "/v2/user/resolve/nobody", None).await.status, 404);

    let r = t.junction("POST", "/v2/link/token", Some(&json!({"user_id": "not-a-uuid"}))).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["loc"], json!(["body", "user_id"]));
    let uid = first["user_id"].as_str().unwrap();
    let r = t.junction("POST", "/v2/link/token", Some(&json!({"user_id": uid, "provider": "myspace"}))).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["type"], "enum");
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn oauth_flow_single_use_token_and_deregister() {
    let t = start(SandboxConfig::default()).await;
    let uid = user(&t, "u-oauth").await;
    let (tok, _web) =
        token(&t, json!({"user_id": uid, "provider": "oura", "redirect_url": "https://app.example/jx?session=9"}))
            .await;

    // No API key needed, only the link token.
    let r = t.req("GET", "/junction/v2/link/provider/oauth/oura", &[("x-vital-link-token", &tok)], None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let src = r.json();
    for k in ["id", "name", "slug", "description", "logo", "oauth_url", "auth_type", "source_type", "is_active"] {
        assert!(!src[k].is_null(), "{k} in {src}");
    }
    assert_eq!(src["slug"], "oura");
    let oauth_url = src["oauth_url"].as_str().unwrap().to_string();
    let html = t.consent_page(&oauth_url).await;
    assert!(html.contains("Oura"));
    // Password providers are not OAuth providers.
    let r = t.req("GET", "/junction/v2/link/provider/oauth/peloton", &[("x-vital-link-token", &tok)], None).await;
    assert_eq!(r.status, 422);

    let r = t.form(&t.action(&oauth_url, "approve"), &[("provider", "oura")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "https://app.example/jx?session=9&state=success");

    let p = t.junction("GET", &format!("/v2/user/providers/{uid}"), None).await.json();
    let prov = &p["providers"][0];
    assert_eq!(prov["slug"], "oura");
    assert_eq!(prov["status"], "connected");
    for k in ["name", "logo", "created_on", "resource_availability"] {
        assert!(!prov[k].is_null(), "{k} in {prov}");
    }

    // Single use.
    let r = t.form(&t.action(&oauth_url, "approve"), &[("provider", "oura")]).await;
    assert_eq!(r.status, 303);
    let qp = query_of(&r.location());
    assert_eq!(q(&qp, "state"), Some("error"));
    assert_eq!(q(&qp, "error_type"), Some("token_consumed"));
    let r = t.req("GET", "/junction/v2/link/provider/oauth/oura", &[("x-vital-link-token", &tok)], None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["detail"]["error_type"], "token_consumed");

    let r = t.junction("DELETE", &format!("/v2/user/{uid}/oura"), None).await;
    assert_eq!(r.json(), json!({"success": true}));
    assert_eq!(t.junction("GET", &format!("/v2/user/providers/{uid}"), None).await.json(), json!({"providers": []}));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn deny_and_expiry() {
    let t = start(SandboxConfig::default().junction_link_lifetime(Duration::from_secs(60))).await;
    let uid = user(&t, "u-deny").await;
    let (_tok, web) = token(
        &t,
        json!({"user_id": uid, "provider": "fitbit", "redirect_url": "https://app.example/jx", "on_close": "redirect"}),
    )
    .await;
    t.consent_page(&web).await;
    let r = t.form(&t.action(&web, "deny"), &[]).await;
    assert_eq!(r.status, 303);
    let qp = query_of(&r.location());
    assert_eq!(q(&qp, "state"), Some("error"));
    assert_eq!(q(&qp, "error_type"), Some("user_cancelled"));
    assert!(q(&qp, "error").is_some());

    let (tok, web) =
        token(&t, json!({"user_id": uid, "provider": "fitbit", "redirect_url": "https://app.example/jx"})).await;
    t.sb.sandbox().advance_clock(Duration::from_secs(61));
    let r = t.req("GET", "/junction/v2/link/provider/oauth/fitbit", &[("x-vital-link-token", &tok)], None).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["detail"]["error_type"], "token_expired");
    let r = t.req("GET", &web, &[], None).await;
    assert_eq!(r.status, 307);
    assert_eq!(q(&query_of(&r.location()), "error_type"), Some("token_expired"));
    let r = t.form(&t.action(&web, "approve"), &[]).await;
    assert_eq!(q(&query_of(&r.location()), "error_type"), Some("token_expired"));
    assert_eq!(t.junction("GET", &format!("/v2/user/providers/{uid}"), None).await.json()["providers"], json!([]));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn password_provider_through_link_web_url() {
    let t = start(SandboxConfig::default()).await;
    let uid = user(&t, "u-pw").await;
    let (_tok, web) = token(&t, json!({"user_id": uid, "redirect_url": "https://app.example/jx"})).await;
    let html = t.consent_page(&web).await;
    assert!(html.contains(r#"<option value="peloton">"#), "provider picker");
    let r = t.form(&t.action(&web, "approve"), &[("provider", "peloton"), ("username", "rider@example.com")]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "https://app.example/jx?state=success");
    let p = t.junction("GET", &format!("/v2/user/providers/{uid}"), None).await.json();
    assert_eq!(p["providers"][0]["slug"], "peloton");
    assert_eq!(p["providers"][0]["external_user_id"], "rider@example.com");
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn on_close_decides_whether_close_returns_to_the_app() {
    let t = start(SandboxConfig::default()).await;
    let uid = user(&t, "u-close").await;
    for (field, bad) in [("on_close", json!("yes")), ("on_error", json!(1)), ("on_close", json!(true))] {
        let r = t.junction("POST", "/v2/link/token", Some(&json!({"user_id": uid, field: bad}))).await;
        assert_eq!(r.status, 422, "{field}={bad}");
        let d = &r.json()["detail"][0];
        assert_eq!((d["type"].as_str(), d["loc"].clone()), (Some("literal_error"), json!(["body", field])));
    }
    // Without on_close, Close leaves the user on a Junction page: the app never hears back.
    let (tok, web) =
        token(&t, json!({"user_id": uid, "provider": "oura", "redirect_url": "https://app.example/jx"})).await;
    let r = t.form(&t.action(&web, "deny"), &[]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("location").is_none());
    assert!(r.text().contains("Junction Link"), "{}", r.text());
    // Closing does not spend the token: only a successful connection does.
    let r = t.req("GET", "/junction/v2/link/provider/oauth/oura", &[("x-vital-link-token", &tok)], None).await;
    assert_eq!(r.status, 200);
    assert_eq!(t.form(&t.action(&web, "approve"), &[]).await.location(), "https://app.example/jx?state=success");

    // With on_close, Close sends the browser back with user_cancelled.
    let (_, web) = token(
        &t,
        json!({"user_id": uid, "provider": "oura", "redirect_url": "https://app.example/jx?s=1", "on_close": "redirect", "on_error": null}),
    )
    .await;
    let r = t.sb.sandbox().deny(&web).unwrap();
    let loc = r.location.expect("redirect");
    assert!(loc.starts_with("https://app.example/jx?s=1&state=error&error_type=user_cancelled&error="), "{loc}");
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn errors_return_per_on_error_and_oauth_always() {
    let t = start(SandboxConfig::default()).await;
    let uid = user(&t, "u-err").await;
    let base = json!({"user_id": uid, "provider": "peloton", "redirect_url": "https://app.example/jx"});
    // A password provider's error stays in the widget without on_error...
    let (_, web) = token(&t, base.clone()).await;
    let r = t.form(&t.action(&web, "approve"), &[("username", "rider"), ("password", "wrong")]).await;
    assert_eq!(r.status, 200);
    assert!(r.header("location").is_none());
    assert!(r.text().contains("Invalid username or password"));
    // ... and the token is still good for a second try.
    assert_eq!(t.form(&t.action(&web, "approve"), &[("username", "rider")]).await.status, 303);
    // With on_error the browser goes back with the error.
    let mut with = base.clone();
    with["on_error"] = json!("redirect");
    let (_, web) = token(&t, with).await;
    let r = t.form(&t.action(&web, "approve"), &[("username", "rider"), ("password", "wrong")]).await;
    assert_eq!(r.status, 303);
    let qp = query_of(&r.location());
    assert_eq!((q(&qp, "state"), q(&qp, "error_type")), (Some("error"), Some("provider_credential_error")));
    assert_eq!(q(&qp, "error"), Some("Invalid username or password"));
    // OAuth providers always redirect their errors (on_error is for the password/email forms).
    let (_, web) =
        token(&t, json!({"user_id": uid, "provider": "oura", "redirect_url": "https://app.example/jx"})).await;
    let form = std::collections::HashMap::from([("error_type".to_string(), "required_scopes_not_granted".to_string())]);
    let r = t.sb.sandbox().approve_with(&web, &form).unwrap();
    let qp = query_of(r.location.as_deref().unwrap());
    assert_eq!(q(&qp, "error_type"), Some("required_scopes_not_granted"));
    let providers = t.junction("GET", &format!("/v2/user/providers/{uid}"), None).await.json()["providers"].clone();
    let slugs: Vec<&str> = providers.as_array().unwrap().iter().map(|p| p["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["peloton"], "failed links connect nothing");
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn providers_list_needs_no_api_key() {
    let t = start(SandboxConfig::default()).await;
    let r = t.req("GET", "/junction/v2/link/providers", &[], None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json();
    let list = list.as_array().expect("a bare array");
    assert_eq!(list.len(), 18);
    for p in list {
        for k in ["id", "name", "slug", "description", "logo", "auth_type", "form_components"] {
            assert!(!p[k].is_null(), "{k} in {p}");
        }
        assert!(p["oauth_url"].is_null(), "no token, no per-user URL: {p}");
    }
    let peloton = list.iter().find(|p| p["slug"] == "peloton").unwrap();
    assert_eq!(peloton["auth_type"], "password");
    // With a link token, OAuth providers carry the URL for it.
    let uid = user(&t, "u-prov").await;
    let (tok, _) = token(&t, json!({"user_id": uid})).await;
    let list = t.req("GET", "/junction/v2/link/providers", &[("x-vital-link-token", &tok)], None).await.json();
    let oura = list.as_array().unwrap().iter().find(|p| p["slug"] == "oura").unwrap().clone();
    assert!(oura["oauth_url"].as_str().unwrap().contains(&format!("/junction/consent/{tok}?provider=oura")));
    let r = t.req("GET", "/junction/v2/link/providers", &[("x-vital-link-token", "nope")], None).await;
    assert_eq!((r.status, r.json()["detail"]["error_type"].clone()), (400, json!("invalid_token")));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn relink_updates_the_connection_and_close_keeps_it() {
    let t = start(SandboxConfig::default()).await;
    let uid = user(&t, "u-relink").await;
    let body =
        json!({"user_id": uid, "provider": "oura", "redirect_url": "https://app.example/jx", "on_close": "redirect"});
    let (_, web) = token(&t, body.clone()).await;
    t.sb.sandbox().approve(&web).unwrap();
    let listed =
        || async { t.junction("GET", &format!("/v2/user/providers/{uid}"), None).await.json()["providers"][0].clone() };
    let first = listed().await;
    assert_eq!((first["status"].as_str(), first["error_details"].is_null()), (Some("connected"), true));
    // The provider fails later: error state with details.
    assert!(t.sb.sandbox().set_junction_connection_error(&uid, "oura", "token_refresh_failed", "refresh failed"));
    assert!(!t.sb.sandbox().set_junction_connection_error(&uid, "fitbit", "token_refresh_failed", "x"));
    let r = t
        .admin(
            "POST",
            "/junction/connection-error",
            Some(&json!({"user_id": uid, "provider": "oura", "error_type": "user_not_found"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let errored = listed().await;
    assert_eq!(errored["status"], "error");
    assert_eq!(errored["error_details"]["error_type"], "user_not_found");
    assert!(errored["error_details"]["errored_at"].is_string());
    // A re-link that is closed leaves it as it was.
    t.sb.sandbox().advance_clock(Duration::from_secs(5));
    let (_, web) = token(&t, body.clone()).await;
    assert!(t.sb.sandbox().deny(&web).unwrap().location.unwrap().contains("user_cancelled"));
    assert_eq!(listed().await, errored);
    // An approved re-link repairs it; Junction exposes no updated time, created_on stays.
    let (_, web) = token(&t, body).await;
    t.sb.sandbox().approve(&web).unwrap();
    let repaired = listed().await;
    assert_eq!((repaired["status"].as_str(), repaired["error_details"].is_null()), (Some("connected"), true));
    assert_eq!(repaired["created_on"], first["created_on"]);
    assert_eq!(
        t.junction("GET", &format!("/v2/user/providers/{uid}"), None).await.json()["providers"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        t.admin("POST", "/junction/connection-error", Some(&json!({"user_id": uid, "provider": "fitbit"})))
            .await
            .status,
        404
    );
    t.sb.shutdown().await.unwrap();
}
