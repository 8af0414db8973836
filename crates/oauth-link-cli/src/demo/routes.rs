//! The demo's own pages: index (cards), the fake login, the connections table (the router's
//! success page) and the failure page. Links themselves are the router's business.

use super::*;

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use oauth_link::ConnectionQuery;

/// The demo's "session": a cookie holding the signed-in user's name.
pub(super) const USER_COOKIE: &str = "oauth_link_demo_user";

/// The demo's router (the connect router is nested beside it by [`serve`]).
pub(super) fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .route("/connections", get(connections))
        .route("/simulate-error", post(simulate_error))
        .route("/failed", get(failed))
        .fallback(not_found)
        .with_state(app)
}

type AppState = State<Arc<App>>;
type QueryMap = Query<HashMap<String, String>>;

/// A user name the demo accepts: 1 to 64 letters, digits, `@._-`.
fn valid_user(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "@._-".contains(c))
}

/// Who is signed in: the demo's cookie, else [`DEFAULT_USER`] (the demo always has a user).
pub(super) fn session_user(parts: &Parts) -> Option<String> {
    let name = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == USER_COOKIE)
        .map(|(_, v)| v)
        .filter(|v| valid_user(v));
    Some(name.unwrap_or(DEFAULT_USER).to_owned())
}

fn user_of(headers: &HeaderMap) -> String {
    let mut req = axum::http::Request::new(());
    *req.headers_mut() = headers.clone();
    session_user(&req.into_parts().0).unwrap_or_else(|| DEFAULT_USER.to_owned())
}

// ------------------------------------------------------------------ responses

fn html(status: StatusCode, body: String, cookie: Option<String>) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        h.append(header::SET_COOKIE, v);
    }
    r
}

fn error_page(status: StatusCode, view: pages::ErrorView<'_>) -> Response {
    html(status, pages::error(&view), None)
}

// ------------------------------------------------------------------ handlers

async fn index(State(app): AppState, headers: HeaderMap) -> Response {
    let user = user_of(&headers);
    let mut cards = app.cards.clone();
    for (card, entry) in cards.iter_mut().zip(&app.providers) {
        match entry.targets().await {
            Ok(targets) => {
                card.targets = targets.to_vec();
                card.closed_list = true;
            }
            Err(e) => card.notes.push(format!("The platform's target list could not be read ({e}).")),
        }
    }
    html(StatusCode::OK, pages::index(&pages::IndexView { mode: &app.mode_line, cards: &cards, user: &user }), None)
}

async fn login(body: axum::body::Bytes) -> Response {
    let name = url::form_urlencoded::parse(&body).find(|(k, _)| k == "user").map(|(_, v)| v.trim().to_owned());
    match name.filter(|n| valid_user(n)) {
        Some(name) => {
            let mut r = html(
                StatusCode::SEE_OTHER,
                String::new(),
                Some(format!("{USER_COOKIE}={name}; Path=/; HttpOnly; SameSite=Lax")),
            );
            r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/"));
            r
        }
        None => error_page(
            StatusCode::BAD_REQUEST,
            pages::ErrorView {
                kind: "invalid-input",
                title: "Invalid user name",
                message: "A user name is 1 to 64 letters, digits, @, dot, underscore or dash.",
                hint: "Go back and pick another name.",
                retry: None,
                status: 400,
            },
        ),
    }
}

/// The router's success page: the signed-in user's connections, with what just happened.
async fn connections(State(app): AppState, Query(q): QueryMap, headers: HeaderMap) -> Response {
    let Some(entry) = q.get("provider").and_then(|p| app.find(p)) else {
        return error_page(
            StatusCode::NOT_FOUND,
            pages::ErrorView {
                kind: "unknown-provider",
                title: "Unknown provider",
                message: "Pass ?provider= one of the providers offered on the start page.",
                hint: "Start from the demo's first page.",
                retry: None,
                status: 404,
            },
        );
    };
    let kind = entry.provider.kind();
    let user = user_of(&headers);
    let list = match entry.provider.list_connections(&ConnectionQuery::user(user.clone())).await {
        Ok(list) => list,
        Err(e) => {
            let message = e.to_string();
            let retry = format!("/connections?{}", pages::query(&[("provider", kind)]));
            return error_page(
                StatusCode::BAD_GATEWAY,
                pages::ErrorView {
                    kind: "platform",
                    title: "The platform returned an error",
                    message: &message,
                    hint: "Try again shortly, or check the platform's settings and keys.",
                    retry: e.is_retryable().then_some(retry.as_str()),
                    status: 502,
                },
            );
        }
    };
    // What the router (or the simulation) reports, shown only when the list agrees (the
    // query is not trusted).
    let listed = |id: &String| list.iter().find(|c| &c.id == id);
    let flash = match (q.get("connection"), q.get("disconnected"), q.get("broken"), q.get("no_health")) {
        (Some(id), ..) => listed(id).map(|c| format!("Connected {} (connection {}).", c.target, c.id)),
        (_, Some(id), ..) if listed(id).is_none() => Some(format!("Disconnected {id}.")),
        (_, _, Some(id), _) => listed(id)
            .filter(|c| !c.status.is_connected())
            .map(|c| format!("The sandbox put {} in error, as the platform would report it: {}.", c.id, c.status)),
        (.., Some(id)) => listed(id).map(|c| {
            format!(
                "{} reports no health for {}: its records carry no status, so nothing can break it here.",
                kind, c.id
            )
        }),
        _ => None,
    };
    let view = pages::ConnectionsView {
        provider: kind,
        user: &user,
        connections: &list,
        flash: flash.as_deref(),
        sandbox: app.sandbox.is_some(),
    };
    html(StatusCode::OK, pages::connections(&view), None)
}

