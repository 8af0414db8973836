//! The promise that matters most: an app's code is the same for every platform.
//!
//! One application function takes an `Arc<dyn LinkProvider>` built from configuration
//! only and runs the whole lifecycle (pick a target from the catalogue, link, consent,
//! complete, list, disconnect) with app-style user ids no platform has seen before, on all
//! four platforms of the sandbox, without a single provider-specific line.

use std::collections::HashMap;

use oauth_link::{Callback, ConnectionQuery, LinkRequest, SharedLinkProvider, Url};
use oauth_link_sandbox::RunningSandbox;
use oauth_link_tests::sandbox::{sandbox, settings, KINDS};
use oauth_link_tests::STATE_SECRET;

/// The user's browser at the platform's consent page: approves, and returns the address the
/// platform sent it to (the app's return page).
async fn browser_approves(sb: &RunningSandbox, url: &Url) -> String {
    let answer = sb.sandbox().approve(url.as_str()).expect("the platform knows the link");
    match answer.location {
        Some(location) => location,
        None => panic!("the platform did not send the browser back (HTTP {})", answer.status),
    }
}

/// Application code. It knows nothing about the platform behind `provider`: it keeps the
/// link state in its session (a cookie), sends the browser away, and completes with
/// whatever address the browser came back to.
async fn connect_list_and_disconnect(provider: SharedLinkProvider, user: &str, sb: &RunningSandbox) -> String {
    let targets = provider.list_targets().await.expect("list_targets");
    let target = targets
        .iter()
        .find(|t| t.is_oauth() && t.params.iter().all(|p| !p.required))
        .expect("an OAuth target that needs no extra parameter");

    let link = provider.generate_link(&LinkRequest::new(user, &target.id)).await.expect("generate_link");
    let session_cookie = link.state.clone();
    let landed = browser_approves(sb, &link.url).await;
    let callback = Callback::from_url(provider.kind(), &landed).expect("callback URL").with_state(session_cookie);
    let connection = provider.complete_callback(&callback).await.expect("complete_callback");
    assert_eq!(connection.user, user);
    assert!(connection.target.eq_ignore_ascii_case(&target.id), "{connection:?}");

    let listed = provider.list_connections(&ConnectionQuery::user(user)).await.expect("list_connections");
    assert!(listed.iter().any(|c| c.id == connection.id), "{listed:?}");
    provider.disconnect(user, &connection.id).await.expect("disconnect");
    let after = provider.list_connections(&ConnectionQuery::user(user)).await.expect("list after disconnect");
    assert!(after.iter().all(|c| c.id != connection.id), "{after:?}");
    target.id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_app_function_runs_on_every_platform_with_the_apps_own_user_ids() {
    let sb = sandbox().await;
    for kind in KINDS {
        // Configuration only: what an operator would put in env, a TOML file or a map.
        let mut config: HashMap<String, String> = settings(&sb, kind);
        config.insert("state_secret".into(), STATE_SECRET.into());
        for user in [format!("ada.lovelace+{kind}@example.com"), "8f14e45f-ceea-467f-a0e6-3e1b2c4d5a6b".to_owned()] {
            let provider = oauth_link::from_map(kind, &config).expect("provider from configuration");
            let target = connect_list_and_disconnect(provider, &user, &sb).await;
            eprintln!("{kind}: connected and disconnected {target} for {user}");
        }
    }
    sb.shutdown().await.unwrap();
}
