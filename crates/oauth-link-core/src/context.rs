//! What every adapter shares with the app: the state codec, the replay guard and,
//! optionally, an injected HTTP transport.

use std::future::Future;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::http::{HttpSettings, HttpTransport, ReqwestTransport};
use crate::replay::{MemoryReplayGuard, ReplayGuard};
use crate::secret::StateToken;
use crate::state::{IssuedToken, StateClaims, StateCodec, StateKeys};
use crate::types::{Callback, Connection, LinkRequest};
use crate::unreleased::Unreleased;
use crate::webhook::ConnectionNotifier;

/// State handling and transport shared by the adapters of one app.
#[derive(Debug, Clone)]
pub struct LinkContext {
    codec: StateCodec,
    replay: Arc<dyn ReplayGuard>,
    transport: Option<Arc<dyn HttpTransport>>,
    notifier: ConnectionNotifier,
    /// States whose release failed, held by this process (shared by its clones).
    unreleased: Arc<Unreleased>,
}

impl LinkContext {
    /// A context signing with `codec` and enforcing single use with `replay`.
    pub fn new(codec: StateCodec, replay: Arc<dyn ReplayGuard>) -> Self {
        Self { codec, replay, transport: None, notifier: ConnectionNotifier::new(), unreleased: Arc::default() }
    }

    /// A context with fresh random keys and an in-memory replay guard: for sandboxes,
    /// demos and tests (states do not survive a restart or cross app instances).
    pub fn ephemeral() -> Self {
        Self::new(StateCodec::new(StateKeys::random()), Arc::new(MemoryReplayGuard::new()))
    }

