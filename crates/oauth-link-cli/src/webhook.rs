//! `oauth-link webhook verify`: checks one webhook delivery the way an app's endpoint would,
//! and prints the connection event it carries.
//!
//! The provider comes from the configuration like every command's; it needs the adapter's
//! settings (its API key: an event may name a user the adapter looks up) and its
//! `webhook_secret`, but no state secret. Deliveries already handled are recorded in a
//! directory (one marker file per delivery id, created atomically, kept for
//! [`DEFAULT_DEDUPE_TTL`](oauth_link::core::webhook::DEFAULT_DEDUPE_TTL)): a second run
//! with the same delivery exits 2, as a resend would be refused by an app.

use std::io::Read;
use std::path::{Path, PathBuf};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use oauth_link::core::webhook::{dedupe_delivery, delivery_id};
use oauth_link::{Error, FileReplayGuard, LinkContext, Result, Settings};
use serde_json::{json, Value};

/// Largest body read, from a file or stdin.
pub const MAX_BODY: usize = 1024 * 1024;

/// `--header 'name: value'`.
pub(crate) fn parse_header(raw: &str) -> std::result::Result<(String, String), String> {
    match raw.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_owned(), value.trim().to_owned())),
        _ => Err(format!("`{raw}` is not `name: value`")),
    }
}

/// The body: the file's bytes, or what `stdin` holds; at most [`MAX_BODY`] bytes.
pub(crate) fn read_body(file: Option<&Path>, stdin: &mut dyn Read) -> Result<Vec<u8>> {
    let (mut source, label): (Box<dyn Read + '_>, String) = match file {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|e| {
                Error::invalid_input("webhook", "body_file", format!("cannot read {}: {e}", path.display()))
            })?;
            (Box::new(file), path.display().to_string())
        }
        None => (Box::new(stdin), "stdin".to_owned()),
    };
    let mut body = Vec::new();
    source
        .by_ref()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| Error::invalid_input("webhook", "body", format!("cannot read the body from {label}: {e}")))?;
    if body.len() > MAX_BODY {
        return Err(Error::invalid_input("webhook", "body", format!("is over {MAX_BODY} bytes ({label})")));
    }
    Ok(body)
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| Error::invalid_input("webhook", "header", format!("`{name}` is not a header name")))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid_input("webhook", "header", format!("the value of `{name}` is not visible text"))
        })?;
        map.append(header, value);
    }
    Ok(map)
}

/// The directory of handled deliveries under the state base (`$XDG_STATE_HOME`, else
/// `$HOME/.local/state`, else the temp directory): `<base>/oauth-link/webhook-deliveries`.
pub(crate) fn default_dedupe_dir(state_base: PathBuf) -> PathBuf {
    state_base.join("oauth-link").join("webhook-deliveries")
}

/// Verifies the delivery with the configured provider, records its id in `dedupe_dir`,
/// and answers the event (or `{"event": null, "delivery_id"}` for an authentic delivery
/// about something else).
pub(crate) async fn verify(
    settings: &Settings,
    headers: &[(String, String)],
    body: &[u8],
    dedupe_dir: &Path,
) -> Result<Value> {
    let headers = header_map(headers)?;
    // Verifying needs the adapter, not link state: no state secret asked for.
    let provider = oauth_link::configure(settings, None)?.build(LinkContext::ephemeral())?;
    let event = provider.webhook_event(&headers, body).await?;
    // webhook_event succeeded, so the headers held an authentic id.
    let id = delivery_id(&headers).unwrap_or_default();
    let dedupe = FileReplayGuard::new(dedupe_dir).map_err(|e| match e {
        Error::ReplayGuard { message } => Error::config("dedupe_dir", format!("{message}; pass --dedupe-dir DIR")),
        other => other,
    })?;
    dedupe_delivery(&dedupe, provider.kind(), id).await?;
    Ok(match event {
        Some(event) => serde_json::to_value(&event).unwrap_or_default(),
        None => json!({ "event": null, "delivery_id": id }),
    })
}
