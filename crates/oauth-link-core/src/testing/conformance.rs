//! The contract every [`LinkProvider`](crate::LinkProvider) must meet, as runnable checks.
//!
//! An adapter's test implements [`Driver`] (it plays the browser and the platform: it
//! approves a link by making the platform, a mock or the sandbox, show the new connection)
//! and calls [`run`]. Each check panics with a message naming what broke.

use std::time::Duration;

use async_trait::async_trait;

use crate::clock::{Clock, ManualClock};
use crate::context::LinkContext;
use crate::error::Error;
use crate::provider::SharedLinkProvider;
use crate::secret::StateToken;
use crate::types::{Callback, Connection, ConnectionQuery, ConnectionStatus, Link, LinkRequest};

/// Plays the browser and the platform for the conformance checks.
#[async_trait]
pub trait Driver: Send + Sync {
    /// The provider under test. Its [`LinkContext`] must use [`Driver::clock`].
    fn provider(&self) -> SharedLinkProvider;

    /// The clock the provider's state codec reads.
    fn clock(&self) -> &ManualClock;

    /// A valid request for this provider; `n` makes each one distinct (use it in the user
    /// id so checks do not see each other's connections).
    fn request(&self, n: u32) -> LinkRequest;

    /// Plays the user approving `link` at the consent screen; returns what the browser
    /// brings back to the app (query and/or the state the app kept).
    async fn approve(&self, link: &Link, request: &LinkRequest) -> Callback;

    /// Plays the user refusing consent, when the platform can report it; `None` otherwise.
    async fn deny(&self, link: &Link, request: &LinkRequest) -> Option<Callback>;

    /// Makes the platform answer `status` to the next `generate_link` (a mock or the
    /// sandbox's fault injection), then undo it after one call.
    async fn fail_next_generate(&self, status: u16);

    /// Plays the user leaving the consent screen without a decision the platform reports:
    /// the platform keeps what it had, and the browser (or the app, for hosted callbacks)
    /// brings back only the state. Default: the state the app kept.
    async fn abandon(&self, link: &Link, request: &LinkRequest) -> Callback {
        let _ = request;
        Callback::from_state(link.state.clone())
    }
}

/// Runs every check in order.
pub async fn run(driver: &dyn Driver) {
    link_is_well_formed(driver).await;
    approved_link_completes_and_is_listed(driver).await;
    invalid_input_is_rejected(driver).await;
    tampered_state_is_rejected(driver).await;
    foreign_state_is_rejected(driver).await;
    expired_state_is_rejected(driver).await;
    denied_consent_is_typed(driver).await;
    relink_never_completes_with_the_old_connection(driver).await;
    provider_errors_are_typed(driver).await;
    targets_are_listed(driver).await;
    tags_round_trip(driver).await;
}

/// A link has an http(s) URL, names its provider, expires in the future and carries a
/// URL-safe state.
pub async fn link_is_well_formed(driver: &dyn Driver) {
    let provider = driver.provider();
    let request = driver.request(1);
    let link = provider.generate_link(&request).await.expect("generate_link on a valid request");
    assert_eq!(link.provider, provider.kind(), "Link::provider must be the provider kind");
    assert!(matches!(link.url.scheme(), "https" | "http"), "link URL must be http(s): {link:?}");
    assert!(link.expires_at > driver.clock().now(), "link must expire in the future: {link:?}");
    let state = link.state.expose();
    assert!(!state.is_empty(), "link state must not be empty");
    assert!(state.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b)), "link state must be URL-safe");
    let other = provider.generate_link(&request).await.expect("second generate_link");
    assert_ne!(other.state.expose(), state, "each link must get a fresh state");
}

/// Approve, complete, see it listed, complete again (replay), disconnect if supported.
pub async fn approved_link_completes_and_is_listed(driver: &dyn Driver) {
    let provider = driver.provider();
    let request = driver.request(2);
    let link = provider.generate_link(&request).await.expect("generate_link");
    let callback = driver.approve(&link, &request).await;
    let connection = provider.complete_callback(&callback).await.expect("complete_callback after approval");
    check_connection(&connection, provider.kind(), &request);

    let listed = provider.list_connections(&ConnectionQuery::user(&request.user)).await.expect("list_connections");
    assert!(
        listed.iter().any(|c| c.id == connection.id),
        "list_connections must return the completed connection {}; got {:?}",
        connection.id,
        listed.iter().map(|c| &c.id).collect::<Vec<_>>()
    );
    for c in &listed {
        assert_eq!(c.provider, provider.kind());
        assert_eq!(c.user, request.user, "list_connections must return only the user's connections");
    }

    let replay = provider.complete_callback(&callback).await.expect_err("completing twice must fail");
    assert!(matches!(replay, Error::StateReplayed { .. }), "second completion must be StateReplayed, got {replay:?}");

    if provider.capabilities().disconnect {
        provider.disconnect(&request.user, &connection.id).await.expect("disconnect");
        let after =
            provider.list_connections(&ConnectionQuery::user(&request.user)).await.expect("list after disconnect");
        assert!(after.iter().all(|c| c.id != connection.id), "disconnected connection must not be listed");
    }
}

