//! The handlers.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{NestedPath, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use cookie::Cookie;
use oauth_link_core::adapter::STATE_PARAM;
use oauth_link_core::{Callback, ConnectionQuery, Error, ErrorClass, LinkRequest, StateToken};
use serde_json::json;

use crate::builder::{Entry, Shared};
use crate::pending::{CookiePolicy, Pending, PendingLink, COOKIE_PREFIX};
use crate::problem::Problem;

/// Largest connect form accepted, in bytes.
const MAX_FORM: usize = 64 * 1024;

pub(crate) fn router<S>(shared: Shared) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Router::new()
        .route("/{provider}/connect/{target}", get(connect).post(connect))
        .route("/{provider}/callback", get(callback))
        .route("/{provider}/connections", get(connections))
        .route("/{provider}/connections/{id}", delete(disconnect))
        .route("/{provider}/connections/{id}/disconnect", post(disconnect))
        .route("/{provider}/targets", get(targets))
        .route("/{provider}/webhooks", post(crate::webhook::webhook))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(shared)
}

// ------------------------------------------------------------------ responses

/// A response being put together: what to answer plus the cookies to set.
pub(crate) struct Reply {
    cookies: Vec<Cookie<'static>>,
}

impl Reply {
    pub(crate) fn new() -> Self {
        Self { cookies: Vec::new() }
    }

    pub(crate) fn finish(self, mut response: Response) -> Response {
        let headers = response.headers_mut();
        for cookie in self.cookies {
            // Names and base64url values need no percent-encoding.
            if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
                headers.append(header::SET_COOKIE, v);
            }
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        response
    }
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::SEE_OTHER;
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => Problem::new(
            "platform-error",
            ErrorClass::Transient,
            "the platform returned a link that is not a valid URL",
        )
        .into_response(),
    }
}

/// True when the client asked for JSON (an API call rather than a browser navigation).
fn wants_json(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("json"))
}

impl Shared {
    /// A failed browser step: to the failure URL when configured and the client is a
    /// browser, else problem+json.
    fn fail(&self, headers: &HeaderMap, problem: Problem, reply: Reply) -> Response {
        tracing::debug!(code = problem.code, provider = problem.provider, "oauth-link-axum refused a request");
        match &self.0.failure {
            Some(url) if !wants_json(headers) => {
                let mut pairs = Vec::new();
                if let Some(p) = problem.provider {
                    pairs.push(("provider", p));
                }
                pairs.push(("error", problem.class));
                pairs.push(("code", problem.code));
                reply.finish(see_other(&url.with_query(&pairs)))
            }
            _ => reply.finish(problem.into_response()),
        }
    }

    pub(crate) fn entry(&self, kind: &str) -> Result<&Entry, Problem> {
        self.0.providers.get(kind).ok_or_else(|| {
            let offered: Vec<&str> = self.0.providers.keys().copied().collect();
            Problem::new(
                "unknown-provider",
                ErrorClass::Caller,
                format!("this router serves no provider `{}`; it serves: {}", short(kind), offered.join(", ")),
            )
        })
    }

    /// The cookies' path: the configured mount path, else the prefix axum nested us under.
    fn cookie_path(&self, parts: &Parts) -> String {
        let path = match &self.0.mount_path {
            Some(p) => p.clone(),
            None => parts.extensions.get::<NestedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default(),
        };
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        }
    }

    async fn user(&self, parts: &mut Parts) -> Result<String, Problem> {
        match self.0.users.current_user(parts).await {
            Some(user) if !user.is_empty() => Ok(user),
            _ => Err(Problem::new("unauthenticated", ErrorClass::Caller, "sign in first: no user is signed in")),
        }
    }

    /// The link cookies `headers` carry, opened with the cookie key.
    fn pending(&self, headers: &HeaderMap) -> Pending {
        Pending::read(headers, &self.0.key)
    }

    fn policy(&self) -> &CookiePolicy {
        &self.0.cookies
    }
}

/// At most 64 characters of a value from the request, for messages.
fn short(text: &str) -> String {
    let mut out: String = text.chars().take(64).filter(|c| !c.is_control()).collect();
    if text.chars().count() > 64 {
        out.push('…');
    }
    out
}

pub(crate) fn path_problem(rejection: PathRejection) -> Problem {
    Problem::new("invalid-input", ErrorClass::Caller, format!("unreadable path: {}", rejection.body_text()))
}

