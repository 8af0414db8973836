//! The app's own user id to the Alloy `userId`: [`AlloyUsers`], shared by both Alloy kinds.

use std::sync::atomic::{AtomicBool, Ordering};

use http::Method;
use oauth_link_core::http::{ApiClient, Call, Idempotency};
use oauth_link_core::{
    adapter::{ConfigMap, UserMap},
    Error, Result, Url,
};
use serde::{Deserialize, Serialize};

use crate::send_json;

/// The config key choosing how `LinkRequest::user` is read.
pub const USER_ID_MODE_KEY: &str = "user_id_mode";

/// Most times `POST /users` is sent for one resolution (each after a `GET` showed the user
/// is still missing).
pub const MAX_CREATE_ATTEMPTS: u32 = 2;

/// What `LinkRequest::user` (and the user of `ConnectionQuery` and `disconnect`) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserIdMode {
    /// The app's own id (an email address, a UUID, a number): the adapter finds the Alloy
    /// user whose `username` it is (`GET /users/{username}`) and creates it on the first link
    /// (`POST /users`). The default.
    #[default]
    App,
    /// An Alloy `userId` the app already stores: passed through as it is.
    Platform,
}

impl UserIdMode {
    /// Reads `user_id_mode` (`app` or `platform`) from a config map.
    pub fn read(map: &mut ConfigMap) -> Result<Option<Self>> {
        Ok(map.choice(USER_ID_MODE_KEY, &["app", "platform"])?.map(|mode| match mode {
            "platform" => UserIdMode::Platform,
            _ => UserIdMode::App,
        }))
    }
}

/// The Alloy user one call acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlloyUser {
    /// The Alloy `userId` to send.
    pub id: String,
    /// True when this call created the user: it has no credentials yet, so nothing needs to
    /// be listed to tell its first credential from older ones.
    pub created: bool,
}

/// Maps the app's user ids to Alloy `userId`s through the core [`UserMap`] (bounded,
/// expiring, one lookup per id at a time), or passes them through in
/// [`UserIdMode::Platform`].
#[derive(Debug)]
pub struct AlloyUsers {
    provider: &'static str,
    mode: UserIdMode,
    map: UserMap,
}

/// `GET /users/{userId}` answer: `{userId, username?, fullName?}`, flat or under `data`.
#[derive(Deserialize)]
#[serde(untagged)]
enum FoundUser {
    Flat(UserRecord),
    Wrapped { data: UserRecord },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserRecord {
    user_id: String,
}

/// `POST /users` answer: `{userId}`, flat or under `data`.
#[derive(Deserialize)]
#[serde(untagged)]
enum CreatedUserBody {
    Flat {
        #[serde(rename = "userId")]
        user_id: String,
    },
    Wrapped {
        data: CreatedUserData,
    },
}

#[derive(Deserialize)]
struct CreatedUserData {
    #[serde(rename = "userId")]
    user_id: String,
}

#[derive(Serialize)]
struct CreateUserBody<'a> {
    username: &'a str,
}

impl AlloyUsers {
    /// Users of `provider`, read as `mode` says, kept in a default-sized [`UserMap`].
    pub fn new(provider: &'static str, mode: UserIdMode) -> Self {
        Self::with_map(provider, mode, UserMap::default())
    }

    /// The same with the given map (its capacity and lifetime).
    pub fn with_map(provider: &'static str, mode: UserIdMode, map: UserMap) -> Self {
        Self { provider, mode, map }
    }

    /// How user ids are read.
    pub fn mode(&self) -> UserIdMode {
        self.mode
    }

    /// How many app ids have their Alloy `userId` kept.
    pub fn kept(&self) -> usize {
        self.map.len()
    }

