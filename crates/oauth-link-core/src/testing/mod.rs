//! Test support (feature `testing`): the conformance suite every provider must pass, and an
//! in-memory provider that passes it.
//!
//! The suites an HTTP adapter also runs, the hostile-input suite (mutated, oversized and
//! echoing answers, hostile callbacks, invalid requests and ids) and the configuration suite,
//! are written once in the `oauth-link-testkit` crate and driven per adapter by a small
//! driver that supplies its shapes. They need an HTTP mock and proptest, which this feature
//! must not bring to apps (the facade's `memory` feature turns it on).

pub mod conformance;
pub mod memory;

pub use memory::MemoryProvider;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::conformance::{self, Driver};
    use super::*;
    use crate::clock::ManualClock;
    use crate::context::LinkContext;
    use crate::provider::{LinkProvider, SharedLinkProvider};
    use crate::replay::MemoryReplayGuard;
    use crate::state::{StateCodec, StateKeys};
    use crate::types::{Callback, Link, LinkRequest};

    struct MemoryDriver {
        provider: Arc<MemoryProvider>,
        clock: ManualClock,
    }

    impl MemoryDriver {
        fn new() -> Self {
            let clock = ManualClock::starting_now();
            let codec = StateCodec::new(StateKeys::random()).with_clock(Arc::new(clock.clone()));
            let ctx = LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()));
            Self { provider: Arc::new(MemoryProvider::new(ctx)), clock }
        }
    }

    #[async_trait]
    impl Driver for MemoryDriver {
        fn provider(&self) -> SharedLinkProvider {
            self.provider.clone()
        }
        fn clock(&self) -> &ManualClock {
            &self.clock
        }
        fn request(&self, n: u32) -> LinkRequest {
            LinkRequest::new(format!("user-{n}"), "slack")
        }
        async fn approve(&self, link: &Link, _: &LinkRequest) -> Callback {
            self.provider.approve(link).unwrap()
        }
        async fn deny(&self, link: &Link, _: &LinkRequest) -> Option<Callback> {
            Some(self.provider.deny(link).unwrap())
        }
        async fn fail_next_generate(&self, status: u16) {
            self.provider.fail_next(status);
        }
    }

    #[tokio::test]
    async fn memory_provider_passes_the_conformance_suite() {
        conformance::run(&MemoryDriver::new()).await;
    }

    #[tokio::test]
    async fn unapproved_link_is_pending_and_can_be_retried() {
        let driver = MemoryDriver::new();
        let link = driver.provider.generate_link(&LinkRequest::new("u", "slack")).await.unwrap();
        let cb = Callback::from_state(link.state.clone());
        let err = driver.provider.complete_callback(&cb).await.unwrap_err();
        assert!(matches!(err, crate::Error::Pending { .. }) && err.is_retryable());
        driver.provider.approve(&link).unwrap();
        driver.provider.complete_callback(&cb).await.unwrap();
    }

    #[tokio::test]
    async fn a_reconnect_keeps_the_id_and_heals_the_connection() {
        let driver = MemoryDriver::new();
        let p = &driver.provider;
        let link = p.generate_link(&LinkRequest::new("u", "slack")).await.unwrap();
        let first = p.complete_callback(&p.approve(&link).unwrap()).await.unwrap();
        assert!(p.break_connection(&first.id, "token_revoked"));
        let listed = p.list_connections(&crate::ConnectionQuery::user("u")).await.unwrap();
        assert_eq!(listed[0].status, crate::ConnectionStatus::needs_reauthorization("token_revoked"));

        let again = LinkRequest::reconnect("u", &first.id).with_tag("from", "reconnect");
        let link = p.generate_link(&again).await.unwrap();
        let healed = p.complete_callback(&p.approve(&link).unwrap()).await.unwrap();
        assert_eq!((healed.id.as_str(), healed.target.as_str()), (first.id.as_str(), "slack"));
        assert_eq!(healed.tags, again.tags);
        let listed = p.list_connections(&crate::ConnectionQuery::user("u")).await.unwrap();
        assert_eq!(listed.len(), 1, "a reconnect never leaves two connections: {listed:?}");
        assert!(listed[0].status.is_connected());
        assert!(p.capabilities().reconnect_keeps_id);

        let err = p.generate_link(&LinkRequest::reconnect("u", "mem_404")).await.unwrap_err();
        assert!(matches!(err, crate::Error::NotFound { .. }), "{err:?}");
        let err = p.generate_link(&LinkRequest::reconnect("someone-else", &first.id)).await.unwrap_err();
        assert!(matches!(err, crate::Error::NotFound { .. }), "another user's connection: {err:?}");
        let err = p.generate_link(&LinkRequest::new("u", "github").with_reconnect(&first.id)).await.unwrap_err();
        assert!(matches!(err, crate::Error::InvalidInput { .. }), "a target the connection is not to: {err:?}");
    }

    #[tokio::test]
    async fn the_suite_catches_a_provider_that_ignores_replay() {
        #[derive(Debug)]
        struct Leaky(Arc<MemoryProvider>);
        #[async_trait]
        impl LinkProvider for Leaky {
            fn kind(&self) -> &'static str {
                self.0.kind()
            }
            fn capabilities(&self) -> crate::Capabilities {
                self.0.capabilities()
            }
            async fn generate_link(&self, r: &LinkRequest) -> crate::Result<Link> {
                self.0.generate_link(r).await
            }
            async fn complete_callback(&self, cb: &Callback) -> crate::Result<crate::Connection> {
                // Broken on purpose: swallows the replay error.
                match self.0.complete_callback(cb).await {
                    Err(crate::Error::StateReplayed { .. }) => {
                        Ok(self.0.list_connections(&crate::ConnectionQuery::user("user-2")).await?.remove(0))
                    }
                    other => other,
                }
            }
            async fn list_connections(&self, q: &crate::ConnectionQuery) -> crate::Result<Vec<crate::Connection>> {
                self.0.list_connections(q).await
            }
        }
        struct LeakyDriver(MemoryDriver);
        #[async_trait]
        impl Driver for LeakyDriver {
            fn provider(&self) -> SharedLinkProvider {
                Arc::new(Leaky(self.0.provider.clone()))
            }
            fn clock(&self) -> &ManualClock {
                &self.0.clock
            }
            fn request(&self, n: u32) -> LinkRequest {
                self.0.request(n)
            }
            async fn approve(&self, link: &Link, r: &LinkRequest) -> Callback {
                self.0.approve(link, r).await
            }
            async fn deny(&self, link: &Link, r: &LinkRequest) -> Option<Callback> {
                self.0.deny(link, r).await
            }
            async fn fail_next_generate(&self, status: u16) {
                self.0.fail_next_generate(status).await
            }
        }
        let driver = LeakyDriver(MemoryDriver::new());
        let outcome =
            tokio::spawn(async move { conformance::approved_link_completes_and_is_listed(&driver).await }).await;
        assert!(outcome.is_err(), "the suite must fail a provider that allows replays");
    }
}
