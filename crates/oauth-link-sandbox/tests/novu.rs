//! Novu emulation over real HTTP.

mod support;

use std::time::Duration;

use oauth_link_sandbox::SandboxConfig;
use serde_json::json;
use support::start;

const EP_OAUTH: &str = "/v1/integrations/channel-endpoints/oauth";
const CONN_OAUTH: &str = "/v1/integrations/channel-connections/oauth";

#[tokio::test]
async fn auth_and_validation_errors_use_novu_dtos() {
    let t = start(SandboxConfig::default()).await;
    let r = t.req("GET", "/novu/v1/channel-endpoints", &[("authorization", "ApiKey wrong")], None).await;
    assert_eq!(r.status, 401);
    let v = r.json();
    assert_eq!(v["statusCode"], 401);
    assert_eq!(v["path"], "/v1/channel-endpoints");
    assert!(v["timestamp"].is_string() && v["message"].is_string(), "{v}");
    let r =
        t.req("GET", "/novu/v1/channel-endpoints", &[("authorization", "Bearer sandbox_novu_secret_key")], None).await;
    assert_eq!(r.status, 401);
    assert_eq!(t.req("GET", "/novu/v1/channel-endpoints", &[], None).await.status, 401);

    let r = t.novu("POST", EP_OAUTH, Some(&json!({"integrationIdentifier": "slack"}))).await;
    assert_eq!(r.status, 422);
    let v = r.json();
    assert_eq!(v["statusCode"], 422);
    assert_eq!(v["path"], EP_OAUTH);
    assert!(v["errors"]["subscriberId"]["messages"][0].is_string(), "{v}");
    assert!(v["errors"].get("integrationIdentifier").is_none());
    let r = t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": 5, "integrationIdentifier": ""}))).await;
    let v = r.json();
    assert_eq!(v["errors"]["subscriberId"]["value"], 5);
    assert!(v["errors"]["integrationIdentifier"]["messages"].is_array());
    let r = t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "s", "integrationIdentifier": "telegram"}))).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["statusCode"], 404);
    assert_eq!(t.novu("GET", "/v1/channel-endpoints?limit=101", None).await.status, 422);
    assert_eq!(t.novu("GET", "/v1/channel-endpoints/nope", None).await.status, 404);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn endpoint_consent_flow_redirects_without_query() {
    let t = start(SandboxConfig::default().novu_redirect_url("slack", "https://app.example/novu/linked")).await;
    t.novu_subscriber("sub-1").await;
    let r = t
        .novu(
            "POST",
            EP_OAUTH,
            Some(&json!({"subscriberId": "sub-1", "integrationIdentifier": "slack", "context": {"tenant": "acme"}})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let url = r.json()["data"]["url"].as_str().unwrap().to_string();
    t.consent_page(&url).await;
    let r = t.form(&t.action(&url, "approve"), &[]).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.location(), "https://app.example/novu/linked");

    let list = t.novu("GET", "/v1/channel-endpoints?subscriberId=sub-1&integrationIdentifier=slack", None).await.json();
    assert_eq!(list["totalCount"], 1, "{list}");
    let ep = &list["data"][0];
    assert_eq!(ep["type"], "slack_user");
    assert_eq!(ep["subscriberId"], "sub-1");
    assert_eq!(ep["contextKeys"], json!(["tenant:acme"]));
    assert!(ep["endpoint"]["userId"].as_str().unwrap().starts_with('U'));
    let id = ep["identifier"].as_str().unwrap().to_string();
    assert_eq!(t.novu("GET", "/v1/channel-endpoints?subscriberId=other", None).await.json()["totalCount"], 0);
    assert_eq!(
        t.novu("GET", &format!("/v1/channel-endpoints/{id}"), None).await.json()["data"]["identifier"],
        id.as_str()
    );
    let r = t.novu("DELETE", &format!("/v1/channel-endpoints/{id}"), None).await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(t.novu("GET", &format!("/v1/channel-endpoints/{id}"), None).await.status, 404);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn connection_flow_close_tab_and_deny() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("sub-2").await;
    t.novu_subscriber("s").await;
    let r = t.novu("POST", CONN_OAUTH, Some(&json!({"integrationIdentifier": "msteams", "subscriberId": "sub-2", "connectionIdentifier": "acme-teams"}))).await;
    assert_eq!(r.status, 201);
    let url = r.json()["data"]["url"].as_str().unwrap().to_string();
    let r = t.form(&t.action(&url, "approve"), &[]).await;
    assert_eq!(r.status, 200, "no redirect URL configured: close-tab page");
    assert!(r.text().contains("you may close this tab"));
    let conns = t.novu("GET", "/v1/channel-connections?subscriberId=sub-2", None).await.json();
    assert_eq!(conns["totalCount"], 1);
    let c = &conns["data"][0];
    assert_eq!(c["identifier"], "acme-teams");
    assert!(c["auth"]["accessToken"].is_string());
    assert!(c["workspace"]["id"].is_string());
    // autoLinkUser defaults to true in subscriber mode.
    let eps = t.novu("GET", "/v1/channel-endpoints?connectionIdentifier=acme-teams", None).await.json();
    assert_eq!(eps["data"][0]["type"], "ms_teams_user");
    assert_eq!(t.novu("DELETE", "/v1/channel-connections/acme-teams", None).await.status, 204);

    let url =
        t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "s", "integrationIdentifier": "slack"}))).await.json()
            ["data"]["url"]
            .as_str()
            .unwrap()
            .to_string();
    let r = t.form(&t.action(&url, "deny"), &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "OAuth error: access_denied");
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn cursor_pagination_over_three_pages() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("pager").await;
    for i in 0..7 {
        let url = t
            .novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "pager", "integrationIdentifier": "slack"})))
            .await
            .json()["data"]["url"]
            .as_str()
            .unwrap()
            .to_string();
        let r = t.admin("POST", "/approve", Some(&json!({"url": url}))).await.json();
        assert_eq!(r["status"], 200, "approve {i}: {r}");
    }
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut after: Option<String> = None;
    let last_page = loop {
        let path = match &after {
            Some(c) => format!("/v1/channel-endpoints?subscriberId=pager&limit=3&after={c}"),
            None => "/v1/channel-endpoints?subscriberId=pager&limit=3".to_string(),
        };
        let page = t.novu("GET", &path, None).await.json();
        pages += 1;
        assert_eq!(page["totalCount"], 7);
        assert_eq!(page["totalCountCapped"], false);
        assert_eq!(page["previous"].is_null(), after.is_none(), "{page}");
        for e in page["data"].as_array().unwrap() {
            seen.push(e["identifier"].as_str().unwrap().to_string());
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break page,
        }
    };
    assert_eq!(pages, 3);
    assert_eq!(last_page["data"].as_array().unwrap().len(), 1);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 7, "every endpoint exactly once");
    // `before` walks back to the previous page.
    let prev = last_page["previous"].as_str().unwrap();
    let back =
        t.novu("GET", &format!("/v1/channel-endpoints?subscriberId=pager&limit=3&before={prev}"), None).await.json();
    let ids: Vec<&str> = back["data"].as_array().unwrap().iter().map(|e| e["identifier"].as_str().unwrap()).collect();
    assert_eq!(ids, seen[3..6].iter().map(String::as_str).collect::<Vec<_>>());
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn idempotency_replay_and_conflict() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("s1").await;
    let auth = "ApiKey sandbox_novu_secret_key";
    let body = json!({"subscriberId": "s1", "integrationIdentifier": "slack"});
    let h = [("authorization", auth), ("idempotency-key", "k-1")];
    let a = t.req("POST", &format!("/novu{EP_OAUTH}"), &h, Some(&body)).await;
    assert_eq!(a.status, 201);
    assert_eq!(a.header("idempotency-key").as_deref(), Some("k-1"));
    assert!(a.header("idempotency-replay").is_none());
    let b = t.req("POST", &format!("/novu{EP_OAUTH}"), &h, Some(&body)).await;
    assert_eq!(b.status, 201);
    assert_eq!(b.header("idempotency-replay").as_deref(), Some("true"));
    assert_eq!(a.json(), b.json());
    let c = t
        .req(
            "POST",
            &format!("/novu{EP_OAUTH}"),
            &h,
            Some(&json!({"subscriberId": "s2", "integrationIdentifier": "slack"})),
        )
        .await;
    assert_eq!(c.status, 422);
    assert_eq!(c.json()["statusCode"], 422);
    // Only one link was created for the replayed request.
    assert_eq!(t.sb.sandbox().state()["novu"]["links"].as_array().unwrap().len(), 1);
    // After 24h the key is forgotten.
    t.sb.sandbox().advance_clock(Duration::from_secs(24 * 3600 + 1));
    let d = t.req("POST", &format!("/novu{EP_OAUTH}"), &h, Some(&body)).await;
    assert_eq!(d.status, 201);
    assert!(d.header("idempotency-replay").is_none());
    assert_ne!(d.json(), a.json());
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn links_expire_after_five_minutes() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("s").await;
    let url =
        t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "s", "integrationIdentifier": "slack"}))).await.json()
            ["data"]["url"]
            .as_str()
            .unwrap()
            .to_string();
    t.consent_page(&url).await;
    let r = t.admin("POST", "/clock", Some(&json!({"advance_seconds": 301}))).await;
    assert_eq!(r.status, 200);
    assert_eq!(t.req("GET", &url, &[], None).await.status, 410);
    let r = t.form(&t.action(&url, "approve"), &[]).await;
    assert_eq!(r.status, 400);
    assert!(r.text().starts_with("OAuth error:"));
    assert_eq!(t.novu("GET", "/v1/channel-endpoints", None).await.json()["totalCount"], 0);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn bare_openapi_shape_is_selectable() {
    let t = start(SandboxConfig::default().novu_data_envelope(false)).await;
    t.novu_subscriber("s").await;
    let r = t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "s", "integrationIdentifier": "slack"}))).await;
    assert_eq!(r.status, 201);
    let url = r.json()["url"].as_str().expect("bare {url}").to_string();
    t.sb.sandbox().approve(&url).unwrap();
    let list = t.novu("GET", "/v1/channel-endpoints", None).await.json();
    assert_eq!(list["totalCount"], 1, "lists keep their envelope: {list}");
    let id = list["data"][0]["identifier"].as_str().unwrap();
    let one = t.novu("GET", &format!("/v1/channel-endpoints/{id}"), None).await.json();
    assert_eq!(one["identifier"], id);
    let err = t.novu("GET", "/v1/channel-endpoints/missing", None).await.json();
    assert_eq!(err["statusCode"], 404, "errors are not wrapped");
    t.sb.shutdown().await.unwrap();
}

