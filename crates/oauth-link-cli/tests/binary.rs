//! The real `oauth-link` process: exit codes and streams as a shell sees them.

use std::process::Command;

fn oauth_link() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oauth-link"));
    cmd.env_clear();
    cmd
}

#[test]
fn success_prints_json_on_stdout_only() {
    let out = oauth_link().arg("providers").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc.as_array().is_some_and(|a| !a.is_empty()));
}

#[test]
fn errors_are_one_line_with_the_right_exit_code() {
    let out = oauth_link().args(["--provider", "nope", "link", "--user", "u", "--target", "t"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("error: unknown provider `nope`"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let dir = std::env::temp_dir().join(format!("oauth-link-bin-{}", std::process::id()));
    let out = oauth_link()
        .args(["disconnect", "--user", "u", "--connection", "c"])
        .env("OAUTH_LINK_PROVIDER", "memory")
        .env("OAUTH_LINK_STATE_SECRET", "0123456789abcdef0123456789abcdef")
        .env("OAUTH_LINK_REPLAY_DIR", &dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn usage_errors_exit_2_without_backtrace() {
    let out = oauth_link().arg("link").env("RUST_BACKTRACE", "1").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.starts_with("error:") && !stderr.contains("backtrace"), "{stderr}");
}

#[test]
fn sandbox_prints_its_settings_then_serves_until_sigterm() {
    use std::io::BufRead;

    let mut child = oauth_link()
        .args(["sandbox", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let settings: serde_json::Value = serde_json::from_str(&line).unwrap();
    for kind in ["alloy-headless", "alloy-connectors", "novu", "junction"] {
        let base = settings[kind]["base_url"].as_str().unwrap_or_else(|| panic!("{kind} in {line}"));
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        assert!(settings[kind]["api_key"].is_string());
    }
    // It serves: the Novu API answers 401 to a request without its key.
    let novu = settings["novu"]["base_url"].as_str().unwrap();
    let addr = novu.trim_start_matches("http://").split('/').next().unwrap().to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /novu/v1/channel-endpoints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");

    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        assert!(std::time::Instant::now() < deadline, "the sandbox did not stop on SIGTERM");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
}