/// True for a POST or DELETE another site made the browser send.
///
/// `Sec-Fetch-Site` decides when the browser sends it (every current one does): only
/// `cross-site` is refused. Without it, an `Origin` must match the `Host` or the public URL
/// (`Origin: null`, sent e.g. under `Referrer-Policy: no-referrer`, is then refused).
fn cross_site(parts: &Parts, shared: &Shared) -> bool {
    if matches!(parts.method, Method::GET | Method::HEAD) {
        return false;
    }
    let headers = &parts.headers;
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"cross-site";
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    let Some(origin) = origin.to_str().ok().and_then(|o| url::Url::parse(o).ok()) else {
        return true;
    };
    let origin_authority = match origin.port() {
        Some(port) => format!("{}:{port}", origin.host_str().unwrap_or("")),
        None => origin.host_str().unwrap_or("").to_owned(),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()));
    if host.is_some_and(|h| h.eq_ignore_ascii_case(&origin_authority)) {
        return false;
    }
    // Behind a proxy the Host may be internal: the configured public origin counts too.
    !shared.0.public_url.as_ref().is_some_and(|p| p.origin() == origin.origin())
}

// ------------------------------------------------------------------ connect

/// What a connect request may carry besides the target: scopes, extra parameters, and the
/// connection to re-authorise (`reconnect=<connection id>`; the provider checks it is the
/// signed-in user's and is to the path's target).
#[derive(Debug, Default)]
struct ConnectInput {
    scopes: Vec<String>,
    params: BTreeMap<String, String>,
    reconnect: Option<String>,
}

fn connect_input(kind: &'static str, raw: &str) -> Result<ConnectInput, Error> {
    let mut scopes = Vec::new();
    let mut params = BTreeMap::new();
    let mut reconnect = None;
    let mut add = |key: &str, value: &str| {
        if params.insert(key.to_owned(), value.to_owned()).is_some() {
            return Err(Error::invalid_input(kind, format!("params.{}", short(key)), "given twice"));
        }
        Ok(())
    };
    for (key, value) in url::form_urlencoded::parse(raw.as_bytes()) {
        match key.as_ref() {
            "scope" | "scopes" => {
                scopes.extend(value.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned));
            }
            "params" => {
                for line in value.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    match line.split_once('=') {
                        Some((k, v)) if !k.trim().is_empty() => add(k.trim(), v.trim())?,
                        _ => {
                            return Err(Error::invalid_input(
                                kind,
                                "params",
                                format!("`{}` is not key=value (one parameter per line)", short(line)),
                            ))
                        }
                    }
                }
            }
            "reconnect" => {
                if reconnect.replace(value.trim().to_owned()).is_some() {
                    return Err(Error::invalid_input(kind, "reconnect", "given twice"));
                }
            }
            "user" | "redirect_uri" | "redirect_url" => {
                return Err(Error::invalid_input(
                    kind,
                    key.as_ref(),
                    "is not taken from the request: the user is the signed-in one, the redirect is configured",
                ))
            }
            other => {
                if let Some(name) = other.strip_prefix("param.").filter(|n| !n.is_empty()) {
                    add(name, value.trim())?;
                }
            }
        }
    }
    Ok(ConnectInput { scopes, params, reconnect })
}

async fn connect(
    State(shared): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let reply = Reply::new();
    let (kind, target) = match path {
        Ok(Path(p)) => p,
        Err(e) => return shared.fail(&parts.headers, path_problem(e), reply),
    };
    let entry = match shared.entry(&kind) {
        Ok(e) => e,
        Err(p) => return shared.fail(&parts.headers, p, reply),
    };
    let provider = &entry.provider;
    let kind = provider.kind();
    if cross_site(&parts, &shared) {
        let p = Problem::new("cross-site-request", ErrorClass::Caller, "a link can only be started from this site")
            .with_provider(kind);
        return shared.fail(&parts.headers, p, reply);
    }
    let user = match shared.user(&mut parts).await {
        Ok(u) => u,
        Err(p) => return shared.fail(&parts.headers, p.with_provider(kind), reply),
    };
    let raw = if parts.method == Method::POST {
        match axum::body::to_bytes(body, MAX_FORM).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => {
                let e = Error::invalid_input(kind, "form", format!("the form is larger than {MAX_FORM} bytes"));
                return shared.fail(&parts.headers, Problem::from_error(&e), reply);
            }
        }
    } else {
        parts.uri.query().unwrap_or("").to_owned()
    };
    let mut request = LinkRequest::new(user, target);
    match connect_input(kind, &raw) {
        Ok(input) => {
            request.scopes = input.scopes;
            request.params = input.params;
            request.reconnect = input.reconnect;
        }
        Err(e) => return shared.fail(&parts.headers, Problem::from_error(&e), reply),
    }
    if let Some(uri) = &entry.redirect {
        request = request.with_redirect_uri(uri.clone());
    }
    if let Err(e) = request.validate(kind) {
        return shared.fail(&parts.headers, Problem::from_error(&e), reply);
    }
    let link = match provider.generate_link(&request).await {
        Ok(link) => link,
        Err(e) => return shared.fail(&parts.headers, Problem::from_error(&e), reply),
    };
    let now = chrono::Utc::now();
    let pending = PendingLink {
        p: kind.to_owned(),
        u: request.user,
        t: request.target,
        s: link.state.expose().to_owned(),
        i: now.timestamp_nanos_opt().unwrap_or(i64::MAX),
    };
    let path = shared.cookie_path(&parts);
    let mut reply = reply;
    // One cookie per link; the oldest go when the bound is reached, unreadable ones too.
    let held = shared.pending(&parts.headers);
    for name in &held.unreadable {
        reply.cookies.push(shared.policy().removal(name, &path));
    }
    let excess = (held.links.len() + 1).saturating_sub(shared.policy().max_links);
    for (name, _) in held.links.iter().take(excess) {
        reply.cookies.push(shared.policy().removal(name, &path));
    }
    let name = format!("{COOKIE_PREFIX}{:016x}", rand::random::<u64>());
    let value = pending.seal(&shared.0.key, &name);
    let max_age = (link.expires_at - now).num_seconds();
    reply.cookies.push(shared.policy().cookie(name, value, &path, max_age));
    if wants_json(&parts.headers) {
        let body = json!({ "provider": kind, "url": link.url.as_str(), "expires_at": link.expires_at });
        reply.finish(Json(body).into_response())
    } else {
        reply.finish(see_other(link.url.as_str()))
    }
}

