//! The swap-without-code-changes promise: one application function, several providers,
//! chosen only by configuration.

use std::collections::HashMap;

use oauth_link::{Callback, ConnectionQuery, LinkRequest, Settings, SharedLinkProvider};
use oauth_link_tests::STATE_SECRET;

/// Application code: knows nothing about which platform is behind `provider`.
async fn connect_and_list(provider: SharedLinkProvider, user: &str, target: &str) -> Vec<String> {
    let link = provider.generate_link(&LinkRequest::new(user, target)).await.expect("generate_link");
    // Hosted-callback platforms: the app kept the state; it comes back with the browser.
    let connection = provider.complete_callback(&Callback::from_state(link.state)).await.expect("complete_callback");
    assert_eq!(connection.user, user);
    let listed = provider.list_connections(&ConnectionQuery::user(user)).await.expect("list_connections");
    listed.into_iter().map(|c| format!("{}:{}", c.provider, c.target)).collect()
}

#[tokio::test]
async fn same_app_code_runs_with_providers_chosen_by_env_file_and_map() {
    let from_env = oauth_link::from_settings(
        &Settings::from_env_vars([
            ("OAUTH_LINK_PROVIDER".to_owned(), "memory".to_owned()),
            ("OAUTH_LINK_STATE_SECRET".to_owned(), STATE_SECRET.to_owned()),
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(connect_and_list(from_env, "u1", "slack").await, vec!["memory:slack"]);

    let toml = format!("provider = \"memory\"\nstate_secret = \"{STATE_SECRET}\"\n[memory]\nauto_approve = true\n");
    let from_file = oauth_link::from_settings(&Settings::from_toml_str(&toml, "app.toml").unwrap()).unwrap();
    assert_eq!(connect_and_list(from_file, "u2", "msteams").await, vec!["memory:msteams"]);

    let map = HashMap::from([("state_secret".to_owned(), STATE_SECRET.to_owned())]);
    let from_map = oauth_link::from_map("memory", &map).unwrap();
    assert_eq!(connect_and_list(from_map, "u3", "oura").await, vec!["memory:oura"]);
}
