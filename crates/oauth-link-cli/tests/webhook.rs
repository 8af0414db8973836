//! `oauth-link webhook verify`: a Junction delivery verified with the configured secret,
//! printed as the connection event, and exit 2 for a bad signature, a stale timestamp, a
//! delivery already handled, or no secret (in the style of tests/cli.rs: in-process, one
//! JSON document on stdout or one `error:` line on stderr).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use oauth_link::core::webhook::{HeaderStyle, WebhookSigner};
use serde_json::{json, Value};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const UID: &str = "6d1c52a4-3f1e-4c59-9a57-2f0b1c2d3e4f";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {} / {}", self.stdout, self.stderr))
    }

    fn assert_error(&self, needle: &str) {
        assert_eq!(self.code, 2, "exit code; stderr: {}", self.stderr);
        assert!(self.stdout.is_empty(), "{}", self.stdout);
        assert!(self.stderr.starts_with("error: ") && self.stderr.trim_end().lines().count() == 1, "{}", self.stderr);
        assert!(self.stderr.contains(needle), "stderr must mention {needle:?}: {}", self.stderr);
        assert!(!self.stderr.contains(&SECRET[6..]), "{}", self.stderr);
    }
}

/// A fresh dedupe directory per test.
fn dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("oauth-link-cli-webhook-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn env(secret: Option<&str>) -> Vec<(String, String)> {
    let mut env = vec![
        ("OAUTH_LINK_PROVIDER".to_owned(), "junction".to_owned()),
        ("OAUTH_LINK_JUNCTION_API_KEY".to_owned(), "sk_us_cli_webhook_key".to_owned()),
        // Nothing listens: a delivery carrying client_user_id needs no request.
        ("OAUTH_LINK_JUNCTION_BASE_URL".to_owned(), "http://127.0.0.1:9".to_owned()),
    ];
    if let Some(secret) = secret {
        env.push(("OAUTH_LINK_JUNCTION_WEBHOOK_SECRET".to_owned(), secret.to_owned()));
    }
    env
}

fn verify(args: &[&str], env: Vec<(String, String)>, stdin: &[u8]) -> Run {
    let argv = ["oauth-link", "webhook", "verify"].into_iter().chain(args.iter().copied());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = oauth_link_cli::run_with_stdin(argv, env, &mut &stdin[..], &mut out, &mut err);
    Run { code, stdout: String::from_utf8(out).unwrap(), stderr: String::from_utf8(err).unwrap() }
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn created(client_user_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event_type": "provider.connection.created",
        "user_id": UID, "client_user_id": client_user_id, "team_id": "team-1",
        "data": {"user_id": UID, "provider": {"name": "Oura", "slug": "oura", "logo": "https://logo"},
                 "resource_availability": {}}
    }))
    .unwrap()
}

/// `--header` arguments for a delivery signed with `secret` at `timestamp`.
fn header_args(style: HeaderStyle, id: &str, timestamp: i64, body: &[u8], secret: &str) -> Vec<String> {
    let headers = WebhookSigner::new(secret).unwrap().headers(style, id, timestamp, body);
    headers
        .iter()
        .flat_map(|(name, value)| ["--header".to_owned(), format!("{name}: {}", value.to_str().unwrap())])
        .collect()
}

