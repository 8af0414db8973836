//! The CLI drives each real adapter over HTTP against a local mock of its platform:
//! `link`, `complete`, `connections`, `disconnect`, plus the exit codes of platform errors.

use chrono::{SecondsFormat, Utc};
use httpmock::prelude::*;
use oauth_link_tests::{cli, CliRun, STATE_SECRET};
use serde_json::{json, Value};

const API_KEY: &str = "sk_us_cli_test_key_never_printed";

fn now_iso() -> String {
    (Utc::now() + chrono::Duration::seconds(1)).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Env for `kind` pointing at `server`, with fast polling and no retries.
fn env(kind: &str, server: &MockServer, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let prefix = oauth_link::core::adapter::env_var(kind, "");
    let dir = std::env::temp_dir().join(format!("oauth-link-cli-adapters-{kind}-{}", std::process::id()));
    let mut vars = vec![
        ("OAUTH_LINK_PROVIDER".to_owned(), kind.to_owned()),
        ("OAUTH_LINK_STATE_SECRET".to_owned(), STATE_SECRET.to_owned()),
        ("OAUTH_LINK_REPLAY_DIR".to_owned(), dir.display().to_string()),
        (format!("{prefix}API_KEY"), API_KEY.to_owned()),
        (format!("{prefix}BASE_URL"), server.base_url()),
        (format!("{prefix}POLL_TIMEOUT_MS"), "300".to_owned()),
        (format!("{prefix}POLL_INTERVAL_MS"), "10".to_owned()),
        (format!("{prefix}MAX_RETRIES"), "0".to_owned()),
    ];
    vars.extend(extra.iter().map(|(k, v)| (format!("{prefix}{k}"), v.to_string())));
    vars
}

fn run(args: &[&str], env: &[(String, String)]) -> CliRun {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = cli(args, &env);
    assert!(!run.stdout.contains(API_KEY) && !run.stderr.contains(API_KEY), "API key leaked: {run:?}");
    run
}

fn ok(run: CliRun) -> Value {
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    run.json()
}

/// Novu's subscriber upsert, which the adapter sends before a user's first link.
fn novu_subscribers(server: &MockServer) -> httpmock::Mock<'_> {
    server.mock(|when, then| {
        when.method(POST).path("/v2/subscribers").header("authorization", format!("ApiKey {API_KEY}"));
        then.status(201).json_body(json!({"data": {"_id": "s1", "subscriberId": "sub-1"}}));
    })
}

/// A paginated Novu list of `records`.
fn novu_page(records: Vec<Value>) -> Value {
    let total = records.len();
    json!({"data": records, "next": null, "previous": null, "totalCount": total, "totalCountCapped": false})
}

