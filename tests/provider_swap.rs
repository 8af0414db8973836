//! The swap-without-code-changes promise: one application function, several providers,
//! chosen only by configuration.

use std::collections::HashMap;

use httpmock::prelude::*;
use oauth_link::{Callback, Connection, ConnectionQuery, Link, LinkRequest, Settings, SharedLinkProvider, Url};
use oauth_link_tests::STATE_SECRET;
use serde_json::json;

/// Application code: knows nothing about which platform is behind `provider`.
async fn connect_and_list(provider: SharedLinkProvider, user: &str, target: &str) -> Vec<String> {
    let link = provider.generate_link(&LinkRequest::new(user, target)).await.expect("generate_link");
    // Hosted-callback platforms: the app kept the state; it comes back with the browser.
    let connection = provider.complete_callback(&Callback::from_state(link.state)).await.expect("complete_callback");
    assert_eq!(connection.user, user);
    let listed = provider.list_connections(&ConnectionQuery::user(user)).await.expect("list_connections");
    listed.into_iter().map(|c| format!("{}:{}", c.provider, c.target)).collect()
}

#[tokio::test]
async fn same_app_code_runs_with_providers_chosen_by_env_file_and_map() {
    let from_env = oauth_link::from_settings(
        &Settings::from_env_vars([
            ("OAUTH_LINK_PROVIDER".to_owned(), "memory".to_owned()),
            ("OAUTH_LINK_STATE_SECRET".to_owned(), STATE_SECRET.to_owned()),
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(connect_and_list(from_env, "u1", "slack").await, vec!["memory:slack"]);

    let toml = format!("provider = \"memory\"\nstate_secret = \"{STATE_SECRET}\"\n[memory]\nauto_approve = true\n");
    let from_file = oauth_link::from_settings(&Settings::from_toml_str(&toml, "app.toml").unwrap()).unwrap();
    assert_eq!(connect_and_list(from_file, "u2", "msteams").await, vec!["memory:msteams"]);

    let map = HashMap::from([("state_secret".to_owned(), STATE_SECRET.to_owned())]);
    let from_map = oauth_link::from_map("memory", &map).unwrap();
    assert_eq!(connect_and_list(from_map, "u3", "oura").await, vec!["memory:oura"]);
}

/// Application code for a web app: keeps the state in a cookie, sends the browser away,
/// and completes with whatever URL the browser came back to. Identical for every platform.
async fn web_connect(
    provider: &SharedLinkProvider,
    user: &str,
    target: &str,
    browser: impl AsyncFnOnce(&Link) -> String,
) -> Connection {
    let request =
        LinkRequest::new(user, target).with_redirect_uri(Url::parse("https://app.example/oauth/done").unwrap());
    let link = provider.generate_link(&request).await.expect("generate_link");
    let cookie = link.state.clone();
    let landed = browser(&link).await;
    let callback = Callback::from_url(provider.kind(), &landed).expect("callback URL").with_state(cookie);
    provider.complete_callback(&callback).await.expect("complete_callback")
}

fn now_iso() -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[tokio::test]
async fn same_web_app_code_runs_on_novu_from_env_and_junction_from_a_file() {
    // Novu hosts the OAuth callback, then sends the browser to a fixed page with no query.
    let novu = MockServer::start_async().await;
    novu.mock_async(|when, then| {
        when.method(POST).path("/v2/subscribers");
        then.status(201).json_body(json!({"data": {"_id": "s1", "subscriberId": "user-1"}}));
    })
    .await;
    novu.mock_async(|when, then| {
        when.method(POST).path("/v1/integrations/channel-endpoints/oauth");
        then.status(201).json_body(json!({"url": "https://slack.com/oauth/v2/authorize?x=1"}));
    })
    .await;
    let page = |records: serde_json::Value| json!({"data": records, "next": null, "previous": null, "totalCount": 1, "totalCountCapped": false});
    let before = novu
        .mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints");
            then.status(200).json_body(page(json!([])));
        })
        .await;
    let env = [
        ("OAUTH_LINK_PROVIDER", "novu".to_owned()),
        ("OAUTH_LINK_STATE_SECRET", STATE_SECRET.to_owned()),
        ("OAUTH_LINK_NOVU_API_KEY", "novu-key".to_owned()),
        ("OAUTH_LINK_NOVU_BASE_URL", novu.base_url()),
    ];
    let provider =
        oauth_link::from_settings(&Settings::from_env_vars(env.map(|(k, v)| (k.to_owned(), v))).unwrap()).unwrap();
    let connection = web_connect(&provider, "user-1", "slack", async |_| {
        // The user approves: Novu's callback creates the endpoint.
        before.delete_async().await;
        novu.mock_async(|when, then| {
            when.method(GET).path("/v1/channel-endpoints");
            then.status(200).json_body(page(json!([{"identifier": "ep-9", "channel": "chat", "providerId": "slack",
                "integrationIdentifier": "slack", "connectionIdentifier": null, "subscriberId": "user-1",
                "contextKeys": [], "type": "slack_user", "endpoint": {"userId": "U9"}, "createdAt": now_iso(),
                "updatedAt": now_iso()}])));
        })
        .await;
        "https://app.example/chat-connected".to_owned()
    })
    .await;
    assert_eq!((connection.provider.as_str(), connection.id.as_str()), ("novu", "ep-9"));

    // Junction redirects back to redirect_url with our state and its own state=success.
    let junction = MockServer::start_async().await;
    junction
        .mock_async(|when, then| {
            when.method(GET).path("/v2/user/resolve/user-1");
            then.status(200).json_body(json!({"user_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "team_id": "t",
                "client_user_id": "user-1", "created_on": "2026-01-01T00:00:00+00:00", "connected_sources": []}));
        })
        .await;
    junction
        .mock_async(|when, then| {
            when.method(POST).path("/v2/link/token");
            then.status(200)
                .json_body(json!({"link_token": "lt_x", "link_web_url": "https://link.tryvital.io/?token=lt_x"}));
        })
        .await;
    junction
        .mock_async(|when, then| {
            when.method(GET).path("/v2/link/provider/oauth/oura");
            then.status(200)
                .json_body(json!({"name": "Oura", "slug": "oura", "description": "d", "logo": "l", "id": 1,
                "oauth_url": "https://cloud.ouraring.com/oauth/authorize"}));
        })
        .await;
    junction
        .mock_async(|when, then| {
            when.method(GET).path("/v2/user/providers/0f8fad5b-d9cb-469f-a165-70867728950e");
            then.status(200).json_body(json!({"providers": [{"name": "Oura", "slug": "oura", "logo": "l",
                "created_on": now_iso(), "status": "connected", "resource_availability": {}}]}));
        })
        .await;
    let toml = format!(
        "provider = \"junction\"\nstate_secret = \"{STATE_SECRET}\"\n[junction]\napi_key = \"sk_us_key\"\nbase_url = \"{}\"\n",
        junction.base_url()
    );
    let provider = oauth_link::from_settings(&Settings::from_toml_str(&toml, "app.toml").unwrap()).unwrap();
    let connection = web_connect(&provider, "user-1", "oura", async |link| {
        // The platform appends its own parameters to the redirect the adapter registered.
        let state = link.state.expose();
        format!("https://app.example/oauth/done?oauth_link_state={state}&state=success")
    })
    .await;
    assert_eq!((connection.provider.as_str(), connection.target.as_str()), ("junction", "oura"));
}
