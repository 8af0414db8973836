//! list_targets: `GET /v1/integrations`, the chat integrations Novu's OAuth URLs accept.

mod support;

use httpmock::prelude::*;
use oauth_link_core::{Error, LinkProvider, TargetAuth};
use serde_json::{json, Value};
use support::*;

fn integrations() -> Vec<Value> {
    let i = |id: &str, identifier: &str, name: &str, provider: &str, channel: &str| {
        json!({"_id": id, "_environmentId": "env", "_organizationId": "org", "identifier": identifier, "name": name,
               "providerId": provider, "channel": channel, "active": true, "deleted": false, "primary": false,
               "conditions": []})
    };
    let mut deleted = i("i6", "slack-old", "Old Slack", "slack", "chat");
    deleted["deleted"] = json!(true);
    let mut unnamed = i("i7", "teams-eu", "", "msteams", "chat");
    unnamed["name"] = Value::Null;
    vec![
        i("i1", INTEGRATION, "Slack", "slack", "chat"),
        i("i2", "novu-slack-demo", "Novu Slack", "novu-slack", "chat"),
        i("i3", "teams-prod", "Microsoft Teams", "msteams", "chat"),
        i("i4", "discord", "Discord", "discord", "chat"),
        i("i5", "sendgrid", "SendGrid", "sendgrid", "email"),
        deleted,
        unnamed,
        json!({"_id": "i8", "providerId": "slack", "channel": "chat", "name": "No identifier"}),
    ]
}

#[tokio::test]
async fn chat_integrations_with_oauth_are_the_targets() {
    for body in [json!({"data": integrations()}), json!(integrations())] {
        let server = MockServer::start_async().await;
        let mock = server
            .mock_async(|when, then| {
                when.method(GET)
                    .path("/v1/integrations")
                    .is_true(no_query())
                    .header("authorization", AUTH)
                    .is_true(no_idempotency_key());
                then.status(200).header("content-type", "application/json").json_body(body);
            })
            .await;
        let targets = provider(config(&server), &clock()).list_targets().await.unwrap();
        mock.assert_calls_async(1).await;
        let ids: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, [INTEGRATION, "novu-slack-demo", "teams-prod", "teams-eu"]);
        assert!(targets.iter().all(|t| t.auth == TargetAuth::OAuth && t.logo_url.is_none()));
        assert_eq!(targets[3].name, "teams-eu", "an unnamed integration is shown by its identifier");
        insta::assert_json_snapshot!("targets", targets);
    }
}

#[tokio::test]
async fn catalogue_errors_are_typed_and_reads_are_retried() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/integrations");
            then.status(503).header("retry-after", "0").body(r#""Please wait some time, then try again.""#);
        })
        .await;
    let err = provider(config(&server), &clock()).list_targets().await.unwrap_err();
    mock.assert_calls_async(3).await;
    assert!(matches!(err, Error::Provider { status: 503, .. }), "{err:?}");

    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/integrations");
            then.status(200).json_body(json!({"data": {"not": "a list"}}));
        })
        .await;
    let err = provider(config(&server), &clock()).list_targets().await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}
