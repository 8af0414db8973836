//! The demo's routes: index, connect, callback, connections, disconnect, cancel, and the
//! HTML / redirect / error responses they share.

use super::*;

/// The demo's router.
pub(super) fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/connect", post(connect))
        .route("/callback", get(callback))
        .route("/connections", get(connections))
        .route("/disconnect", post(disconnect))
        .route("/cancel", post(cancel))
        .fallback(not_found)
        .with_state(app)
}

pub(super) type AppState = State<Arc<App>>;

// ------------------------------------------------------------------ responses

pub(super) fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
}

pub(super) fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

pub(super) fn html(status: StatusCode, body: String, cookies: &[String]) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure_headers(r.headers_mut());
    with_cookies(r, cookies)
}

pub(super) fn redirect(location: &str, cookies: &[String]) -> Response {
    let mut r = Response::new(axum::body::Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    match HeaderValue::from_str(location) {
        Ok(v) => {
            r.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => {
            return page(
                StatusCode::BAD_GATEWAY,
                "platform",
                "Unusable link",
                "The platform returned a link that is not a valid URL.",
                "Try again, or check the platform's configuration.",
                None,
                cookies,
            );
        }
    }
    secure_headers(r.headers_mut());
    with_cookies(r, cookies)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn page(
    status: StatusCode,
    kind: &str,
    title: &str,
    message: &str,
    hint: &str,
    retry: Option<&str>,
    cookies: &[String],
) -> Response {
    let body = pages::error(&ErrorView { kind, title, message, hint, retry, status: status.as_u16() });
    html(status, body, cookies)
}

/// The error page for an oauth-link error: status, a stable kind, a title and what to do.
pub(super) fn error_page(err: &Error, retry: Option<&str>, cookies: &[String]) -> Response {
    let (status, kind, title, hint) = match err {
        Error::Denied { .. } => (
            StatusCode::BAD_REQUEST,
            "denied",
            "Consent was not given",
            "Nothing was connected. Start a new link to try again.",
        ),
        Error::StateReplayed { .. } => (
            StatusCode::CONFLICT,
            "replayed",
            "This link was already completed",
            "Each link completes once. Your connections page shows what is connected; start a new link to connect again.",
        ),
        Error::StateExpired { .. } => {
            (StatusCode::BAD_REQUEST, "expired", "This link expired", "Start a new link and finish it sooner.")
        }
        Error::StateInvalid { .. } => (
            StatusCode::BAD_REQUEST,
            "state_invalid",
            "This callback does not match a link started here",
            "Start a new link from this page.",
        ),
        Error::InvalidInput { .. } => (StatusCode::BAD_REQUEST, "invalid_input", "Invalid input", "Check what was entered and try again, or start a new link from the start page."),
        Error::Unsupported { .. } => (StatusCode::BAD_REQUEST, "unsupported", "Not supported", "This platform cannot do that."),
        Error::Conflict { .. } => (
            StatusCode::CONFLICT,
            "conflict",
            "The platform reported a conflict",
            "Reload the connections page to see the current state.",
        ),
        Error::Pending { .. } => (
            StatusCode::BAD_GATEWAY,
            "pending",
            "The platform has not confirmed the connection yet",
            "If you approved, try again in a moment: the link stays usable. If you denied consent, cancel the link from the start page.",
        ),
        Error::Config { .. } | Error::UnknownProvider { .. } | Error::ProviderNotCompiled { .. } | Error::ReplayGuard { .. } => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "config",
            "The demo is not configured correctly",
            "Check the settings the demo was started with.",
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "platform",
            "The platform returned an error",
            if err.is_retryable() { "This may be temporary: try again shortly." } else { "Check the platform's settings and keys." },
        ),
    };
    let retry = if err.is_retryable() { retry } else { None };
    page(status, kind, title, &err.to_string(), hint, retry, cookies)
}

pub(super) fn bad_request(title: &str, message: &str) -> Response {
    page(StatusCode::BAD_REQUEST, "bad_request", title, message, "Go back to the start page and try again.", None, &[])
}

pub(super) async fn not_found() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        "There is no page here.",
        "Start from the demo's first page.",
        None,
        &[],
    )
}

/// The provider kind a state token claims, unverified (used only to pick the provider,
/// which then verifies the signature).
pub(super) fn issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<LinkState>(&json).ok().map(|claims| claims.provider)
}

pub(super) fn form_fields(raw: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

pub(super) fn field<'a>(fields: &'a HashMap<String, String>, name: &str) -> &'a str {
    fields.get(name).map(|v| v.trim()).unwrap_or("")
}

/// Reads the one-time message, and the `Set-Cookie` that clears it.
pub(super) fn take_flash(app: &App, headers: &HeaderMap) -> (Option<Flash>, Vec<String>) {
    match app.cookies.read::<Flash>(headers, FLASH_COOKIE) {
        Read::Valid(f) => (Some(f), vec![CookieJar::clear(FLASH_COOKIE)]),
        Read::Invalid => (None, vec![CookieJar::clear(FLASH_COOKIE)]),
        Read::Absent => (None, Vec::new()),
    }
}

