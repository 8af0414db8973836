//! Mapping the app's user id to Junction's `user_id`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use oauth_link_core::{Error, Result};

use crate::client::JunctionClient;
use crate::config::UserMapping;
use crate::KIND;

/// A bounded in-memory `client_user_id -> user_id` map with first-in-first-out eviction.
#[derive(Debug)]
pub(crate) struct UserCache {
    capacity: usize,
    inner: Mutex<(HashMap<String, String>, VecDeque<String>)>,
}

impl UserCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { capacity, inner: Mutex::new((HashMap::new(), VecDeque::new())) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<String, String>, VecDeque<String>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, key: &str) -> Option<String> {
        self.lock().0.get(key).cloned()
    }

    pub(crate) fn insert(&self, key: &str, value: &str) {
        if self.capacity == 0 {
            return;
        }
        let mut guard = self.lock();
        let (map, order) = &mut *guard;
        if map.insert(key.to_owned(), value.to_owned()).is_none() {
            order.push_back(key.to_owned());
            while map.len() > self.capacity {
                match order.pop_front() {
                    Some(old) => {
                        map.remove(&old);
                    }
                    None => break,
                }
            }
        }
    }

    pub(crate) fn remove(&self, key: &str) {
        let mut guard = self.lock();
        let (map, order) = &mut *guard;
        if map.remove(key).is_some() {
            order.retain(|k| k != key);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().0.len()
    }
}

/// Resolves [`LinkRequest::user`](oauth_link_core::LinkRequest::user) to a Junction
/// `user_id` according to [`UserMapping`].
#[derive(Debug)]
pub(crate) struct UserDirectory {
    mode: UserMapping,
    cache: UserCache,
}

impl UserDirectory {
    pub(crate) fn new(mode: UserMapping, capacity: usize) -> Self {
        Self { mode, cache: UserCache::new(capacity) }
    }

    pub(crate) fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Checks `user` for the mapping before anything is sent (a Junction `user_id` must be
    /// a UUID).
    pub(crate) fn validate(&self, user: &str) -> Result<()> {
        if self.mode == UserMapping::JunctionUserId && !is_uuid(user) {
            return Err(Error::invalid_input(
                KIND,
                "user",
                "must be a Junction user_id (a UUID) because user_mapping = junction_user_id; \
                 set user_mapping = client_user_id to pass the app's own ids",
            ));
        }
        Ok(())
    }

    /// The Junction `user_id` of `user`; with `create`, registers the user when Junction
    /// has none (else `None`).
    pub(crate) async fn resolve(&self, client: &JunctionClient, user: &str, create: bool) -> Result<Option<String>> {
        if self.mode == UserMapping::JunctionUserId {
            return Ok(Some(user.to_owned()));
        }
        if let Some(id) = self.cache.get(user) {
            return Ok(Some(id));
        }
        let found = match client.resolve_user(user).await? {
            Some(id) => Some(id),
            None if create => Some(client.create_user(user).await?),
            None => None,
        };
        if let Some(id) = &found {
            self.cache.insert(user, id);
        }
        Ok(found)
    }

    /// Drops a cached mapping (e.g. after Junction answered 404 for its user).
    pub(crate) fn forget(&self, user: &str) {
        self.cache.remove(user);
    }
}

/// True for `8-4-4-4-12` hexadecimal UUID text.
pub(crate) fn is_uuid(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_is_bounded_fifo() {
        let cache = UserCache::new(2);
        cache.insert("a", "1");
        cache.insert("b", "2");
        cache.insert("a", "1");
        cache.insert("c", "3");
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.get("c").as_deref(), Some("3"));
        cache.remove("c");
        assert_eq!(cache.len(), 1);
        let off = UserCache::new(0);
        off.insert("a", "1");
        assert_eq!(off.len(), 0);
    }

    #[test]
    fn uuids() {
        assert!(is_uuid("1b2c3d4e-0000-4000-8000-00000000abcd"));
        assert!(!is_uuid("1b2c3d4e-0000-4000-8000-00000000abc"));
        assert!(!is_uuid("1b2c3d4e00000-4000-8000-00000000abcd"));
        assert!(!is_uuid("user-42"));
        let dir = UserDirectory::new(UserMapping::JunctionUserId, 1);
        assert!(dir.validate("user-42").is_err());
        UserDirectory::new(UserMapping::ClientUserId, 1).validate("user-42").unwrap();
    }
}
