//! Novu emulation over real HTTP.

mod common;

use std::time::Duration;

use common::start;
use oauth_link_sandbox::SandboxConfig;
use serde_json::json;

const EP_OAUTH: &str = "/v1/integrations/channel-endpoints/oauth";
const CONN_OAUTH: &str = "/v1/integrations/channel-connections/oauth";

#[tokio::test]
async fn auth_and_validation_errors_use_novu_dtos() {
    let t = start(SandboxConfig::default()).await;
    let r = t.req("GET", "/novu/v1/channel-endpoints", &[("authorization", "ApiKey wrong")], None).await;
    assert_eq!(r.status, 401);
    let v = r.json();
    assert_eq!(v["statusCode"], 401);
    assert_eq!(v["path"], "/v1/channel-endpoints");
    assert!(v["timestamp"].is_string() && v["message"].is_string(), "{v}");
    let r =
        t.req("GET", "/novu/v1/channel-endpoints", &[("authorization", "Bearer sandbox_novu_secret_key")], None).await;
    assert_eq!(r.status, 401);
    assert_eq!(t.req("GET", "/novu/v1/channel-endpoints", &[], None).await.status, 401);

    let r = t.novu("POST", EP_OAUTH, Some(&json!({"integrationIdentifier": "slack"}))).await;
    assert_eq!(r.status, 422);
    let v = r.json();
    assert_eq!(v["statusCode"], 422);
    assert_eq!(v["path"], EP_OAUTH);
    assert!(v["errors"]["subscriberId"]["messages"][0].is_string(), "{v}");
    assert!(v["errors"].get("integrationIdentifier").is_none());
    let r = t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": 5, "integrationIdentifier": ""}))).await;
    let v = r.json();
    assert_eq!(v["errors"]["subscriberId"]["value"], 5);
    assert!(v["errors"]["integrationIdentifier"]["messages"].is_array());
    let r = t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "s", "integrationIdentifier": "telegram"}))).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["statusCode"], 404);
    assert_eq!(t.novu("GET", "/v1/channel-endpoints?limit=101", None).await.status, 422);
    assert_eq!(t.novu("GET", "/v1/channel-endpoints/nope", None).await.status, 404);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn endpoint_consent_flow_redirects_without_query() {
    let t = start(SandboxConfig::default().novu_redirect_url("slack", "https://app.example/novu/linked")).await;
    t.novu_subscriber("sub-1").await;
    let r = t
        .novu(
            "POST",
            EP_OAUTH,
            Some(&json!({"subscriberId": "sub-1", "integrationIdentifier": "slack", "context": {"tenant": "acme"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let url = r.json()["data"]["url"].as_str().unwrap().to_string();
    t.consent_page(&url).await;
    let r = t.form(&t.action(&url, "approve"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "https://app.example/novu/linked");

    let list = t.novu("GET", "/v1/channel-endpoints?subscriberId=sub-1&integrationIdentifier=slack", None).await.json();
    assert_eq!(list["totalCount"], 1, "{list}");
    let ep = &list["data"][0];
    assert_eq!(ep["type"], "slack_user");
    assert_eq!(ep["subscriberId"], "sub-1");
    assert_eq!(ep["contextKeys"], json!(["tenant:acme"]));
    assert!(ep["endpoint"]["userId"].as_str().unwrap().starts_with('U'));
    let id = ep["identifier"].as_str().unwrap().to_string();
    assert_eq!(t.novu("GET", "/v1/channel-endpoints?subscriberId=other", None).await.json()["totalCount"], 0);
    assert_eq!(
        t.novu("GET", &format!("/v1/channel-endpoints/{id}"), None).await.json()["data"]["identifier"],
        id.as_str()
    );
    let r = t.novu("DELETE", &format!("/v1/channel-endpoints/{id}"), None).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(t.novu("GET", &format!("/v1/channel-endpoints/{id}"), None).await.status, 404);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn connection_flow_close_tab_and_deny() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("sub-2").await;
    t.novu_subscriber("s").await;
    let r = t.novu("POST", CONN_OAUTH, Some(&json!({"integrationIdentifier": "msteams", "subscriberId": "sub-2", "connectionIdentifier": "acme-teams"}))).await;
    assert_eq!(r.status, 201);
    let url = r.json()["data"]["url"].as_str().unwrap().to_string();
    let r = t.form(&t.action(&url, "approve"), &[]).await;
    assert_eq!(r.status, 200, "no redirect URL configured: close-tab page");
    assert!(r.text().contains("you may close this tab"));
    let conns = t.novu("GET", "/v1/channel-connections?subscriberId=sub-2", None).await.json();
    assert_eq!(conns["totalCount"], 1);
    let c = &conns["data"][0];
    assert_eq!(c["identifier"], "acme-teams");
    assert!(c["auth"]["accessToken"].is_string());
    assert!(c["workspace"]["id"].is_string());
    // autoLinkUser defaults to true in subscriber mode.
    let eps = t.novu("GET", "/v1/channel-endpoints?connectionIdentifier=acme-teams", None).await.json();
    assert_eq!(eps["data"][0]["type"], "ms_teams_user");
    assert_eq!(t.novu("DELETE", "/v1/channel-connections/acme-teams", None).await.status, 204);

    let url =
        t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "s", "integrationIdentifier": "slack"}))).await.json()
            ["data"]["url"]
            .as_str()
            .unwrap()
            .to_string();
    let r = t.form(&t.action(&url, "deny"), &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "OAuth error: access_denied");
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn cursor_pagination_over_three_pages() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("pager").await;
    for i in 0..7 {
        let url = t
            .novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "pager", "integrationIdentifier": "slack"})))
            .await
            .json()["data"]["url"]
            .as_str()
            .unwrap()
            .to_string();
        let r = t.admin("POST", "/approve", Some(&json!({"url": url}))).await.json();
        assert_eq!(r["status"], 200, "approve {i}: {r}");
    }
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut after: Option<String> = None;
    let last_page = loop {
        let path = match &after {
            Some(c) => format!("/v1/channel-endpoints?subscriberId=pager&limit=3&after={c}"),
            None => "/v1/channel-endpoints?subscriberId=pager&limit=3".to_string(),
        };
        let page = t.novu("GET", &path, None).await.json();
        pages += 1;
        assert_eq!(page["totalCount"], 7);
        assert_eq!(page["totalCountCapped"], false);
        assert_eq!(page["previous"].is_null(), after.is_none(), "{page}");
        for e in page["data"].as_array().unwrap() {
            seen.push(e["identifier"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break page,
        }
    };
    assert_eq!(pages, 3);
    assert_eq!(last_page["data"].as_array().unwrap().len(), 1);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 7, "every endpoint exactly once");
    // `before` walks back to the previous page.
    let prev = last_page["previous"].as_str().unwrap();
    let back =
        t.novu("GET", &format!("/v1/channel-endpoints?subscriberId=pager&limit=3&before={prev}"), None).await.json();
    let ids: Vec<&str> = back["data"].as_array().unwrap().iter().map(|e| e["identifier"].as_str().unwrap()).collect();
    assert_eq!(ids, seen[3..6].iter().map(String::as_str).collect::<Vec<_>>());
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn idempotency_replay_and_conflict() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("s1").await;
    let auth = "ApiKey sandbox_novu_secret_key";
    let body = json!({"subscriberId": "s1", "integrationIdentifier": "slack"});
    let h = [("authorization", auth), ("idempotency-key", "k-1")];
    let a = t.req("POST", &format!("/novu{EP_OAUTH}"), &h, Some(&body)).await;
    assert_eq!(a.status, 201);
    assert_eq!(a.header("idempotency-key").as_deref(), Some("k-1"));
    assert!(a.header("idempotency-replay").is_none());
    let b = t.req("POST", &format!("/novu{EP_OAUTH}"), &h, Some(&body)).await;
    assert_eq!(b.status, 201);
    assert_eq!(b.header("idempotency-replay").as_deref(), Some("true"));
    assert_eq!(a.json(), b.json());
    let c = t
        .req(
            "POST",
            &format!("/novu{EP_OAUTH}"),
            &h,
            Some(&json!({"subscriberId": "s2", "integrationIdentifier": "slack"})),
        )
        .await;
    assert_eq!(c.status, 422);
    assert_eq!(c.json()["statusCode"], 422);
    // Only one link was created for the replayed request.
    assert_eq!(t.sb.sandbox().state()["novu"]["links"].as_array().unwrap().len(), 1);
    // After 24h the key is forgotten.
    t.sb.sandbox().advance_clock(Duration::from_secs(24 * 3600 + 1));
    let d = t.req("POST", &format!("/novu{EP_OAUTH}"), &h, Some(&body)).await;
    assert_eq!(d.status, 201);
    assert!(d.header("idempotency-replay").is_none());
    assert_ne!(d.json(), a.json());
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn links_expire_after_five_minutes() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("s").await;
    let url =
        t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "s", "integrationIdentifier": "slack"}))).await.json()
            ["data"]["url"]
            .as_str()
            .unwrap()
            .to_string();
    t.consent_page(&url).await;
    let r = t.admin("POST", "/clock", Some(&json!({"advance_seconds": 301}))).await;
    assert_eq!(r.status, 200);
    assert_eq!(t.req("GET", &url, &[], None).await.status, 410);
    let r = t.form(&t.action(&url, "approve"), &[]).await;
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("OAuth error:"));
    assert_eq!(t.novu("GET", "/v1/channel-endpoints", None).await.json()["totalCount"], 0);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn bare_openapi_shape_is_selectable() {
    let t = start(SandboxConfig::default().novu_data_envelope(false)).await;
    t.novu_subscriber("s").await;
    let r = t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "s", "integrationIdentifier": "slack"}))).await;
    assert_eq!(r.status, 201);
    let url = r.json()["url"].as_str().expect("bare {url}").to_string();
    t.sb.sandbox().approve(&url).unwrap();
    let list = t.novu("GET", "/v1/channel-endpoints", None).await.json();
    assert_eq!(list["totalCount"], 1, "lists keep their envelope: {list}");
    let id = list["data"][0]["identifier"].as_str().unwrap();
    let one = t.novu("GET", &format!("/v1/channel-endpoints/{id}"), None).await.json();
    assert_eq!(one["identifier"], id);
    let err = t.novu("GET", "/v1/channel-endpoints/missing", None).await.json();
    assert_eq!(err["statusCode"], 404, "errors are not wrapped");
    t.sb.shutdown().await.unwrap();
}
