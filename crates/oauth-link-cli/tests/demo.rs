//! The demo web app over HTTP, as a browser drives it: Connect, consent on the sandbox page,
//! back to /callback, the connections page, Disconnect; and the error pages (denied consent,
//! replayed and expired state, tampered cookie, platform failure). Cookies are kept by hand.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use oauth_link::{clock::ManualClock, Url};
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

    /// Index → Connect: returns the platform (sandbox consent) URL.
    async fn connect(&mut self, provider: &str, user: &str, target: &str, params: &str) -> String {
        let index = self.get("/").await;
        assert_eq!(index.status, StatusCode::OK);
        assert!(index.body.contains(&format!("id=\"connect-{provider}\"")), "{provider} not offered");
        let page = self
            .post("/connect", &[("provider", provider), ("user", user), ("target", target), ("params", params)])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{provider}: {}", page.body);
        let cookie = page.set_cookies.iter().find(|c| c.starts_with("oauth_link_demo_link=")).expect("link cookie");
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
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

    /// Follows a redirect to the demo's /callback.
    async fn follow(&mut self, page: &Page) -> Page {
        let location = page.location.as_deref().expect("redirect");
        assert!(location.starts_with(&format!("{}callback", self.base)), "{location}");
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

/// The `<select>` options of a provider's target picker, in order: (id, label).
fn target_options(page: &str, provider: &str) -> Vec<(String, String)> {
    let start = page
        .find(&format!("<select name=\"target\" id=\"target-{provider}\">"))
        .unwrap_or_else(|| panic!("{provider}: no target picker (the catalogue was not read): {page}"));
    let select = &page[start..start + page[start..].find("</select>").expect("select end")];
    select
        .split("<option value=\"")
        .skip(1)
        .map(|option| {
            let (id, rest) = option.split_once('"').expect("option value");
            let label = rest.trim_start_matches('>').split("</option>").next().unwrap_or("");
            (id.to_owned(), label.to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pickers_list_each_platforms_catalogue() {
    let demo = demo::start(options()).await.expect("demo");
    let mut browser = Browser::new(&demo);
    let page = browser.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    for (provider, target, params) in CASES {
        let options = target_options(&page.body, provider);
        assert!(options.iter().any(|(id, _)| id == target), "{provider}: {target} not offered: {options:?}");
        assert!(!options[0].1.contains("needs"), "{provider}: the default target needs no parameter: {options:?}");
        if let Some((name, _)) = params.split_once('=') {
            let (_, label) = options.iter().find(|(id, _)| id == target).expect("offered");
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
        let consent = browser.connect(provider, &user, target, params).await;
        let approved = browser.consent(&consent, "approve").await;
        assert_eq!(approved.status, StatusCode::SEE_OTHER, "{provider}: {}", approved.body);
        let done = browser.follow(&approved).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{provider}: {}", done.body);
        assert!(!browser.cookies.contains_key("oauth_link_demo_link"), "{provider}: link cookie not cleared");
        let list_url = done.location.clone().expect("location");
        assert_eq!(list_url, format!("/connections?provider={provider}&user={user}"));

        let list = browser.get(&list_url).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.body.contains(&format!("Connected {target} for {user}")), "{provider}: no flash: {}", list.body);
        assert!(list.body.contains(&format!("data-target=\"{target}\"")), "{provider}: {}", list.body);
        let (_, fields) = parse_form(&list.body, "<form class=\"disconnect\"");
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        // The flash shows once.
        assert!(!browser.get(&list_url).await.body.contains("id=\"flash\""));

        let gone = browser.post("/disconnect", &fields).await;
        assert_eq!(gone.status, StatusCode::SEE_OTHER, "{provider}: {}", gone.body);
        let list = browser.get(gone.location.as_deref().expect("location")).await;
        assert!(list.body.contains("id=\"no-connections\""), "{provider}: {}", list.body);
        assert!(list.body.contains("Disconnected"), "{provider}");
    }
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_consent_shows_the_right_page_per_provider() {
    let demo = demo::start(options()).await.expect("demo");
    let mut browser = Browser::new(&demo);
    // Alloy (both APIs) and Junction redirect back with the error: the demo says so.
    for (provider, target, params) in [CASES[0], CASES[1], CASES[3]] {
        let consent = browser.connect(provider, "denier", target, params).await;
        let denied = browser.consent(&consent, "deny").await;
        assert!(denied.status.is_redirection(), "{provider}: {}", denied.body);
        let page = browser.follow(&denied).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{provider}: {}", page.body);
        assert_eq!(page.error_kind(), Some("denied"), "{provider}: {}", page.body);
        assert!(page.body.contains("Consent was not given"));
        assert!(!browser.cookies.contains_key("oauth_link_demo_link"), "{provider}");
    }
    // Novu shows its own 400 page and never comes back; the demo explains it and lets the
    // user cancel the link in progress.
    let consent = browser.connect("novu", "denier", "slack", "").await;
    let denied = browser.consent(&consent, "deny").await;
    assert_eq!(denied.status, StatusCode::BAD_REQUEST);
    assert!(denied.body.contains("OAuth error: access_denied"), "{}", denied.body);
    let index = browser.get("/").await;
    assert!(index.body.contains("id=\"pending\""), "{}", index.body);
    assert!(index.body.contains("will not come back"), "{}", index.body);
    // Finishing it anyway: not confirmed (retryable), the link stays in progress.
    let pending = browser.get("/callback?provider=novu").await;
    assert_eq!(pending.status, StatusCode::BAD_GATEWAY, "{}", pending.body);
    assert_eq!(pending.error_kind(), Some("pending"));
    assert!(pending.body.contains("id=\"retry\""));
    assert!(browser.cookies.contains_key("oauth_link_demo_link"));
    let cancelled = browser.post("/cancel", &[]).await;
    assert_eq!(cancelled.status, StatusCode::SEE_OTHER);
    assert!(!browser.cookies.contains_key("oauth_link_demo_link"));
    assert!(browser.get("/").await.body.contains("The link in progress was cancelled."));
    let none = browser.get("/callback?provider=novu").await;
    assert_eq!((none.status, none.error_kind()), (StatusCode::BAD_REQUEST, Some("no_state")));
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_callbacks_are_refused() {
    let demo = demo::start(options()).await.expect("demo");
    let mut browser = Browser::new(&demo);

    // App redirect: the state rides on the URL; the same URL a second time is a replay.
    let consent = browser.connect("junction", "replayer", "oura", "").await;
    let approved = browser.consent(&consent, "approve").await;
    assert_eq!(browser.follow(&approved).await.status, StatusCode::SEE_OTHER);
    let again = browser.follow(&approved).await;
    assert_eq!((again.status, again.error_kind()), (StatusCode::CONFLICT, Some("replayed")), "{}", again.body);
    let state = Url::parse(approved.location.as_deref().unwrap())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "oauth_link_state")
        .map(|(_, v)| v.into_owned())
        .expect("state on the redirect");
    assert!(!again.body.contains(&state), "the error page echoes the state");

    // Hosted: a browser that kept the old cookie replays it; one without gets no_state.
    let consent = browser.connect("novu", "replayer", "slack", "").await;
    let kept = browser.cookies.clone();
    let approved = browser.consent(&consent, "approve").await;
    assert_eq!(browser.follow(&approved).await.status, StatusCode::SEE_OTHER);
    let without = browser.follow(&approved).await;
    assert_eq!((without.status, without.error_kind()), (StatusCode::BAD_REQUEST, Some("no_state")));
    browser.cookies = kept;
    let replay = browser.follow(&approved).await;
    assert_eq!((replay.status, replay.error_kind()), (StatusCode::CONFLICT, Some("replayed")), "{}", replay.body);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_state_and_tampered_cookies_are_refused() {
    let clock = ManualClock::starting_now();
    let demo = demo::start(DemoOptions { clock: Some(Arc::new(clock.clone())), ..options() }).await.expect("demo");
    let mut browser = Browser::new(&demo);

    let consent = browser.connect("alloy-connectors", "late", "slack", "").await;
    let approved = browser.consent(&consent, "approve").await;
    clock.advance(Duration::from_secs(11 * 60));
    let expired = browser.follow(&approved).await;
    assert_eq!((expired.status, expired.error_kind()), (StatusCode::BAD_REQUEST, Some("expired")), "{}", expired.body);

    // A flipped character in the signed cookie.
    let _ = browser.connect("alloy-headless", "tamper", "slack", "").await;
    let value = browser.cookies.get_mut("oauth_link_demo_link").expect("cookie");
    let flipped = if value.ends_with('A') { 'B' } else { 'A' };
    value.pop();
    value.push(flipped);
    let page = browser.get("/callback?provider=alloy-headless").await;
    assert_eq!((page.status, page.error_kind()), (StatusCode::BAD_REQUEST, Some("state_invalid")), "{}", page.body);
    assert!(!browser.cookies.contains_key("oauth_link_demo_link"), "a bad cookie is cleared");

    // A link in progress for one provider, a return from another.
    let _ = browser.connect("novu", "mixer", "slack", "").await;
    let page = browser.get("/callback?provider=alloy-headless").await;
    assert_eq!((page.status, page.error_kind()), (StatusCode::BAD_REQUEST, Some("state_invalid")), "{}", page.body);
    assert!(page.body.contains("another provider"));

    // Bad input is an error page, not a crash.
    let page = browser.post("/connect", &[("provider", "junction"), ("user", " "), ("target", "oura")]).await;
    assert_eq!((page.status, page.error_kind()), (StatusCode::BAD_REQUEST, Some("invalid_input")));
    let page = browser.post("/connect", &[("provider", "nope")]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let page = browser
        .post("/connect", &[("provider", "alloy-headless"), ("user", "u"), ("target", "shopify"), ("params", "oops")])
        .await;
    assert_eq!((page.status, page.error_kind()), (StatusCode::BAD_REQUEST, Some("invalid_input")));
    assert_eq!(browser.get("/nowhere").await.status, StatusCode::NOT_FOUND);
    assert_eq!(browser.get("/connections?provider=junction").await.status, StatusCode::BAD_REQUEST);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_failures_are_502_pages() {
    let demo = demo::start(options()).await.expect("demo");
    let sandbox = demo.sandbox().expect("sandbox mode").clone();
    sandbox
        .set_faults(FaultConfig { rate_500: 1.0, platforms: vec!["novu".into()], ..FaultConfig::default() })
        .expect("faults");
    let mut browser = Browser::new(&demo);
    let page = browser.post("/connect", &[("provider", "novu"), ("user", "u"), ("target", "slack")]).await;
    assert_eq!((page.status, page.error_kind()), (StatusCode::BAD_GATEWAY, Some("platform")), "{}", page.body);
    assert!(page.body.contains("novu"), "{}", page.body);
    let page = browser.get("/connections?provider=novu&user=u").await;
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

    let page = browser.post("/connect", &[("provider", "junction"), ("user", "real-user"), ("target", "oura")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let consent = page.location.expect("platform URL");
    assert!(consent.starts_with(platform.url()), "{consent}");
    // The demo put its own /callback on the request: Junction comes back there.
    let approved = browser.consent(&consent, "approve").await;
    let done = browser.follow(&approved).await;
    assert_eq!(done.location.as_deref(), Some("/connections?provider=junction&user=real-user"), "{}", done.body);
    let list = browser.get("/connections?provider=junction&user=real-user").await;
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
