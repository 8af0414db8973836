//! The app's own user id to the Alloy `userId`: [`AlloyUsers`], shared by both Alloy kinds.

use std::sync::atomic::{AtomicBool, Ordering};

use http::Method;
use oauth_link_core::http::{ApiClient, Call};
use oauth_link_core::{
    adapter::{validate_id, ConfigMap, StateClaims, UserMap},
    Error, Result,
};
use serde::{Deserialize, Serialize};

use crate::check_deleted;

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
    pub async fn for_link(&self, api: &ApiClient, user: &str) -> Result<AlloyUser> {
        if self.mode == UserIdMode::Platform {
            return Ok(AlloyUser { id: user.to_owned(), created: false });
        }
        let created = AtomicBool::new(false);
        let found = self.map.resolve(user, || self.find_or_create(api, user, &created)).await?;
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
    pub async fn existing(&self, api: &ApiClient, user: &str) -> Result<Option<String>> {
        if self.mode == UserIdMode::Platform {
            return Ok(Some(user.to_owned()));
        }
        self.map.resolve(user, || find(api, user)).await
    }

    /// The Alloy `userId` a link's state was issued for: the one it carries
    /// ([`ALLOY_USER_CLAIM`](crate::ALLOY_USER_CLAIM), app mode), else (platform mode, or a
    /// state from an older version) its user as [`AlloyUsers::existing`] finds it now.
    pub async fn of_state(&self, api: &ApiClient, claims: &StateClaims) -> Result<Option<String>> {
        if let Some(id) = claims.extra.get(crate::ALLOY_USER_CLAIM) {
            return Ok(Some(id.clone()));
        }
        self.existing(api, &claims.user).await
    }

    /// Removes `user`'s credential `connection_id`
    /// (`DELETE /users/{userId}/credentials/{credentialId}`, the same on both Alloy APIs):
    /// validates both ids, answers `NotFound` for a user Alloy does not know (none is
    /// created), reads a 2xx `{success: false}` as an error ([`check_deleted`]), and
    /// forgets a kept `userId` Alloy answers 404 for.
    pub async fn disconnect(&self, api: &ApiClient, user: &str, connection_id: &str) -> Result<()> {
        validate_id(self.provider, "user", user)?;
        validate_id(self.provider, "connection_id", connection_id)?;
        let Some(alloy_user) = self.existing(api, user).await? else {
            return Err(Error::NotFound {
                provider: self.provider,
                message: format!("Alloy has no user `{user}`, so no connection `{connection_id}`"),
            });
        };
        let template = "/users/{userId}/credentials/{credentialId}";
        // Deleting twice leaves the same state (the second answers 404): idempotent, the
        // DELETE default.
        let call = api.call(Method::DELETE, "disconnect", template, &[&alloy_user, connection_id]);
        let deleted = api.send(call).await.and_then(|reply| check_deleted(self.provider, &reply, connection_id));
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

    async fn find_or_create(&self, api: &ApiClient, username: &str, created: &AtomicBool) -> Result<Option<String>> {
        if let Some(id) = find(api, username).await? {
            return Ok(Some(id));
        }
        let mut attempt = 1;
        loop {
            let err = match create(api, username).await {
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
            if let Some(id) = find(api, username).await? {
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
    err.is_retryable()
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

/// `GET /users/{username}` (Alloy takes a username where the path names a `userId`, so an
/// app id that is an Alloy `userId` finds that user, and a username Alloy normalises is
/// still found). `None` on 404.
async fn find(api: &ApiClient, username: &str) -> Result<Option<String>> {
    // A read: idempotent, the GET default.
    let call = username_escaped(api.call(Method::GET, "find_user", "/users/{username}", &[username]), username);
    let reply = api.exchange(call).await?;
    match reply.status() {
        404 => Ok(None),
        _ if !reply.is_success() => Err(reply.error()),
        _ => {
            let (FoundUser::Flat(user) | FoundUser::Wrapped { data: user }) =
                reply.json("a user {userId, username}")?;
            Ok((!user.user_id.trim().is_empty()).then_some(user.user_id))
        }
    }
}

/// `POST /users {username}`.
async fn create(api: &ApiClient, username: &str) -> Result<String> {
    // Not an upsert: a repeat could fail as a duplicate, so it is sent once (the POST
    // default); an answer lost on the way is settled by looking the user up again
    // (find_or_create).
    let call = api.call(Method::POST, "create_user", "/users", &[]).json(&CreateUserBody { username });
    let body: CreatedUserBody = api.json(call, "a created user {userId}").await?;
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

/// `call` (to `/users/{username}`) with its last segment, the username, percent-encoded
/// byte for byte outside `A-Z a-z 0-9 - . _ ~` (`ada@example.com` -> `ada%40example.com`),
/// as the adapters have always sent it: the core client leaves `@`, `:` and the other
/// sub-delimiters as they are, which a server may read differently.
fn username_escaped(mut call: Call, username: &str) -> Call {
    if matches!(username, "." | "..") {
        // Kept as the core client escapes it: URL rules would read `%2E%2E` as `..`.
        return call;
    }
    let url = &mut call.request.url;
    let path = url.path().rsplit_once('/').map_or("", |(parent, _)| parent);
    let path = format!("{path}/{}", encode_segment(username));
    url.set_path(&path);
    call
}

/// Percent-encodes every byte but the URL-unreserved ones.
fn encode_segment(text: &str) -> String {
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
    fn usernames_are_one_escaped_segment_under_the_base_path() {
        let response = crate::tests::response(200, "{}");
        for (base, username, path) in [
            ("http://127.0.0.1:9/", "ada@example.com", "/users/ada%40example.com"),
            ("http://127.0.0.1:9/alloy/", "a/b?c#d", "/alloy/users/a%2Fb%3Fc%23d"),
            ("http://127.0.0.1:9/alloy", "..", "/alloy/users/%252E%252E"),
        ] {
            let api = crate::tests::client("x", base, response.clone());
            let call = username_escaped(api.call(Method::GET, "find_user", "/users/{username}", &[username]), username);
            assert_eq!(call.request().url.path(), path, "{base} {username}");
            assert_eq!(call.request().url.query(), None);
        }
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