pub(super) fn flash_cookie(app: &App, level: &str, text: String) -> String {
    app.cookies.set(FLASH_COOKIE, &Flash { level: level.into(), text }, Duration::from_secs(60))
}

pub(super) fn connections_location(provider: &str, user: &str) -> String {
    format!("/connections?{}", pages::query(&[("provider", provider), ("user", user)]))
}

// ------------------------------------------------------------------ handlers

pub(super) async fn index(State(app): AppState, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let query = form_fields(uri.query().unwrap_or("").as_bytes());
    let user = match field(&query, "user") {
        "" => DEFAULT_USER,
        u => u,
    };
    let (flash, mut cookies) = take_flash(&app, &headers);
    let pending = match app.cookies.read::<PendingLink>(&headers, LINK_COOKIE) {
        Read::Valid(p) => Some(p),
        Read::Invalid => {
            cookies.push(CookieJar::clear(LINK_COOKIE));
            None
        }
        Read::Absent => None,
    };
    let pending_note = pending.as_ref().and_then(|p| {
        let hosted = app.find(&p.provider).is_some_and(|e| !e.provider.capabilities().state_in_redirect());
        match p.provider.as_str() {
            "novu" => Some("Novu sends the browser back here only after Approve. If you denied consent, Novu showed its own error page (\"OAuth error: access_denied\") and will not come back: cancel this link."),
            _ if hosted => Some("The platform hosts the callback. If you approved and were not sent back, finish the link; if you denied, cancel it."),
            _ => None,
        }
    });
    let mut cards = app.cards.clone();
    for (card, entry) in cards.iter_mut().zip(&app.providers) {
        match entry.targets().await {
            Ok(targets) => {
                card.targets = targets.to_vec();
                card.closed_list = true;
            }
            Err(e) => card.notes.push(format!("The platform's target list could not be read ({e}); type a target.")),
        }
    }
    let body = pages::index(&pages::IndexView {
        mode: &app.mode_line,
        cards: &cards,
        user,
        flash: flash.as_ref(),
        pending: pending.as_ref(),
        pending_note,
    });
    html(StatusCode::OK, body, &cookies)
}

/// Parses the extra-parameters field: `key=value`, one per line.
pub(super) fn parse_params(kind: &'static str, text: &str) -> oauth_link::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => out.push((k.trim().to_owned(), v.trim().to_owned())),
            _ => {
                return Err(Error::invalid_input(
                    kind,
                    "params",
                    format!("`{line}` is not key=value (one parameter per line)"),
                ))
            }
        }
    }
    Ok(out)
}

pub(super) async fn connect(State(app): AppState, body: Bytes) -> Response {
    let form = form_fields(&body);
    let kind = field(&form, "provider");
    let Some(entry) = app.find(kind) else {
        return bad_request("Unknown provider", &format!("`{kind}` is not offered by this demo."));
    };
    let provider = &entry.provider;
    let kind = provider.kind();
    let mut request = LinkRequest::new(field(&form, "user"), field(&form, "target"));
    match parse_params(kind, form.get("params").map(String::as_str).unwrap_or("")) {
        Ok(params) => request.params.extend(params),
        Err(e) => return error_page(&e, None, &[]),
    }
    if let Some(uri) = &entry.redirect {
        request = request.with_redirect_uri(uri.clone());
    }
    if let Err(e) = request.validate(kind) {
        return error_page(&e, None, &[]);
    }
    match provider.generate_link(&request).await {
        Ok(link) => {
            let pending = PendingLink {
                provider: kind.to_owned(),
                state: link.state.expose().to_owned(),
                user: request.user.clone(),
                target: request.target.clone(),
            };
            let left = (link.expires_at - chrono::Utc::now()).to_std().unwrap_or_default();
            let cookie = app.cookies.set(LINK_COOKIE, &pending, left.min(app.link_ttl));
            redirect(link.url.as_str(), &[cookie])
        }
        Err(e) => error_page(&e, None, &[]),
    }
}

