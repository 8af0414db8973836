//! [`UserMap`]: the app's own user id to the platform's, found or created once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::Utc;

use crate::error::Result;
use crate::expiring::ExpiringMap;

/// What an adapter keeps to turn the app's user id into the platform's (an Alloy
/// `userId`, a Novu subscriber known to exist, a Junction `user_id`): bounded, each
/// mapping kept for a while, and resolved once however many calls ask at the same time.
///
/// [`UserMap::resolve`] answers a kept mapping at once; otherwise it runs the adapter's
/// lookup (find, and create where the call may) with no other lookup for the same id in
/// flight: concurrent first links for one user reach the platform once, the others wait and
/// take its answer. A lookup that fails or finds nothing is not kept.
#[derive(Debug)]
pub struct UserMap {
    kept: Mutex<ExpiringMap<String, String>>,
    ttl: Duration,
    /// One gate per id whose lookup is running; removed by its last holder.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Default number of mappings kept.
pub const DEFAULT_USER_CAPACITY: usize = 10_000;
/// Default time a mapping is kept.
pub const DEFAULT_USER_TTL: Duration = Duration::from_secs(24 * 3600);

impl Default for UserMap {
    fn default() -> Self {
        Self::new(DEFAULT_USER_CAPACITY, DEFAULT_USER_TTL)
    }
}

impl UserMap {
    /// Keeps at most `capacity` mappings (0 keeps none: every call looks up, still once
    /// per id at a time), each for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let capacity = if ttl.is_zero() { 0 } else { capacity };
        Self {
            kept: Mutex::new(ExpiringMap::new(capacity)),
            ttl: if capacity == 0 { Duration::ZERO } else { ttl },
            flights: Mutex::default(),
        }
    }

    fn kept(&self) -> MutexGuard<'_, ExpiringMap<String, String>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The kept platform id of `app_id`, if any.
    pub fn get(&self, app_id: &str) -> Option<String> {
        self.kept().get(app_id, Utc::now()).cloned()
    }

    /// Keeps `platform_id` for `app_id`.
    pub fn insert(&self, app_id: &str, platform_id: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let now = Utc::now();
        let expires = now + chrono::TimeDelta::from_std(self.ttl).unwrap_or(chrono::TimeDelta::MAX);
        self.kept().insert(app_id.to_owned(), platform_id.to_owned(), expires, now);
    }

    /// Drops the mapping of `app_id` (the platform said the user is gone).
    pub fn forget(&self, app_id: &str) {
        self.kept().remove(app_id);
    }

    /// How many mappings are kept.
    pub fn len(&self) -> usize {
        self.kept().len()
    }

    /// True when no mapping is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The platform id of `app_id`: the kept one, else what `lookup` finds (`Ok(None)`: the
    /// platform has no such user and `lookup` did not create one). Only one lookup per id
    /// runs at a time; a caller that waited for another's lookup takes its kept answer.
    pub async fn resolve<F, Fut>(&self, app_id: &str, lookup: F) -> Result<Option<String>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<String>>>,
    {
        if let Some(id) = self.get(app_id) {
            return Ok(Some(id));
        }
        let flight = Flight::join(self, app_id);
        let _turn = flight.gate.lock().await;
        if let Some(id) = self.get(app_id) {
            return Ok(Some(id));
        }
        let found = lookup().await?;
        if let Some(id) = &found {
            self.insert(app_id, id);
        }
        Ok(found)
    }

    fn flights(&self) -> MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<()>>>> {
        self.flights.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A caller's hold on the gate of one id; the last one out removes the gate (also when
/// its future is dropped mid-lookup).
struct Flight<'a> {
    map: &'a UserMap,
    app_id: &'a str,
    gate: Arc<tokio::sync::Mutex<()>>,
}

impl<'a> Flight<'a> {
    fn join(map: &'a UserMap, app_id: &'a str) -> Self {
        let gate = map.flights().entry(app_id.to_owned()).or_default().clone();
        Self { map, app_id, gate }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self.map.flights();
        // Clones are only taken under this lock: two holders (the map and this one) means
        // nobody else waits.
        if Arc::strong_count(&self.gate) == 2 {
            flights.remove(self.app_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::error::Error;

    #[tokio::test]
    async fn concurrent_first_lookups_reach_the_platform_once() {
        let map = Arc::new(UserMap::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let (map, calls) = (map.clone(), calls.clone());
                tokio::spawn(async move {
                    map.resolve("ada@example.com", || async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(Some("usr_1".to_owned()))
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().as_deref(), Some("usr_1"));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(map.flights().is_empty(), "gates are removed once nobody waits");
        assert_eq!(map.get("ada@example.com").as_deref(), Some("usr_1"));
    }

    #[tokio::test]
    async fn failures_and_misses_are_not_kept() {
        let map = UserMap::default();
        let err = map
            .resolve("u", || async { Err(Error::Pending { provider: "x", message: "m".into() }) })
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Pending { .. }));
        assert_eq!(map.resolve("u", || async { Ok(None) }).await.unwrap(), None);
        assert!(map.is_empty());
        assert_eq!(map.resolve("u", || async { Ok(Some("p".into())) }).await.unwrap().as_deref(), Some("p"));
        // Kept: the lookup is not run again.
        let again = map.resolve("u", || async { panic!("must not look up a kept id") }).await.unwrap();
        assert_eq!(again.as_deref(), Some("p"));
        map.forget("u");
        assert_eq!(map.get("u"), None);
    }

    #[tokio::test]
    async fn bounded_and_zero_keeps_none() {
        let map = UserMap::new(2, DEFAULT_USER_TTL);
        for id in ["a", "b", "c"] {
            map.resolve(id, || async move { Ok(Some(format!("p-{id}"))) }).await.unwrap();
        }
        assert_eq!(map.len(), 2);
        assert_eq!(map.get("a"), None);
        let off = UserMap::new(10, Duration::ZERO);
        off.resolve("a", || async { Ok(Some("p".into())) }).await.unwrap();
        assert!(off.is_empty());
    }

    #[tokio::test]
    async fn a_dropped_lookup_frees_its_gate() {
        let map = Arc::new(UserMap::default());
        let slow = {
            let map = map.clone();
            tokio::spawn(async move {
                map.resolve("u", || async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(Some("never".into()))
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        slow.abort();
        let _ = slow.await;
        assert!(map.flights().is_empty());
        let id = map.resolve("u", || async { Ok(Some("p".into())) }).await.unwrap();
        assert_eq!(id.as_deref(), Some("p"));
    }
}
