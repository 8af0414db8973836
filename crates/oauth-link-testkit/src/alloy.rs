//! What the two Alloy adapters' tests share: the API version, the pinned user calls both
//! APIs make (`GET /users/{username}`, `POST /users`), and an in-memory Alloy account for
//! their conformance drivers (users, credentials, deletes, an injected failure).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use httpmock::prelude::*;
use httpmock::{HttpMockResponse, Mock};
use serde_json::{json, Value};

use crate::mock::{json_response, segments};

/// The `x-api-version` both adapters send.
pub const VERSION: &str = "2025-09";

/// The `userId` Alloy gives the user of the pinned user calls.
pub const USER_ID: &str = "usr-1";

/// `GET /users/{username}` as the adapters send it (`@` escaped).
pub fn user_path(username: &str) -> String {
    format!("/users/{}", username.replace('@', "%40"))
}

/// `GET /users/{username}`, pinned (auth and version headers, no query), answering the
/// user ([`USER_ID`]) when `found`, else 404.
pub async fn mock_find_user<'a>(server: &'a MockServer, auth: &str, username: &str, found: bool) -> Mock<'a> {
    let path = user_path(username);
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(path)
                .header("authorization", auth)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            match found {
                true => then.status(200).json_body(json!({"userId": USER_ID, "username": username, "fullName": null})),
                false => then.status(404).json_body(json!({"message": "User not found"})),
            };
        })
        .await
}

/// `GET /users/{username}` answering 404 to the first `misses` lookups, then the user.
pub async fn mock_find_user_after<'a>(server: &'a MockServer, username: &str, misses: usize) -> Mock<'a> {
    let path = user_path(username);
    server
        .mock_async(|when, then| {
            when.method(GET).path(path).header("x-api-version", VERSION);
            then.respond_with(crate::mock::sequence(
                misses,
                json_response(404, json!({"message": "User not found"})),
                json_response(200, json!({"userId": USER_ID, "username": username})),
            ));
        })
        .await
}

/// `POST /users {"username": username}`, pinned (auth, version and content type, exact
/// body), answering `status`: 200 the new user ([`USER_ID`]), 400 the duplicate-username
/// refusal, any other an error.
pub async fn mock_create_user<'a>(server: &'a MockServer, auth: &str, username: &str, status: u16) -> Mock<'a> {
    let body = serde_json::to_string(&json!({"username": username})).unwrap();
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/users")
                .header("authorization", auth)
                .header("x-api-version", VERSION)
                .header("content-type", "application/json")
                .body(body);
            match status {
                200 => then.status(200).json_body(json!({"userId": USER_ID})),
                400 => then.status(400).json_body(json!({"message": "A user with this username already exists"})),
                s => then.status(s).json_body(json!({"message": "unavailable"})),
            };
        })
        .await
}

/// `DELETE {path}` (a credential), pinned (auth and version headers, no query), answering
/// 200 with `answer` (`{"success": true}`, or a refusal in a 200).
pub async fn mock_delete<'a>(server: &'a MockServer, auth: &str, path: &str, answer: Value) -> Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(DELETE)
                .path(path)
                .header("authorization", auth)
                .header("x-api-version", VERSION)
                .query_param_count(".*", ".*", 0);
            then.status(200).json_body(answer);
        })
        .await
}

/// Every request without `x-api-version` (none may reach it).
pub async fn mock_unversioned(server: &MockServer) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.header_missing("x-api-version");
            then.status(400).json_body(json!({"message": "x-api-version is required"}));
        })
        .await
}

/// An Alloy account in memory: users by username (their `userId` is `usr-<n>`),
/// credentials by `(userId, connector)`, and a failure to answer next.
#[derive(Debug, Default)]
pub struct Account {
    users: Mutex<HashMap<String, String>>,
    credentials: Mutex<HashMap<(String, String), Vec<Value>>>,
    fail_next: Mutex<Option<u16>>,
    next_id: AtomicUsize,
}

