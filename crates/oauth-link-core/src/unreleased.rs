//! Link states this process still holds in the replay guard: a confirmation failed for a
//! transient reason, and releasing the state failed too (the guard's store was down).
//!
//! Left alone, such a state would stay marked as used until it expires, and every retry
//! of the user's callback would be refused as a replay although nothing completed. So the
//! process remembers it: a new attempt here takes it back without consuming it again, and a
//! background task keeps releasing it (with backoff) until the release lands, so an attempt
//! on another instance can consume it. Both paths share one lock, so the state is never
//! released while an attempt here owns it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::replay::ReplayGuard;
use crate::state::Nonce;

/// First wait before retrying a release; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two release attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The states held, with their expiry. Empty almost always: only a store outage fills it.
#[derive(Default)]
pub(crate) struct Unreleased {
    held: tokio::sync::Mutex<HashMap<Nonce, DateTime<Utc>>>,
    /// How many are held, read without the lock (the usual answer is 0).
    count: AtomicUsize,
}

impl std::fmt::Debug for Unreleased {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unreleased").field("held", &self.count.load(Ordering::Relaxed)).finish()
    }
}

impl Unreleased {
    /// True when this process held `nonce`: the caller owns the state again, with its mark
    /// still in the guard, and must not consume it a second time.
    pub(crate) async fn take_back(&self, nonce: Nonce) -> bool {
        if self.count.load(Ordering::Acquire) == 0 {
            return false;
        }
        let mut held = self.held.lock().await;
        let taken = held.remove(&nonce).is_some();
        self.count.store(held.len(), Ordering::Release);
        taken
    }

    /// Holds `nonce` (whose release just failed) and, inside a Tokio runtime, retries the
    /// release in the background until it lands, the state expires, or
    /// [`take_back`](Self::take_back) claims it.
    pub(crate) async fn hold(
        self: &Arc<Self>,
        guard: Arc<dyn ReplayGuard>,
        clock: Arc<dyn Clock>,
        nonce: Nonce,
        expires_at: DateTime<Utc>,
    ) {
        {
            let mut held = self.held.lock().await;
            held.insert(nonce, expires_at);
            self.count.store(held.len(), Ordering::Release);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(Arc::clone(self).release_later(guard, clock, nonce));
            }
            Err(_) => tracing::warn!(
                "no Tokio runtime to retry the release of a link state in the background; \
                 only a new attempt in this process can complete it before it expires"
            ),
        }
    }

    async fn release_later(self: Arc<Self>, guard: Arc<dyn ReplayGuard>, clock: Arc<dyn Clock>, nonce: Nonce) {
        let mut wait = FIRST_BACKOFF;
        loop {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_BACKOFF);
            let mut held = self.held.lock().await;
            let Some(expires_at) = held.get(&nonce).copied() else {
                return; // taken back by a new attempt here
            };
            // An expired state cannot complete anywhere: its mark may simply lapse.
            let done = clock.now() >= expires_at || guard.release(nonce).await.is_ok();
            if done {
                held.remove(&nonce);
                self.count.store(held.len(), Ordering::Release);
                tracing::debug!("held link state released (or expired) after the replay guard came back");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::clock::ManualClock;
    use crate::error::{Error, Result};

    /// A guard whose `release` fails a set number of times, then works.
    #[derive(Debug, Default)]
    struct Flaky {
        failures_left: Mutex<usize>,
        released: Mutex<Vec<Nonce>>,
    }

    #[async_trait]
    impl ReplayGuard for Flaky {
        async fn consume(&self, _: Nonce, _: DateTime<Utc>) -> Result<bool> {
            Ok(true)
        }

        async fn release(&self, nonce: Nonce) -> Result<()> {
            let mut left = self.failures_left.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(Error::ReplayGuard { message: "down".into() });
            }
            self.released.lock().unwrap().push(nonce);
            Ok(())
        }
    }

    fn setup(failures: usize) -> (Arc<Unreleased>, Arc<Flaky>, Arc<ManualClock>) {
        let guard = Arc::new(Flaky { failures_left: Mutex::new(failures), ..Flaky::default() });
        (Arc::new(Unreleased::default()), guard, Arc::new(ManualClock::new(Utc::now())))
    }

    #[tokio::test(start_paused = true)]
    async fn the_release_is_retried_until_it_lands() {
        let (unreleased, guard, clock) = setup(3);
        let nonce = Nonce::random();
        let expiry = clock.now() + chrono::Duration::minutes(10);
        unreleased.hold(guard.clone(), clock.clone(), nonce, expiry).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(*guard.released.lock().unwrap(), vec![nonce]);
        assert!(!unreleased.take_back(nonce).await, "released: nothing left to take back");
        assert_eq!(unreleased.count.load(Ordering::Acquire), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_state_taken_back_is_never_released_behind_its_owner() {
        let (unreleased, guard, clock) = setup(usize::MAX);
        let nonce = Nonce::random();
        unreleased.hold(guard.clone(), clock.clone(), nonce, clock.now() + chrono::Duration::minutes(10)).await;
        assert!(unreleased.take_back(nonce).await);
        assert!(!unreleased.take_back(nonce).await, "taken once");
        *guard.failures_left.lock().unwrap() = 0;
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(guard.released.lock().unwrap().is_empty(), "the owner's mark must stay");
    }

    #[tokio::test(start_paused = true)]
    async fn an_expired_state_is_let_go_without_a_release() {
        let (unreleased, guard, clock) = setup(usize::MAX);
        let nonce = Nonce::random();
        unreleased.hold(guard.clone(), clock.clone(), nonce, clock.now() + chrono::Duration::seconds(1)).await;
        clock.advance(Duration::from_secs(2));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(unreleased.count.load(Ordering::Acquire), 0);
        assert!(guard.released.lock().unwrap().is_empty());
    }

    #[test]
    fn outside_a_runtime_the_state_is_still_held_for_a_new_attempt() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};
        // Polled by hand, as another executor would: nothing here may need Tokio's context.
        fn ready<F: Future>(future: F) -> F::Output {
            match std::pin::pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(output) => output,
                Poll::Pending => panic!("an uncontended lock is ready at once"),
            }
        }
        let (unreleased, guard, clock) = setup(usize::MAX);
        let nonce = Nonce::random();
        let expiry = clock.now() + chrono::Duration::minutes(10);
        ready(unreleased.hold(guard, clock, nonce, expiry));
        assert!(ready(unreleased.take_back(nonce)));
    }
}