fn with_dir(mut args: Vec<String>, dir: &std::path::Path) -> Vec<String> {
    args.extend(["--dedupe-dir".to_owned(), dir.display().to_string()]);
    args
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn a_signed_delivery_prints_its_event_once_then_exits_2_as_replayed() {
    let dir = dir("replay");
    let body = created("app-user-1");
    let args = with_dir(header_args(HeaderStyle::Svix, "msg_cli_1", now(), &body, SECRET), &dir);
    let run = verify(&strs(&args), env(Some(SECRET)), &body);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let event = run.json();
    assert_eq!(event["event"], "created");
    assert_eq!((event["user"].as_str(), event["target"].as_str()), (Some("app-user-1"), Some("oura")));
    assert_eq!(event["connection_id"], format!("{UID}/oura"));
    assert_eq!(event["delivery_id"], "msg_cli_1");

    // The same delivery again, as a resend: refused, exit 2.
    verify(&strs(&args), env(Some(SECRET)), &body).assert_error("delivery `msg_cli_1` was already handled");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_signature_stale_timestamp_and_missing_headers_exit_2() {
    let dir = dir("bad");
    let body = created("app-user-1");
    let args = with_dir(header_args(HeaderStyle::Svix, "msg_cli_2", now(), &body, SECRET), &dir);
    let mut tampered = body.clone();
    tampered[5] ^= 1;
    verify(&strs(&args), env(Some(SECRET)), &tampered).assert_error("no signature matches");
    let other = "whsec_b3RoZXItc2VjcmV0LW5vdC1jb25maWd1cmVk";
    let forged = with_dir(header_args(HeaderStyle::Svix, "msg_cli_3", now(), &body, other), &dir);
    verify(&strs(&forged), env(Some(SECRET)), &body).assert_error("no signature matches");
    let stale = with_dir(header_args(HeaderStyle::Svix, "msg_cli_4", now() - 3600, &body, SECRET), &dir);
    verify(&strs(&stale), env(Some(SECRET)), &body).assert_error("signed 3600s ago");
    let future = with_dir(header_args(HeaderStyle::Svix, "msg_cli_5", now() + 3600, &body, SECRET), &dir);
    verify(&strs(&future), env(Some(SECRET)), &body).assert_error("in the future");
    verify(&strs(&with_dir(vec![], &dir)), env(Some(SECRET)), &body)
        .assert_error("header `webhook-id` (or `svix-id`) is missing");
    // A refused delivery is not recorded: the good one still verifies.
    assert_eq!(verify(&strs(&args), env(Some(SECRET)), &body).code, 0);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn body_file_standard_header_names_and_other_events() {
    let dir = dir("file");
    let body = br#"{"event_type":"daily.data.sleep.created","user_id":"x","data":{}}"#;
    let file = dir.with_extension("json");
    std::fs::write(&file, body).unwrap();
    let mut args = with_dir(header_args(HeaderStyle::Standard, "msg_cli_6", now(), body, SECRET), &dir);
    args.extend(["--body-file".to_owned(), file.display().to_string()]);
    // Rotation: the configured list holds an old secret and the current one.
    let rotated = format!("whsec_b2xkLXNpZ25pbmctc2VjcmV0LWZvci1yb3RhdGlvbg==, {SECRET}");
    let run = verify(&strs(&args), env(Some(&rotated)), b"stdin is not read");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json(), json!({"event": null, "delivery_id": "msg_cli_6"}));
    let missing = dir.join("nope.json").display().to_string();
    verify(&["--body-file", &missing], env(Some(SECRET)), b"").assert_error("cannot read");
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_file(file);
}

#[test]
fn configuration_and_usage_errors_exit_2() {
    let dir = dir("config");
    let body = created("app-user-1");
    let args = with_dir(header_args(HeaderStyle::Svix, "msg_cli_7", now(), &body, SECRET), &dir);
    verify(&strs(&args), env(None), &body).assert_error("webhook_secret");
    verify(&strs(&args), env(Some("whsec_%%%")), &body).assert_error("not `whsec_` followed by base64");
    let mut novu = vec![
        ("OAUTH_LINK_PROVIDER".to_owned(), "novu".to_owned()),
        ("OAUTH_LINK_NOVU_API_KEY".to_owned(), "novu-key".to_owned()),
    ];
    novu.push(("OAUTH_LINK_NOVU_BASE_URL".to_owned(), "http://127.0.0.1:9".to_owned()));
    verify(&strs(&args), novu, &body).assert_error("novu does not support webhook events");
    // A malformed flag is a usage error, reported by clap with the usage.
    let usage = verify(&["--header", "no colon here"], env(Some(SECRET)), &body);
    assert_eq!(usage.code, 2);
    assert!(usage.stderr.contains("is not `name: value`"), "{}", usage.stderr);
    verify(&["--header", "bad name: x"], env(Some(SECRET)), &body).assert_error("is not a header name");
    let big = vec![b' '; oauth_link_cli::webhook::MAX_BODY + 1];
    verify(&strs(&args), env(Some(SECRET)), &big).assert_error("is over");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_binary_reads_the_body_from_stdin() {
    use std::io::Write;

    let dir = dir("binary");
    let body = created("app-user-9");
    let args = with_dir(header_args(HeaderStyle::Svix, "msg_cli_8", now(), &body, SECRET), &dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_oauth-link"))
        .env_clear()
        .envs(env(Some(SECRET)))
        .args(["webhook", "verify"])
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let event: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(event["user"], "app-user-9");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sandbox_webhook_flags_go_together_and_are_checked() {
    let sandbox = |args: &[&str]| {
        let argv = ["oauth-link", "sandbox"].into_iter().chain(args.iter().copied());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = oauth_link_cli::run_with_stdin(argv, Vec::new(), &mut &b""[..], &mut out, &mut err);
        (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    };
    let (code, out, err) = sandbox(&["--webhook-url", "http://127.0.0.1:9/hooks"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.contains("--webhook-secret"), "{err}");
    let (code, out, err) = sandbox(&["--webhook-url", "http://127.0.0.1:9/hooks", "--webhook-secret", "not base64!"]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(err.starts_with("error: ") && err.contains("`whsec_` followed by base64"), "{err}");
    assert!(!err.contains("not base64!"), "{err}");
    let (code, _, err) = sandbox(&["--webhook-url", "ftp://x", "--webhook-secret", SECRET]);
    assert_eq!(code, 2, "{err}");
}
