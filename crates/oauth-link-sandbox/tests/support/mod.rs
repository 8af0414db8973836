//! Test helpers: a tiny HTTP client over reqwest that never follows redirects.
#![allow(dead_code, unreachable_pub)]

use oauth_link_sandbox::{Platform, RunningSandbox, Sandbox, SandboxConfig};
use reqwest::header::HeaderMap;
use serde_json::Value;

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
    }
    pub fn location(&self) -> String {
        self.header("location").expect("Location header")
    }
}

pub struct T {
    pub sb: RunningSandbox,
    pub http: reqwest::Client,
}

pub async fn start(config: SandboxConfig) -> T {
    let sb = Sandbox::start(config).await.expect("sandbox starts");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    T { sb, http }
}

impl T {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sb.url(), path)
    }

    pub async fn req(&self, method: &str, url: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Resp {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let url = if url.starts_with("http") { url.to_string() } else { self.url(url) };
        let mut rb = self.http.request(m, url);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(serde_json::to_vec(b).unwrap());
        }
        let r = rb.send().await.expect("request sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("body read").to_vec();
        Resp { status, headers, body }
    }

    /// POSTs an HTML form (as a browser would).
    pub async fn form(&self, url: &str, fields: &[(&str, &str)]) -> Resp {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter()).finish();
        let r = self
            .http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("form sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().await.expect("body read").to_vec();
        Resp { status, headers, body }
    }

    pub fn alloy_auth(&self) -> Vec<(&'static str, String)> {
        vec![
            ("authorization", format!("Bearer {}", self.sb.api_key(Platform::AlloyHeadless))),
            ("x-api-version", "2025-09".to_string()),
        ]
    }

    pub async fn alloy(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let auth = self.alloy_auth();
        let h: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.req(method, &format!("/alloy{path}"), &h, body).await
    }

    pub async fn novu(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let auth = format!("ApiKey {}", self.sb.api_key(Platform::Novu));
        self.req(method, &format!("/novu{path}"), &[("authorization", &auth)], body).await
    }

    /// Creates (upserts) a Novu subscriber; Novu refuses links for subscribers it does not know.
    pub async fn novu_subscriber(&self, id: &str) {
        let r = self.novu("POST", "/v2/subscribers", Some(&serde_json::json!({ "subscriberId": id }))).await;
        assert_eq!(r.status, 201, "subscriber {id}: {}", r.text());
    }

    pub async fn junction(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        let key = self.sb.api_key(Platform::Junction).to_string();
        self.req(method, &format!("/junction{path}"), &[("x-vital-api-key", &key)], body).await
    }

    pub async fn admin(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        self.req(method, &format!("/__sandbox{path}"), &[], body).await
    }

    /// GETs a consent page and checks it has the two stable forms.
    pub async fn consent_page(&self, url: &str) -> String {
        let r = self.req("GET", url, &[], None).await;
        assert_eq!(r.status, 200, "consent page: {}", r.text());
        let html = r.text();
        assert!(html.contains(r#"<form id="approve" method="post""#), "{html}");
        assert!(html.contains(r#"<form id="deny" method="post""#), "{html}");
        html
    }

    /// URL the approve/deny form of a consent page posts to.
    pub fn action(&self, page_url: &str, which: &str) -> String {
        let u = url::Url::parse(page_url).unwrap();
        let mut path = u.path().to_string();
        path.push('/');
        path.push_str(which);
        format!("{}://{}{}", u.scheme(), u.host_str().unwrap(), u.port().map(|p| format!(":{p}")).unwrap_or_default())
            + &path
    }
}

pub fn query_of(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).unwrap().query_pairs().into_owned().collect()
}

pub fn q<'a>(pairs: &'a [(String, String)], k: &str) -> Option<&'a str> {
    pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}
