//! HTML rendering. Every interpolated value goes through [`esc`]; nothing else builds HTML.

use oauth_link::{Connection, ConnectionStatus};

use super::state::{Flash, PendingLink};

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
.inline{display:inline}";

/// Wraps a body in the common page.
fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{} · oauth-link demo</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
<p><small><a href=\"/\">oauth-link demo</a></small></p>\n{body}\n</body>\n</html>\n",
        esc(title)
    )
}

fn flash_html(flash: Option<&Flash>) -> String {
    match flash {
        Some(f) => {
            let class = if f.level == "ok" { "flash" } else { "flash info" };
            format!("<p id=\"flash\" class=\"{class}\">{}</p>\n", esc(&f.text))
        }
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
    /// `hosted` or `app redirect`.
    pub(crate) callback: &'static str,
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
    pub(crate) user: &'a str,
    pub(crate) flash: Option<&'a Flash>,
    pub(crate) pending: Option<&'a PendingLink>,
    pub(crate) pending_note: Option<&'a str>,
}

/// Renders the index page.
pub(crate) fn index(view: &IndexView<'_>) -> String {
    let mut body = String::from("<h1>Connect an account</h1>\n");
    body.push_str(&format!("<p id=\"mode\" class=\"note\">{}</p>\n", esc(view.mode)));
    body.push_str(&flash_html(view.flash));
    if let Some(p) = view.pending {
        let finish = format!("/callback?{}", query(&[("provider", &p.provider)]));
        body.push_str(&format!(
            "<div id=\"pending\" class=\"pending\"><p>A link is in progress: <b>{}</b> on <b>{}</b> for <b>{}</b>.</p>\n",
            esc(&p.target),
            esc(&p.provider),
            esc(&p.user)
        ));
        if let Some(note) = view.pending_note {
            body.push_str(&format!("<p class=\"note\">{}</p>\n", esc(note)));
        }
        body.push_str(&format!(
            "<p><a id=\"finish-link\" href=\"{}\">I approved: finish the link</a> &middot; \
<form class=\"inline\" method=\"post\" action=\"/cancel\"><button type=\"submit\" id=\"cancel-button\">Cancel this link</button></form></p></div>\n",
            esc(&finish)
        ));
    }
    body.push_str("<div class=\"cards\">\n");
    for card in view.cards {
        body.push_str(&card_html(card, view.user));
    }
    body.push_str("</div>\n");
    layout("Connect", &body)
}

fn card_html(card: &ProviderCard, user: &str) -> String {
    let k = esc(card.kind);
    let mut s = format!(
        "<section class=\"card\" id=\"provider-{k}\">\n<h2>{} <small>{k} &middot; callback: {}</small></h2>\n\
<form method=\"post\" action=\"/connect\" id=\"connect-{k}\">\n<input type=\"hidden\" name=\"provider\" value=\"{k}\">\n\
<label>User <input type=\"text\" name=\"user\" id=\"user-{k}\" value=\"{}\" required></label>\n",
        esc(card.title),
        esc(card.callback),
        esc(user)
    );
    if card.closed_list {
        s.push_str(&format!("<label>Target <select name=\"target\" id=\"target-{k}\">\n"));
        for t in &card.targets {
            let needs = if t.params.is_empty() { String::new() } else { format!(" (needs {})", t.params.join(", ")) };
            s.push_str(&format!(
                "<option value=\"{}\">{} &mdash; {}{}</option>\n",
                esc(&t.id),
                esc(&t.id),
                esc(&t.label),
                esc(&needs)
            ));
        }
        s.push_str("</select></label>\n");
    } else {
        s.push_str(&format!(
            "<label>Target <input type=\"text\" name=\"target\" id=\"target-{k}\" list=\"targets-{k}\" required></label>\n<datalist id=\"targets-{k}\">\n"
        ));
        for t in &card.targets {
            s.push_str(&format!("<option value=\"{}\">{}</option>\n", esc(&t.id), esc(&t.label)));
        }
        s.push_str("</datalist>\n");
    }
    let placeholder: Vec<String> =
        card.targets.iter().flat_map(|t| t.params.iter().map(|p| format!("{p}=..."))).collect();
    s.push_str(&format!(
        "<label>Extra parameters <small>(<code>key=value</code>, one per line)</small>\
<textarea name=\"params\" id=\"params-{k}\" rows=\"2\" placeholder=\"{}\"></textarea></label>\n\
<button type=\"submit\" id=\"connect-{k}-button\">Connect</button>\n</form>\n",
        esc(&placeholder.join("\n"))
    ));
    let list = format!("/connections?{}", query(&[("provider", card.kind), ("user", user)]));
    s.push_str(&format!("<p><a id=\"connections-{k}\" href=\"{}\">Connections of {}</a></p>\n", esc(&list), esc(user)));
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
    pub(crate) flash: Option<&'a Flash>,
}

fn status_text(status: &ConnectionStatus) -> String {
    match status {
        ConnectionStatus::Connected => "connected".into(),
        ConnectionStatus::Pending => "pending".into(),
        ConnectionStatus::Error { reason } => format!("error: {reason}"),
    }
}

/// Renders a user's connections with Disconnect buttons.
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
            "<table id=\"connections\">\n<tr><th>target</th><th>status</th><th>created</th><th>id</th><th></th></tr>\n",
        );
        for (i, c) in view.connections.iter().enumerate() {
            let created = c.created_at.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default();
            body.push_str(&format!(
                "<tr class=\"connection\" data-target=\"{t}\" data-id=\"{id}\"><td>{t}</td><td>{}</td><td>{}</td><td><code>{id}</code></td>\
<td><form class=\"disconnect\" method=\"post\" action=\"/disconnect\">\
<input type=\"hidden\" name=\"provider\" value=\"{p}\"><input type=\"hidden\" name=\"user\" value=\"{u}\">\
<input type=\"hidden\" name=\"connection\" value=\"{id}\">\
<button type=\"submit\" class=\"disconnect-button\" id=\"disconnect-{i}\">Disconnect</button></form></td></tr>\n",
                esc(&status_text(&c.status)),
                esc(&created),
                t = esc(&c.target),
                id = esc(&c.id),
                p = esc(view.provider),
                u = esc(view.user),
            ));
        }
        body.push_str("</table>\n");
    }
    let back = format!("/?{}", query(&[("user", view.user)]));
    body.push_str(&format!("<p><a id=\"back\" href=\"{}\">Connect another account</a></p>\n", esc(&back)));
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
        let c = Connection {
            id: "x\"><b>".into(),
            provider: "junction".into(),
            user: "<u>".into(),
            target: "<t>".into(),
            status: ConnectionStatus::Error { reason: "<r>".into() },
            created_at: None,
            updated_at: None,
            raw: oauth_link::core::adapter::RawRecord::none(),
        };
        let page = connections(&ConnectionsView { provider: "junction", user: "<u>", connections: &[c], flash: None });
        assert!(!page.contains("<b>") && !page.contains("<u>") && !page.contains("<t>") && !page.contains("<r>"));
        assert_eq!(query(&[("user", "a b&c")]), "user=a+b%26c");
    }
}