/// A Novu POST with an idempotency key.
async fn post_with_key(t: &support::T, path: &str, key: &str, body: &serde_json::Value) -> support::Resp {
    let auth = format!("ApiKey {}", t.sb.api_key(oauth_link_sandbox::Platform::Novu));
    t.req("POST", &format!("/novu{path}"), &[("authorization", &auth), ("idempotency-key", key)], Some(body)).await
}

#[tokio::test]
async fn links_need_an_existing_subscriber() {
    let t = start(SandboxConfig::default()).await;
    let link = json!({"subscriberId": "ghost", "integrationIdentifier": "slack"});
    let r = t.novu("POST", EP_OAUTH, Some(&link)).await;
    assert_eq!(r.status, 404);
    let v = r.json();
    assert_eq!((v["statusCode"].clone(), v["message"].clone()), (json!(404), json!("Subscriber not found: ghost")));
    assert_eq!(v["path"], EP_OAUTH);
    let connect = json!({"subscriberId": "ghost", "integrationIdentifier": "msteams"});
    assert_eq!(t.novu("POST", CONN_OAUTH, Some(&connect)).await.json()["message"], "Subscriber not found: ghost");
    assert_eq!(t.sb.sandbox().state()["novu"]["links"], json!([]), "no link was made");
    t.novu_subscriber("ghost").await;
    assert_eq!(t.novu("POST", EP_OAUTH, Some(&link)).await.status, 201);
    assert_eq!(t.novu("POST", CONN_OAUTH, Some(&connect)).await.status, 201);
    // The deprecated dashboard prefix `connect:` is created on the fly.
    let dash = json!({"subscriberId": "connect:abc", "integrationIdentifier": "slack"});
    assert_eq!(t.novu("POST", EP_OAUTH, Some(&dash)).await.status, 201);
    // An unknown integration is refused before the subscriber is looked at.
    let r = t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "ghost", "integrationIdentifier": "nope"}))).await;
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].as_str().unwrap().starts_with("Integration not found: nope in environment "));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn subscribers_upsert_fail_if_exists_get_and_delete() {
    let t = start(SandboxConfig::default()).await;
    let r =
        t.novu("POST", "/v2/subscribers", Some(&json!({"subscriberId": "ada@example.com", "firstName": "Ada"}))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json()["data"].clone();
    assert_eq!(
        (created["subscriberId"].as_str(), created["firstName"].as_str()),
        (Some("ada@example.com"), Some("Ada"))
    );
    for k in ["_id", "_environmentId", "_organizationId", "createdAt", "updatedAt"] {
        assert!(created[k].is_string(), "{k} in {created}");
    }
    // Upsert: the same id again updates it (201 again), keeping the fields not sent.
    t.sb.sandbox().advance_clock(Duration::from_secs(2));
    let body = json!({"subscriberId": "ada@example.com", "lastName": "Lovelace", "data": {"plan": "pro"}});
    let r = t.novu("POST", "/v2/subscribers", Some(&body)).await;
    assert_eq!(r.status, 201);
    let updated = r.json()["data"].clone();
    assert_eq!((updated["_id"].clone(), updated["firstName"].clone()), (created["_id"].clone(), json!("Ada")));
    assert_eq!((updated["lastName"].clone(), updated["data"]["plan"].clone()), (json!("Lovelace"), json!("pro")));
    assert!(updated["updatedAt"].as_str() > created["updatedAt"].as_str());
    let r =
        t.novu("POST", "/v2/subscribers?failIfExists=true", Some(&json!({"subscriberId": "ada@example.com"}))).await;
    assert_eq!(r.status, 409);
    assert_eq!(r.json()["message"], "Subscriber with id \"ada@example.com\" already exists");
    assert_eq!(
        t.novu("POST", "/v2/subscribers?failIfExists=true", Some(&json!({"subscriberId": "new-1"}))).await.status,
        201
    );

    let r = t.novu("GET", "/v2/subscribers/ada@example.com", None).await;
    assert_eq!((r.status, r.json()["data"]["lastName"].clone()), (200, json!("Lovelace")));
    let r = t.novu("GET", "/v2/subscribers/nobody", None).await;
    assert_eq!((r.status, r.json()["message"].clone()), (404, json!("Subscriber: nobody was not found")));
    let r = t.novu("DELETE", "/v2/subscribers/new-1", None).await;
    assert_eq!((r.status, r.json()), (200, json!({"data": {"acknowledged": true, "status": "deleted"}})));
    assert_eq!(t.novu("DELETE", "/v2/subscribers/new-1", None).await.status, 404);
    assert_eq!(t.novu("GET", "/v2/subscribers/new-1", None).await.status, 404);

    // Wrong requests are refused with ValidationErrorDto.
    for (body, field) in [
        (json!({}), "subscriberId"),
        (json!({"subscriberId": "  "}), "subscriberId"),
        (json!({"subscriberId": "has space"}), "subscriberId"),
        (json!({"subscriberId": 42}), "subscriberId"),
        (json!({"subscriberId": "u", "email": "not-an-email"}), "email"),
        (json!({"subscriberId": "u", "data": "x"}), "data"),
        (json!({"subscriberId": "u", "firstname": "typo"}), "firstname"),
    ] {
        let r = t.novu("POST", "/v2/subscribers", Some(&body)).await;
        assert_eq!(r.status, 422, "{body}");
        assert!(r.json()["errors"][field]["messages"][0].is_string(), "{field}: {}", r.text());
    }
    assert_eq!(
        t.novu("POST", "/v2/subscribers?failIfExists=yes", Some(&json!({"subscriberId": "u"}))).await.status,
        422
    );
    assert_eq!(t.novu("GET", "/v2/subscribers/u", None).await.status, 404, "nothing was created");
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn protected_integrations_need_a_valid_context_hash() {
    // The worked example of provider-apis.md §7.1 uses this secret key.
    let t =
        start(SandboxConfig::default().novu_api_key("YOUR_SECRET_KEY_HERE").novu_integration_hmac("slack", true)).await;
    t.novu_subscriber("s").await;
    let good = "35033bce45597d3ad0f15c24cbffe2b728f58583bf973b0d309c89054a0c0afc";
    let cases = [
        (json!({}), "A context is required when HMAC validation is enabled."),
        (
            json!({"context": {"tenant": "org-acme"}}),
            "A valid contextHash is required when HMAC validation is enabled.",
        ),
        (
            json!({"context": {"tenant": "org-acme"}, "contextHash": ""}),
            "A valid contextHash is required when HMAC validation is enabled.",
        ),
        (
            json!({"context": {"tenant": "org-acme"}, "contextHash": good.to_uppercase()}),
            "Please provide a valid context HMAC hash",
        ),
        (
            json!({"context": {"tenant": {"id": "org-acme"}}, "contextHash": good}),
            "Please provide a valid context HMAC hash",
        ),
        (json!({"context": {"tenant": "org-other"}, "contextHash": good}), "Please provide a valid context HMAC hash"),
    ];
    for (route, base) in [
        (EP_OAUTH, json!({"subscriberId": "s", "integrationIdentifier": "slack"})),
        (CONN_OAUTH, json!({"subscriberId": "s", "integrationIdentifier": "slack"})),
    ] {
        for (extra, message) in &cases {
            let mut body = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let r = t.novu("POST", route, Some(&body)).await;
            assert_eq!((r.status, r.json()["message"].clone()), (400, json!(message)), "{route} {body}");
        }
        let mut body = base.clone();
        body["context"] = json!({"tenant": "org-acme"});
        body["contextHash"] = json!(good);
        assert_eq!(t.novu("POST", route, Some(&body)).await.status, 201, "{route}");
    }
    // Another integration is not protected until told so (at run time, through the admin API).
    let teams = json!({"subscriberId": "s", "integrationIdentifier": "msteams"});
    assert_eq!(t.novu("POST", EP_OAUTH, Some(&teams)).await.status, 201);
    let r = t.admin("POST", "/novu/integrations/msteams", Some(&json!({"hmac": true}))).await;
    assert_eq!((r.status, r.json()), (200, json!({"identifier": "msteams", "hmac": true})));
    assert_eq!(t.novu("POST", EP_OAUTH, Some(&teams)).await.status, 400);
    assert!(t.sb.sandbox().set_novu_integration_hmac("msteams", false));
    assert_eq!(t.novu("POST", EP_OAUTH, Some(&teams)).await.status, 201);
    assert_eq!(t.admin("POST", "/novu/integrations/telegram", Some(&json!({"hmac": true}))).await.status, 404);
    assert!(!t.sb.sandbox().set_novu_integration_hmac("nope", true));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_or_mistyped_fields_are_refused() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("s").await;
    for (route, body, field) in [
        (EP_OAUTH, json!({"subscriberID": "s", "subscriberId": "s", "integrationIdentifier": "slack"}), "subscriberID"),
        (
            EP_OAUTH,
            json!({"subscriberId": "s", "integrationIdentifier": "slack", "connectionMode": "shared"}),
            "connectionMode",
        ),
        (EP_OAUTH, json!({"subscriberId": "s", "integrationIdentifier": "slack", "contextHash": 5}), "contextHash"),
        (
            EP_OAUTH,
            json!({"subscriberId": "s", "integrationIdentifier": "slack", "context": {"tenant": 7}}),
            "context.tenant",
        ),
        (
            EP_OAUTH,
            json!({"subscriberId": "s", "integrationIdentifier": "slack", "context": {"t": {"id": "a", "name": "b"}}}),
            "context.t",
        ),
        (
            CONN_OAUTH,
            json!({"integrationIdentifier": "slack", "subscriberId": "s", "autoLinkUser": "yes"}),
            "autoLinkUser",
        ),
        (
            CONN_OAUTH,
            json!({"integrationIdentifier": "slack", "subscriberId": "s", "connectionMode": "team"}),
            "connectionMode",
        ),
        (CONN_OAUTH, json!({"integrationIdentifier": "slack", "subscriberId": "s", "userScope": ["x"]}), "userScope"),
    ] {
        let r = t.novu("POST", route, Some(&body)).await;
        assert_eq!(r.status, 422, "{route} {body}: {}", r.text());
        let v = r.json();
        assert!(v["errors"][field]["messages"][0].is_string(), "{field}: {v}");
    }
    let r = t
        .novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "s", "integrationIdentifier": "slack", "extra": 1})))
        .await;
    assert_eq!(r.json()["errors"]["extra"]["messages"][0], "property extra should not exist");
    assert_eq!(t.sb.sandbox().state()["novu"]["links"], json!([]));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_key_in_flight_gets_409_with_retry_after() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("s").await;
    let body = json!({"subscriberId": "s", "integrationIdentifier": "slack"});
    t.sb.sandbox()
        .set_faults(oauth_link_sandbox::FaultConfig {
            processing_ms: 400,
            platforms: vec!["novu".into()],
            ..Default::default()
        })
        .unwrap();
    let (first, second) = tokio::join!(post_with_key(&t, EP_OAUTH, "k-slow", &body), async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        post_with_key(&t, EP_OAUTH, "k-slow", &body).await
    });
    assert_eq!(first.status, 201);
    assert_eq!(second.status, 409, "{}", second.text());
    assert_eq!(second.header("retry-after").as_deref(), Some("1"));
    assert_eq!(second.header("idempotency-key").as_deref(), Some("k-slow"));
    let v = second.json();
    assert_eq!(v["statusCode"], 409);
    assert_eq!(v["message"], "Request with key \"k-slow\" is currently being processed. Please retry after 1 second");
    t.sb.sandbox().set_faults(oauth_link_sandbox::FaultConfig::default()).unwrap();
    // Once done, the key replays the stored answer.
    let third = post_with_key(&t, EP_OAUTH, "k-slow", &body).await;
    assert_eq!((third.status, third.header("idempotency-replay").as_deref()), (201, Some("true")));
    assert_eq!(third.json(), first.json());
    assert_eq!(t.sb.sandbox().state()["novu"]["links"].as_array().unwrap().len(), 1);

    // The body is compared as sent: the same fields in another order are another body.
    let raw = |b: &str| {
        t.http
            .post(t.url(&format!("/novu{EP_OAUTH}")))
            .header("authorization", "ApiKey sandbox_novu_secret_key")
            .header("idempotency-key", "k-order")
            .header("content-type", "application/json")
            .body(b.to_string())
            .send()
    };
    assert_eq!(raw(r#"{"subscriberId":"s","integrationIdentifier":"slack"}"#).await.unwrap().status(), 201);
    assert_eq!(raw(r#"{ "subscriberId": "s", "integrationIdentifier": "slack" }"#).await.unwrap().status(), 201);
    assert_eq!(raw(r#"{"integrationIdentifier":"slack","subscriberId":"s"}"#).await.unwrap().status(), 422);

    // Over 255 characters: 400, nothing done.
    let long = "k".repeat(256);
    let r = post_with_key(&t, EP_OAUTH, &long, &body).await;
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("maximum allowed length of 255 characters"));
    assert_eq!(post_with_key(&t, EP_OAUTH, &"k".repeat(255), &body).await.status, 201);

    // A 4xx answer is stored too: the same key replays it even after the cause is fixed.
    let ghost = json!({"subscriberId": "ghost", "integrationIdentifier": "slack"});
    assert_eq!(post_with_key(&t, EP_OAUTH, "k-ghost", &ghost).await.status, 404);
    t.novu_subscriber("ghost").await;
    let again = post_with_key(&t, EP_OAUTH, "k-ghost", &ghost).await;
    assert_eq!((again.status, again.header("idempotency-replay").as_deref()), (404, Some("true")));
    assert_eq!(post_with_key(&t, EP_OAUTH, "k-ghost-2", &ghost).await.status, 201);
    // Subscriber creation honours the key as well.
    let sub = json!({"subscriberId": "idem"});
    assert_eq!(post_with_key(&t, "/v2/subscribers", "k-sub", &sub).await.status, 201);
    let replay = post_with_key(&t, "/v2/subscribers", "k-sub", &sub).await;
    assert_eq!(replay.header("idempotency-replay").as_deref(), Some("true"));
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn integrations_list_has_the_dto_shape() {
    let t = start(SandboxConfig::default()).await;
    let r = t.novu("GET", "/v1/integrations", None).await;
    assert_eq!(r.status, 200);
    let list = r.json()["data"].as_array().expect("an array inside {data}").clone();
    let slack = list.iter().find(|i| i["identifier"] == "slack").unwrap();
    for k in ["_id", "_environmentId", "_organizationId", "providerId", "channel", "identifier", "name"] {
        assert!(slack[k].is_string(), "{k} in {slack}");
    }
    assert_eq!((slack["channel"].as_str(), slack["active"].as_bool()), (Some("chat"), Some(true)));
    assert!(list.iter().all(|i| i.get("credentials").is_none()), "no credentials for API-key callers");
    let channels: std::collections::BTreeSet<&str> = list.iter().map(|i| i["channel"].as_str().unwrap()).collect();
    assert!(channels.len() > 1, "not only chat integrations: {channels:?}");
    // A chat integration without OAuth support is listed but cannot be linked.
    assert!(list.iter().any(|i| i["identifier"] == "telegram"));
    t.novu_subscriber("s").await;
    let r = t.novu("POST", EP_OAUTH, Some(&json!({"subscriberId": "s", "integrationIdentifier": "telegram"}))).await;
    assert_eq!(r.status, 404);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn shared_connections_belong_to_the_context() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("s").await;
    let r =
        t.novu("POST", CONN_OAUTH, Some(&json!({"integrationIdentifier": "slack", "connectionMode": "shared"}))).await;
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (400, json!("context is required when connectionMode is \"shared\""))
    );
    let r = t
        .novu("POST", CONN_OAUTH, Some(&json!({"integrationIdentifier": "slack", "connectionMode": "subscriber"})))
        .await;
    assert_eq!(r.status, 400);
    let r = t.novu("POST", CONN_OAUTH, Some(&json!({"integrationIdentifier": "slack"}))).await;
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (400, json!("Either subscriberId or context must be provided"))
    );

    let shared = json!({"integrationIdentifier": "slack", "connectionMode": "shared", "subscriberId": "s", "context": {"tenant": "acme"}});
    let url = t.novu("POST", CONN_OAUTH, Some(&shared)).await.json()["data"]["url"].as_str().unwrap().to_string();
    assert_eq!(t.sb.sandbox().approve(&url).unwrap().status, 200);
    let all = t.novu("GET", "/v1/channel-connections", None).await.json();
    assert_eq!(all["totalCount"], 1);
    let conn = &all["data"][0];
    assert_eq!((conn["subscriberId"].clone(), conn["contextKeys"].clone()), (json!(null), json!(["tenant:acme"])));
    let tr = &t;
    let count = |q: &'static str| async move {
        tr.novu("GET", &format!("/v1/channel-connections?{q}"), None).await.json()["totalCount"].clone()
    };
    assert_eq!(count("connectionMode=shared").await, 1);
    assert_eq!(count("connectionMode=subscriber").await, 0);
    assert_eq!(count("subscriberId=s").await, 0, "a shared connection is not the subscriber's");
    assert_eq!(count("contextKeys=tenant:acme").await, 1);
    assert_eq!(count("contextKeys=tenant:acme&contextKeys=team:x").await, 0, "exact match");
    assert_eq!(count("contextKeys=").await, 0, "empty = no context");
    assert_eq!(t.novu("GET", "/v1/channel-connections?connectionMode=team", None).await.status, 422);
    // autoLinkUser defaults to false in shared mode: no endpoint.
    assert_eq!(t.novu("GET", "/v1/channel-endpoints", None).await.json()["totalCount"], 0);
    // A second shared connection for the same context: the callback refuses it (409).
    let url = t.novu("POST", CONN_OAUTH, Some(&shared)).await.json()["data"]["url"].as_str().unwrap().to_string();
    let r = t.sb.sandbox().approve(&url).unwrap();
    assert_eq!(r.status, 409);
    let body: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert!(body["message"].as_str().unwrap().starts_with("A channel connection already exists for integration \"slack\" with no subscriberId and context [tenant:acme]"), "{body}");
    assert_eq!(count("connectionMode=shared").await, 1);
    // Listing by context and by connection identifier finds it for completion and disconnect.
    let id = conn["identifier"].as_str().unwrap();
    assert!(id.starts_with("chconn-"), "{id}");
    assert_eq!(t.novu("DELETE", &format!("/v1/channel-connections/{id}"), None).await.status, 204);
    t.sb.shutdown().await.unwrap();
}

#[tokio::test]
async fn relink_deny_touches_nothing_and_approve_adds_an_endpoint() {
    let t = start(SandboxConfig::default()).await;
    t.novu_subscriber("s").await;
    let body = json!({"subscriberId": "s", "integrationIdentifier": "slack"});
    let link =
        || async { t.novu("POST", EP_OAUTH, Some(&body)).await.json()["data"]["url"].as_str().unwrap().to_string() };
    let endpoints = || async {
        t.novu("GET", "/v1/channel-endpoints?subscriberId=s&orderDirection=ASC", None).await.json()["data"].clone()
    };
    t.sb.sandbox().approve(&link().await).unwrap();
    let first = endpoints().await;
    assert!(first[0]["identifier"].as_str().unwrap().starts_with("chendp_"));
    t.sb.sandbox().advance_clock(Duration::from_secs(3));
    let r = t.sb.sandbox().deny(&link().await).unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(endpoints().await, first, "the denied re-link created and changed nothing");
    t.sb.sandbox().approve(&link().await).unwrap();
    let after = endpoints().await;
    assert_eq!(after.as_array().unwrap().len(), 2);
    assert_eq!(after[0], first[0]);
    assert_ne!(after[1]["identifier"], after[0]["identifier"]);
    assert!(after[1]["createdAt"].as_str() > after[0]["createdAt"].as_str());
    assert_eq!(after[1]["createdAt"], after[1]["updatedAt"]);

    // link_user with a connectionIdentifier attaches to that connection, which must exist.
    let attach = json!({"subscriberId": "s", "integrationIdentifier": "slack", "connectionIdentifier": "ws-1"});
    let url = t.novu("POST", EP_OAUTH, Some(&attach)).await.json()["data"]["url"].as_str().unwrap().to_string();
    let r = t.sb.sandbox().approve(&url).unwrap();
    assert_eq!(r.status, 404);
    assert!(r.body.as_deref().unwrap().contains("Channel connection not found: ws-1"));
    assert_eq!(endpoints().await.as_array().unwrap().len(), 2);
    // Connect with a connectionIdentifier twice: the second approval is refused (409).
    let connect = json!({"subscriberId": "s", "integrationIdentifier": "slack", "connectionIdentifier": "ws-1", "context": {"team": "a"}});
    let url = t.novu("POST", CONN_OAUTH, Some(&connect)).await.json()["data"]["url"].as_str().unwrap().to_string();
    assert_eq!(t.sb.sandbox().approve(&url).unwrap().status, 200);
    let connect2 = json!({"subscriberId": "s", "integrationIdentifier": "slack", "connectionIdentifier": "ws-1", "context": {"team": "b"}});
    let url = t.novu("POST", CONN_OAUTH, Some(&connect2)).await.json()["data"]["url"].as_str().unwrap().to_string();
    let r = t.sb.sandbox().approve(&url).unwrap();
    assert_eq!(r.status, 409);
    assert!(
        r.body.as_deref().unwrap().contains("Channel connection with identifier \\\"ws-1\\\" already exists"),
        "{r:?}"
    );
    let url = t.novu("POST", EP_OAUTH, Some(&attach)).await.json()["data"]["url"].as_str().unwrap().to_string();
    assert_eq!(t.sb.sandbox().approve(&url).unwrap().status, 200, "now the connection exists");
    // The connect approval auto-linked one endpoint, plus this one.
    assert_eq!(endpoints().await.as_array().unwrap().len(), 4);
    t.sb.shutdown().await.unwrap();
}
