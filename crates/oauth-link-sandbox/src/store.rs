//! A bounded store for what the sandbox issues on every request (consent links, Junction
//! link tokens, Alloy authorization codes, Novu idempotency keys): O(1) lookup by id,
//! insertion order kept, and never more than `capacity` entries.
//!
//! When an insert finds the store full, the expired entries at the head of the queue are
//! dropped first, then the oldest live ones, until there is room. Each entry is dropped at
//! most once, so an insert costs amortised O(1); nothing ever scans the whole store. As long
//! as the sandbox clock only moves forward and a store's entries share one lifetime,
//! insertion order is expiry order, so every expired entry goes before any live one.
//!
//! A dropped entry is simply unknown: lookups answer `None`, exactly as for an id that was
//! never issued.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::ser::Error as _;
use serde::{Serialize, Serializer};
use serde_json::Value;

/// What a [`BoundedStore`] needs to know about its entries.
pub(crate) trait Entry {
    /// Name of the id field in the store's JSON (`GET /__sandbox/state`).
    const ID_FIELD: &'static str = "id";

    /// Whether the entry can no longer be used at `now` (past its lifetime, or used up):
    /// such entries are dropped before live ones when room is needed.
    fn expired(&self, now: DateTime<Utc>) -> bool;
}

/// Insertion-ordered entries keyed by id, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct BoundedStore<T> {
    /// Oldest first. `None` marks an entry replaced by a later insert under the same id.
    /// The id is shared with `index` (one allocation per entry).
    slots: VecDeque<(Arc<str>, Option<T>)>,
    /// Absolute position of `slots[0]`: the entry at position `p` is `slots[p - base]`, so
    /// positions stay valid while the head of the queue is dropped.
    base: u64,
    /// Position of the live entry of each id.
    index: HashMap<Arc<str>, u64>,
    capacity: usize,
}

impl<T: Entry> BoundedStore<T> {
    /// An empty store keeping at most `capacity` entries (at least 1).
    pub(crate) fn new(capacity: usize) -> Self {
        BoundedStore { slots: VecDeque::new(), base: 0, index: HashMap::new(), capacity: capacity.max(1) }
    }

    /// Stores `value` under `id` (replacing an entry with the same id), first making room
    /// if the store is full: expired entries at the head go first, then the oldest ones.
    pub(crate) fn insert(&mut self, id: &str, value: T, now: DateTime<Utc>) {
        if self.slots.len() >= self.capacity {
            while self.slots.front().is_some_and(|(_, v)| v.as_ref().is_none_or(|v| v.expired(now))) {
                self.pop_front();
            }
            while self.slots.len() >= self.capacity {
                self.pop_front();
            }
        }
        if self.slots.len() == self.slots.capacity() {
            // Double as usual, but never past `capacity` (the default growth would round
            // 10 000 up to 16 384 slots).
            let target = (self.slots.len() * 2).max(8).min(self.capacity);
            self.slots.reserve_exact(target.saturating_sub(self.slots.len()));
        }
        let id: Arc<str> = Arc::from(id);
        let pos = self.base + self.slots.len() as u64;
        if let Some(old) = self.index.insert(id.clone(), pos) {
            if let Some(slot) = self.slot_mut(old) {
                slot.1 = None;
            }
        }
        self.slots.push_back((id, Some(value)));
    }

    /// The entry stored under `id`, unless it was never stored or has been dropped.
    pub(crate) fn get(&self, id: &str) -> Option<&T> {
        let pos = *self.index.get(id)?;
        let i = usize::try_from(pos.checked_sub(self.base)?).ok()?;
        self.slots.get(i)?.1.as_ref()
    }

    /// Like [`BoundedStore::get`], to update the entry.
    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut T> {
        let pos = *self.index.get(id)?;
        self.slot_mut(pos)?.1.as_mut()
    }

    /// Number of entries held.
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    /// The entries with their ids, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.slots.iter().filter_map(|(id, v)| v.as_ref().map(|v| (&**id, v)))
    }

    fn slot_mut(&mut self, pos: u64) -> Option<&mut (Arc<str>, Option<T>)> {
        let i = usize::try_from(pos.checked_sub(self.base)?).ok()?;
        self.slots.get_mut(i)
    }

    fn pop_front(&mut self) {
        if let Some((id, v)) = self.slots.pop_front() {
            // A live slot is the one its id points to; a replaced one no longer is.
            if v.is_some() {
                self.index.remove(&id);
            }
            self.base += 1;
        }
    }
}

