//! The demo and the oauth-link-axum example app in a real browser: headless Chromium,
//! driven over WebDriver by fantoccini, both through the oauth-link-axum router.
//!
//! The demo, for each of the four platforms: Connect, Approve on the sandbox consent page,
//! see the connection, Disconnect, see it gone. The example
//! (`crates/oauth-link-axum/examples/axum_app.rs`, run in-process): sign in, then Connect and
//! Approve on each platform. With `OAUTH_LINK_WRITE_SCREENSHOT=1` the demo's connections page
//! is saved as `docs/demo.png`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`); `CHROMIUM` and `CHROMEDRIVER` override the paths. Without them the test
//! fails, saying what to install.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use oauth_link_cli::demo::{self, DemoOptions};
use serde_json::json;

/// The example app, compiled in (its `main` is not used here).
#[allow(dead_code)]
#[path = "../crates/oauth-link-axum/examples/axum_app.rs"]
mod axum_app;

/// (provider, target) connected on each platform.
const CASES: [(&str, &str); 4] =
    [("junction", "oura"), ("novu", "slack"), ("alloy-headless", "slack"), ("alloy-connectors", "notion")];

/// Whole-test budget: nothing here may hang longer.
const BUDGET: Duration = Duration::from_secs(150);
/// How long one page may take to show what we wait for.
const STEP: Duration = Duration::from_secs(15);

/// chromedriver as a child process, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh profile directory, removed on drop.
struct Profile(PathBuf);

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tool(env: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.exists(),
        "{} not found: the browser test needs Chromium and its WebDriver; install the Debian packages \
         `chromium chromium-driver` (apt-get install -y chromium chromium-driver), or set {env}",
        path.display()
    );
    path
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

async fn start_driver(path: &Path) -> Driver {
    let port = free_port();
    let child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
    let driver = Driver { child, port };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = client.get(format!("http://127.0.0.1:{port}/status")).send().await;
        if status.is_ok_and(|r| r.status().is_success()) {
            return driver;
        }
        assert!(Instant::now() < deadline, "chromedriver did not answer on port {port} within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let args = [
        "--headless".to_owned(),
        "--no-sandbox".to_owned(),
        "--disable-gpu".to_owned(),
        "--disable-quic".to_owned(),
        "--no-first-run".to_owned(),
        "--disable-background-networking".to_owned(),
        "--disable-component-update".to_owned(),
        "--disable-sync".to_owned(),
        "--disable-dev-shm-usage".to_owned(),
        "--window-size=1000,520".to_owned(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), json!({ "args": args, "binary": chromium }));
    // chromedriver listens on loopback over plain HTTP: no TLS stack needed.
    ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("WebDriver session with headless Chromium")
}

/// Connect `target` on `provider` from the demo's index page, approve, and land on the
/// connections page showing it.
async fn connect_and_approve(c: &Client, base: &str, provider: &str, target: &str) {
    c.goto(base).await.expect("index");
    let button = format!("connect-{provider}-{target}");
    c.find(Locator::Id(&button)).await.expect("Connect button").click().await.expect("click");
    approve(c, provider).await;
    let row = format!("tr.connection[data-target='{target}']");
    c.wait().at_most(STEP).for_element(Locator::Css(&row)).await.expect("the new connection is listed");
    assert_eq!(c.current_url().await.expect("url").path(), "/connections");
    let flash = c.find(Locator::Id("flash")).await.expect("flash").text().await.expect("text");
    assert!(flash.contains(&format!("Connected {target}")), "{provider}: {flash}");
}

/// On the sandbox's consent page of `provider`: Approve.
async fn approve(c: &Client, provider: &str) {
    let Ok(approve) = c.wait().at_most(STEP).for_element(Locator::Id("approve-button")).await else {
        let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_default();
        let source = c.source().await.unwrap_or_default();
        panic!("{provider}: no consent page at {url}: {}", source.chars().take(1500).collect::<String>());
    };
    let path = c.current_url().await.expect("url").path().to_owned();
    assert!(path.starts_with(&format!("/sandbox/{}", sandbox_prefix(provider))), "{provider}: {path}");
    approve.click().await.expect("Approve");
}

