//! The typed extras: one pinned request each, and the no-retry rule of their POSTs.

mod support;

use std::collections::BTreeMap;

use httpmock::prelude::*;
use oauth_link_alloy_headless::{FieldValue, InstallationInput, StartInstallation};
use oauth_link_core::Error;
use serde_json::json;
use support::*;

#[tokio::test]
async fn create_user_posts_username_and_full_name() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/users")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .header("content-type", "application/json")
                .json_body(json!({"username": "ada@example.com", "fullName": "Ada Lovelace"}));
            then.status(200).json_body(json!({"userId": "6634f9aa6adb117b4c47d8ab"}));
        })
        .await;
    let user = provider(&server).create_user("ada@example.com", Some("Ada Lovelace")).await.unwrap();
    assert_eq!(user.user_id, "6634f9aa6adb117b4c47d8ab");
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn create_user_is_sent_once_even_on_503() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path("/users").json_body(json!({"username": "bob"}));
            then.status(503).json_body(json!({"message": "try later"}));
        })
        .await;
    let err = provider(&server).create_user("bob", None).await.unwrap_err();
    assert!(matches!(err, Error::Provider { status: 503, .. }), "{err:?}");
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn list_integrations_sends_the_user() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/integrations")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param("userId", "u-1")
                .query_param_count(".*", ".*", 1);
            then.status(200).json_body(json!({"data": [{"integrationId": "661e92e38eb4d42f032be2d0",
                "description": "Sync orders", "primaryConnector": "shopify", "installed": false,
                "workflows": [{"workflowId": "w1", "name": "Orders"}], "credentials": []}]}));
        })
        .await;
    let list = provider(&server).list_integrations("u-1").await.unwrap();
    mock.assert_calls_async(1).await;
    assert_eq!(list[0].primary_connector.as_deref(), Some("shopify"));
    assert_eq!(list[0].workflows.len(), 1);
}

#[tokio::test]
async fn credential_metadata_for_one_app_and_for_all() {
    let server = MockServer::start_async().await;
    let one = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/metadata/credentials/shopify")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"data": {"name": "shopify", "icon": "https://cdn/s.png",
                "isOauth": true, "properties": [{"name": "shopSubdomain", "displayName": "Shop Subdomain",
                "description": "example.myshopify.com -> example"}]}}));
        })
        .await;
    let all = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/metadata/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(json!({"data": [
                {"connector": "slack", "isOauth": true, "properties": []},
                {"connector": "netsuite", "isOauth": false, "properties": [{"name": "realm"}]}]}));
        })
        .await;
    let p = provider(&server);
    let shopify = p.credential_metadata("shopify").await.unwrap();
    assert_eq!(shopify.connector, "shopify");
    assert_eq!(shopify.properties[0].name, "shopSubdomain");
    let every = p.all_credential_metadata().await.unwrap();
    assert_eq!(
        every.iter().map(|m| (m.connector.as_str(), m.is_oauth)).collect::<Vec<_>>(),
        [("slack", true), ("netsuite", false)]
    );
    one.assert_calls_async(1).await;
    all.assert_calls_async(1).await;
}

#[tokio::test]
async fn create_credential_posts_type_and_data_and_scrubs_them_from_errors() {
    let server = MockServer::start_async().await;
    let mut data = BTreeMap::new();
    data.insert("realm".to_owned(), "123".to_owned());
    data.insert("consumerSecret".to_owned(), "cs-very-secret".to_owned());
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/headless/credentials")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .json_body(json!({"userId": "u-1", "credential": {"type": "netsuite",
                    "data": {"realm": "123", "consumerSecret": "cs-very-secret"}}}));
            then.status(200).json_body(json!({"success": true, "credentialId": "65b6fd48e4142dd86c387f5e"}));
        })
        .await;
    let p = provider(&server);
    let created = p.create_credential("u-1", "netsuite", &data).await.unwrap();
    assert_eq!((created.success, created.credential_id.as_str()), (true, "65b6fd48e4142dd86c387f5e"));
    mock.assert_calls_async(1).await;
    mock.delete_async().await;

    let failing = server
        .mock_async(|when, then| {
            when.method(POST).path("/headless/credentials");
            then.status(503).json_body(json!({"message": "bad consumerSecret cs-very-secret"}));
        })
        .await;
    let err = p.create_credential("u-1", "netsuite", &data).await.unwrap_err();
    assert!(!err.to_string().contains("cs-very-secret"), "{err}");
    failing.assert_calls_async(1).await;
}

#[tokio::test]
async fn start_installation_posts_ids() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/headless/startInstallation")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .json_body(json!({"userId": "u-1", "integrationId": "int-1", "credentialIds": ["c1"]}));
            then.status(200).json_body(json!({"installationId": "inst-1", "data": [{"workflowId": "w1",
                "app": "netsuite", "blockId": "b1", "fields": [{"name": "customerEmail",
                "displayName": "Customer's Email", "type": "string", "required": true}]}]}));
        })
        .await;
    let request = StartInstallation {
        user_id: "u-1".into(),
        integration_id: "int-1".into(),
        credential_ids: Some(vec!["c1".into()]),
        workflow_ids: None,
    };
    let installation = provider(&server).start_installation(&request).await.unwrap();
    mock.assert_calls_async(1).await;
    assert_eq!(installation.installation_id, "inst-1");
    assert_eq!(installation.data[0].fields[0].name, "customerEmail");
    assert!(installation.data[0].fields[0].required);
}

#[tokio::test]
async fn complete_installation_posts_the_answers() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/headless/completeInstallation")
                .header("authorization", AUTH)
                .header("x-api-version", VERSION)
                .json_body(json!({"installationId": "inst-1", "data": [{"workflowId": "w1", "blockId": "b1",
                    "fields": [{"name": "customerEmail", "value": "abc@123.com"}]}]}));
            then.status(200).json_body(json!({"message": "Installation completed successfully"}));
        })
        .await;
    let data = vec![InstallationInput {
        workflow_id: "w1".into(),
        block_id: "b1".into(),
        fields: vec![FieldValue { name: "customerEmail".into(), value: "abc@123.com".into() }],
    }];
    let done = provider(&server).complete_installation("inst-1", &data).await.unwrap();
    mock.assert_calls_async(1).await;
    assert_eq!(done.message, "Installation completed successfully");
}

#[tokio::test]
async fn extras_validate_before_sending() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|when, then| {
            when.path_matches(".*");
            then.status(200).json_body(json!({}));
        })
        .await;
    let p = provider(&server);
    assert!(matches!(p.create_user(" ", None).await, Err(Error::InvalidInput { .. })));
    assert!(matches!(p.list_integrations("").await, Err(Error::InvalidInput { .. })));
    assert!(matches!(p.credential_metadata("").await, Err(Error::InvalidInput { .. })));
    assert!(matches!(p.create_credential("u", "", &BTreeMap::new()).await, Err(Error::InvalidInput { .. })));
    assert!(matches!(p.complete_installation("", &[]).await, Err(Error::InvalidInput { .. })));
    let bad =
        StartInstallation { user_id: "u".into(), integration_id: "".into(), credential_ids: None, workflow_ids: None };
    assert!(matches!(p.start_installation(&bad).await, Err(Error::InvalidInput { .. })));
    any.assert_calls_async(0).await;
}