/// A JSON array of the entries, oldest first, each with its id under [`Entry::ID_FIELD`].
impl<T: Entry + Serialize> Serialize for BoundedStore<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut rows = Vec::with_capacity(self.len());
        for (id, v) in self.iter() {
            let mut row = serde_json::to_value(v).map_err(S::Error::custom)?;
            if let Value::Object(m) = &mut row {
                m.insert(T::ID_FIELD.into(), Value::String(id.into()));
            }
            rows.push(row);
        }
        rows.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize)]
    struct E {
        n: u32,
        expires_at: i64,
    }

    impl Entry for E {
        fn expired(&self, now: DateTime<Utc>) -> bool {
            now.timestamp() >= self.expires_at
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    fn ids(s: &BoundedStore<E>) -> Vec<String> {
        s.iter().map(|(id, _)| id.to_string()).collect()
    }

    #[test]
    fn evicts_oldest_first_and_forgets_evicted_ids() {
        let mut s = BoundedStore::new(3);
        for n in 0..5 {
            s.insert(&format!("k{n}"), E { n, expires_at: 1_000 }, at(0));
        }
        assert_eq!(ids(&s), ["k2", "k3", "k4"]);
        assert_eq!(s.get("k0"), None);
        assert_eq!(s.get("k1"), None);
        assert_eq!(s.get("k3").map(|e| e.n), Some(3));
        assert_eq!((s.len(), s.slots.len(), s.slots.capacity()), (3, 3, 3));
    }

    #[test]
    fn expired_entries_go_before_live_ones() {
        let mut s = BoundedStore::new(4);
        s.insert("old-a", E { n: 0, expires_at: 10 }, at(0));
        s.insert("old-b", E { n: 1, expires_at: 10 }, at(0));
        s.insert("new-c", E { n: 2, expires_at: 100 }, at(20));
        s.insert("new-d", E { n: 3, expires_at: 100 }, at(20));
        // Under capacity, expired entries are kept (they still answer "expired").
        assert_eq!(s.len(), 4);
        // Full: both expired entries make room, the live ones all stay.
        s.insert("new-e", E { n: 4, expires_at: 100 }, at(20));
        assert_eq!(ids(&s), ["new-c", "new-d", "new-e"]);
        // Nothing expired: the oldest live entry goes.
        s.insert("new-f", E { n: 5, expires_at: 100 }, at(20));
        assert_eq!(ids(&s), ["new-c", "new-d", "new-e", "new-f"]);
        s.insert("new-g", E { n: 6, expires_at: 100 }, at(20));
        assert_eq!(ids(&s), ["new-d", "new-e", "new-f", "new-g"]);
    }

    #[test]
    fn lookups_stay_right_through_evictions_and_replacements() {
        // Property-style, over a deterministic pseudo-random sequence of 40 ids: the store
        // holds at most `cap` entries, each live id answers its latest value, every other id
        // answers `None`, and the live ids are exactly the most recently inserted ones.
        let cap = 7;
        let mut s = BoundedStore::new(cap);
        let mut last: HashMap<String, u32> = HashMap::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for n in 0..2_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = format!("t{}", x % 40);
            s.insert(&id, E { n, expires_at: i64::MAX }, at(0));
            last.insert(id.clone(), n);
            assert!(s.slots.len() <= cap && s.len() <= cap, "bounded at step {n}");
            let live = ids(&s);
            assert_eq!(live.last(), Some(&id));
            let order: Vec<u32> = live.iter().map(|k| last[k]).collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "oldest first at step {n}");
            for (k, v) in &last {
                let want = if live.contains(k) { Some(*v) } else { None };
                assert_eq!(s.get(k).map(|e| e.n), want, "{k} at step {n}");
                // Oldest first: anything inserted after a live id is live too.
                if live.contains(k) {
                    assert!(last.iter().filter(|(_, w)| *w > v).all(|(k2, _)| live.contains(k2)));
                }
            }
        }
    }

    #[test]
    fn get_mut_updates_in_place_and_json_carries_the_id() {
        let mut s = BoundedStore::new(2);
        s.insert("a", E { n: 1, expires_at: 5 }, at(0));
        if let Some(e) = s.get_mut("a") {
            e.n = 9;
        }
        assert_eq!(serde_json::to_value(&s).ok(), Some(serde_json::json!([{"id": "a", "n": 9, "expires_at": 5}])));
        assert!(s.get_mut("zz").is_none());
        assert_eq!(BoundedStore::<E>::new(0).capacity, 1);
    }
}
