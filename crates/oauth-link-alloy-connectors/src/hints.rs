//! `credentialId` hints for outstanding links: bounded, and O(1) per link.
//!
//! Alloy returns a `credentialId` when a link is created, but the state is already on the
//! redirect URI by then, so it cannot carry it; the provider keeps it here until the link
//! completes or expires. Links share one lifetime, so insertion order is expiry order: the
//! oldest entries are the first to expire and, when the map is full, the first to go.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use oauth_link_core::Nonce;

/// Most hints kept at once.
pub(crate) const MAX_HINTS: usize = 4096;

/// One link's hint.
#[derive(Debug)]
struct Hint {
    credential_id: String,
    expires_at: DateTime<Utc>,
}

/// Hints by state nonce, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Hints {
    by_nonce: HashMap<Nonce, Hint>,
    /// Insertion order; an entry whose nonce is no longer in `by_nonce` (completed) is
    /// skipped when it reaches the front.
    order: VecDeque<Nonce>,
}

impl Hints {
    /// Keeps `credential_id` for the link with `nonce` until `expires_at`, first dropping
    /// expired hints and, when full, the oldest one.
    pub(crate) fn insert(
        &mut self,
        nonce: Nonce,
        credential_id: String,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) {
        while let Some(front) = self.order.front() {
            let drop = match self.by_nonce.get(front) {
                None => true,
                Some(hint) => hint.expires_at <= now || self.by_nonce.len() >= MAX_HINTS,
            };
            if !drop {
                break;
            }
            if let Some(front) = self.order.pop_front() {
                self.by_nonce.remove(&front);
            }
        }
        // Completed links leave their place in `order` behind: compact once they are half.
        if self.order.len() >= 2 * MAX_HINTS {
            let by_nonce = &self.by_nonce;
            self.order.retain(|n| by_nonce.contains_key(n));
        }
        if self.by_nonce.insert(nonce, Hint { credential_id, expires_at }).is_none() {
            self.order.push_back(nonce);
        }
    }

    /// The hint for `nonce`, if it is still kept.
    pub(crate) fn get(&self, nonce: &Nonce) -> Option<&str> {
        self.by_nonce.get(nonce).map(|h| h.credential_id.as_str())
    }

    /// Forgets the hint for `nonce` (its link completed).
    pub(crate) fn remove(&mut self, nonce: &Nonce) {
        self.by_nonce.remove(nonce);
    }

    /// How many hints are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_nonce.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce(n: u32) -> Nonce {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        Nonce(bytes)
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap_or_default()
    }

    #[test]
    fn full_map_drops_the_oldest_and_keeps_the_newest() {
        let mut hints = Hints::default();
        let count = 2 * MAX_HINTS as u32 + 10;
        for n in 0..count {
            hints.insert(nonce(n), format!("cred-{n}"), at(600), at(0));
            assert!(hints.len() <= MAX_HINTS);
        }
        assert_eq!(hints.get(&nonce(count - 1)), Some(&*format!("cred-{}", count - 1)));
        assert_eq!(hints.get(&nonce(count - MAX_HINTS as u32)), Some(&*format!("cred-{}", count - MAX_HINTS as u32)));
        assert_eq!(hints.get(&nonce(count - MAX_HINTS as u32 - 1)), None);
        assert!(hints.order.len() <= 2 * MAX_HINTS);
    }

    #[test]
    fn expired_hints_go_first_and_completed_ones_leave_no_trace() {
        let mut hints = Hints::default();
        hints.insert(nonce(1), "old".into(), at(10), at(0));
        hints.insert(nonce(2), "done".into(), at(100), at(5));
        hints.remove(&nonce(2));
        hints.insert(nonce(3), "new".into(), at(100), at(20));
        assert_eq!((hints.get(&nonce(1)), hints.get(&nonce(2)), hints.get(&nonce(3))), (None, None, Some("new")));
        assert_eq!((hints.len(), hints.order.len()), (1, 1));
        // Completing many links never lets the order queue grow without bound.
        for n in 10..(10 + 3 * MAX_HINTS as u32) {
            hints.insert(nonce(n), "x".into(), at(1000), at(30));
            hints.remove(&nonce(n));
        }
        assert!(hints.order.len() <= 2 * MAX_HINTS, "{}", hints.order.len());
        assert_eq!(hints.get(&nonce(3)), Some("new"));
    }
}
