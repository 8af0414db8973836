//! The four adapters against the sandbox, over real HTTP on loopback:
//! - each passes the core conformance suite;
//! - the full connect flow as a browser does it (consent page, form POST, 303 back to the
//!   app) and the deny flow;
//! - the sandbox catches an adapter mistake (a header or body field gone wrong).

use std::sync::Arc;

use async_trait::async_trait;
use oauth_link::http::{HttpRequest, HttpResponse, HttpSettings, HttpTransport, ReqwestTransport, TransportFailure};
use oauth_link::testing::conformance::{self, Driver};
use oauth_link::{
    clock::ManualClock, Callback, ConnectionQuery, Error, Link, LinkContext, LinkRequest, MemoryReplayGuard,
    SharedLinkProvider, StateCodec, StateKeys,
};
use oauth_link_sandbox::{FaultConfig, RunningSandbox};
use oauth_link_tests::sandbox::{build, callback_from, sandbox, settings, target, APP, KINDS};

struct SandboxDriver {
    kind: &'static str,
    sb: RunningSandbox,
    provider: SharedLinkProvider,
    clock: ManualClock,
}

impl SandboxDriver {
    async fn new(kind: &'static str) -> Self {
        let sb = sandbox().await;
        let clock = ManualClock::starting_now();
        let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
        let ctx = LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()));
        let provider = build(kind, &settings(&sb, kind), ctx);
        Self { kind, sb, provider, clock }
    }
}

