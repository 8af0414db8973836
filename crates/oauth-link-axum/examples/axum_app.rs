//! A minimal app: a fake login (a cookie holding a user name) and the whole connect flow nested
//! under `/oauth`, over the embedded sandbox (all four platforms, no account needed).
//! `cargo run -p oauth-link-axum --example axum_app`, open http://127.0.0.1:3000/ (or set APP_ADDR).
use axum::{extract::Query, http::header, http::request::Parts, response::*, routing::get, Router};
use oauth_link::{ConfigMap, LinkContext, ProviderConfig};
use oauth_link_axum::{user_fn, CookieKey, LinkRouter};
use oauth_link_sandbox::{Sandbox, SandboxConfig};
use std::collections::HashMap;

type Form = Query<HashMap<String, String>>;
type Error = Box<dyn std::error::Error + Send + Sync>;
/// One target offered per platform.
const OFFERS: [(&str, &str); 4] =
    [("alloy-headless", "slack"), ("alloy-connectors", "notion"), ("novu", "slack"), ("junction", "oura")];

/// The app's own session: here, a plain cookie holding the user name.
fn session_user(parts: &Parts) -> Option<String> {
    let cookies = parts.headers.get(header::COOKIE)?.to_str().ok()?;
    cookies.split("; ").find_map(|c| c.strip_prefix("user=")).filter(|u| !u.is_empty()).map(str::to_owned)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    serve(tokio::net::TcpListener::bind(std::env::var("APP_ADDR").unwrap_or("127.0.0.1:3000".into())).await?).await
}

/// The app on `listener` (the browser test runs it on a free port).
pub async fn serve(listener: tokio::net::TcpListener) -> Result<(), Error> {
    let root = format!("http://{}", listener.local_addr()?);
    let back = |kind: &str| format!("{root}/oauth/{kind}/callback");
    let sandbox = Sandbox::new(
        SandboxConfig::default()
            .public_url(format!("{root}/sandbox"))
            .alloy_return_url(back("alloy-headless"))
            .novu_redirect_url("slack", back("novu")),
    );
    let settings = sandbox.settings_for(&format!("{root}/sandbox"));
    let ctx = LinkContext::ephemeral(); // one state key and replay guard for the four
    let mut links = LinkRouter::builder(CookieKey::generate(), user_fn(session_user))
        .public_url(format!("{root}/oauth"))
        .secure_cookies(false) // plain http on localhost
        .success_url("/")
        .failure_url("/");
    for (kind, _) in OFFERS {
        let mut map: HashMap<String, String> = serde_json::from_value(settings[kind].clone())?;
        map.extend((kind == "alloy-connectors").then(|| ("connectors".into(), "slack,notion".into())));
        let provider = ProviderConfig::parse(kind, ConfigMap::from_map(kind, &map))?.build(ctx.clone())?;
        links = links.provider_returning_here(provider);
    }
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .nest("/oauth", links.build()?)
        .nest("/sandbox", sandbox.router());
    println!("open {root}/");
    Ok(axum::serve(listener, app).await?)
}

async fn login(Query(q): Form) -> impl IntoResponse {
    let user: String = q.get("user").into_iter().flat_map(|u| u.chars()).filter(char::is_ascii_alphanumeric).collect();
    ([(header::SET_COOKIE, format!("user={user}; Path=/; HttpOnly; SameSite=Lax"))], Redirect::to("/"))
}

async fn home(parts: Parts, Query(q): Form) -> Html<String> {
    let Some(user) = session_user(&parts) else {
        return Html("<form action=/login><input name=user id=user> <button id=login>Sign in</button></form>".into());
    };
    let clean = |s: &str| s.replace(['<', '>', '&', '"'], "");
    let mut page = format!("<p>Signed in as <b id=user>{}</b></p>", clean(&user));
    page += &q.get("target").map(|t| format!("<p id=connected>Connected {}</p>", clean(t))).unwrap_or_default();
    page += &q.get("code").map(|c| format!("<p id=failed>Failed: {}</p>", clean(c))).unwrap_or_default();
    for (kind, target) in OFFERS {
        page.push_str(&format!(
            "<p><a id=connect-{kind} href=/oauth/{kind}/connect/{target}>Connect {target} ({kind})</a> \
             <a id=connections-{kind} href=/oauth/{kind}/connections>connections</a></p>"
        ));
    }
    Html(page)
}
