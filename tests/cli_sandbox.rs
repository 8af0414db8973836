//! The README's shell walkthrough ("From a shell"), for every provider: the same commands,
//! only `OAUTH_LINK_PROVIDER` and the platform's keys change. The CLI runs against a
//! running sandbox; the consent is the form POST `curl -X POST <consent page>/approve` makes.

use oauth_link_cli::DEFAULT_RETURN_URL;
use oauth_link_tests::sandbox::KINDS;
use oauth_link_tests::{cli, CliRun, STATE_SECRET};

fn run(args: &[&str], env: &[(String, String)]) -> CliRun {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = cli(args, &env);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run
}

/// The user clicks Approve on the consent page, as
/// `curl -s -o /dev/null -w '%{redirect_url}' -X POST "${URL%%\?*}/approve"` does; returns
/// where the platform sends the browser.
async fn approve(http: &reqwest::Client, url: &str) -> String {
    let page = url.split('?').next().unwrap_or(url);
    let answer = http.post(format!("{page}/approve")).send().await.unwrap();
    assert!(answer.status().is_redirection(), "approve: {}", answer.status());
    answer.headers().get("location").expect("the platform sends the browser back").to_str().unwrap().to_owned()
}

/// The keys a user exports after reading `oauth-link sandbox`'s settings line: the only
/// thing that differs between providers.
fn keys(kind: &str, settings: &serde_json::Value) -> Vec<(String, String)> {
    let prefix = oauth_link::core::adapter::env_var(kind, "");
    let mut env = vec![
        ("OAUTH_LINK_PROVIDER".to_owned(), kind.to_owned()),
        (format!("{prefix}BASE_URL"), settings[kind]["base_url"].as_str().unwrap().to_owned()),
        (format!("{prefix}API_KEY"), settings[kind]["api_key"].as_str().unwrap().to_owned()),
    ];
    match kind {
        "alloy-connectors" => {
            env.push((format!("{prefix}REDIRECT_URI"), DEFAULT_RETURN_URL.to_owned()));
            env.push((format!("{prefix}CONNECTORS"), "slack,notion".to_owned()));
        }
        "junction" => env.push((format!("{prefix}REDIRECT_URI"), DEFAULT_RETURN_URL.to_owned())),
        _ => {}
    }
    env
}

#[test]
fn the_same_shell_commands_link_approve_complete_list_and_disconnect_on_every_provider() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // `oauth-link sandbox --port 4010 &`: hosted platforms send the browser to the return URL.
    let sandbox = runtime.block_on(async {
        let mut config = oauth_link_sandbox::SandboxConfig::default().alloy_return_url(DEFAULT_RETURN_URL);
        for identifier in ["slack", "msteams"] {
            config = config.novu_redirect_url(identifier, DEFAULT_RETURN_URL);
        }
        oauth_link_sandbox::Sandbox::start(config).await.expect("sandbox starts")
    });
    let settings = sandbox.settings();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let replay_dir = std::env::temp_dir().join(format!("oauth-link-cli-sandbox-{}", std::process::id()));
    let user = "ada@example.com";

    for kind in KINDS {
        let mut env = keys(kind, &settings);
        env.push(("OAUTH_LINK_STATE_SECRET".to_owned(), STATE_SECRET.to_owned()));
        env.push(("OAUTH_LINK_REPLAY_DIR".to_owned(), replay_dir.display().to_string()));

        // TARGET=$(oauth-link targets | jq -r '[.[] | select(.auth == "oauth" and ((.params // []) | all(.required | not)))][0].id')
        let targets = run(&["targets"], &env).json();
        let target = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| {
                t["auth"] == "oauth" && t["params"].as_array().is_none_or(|ps| ps.iter().all(|p| p["required"] != true))
            })
            .and_then(|t| t["id"].as_str())
            .unwrap_or_else(|| panic!("{kind}: no OAuth target without parameters: {targets}"))
            .to_owned();
        // LINK=$(oauth-link link --user ada@example.com --target "$TARGET")
        let link = run(&["link", "--user", user, "--target", &target], &env).json();
        let (url, state) = (link["url"].as_str().unwrap(), link["state"].as_str().unwrap());
        // URL=$(echo "$LINK" | jq -r .url); BACK=$(curl ... -X POST "${URL%%\?*}/approve")
        let back = runtime.block_on(approve(&http, url));
        assert!(back.starts_with(DEFAULT_RETURN_URL), "{kind}: {back}");
        // oauth-link complete --state "$(echo "$LINK" | jq -r .state)" --callback-url "$BACK"
        let connection = run(&["complete", "--state", state, "--callback-url", &back], &env).json();
        assert_eq!(connection["status"], "connected", "{kind}: {connection}");
        // oauth-link connections --user ada@example.com
        let listed = run(&["connections", "--user", user], &env).json();
        assert!(listed.as_array().unwrap().iter().any(|c| c["id"] == connection["id"]), "{kind}: {listed}");
        // oauth-link disconnect --user ada@example.com --connection "$ID"
        let id = connection["id"].as_str().unwrap();
        assert_eq!(run(&["disconnect", "--user", user, "--connection", id], &env).json()["disconnected"], true);
        let after = run(&["connections", "--user", user], &env).json();
        assert!(after.as_array().unwrap().iter().all(|c| c["id"] != connection["id"]), "{kind}: {after}");
    }
    runtime.block_on(sandbox.shutdown()).unwrap();
    let _ = std::fs::remove_dir_all(replay_dir);
}