pub(super) async fn callback(State(app): AppState, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let query = uri.query().unwrap_or("");
    let fields = form_fields(query.as_bytes());
    // The provider: named on the return URL (hosted platforms), else the one that issued
    // the state on the URL (app-redirect platforms); complete_callback verifies it.
    let named = fields.get("provider").cloned().or_else(|| fields.get(STATE_PARAM).and_then(|s| issuer(s)));
    let pending = match app.cookies.read::<PendingLink>(&headers, LINK_COOKIE) {
        Read::Valid(p) => Some(p),
        Read::Absent => None,
        Read::Invalid => {
            return page(
                StatusCode::BAD_REQUEST,
                "state_invalid",
                "The link cookie is not valid",
                "The cookie holding the link in progress was altered, or comes from an earlier run of the demo.",
                "Start a new link.",
                None,
                &[CookieJar::clear(LINK_COOKIE)],
            )
        }
    };
    let kind = match (&pending, named.as_deref()) {
        (Some(p), Some(n)) if p.provider != n => {
            return page(
                StatusCode::BAD_REQUEST,
                "state_invalid",
                "This callback is for another provider",
                &format!("The link in progress is for {}, but the browser came back from {}.", p.provider, n),
                "Finish or cancel the link in progress from the start page, then start a new one.",
                None,
                &[],
            )
        }
        (Some(p), _) => p.provider.clone(),
        (None, Some(n)) => n.to_owned(),
        (None, None) => {
            return page(
                StatusCode::BAD_REQUEST,
                "no_state",
                "No link in progress",
                "This browser has no link in progress and the callback does not name a provider.",
                "Start a new link from the start page.",
                None,
                &[],
            )
        }
    };
    let Some(entry) = app.find(&kind) else {
        return bad_request("Unknown provider", &format!("`{kind}` is not offered by this demo."));
    };
    let provider = &entry.provider;
    let kind = provider.kind();
    let full = format!("{}{}", app.root, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/callback"));
    let mut cb = match Callback::from_url(kind, &full) {
        Ok(cb) => cb,
        Err(e) => return error_page(&e, None, &[]),
    };
    match &pending {
        Some(p) => cb = cb.with_state(StateToken::new(p.state.clone())),
        None if !provider.capabilities().state_in_redirect() => {
            return page(
                StatusCode::BAD_REQUEST,
                "no_state",
                "No link in progress in this browser",
                &format!("{kind} does not carry the link state back, and this browser holds none: the link was already completed or cancelled, its cookie expired, or cookies are blocked."),
                "Each link completes once. Start a new link from the start page.",
                None,
                &[],
            )
        }
        None => {}
    }
    match provider.complete_callback(&cb).await {
        Ok(connection) => {
            let text =
                format!("Connected {} for {} (connection {}).", connection.target, connection.user, connection.id);
            let cookies = [CookieJar::clear(LINK_COOKIE), flash_cookie(&app, "ok", text)];
            redirect(&connections_location(kind, &connection.user), &cookies)
        }
        // A transient failure leaves the state usable: keep the cookie, offer to retry.
        Err(e) if e.is_retryable() => error_page(&e, Some(&full), &[]),
        Err(e) => error_page(&e, None, &[CookieJar::clear(LINK_COOKIE)]),
    }
}

pub(super) async fn connections(State(app): AppState, OriginalUri(uri): OriginalUri, headers: HeaderMap) -> Response {
    let query = form_fields(uri.query().unwrap_or("").as_bytes());
    let Some(entry) = app.find(field(&query, "provider")) else {
        return bad_request("Unknown provider", "Pass ?provider= one of the providers offered on the start page.");
    };
    let kind = entry.provider.kind();
    let q = ConnectionQuery::user(field(&query, "user"));
    if let Err(e) = q.validate(kind) {
        return error_page(&e, None, &[]);
    }
    let list: Vec<Connection> = match entry.provider.list_connections(&q).await {
        Ok(list) => list,
        Err(e) => {
            let retry = format!("/connections?{}", uri.query().unwrap_or(""));
            return error_page(&e, Some(&retry), &[]);
        }
    };
    let (flash, cookies) = take_flash(&app, &headers);
    let body = pages::connections(&pages::ConnectionsView {
        provider: kind,
        user: &q.user,
        connections: &list,
        flash: flash.as_ref(),
    });
    html(StatusCode::OK, body, &cookies)
}

pub(super) async fn disconnect(State(app): AppState, body: Bytes) -> Response {
    let form = form_fields(&body);
    let Some(entry) = app.find(field(&form, "provider")) else {
        return bad_request("Unknown provider", "The form names no provider offered by this demo.");
    };
    let kind = entry.provider.kind();
    let (user, connection) = (field(&form, "user"), field(&form, "connection"));
    for (name, value) in [("user", user), ("connection", connection)] {
        if let Err(e) = oauth_link::core::adapter::validate_id(kind, name, value) {
            return error_page(&e, None, &[]);
        }
    }
    match entry.provider.disconnect(user, connection).await {
        Ok(()) => {
            let cookie = flash_cookie(&app, "info", format!("Disconnected {connection}."));
            redirect(&connections_location(kind, user), &[cookie])
        }
        Err(e) => error_page(&e, None, &[]),
    }
}

pub(super) async fn cancel(State(app): AppState) -> Response {
    let cookies =
        [CookieJar::clear(LINK_COOKIE), flash_cookie(&app, "info", "The link in progress was cancelled.".into())];
    redirect("/", &cookies)
}
