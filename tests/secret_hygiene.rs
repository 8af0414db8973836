//! Secret hygiene: every provider's full flow against the sandbox with tracing at TRACE
//! captured, then no API key, link token, authorization code, link state or access token
//! may appear in the logs, in any error, in `Debug` output, or in CLI output.

use oauth_link::{ConnectionQuery, LinkContext, LinkRequest};
use oauth_link_tests::capture;
use oauth_link_tests::sandbox::{build, callback_from, sandbox, settings, target, KINDS};
use oauth_link_tests::{cli, STATE_SECRET};

/// Every secret-looking string the sandbox handed out: link tokens (Junction link ids),
/// authorization codes, access and refresh tokens.
fn platform_secrets(state: &serde_json::Value) -> Vec<String> {
    let mut out = Vec::new();
    for link in state["junction"]["link_tokens"].as_array().into_iter().flatten() {
        out.extend(link["id"].as_str().map(str::to_owned));
    }
    for code in state["alloy"]["codes"].as_array().into_iter().flatten() {
        out.extend(code["code"].as_str().map(str::to_owned));
    }
    for connection in state["novu"]["connections"].as_array().into_iter().flatten() {
        for key in ["accessToken", "refreshToken"] {
            out.extend(connection["auth"][key].as_str().map(str::to_owned));
        }
    }
    out.retain(|s| s.len() >= 8);
    out
}

/// Where a leaked secret stands, the secret itself masked.
fn around(haystack: &str, secret: &str) -> String {
    let at = haystack.find(secret).unwrap_or(0);
    let start = haystack[..at].char_indices().rev().nth(80).map_or(0, |(i, _)| i);
    let end = (at + secret.len() + 40).min(haystack.len());
    let end = (end..=haystack.len()).find(|e| haystack.is_char_boundary(*e)).unwrap_or(haystack.len());
    haystack[start..end].replace(secret, "<SECRET>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_logs_errors_debug_or_cli_output() {
    let captured = capture::install(tracing::Level::TRACE);
    let running = sandbox().await;
    let ctx = LinkContext::ephemeral();
    let mut api_keys = Vec::new();
    let mut states = Vec::new();
    let mut printed = String::new();

    for kind in KINDS {
        let mut map = settings(&running, kind);
        if kind == "alloy-connectors" {
            // The code exchange is the path that handles an authorization code.
            map.insert("callback_mode".into(), "exchange".into());
        }
        if kind == "novu" {
            map.insert("include_channel_connections".into(), "true".into());
        }
        api_keys.push(map["api_key"].clone());
        let provider = build(kind, &map, ctx.clone());
        printed.push_str(&format!("{provider:?}\n"));

        let mut requests = vec![LinkRequest::new("hygiene-user", target(kind))];
        if kind == "novu" {
            // A workspace install: Novu stores an access token on the channel connection.
            requests.push(LinkRequest::new("hygiene-user", "slack").with_param("link_kind", "workspace"));
        }
        for request in requests {
            let link = provider.generate_link(&request).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
            states.push(link.state.expose().to_owned());
            printed.push_str(&format!("{link:?}\n"));
            let consent = running.sandbox().approve(link.url.as_str()).expect("known link");
            let callback = callback_from(&provider, &link, consent.location.as_deref());
            printed.push_str(&format!("{callback:?}\n"));
            let connection = provider.complete_callback(&callback).await.unwrap_or_else(|e| panic!("{kind}: {e}"));
            printed.push_str(&format!("{connection:?}\n{}\n", serde_json::to_string(&connection).unwrap()));
            // Errors on the same secrets: a replay, a tampered state.
            let replay = provider.complete_callback(&callback).await.unwrap_err();
            printed.push_str(&format!("{replay}\n{replay:?}\n"));
            let tampered = callback.clone().with_state_replaced(format!("{}x", link.state.expose()).into());
            let err = provider.complete_callback(&tampered).await.unwrap_err();
            printed.push_str(&format!("{err}\n{err:?}\n"));
        }
        let listed = provider.list_connections(&ConnectionQuery::user("hygiene-user")).await.unwrap();
        printed.push_str(&format!("{listed:?}\n{}\n", serde_json::to_string(&listed).unwrap()));

        // A platform error that echoes what it was sent.
        let mut wrong = map.clone();
        wrong.insert("api_key".into(), format!("{}-revoked", map["api_key"]));
        api_keys.push(wrong["api_key"].clone());
        let err = build(kind, &wrong, ctx.clone()).generate_link(&LinkRequest::new("hygiene-user", target(kind))).await;
        let err = err.unwrap_err();
        printed.push_str(&format!("{err}\n{err:?}\n"));

        // The CLI, as a shell would run it against the same sandbox.
        let prefix = oauth_link::core::adapter::env_var(kind, "");
        let env: Vec<(String, String)> = map
            .iter()
            .map(|(k, v)| (format!("{prefix}{}", k.to_uppercase()), v.clone()))
            .chain([
                ("OAUTH_LINK_PROVIDER".to_owned(), kind.to_owned()),
                ("OAUTH_LINK_STATE_SECRET".to_owned(), STATE_SECRET.to_owned()),
                (
                    "OAUTH_LINK_REPLAY_DIR".to_owned(),
                    std::env::temp_dir().join("oauth-link-hygiene").display().to_string(),
                ),
            ])
            .collect();
        // The CLI owns its runtime: run it on a plain thread, outside this test's runtime.
        let output = std::thread::spawn(move || {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let commands: [&[&str]; 3] =
                [&["config", "check"], &["connections", "--user", "hygiene-user"], &["-vv", "providers"]];
            let mut output = String::new();
            for args in commands {
                let run = cli(args, &env);
                assert_eq!(run.code, 0, "{kind} {args:?}: {}", run.stderr);
                output.push_str(&run.stdout);
                output.push_str(&run.stderr);
            }
            output
        })
        .join()
        .expect("CLI thread");
        printed.push_str(&output);
    }

    let secrets: Vec<String> = api_keys
        .into_iter()
        .chain(states)
        .chain(platform_secrets(&running.sandbox().state()))
        .chain([STATE_SECRET.to_owned()])
        .collect();
    assert!(secrets.len() >= 12, "the flows must have handled secrets: {}", secrets.len());
    let logs = captured.text.lock().unwrap().clone();
    assert!(logs.lines().count() > 100, "TRACE capture must have seen the flows");
    for (i, secret) in secrets.iter().enumerate() {
        assert!(!logs.contains(secret.as_str()), "secret #{i} reached the logs: {}", around(&logs, secret));
        assert!(
            !printed.contains(secret.as_str()),
            "secret #{i} reached Debug, an error or CLI output: {}",
            around(&printed, secret)
        );
    }
    running.shutdown().await.unwrap();
}