#[test]
fn novu_link_complete_list_disconnect() {
    let server = MockServer::start();
    let auth = format!("ApiKey {API_KEY}");
    let subscribers = novu_subscribers(&server);
    let generate = server.mock(|when, then| {
        when.method(POST)
            .path("/v1/integrations/channel-endpoints/oauth")
            .header("authorization", &auth)
            .header_exists("idempotency-key")
            .json_body(json!({"subscriberId": "sub-1", "integrationIdentifier": "slack"}));
        then.status(201).json_body(json!({"url": "https://slack.com/oauth/v2/authorize?state=novu"}));
    });
    let endpoint = json!({
        "identifier": "ep-1", "channel": "chat", "providerId": "slack", "integrationIdentifier": "slack",
        "connectionIdentifier": null, "subscriberId": "sub-1", "contextKeys": [], "type": "slack_user",
        "endpoint": {"userId": "U1"}, "createdAt": now_iso(), "updatedAt": now_iso()
    });
    // Before the link the user has no endpoint: what exists then is not this link's.
    let mut before = server.mock(|when, then| {
        when.method(GET).path("/v1/channel-endpoints").query_param("subscriberId", "sub-1");
        then.status(200).json_body(novu_page(Vec::new()));
    });
    let get = server.mock(|when, then| {
        when.method(GET).path("/v1/channel-endpoints/ep-1");
        then.status(200).json_body(endpoint.clone());
    });
    let delete = server.mock(|when, then| {
        when.method(DELETE).path("/v1/channel-endpoints/ep-1");
        then.status(204);
    });
    let env = env("novu", &server, &[]);

    let link = ok(run(&["link", "--user", "sub-1", "--target", "slack"], &env));
    assert_eq!(link["provider"], "novu");
    assert_eq!(link["url"], "https://slack.com/oauth/v2/authorize?state=novu");
    generate.assert_calls(1);
    subscribers.assert_calls(1);
    before.delete();
    let list = server.mock(|when, then| {
        when.method(GET).path("/v1/channel-endpoints").query_param("subscriberId", "sub-1");
        then.status(200).json_body(novu_page(vec![endpoint.clone()]));
    });

    // Novu redirects with no query: the app hands back the state it kept.
    let state = link["state"].as_str().unwrap();
    let connection = ok(run(&["complete", "--state", state], &env));
    assert_eq!(connection["id"], "ep-1");
    assert_eq!(connection["status"], "connected");

    let listed = ok(run(&["connections", "--user", "sub-1"], &env));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(list.calls() >= 2);

    assert_eq!(
        ok(run(&["disconnect", "--user", "sub-1", "--connection", "ep-1"], &env)),
        json!({"disconnected": true})
    );
    get.assert_calls(1);
    delete.assert_calls(1);
}

#[test]
fn novu_platform_errors_map_to_exit_codes() {
    let server = MockServer::start();
    novu_subscribers(&server);
    server.mock(|when, then| {
        when.method(GET).path("/v1/channel-endpoints");
        then.status(200).json_body(novu_page(Vec::new()));
    });
    let mut unauthorized = server.mock(|when, then| {
        when.method(POST).path("/v1/integrations/channel-endpoints/oauth");
        then.status(401)
            .json_body(json!({"statusCode": 401, "timestamp": "t", "path": "/v1", "message": "API Key not found"}));
    });
    let env = env("novu", &server, &[]);
    let denied = run(&["link", "--user", "sub-1", "--target", "slack"], &env);
    assert_eq!(denied.code, 3, "{}", denied.stderr);
    assert!(denied.stderr.contains("OAUTH_LINK_NOVU_API_KEY"), "{}", denied.stderr);
    unauthorized.delete();

    server.mock(|when, then| {
        when.method(POST).path("/v1/integrations/channel-endpoints/oauth");
        then.status(503).header("retry-after", "0").json_body(json!("Please wait some time, then try again."));
    });
    let unavailable = run(&["link", "--user", "sub-1", "--target", "slack"], &env);
    assert_eq!(unavailable.code, 4, "{}", unavailable.stderr);
    assert!(unavailable.stderr.starts_with("error: novu answered HTTP 503"), "{}", unavailable.stderr);
}

#[test]
fn missing_api_key_exits_2_naming_the_env_var() {
    for kind in ["alloy-headless", "alloy-connectors", "novu", "junction"] {
        let run = cli(
            &["--provider", kind, "link", "--user", "u", "--target", "t"],
            &[("OAUTH_LINK_STATE_SECRET", STATE_SECRET)],
        );
        assert_eq!(run.code, 2, "{kind}: {}", run.stderr);
        let var = oauth_link::core::adapter::env_var(kind, "api_key");
        assert!(run.stderr.contains(&format!("set {var}")), "{kind}: {}", run.stderr);
    }
}