    /// Routes every adapter built with this context through `transport` instead of each
    /// building its own pooled client.
    pub fn with_transport(mut self, transport: Arc<dyn HttpTransport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Shares `notifier` (by default every context has its own, shared by its clones).
    pub fn with_notifier(mut self, notifier: ConnectionNotifier) -> Self {
        self.notifier = notifier;
        self
    }

    /// What wakes a completion when a webhook event announces its connection (see
    /// [`ConnectionNotifier`]).
    pub fn notifier(&self) -> &ConnectionNotifier {
        &self.notifier
    }

    /// The state codec.
    pub fn codec(&self) -> &StateCodec {
        &self.codec
    }

    /// The replay guard.
    pub fn replay_guard(&self) -> &Arc<dyn ReplayGuard> {
        &self.replay
    }

    /// The injected transport, or a new pooled one built from `settings` (call it once per
    /// adapter, at construction).
    pub fn transport(&self, settings: &HttpSettings) -> Result<Arc<dyn HttpTransport>> {
        match &self.transport {
            Some(t) => Ok(t.clone()),
            None => Ok(Arc::new(ReqwestTransport::new(settings)?)),
        }
    }

    /// Fresh claims for a link (sign them with [`LinkContext::sign`] once complete).
    pub fn claims(&self, provider: &'static str, user: &str, target: &str) -> StateClaims {
        self.codec.claims(provider, user, target)
    }

    /// Issues a sealed state for a link in one step (see [`StateCodec::issue`]).
    pub fn issue(&self, provider: &'static str, user: &str, target: &str, extra: &[(&str, &str)]) -> IssuedToken {
        self.codec.issue(provider, user, target, extra)
    }

    /// Issues the sealed state of a link for `request` (see [`StateCodec::issue_for`]): its
    /// user and target, its tags and the connection it reconnects travel in the state, with
    /// the adapter's `extra` facts. Every adapter issues through this (or
    /// [`StateCodec::claims_for`]), so tags reach completion the same way on every platform.
    /// A reconnect's target is the one the adapter resolved, set on `request`.
    pub fn issue_link(&self, provider: &'static str, request: &LinkRequest, extra: &[(&str, &str)]) -> IssuedToken {
        self.codec.issue_for(provider, request, extra)
    }

    /// Signs claims.
    pub fn sign(&self, claims: &StateClaims) -> StateToken {
        self.codec.sign(claims)
    }

    /// Completes a callback safely: verifies the state (signature, provider, expiry),
    /// consumes it in the replay guard, then runs `confirm` with its claims.
    ///
    /// Only a confirmed connection or the platform's refusal ([`Error::Denied`]) uses the
    /// state up. Any other failure (the platform has not shown the connection yet, a
    /// network failure, an answer that could not be read even after retries) releases it,
    /// so the same callback can be completed again: a user who consented is never lost to
    /// a fault on the way back. When the release fails too (the guard's store is down), this
    /// process holds the state: a new attempt here takes it back without consuming it, and
    /// the release is retried in the background until it lands, so an attempt on another
    /// instance can complete it.
    pub async fn complete<T, F, Fut>(&self, provider: &'static str, callback: &Callback, confirm: F) -> Result<T>
    where
        F: FnOnce(StateClaims) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let token = callback.state(provider)?;
        let claims = self.codec.verify(provider, &token)?;
        let (nonce, expires_at) = (claims.nonce, claims.expires_at);
        let taken_back = self.unreleased.take_back(nonce).await;
        if !taken_back && !self.replay.consume(nonce, expires_at).await? {
            crate::telemetry::replay_refused(provider);
            return Err(Error::StateReplayed { provider });
        }
        match confirm(claims).await {
            Err(err) if !matches!(err, Error::Denied { .. }) => {
                if let Err(release) = self.replay.release(nonce).await {
                    tracing::warn!(
                        provider,
                        error = %release,
                        "could not release link state after a failed confirmation; this process holds it and retries the release"
                    );
                    let clock = Arc::clone(self.codec.clock());
                    self.unreleased.hold(Arc::clone(&self.replay), clock, nonce, expires_at).await;
                }
                Err(err)
            }
            other => other,
        }
    }

    /// [`LinkContext::complete`] for the usual result, a [`Connection`]: the state's tags
    /// are set on the connection `confirm` returns, so no adapter handles them itself.
    pub async fn complete_connection<F, Fut>(
        &self,
        provider: &'static str,
        callback: &Callback,
        confirm: F,
    ) -> Result<Connection>
    where
        F: FnOnce(StateClaims) -> Fut,
        Fut: Future<Output = Result<Connection>>,
    {
        self.complete(provider, callback, |claims| {
            let tags = claims.tags.clone();
            let confirmed = confirm(claims);
            async move { confirmed.await.map(|c| c.with_tags(tags)) }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Callback;

    #[tokio::test]
    async fn complete_consumes_once_and_releases_on_transient_errors() {
        let ctx = LinkContext::ephemeral();
        let token = ctx.sign(&ctx.claims("novu", "u", "slack"));
        let cb = Callback::from_state(token);

        let err = ctx
            .complete("novu", &cb, |_| async { Err::<(), _>(Error::Pending { provider: "novu", message: "m".into() }) })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Pending { .. }));

        let user = ctx.complete("novu", &cb, |c| async move { Ok(c.user) }).await.unwrap();
        assert_eq!(user, "u");
        let again = ctx.complete("novu", &cb, |c| async move { Ok(c.user) }).await.unwrap_err();
        assert!(matches!(again, Error::StateReplayed { provider: "novu" }));
    }

    #[tokio::test]
    async fn an_unreadable_answer_releases_the_state_too() {
        let ctx = LinkContext::ephemeral();
        let cb = Callback::from_state(ctx.sign(&ctx.claims("novu", "u", "slack")));
        let garbled = || async {
            Err::<(), _>(Error::Decode { provider: "novu", message: "truncated".into(), body: "{".into() })
        };
        assert!(matches!(ctx.complete("novu", &cb, |_| garbled()).await, Err(Error::Decode { .. })));
        assert_eq!(ctx.complete("novu", &cb, |c| async move { Ok(c.user) }).await.unwrap(), "u");
    }

    #[tokio::test]
    async fn a_denial_keeps_the_state_consumed() {
        let ctx = LinkContext::ephemeral();
        let cb = Callback::from_state(ctx.sign(&ctx.claims("novu", "u", "slack")));
        let denied = || async {
            Err::<(), _>(Error::Denied { provider: "novu", code: "access_denied".into(), reason: String::new() })
        };
        assert!(matches!(ctx.complete("novu", &cb, |_| denied()).await, Err(Error::Denied { .. })));
        assert!(matches!(ctx.complete("novu", &cb, |_| denied()).await, Err(Error::StateReplayed { .. })));
    }

    #[tokio::test]
    async fn completed_connections_carry_the_link_tags() {
        use crate::types::ConnectionStatus;
        let ctx = LinkContext::ephemeral();
        let request = LinkRequest::new("u", "slack").with_tag("org", "acme").with_tag("from", "settings.page");
        let cb = Callback::from_state(ctx.issue_link("novu", &request, &[]).token);
        let made = |c: StateClaims| async move {
            assert_eq!(c.tags.len(), 2, "confirm sees the tags too");
            Ok(Connection::new("e1", "novu", c.user, c.target, ConnectionStatus::Connected))
        };
        let connection = ctx.complete_connection("novu", &cb, made).await.unwrap();
        assert_eq!(connection.tags, request.tags);
        let json = serde_json::to_value(&connection).unwrap();
        assert_eq!(json["tags"], serde_json::json!({"from": "settings.page", "org": "acme"}));
        // An untagged link gives an untagged connection, with no `tags` in its JSON.
        let cb = Callback::from_state(ctx.issue_link("novu", &LinkRequest::new("u", "slack"), &[]).token);
        let plain = ctx
            .complete_connection("novu", &cb, |c| async move {
                Ok(Connection::new("e2", "novu", c.user, c.target, ConnectionStatus::Connected))
            })
            .await
            .unwrap();
        assert!(plain.tags.is_empty() && serde_json::to_value(&plain).unwrap().get("tags").is_none());
    }

    #[tokio::test]
    async fn foreign_state_never_reaches_confirm() {
        let ctx = LinkContext::ephemeral();
        let other = LinkContext::ephemeral();
        let cb = Callback::from_state(other.sign(&other.claims("novu", "u", "slack")));
        let err =
            ctx.complete("novu", &cb, |_| async { panic!("must not be called") as Result<()> }).await.unwrap_err();
        assert!(matches!(err, Error::StateInvalid { .. }));
    }

    /// The shared store of several instances, down while `down` is set: consume and release
    /// then fail like a Redis outage.
    #[derive(Debug, Default)]
    struct Outage {
        store: MemoryReplayGuard,
        down: std::sync::atomic::AtomicBool,
        consumes: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ReplayGuard for Outage {
        async fn consume(&self, nonce: crate::state::Nonce, expires_at: chrono::DateTime<chrono::Utc>) -> Result<bool> {
            self.consumes.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::ReplayGuard { message: "store down".into() });
            }
            self.store.consume(nonce, expires_at).await
        }

        async fn release(&self, nonce: crate::state::Nonce) -> Result<()> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::ReplayGuard { message: "store down".into() });
            }
            self.store.release(nonce).await
        }
    }

    /// Two app instances (same keys, one shared guard); a callback whose confirmation fails
    /// just as the store goes down.
    async fn failed_while_the_store_went_down() -> (LinkContext, LinkContext, Arc<Outage>, Callback) {
        let guard = Arc::new(Outage::default());
        let codec = StateCodec::new(StateKeys::random());
        let a = LinkContext::new(codec.clone(), guard.clone());
        let b = LinkContext::new(codec, guard.clone());
        let cb = Callback::from_state(a.sign(&a.claims("novu", "u", "slack")));
        let err = a
            .complete("novu", &cb, |_| async {
                guard.down.store(true, std::sync::atomic::Ordering::SeqCst);
                Err::<String, _>(Error::Decode { provider: "novu", message: "cut".into(), body: "{".into() })
            })
            .await
            .unwrap_err();
        assert!(err.is_retryable(), "{err:?}");
        (a, b, guard, cb)
    }

    #[tokio::test(start_paused = true)]
    async fn a_state_whose_release_failed_completes_on_a_retry_here() {
        let (a, b, guard, cb) = failed_while_the_store_went_down().await;
        let consumes = guard.consumes.load(std::sync::atomic::Ordering::SeqCst);
        // Still down: this instance holds the state and completes without asking the store.
        assert_eq!(a.complete("novu", &cb, |c| async move { Ok(c.user) }).await.unwrap(), "u");
        assert_eq!(guard.consumes.load(std::sync::atomic::Ordering::SeqCst), consumes);
        // The store comes back: the state stays used everywhere, no late release frees it.
        guard.down.store(false, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        for ctx in [&a, &b] {
            let again = ctx.complete("novu", &cb, |c| async move { Ok(c.user) }).await.unwrap_err();
            assert!(matches!(again, Error::StateReplayed { .. }), "{again:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_state_whose_release_failed_is_released_for_other_instances_once_the_store_is_back() {
        let (a, b, guard, cb) = failed_while_the_store_went_down().await;
        let down = b.complete("novu", &cb, |c| async move { Ok(c.user) }).await.unwrap_err();
        assert!(matches!(down, Error::ReplayGuard { .. }) && down.is_retryable(), "{down:?}");
        guard.down.store(false, std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        // The background release landed: another instance completes it, exactly once.
        assert_eq!(b.complete("novu", &cb, |c| async move { Ok(c.user) }).await.unwrap(), "u");
        let again = a.complete("novu", &cb, |c| async move { Ok(c.user) }).await.unwrap_err();
        assert!(matches!(again, Error::StateReplayed { .. }), "{again:?}");
    }
}