fn sandbox_prefix(provider: &str) -> &str {
    if provider.starts_with("alloy") {
        "alloy"
    } else {
        provider
    }
}

async fn disconnect(c: &Client, target: &str) {
    let row = format!("tr.connection[data-target='{target}'] button.disconnect-button");
    c.find(Locator::Css(&row)).await.expect("Disconnect button").click().await.expect("click");
    c.wait().at_most(STEP).for_element(Locator::Id("no-connections")).await.expect("the connection is gone");
    let rows = c.find_all(Locator::Css("tr.connection")).await.expect("rows");
    assert!(rows.is_empty());
}

async fn scenario(c: &Client, base: &str) {
    for (provider, target) in CASES {
        connect_and_approve(c, base, provider, target).await;
        if provider == "junction" {
            let png = c.screenshot().await.expect("screenshot");
            assert!(png.starts_with(b"\x89PNG"), "not a PNG");
            if std::env::var("OAUTH_LINK_WRITE_SCREENSHOT").as_deref() == Ok("1") {
                let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/demo.png");
                std::fs::write(&path, &png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
            }
        }
        disconnect(c, target).await;
    }
}

/// The example app: sign in, then connect each platform's offered target.
async fn example_scenario(c: &Client, base: &str) {
    c.goto(base).await.expect("example home");
    c.find(Locator::Id("user")).await.expect("login form").send_keys("ada").await.expect("type");
    c.find(Locator::Id("login")).await.expect("Sign in").click().await.expect("click");
    c.wait().at_most(STEP).for_element(Locator::Css("b#user")).await.expect("signed in");
    for (provider, target) in CASES {
        c.find(Locator::Id(&format!("connect-{provider}"))).await.expect("Connect link").click().await.expect("click");
        approve(c, provider).await;
        let shown = c.wait().at_most(STEP).for_element(Locator::Id("connected")).await.expect("back home, connected");
        let text = shown.text().await.expect("text");
        assert_eq!(text, format!("Connected {target}"), "{provider}");
        c.goto(&format!("{base}oauth/{provider}/connections")).await.expect("connections JSON");
        let source = c.source().await.expect("source");
        assert!(source.contains(&format!("\"target\":\"{target}\"")), "{provider}: {source}");
        assert!(source.contains("\"user\":\"ada\""), "{provider}: {source}");
        c.goto(base).await.expect("home");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_and_disconnect_in_headless_chromium() {
    let chromedriver = tool("CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = tool("CHROMIUM", "/usr/bin/chromium");
    let started = Instant::now();
    let demo = demo::start(DemoOptions::default()).await.expect("demo server");
    let base = demo.url().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("example port");
    let example_base = format!("http://{}/", listener.local_addr().expect("addr"));
    let example = tokio::spawn(axum_app::serve(listener));
    let driver = start_driver(&chromedriver).await;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let profile = Profile(std::env::temp_dir().join(format!("oauth-link-chromium-{}-{nanos}", std::process::id())));
    std::fs::create_dir_all(&profile.0).expect("profile dir");

    let left = BUDGET.saturating_sub(started.elapsed());
    let outcome = tokio::time::timeout(left, async {
        let client = browser(&driver, &chromium, &profile.0).await;
        let result = tokio::spawn({
            let client = client.clone();
            let base = base.clone();
            async move {
                scenario(&client, &base).await;
                example_scenario(&client, &example_base).await;
            }
        })
        .await;
        let _ = client.close().await;
        result
    })
    .await;
    drop(driver);
    example.abort();
    demo.shutdown().await;
    match outcome {
        Err(_) => panic!("the browser test did not finish within {BUDGET:?}"),
        Ok(Err(join)) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
        Ok(Err(join)) => panic!("browser scenario failed: {join}"),
        Ok(Ok(())) => {}
    }
}
