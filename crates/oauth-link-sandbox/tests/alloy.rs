//! Alloy Embedded (headless) and Connectivity emulation over real HTTP.

mod support;

use oauth_link_sandbox::{AlloyCredentialPaths, AlloyOauthUrlShape, SandboxConfig};
use serde_json::json;
use support::{q, query_of, start};

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

async fn new_user(t: &support::T, username: &str) -> String {
    let r = t.alloy("POST", "/users", Some(&json!({ "username": username }))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["userId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn only_api_version_2025_09_is_served() {
    let t = start(SandboxConfig::default()).await;
    let auth = ("authorization", "Bearer sandbox_alloy_key");
    let r = t.req("GET", "/alloy/users", &[auth], None).await;
    assert_eq!(r.status, 400, "missing version");
    assert!(r.json()["message"].as_str().unwrap().contains("x-api-version"));
    for wrong in ["2024-03", "2025-9", "latest"] {
        let r = t.req("GET", "/alloy/users", &[auth, ("x-api-version", wrong)], None).await;
        assert_eq!(r.status, 400, "{wrong}");
        let v = r.json();
        assert_eq!(v.as_object().unwrap().len(), 1, "Alloy's error shape: {v}");
        assert!(v["message"].as_str().unwrap().contains("2025-09"), "{v}");
    }
    assert_eq!(t.req("GET", "/alloy/users", &[auth, ("x-api-version", "2025-09")], None).await.status, 200);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn users_resolve_by_id_or_username_and_duplicates_are_refused() {
    let t = start(SandboxConfig::default()).await;
    let uid = new_user(&t, "ada@example.com").await;
    for path in [format!("/users/{uid}"), "/users/ada%40example.com".into(), "/users/ada@example.com".into()] {
        let r = t.alloy("GET", &path, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json()["userId"], uid.as_str());
        assert_eq!(r.json()["username"], "ada@example.com");
    }
    let r = t.alloy("GET", "/users/nobody%40example.com", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"message": "User not found"}));
    // The username also works where a userId is expected.
    assert_eq!(t.alloy("GET", "/credentials/users/ada%40example.com", None).await.json(), json!({"data": []}));
    // A second create with the same username is refused, not answered with the same user.
    let r = t.alloy("POST", "/users", Some(&json!({"username": "ada@example.com"}))).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].is_string());
    assert_eq!(t.alloy("POST", "/users", Some(&json!({"username": "x", "fullName": 5}))).await.status, 400);
    assert_eq!(t.alloy("GET", "/users", None).await.json()["data"].as_array().unwrap().len(), 1);
    t.sb.shutdown().await.unwrap();

    let t = start(SandboxConfig::default().alloy_duplicate_username_status(409)).await;
    new_user(&t, "u").await;
    let r = t.alloy("POST", "/users", Some(&json!({"username": "u"}))).await;
    assert_eq!((r.status, r.json()["message"].is_string()), (409, true));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn old_credential_path_can_be_switched_off_either_way() {
    let t = start(SandboxConfig::default().alloy_credential_paths(AlloyCredentialPaths::UsersFirstOnly)).await;
    let uid = new_user(&t, "p").await;
    assert_eq!(t.alloy("GET", &format!("/credentials/users/{uid}"), None).await.status, 404);
    assert_eq!(t.alloy("GET", &format!("/users/{uid}/credentials"), None).await.status, 200);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn delete_can_answer_success_false() {
    let t = start(SandboxConfig::default()).await;
    let uid = new_user(&t, "d").await;
    let link = t.alloy("GET", &format!("/headless/oauthUrl?userId={uid}&app=slack"), None).await.json()["oauthUrl"]
        .as_str()
        .unwrap()
        .to_string();
    t.sb.sandbox().approve(&link).unwrap();
    let cred = t.alloy("GET", &format!("/credentials/users/{uid}"), None).await.json()["data"][0]["credentialId"]
        .as_str()
        .unwrap()
        .to_string();
    let faults = json!({"alloy_delete_success_false": 1});
    assert_eq!(t.admin("POST", "/faults", Some(&faults)).await.status, 200);
    let path = format!("/users/{uid}/credentials/{cred}");
    let r = t.alloy("DELETE", &path, None).await;
    assert_eq!((r.status, r.json()), (200, json!({"success": false})));
    assert_eq!(
        t.alloy("GET", &format!("/credentials/users/{uid}"), None).await.json()["data"][0]["credentialId"],
        cred
    );
    assert_eq!(t.admin("GET", "/faults", None).await.json()["alloy_delete_success_false"], 0);
    assert_eq!(t.alloy("DELETE", &path, None).await.json(), json!({"success": true}));
    // Not the user's (or no such) credential: 404 in Alloy's shape.
    let r = t.alloy("DELETE", &path, None).await;
    assert_eq!((r.status, r.json()), (404, json!({"message": "Credential not found"})));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn target_catalogues() {
    let t = start(SandboxConfig::default()).await;
    let uid = new_user(&t, "cat@example.com").await;
    let r = t.alloy("GET", "/integrations", None).await;
    assert_eq!(r.status, 400, "userId is required");
    assert!(r.json()["message"].as_str().unwrap().contains("userId"));
    assert_eq!(t.alloy("GET", "/integrations?userId=ghost", None).await.status, 404);
    for user in [uid.as_str(), "cat%40example.com"] {
        let list = t.alloy("GET", &format!("/integrations?userId={user}"), None).await.json();
        let shop =
            list["data"].as_array().unwrap().iter().find(|i| i["primaryConnector"] == "Shopify").unwrap().clone();
        assert_eq!(shop["icon"], "https://cdn.runalloy.com/icons/shopify.png");
        let connectors: Vec<&str> = shop["workflows"][0]["connectors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["connector"].as_str().unwrap())
            .collect();
        assert!(connectors.contains(&"shopify"), "the app name is the connector: {shop}");
    }
    // The auth kind of an app comes from its credential metadata.
    let meta = t.alloy("GET", "/metadata/credentials", None).await.json();
    let netsuite = meta["data"].as_array().unwrap().iter().find(|m| m["connector"] == "netsuite").unwrap().clone();
    assert_eq!(netsuite["isOauth"], false);

    let r = t.alloy("GET", "/connectors", None).await;
    assert_eq!(r.status, 200);
    let list = r.json();
    let ids: Vec<&str> = list["connectors"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["slack", "notion", "hubspot"]);
    let notion = t.alloy("GET", "/connectors/notion", None).await.json();
    assert_eq!((notion["name"].as_str(), notion["icon"].is_string()), (Some("Notion"), true));
    assert_eq!(t.alloy("GET", "/connectors/myspace", None).await.status, 404);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn relink_adds_a_credential_and_deny_changes_nothing() {
    let t = start(SandboxConfig::default()).await;
    let uid = new_user(&t, "r").await;
    let link = || async {
        t.alloy("GET", &format!("/headless/oauthUrl?userId={uid}&app=hubspot"), None).await.json()["oauthUrl"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let creds = || async { t.alloy("GET", &format!("/credentials/users/{uid}"), None).await.json()["data"].clone() };
    t.sb.sandbox().approve(&link().await).unwrap();
    let first = creds().await;
    t.sb.sandbox().advance_clock(std::time::Duration::from_secs(5));
    assert_eq!(t.sb.sandbox().deny(&link().await).unwrap().status, 200);
    assert_eq!(creds().await, first, "a denied re-link touches nothing");
    t.sb.sandbox().approve(&link().await).unwrap();
    let after = creds().await;
    let after = after.as_array().unwrap();
    assert_eq!(after.len(), 2, "a re-link is a new credential: {after:?}");
    assert_eq!(after[0], first[0], "the old one is unchanged");
    assert_ne!(after[1]["credentialId"], after[0]["credentialId"]);
    assert!(after[1]["createdAt"].as_str().unwrap() > after[0]["createdAt"].as_str().unwrap());
    assert_eq!(after[1]["createdAt"], after[1]["updatedAt"]);

    // Connectivity: the same.
    let body = json!({"userId": uid, "authenticationType": "oauth2", "redirectUri": "https://app.example/cb"});
    for _ in 0..2 {
        let url = t.alloy("POST", "/connectors/slack/credentials", Some(&body)).await.json()["oauthUrl"]
            .as_str()
            .unwrap()
            .to_string();
        t.sb.sandbox().approve(&url).unwrap();
    }
    let auth = t.alloy_auth();
    let mut h: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.push(("x-alloy-userid", &uid));
    let listed = t.req("GET", "/alloy/connectors/slack/credentials", &h, None).await.json();
    assert_eq!(listed["credentials"].as_array().unwrap().len(), 2);
    t.sb.shutdown().await.unwrap();
}
