//! The demo web app over HTTP, as a browser drives it: sign in, Connect, consent on the
//! sandbox page, back through the oauth-link-axum router, the connections page, Disconnect;
//! and the failure page (denied consent, replayed state, another user's link, platform
//! failure). Cookies are kept by hand. The router's own cases (tampered, expired, foreign
//! states...) are tested in crates/oauth-link-axum.

use std::collections::BTreeMap;
use std::time::Duration;

use oauth_link::Url;
use oauth_link_cli::demo::{self, DemoOptions, RunningDemo};
use oauth_link_sandbox::{FaultConfig, DEFAULT_ALLOY_API_KEY, DEFAULT_JUNCTION_API_KEY, DEFAULT_NOVU_API_KEY};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

/// One HTTP answer, body read.
#[derive(Debug)]
struct Page {
    status: StatusCode,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

impl Page {
    /// The `data-kind` of an error page.
    fn error_kind(&self) -> Option<&str> {
        let at = self.body.find("id=\"error\"")?;
        let rest = &self.body[at..];
        let start = rest.find("data-kind=\"")? + "data-kind=\"".len();
        rest[start..].split('"').next()
    }
}

/// A browser without JavaScript: no redirects followed, cookies kept by hand.
struct Browser {
    client: reqwest::Client,
    base: Url,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new(demo: &RunningDemo) -> Self {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Self { client, base: Url::parse(demo.url()).expect("demo URL"), cookies: BTreeMap::new() }
    }

