//! Junction Link emulation over real HTTP.

mod common;

use std::time::Duration;

use common::{q, query_of, start, T};
use oauth_link_sandbox::SandboxConfig;
use serde_json::json;

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
