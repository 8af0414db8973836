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

/// `POST /__sandbox/connections/{id}/error` (the id percent-encoded), with `body`.
async fn put_in_error(sb: &RunningSandbox, id: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let url = format!("{}/__sandbox/connections/{id}/error", sb.url().trim_end_matches('/'));
    let answer = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, serde_json::from_str(&answer.text().await.unwrap_or_default()).unwrap_or_default())
}

/// Links `request` through the sandbox's consent (approve) and completes it.
async fn connect(sb: &RunningSandbox, provider: &SharedLinkProvider, request: &LinkRequest) -> oauth_link::Connection {
    let kind = provider.kind();
    let link = provider.generate_link(request).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
    let result = sb.sandbox().approve(link.url.as_str()).expect("the sandbox knows the link");
    let callback = callback_from(provider, &link, result.location.as_deref());
    provider.complete_callback(&callback).await.unwrap_or_else(|e| panic!("{kind}: {e}"))
}

/// Health end to end: a connection the sandbox puts in error (as Junction reports a failed
/// token refresh) lists as needing re-authorisation; a reconnect keeps its id, heals it and
/// leaves one connection; the link's tags come back on completion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junction_health_and_reconnect_in_place_against_the_sandbox() {
    let sb = sandbox().await;
    let provider = build("junction", &settings(&sb, "junction"), LinkContext::ephemeral());
    let user = "health-user";
    let first = connect(&sb, &provider, &LinkRequest::new(user, "oura").with_tag("org", "acme")).await;
    assert_eq!(first.tags.get("org").map(String::as_str), Some("acme"));
    assert!(first.status.is_connected());

    let (status, answer) = put_in_error(&sb, &first.id, serde_json::json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let listed = provider.list_connections(&ConnectionQuery::user(user)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].status.is_reauthorization_needed(), "{:?}", listed[0].status);
    assert!(listed[0].status.reason().unwrap().starts_with("token_refresh_failed"), "{:?}", listed[0].status);
    // An error a new link does not fix is `failed`.
    put_in_error(&sb, &first.id, serde_json::json!({"error_type": "webhook_registration_failed"})).await;
    let listed = provider.list_connections(&ConnectionQuery::user(user)).await.unwrap();
    assert_eq!(listed[0].status.as_str(), "failed", "{:?}", listed[0].status);

    // Reconnect: the same record, connected again.
    assert!(provider.capabilities().reconnect_keeps_id);
    let reconnect = LinkRequest::reconnect(user, &first.id).with_tag("from", "reconnect");
    let healed = connect(&sb, &provider, &reconnect).await;
    assert_eq!((healed.id.as_str(), healed.target.as_str()), (first.id.as_str(), "oura"));
    assert!(healed.status.is_connected());
    assert_eq!(healed.tags, reconnect.tags);
    let listed = provider.list_connections(&ConnectionQuery::user(user)).await.unwrap();
    assert_eq!(
        listed.iter().map(|c| (c.id.as_str(), c.status.as_str())).collect::<Vec<_>>(),
        [(first.id.as_str(), "connected")]
    );
    assert_eq!(put_in_error(&sb, &format!("{}x", first.id), serde_json::json!({})).await.0, 404);
    sb.shutdown().await.unwrap();
}

/// What Novu and Alloy offer: a Novu channel connection whose rotating token can no longer
/// be renewed needs re-authorisation (and cannot be re-authorised in place); a Novu endpoint
/// reconnect makes a new endpoint and removes the old one; an Alloy reconnect makes a new
/// credential and keeps the old (both as the platforms document). Neither Novu endpoints nor
/// Alloy credentials carry health: the sandbox refuses to put them in error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn novu_and_alloy_health_and_reconnect_against_the_sandbox() {
    let sb = sandbox().await;
    let ctx = LinkContext::ephemeral();
    let mut novu_settings = settings(&sb, "novu");
    novu_settings.insert("include_channel_connections".into(), "true".into());
    let novu = build("novu", &novu_settings, ctx.clone());
    let user = "novu-health-user";

    let workspace = connect(&sb, &novu, &LinkRequest::new(user, "slack").with_param("link_kind", "workspace")).await;
    let (status, answer) = put_in_error(&sb, &workspace.id, serde_json::json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let listed = novu.list_connections(&ConnectionQuery::user(user)).await.unwrap();
    let broken = listed.iter().find(|c| c.id == workspace.id).expect("the workspace connection");
    assert!(broken.status.is_reauthorization_needed(), "{:?}", broken.status);
    let err = novu.generate_link(&LinkRequest::reconnect(user, &workspace.id)).await.unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err:?}");

    let endpoint = connect(&sb, &novu, &LinkRequest::new(user, "slack")).await;
    assert_eq!(put_in_error(&sb, &endpoint.id, serde_json::json!({})).await.0, 409, "no health on an endpoint");
    assert!(!novu.capabilities().reconnect_keeps_id);
    let renewed = connect(&sb, &novu, &LinkRequest::reconnect(user, &endpoint.id)).await;
    assert_ne!(renewed.id, endpoint.id, "Novu makes a new endpoint per link");
    let endpoints: Vec<String> = novu
        .list_connections(&ConnectionQuery::user(user))
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.id != workspace.id)
        .map(|c| c.id)
        .collect();
    // The endpoint autoLinkUser made with the workspace, and the reconnected one; not the old.
    assert!(endpoints.contains(&renewed.id) && !endpoints.contains(&endpoint.id), "{endpoints:?}");

    let alloy = build("alloy-headless", &settings(&sb, "alloy-headless"), ctx);
    let user = "alloy-health-user";
    let credential = connect(&sb, &alloy, &LinkRequest::new(user, "slack")).await;
    assert_eq!(put_in_error(&sb, &credential.id, serde_json::json!({})).await.0, 409, "no health on a credential");
    let renewed = connect(&sb, &alloy, &LinkRequest::reconnect(user, &credential.id)).await;
    assert_ne!(renewed.id, credential.id);
    let ids: Vec<String> =
        alloy.list_connections(&ConnectionQuery::user(user)).await.unwrap().into_iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), 2, "Alloy keeps the old credential beside the new one: {ids:?}");
    sb.shutdown().await.unwrap();
}