// ------------------------------------------------------------------ callback

async fn callback(
    State(shared): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let mut reply = Reply::new();
    let kind = match path {
        Ok(Path(p)) => p,
        Err(e) => return shared.fail(&parts.headers, path_problem(e), reply),
    };
    let entry = match shared.entry(&kind) {
        Ok(e) => e,
        Err(p) => return shared.fail(&parts.headers, p, reply),
    };
    let provider = &entry.provider;
    let kind = provider.kind();
    let headers = parts.headers.clone();
    let fail = |problem: Problem, reply: Reply| shared.fail(&headers, problem.with_provider(kind), reply);
    let user = match shared.user(&mut parts).await {
        Ok(u) => u,
        Err(p) => return fail(p, reply),
    };
    let callback = match Callback::from_query(kind, parts.uri.query().unwrap_or("")) {
        Ok(cb) => cb,
        Err(e) => return fail(Problem::from_error(&e), reply),
    };
    let path = shared.cookie_path(&parts);
    let held = shared.pending(&headers);
    for name in &held.unreadable {
        reply.cookies.push(shared.policy().removal(name, &path));
    }
    let mut mine = held.links.iter().filter(|(_, l)| l.p == kind);
    // App-redirect platforms bring the state back: it must be one this browser started.
    // Hosted ones bring nothing: the newest link in progress for this provider is the one.
    let found = match callback.param(STATE_PARAM) {
        Some(state) => mine.find(|(_, l)| l.has_state(state)),
        None => mine.next_back(),
    };
    let Some((name, pending)) = found else {
        let problem = match (callback.param(STATE_PARAM).is_some(), held.unreadable.is_empty()) {
            (_, false) => Problem::new(
                "state-invalid",
                ErrorClass::Caller,
                "the link cookie was altered or comes from another key; start a new link",
            ),
            (true, true) => Problem::new(
                "state-invalid",
                ErrorClass::Caller,
                "this browser started no link with the state on this callback; start a new link from this site",
            ),
            (false, true) => Problem::new(
                "state-missing",
                ErrorClass::Caller,
                "no link in progress in this browser for this provider: it was completed, it expired, or cookies are blocked; start a new link",
            ),
        };
        return fail(problem, reply);
    };
    // The link belongs to whoever started it: refuse before anything of theirs is used.
    if pending.u != user {
        let problem = Problem::new(
            "state-user-mismatch",
            ErrorClass::Caller,
            "this link was started by another user of this browser; sign in as that user to finish it, or start a new link",
        );
        return fail(problem, reply);
    }
    let callback = callback.with_state(StateToken::new(pending.s.clone()));
    match provider.complete_callback(&callback).await {
        Ok(connection) => {
            reply.cookies.push(shared.policy().removal(name, &path));
            match &shared.0.success {
                Some(url) if !wants_json(&headers) => {
                    let pairs = [
                        ("provider", kind),
                        ("connection", connection.id.as_str()),
                        ("target", connection.target.as_str()),
                    ];
                    reply.finish(see_other(&url.with_query(&pairs)))
                }
                _ => reply.finish(Json(connection).into_response()),
            }
        }
        Err(e) => {
            // A transient failure left the state usable: keep the cookie so the same
            // callback can be tried again.
            if !e.is_retryable() {
                reply.cookies.push(shared.policy().removal(name, &path));
            }
            fail(Problem::from_error(&e), reply)
        }
    }
}

