//! The connect flow end to end, offline, against the in-memory provider:
//! generate a link, play the user approving it, complete the callback, list, disconnect,
//! and show that a replayed or tampered callback is refused.
//!
//! `cargo run -p oauth-link --features memory --example connect`

use std::sync::Arc;

use oauth_link::testing::MemoryProvider;
use oauth_link::{ConnectionQuery, LinkContext, LinkRequest, StateToken};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let memory = Arc::new(MemoryProvider::new(LinkContext::ephemeral()));
    // The app only ever sees the trait object, as it would with a real platform.
    let provider: oauth_link::SharedLinkProvider = memory.clone();

    let link = provider.generate_link(&LinkRequest::new("user-42", "slack")).await?;
    println!("1. link for user-42 -> slack: {} (expires {})", link.url, link.expires_at);

    let callback = memory.approve(&link)?; // the user clicks Approve on the consent page
    let connection = provider.complete_callback(&callback).await?;
    println!("2. completed: connection {} is {:?}", connection.id, connection.status);

    let listed = provider.list_connections(&ConnectionQuery::user("user-42")).await?;
    println!("3. user-42 has {} connection(s): {:?}", listed.len(), listed.iter().map(|c| &c.id).collect::<Vec<_>>());

    let replay = provider.complete_callback(&callback).await.unwrap_err();
    println!("4. same callback again -> {replay}");

    let mut forged = link.state.expose().to_owned();
    forged.push('x');
    let forged = provider.complete_callback(&callback.clone().with_state_replaced(StateToken::new(forged))).await;
    println!("5. tampered state -> {}", forged.unwrap_err());

    provider.disconnect("user-42", &connection.id).await?;
    let left = provider.list_connections(&ConnectionQuery::user("user-42")).await?;
    println!("6. disconnected; user-42 has {} connection(s)", left.len());
    Ok(())
}
