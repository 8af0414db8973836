//! The shell walkthrough for every provider: the CLI against a running sandbox, with the
//! consent done by an HTTP form POST as `curl` would (README, "From a shell").

use oauth_link_tests::sandbox::{create_alloy_users, target, APP, KINDS};
use oauth_link_tests::{cli, CliRun, STATE_SECRET};

fn run(args: &[&str], env: &[(String, String)]) -> CliRun {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = cli(args, &env);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run
}

/// Opens the consent page (following the platform's own redirects) and submits Approve, as
/// `curl -X POST <page>/approve` does; returns where the platform sends the browser.
async fn approve(http: &reqwest::Client, url: &str) -> Option<String> {
    let mut page = reqwest::Url::parse(url).unwrap();
    for _ in 0..3 {
        let r = http.get(page.clone()).send().await.unwrap();
        match r.headers().get("location") {
            Some(next) if r.status().is_redirection() => page = page.join(next.to_str().unwrap()).unwrap(),
            _ => break,
        }
    }
    let target = page.join(&format!("{}/approve", page.path())).unwrap();
    let answer =
        http.post(target).header("content-type", "application/x-www-form-urlencoded").body("").send().await.unwrap();
    assert!(answer.status().is_redirection() || answer.status().is_success(), "approve: {}", answer.status());
    answer.headers().get("location").map(|l| l.to_str().unwrap().to_owned())
}

#[test]
fn link_approve_complete_list_from_a_shell_for_every_provider() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sandbox = runtime.block_on(async {
        let config = oauth_link_sandbox::SandboxConfig::default();
        oauth_link_sandbox::Sandbox::start(config).await.expect("sandbox starts")
    });
    runtime.block_on(create_alloy_users(&sandbox, ["shell-user".to_owned()]));
    let settings = sandbox.settings();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let replay_dir = std::env::temp_dir().join(format!("oauth-link-cli-sandbox-{}", std::process::id()));

    for kind in KINDS {
        // What a user exports after reading `oauth-link sandbox`'s settings line.
        let prefix = oauth_link::env_var(kind, "");
        let mut env = vec![
            ("OAUTH_LINK_PROVIDER".to_owned(), kind.to_owned()),
            ("OAUTH_LINK_STATE_SECRET".to_owned(), STATE_SECRET.to_owned()),
            ("OAUTH_LINK_REPLAY_DIR".to_owned(), replay_dir.display().to_string()),
            (format!("{prefix}BASE_URL"), settings[kind]["base_url"].as_str().unwrap().to_owned()),
            (format!("{prefix}API_KEY"), settings[kind]["api_key"].as_str().unwrap().to_owned()),
        ];
        let mut link_args = vec!["link", "--user", "shell-user", "--target", target(kind)];
        if kind == "alloy-connectors" || kind == "junction" {
            link_args.extend(["--redirect-uri", "https://app.example/oauth/done"]);
        }
        if kind == "alloy-connectors" {
            env.push((format!("{prefix}CONNECTORS"), "slack".to_owned()));
        }

        let link = run(&link_args, &env).json();
        let (url, state) = (link["url"].as_str().unwrap(), link["state"].as_str().unwrap());
        // The user clicks Approve (Junction's link may first redirect to the provider's page).
        let location = runtime.block_on(approve(&http, url));

        // Back at the app: the redirect URL when the platform sends one, plus the kept state.
        let mut complete = vec!["complete", "--state", state];
        if let Some(location) = location.as_deref().filter(|l| l.starts_with(APP)) {
            complete.extend(["--callback-url", location]);
        }
        let connection = run(&complete, &env).json();
        assert_eq!(connection["status"], "connected", "{kind}: {connection}");
        let listed = run(&["connections", "--user", "shell-user"], &env).json();
        assert!(listed.as_array().unwrap().iter().any(|c| c["id"] == connection["id"]), "{kind}: {listed}");
    }
    runtime.block_on(sandbox.shutdown()).unwrap();
    let _ = std::fs::remove_dir_all(replay_dir);
}
