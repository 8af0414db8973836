//! Who is signed in: the app says, from its own session or auth.

use async_trait::async_trait;
use axum::http::request::Parts;

/// Tells the router who the signed-in user is, from the app's own session or auth: the
/// app's id for them (a UUID, an email address, a number), or `None` when nobody is
/// signed in (the router then answers 401 `unauthenticated`).
///
/// The router never reads the user from the query, a form field or its own cookies: a
/// link belongs to whoever this trait names when it starts, and only that user can
/// complete it.
///
/// Run any axum extractor of the app inside it, since it gets the request parts:
///
/// ```
/// use axum::http::request::Parts;
/// use oauth_link_axum::UserSource;
///
/// #[derive(Debug)]
/// struct SessionUser;
///
/// #[oauth_link_axum::async_trait]
/// impl UserSource for SessionUser {
///     async fn current_user(&self, parts: &mut Parts) -> Option<String> {
///         // e.g. `tower_sessions::Session::from_request_parts(parts, &()).await.ok()?.get("user_id").await.ok()?`
///         parts.extensions.get::<AuthenticatedUser>().map(|u| u.0.clone())
///     }
/// }
/// # #[derive(Clone)] struct AuthenticatedUser(String);
/// ```
///
/// A plain function over the request parts works too: [`user_fn`].
#[async_trait]
pub trait UserSource: Send + Sync + 'static {
    /// The signed-in user's id, or `None`.
    async fn current_user(&self, parts: &mut Parts) -> Option<String>;
}

/// A [`UserSource`] from a function of the request parts (see [`user_fn`]).
#[derive(Clone)]
pub struct UserFn<F>(F);

impl<F> std::fmt::Debug for UserFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserFn")
    }
}

/// A [`UserSource`] from a synchronous function, e.g. one reading the app's session
/// cookie: `user_fn(|parts| session_user(&parts.headers))`.
pub fn user_fn<F>(f: F) -> UserFn<F>
where
    F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
{
    UserFn(f)
}

#[async_trait]
impl<F> UserSource for UserFn<F>
where
    F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
{
    async fn current_user(&self, parts: &mut Parts) -> Option<String> {
        (self.0)(parts)
    }
}
