//! Mapping the app's user id to Junction's `user_id`, through core's [`UserMap`].

use std::sync::atomic::{AtomicBool, Ordering};

use oauth_link_core::{
    adapter::{UserMap, DEFAULT_USER_TTL},
    Error, Result,
};

use crate::client::JunctionClient;
use crate::config::UserMapping;
use crate::KIND;

/// A resolved Junction user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JunctionUser {
    /// Junction's `user_id`.
    pub(crate) user_id: String,
    /// True when this very call registered the user (`POST /v2/user` answered 200): such
    /// a user has no providers yet, so nothing needs reading to know it.
    pub(crate) created: bool,
}

/// Resolves [`LinkRequest::user`](oauth_link_core::LinkRequest::user) to a Junction
/// `user_id` according to [`UserMapping`]: with `client_user_id`, found
/// (`GET /v2/user/resolve/{id}`) or created (`POST /v2/user`) once, however many calls ask
/// at the same time, and kept in a bounded expiring [`UserMap`].
#[derive(Debug)]
pub(crate) struct UserDirectory {
    mode: UserMapping,
    map: UserMap,
}

impl UserDirectory {
    /// Keeps at most `capacity` mappings (0 keeps none), each for [`DEFAULT_USER_TTL`].
    pub(crate) fn new(mode: UserMapping, capacity: usize) -> Self {
        Self { mode, map: UserMap::new(capacity, DEFAULT_USER_TTL) }
    }

    pub(crate) fn cached(&self) -> usize {
        self.map.len()
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

    /// The Junction user of `user`; with `create`, registers the user when Junction has
    /// none (else `None`). Only one lookup per `user` runs at a time: concurrent first
    /// links create the Junction user once.
    pub(crate) async fn resolve(
        &self,
        client: &JunctionClient,
        user: &str,
        create: bool,
    ) -> Result<Option<JunctionUser>> {
        if self.mode == UserMapping::JunctionUserId {
            return Ok(Some(JunctionUser { user_id: user.to_owned(), created: false }));
        }
        let created = AtomicBool::new(false);
        let found = self
            .map
            .resolve(user, || async {
                match client.resolve_user(user).await? {
                    Some(id) => Ok(Some(id)),
                    None if create => {
                        let (id, fresh) = client.create_user(user).await?;
                        created.store(fresh, Ordering::Relaxed);
                        Ok(Some(id))
                    }
                    None => Ok(None),
                }
            })
            .await?;
        Ok(found.map(|user_id| JunctionUser { user_id, created: created.load(Ordering::Relaxed) }))
    }

    /// Drops a kept mapping (e.g. after Junction answered 404 for its user).
    pub(crate) fn forget(&self, user: &str) {
        self.map.forget(user);
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