fn check_connection(connection: &Connection, kind: &str, request: &LinkRequest) {
    assert_eq!(connection.provider, kind);
    assert_eq!(connection.user, request.user, "connection must belong to the requesting user");
    assert!(!connection.id.is_empty(), "connection id must not be empty");
    assert!(
        connection.target.eq_ignore_ascii_case(&request.target),
        "connection target {} must match the request's {}",
        connection.target,
        request.target
    );
    assert_eq!(connection.status, ConnectionStatus::Connected);
}

/// Empty, whitespace and control-character ids are refused before anything is sent.
pub async fn invalid_input_is_rejected(driver: &dyn Driver) {
    let provider = driver.provider();
    let valid = driver.request(3);
    for (user, target) in [
        ("", valid.target.as_str()),
        ("  ", valid.target.as_str()),
        ("a\nb", valid.target.as_str()),
        (valid.user.as_str(), ""),
    ] {
        let mut request = valid.clone();
        request.user = user.into();
        request.target = target.into();
        let err = provider.generate_link(&request).await.expect_err("invalid request must fail");
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "expected InvalidInput for {user:?}/{target:?}, got {err:?}"
        );
    }
    let err = provider.list_connections(&ConnectionQuery::user("")).await.expect_err("empty user must fail");
    assert!(matches!(err, Error::InvalidInput { .. }), "got {err:?}");
}

/// A state whose signature was altered fails with StateInvalid, and does not burn the
/// genuine state.
pub async fn tampered_state_is_rejected(driver: &dyn Driver) {
    let provider = driver.provider();
    let request = driver.request(4);
    let link = provider.generate_link(&request).await.expect("generate_link");
    let callback = driver.approve(&link, &request).await;
    let genuine = link.state.expose();
    let mut tampered = genuine.to_owned();
    let last = tampered.pop().expect("non-empty state");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let err = provider
        .complete_callback(&callback.clone().with_state_replaced(StateToken::new(tampered)))
        .await
        .expect_err("tampered state must fail");
    assert!(matches!(err, Error::StateInvalid { .. }), "tampered state must be StateInvalid, got {err:?}");
    let err = provider
        .complete_callback(&callback.clone().with_state_replaced(StateToken::new("garbage")))
        .await
        .expect_err("garbage state must fail");
    assert!(matches!(err, Error::StateInvalid { .. }), "garbage state must be StateInvalid, got {err:?}");
    provider.complete_callback(&callback).await.expect("the genuine state still completes");
}

/// A state signed with another key, or for another provider, fails with StateInvalid.
pub async fn foreign_state_is_rejected(driver: &dyn Driver) {
    let provider = driver.provider();
    let request = driver.request(5);
    let link = provider.generate_link(&request).await.expect("generate_link");
    let callback = driver.approve(&link, &request).await;
    let stranger = LinkContext::ephemeral();
    let foreign = stranger.sign(&stranger.codec().claims(provider.kind(), &request.user, &request.target));
    let err =
        provider.complete_callback(&callback.with_state_replaced(foreign)).await.expect_err("foreign state must fail");
    assert!(matches!(err, Error::StateInvalid { .. }), "foreign state must be StateInvalid, got {err:?}");
}

/// A state used after its expiry fails with StateExpired. Moves the driver's clock 25 hours
/// ahead, so platform timestamps in mocks should follow the driver clock.
pub async fn expired_state_is_rejected(driver: &dyn Driver) {
    let provider = driver.provider();
    let request = driver.request(6);
    let link = provider.generate_link(&request).await.expect("generate_link");
    let callback = driver.approve(&link, &request).await;
    // Past any state lifetime the configuration allows (at most 24 h), whatever the
    // platform link's own lifetime: the state may outlive the platform URL.
    let _ = &link;
    driver.clock().advance(Duration::from_secs(25 * 3600));
    let err = provider.complete_callback(&callback).await.expect_err("expired state must fail");
    assert!(matches!(err, Error::StateExpired { .. }), "expired state must be StateExpired, got {err:?}");
    assert!(err.to_string().contains("start a new link"), "{err}");
}

