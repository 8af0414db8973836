//! Single use of link state.
//!
//! [`ReplayGuard::consume`] atomically marks a state's nonce as used until the state
//! expires. The in-memory guard suits one app instance; several instances need a shared
//! guard (Redis), or a callback could complete once per instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::state::Nonce;

/// Records which link states were used.
///
/// Implementations must make `consume` atomic: of two concurrent calls with the same nonce
/// exactly one returns `true`. When the store is unreachable they return
/// [`Error::ReplayGuard`] (fail closed) rather than `true`.
#[async_trait]
pub trait ReplayGuard: std::fmt::Debug + Send + Sync {
    /// Marks `nonce` used until `expires_at`. Returns `false` when it was already used.
    async fn consume(&self, nonce: Nonce, expires_at: DateTime<Utc>) -> Result<bool>;

    /// Forgets `nonce`, so the same state can complete again. Called when completion failed
    /// for a transient reason (the platform has not confirmed yet, a network error), so the
    /// user's callback is not lost.
    async fn release(&self, nonce: Nonce) -> Result<()>;
}

/// Default cap on outstanding states held by [`MemoryReplayGuard`].
pub const DEFAULT_MEMORY_CAPACITY: usize = 1_000_000;

/// In-process replay guard with bounded memory.
///
/// Expired entries are swept when the map has doubled since the last sweep (amortised
/// O(1) per call); the map shrinks again after a sweep frees most of it. When `capacity`
/// unexpired states are outstanding, `consume` fails with [`Error::ReplayGuard`] instead
/// of growing. One entry costs about 40 bytes.
#[derive(Debug)]
pub struct MemoryReplayGuard {
    inner: Mutex<Inner>,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

#[derive(Debug)]
struct Inner {
    used: HashMap<u128, i64>,
    next_sweep: usize,
}

const MIN_SWEEP: usize = 1024;

impl Default for MemoryReplayGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryReplayGuard {
    /// A guard with [`DEFAULT_MEMORY_CAPACITY`] and the system clock.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_MEMORY_CAPACITY)
    }

    /// A guard holding at most `capacity` outstanding states.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner { used: HashMap::new(), next_sweep: MIN_SWEEP }),
            capacity: capacity.max(1),
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets the time source (must match the state codec's in tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Outstanding (not yet swept) entries.
    pub fn len(&self) -> usize {
        self.lock().used.len()
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Approximate heap bytes held by the map.
    pub fn heap_bytes(&self) -> usize {
        let inner = self.lock();
        // hashbrown: one control byte plus one (u128, i64) slot per bucket.
        inner.used.capacity() * (std::mem::size_of::<(u128, i64)>() + 1)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn consume_now(&self, nonce: Nonce, expires_at: DateTime<Utc>) -> Result<bool> {
        let now = self.clock.now().timestamp_millis();
        let mut inner = self.lock();
        if inner.used.len() >= inner.next_sweep || inner.used.len() >= self.capacity {
            inner.used.retain(|_, expiry| *expiry > now);
            let len = inner.used.len();
            if inner.used.capacity() > 4 * len.max(MIN_SWEEP) {
                inner.used.shrink_to(2 * len);
            }
            inner.next_sweep = (2 * len).max(MIN_SWEEP);
        }
        let key = nonce.as_u128();
        if let Some(expiry) = inner.used.get(&key) {
            if *expiry > now {
                return Ok(false);
            }
        } else if inner.used.len() >= self.capacity {
            return Err(Error::ReplayGuard {
                message: format!(
                    "{} link states are outstanding, the in-memory guard's limit; raise the capacity or use a shared guard (Redis)",
                    self.capacity
                ),
            });
        }
        inner.used.insert(key, expires_at.timestamp_millis());
        Ok(true)
    }
}

#[async_trait]
impl ReplayGuard for MemoryReplayGuard {
    async fn consume(&self, nonce: Nonce, expires_at: DateTime<Utc>) -> Result<bool> {
        self.consume_now(nonce, expires_at)
    }

    async fn release(&self, nonce: Nonce) -> Result<()> {
        self.lock().used.remove(&nonce.as_u128());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::clock::ManualClock;

    fn guard(capacity: usize) -> (MemoryReplayGuard, ManualClock) {
        let clock = ManualClock::starting_now();
        (MemoryReplayGuard::with_capacity(capacity).with_clock(Arc::new(clock.clone())), clock)
    }

    #[tokio::test]
    async fn second_consume_fails_and_release_allows_again() {
        let (guard, clock) = guard(10);
        let nonce = Nonce::random();
        let exp = clock.now() + chrono::Duration::minutes(10);
        assert!(guard.consume(nonce, exp).await.unwrap());
        assert!(!guard.consume(nonce, exp).await.unwrap());
        guard.release(nonce).await.unwrap();
        assert!(guard.consume(nonce, exp).await.unwrap());
    }

    #[tokio::test]
    async fn concurrent_consumers_exactly_one_wins() {
        let guard = Arc::new(MemoryReplayGuard::new());
        let nonce = Nonce::random();
        let exp = Utc::now() + chrono::Duration::minutes(10);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let guard = guard.clone();
                tokio::spawn(async move { guard.consume(nonce, exp).await.unwrap() })
            })
            .collect();
        let mut wins = 0;
        for task in tasks {
            wins += usize::from(task.await.unwrap());
        }
        assert_eq!(wins, 1);
    }

    #[tokio::test]
    async fn capacity_is_a_hard_cap_with_a_clear_error() {
        let (guard, clock) = guard(3);
        let exp = clock.now() + chrono::Duration::minutes(10);
        for _ in 0..3 {
            assert!(guard.consume(Nonce::random(), exp).await.unwrap());
        }
        let err = guard.consume(Nonce::random(), exp).await.unwrap_err();
        assert!(matches!(err, Error::ReplayGuard { .. }));
        assert!(err.to_string().contains("Redis"), "{err}");
        // Once the states expire, room is made again.
        clock.advance(Duration::from_secs(601));
        assert!(guard.consume(Nonce::random(), clock.now() + chrono::Duration::minutes(10)).await.unwrap());
        assert_eq!(guard.len(), 1);
    }

    #[tokio::test]
    async fn memory_stays_flat_once_states_expire() {
        let (guard, clock) = guard(DEFAULT_MEMORY_CAPACITY);
        for round in 0..5 {
            let exp = clock.now() + chrono::Duration::seconds(60);
            for _ in 0..20_000 {
                guard.consume(Nonce::random(), exp).await.unwrap();
            }
            clock.advance(Duration::from_secs(61));
            assert!(guard.len() <= 40_000, "round {round}: {}", guard.len());
        }
        let per_entry = guard.heap_bytes() / 20_000;
        assert!(per_entry <= 200, "{per_entry} bytes per outstanding state");
    }
}