    /// The Alloy user for a link by `user`: found by username, else created (app mode);
    /// `user` itself in platform mode.
    pub async fn for_link(&self, api: &ApiClient, secrets: &[&str], user: &str) -> Result<AlloyUser> {
        if self.mode == UserIdMode::Platform {
            return Ok(AlloyUser { id: user.to_owned(), created: false });
        }
        let created = AtomicBool::new(false);
        let found = self.map.resolve(user, || self.find_or_create(api, secrets, user, &created)).await?;
        let id = found.ok_or_else(|| Error::Provider {
            provider: self.provider,
            status: 404,
            code: None,
            message: format!("Alloy shows no user `{user}` after creating it; try again"),
        })?;
        Ok(AlloyUser { id, created: created.load(Ordering::Relaxed) })
    }

    /// The Alloy `userId` of `user` when Alloy knows it (app mode: looked up, never
    /// created; platform mode: `user` itself).
    pub async fn existing(&self, api: &ApiClient, secrets: &[&str], user: &str) -> Result<Option<String>> {
        if self.mode == UserIdMode::Platform {
            return Ok(Some(user.to_owned()));
        }
        self.map.resolve(user, || find(api, secrets, user)).await
    }

    /// Removes `user`'s credential `connection_id` with `delete` (given the Alloy
    /// `userId`): validates both ids, answers `NotFound` for a user Alloy does not know (none
    /// is created), and forgets a kept `userId` Alloy answers 404 for.
    pub async fn disconnect<F, Fut>(
        &self,
        api: &ApiClient,
        secrets: &[&str],
        user: &str,
        connection_id: &str,
        delete: F,
    ) -> Result<()>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        oauth_link_core::adapter::validate_id(self.provider, "user", user)?;
        oauth_link_core::adapter::validate_id(self.provider, "connection_id", connection_id)?;
        let Some(alloy_user) = self.existing(api, secrets, user).await? else {
            return Err(Error::NotFound {
                provider: self.provider,
                message: format!("Alloy has no user `{user}`, so no connection `{connection_id}`"),
            });
        };
        let deleted = delete(alloy_user).await;
        self.forget_on_not_found(user, deleted)
    }

    /// Drops the kept `userId` of `user` (Alloy answered 404 for it: the user was deleted).
    pub fn forget(&self, user: &str) {
        self.map.forget(user);
    }

    /// `result`, after forgetting `user`'s kept `userId` when it is a 404.
    pub fn forget_on_not_found<T>(&self, user: &str, result: Result<T>) -> Result<T> {
        if matches!(result, Err(Error::NotFound { .. })) {
            self.forget(user);
        }
        result
    }

    async fn find_or_create(
        &self,
        api: &ApiClient,
        secrets: &[&str],
        username: &str,
        created: &AtomicBool,
    ) -> Result<Option<String>> {
        if let Some(id) = find(api, secrets, username).await? {
            return Ok(Some(id));
        }
        let mut attempt = 1;
        loop {
            let err = match create(api, secrets, username).await {
                Ok(id) => {
                    created.store(true, Ordering::Relaxed);
                    return Ok(Some(id));
                }
                Err(err) => err,
            };
            let landed = may_have_landed(&err);
            if !landed && !is_refusal(&err) {
                return Err(err);
            }
            // The create may have reached Alloy (its answer was lost or garbled), or Alloy
            // refused it because the user exists (another instance won the race): look again.
            if let Some(id) = find(api, secrets, username).await? {
                return Ok(Some(id));
            }
            // Still missing: the create did not land. A refusal is final; a lost create
            // is sent again (Alloy keeps usernames unique, so it cannot make a second user).
            if !landed || attempt >= MAX_CREATE_ATTEMPTS {
                return Err(err);
            }
            attempt += 1;
        }
    }
}

/// Failures after which `POST /users` may have created the user: a timeout or dropped
/// connection, a 5xx / 408 / 429, an unreadable 2xx body.
fn may_have_landed(err: &Error) -> bool {
    err.is_retryable() || matches!(err, Error::Decode { .. })
}