/// Consent refused at the platform comes back as Denied.
pub async fn denied_consent_is_typed(driver: &dyn Driver) {
    let provider = driver.provider();
    let request = driver.request(7);
    let link = provider.generate_link(&request).await.expect("generate_link");
    if let Some(callback) = driver.deny(&link, &request).await {
        let err = provider.complete_callback(&callback).await.expect_err("denied consent must fail");
        assert!(matches!(err, Error::Denied { .. }), "denied consent must be Denied, got {err:?}");
        assert_eq!(err.provider(), Some(provider.kind()));
    }
}

/// Connect a target, then link the same target again for the same user at the same
/// instant and refuse (or abandon) it: completion must not confirm the connection that
/// existed before the second link.
pub async fn relink_never_completes_with_the_old_connection(driver: &dyn Driver) {
    let provider = driver.provider();
    let request = driver.request(9);
    let first = provider.generate_link(&request).await.expect("generate_link");
    let callback = driver.approve(&first, &request).await;
    let existing = provider.complete_callback(&callback).await.expect("complete_callback after approval");
    for refused in [true, false] {
        let again = provider.generate_link(&request).await.expect("second generate_link for the same target");
        let callback = match refused {
            true => match driver.deny(&again, &request).await {
                Some(callback) => callback,
                None => continue,
            },
            false => driver.abandon(&again, &request).await,
        };
        match provider.complete_callback(&callback).await {
            Err(Error::Denied { .. } | Error::Pending { .. }) => {}
            Ok(connection) => panic!(
                "a {} re-link completed with a connection (old one: {}, returned: {}); it must be Denied or Pending",
                if refused { "refused" } else { "abandoned" },
                existing.id,
                connection.id
            ),
            Err(other) => panic!("a refused or abandoned re-link must be Denied or Pending, got {other:?}"),
        }
    }
}

/// The app tags of a link come back on the connection its completion returns (they ride in
/// the sealed state, whatever the platform), and invalid tags are refused before anything is
/// sent.
pub async fn tags_round_trip(driver: &dyn Driver) {
    let provider = driver.provider();
    let request = driver.request(11).with_tag("org", "acme-42").with_tag("from", "settings.page").with_tag("plan", "");
    let link = provider.generate_link(&request).await.expect("generate_link with tags");
    let callback = driver.approve(&link, &request).await;
    let connection = provider.complete_callback(&callback).await.expect("complete_callback of a tagged link");
    check_connection(&connection, provider.kind(), &request);
    assert_eq!(connection.tags, request.tags, "complete_callback must return the link's tags on the connection");
    for bad in [driver.request(11).with_tag("Org", "x"), driver.request(11).with_tag("org", "a\u{7}b")] {
        let err = provider.generate_link(&bad).await.expect_err("an invalid tag must be refused");
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field.starts_with("tags.")),
            "an invalid tag must be InvalidInput on `tags.<key>`, got {err:?}"
        );
    }
}

/// The catalogue lists targets with usable ids, among them the one the driver links.
pub async fn targets_are_listed(driver: &dyn Driver) {
    let provider = driver.provider();
    let targets = provider.list_targets().await.expect("list_targets");
    assert!(!targets.is_empty(), "list_targets must list the platform's targets");
    for target in &targets {
        crate::types::validate_id(provider.kind(), "target", &target.id)
            .unwrap_or_else(|e| panic!("target id {:?} is not a usable LinkRequest::target: {e}", target.id));
        assert!(!target.name.trim().is_empty(), "target {} must have a name", target.id);
    }
    let wanted = driver.request(10).target;
    assert!(
        targets.iter().any(|t| t.id.eq_ignore_ascii_case(&wanted)),
        "the catalogue must list the target the driver links ({wanted}); got {:?}",
        targets.iter().map(|t| &t.id).collect::<Vec<_>>()
    );
}

/// Platform rejections come back as typed errors naming the provider.
pub async fn provider_errors_are_typed(driver: &dyn Driver) {
    let provider = driver.provider();
    let request = driver.request(8);
    driver.fail_next_generate(401).await;
    let err = provider.generate_link(&request).await.expect_err("a 401 must fail");
    assert!(matches!(err, Error::Unauthenticated { .. }), "401 must be Unauthenticated, got {err:?}");
    assert_eq!(err.provider(), Some(provider.kind()));
    driver.fail_next_generate(403).await;
    let err = provider.generate_link(&request).await.expect_err("a 403 must fail");
    assert!(matches!(err, Error::Forbidden { .. }), "403 must be Forbidden, got {err:?}");
    provider.generate_link(&request).await.expect("the platform recovers");
}
