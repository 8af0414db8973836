//! HTML rendering. Every interpolated value goes through [`esc`]; nothing else builds HTML.

use oauth_link::{Connection, ConnectionStatus};

use super::LINKS_PREFIX;

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A query string (`a=1&b=2`), percent-encoded.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}\
h1{font-size:1.6em}h2{font-size:1.2em;margin:.2em 0}small{color:#666}\
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(26em,1fr));gap:1em}\
.card{border:1px solid #ccc;border-radius:6px;padding:1em}\
label{display:block;margin:.4em 0}input,select,textarea{font:inherit;padding:.2em;width:100%;box-sizing:border-box}\
button{font:inherit;padding:.3em 1.2em;cursor:pointer}\
.flash{padding:.6em 1em;border-radius:4px;background:#e7f6e7;border:1px solid #8c8}\
.flash.info{background:#eef3fb;border-color:#8ab}\
.pending{padding:.6em 1em;border-radius:4px;background:#fff8e1;border:1px solid #e0c060}\
.error{padding:.6em 1em;border-radius:4px;background:#fdecea;border:1px solid #e99}\
.note{color:#555;font-size:.9em}table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #ddd}code{font-size:.9em}\
.inline{display:inline}.actions form{display:inline;margin-right:.3em}\
.health{padding:.1em .5em;border-radius:3px;background:#e7f6e7}.health.pending{background:#fff8e1}\
.health.needs_reauthorization{background:#fff0d9}.health.failed{background:#fdecea}.reason{color:#666}";

/// One URL path segment, percent-encoded (a target or connection id in a router path).
pub(crate) fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Wraps a body in the common page.
fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{} · oauth-link demo</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
<p><small><a href=\"/\">oauth-link demo</a></small></p>\n{body}\n</body>\n</html>\n",
        esc(title)
    )
}

fn flash_html(flash: Option<&str>) -> String {
    match flash {
        Some(text) => format!("<p id=\"flash\" class=\"flash\">{}</p>\n", esc(text)),
        None => String::new(),
    }
}

/// A target the index page suggests for a provider.
#[derive(Debug, Clone)]
pub(crate) struct TargetHint {
    /// The target id passed to `generate_link`.
    pub(crate) id: String,
    /// Display name.
    pub(crate) label: String,
    /// Extra parameters it needs (`shopSubdomain`...).
    pub(crate) params: Vec<String>,
}

/// One provider on the index page.
#[derive(Debug, Clone)]
pub(crate) struct ProviderCard {
    /// Provider kind.
    pub(crate) kind: &'static str,
    /// Display name.
    pub(crate) title: &'static str,
    /// True when the platform hosts the callback (nothing comes back on the URL).
    pub(crate) hosted: bool,
    /// The provider's OAuth targets (a select), or none (free text) when the catalogue
    /// could not be read.
    pub(crate) targets: Vec<TargetHint>,
    /// True when `targets` is the platform's catalogue.
    pub(crate) closed_list: bool,
    /// What the user should know about this provider here.
    pub(crate) notes: Vec<String>,
}

/// The index page.
#[derive(Debug)]
pub(crate) struct IndexView<'a> {
    pub(crate) mode: &'a str,
    pub(crate) cards: &'a [ProviderCard],
    /// The signed-in user.
    pub(crate) user: &'a str,
}

/// Renders the index page.
pub(crate) fn index(view: &IndexView<'_>) -> String {
    let mut body = String::from("<h1>Connect an account</h1>\n");
    body.push_str(&format!("<p id=\"mode\" class=\"note\">{}</p>\n", esc(view.mode)));
    body.push_str(&format!(
        "<form class=\"inline\" method=\"post\" action=\"/login\" id=\"login\">Signed in as <b id=\"user\">{}</b> &middot; \
<label class=\"inline\">switch to <input type=\"text\" name=\"user\" id=\"user-name\" style=\"width:12em\" required></label> \
<button type=\"submit\" id=\"login-button\">Sign in</button> <small>(the demo's fake login)</small></form>\n",
        esc(view.user)
    ));
    body.push_str("<div class=\"cards\">\n");
    for card in view.cards {
        body.push_str(&card_html(card, view.user));
    }
    body.push_str("</div>\n");
    layout("Connect", &body)
}

fn card_html(card: &ProviderCard, user: &str) -> String {
    let k = esc(card.kind);
    let base = format!("{LINKS_PREFIX}/{}", path_segment(card.kind));
    let callback = if card.hosted { "hosted" } else { "app redirect" };
    let mut s = format!(
        "<section class=\"card\" id=\"provider-{k}\">\n<h2>{} <small>{k} &middot; callback: {callback}</small></h2>\n",
        esc(card.title),
    );
    if card.closed_list && !card.targets.is_empty() {
        let first = path_segment(&card.targets[0].id);
        s.push_str(&format!("<form method=\"post\" action=\"{}/connect/{first}\" id=\"connect-{k}\">\n", esc(&base)));
        let placeholder: Vec<String> =
            card.targets.iter().flat_map(|t| t.params.iter().map(|p| format!("{p}=..."))).collect();
        s.push_str(&format!(
            "<label>Extra parameters <small>(<code>key=value</code>, one per line)</small>\
<textarea name=\"params\" id=\"params-{k}\" rows=\"2\" placeholder=\"{}\"></textarea></label>\n<p class=\"targets\">",
            esc(&placeholder.join("\n"))
        ));
        for t in &card.targets {
            let needs = if t.params.is_empty() { String::new() } else { format!(" (needs {})", t.params.join(", ")) };
            s.push_str(&format!(
                "<button type=\"submit\" formaction=\"{}/connect/{}\" id=\"connect-{k}-{}\" class=\"target\" data-target=\"{}\">Connect {}{}</button>\n",
                esc(&base),
                esc(&path_segment(&t.id)),
                esc(&t.id),
                esc(&t.id),
                esc(&t.label),
                esc(&needs)
            ));
        }
        s.push_str("</p>\n</form>\n");
    }
    let list = format!("/connections?{}", query(&[("provider", card.kind)]));
    s.push_str(&format!("<p><a id=\"connections-{k}\" href=\"{}\">Connections of {}</a>", esc(&list), esc(user)));
    if card.hosted {
        s.push_str(&format!(
            " &middot; <a id=\"finish-{k}\" href=\"{}/callback\">I approved but was not sent back: finish the link</a>",
            esc(&base)
        ));
    }
    s.push_str("</p>\n");
    for note in &card.notes {
        s.push_str(&format!("<p class=\"note\">{}</p>\n", esc(note)));
    }
    s.push_str("</section>\n");
    s
}

/// The connections page.
#[derive(Debug)]
pub(crate) struct ConnectionsView<'a> {
    pub(crate) provider: &'a str,
    pub(crate) user: &'a str,
    pub(crate) connections: &'a [Connection],
    pub(crate) flash: Option<&'a str>,
    /// Sandbox mode: each connected row offers to simulate a revoked token.
    pub(crate) sandbox: bool,
}

/// What the health column says.
fn status_text(status: &ConnectionStatus) -> String {
    match status {
        ConnectionStatus::Connected => "connected".into(),
        ConnectionStatus::Pending => "pending".into(),
        ConnectionStatus::NeedsReauthorization { .. } => "needs re-authorisation".into(),
        ConnectionStatus::Failed { .. } => "failed".into(),
        // A status added after this page was written.
        other => other.as_str().replace('_', " "),
    }
}

/// Renders a user's connections: each one's health (and the platform's reason), a
/// Reconnect button where a re-authorisation is needed, Disconnect buttons, and in sandbox
/// mode a button that has the sandbox break a connection.
pub(crate) fn connections(view: &ConnectionsView<'_>) -> String {
    let mut body = format!(
        "<h1>Connections of <span id=\"user\">{}</span> on <span id=\"provider\">{}</span></h1>\n",
        esc(view.user),
        esc(view.provider)
    );
    body.push_str(&flash_html(view.flash));
    if view.connections.is_empty() {
        body.push_str("<p id=\"no-connections\">No connections yet.</p>\n");
    } else {
        body.push_str(
            "<table id=\"connections\">\n<tr><th>target</th><th>health</th><th>created</th><th>id</th><th></th></tr>\n",
        );
        let base = format!("{LINKS_PREFIX}/{}", path_segment(view.provider));
        for (i, c) in view.connections.iter().enumerate() {
            let created = c.created_at.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default();
            let reason = match c.status.reason() {
                Some(reason) => format!("<br><small class=\"reason\">{}</small>", esc(reason)),
                None => String::new(),
            };
            let mut actions = String::new();
            if c.status.is_reauthorization_needed() {
                actions.push_str(&format!(
                    "<form class=\"reconnect\" method=\"post\" action=\"{}\">\
<input type=\"hidden\" name=\"reconnect\" value=\"{}\">\
<button type=\"submit\" class=\"reconnect-button\" id=\"reconnect-{i}\">Reconnect</button></form>",
                    esc(&format!("{base}/connect/{}", path_segment(&c.target))),
                    esc(&c.id)
                ));
            }
            if view.sandbox && c.status.is_connected() {
                actions.push_str(&format!(
                    "<form class=\"simulate\" method=\"post\" action=\"/simulate-error\">\
<input type=\"hidden\" name=\"provider\" value=\"{}\"><input type=\"hidden\" name=\"id\" value=\"{}\">\
<button type=\"submit\" class=\"simulate-button\" id=\"simulate-{i}\" title=\"The sandbox reports it as a platform reports a revoked or expired token\">Simulate a revoked token</button></form>",
                    esc(view.provider),
                    esc(&c.id)
                ));
            }
            actions.push_str(&format!(
                "<form class=\"disconnect\" method=\"post\" action=\"{}\">\
<button type=\"submit\" class=\"disconnect-button\" id=\"disconnect-{i}\">Disconnect</button></form>",
                esc(&format!("{base}/connections/{}/disconnect", path_segment(&c.id)))
            ));
            body.push_str(&format!(
                "<tr class=\"connection\" data-target=\"{t}\" data-id=\"{id}\" data-status=\"{status}\"><td>{t}</td>\
<td><span class=\"health {status}\">{}</span>{reason}</td><td>{}</td><td><code>{id}</code></td><td class=\"actions\">{actions}</td></tr>\n",
                esc(&status_text(&c.status)),
                esc(&created),
                t = esc(&c.target),
                id = esc(&c.id),
                status = esc(c.status.as_str()),
            ));
        }
        body.push_str("</table>\n");
    }
    body.push_str("<p><a id=\"back\" href=\"/\">Connect another account</a></p>\n");
    layout("Connections", &body)
}

/// An error page.
#[derive(Debug)]
pub(crate) struct ErrorView<'a> {
    /// Stable slug for tests and styling (`denied`, `replayed`, `expired`...).
    pub(crate) kind: &'a str,
    pub(crate) title: &'a str,
    /// The error's message (oauth-link messages carry no secret).
    pub(crate) message: &'a str,
    /// What to do next.
    pub(crate) hint: &'a str,
    /// A "try again" address, for transient failures.
    pub(crate) retry: Option<&'a str>,
    pub(crate) status: u16,
}

/// Renders an error page.
pub(crate) fn error(view: &ErrorView<'_>) -> String {
    let mut body = format!(
        "<div id=\"error\" class=\"error\" data-kind=\"{}\" data-status=\"{}\">\n<h1 id=\"error-title\">{}</h1>\n\
<p id=\"error-message\">{}</p>\n<p id=\"error-hint\">{}</p>\n</div>\n",
        esc(view.kind),
        view.status,
        esc(view.title),
        esc(view.message),
        esc(view.hint)
    );
    if let Some(retry) = view.retry {
        body.push_str(&format!("<p><a id=\"retry\" href=\"{}\">Try again</a></p>\n", esc(retry)));
    }
    body.push_str("<p><a id=\"back\" href=\"/\">Back to the demo</a></p>\n");
    layout(view.title, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_interpolated() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        let html = error(&ErrorView {
            kind: "denied",
            title: "<script>",
            message: "\"><img src=x onerror=alert(1)>",
            hint: "h",
            retry: Some("/callback?a=1&b=\"2\""),
            status: 400,
        });
        assert!(!html.contains("<script>") && !html.contains("<img"), "{html}");
        assert!(html.contains("/callback?a=1&amp;b=&quot;2&quot;"), "{html}");
        let c = Connection::new("x\"><b>", "junction", "<u>", "<t>", ConnectionStatus::failed("<r>"));
        let page = connections(&ConnectionsView {
            provider: "junction",
            user: "<u>",
            connections: &[c],
            flash: None,
            sandbox: true,
        });
        assert!(!page.contains("<b>") && !page.contains("<u>") && !page.contains("<t>") && !page.contains("<r>"));
        assert_eq!(query(&[("user", "a b&c")]), "user=a+b%26c");
    }

    #[test]
    fn rows_show_health_and_offer_reconnect_where_it_is_needed() {
        let rows = [
            Connection::new("uid/oura", "junction", "u", "oura", ConnectionStatus::Connected),
            Connection::new(
                "uid/fitbit",
                "junction",
                "u",
                "fitbit",
                ConnectionStatus::needs_reauthorization("token_refresh_failed: revoked"),
            ),
            Connection::new("uid/garmin", "junction", "u", "garmin", ConnectionStatus::failed("unknown")),
        ];
        let view =
            |sandbox| ConnectionsView { provider: "junction", user: "u", connections: &rows, flash: None, sandbox };
        let page = connections(&view(true));
        for status in ["connected", "needs_reauthorization", "failed"] {
            assert!(page.contains(&format!("data-status=\"{status}\"")), "{status}: {page}");
        }
        assert!(page.contains("needs re-authorisation") && page.contains("token_refresh_failed: revoked"));
        // One Reconnect form, for the row that needs it, to the router's connect route.
        assert_eq!(page.matches("class=\"reconnect\"").count(), 1, "{page}");
        assert!(page.contains(
            "action=\"/oauth/junction/connect/fitbit\"><input type=\"hidden\" name=\"reconnect\" value=\"uid/fitbit\">"
        ));
        // The sandbox's simulation, for the connected row only.
        assert_eq!(page.matches("class=\"simulate\"").count(), 1);
        assert!(!connections(&view(false)).contains("class=\"simulate\""), "real platforms: no simulation");
    }
}