/// A 4xx refusal that may mean "this username exists" (Alloy's duplicate status is
/// undocumented: 409, or 400/422 with a message).
fn is_refusal(err: &Error) -> bool {
    match err {
        Error::Conflict { .. } | Error::InvalidInput { .. } => true,
        Error::Provider { status, .. } => (400..500).contains(status),
        _ => false,
    }
}

/// `GET /users/{username}` (the username percent-encoded as one path segment; Alloy takes
/// a username where the path names a `userId`, so an app id that is an Alloy `userId`
/// finds that user, and a username Alloy normalises is still found). `None` on 404.
async fn find(api: &ApiClient, secrets: &[&str], username: &str) -> Result<Option<String>> {
    let call = Call {
        operation: "find_user",
        path_template: "/users/{username}",
        request: api.request(Method::GET, user_url(api, username)),
        // A read.
        idempotency: Idempotency::Idempotent,
    };
    match send_json::<FoundUser>(api, call, "a user {userId, username}", secrets).await {
        Ok(FoundUser::Flat(user) | FoundUser::Wrapped { data: user }) => {
            Ok((!user.user_id.trim().is_empty()).then_some(user.user_id))
        }
        Err(Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// `POST /users {username}`.
async fn create(api: &ApiClient, secrets: &[&str], username: &str) -> Result<String> {
    let call = Call {
        operation: "create_user",
        path_template: "/users",
        request: api.json_request(Method::POST, api.url(&["users"]), &CreateUserBody { username }),
        // Not an upsert: a repeat could fail as a duplicate; an answer lost on the way is
        // settled by looking the user up again (find_or_create).
        idempotency: Idempotency::SendOnce,
    };
    let body: CreatedUserBody = send_json(api, call, "a created user {userId}", secrets).await?;
    let (CreatedUserBody::Flat { user_id } | CreatedUserBody::Wrapped { data: CreatedUserData { user_id } }) = body;
    if user_id.trim().is_empty() {
        return Err(Error::Decode {
            provider: api.provider(),
            message: "expected a created user {userId} with a non-empty userId".into(),
            body: String::new(),
        });
    }
    Ok(user_id)
}

/// `/users/{username}` with every byte outside `A-Z a-z 0-9 - . _ ~` percent-encoded
/// (`ada@example.com` -> `ada%40example.com`), so the username is one path segment.
pub fn user_url(api: &ApiClient, username: &str) -> Url {
    let mut url = api.url(&["users"]);
    let mut path = url.path().trim_end_matches('/').to_owned();
    path.push('/');
    path.push_str(&encode_segment(username));
    url.set_path(&path);
    url
}

/// Percent-encodes every byte but the URL-unreserved ones.
pub fn encode_segment(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").expect("writing to a String cannot fail");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_encode_everything_but_unreserved_bytes() {
        assert_eq!(encode_segment("ada@example.com"), "ada%40example.com");
        assert_eq!(encode_segment("a/b?c#d e+f%"), "a%2Fb%3Fc%23d%20e%2Bf%25");
        assert_eq!(encode_segment("é"), "%C3%A9");
        assert_eq!(encode_segment("550e8400-e29b_41d4.a~7"), "550e8400-e29b_41d4.a~7");
    }

    #[test]
    fn refusals_and_lost_answers_are_told_apart() {
        let conflict = Error::Conflict { provider: "x", message: "exists".into() };
        let bad = Error::Provider { provider: "x", status: 400, code: None, message: "taken".into() };
        let down = Error::Provider { provider: "x", status: 503, code: None, message: String::new() };
        let denied = Error::Unauthenticated { provider: "x", message: String::new() };
        assert!(is_refusal(&conflict) && is_refusal(&bad) && !is_refusal(&down));
        assert!(may_have_landed(&down) && !may_have_landed(&conflict));
        assert!(!may_have_landed(&denied) && !is_refusal(&denied));
    }
}
