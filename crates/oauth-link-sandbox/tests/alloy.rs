//! Alloy Embedded (headless) and Connectivity emulation over real HTTP.

mod common;

use common::{q, query_of, start};
use oauth_link_sandbox::{AlloyCredentialPaths, AlloyOauthUrlShape, SandboxConfig};
use serde_json::json;

#[tokio::test]
async fn auth_failures_use_alloy_error_shape() {
    let t = start(SandboxConfig::default()).await;
    let r = t.req("GET", "/alloy/users", &[("x-api-version", "2025-09")], None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"message": "Unauthorized"}));
    let r = t
        .req("GET", "/alloy/users", &[("authorization", "Bearer not-the-key"), ("x-api-version", "2025-09")], None)
        .await;
    assert_eq!(r.status, 401);
    // The Novu key is not an Alloy key.
    let r = t
        .req(
            "GET",
            "/alloy/users",
            &[("authorization", "Bearer sandbox_novu_secret_key"), ("x-api-version", "2025-09")],
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    // Scheme is case-insensitive.
    let r = t
        .req(
            "GET",
            "/alloy/users",
            &[("authorization", "bearer sandbox_alloy_key"), ("x-api-version", "2025-09")],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"data": []}));
    // x-api-version is required.
    let r = t.req("GET", "/alloy/users", &[("authorization", "BEARER sandbox_alloy_key")], None).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("x-api-version"));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn required_fields_are_enforced() {
    let t = start(SandboxConfig::default()).await;
    let r = t.alloy("POST", "/users", Some(&json!({"fullName": "No Name"}))).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("username"));
    let uid = t.alloy("POST", "/users", Some(&json!({"username": "ada@example.com"}))).await.json()["userId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(t.alloy("POST", "/users", Some(&json!({"username": "ada@example.com"}))).await.status, 400);

    let r = t.alloy("GET", &format!("/headless/oauthUrl?userId={uid}&app=shopify"), None).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("shopSubdomain"));
    let r = t.alloy("GET", &format!("/headless/oauthUrl?userId={uid}&app=netsuite"), None).await;
    assert_eq!(r.status, 400, "non-OAuth app");
    assert_eq!(t.alloy("GET", "/headless/oauthUrl?app=slack", None).await.status, 400);
    assert_eq!(t.alloy("GET", "/integrations", None).await.status, 400);

    let path = "/connectors/slack/credentials";
    let r = t.alloy("POST", path, Some(&json!({"userId": uid, "authenticationType": "oauth2"}))).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("redirectUri"));
    let r = t
        .alloy(
            "POST",
            path,
            Some(&json!({"userId": uid, "authenticationType": "oauth2", "redirectUri": "/relative/cb"})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("absolute"));
    let r = t
        .alloy("POST", path, Some(&json!({"authenticationType": "oauth2", "redirectUri": "https://a.example/cb"})))
        .await;
    assert_eq!(r.status, 400);
    let r = t.alloy("GET", path, None).await;
    assert_eq!(r.status, 400, "x-alloy-userid is required");
    assert!(r.json()["message"].as_str().unwrap().contains("x-alloy-userid"));
    let r = t
        .alloy(
            "POST",
            "/headless/credentials",
            Some(&json!({"userId": uid, "credential": {"type": "netsuite", "data": {"realm": "1"}}})),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("consumerKey"));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn headless_consent_flow_creates_a_credential() {
    let t = start(SandboxConfig::default().alloy_return_url("https://app.example/alloy/done?tab=1")).await;
    let uid = t.alloy("POST", "/users", Some(&json!({"username": "u1", "fullName": "U One"}))).await.json()["userId"]
        .as_str()
        .unwrap()
        .to_string();
    let meta = t.alloy("GET", "/metadata/credentials/shopify", None).await.json();
    assert_eq!(meta["data"]["isOauth"], true);
    assert_eq!(meta["data"]["properties"][0]["name"], "shopSubdomain");
    let all = t.alloy("GET", "/metadata/credentials", None).await.json();
    assert_eq!(all["data"].as_array().unwrap().len(), 4);

    let r =
        t.alloy("GET", &format!("/headless/oauthUrl?userId={uid}&app=shopify&shopSubdomain=my-shoe-store"), None).await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body.as_object().unwrap().len(), 1, "flat shape by default: {body}");
    let link = body["oauthUrl"].as_str().unwrap().to_string();
    assert_eq!(q(&query_of(&link), "shopSubdomain"), Some("my-shoe-store"));

    t.consent_page(&link).await;
    let r = t.form(&t.action(&link, "approve"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "https://app.example/alloy/done?tab=1");

    for path in
        [format!("/users/{uid}/credentials"), format!("/credentials/users/{uid}"), "/users/u1/credentials".into()]
    {
        let creds = t.alloy("GET", &path, None).await.json();
        let c = &creds["data"][0];
        assert_eq!(c["type"], "shopify", "{path}: {creds}");
        for k in ["credentialId", "name", "createdAt", "updatedAt"] {
            assert!(c[k].is_string(), "{k} in {c}");
        }
    }
    // Single use.
    assert_eq!(t.req("GET", &link, &[], None).await.status, 410);
    assert_eq!(t.form(&t.action(&link, "approve"), &[]).await.status, 410);

    // The integration now lists the credential; delete it.
    let ints = t.alloy("GET", &format!("/integrations?userId={uid}"), None).await.json();
    let shop = ints["data"].as_array().unwrap().iter().find(|i| i["primaryConnector"] == "Shopify").unwrap().clone();
    assert_eq!(shop["credentials"].as_array().unwrap().len(), 1);
    let cred = shop["credentials"][0].as_str().unwrap();
    let r = t.alloy("DELETE", &format!("/users/{uid}/credentials/{cred}"), None).await;
    assert_eq!(r.json(), json!({"success": true}));
    assert_eq!(t.alloy("DELETE", &format!("/users/{uid}/credentials/{cred}"), None).await.status, 404);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn headless_deny_and_config_switches() {
    let t = start(
        SandboxConfig::default()
            .alloy_return_url("https://app.example/back")
            .alloy_oauth_url_shape(AlloyOauthUrlShape::Wrapped)
            .alloy_credential_paths(AlloyCredentialPaths::CredentialsFirstOnly),
    )
    .await;
    let uid = t.alloy("POST", "/users", Some(&json!({"username": "u2"}))).await.json()["userId"]
        .as_str()
        .unwrap()
        .to_string();
    let body = t.alloy("GET", &format!("/headless/oauthUrl?userId={uid}&app=slack"), None).await.json();
    let link = body["data"]["oauthUrl"].as_str().expect("wrapped shape").to_string();
    let r = t.form(&t.action(&link, "deny"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "https://app.example/back?error=access_denied");
    // Old path is 404 in this configuration, the new one answers.
    let r = t.alloy("GET", &format!("/users/{uid}/credentials"), None).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].is_string());
    assert_eq!(t.alloy("GET", &format!("/credentials/users/{uid}"), None).await.json(), json!({"data": []}));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn non_oauth_credential_and_installation() {
    let t = start(SandboxConfig::default()).await;
    let uid = t.alloy("POST", "/users", Some(&json!({"username": "u3"}))).await.json()["userId"]
        .as_str()
        .unwrap()
        .to_string();
    let data = json!({"realm": "1", "consumerKey": "2", "consumerSecret": "3", "tokenId": "4", "tokenSecret": "5"});
    let r = t
        .alloy(
            "POST",
            "/headless/credentials",
            Some(&json!({"userId": uid, "credential": {"type": "netsuite", "data": data}})),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["success"], true);
    let integration = t.alloy("GET", &format!("/integrations?userId={uid}"), None).await.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["primaryConnector"] == "NetSuite")
        .unwrap()["integrationId"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t
        .alloy("POST", "/headless/startInstallation", Some(&json!({"userId": uid, "integrationId": integration})))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let inst = r.json();
    let iid = inst["installationId"].as_str().unwrap();
    assert_eq!(inst["data"][0]["app"], "netsuite");
    let r = t.alloy("POST", "/headless/completeInstallation", Some(&json!({"installationId": iid, "data": []}))).await;
    assert_eq!(r.json(), json!({"message": "Installation completed successfully"}));
    let ints = t.alloy("GET", &format!("/integrations/{integration}?userId={uid}"), None).await.json();
    assert_eq!(ints["installed"], true);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn connector_consent_flow_and_callback() {
    let t = start(SandboxConfig::default()).await;
    let uid = t.alloy("POST", "/users", Some(&json!({"username": "c1"}))).await.json()["userId"]
        .as_str()
        .unwrap()
        .to_string();
    let meta = t.alloy("GET", "/connectors/notion/credentials/metadata", None).await.json();
    assert_eq!(meta["metadata"][0]["authenticationType"], "oauth2");
    let r = t
        .alloy(
            "POST",
            "/connectors/notion/credentials",
            Some(&json!({"userId": uid, "authenticationType": "oauth2", "redirectUri": "https://app.example/cb?keep=me"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let link = r.json()["oauthUrl"].as_str().unwrap().to_string();
    t.consent_page(&link).await;
    let r = t.form(&t.action(&link, "approve"), &[]).await;
    assert_eq!(r.status, 303);
    let loc = r.location();
    assert!(loc.starts_with("https://app.example/cb?keep=me&code="), "{loc}");
    let qp = query_of(&loc);
    let (code, state) = (q(&qp, "code").unwrap().to_string(), q(&qp, "state").unwrap().to_string());

    let auth = t.alloy_auth();
    let mut h: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.push(("x-alloy-userid", &uid));
    let creds = t.req("GET", "/alloy/connectors/notion/credentials", &h, None).await.json();
    assert_eq!(creds["credentials"][0]["type"], "notion-oauth2", "{creds}");
    let cred_id = creds["credentials"][0]["credentialId"].as_str().unwrap().to_string();
    assert_eq!(t.req("GET", "/alloy/connectors/slack/credentials", &h, None).await.json(), json!({"credentials": []}));

    let cb = json!({"code": code, "state": state});
    let r = t.alloy("POST", "/connectors/notion/credentials/callback", Some(&cb)).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["status"], "connected");
    assert_eq!(v["credentialId"], cred_id.as_str());
    assert!(v["connectionId"].is_string());
    let r = t.alloy("POST", "/connectors/notion/credentials/callback", Some(&cb)).await;
    assert_eq!(r.status, 400, "code is single-use");

    // Deny on a second link.
    let link2 = t
        .alloy(
            "POST",
            "/connectors/slack/credentials",
            Some(&json!({"userId": uid, "authenticationType": "oauth2", "redirectUri": "https://app.example/cb"})),
        )
        .await
        .json()["oauthUrl"]
        .as_str()
        .unwrap()
        .to_string();
    let r = t.form(&t.action(&link2, "deny"), &[]).await;
    assert_eq!(r.status, 303);
    let qp = query_of(&r.location());
    assert_eq!(q(&qp, "error"), Some("access_denied"));
    assert!(q(&qp, "error_description").is_some());
    t.sb.shutdown().await.unwrap();
}
