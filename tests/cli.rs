//! The `oauth-link` command line: every command, exit code and error class.

use oauth_link_tests::{cli, CliRun, STATE_SECRET};

/// A fresh replay directory per test, so tests do not see each other's used states.
fn replay_dir(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("oauth-link-cli-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir.display().to_string()
}

fn memory_env(dir: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OAUTH_LINK_PROVIDER", "memory".into()),
        ("OAUTH_LINK_STATE_SECRET", STATE_SECRET.into()),
        ("OAUTH_LINK_REPLAY_DIR", dir.into()),
    ]
}

fn run(args: &[&str], env: &[(&'static str, String)]) -> CliRun {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    cli(args, &env)
}

fn assert_error(run: &CliRun, code: i32, needle: &str) {
    assert_eq!(run.code, code, "exit code; stderr: {}", run.stderr);
    assert!(run.stdout.is_empty(), "stdout must stay empty on error: {}", run.stdout);
    assert!(run.stderr.starts_with("error: "), "stderr must start with `error: `: {}", run.stderr);
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "one line on stderr: {}", run.stderr);
    assert!(run.stderr.contains(needle), "stderr must mention {needle:?}: {}", run.stderr);
}

#[test]
fn providers_lists_the_compiled_kinds() {
    let run = cli(&["providers"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let kinds: Vec<String> =
        run.json().as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap().to_owned()).collect();
    for known in oauth_link::KNOWN.iter().filter(|k| k.compiled) {
        assert!(kinds.contains(&known.kind.to_owned()), "{} missing from {kinds:?}", known.kind);
    }
    let memory = run.json().as_array().unwrap().iter().find(|p| p["kind"] == "memory").cloned().unwrap();
    assert_eq!(memory["capabilities"]["callback"], "hosted");
}

#[test]
fn unknown_provider_exits_2_naming_the_valid_kinds() {
    let run = cli(&["--provider", "nope", "link", "--user", "u", "--target", "t"], &[]);
    assert_error(&run, 2, "unknown provider `nope`; valid kinds: alloy-headless, alloy-connectors, novu, junction");
}

#[test]
fn missing_provider_and_secret_exit_2_naming_what_to_set() {
    let run = cli(&["link", "--user", "u", "--target", "t"], &[]);
    assert_error(&run, 2, "set OAUTH_LINK_PROVIDER");
    let run = cli(&["--provider", "memory", "link", "--user", "u", "--target", "t"], &[]);
    assert_error(&run, 2, "set OAUTH_LINK_STATE_SECRET");
    let run =
        cli(&["--provider", "memory", "link", "--user", "u", "--target", "t"], &[("OAUTH_LINK_STATE_SECRET", "short")]);
    assert_error(&run, 2, "at least 32");
}

#[test]
fn config_file_errors_name_the_key() {
    let dir = replay_dir("config-file");
    std::fs::create_dir_all(&dir).unwrap();
    let path = format!("{dir}/oauth-link.toml");
    std::fs::write(
        &path,
        format!("provider = \"memory\"\nstate_secret = \"{STATE_SECRET}\"\n[memory]\nauto_aprove = true\n"),
    )
    .unwrap();
    let run = cli(&["--config", &path, "config", "check"], &[]);
    assert_error(&run, 2, "`auto_aprove` under [memory]");

    std::fs::write(&path, format!("provider = \"memory\"\nstate_secrit = \"{STATE_SECRET}\"\n")).unwrap();
    assert_error(&cli(&["--config", &path, "config", "check"], &[]), 2, "unknown top-level key `state_secrit`");

    assert_error(&cli(&["--config", &format!("{dir}/missing.toml"), "providers"], &[]), 2, "cannot read config file");
}

#[test]
fn config_check_prints_resolved_settings_with_secrets_redacted() {
    let dir = replay_dir("check");
    let run = run(&["config", "check"], &memory_env(&dir));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["provider"], "memory");
    assert_eq!(doc["source"], "environment");
    assert_eq!(doc["settings"]["auto_approve"], true);
    assert_eq!(doc["state"]["secret"], "[redacted]");
    assert_eq!(doc["state"]["ttl_secs"], 600);
    assert!(!run.stdout.contains(STATE_SECRET));
}

#[test]
fn link_complete_once_then_replay_is_refused() {
    let dir = replay_dir("flow");
    let env = memory_env(&dir);
    let link =
        run(&["link", "--user", "user-1", "--target", "slack", "--param", "team=T1", "--scope", "chat:write"], &env);
    assert_eq!(link.code, 0, "{}", link.stderr);
    let doc = link.json();
    assert_eq!(doc["provider"], "memory");
    assert!(doc["url"].as_str().unwrap().starts_with("https://"));
    assert!(doc["expires_at"].is_string());
    let state = doc["state"].as_str().unwrap().to_owned();

    let done = run(&["complete", "--state", &state], &env);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let connection = done.json();
    assert_eq!(connection["user"], "user-1");
    assert_eq!(connection["target"], "slack");
    assert_eq!(connection["status"], "connected");

    // A second process with the same state: refused, because used states are on disk.
    assert_error(&run(&["complete", "--state", &state], &env), 2, "already used");
}

#[test]
fn tampered_and_expired_state_exit_2() {
    let dir = replay_dir("tamper");
    let mut env = memory_env(&dir);
    let state = run(&["link", "--user", "u", "--target", "slack"], &env).json()["state"].as_str().unwrap().to_owned();
    let mut tampered = state.clone();
    tampered.insert(5, 'x');
    assert_error(&run(&["complete", "--state", &tampered], &env), 2, "link state rejected");
    assert_error(&run(&["complete", "--query", "oauth_link_state=garbage"], &env), 2, "link state rejected");
    assert_error(&run(&["complete", "--callback-url", "https://app.example/cb?x=1"], &env), 2, "no state");

    env.push(("OAUTH_LINK_STATE_TTL_SECS", "1".into()));
    let short = run(&["link", "--user", "u", "--target", "slack"], &env).json()["state"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_error(&run(&["complete", "--state", &short], &env), 2, "expired");
}

#[test]
fn provider_rejection_exits_3_and_pending_exits_4() {
    let dir = replay_dir("classes");
    let env = memory_env(&dir);
    assert_error(&run(&["disconnect", "--user", "u", "--connection", "mem_404"], &env), 3, "no such resource");

    std::fs::create_dir_all(&dir).unwrap();
    let path = format!("{dir}/manual.toml");
    std::fs::write(
        &path,
        format!("provider = \"memory\"\nstate_secret = \"{STATE_SECRET}\"\nreplay_dir = \"{dir}\"\n[memory]\nauto_approve = false\n"),
    )
    .unwrap();
    let state = cli(&["--config", &path, "link", "--user", "u", "--target", "slack"], &[]).json()["state"]
        .as_str()
        .unwrap()
        .to_owned();
    let pending = cli(&["--config", &path, "complete", "--state", &state], &[]);
    assert_error(&pending, 4, "has not confirmed the connection yet");
}

#[test]
fn redis_url_replaces_the_default_replay_dir_and_fails_closed() {
    // A port nothing listens on: completing must refuse (exit 4), never accept blindly.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = [
        ("OAUTH_LINK_PROVIDER", "memory".to_owned()),
        ("OAUTH_LINK_STATE_SECRET", STATE_SECRET.to_owned()),
        ("OAUTH_LINK_REDIS_URL", format!("redis://:redis-pw-secret@127.0.0.1:{port}")),
    ];
    let state = run(&["link", "--user", "u", "--target", "slack"], &env).json()["state"].as_str().unwrap().to_owned();
    let refused = run(&["complete", "--state", &state], &env);
    assert_error(&refused, 4, "replay guard unavailable");
    assert!(!refused.stderr.contains("redis-pw-secret"), "{}", refused.stderr);
}

#[test]
fn connections_and_disconnect_print_json() {
    let dir = replay_dir("list");
    let env = memory_env(&dir);
    let list = run(&["connections", "--user", "u", "--target", "slack"], &env);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.json().is_array());
    assert_error(&run(&["connections", "--user", " "], &env), 2, "invalid user");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["link"],
        vec!["link", "--user", "u", "--target", "t", "--param", "novalue"],
        vec!["frobnicate"],
        vec!["complete", "--callback-url", "https://a/b", "--query", "x=1"],
    ] {
        let run = cli(&args, &[]);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.starts_with("error:"), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty());
    }
    let dir = replay_dir("usage");
    let env = memory_env(&dir);
    assert_error(&run(&["complete"], &env), 2, "--callback-url");
    assert_error(
        &run(&["link", "--user", "u", "--target", "t", "--redirect-uri", "not a url"], &env),
        2,
        "redirect_uri",
    );
    assert_error(
        &run(&["link", "--user", "u", "--target", "t", "--redirect-uri", "http://evil.example/cb"], &env),
        2,
        "must use https",
    );
}

#[test]
fn help_and_version_exit_0_on_stdout() {
    let help = cli(&["--help"], &[]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Usage: oauth-link"), "{}", help.stdout);
    let version = cli(&["--version"], &[]);
    assert_eq!(version.code, 0);
    assert!(version.stdout.starts_with("oauth-link "), "{}", version.stdout);
}