impl Account {
    /// A new number (for ids).
    pub fn next(&self) -> usize {
        self.next_id.fetch_add(1, Ordering::SeqCst)
    }

    /// The `userId` of a username or a userId, as `GET /users/{userId}` reads its path.
    pub fn user_id(&self, name_or_id: &str) -> Option<String> {
        let users = self.users.lock().unwrap();
        users.get(name_or_id).cloned().or_else(|| users.values().find(|id| *id == name_or_id).cloned())
    }

    /// Makes the next call that asks [`Account::injected`] fail with `status`.
    pub fn fail_next(&self, status: u16) {
        *self.fail_next.lock().unwrap() = Some(status);
    }

    /// The injected failure, once.
    pub fn injected(&self) -> Option<HttpMockResponse> {
        let status = self.fail_next.lock().unwrap().take()?;
        Some(json_response(status, json!({"message": format!("injected HTTP {status}")})))
    }

    /// Adds a credential of `user_id` for `connector`.
    pub fn add_credential(&self, user_id: String, connector: String, credential: Value) {
        self.credentials.lock().unwrap().entry((user_id, connector)).or_default().push(credential);
    }

    /// The credentials of `user_id` for `connector`, or for every connector.
    pub fn credentials(&self, user_id: &str, connector: Option<&str>) -> Vec<Value> {
        let all = self.credentials.lock().unwrap();
        let mine = all.iter().filter(|((u, c), _)| u == user_id && connector.is_none_or(|wanted| wanted == c));
        mine.flat_map(|(_, list)| list.iter().cloned()).collect()
    }

    /// Mounts the calls both APIs share on `server` (each pinned to `auth`): the user
    /// lookup by username or userId, the user creation (400 for a username taken), and the
    /// credential delete (404 for an unknown credential).
    pub async fn mount(self: &Arc<Self>, server: &MockServer, auth: &str) {
        let account = self.clone();
        server
            .mock_async(move |when, then| {
                when.method(GET).path_matches(r"^/users/[^/]+$").header("authorization", auth);
                then.respond_with(move |req| {
                    let name = segments(req)[1].clone();
                    let users = account.users.lock().unwrap();
                    match users.iter().find(|(u, id)| **u == name || **id == name) {
                        Some((username, id)) => {
                            json_response(200, json!({"userId": id, "username": username, "fullName": null}))
                        }
                        None => json_response(404, json!({"message": "User not found"})),
                    }
                });
            })
            .await;
        let account = self.clone();
        server
            .mock_async(move |when, then| {
                when.method(POST).path("/users").header("authorization", auth);
                then.respond_with(move |req| {
                    let body: Value = serde_json::from_slice(&req.body_vec()).unwrap_or_default();
                    let username = body["username"].as_str().unwrap_or_default().to_owned();
                    if account.users.lock().unwrap().contains_key(&username) {
                        return json_response(400, json!({"message": "A user with this username already exists"}));
                    }
                    let id = format!("usr-{}", account.next());
                    account.users.lock().unwrap().insert(username, id.clone());
                    json_response(200, json!({"userId": id}))
                });
            })
            .await;
        let account = self.clone();
        server
            .mock_async(move |when, then| {
                when.method(DELETE).path_matches(r"^/users/[^/]+/credentials/[^/]+$").header("authorization", auth);
                then.respond_with(move |req| {
                    let s = segments(req);
                    let mut removed = false;
                    for ((user, _), list) in account.credentials.lock().unwrap().iter_mut() {
                        if *user == s[1] {
                            let before = list.len();
                            list.retain(|c| c["credentialId"] != s[3].as_str());
                            removed |= list.len() < before;
                        }
                    }
                    match removed {
                        true => json_response(200, json!({"success": true})),
                        false => json_response(404, json!({"message": "Credential not found"})),
                    }
                });
            })
            .await;
    }
}