#[test]
fn junction_link_complete_list_disconnect() {
    let server = MockServer::start();
    let uid = "6d1c52a4-3f1e-4c59-9a57-2f0b1c2d3e4f";
    server.mock(|when, then| {
        when.method(GET).path("/v2/user/resolve/app-user-1").header("x-vital-api-key", API_KEY);
        then.status(200).json_body(json!({"user_id": uid, "team_id": "team-1", "client_user_id": "app-user-1",
                "created_on": "2026-01-01T00:00:00+00:00", "connected_sources": []}));
    });
    let token = server
        .mock(|when, then| {
            when.method(POST).path("/v2/link/token").header("x-vital-api-key", API_KEY);
            then.status(200).json_body(json!({"link_token": "lt_cli_secret_token", "link_web_url": "https://link.tryvital.io/?token=lt_cli_secret_token"}));
        });
    server.mock(|when, then| {
        when.method(GET).path("/v2/link/provider/oauth/oura").header("x-vital-link-token", "lt_cli_secret_token");
        then.status(200).json_body(
            json!({"name": "Oura", "slug": "oura", "description": "Oura ring", "logo": "https://x/oura.png",
                "id": 7, "oauth_url": "https://cloud.ouraring.com/oauth/authorize?client_id=x", "auth_type": "oauth"}),
        );
    });
    server.mock(|when, then| {
        when.method(GET).path(format!("/v2/user/providers/{uid}"));
        then.status(200).json_body(json!({"providers": [{"name": "Oura", "slug": "oura", "logo": "https://x/oura.png",
                "created_on": now_iso(), "status": "connected", "external_user_id": "ext-1",
                "resource_availability": {"sleep": {"status": "available"}}}]}));
    });
    let deregister = server.mock(|when, then| {
        when.method(DELETE).path(format!("/v2/user/{uid}/oura"));
        then.status(200).json_body(json!({"success": true}));
    });
    let env = env("junction", &server, &[]);

    let link = ok(run(
        &["link", "--user", "app-user-1", "--target", "oura", "--redirect-uri", "https://app.example/junction/done"],
        &env,
    ));
    assert_eq!(link["url"], "https://cloud.ouraring.com/oauth/authorize?client_id=x");
    assert!(!link.to_string().contains("lt_cli_secret_token"), "the link token must not be printed");
    token.assert_calls(1);

    // Junction redirects to redirect_url + our state + its own state=success.
    let state = link["state"].as_str().unwrap();
    let back = format!("https://app.example/junction/done?oauth_link_state={state}&state=success");
    let connection = ok(run(&["complete", "--callback-url", &back], &env));
    assert_eq!(connection["target"], "oura");
    assert_eq!(connection["user"], "app-user-1");
    let id = connection["id"].as_str().unwrap().to_owned();

    let listed = ok(run(&["connections", "--user", "app-user-1"], &env));
    assert_eq!(listed[0]["id"], id);

    // An error redirect from Junction is a rejection (exit 3).
    let link = ok(run(
        &["link", "--user", "app-user-1", "--target", "oura", "--redirect-uri", "https://app.example/junction/done"],
        &env,
    ));
    let state = link["state"].as_str().unwrap();
    let cancelled = run(
        &[
            "complete",
            "--query",
            &format!("oauth_link_state={state}&state=error&error_type=user_cancelled&error=Closed"),
        ],
        &env,
    );
    assert_eq!(cancelled.code, 3, "{}", cancelled.stderr);
    assert!(cancelled.stderr.contains("user_cancelled"), "{}", cancelled.stderr);

    assert_eq!(
        ok(run(&["disconnect", "--user", "app-user-1", "--connection", &id], &env)),
        json!({"disconnected": true})
    );
    deregister.assert_calls(1);
}