/// Sandbox mode: `POST /simulate-error` `provider=&id=` asks the sandbox to put one of the
/// signed-in user's connections in error (as a revoked token would), then back to the list,
/// where it shows as needing re-authorisation with a Reconnect button.
async fn simulate_error(State(app): AppState, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let refuse = |status: StatusCode, message: &str| {
        error_page(
            status,
            pages::ErrorView {
                kind: "invalid-input",
                title: "Nothing was simulated",
                message,
                hint: "Start from the demo's first page.",
                retry: None,
                status: status.as_u16(),
            },
        )
    };
    if headers.get("sec-fetch-site").is_some_and(|v| v.as_bytes() == b"cross-site") {
        return refuse(StatusCode::FORBIDDEN, "Only this site can ask the sandbox to break a connection.");
    }
    let (Some(sandbox), Some(entry), Some(id)) =
        (&app.sandbox, form.get("provider").and_then(|p| app.find(p)), form.get("id"))
    else {
        return refuse(StatusCode::BAD_REQUEST, "Sandbox mode only, with a provider and a connection id.");
    };
    let kind = entry.provider.kind();
    // Only the signed-in user's own connections.
    let mine = match entry.provider.list_connections(&ConnectionQuery::user(user_of(&headers))).await {
        Ok(list) => list.iter().any(|c| &c.id == id),
        Err(_) => false,
    };
    if !mine {
        return refuse(StatusCode::NOT_FOUND, "No such connection of the signed-in user.");
    }
    let outcome = match sandbox.put_connection_in_error(id, None, None) {
        Ok(_) => "broken",
        Err(_) => "no_health",
    };
    let location = format!("/connections?{}", pages::query(&[("provider", kind), (outcome, id)]));
    let mut r = html(StatusCode::SEE_OTHER, String::new(), None);
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// The router's failure page: `?provider=&error=<class>&code=<code>`.
async fn failed(Query(q): QueryMap) -> Response {
    let code = q.get("code").map(String::as_str).unwrap_or("");
    let provider = q.get("provider").map(String::as_str).unwrap_or("");
    let code = oauth_link_axum::problem_codes().find(|c| *c == code).unwrap_or("platform-error");
    let status = oauth_link_axum::Problem::new(code, oauth_link::ErrorClass::Caller, "").status_code();
    let (title, hint) = match code {
        "denied" => ("Consent was not given", "Nothing was connected. Start a new link to try again."),
        "state-replayed" => (
            "This link was already completed",
            "Each link completes once. Your connections page shows what is connected.",
        ),
        "state-expired" => ("This link expired", "Start a new link and finish it sooner."),
        "state-invalid" => ("This callback does not match a link started here", "Start a new link from this page."),
        "state-missing" => (
            "No link in progress in this browser",
            "The link was completed, it expired, or cookies are blocked. Start a new link.",
        ),
        "state-user-mismatch" => {
            ("This link was started by another user", "Sign in as that user to finish it, or start a new link.")
        }
        "pending" => (
            "The platform has not confirmed the connection yet",
            "If you approved, try again in a moment: the link stays usable.",
        ),
        "invalid-input" => ("Invalid input", "Check the target and parameters, then try again."),
        _ => (
            "The platform returned an error",
            "This may be temporary: try again shortly, or check the platform's settings.",
        ),
    };
    let message = format!("{provider}: {code}");
    let retry = format!("{LINKS_PREFIX}/{}/callback", pages::path_segment(provider));
    let retry = (code == "pending" && !provider.is_empty()).then_some(retry.as_str());
    let view = pages::ErrorView { kind: code, title, message: &message, hint, retry, status: status.as_u16() };
    error_page(status, view)
}

async fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        pages::ErrorView {
            kind: "not-found",
            title: "Not found",
            message: "There is no page here.",
            hint: "Start from the demo's first page.",
            retry: None,
            status: 404,
        },
    )
}