#[async_trait]
impl Driver for SandboxDriver {
    fn provider(&self) -> SharedLinkProvider {
        self.provider.clone()
    }
    fn clock(&self) -> &ManualClock {
        &self.clock
    }
    fn request(&self, n: u32) -> LinkRequest {
        LinkRequest::new(format!("conf-user-{n}"), target(self.kind))
    }
    async fn approve(&self, link: &Link, _: &LinkRequest) -> Callback {
        let result = self.sb.sandbox().approve(link.url.as_str()).expect("the sandbox knows the link");
        assert!(matches!(result.status, 200 | 303), "approve: {result:?}");
        callback_from(&self.provider, link, result.location.as_deref())
    }
    async fn deny(&self, link: &Link, _: &LinkRequest) -> Option<Callback> {
        let result = self.sb.sandbox().deny(link.url.as_str()).expect("the sandbox knows the link");
        // Novu never tells the app: its callback answers the browser with an error page.
        let location = result.location?;
        Some(callback_from(&self.provider, link, Some(&location)))
    }
    async fn fail_next_generate(&self, status: u16) {
        // A link's calls go out together (Novu: the link and the endpoint list); when one
        // fails the other is dropped, but it may already be on its way. Let the sandbox see
        // it first, so the injected status goes to the next link and not to that stray call.
        let last = || self.sb.sandbox().requests().last().and_then(|r| r["seq"].as_u64());
        let mut seen = last();
        let mut quiet = 0;
        while quiet < 3 {
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            let now = last();
            quiet = if now == seen { quiet + 1 } else { 0 };
            seen = now;
        }
        let prefix = if self.kind.starts_with("alloy") { "alloy" } else { self.kind };
        let faults =
            FaultConfig { fail_next: vec![status], platforms: vec![prefix.to_owned()], ..FaultConfig::default() };
        self.sb.sandbox().set_faults(faults).expect("valid faults");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_adapter_passes_the_conformance_suite_against_the_sandbox() {
    for kind in KINDS {
        let driver = SandboxDriver::new(kind).await;
        conformance::run(&driver).await;
        driver.sb.shutdown().await.unwrap();
    }
}

/// A browser: GETs the consent page, submits one of its forms, and returns where the
/// platform sent it (the `Location` of the 303), or the page it showed instead.
async fn browse(link: &Link, button: &str) -> (u16, Option<String>, String) {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut page_url = link.url.clone();
    let mut page = http.get(page_url.clone()).send().await.unwrap();
    // Junction's link may first redirect to the provider's consent page.
    for _ in 0..3 {
        if !page.status().is_redirection() {
            break;
        }
        let next = page.headers()["location"].to_str().unwrap().to_owned();
        page_url = page_url.join(&next).unwrap();
        page = http.get(page_url.clone()).send().await.unwrap();
    }
    assert_eq!(page.status(), 200, "consent page {page_url}");
    let html = page.text().await.unwrap();
    let form = html.split("<form").find(|f| f.contains(&format!("id=\"{button}\""))).expect("the consent form");
    let action = form.split("action=\"").nth(1).and_then(|a| a.split('"').next()).expect("form action");
    let target = page_url.join(&action.replace("&amp;", "&")).unwrap();
    let mut fields: Vec<(String, String)> = Vec::new();
    for input in form.split("<input").skip(1) {
        let attr =
            |name: &str| input.split(&format!("{name}=\"")).nth(1).and_then(|v| v.split('"').next()).map(str::to_owned);
        if let (Some(name), value) = (attr("name"), attr("value")) {
            fields.push((name, value.unwrap_or_else(|| "sandbox-user".into())));
        }
    }
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&fields).finish();
    let answer =
        http.post(target).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
    let status = answer.status().as_u16();
    let location = answer.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
    (status, location, answer.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_connect_and_deny_flows_over_http_for_each_provider() {
    let sb = sandbox().await;
    let ctx = LinkContext::ephemeral();
    for kind in KINDS {
        let provider = build(kind, &settings(&sb, kind), ctx.clone());
        let request = LinkRequest::new("flow-user", target(kind));

        // Connect: link, consent page, Approve, back to the app, complete, listed.
        let link = provider.generate_link(&request).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
        let (status, location, _) = browse(&link, "approve").await;
        assert_eq!(status, 303, "{kind}: approve redirects back");
        let location = location.expect("Location");
        assert!(location.starts_with(APP), "{kind}: back to the app, got {location}");
        let callback = callback_from(&provider, &link, Some(&location));
        let connection = provider.complete_callback(&callback).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(connection.user, "flow-user", "{kind}");
        let listed = provider.list_connections(&ConnectionQuery::user("flow-user")).await.unwrap();
        assert!(listed.iter().any(|c| c.id == connection.id), "{kind}: {listed:?}");

        // Disconnect: gone from the platform.
        provider.disconnect("flow-user", &connection.id).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
        let listed = provider.list_connections(&ConnectionQuery::user("flow-user")).await.unwrap();
        assert!(listed.iter().all(|c| c.id != connection.id), "{kind}: still listed after disconnect");

        // Deny: the platform's error parameters come back as a typed Denied.
        let link = provider.generate_link(&request).await.unwrap();
        let (status, location, page) = browse(&link, "deny").await;
        match location {
            Some(location) => {
                assert_eq!(status, 303, "{kind}");
                let err = provider.complete_callback(&callback_from(&provider, &link, Some(&location))).await;
                assert!(matches!(err, Err(Error::Denied { .. })), "{kind}: {err:?}");
            }
            None => {
                // Novu answers the browser itself and never tells the app.
                assert_eq!(kind, "novu");
                assert_eq!((status, page.as_str()), (400, "OAuth error: access_denied"));
            }
        }
    }
    sb.shutdown().await.unwrap();
}

/// How a buggy adapter would get a request wrong.
type SpoilFn = fn(&mut HttpRequest);

/// A transport that spoils one detail of every request, as a buggy adapter would.
#[derive(Debug)]
struct Spoil {
    inner: ReqwestTransport,
    spoil: SpoilFn,
}

#[async_trait]
impl HttpTransport for Spoil {
    async fn send(&self, mut request: HttpRequest, max_body: usize) -> Result<HttpResponse, TransportFailure> {
        (self.spoil)(&mut request);
        self.inner.send(request, max_body).await
    }
}

fn drop_json_field(request: &mut HttpRequest, field: &str) {
    if let Some(body) = &request.body {
        if let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) {
            if let Some(map) = value.as_object_mut() {
                map.remove(field);
            }
            request.body = Some(serde_json::to_vec(&value).unwrap().into());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_catches_adapter_mistakes() {
    let sb = sandbox().await;
    let cases: [(&'static str, SpoilFn, &str); 5] = [
        ("alloy-headless", |r| drop(r.headers.remove("x-api-version")), "missing x-api-version"),
        ("alloy-connectors", |r| drop_json_field(r, "authenticationType"), "missing authenticationType"),
        ("novu", |r| drop_json_field(r, "subscriberId"), "missing subscriberId"),
        (
            "novu",
            |r| {
                let v = r.headers["authorization"].to_str().unwrap().replace("ApiKey ", "Bearer ");
                r.headers.insert("authorization", v.parse().unwrap());
            },
            "wrong auth scheme",
        ),
        (
            "junction",
            |r| {
                if let Some(v) = r.headers.remove("x-vital-api-key") {
                    r.headers.insert("authorization", v);
                }
            },
            "api key in the wrong header",
        ),
    ];
    for (kind, spoil, what) in cases {
        let transport = Spoil { inner: ReqwestTransport::new(&HttpSettings::default()).unwrap(), spoil };
        let ctx = LinkContext::ephemeral().with_transport(Arc::new(transport));
        let mut map = settings(&sb, kind);
        map.insert("max_retries".into(), "0".into());
        let provider = build(kind, &map, ctx);
        let err = provider.generate_link(&LinkRequest::new("strict-user", target(kind))).await;
        let err = err.expect_err(&format!("{kind}: a request with {what} must fail"));
        assert!(
            matches!(err, Error::Unauthenticated { .. } | Error::Provider { .. } | Error::InvalidInput { .. }),
            "{kind} ({what}): {err:?}"
        );
        // The same adapter, unspoilt, is accepted: the rejection was the mistake's doing.
        let sound = build(kind, &map, LinkContext::ephemeral());
        sound
            .generate_link(&LinkRequest::new("strict-user", target(kind)))
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    sb.shutdown().await.unwrap();
}