#[test]
fn alloy_headless_link_complete_list() {
    let server = MockServer::start();
    let auth = format!("bearer {API_KEY}");
    server.mock(|when, then| {
        when.method(GET)
            .path("/metadata/credentials/shopify")
            .header("authorization", &auth)
            .header("x-api-version", "2025-09");
        then.status(200).json_body(json!({"data": {"connector": "shopify", "isOauth": true,
                "properties": [{"name": "shopSubdomain", "displayName": "Shop subdomain"}]}}));
    });
    let oauth_url = server.mock(|when, then| {
        when.method(GET)
            .path("/headless/oauthUrl")
            .query_param("userId", "u-1")
            .query_param("app", "shopify")
            .query_param("shopSubdomain", "acme")
            .header("authorization", &auth)
            .header("x-api-version", "2025-09");
        then.status(200)
            .json_body(json!({"oauthUrl": "https://api.runalloy.com/api/strategy/shopify/authorize?userId=u-1"}));
    });
    // The app stores Alloy userIds itself (`user_id_mode = platform`).
    let env = env("alloy-headless", &server, &[("USER_ID_MODE", "platform")]);
    let credentials = |records: Value| {
        server.mock(move |when, then| {
            when.method(GET).path("/credentials/users/u-1").header("x-api-version", "2025-09");
            then.status(200).json_body(json!({ "data": records }));
        })
    };
    let mut before = credentials(json!([]));

    // A missing required property is an input error, and nothing but metadata is asked.
    let missing = run(&["link", "--user", "u-1", "--target", "shopify"], &env);
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("shopSubdomain"), "{}", missing.stderr);
    oauth_url.assert_calls(0);

    let link = ok(run(&["link", "--user", "u-1", "--target", "shopify", "--param", "shopSubdomain=acme"], &env));
    assert!(link["url"].as_str().unwrap().starts_with("https://api.runalloy.com/api/strategy/shopify/authorize"));
    before.delete();
    credentials(json!([{"credentialId": "cred-1", "type": "shopify", "name": "Acme shop",
        "createdAt": now_iso(), "updatedAt": now_iso()}]));
    let connection = ok(run(&["complete", "--state", link["state"].as_str().unwrap()], &env));
    assert_eq!(connection["id"], "cred-1");
    assert_eq!(ok(run(&["connections", "--user", "u-1"], &env))[0]["target"], "shopify");
}

#[test]
fn alloy_connectors_link_and_complete_through_the_redirect() {
    let server = MockServer::start();
    let auth = format!("bearer {API_KEY}");
    let create = server.mock(|when, then| {
        when.method(POST)
            .path("/connectors/slack/credentials")
            .header("authorization", &auth)
            .header("x-api-version", "2025-09")
            .body_includes("\"authenticationType\":\"oauth2\"")
            .body_includes("oauth_link_state");
        then.status(200)
            .json_body(json!({"oauthUrl": "https://api.runalloy.com/api/strategy/connector/slack/authorize?token=t"}));
    });
    let credentials = |records: Value| {
        server.mock(move |when, then| {
            when.method(GET).path("/connectors/slack/credentials").header("x-alloy-userid", "u-7");
            then.status(200).json_body(json!({ "credentials": records }));
        })
    };
    let mut before = credentials(json!([]));
    let env = env(
        "alloy-connectors",
        &server,
        &[("REDIRECT_URI", "https://app.example/alloy/done"), ("CONNECTORS", "slack"), ("USER_ID_MODE", "platform")],
    );

    let link = ok(run(&["link", "--user", "u-7", "--target", "slack"], &env));
    create.assert_calls(1);
    before.delete();
    credentials(json!([{"credentialId": "cred-slack", "name": "Slack", "type": "slack-oauth2",
        "createdAt": now_iso(), "updatedAt": now_iso()}]));
    let state = link["state"].as_str().unwrap();
    let back = format!("https://app.example/alloy/done?oauth_link_state={state}");
    let connection = ok(run(&["complete", "--callback-url", &back], &env));
    assert_eq!(connection["id"], "cred-slack");
    assert_eq!(connection["target"], "slack");

    // Consent refused at the third party comes back as error params: a rejection.
    let link = ok(run(&["link", "--user", "u-7", "--target", "slack"], &env));
    let state = link["state"].as_str().unwrap();
    let back = format!(
        "https://app.example/alloy/done?oauth_link_state={state}&error=access_denied&error_description=User+said+no"
    );
    let denied = run(&["complete", "--callback-url", &back], &env);
    assert_eq!(denied.code, 3, "{}", denied.stderr);
    assert!(denied.stderr.contains("access_denied"), "{}", denied.stderr);

    // Plain http to a public host is refused before any request (exit 2).
    let before = create.calls();
    let insecure =
        run(&["link", "--user", "u-7", "--target", "slack", "--redirect-uri", "http://app.example/cb"], &env);
    assert_eq!(insecure.code, 2, "{}", insecure.stderr);
    assert_eq!(create.calls(), before);
}