    fn url(&self, path: &str) -> Url {
        self.base.join(path).expect("URL")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let mut request = request;
        if !self.cookies.is_empty() {
            let header: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            request = request.header(COOKIE, header.join("; "));
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let location = response.headers().get(LOCATION).map(|v| v.to_str().expect("location").to_owned());
        let set_cookies: Vec<String> =
            response.headers().get_all(SET_COOKIE).iter().map(|v| v.to_str().expect("cookie").to_owned()).collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap_or("");
            let (name, value) = pair.split_once('=').expect("name=value");
            if c.contains("Max-Age=0") || value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let body = response.text().await.expect("body");
        for secret in [DEFAULT_ALLOY_API_KEY, DEFAULT_NOVU_API_KEY, DEFAULT_JUNCTION_API_KEY] {
            assert!(!body.contains(secret), "a page shows an API key: {body}");
        }
        Page { status, location, set_cookies, body }
    }

    async fn get(&mut self, url: &str) -> Page {
        let url = self.url(url);
        let request = self.client.get(url);
        self.send(request).await
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let url = self.url(url);
        let request = self.client.post(url).form(form);
        self.send(request).await
    }

    /// Signs in as `user` with the demo's fake login.
    async fn sign_in(&mut self, user: &str) {
        let page = self.post("/login", &[("user", user)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        assert!(self.get("/").await.body.contains(&format!("<b id=\"user\">{user}</b>")));
    }

    fn link_cookies(&self) -> usize {
        self.cookies.keys().filter(|k| k.starts_with("oauth_link_pending_")).count()
    }

    /// Index → Connect: returns the platform (sandbox consent) URL.
    async fn connect(&mut self, provider: &str, target: &str, params: &str) -> String {
        let index = self.get("/").await;
        assert_eq!(index.status, StatusCode::OK);
        let button = format!("id=\"connect-{provider}-{target}\"");
        assert!(index.body.contains(&button), "{provider}: {target} not offered");
        let before = self.link_cookies();
        let page = self.post(&format!("/oauth/{provider}/connect/{target}"), &[("params", params)]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{provider}: {}", page.body);
        let cookie = page.set_cookies.iter().find(|c| c.starts_with("oauth_link_pending_")).expect("link cookie");
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/oauth"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert_eq!(self.link_cookies(), before + 1);
        let location = page.location.expect("location");
        assert!(location.starts_with(&format!("{}sandbox/", self.base)), "{location}");
        location
    }

    /// Opens the consent page and submits its `approve` or `deny` form.
    async fn consent(&mut self, consent_url: &str, form_id: &str) -> Page {
        let page = self.get(consent_url).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let (action, fields) = parse_form(&page.body, &format!("<form id=\"{form_id}\""));
        let target = Url::parse(consent_url).expect("consent URL").join(&action).expect("action");
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post(target.as_str(), &fields).await
    }

    /// Follows a redirect to the router's callback.
    async fn follow(&mut self, page: &Page) -> Page {
        let location = page.location.as_deref().expect("redirect");
        assert!(location.starts_with(&format!("{}oauth/", self.base)), "{location}");
        assert!(location.contains("/callback"), "{location}");
        self.get(location).await
    }
}

/// The action and hidden fields of the first form whose tag starts with `opening`.
fn parse_form(html: &str, opening: &str) -> (String, Vec<(String, String)>) {
    let start = html.find(opening).unwrap_or_else(|| panic!("no {opening} in {html}"));
    let form = &html[start..start + html[start..].find("</form>").expect("form end")];
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!("{name}=\"");
        let at = tag.find(&key)? + key.len();
        Some(tag[at..].split('"').next()?.replace("&amp;", "&"))
    };
    let action = attr(form, "action").expect("action");
    let fields = form
        .split("<input")
        .skip(1)
        .filter(|tag| tag.contains("type=\"hidden\""))
        .filter_map(|tag| Some((attr(tag, "name")?, attr(tag, "value")?)))
        .collect();
    (action, fields)
}

fn options() -> DemoOptions {
    DemoOptions { poll_timeout: Duration::from_millis(400), ..DemoOptions::default() }
}

/// (provider, target, extra params) for each platform.
const CASES: [(&str, &str, &str); 4] = [
    ("alloy-headless", "shopify", "shopSubdomain=acme"),
    ("alloy-connectors", "notion", ""),
    ("novu", "slack", ""),
    ("junction", "oura", ""),
];

/// The Connect buttons of a provider's card, in order: (target id, label).
fn target_buttons(page: &str, provider: &str) -> Vec<(String, String)> {
    let marker = format!("id=\"connect-{provider}-");
    page.split("<button type=\"submit\"")
        .skip(1)
        .filter(|b| b.contains(&marker))
        .map(|b| {
            let attr = |name: &str| {
                let key = format!("{name}=\"");
                let at = b.find(&key).expect("attribute") + key.len();
                b[at..].split('"').next().unwrap_or("").to_owned()
            };
            let label = b.split('>').nth(1).and_then(|l| l.split("</button").next()).unwrap_or("").to_owned();
            (attr("data-target"), label)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cards_list_each_platforms_catalogue() {
    let demo = demo::start(options()).await.expect("demo");
    let mut browser = Browser::new(&demo);
    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    for (provider, target, params) in CASES {
        let buttons = target_buttons(&page.body, provider);
        assert!(buttons.iter().any(|(id, _)| id == target), "{provider}: {target} not offered: {buttons:?}");
        assert!(!buttons[0].1.contains("needs"), "{provider}: the first target needs no parameter: {buttons:?}");
        if let Some((name, _)) = params.split_once('=') {
            let (_, label) = buttons.iter().find(|(id, _)| id == target).expect("offered");
            assert!(label.contains(&format!("needs {name}")), "{provider}: {label}");
        }
    }
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_list_and_disconnect_on_every_provider() {
    let demo = demo::start(options()).await.expect("demo");
    let mut browser = Browser::new(&demo);
    for (provider, target, params) in CASES {
        let user = format!("user-{provider}");
        browser.sign_in(&user).await;
        let consent = browser.connect(provider, target, params).await;
        let approved = browser.consent(&consent, "approve").await;
        assert_eq!(approved.status, StatusCode::SEE_OTHER, "{provider}: {}", approved.body);
        let done = browser.follow(&approved).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{provider}: {}", done.body);
        assert_eq!(browser.link_cookies(), 0, "{provider}: link cookie not cleared");
        let list_url = done.location.clone().expect("location");
        assert!(list_url.starts_with(&format!("/connections?provider={provider}&connection=")), "{list_url}");
        assert!(list_url.ends_with(&format!("&target={target}")), "{list_url}");

        let list = browser.get(&list_url).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.body.contains(&format!("Connected {target} (connection")), "{provider}: no flash: {}", list.body);
        assert!(list.body.contains(&format!("<span id=\"user\">{user}</span>")), "{provider}");
        assert!(list.body.contains(&format!("data-target=\"{target}\"")), "{provider}: {}", list.body);
        let (action, _) = parse_form(&list.body, "<form class=\"disconnect\"");
        // The flash is not a claim anyone can make: an unknown id shows none.
        let spoof = format!("/connections?provider={provider}&connection=forged&target=x");
        assert!(!browser.get(&spoof).await.body.contains("id=\"flash\""));

        let gone = browser.post(&action, &[]).await;
        assert_eq!(gone.status, StatusCode::SEE_OTHER, "{provider}: {}", gone.body);
        let list = browser.get(gone.location.as_deref().expect("location")).await;
        assert!(list.body.contains("id=\"no-connections\""), "{provider}: {}", list.body);
        assert!(list.body.contains("Disconnected"), "{provider}");
    }
    demo.shutdown().await;
}

/// The connections page shows each connection's health; a connection the sandbox puts in
/// error (a revoked token, as Junction reports it) shows as needing re-authorisation with a
/// Reconnect button, which re-links it in place: the same id, connected again, one row.
/// Where the platform reports no health (Alloy), the simulation says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reconnect_on_the_connections_page() {
    let demo = demo::start(options()).await.expect("demo");
    let mut browser = Browser::new(&demo);
    browser.sign_in("health-user").await;
    let consent = browser.connect("junction", "oura", "").await;
    let approved = browser.consent(&consent, "approve").await;
    let done = browser.follow(&approved).await;
    let list = browser.get(done.location.as_deref().expect("location")).await;
    assert!(list.body.contains("data-status=\"connected\""), "{}", list.body);
    assert!(!list.body.contains("class=\"reconnect\""), "no Reconnect for a healthy connection");

    // Sandbox mode: have the sandbox break it.
    let (action, fields) = parse_form(&list.body, "<form class=\"simulate\"");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let id = fields.iter().find(|(k, _)| *k == "id").expect("id").1.to_owned();
    let broken = browser.post(&action, &fields).await;
    assert_eq!(broken.status, StatusCode::SEE_OTHER, "{}", broken.body);
    let list = browser.get(broken.location.as_deref().expect("location")).await;
    assert!(list.body.contains("data-status=\"needs_reauthorization\""), "{}", list.body);
    assert!(list.body.contains("needs re-authorisation") && list.body.contains("token_refresh_failed"));
    assert!(list.body.contains("The sandbox put"), "flash: {}", list.body);

    // Reconnect: the router's connect route with `reconnect=<id>`, consent, back.
    let (action, fields) = parse_form(&list.body, "<form class=\"reconnect\"");
    assert_eq!(action, "/oauth/junction/connect/oura");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(fields, [("reconnect", id.as_str())]);
    let start = browser.post(&action, &fields).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    let approved = browser.consent(start.location.as_deref().expect("consent"), "approve").await;
    let done = browser.follow(&approved).await;
    let list_url = done.location.clone().expect("location");
    assert!(
        list_url.contains(&format!(
            "connection={}",
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
        )),
        "the same id: {list_url}"
    );
    let list = browser.get(&list_url).await;
    assert_eq!(list.body.matches("<tr class=\"connection\"").count(), 1, "{}", list.body);
    assert!(list.body.contains("data-status=\"connected\""), "{}", list.body);

    // Alloy records carry no health: nothing to break.
    let consent = browser.connect("alloy-connectors", "notion", "").await;
    let approved = browser.consent(&consent, "approve").await;
    let done = browser.follow(&approved).await;
    let list = browser.get(done.location.as_deref().expect("location")).await;
    let (action, fields) = parse_form(&list.body, "<form class=\"simulate\"");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let answer = browser.post(&action, &fields).await;
    let list = browser.get(answer.location.as_deref().expect("location")).await;
    assert!(list.body.contains("reports no health"), "{}", list.body);
    assert!(list.body.contains("data-status=\"connected\""));
    // Another user's connection cannot be broken from here.
    browser.sign_in("someone-else").await;
    assert_eq!(browser.post(&action, &fields).await.status, StatusCode::NOT_FOUND);
    demo.shutdown().await;
}

/// Follows a failure redirect to the demo's page: (status, kind).
async fn failure(browser: &mut Browser, page: &Page, code: &str) -> Page {
    let location = page.location.as_deref().unwrap_or_else(|| panic!("no redirect: {}", page.body));
    assert!(location.starts_with("/failed?") && location.ends_with(&format!("&code={code}")), "{location}");
    let shown = browser.get(location).await;
    assert_eq!(shown.error_kind(), Some(code), "{}", shown.body);
    shown
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_consent_shows_the_right_page_per_provider() {
    let demo = demo::start(options()).await.expect("demo");
    let mut browser = Browser::new(&demo);
    // Alloy (both APIs) and Junction redirect back with the error: the demo says so.
    for (provider, target, params) in [CASES[0], CASES[1], CASES[3]] {
        let consent = browser.connect(provider, target, params).await;
        let denied = browser.consent(&consent, "deny").await;
        assert!(denied.status.is_redirection(), "{provider}: {}", denied.body);
        let back = browser.follow(&denied).await;
        let page = failure(&mut browser, &back, "denied").await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{provider}");
        assert!(page.body.contains("Consent was not given"));
        assert_eq!(browser.link_cookies(), 0, "{provider}");
    }
    // Novu shows its own 400 page and never comes back; finishing anyway is "not
    // confirmed yet" (retryable): the link stays in progress until it expires.
    let consent = browser.connect("novu", "slack", "").await;
    let denied = browser.consent(&consent, "deny").await;
    assert_eq!(denied.status, StatusCode::BAD_REQUEST);
    assert!(denied.body.contains("OAuth error: access_denied"), "{}", denied.body);
    assert!(browser.get("/").await.body.contains("id=\"finish-novu\""));
    let pending = browser.get("/oauth/novu/callback").await;
    let page = failure(&mut browser, &pending, "pending").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(page.body.contains("id=\"retry\""));
    assert_eq!(browser.link_cookies(), 1);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_callbacks_and_another_users_links_are_refused() {
    let demo = demo::start(options()).await.expect("demo");
    let mut browser = Browser::new(&demo);
    browser.sign_in("replayer").await;

    // App redirect: the state rides on the URL; the same URL a second time is a replay.
    let consent = browser.connect("junction", "oura", "").await;
    let approved = browser.consent(&consent, "approve").await;
    let kept = browser.cookies.clone();
    assert_eq!(browser.follow(&approved).await.status, StatusCode::SEE_OTHER);
    browser.cookies = kept;
    let again = browser.follow(&approved).await;
    let page = failure(&mut browser, &again, "state-replayed").await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    let state = Url::parse(approved.location.as_deref().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "oauth_link_state")
        .map(|(_, v)| v.into_owned())
        .expect("state on the redirect");
    assert!(!page.body.contains(&state) && !again.location.unwrap().contains(&state), "the state is echoed");

    // Hosted: started as one user, finished as another in the same browser: refused, and
    // the first user's link is still there for them.
    let consent = browser.connect("novu", "slack", "").await;
    let approved = browser.consent(&consent, "approve").await;
    browser.sign_in("someone-else").await;
    let refused = browser.follow(&approved).await;
    let page = failure(&mut browser, &refused, "state-user-mismatch").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    browser.sign_in("replayer").await;
    let done = browser.follow(&approved).await;
    assert!(done.location.as_deref().unwrap_or("").starts_with("/connections?provider=novu&connection="), "{done:?}");
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_unknown_pages() {
    let demo = demo::start(options()).await.expect("demo");
    let mut browser = Browser::new(&demo);
    let page = browser.post("/oauth/alloy-headless/connect/shopify", &[("params", "oops")]).await;
    failure(&mut browser, &page, "invalid-input").await;
    let page = browser.post("/oauth/nope/connect/x", &[]).await;
    failure(&mut browser, &page, "unknown-provider").await;
    assert_eq!(browser.post("/login", &[("user", "<script>")]).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(browser.get("/nowhere").await.status, StatusCode::NOT_FOUND);
    assert_eq!(browser.get("/connections?provider=nope").await.status, StatusCode::NOT_FOUND);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_failures_are_reported() {
    let demo = demo::start(options()).await.expect("demo");
    let sandbox = demo.sandbox().expect("sandbox mode").clone();
    sandbox
        .set_faults(FaultConfig { rate_500: 1.0, platforms: vec!["novu".into()], ..FaultConfig::default() })
        .expect("faults");
    let mut browser = Browser::new(&demo);
    let page = browser.post("/oauth/novu/connect/slack", &[]).await;
    let shown = failure(&mut browser, &page, "platform-error").await;
    assert_eq!(shown.status, StatusCode::BAD_GATEWAY);
    let page = browser.get("/connections?provider=novu").await;
    assert_eq!((page.status, page.error_kind()), (StatusCode::BAD_GATEWAY, Some("platform")));
    assert!(page.body.contains("id=\"retry\""), "transient: offers a retry");
    demo.shutdown().await;
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_platform_mode_offers_only_the_configured_provider() {
    // The "real" Junction is a sandbox on its own port; the demo serves no /sandbox.
    let platform =
        oauth_link_sandbox::Sandbox::start(oauth_link_sandbox::SandboxConfig::default()).await.expect("sandbox");
    let settings = oauth_link::Settings::from_env_vars([
        ("OAUTH_LINK_PROVIDER".to_owned(), "junction".to_owned()),
        ("OAUTH_LINK_JUNCTION_API_KEY".to_owned(), DEFAULT_JUNCTION_API_KEY.to_owned()),
        ("OAUTH_LINK_JUNCTION_BASE_URL".to_owned(), platform.base_url(oauth_link_sandbox::Platform::Junction)),
        ("OAUTH_LINK_JUNCTION_POLL_TIMEOUT_MS".to_owned(), "400".to_owned()),
    ])
    .expect("settings");
    let demo = demo::start(DemoOptions { settings: Some(settings), ..options() }).await.expect("demo");
    assert!(demo.sandbox().is_none());
    assert!(demo.notes().iter().any(|n| n.contains("OAUTH_LINK_STATE_SECRET is not set")), "{:?}", demo.notes());
    let mut browser = Browser::new(&demo);
    let index = browser.get("/").await;
    assert!(index.body.contains("id=\"connect-junction\"") && !index.body.contains("id=\"connect-novu\""));
    assert_eq!(browser.get("/sandbox/__sandbox/health").await.status, StatusCode::NOT_FOUND);

    browser.sign_in("real-user").await;
    let page = browser.post("/oauth/junction/connect/oura", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let consent = page.location.expect("platform URL");
    assert!(consent.starts_with(platform.url()), "{consent}");
    // No redirect_uri configured: the router put its own callback on the request.
    let approved = browser.consent(&consent, "approve").await;
    let done = browser.follow(&approved).await;
    let list_url = done.location.expect("to the connections page");
    assert!(list_url.starts_with("/connections?provider=junction&connection="), "{list_url}");
    let list = browser.get(&list_url).await;
    assert!(list.body.contains("data-target=\"oura\""), "{}", list.body);
    demo.shutdown().await;
    platform.shutdown().await.expect("sandbox shutdown");
}

#[test]
fn the_binary_prints_its_url_then_serves() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oauth-link"))
        .args(["demo", "--port", "0"])
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    let read = std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
    let check = || -> Result<(), String> {
        read.map_err(|e| e.to_string())?;
        let doc: serde_json::Value = serde_json::from_str(&line).map_err(|e| format!("{e}: {line}"))?;
        let url = doc["url"].as_str().ok_or(format!("no url in {line}"))?.to_owned();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let body = rt.block_on(async move {
            let client =
                reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| e.to_string())?;
            client.get(url).send().await.map_err(|e| e.to_string())?.text().await.map_err(|e| e.to_string())
        })?;
        if body.contains("id=\"connect-junction\"") {
            Ok(())
        } else {
            Err(format!("unexpected index page: {body}"))
        }
    };
    let result = check();
    let _ = child.kill();
    let _ = child.wait();
    result.expect("demo binary");
}
