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