// ------------------------------------------------------------------ JSON API

async fn connections(
    State(shared): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let result = async {
        let Path(kind) = path.map_err(path_problem)?;
        let provider = &shared.entry(&kind)?.provider;
        let kind = provider.kind();
        let user = shared.user(&mut parts).await.map_err(|p| p.with_provider(kind))?;
        let mut query = ConnectionQuery::user(user);
        for (k, v) in url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
            if k == "target" {
                query = query.with_target(v.into_owned());
            }
        }
        query.validate(kind).map_err(|e| Problem::from_error(&e))?;
        provider.list_connections(&query).await.map_err(|e| Problem::from_error(&e))
    }
    .await;
    match result {
        Ok(list) => Reply::new().finish(Json(list).into_response()),
        Err(p) => Reply::new().finish(p.into_response()),
    }
}

async fn disconnect(
    State(shared): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let form = parts.method == Method::POST;
    let result = async {
        let Path((kind, id)) = path.map_err(path_problem)?;
        let provider = &shared.entry(&kind)?.provider;
        let kind = provider.kind();
        if cross_site(&parts, &shared) {
            let p = Problem::new(
                "cross-site-request",
                ErrorClass::Caller,
                "a connection can only be removed from this site",
            );
            return Err(p.with_provider(kind));
        }
        let user = shared.user(&mut parts).await.map_err(|p| p.with_provider(kind))?;
        oauth_link_core::adapter::validate_id(kind, "connection", &id).map_err(|e| Problem::from_error(&e))?;
        // Only the signed-in user's own connections: never trust the id alone.
        let query = ConnectionQuery::user(user.clone());
        let owned = provider.list_connections(&query).await.map_err(|e| Problem::from_error(&e))?;
        if !owned.iter().any(|c| c.id == id) {
            let p = Problem::new(
                "not-found",
                ErrorClass::Rejected,
                format!("no connection `{}` for this user", short(&id)),
            );
            return Err(p.with_provider(kind));
        }
        provider.disconnect(&user, &id).await.map_err(|e| Problem::from_error(&e))?;
        Ok((kind, id))
    }
    .await;
    match (result, form) {
        (Ok((kind, id)), true) => match &shared.0.success {
            Some(url) if !wants_json(&parts.headers) => {
                Reply::new().finish(see_other(&url.with_query(&[("provider", kind), ("disconnected", &id)])))
            }
            _ => Reply::new().finish(StatusCode::NO_CONTENT.into_response()),
        },
        (Ok(_), false) => Reply::new().finish(StatusCode::NO_CONTENT.into_response()),
        (Err(p), true) => shared.fail(&parts.headers, p, Reply::new()),
        (Err(p), false) => Reply::new().finish(p.into_response()),
    }
}

async fn targets(State(shared): State<Shared>, path: Result<Path<String>, PathRejection>) -> Response {
    let result = async {
        let Path(kind) = path.map_err(path_problem)?;
        let provider = &shared.entry(&kind)?.provider;
        provider.list_targets().await.map_err(|e| Problem::from_error(&e))
    }
    .await;
    match result {
        Ok(list) => Reply::new().finish(Json(list).into_response()),
        Err(p) => Reply::new().finish(p.into_response()),
    }
}

async fn not_found() -> Response {
    Reply::new().finish(Problem::new("not-found", ErrorClass::Caller, "no such route").into_response())
}

async fn method_not_allowed() -> Response {
    Reply::new().finish(
        Problem::new("method-not-allowed", ErrorClass::Caller, "this route takes another method").into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_input_reads_scopes_and_params_and_refuses_the_user() {
        let input = connect_input("memory", "scope=a%20b&scopes=c,d&params=x%3D1%0Ay+%3D+2&param.z=3").unwrap();
        assert_eq!(input.scopes, ["a", "b", "c", "d"]);
        assert_eq!(
            input.params.into_iter().collect::<Vec<_>>(),
            [("x".into(), "1".into()), ("y".into(), "2".into()), ("z".into(), "3".into())]
        );
        assert_eq!(input.reconnect, None);
        let input = connect_input("memory", "reconnect=uid%2Foura").unwrap();
        assert_eq!(input.reconnect.as_deref(), Some("uid/oura"));
        for bad in [
            "user=eve",
            "redirect_uri=https://evil.example",
            "params=novalue",
            "param.a=1&param.a=2",
            "reconnect=a&reconnect=b",
        ] {
            assert!(matches!(connect_input("memory", bad), Err(Error::InvalidInput { .. })), "{bad}");
        }
    }
}
