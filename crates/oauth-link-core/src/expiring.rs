//! [`ExpiringMap`]: a bounded map whose entries expire, for what an adapter keeps between
//! calls (a hint per outstanding link, a platform answer worth reusing for a while).

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use chrono::{DateTime, Utc};

/// A map holding at most `capacity` entries, each with an expiry time, O(1) per operation.
///
/// Made for entries that share one lifetime, so insertion order is expiry order: an insert
/// first drops the expired entries at the head of the queue and, when the map is full, the
/// oldest live one. [`ExpiringMap::get`] never answers an expired entry. An entry removed
/// or replaced leaves a stale place in the queue, skipped when it reaches the head and
/// compacted away once the queue is twice `capacity`, so the queue stays bounded too.
#[derive(Debug)]
pub struct ExpiringMap<K, V> {
    entries: HashMap<K, Slot<V>>,
    /// Insertion order, oldest first: a place is live while its entry has its `seq`.
    order: VecDeque<(K, u64)>,
    /// The `seq` of the next insert.
    next_seq: u64,
    capacity: usize,
}

#[derive(Debug)]
struct Slot<V> {
    value: V,
    expires_at: DateTime<Utc>,
    seq: u64,
}

impl<K: Hash + Eq + Clone, V> ExpiringMap<K, V> {
    /// An empty map keeping at most `capacity` entries (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self { entries: HashMap::new(), order: VecDeque::new(), next_seq: 0, capacity: capacity.max(1) }
    }

    /// Keeps `value` under `key` until `expires_at` (replacing any entry under `key`), first
    /// dropping expired entries at the head and, when full, the oldest one.
    pub fn insert(&mut self, key: K, value: V, expires_at: DateTime<Utc>, now: DateTime<Utc>) {
        // A replacement needs no room of its own.
        let grows = usize::from(!self.entries.contains_key(&key));
        while let Some((front, seq)) = self.order.front() {
            let drop = match self.entries.get(front) {
                Some(slot) if slot.seq == *seq => slot.expires_at <= now || self.entries.len() + grows > self.capacity,
                _ => true,
            };
            if !drop {
                break;
            }
            if let Some((front, seq)) = self.order.pop_front() {
                if self.entries.get(&front).is_some_and(|slot| slot.seq == seq) {
                    self.entries.remove(&front);
                }
            }
        }
        if self.order.len() >= 2 * self.capacity {
            let entries = &self.entries;
            self.order.retain(|(k, seq)| entries.get(k).is_some_and(|slot| slot.seq == *seq));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        // A replaced entry's place goes stale: the new value takes a place at the back.
        self.entries.insert(key.clone(), Slot { value, expires_at, seq });
        self.order.push_back((key, seq));
    }

    /// The value under `key`, unless it has expired at `now` or was dropped.
    pub fn get<Q>(&self, key: &Q, now: DateTime<Utc>) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.get(key).filter(|slot| slot.expires_at > now).map(|slot| &slot.value)
    }

    /// Removes and returns the value under `key`, expired or not.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.remove(key).map(|slot| slot.value)
    }

    /// Entries held, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    #[test]
    fn full_map_drops_the_oldest_and_keeps_the_newest() {
        let cap = 64;
        let mut map = ExpiringMap::new(cap);
        let count = 2 * cap as u32 + 10;
        for n in 0..count {
            map.insert(n, format!("v{n}"), at(600), at(0));
            assert!(map.len() <= cap);
        }
        let first_kept = count - cap as u32;
        assert_eq!(map.get(&(count - 1), at(0)).map(String::as_str), Some(&*format!("v{}", count - 1)));
        assert_eq!(map.get(&first_kept, at(0)).map(String::as_str), Some(&*format!("v{first_kept}")));
        assert_eq!(map.get(&(first_kept - 1), at(0)), None);
        assert!(map.order.len() <= 2 * cap);
    }

    #[test]
    fn replacing_in_a_full_map_keeps_every_other_entry() {
        let mut map = ExpiringMap::new(3);
        for n in 0..3u32 {
            map.insert(n, n, at(600), at(0));
        }
        map.insert(1, 10, at(600), at(1));
        map.insert(0, 20, at(600), at(2));
        let held: Vec<Option<&u32>> = (0..3).map(|n| map.get(&n, at(3))).collect();
        assert_eq!(held, [Some(&20), Some(&10), Some(&2)]);
        // The next new key makes room by dropping the oldest: 2, now that 0 and 1 were renewed.
        map.insert(3, 3, at(600), at(4));
        assert_eq!((map.get(&2, at(4)), map.get(&3, at(4)), map.len()), (None, Some(&3), 3));
    }

    #[test]
    fn expired_entries_are_never_answered_and_go_first() {
        let mut map = ExpiringMap::new(8);
        map.insert("old", 1, at(10), at(0));
        assert_eq!(map.get("old", at(9)), Some(&1));
        assert_eq!(map.get("old", at(10)), None, "expired at its expiry time");
        map.insert("new", 2, at(100), at(20));
        assert_eq!((map.len(), map.order.len()), (1, 1), "the expired head went on insert");
        assert_eq!(map.get("new", at(20)), Some(&2));
    }

    #[test]
    fn removed_and_replaced_entries_leave_the_queue_bounded() {
        let cap = 16;
        let mut map = ExpiringMap::new(cap);
        map.insert(0u32, "kept", at(1000), at(0));
        for n in 1..(1 + 10 * cap as u32) {
            map.insert(n, "x", at(1000), at(1));
            assert_eq!(map.remove(&n), Some("x"));
            assert!(map.order.len() <= 2 * cap, "{}", map.order.len());
        }
        for _ in 0..(10 * cap) {
            map.insert(0u32, "replaced", at(1000), at(2));
            assert!(map.order.len() <= 2 * cap);
            map.insert(5u32, "again", at(1000), at(2));
            map.remove(&5);
            assert!(map.order.len() <= 2 * cap);
        }
        assert_eq!((map.get(&0, at(2)), map.len()), (Some(&"replaced"), 1));
        assert_eq!(map.remove(&7), None);
        assert!(!map.is_empty());
    }

    #[test]
    fn lookups_stay_right_through_evictions_and_removals() {
        // Deterministic pseudo-random inserts and removals over 40 keys: never more than
        // `cap` entries, and every key answers its latest value or nothing.
        let cap = 7;
        let mut map = ExpiringMap::new(cap);
        let mut latest: HashMap<u64, u32> = HashMap::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for n in 0..5_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = x % 40;
            if x.is_multiple_of(5) {
                map.remove(&key);
                latest.remove(&key);
            } else {
                map.insert(key, n, at(10_000), at(0));
                latest.insert(key, n);
            }
            assert!(map.len() <= cap && map.order.len() <= 2 * cap);
            for k in 0..40 {
                if let Some(v) = map.get(&k, at(0)) {
                    assert_eq!(latest.get(&k), Some(v), "key {k}");
                }
            }
        }
    }
}
