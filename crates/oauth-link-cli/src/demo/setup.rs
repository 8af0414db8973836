//! Building the demo: the providers (over the embedded sandbox, or a real platform), and
//! the cards shown for each (targets come from each provider's catalogue, at first view).

use super::*;

/// Everything the handlers share.
#[derive(Debug)]
pub(super) struct App {
    /// `http://127.0.0.1:PORT`.
    pub(super) root: String,
    /// Offered providers, in display order.
    pub(super) providers: Vec<Entry>,
    pub(super) cards: Vec<ProviderCard>,
    pub(super) cookies: CookieJar,
    /// How long a link cookie lives at most.
    pub(super) link_ttl: Duration,
    /// One line about the mode, for the index page.
    pub(super) mode_line: String,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub(super) provider: SharedLinkProvider,
    /// Redirect URI to put on each request (real mode, app-redirect platforms without one
    /// configured).
    pub(super) redirect: Option<Url>,
    /// The provider's OAuth targets, read once through `list_targets` (a failed read is
    /// tried again on the next view).
    pub(super) targets: tokio::sync::OnceCell<Vec<TargetHint>>,
}

impl Entry {
    fn new(provider: SharedLinkProvider, redirect: Option<Url>) -> Self {
        Self { provider, redirect, targets: tokio::sync::OnceCell::new() }
    }

    /// The targets a user can connect through a consent screen, those needing extra
    /// parameters last (so the default choice works as is).
    pub(super) async fn targets(&self) -> oauth_link::Result<&[TargetHint]> {
        let hints = self
            .targets
            .get_or_try_init(|| async {
                let mut hints: Vec<TargetHint> = self
                    .provider
                    .list_targets()
                    .await?
                    .into_iter()
                    .filter(Target::is_oauth)
                    .map(|t| TargetHint {
                        params: t.params.iter().filter(|p| p.required).map(|p| p.name.clone()).collect(),
                        id: t.id,
                        label: t.name,
                    })
                    .collect();
                hints.sort_by_key(|t| !t.params.is_empty());
                Ok::<_, Error>(hints)
            })
            .await?;
        Ok(hints)
    }
}

impl App {
    pub(super) fn find(&self, kind: &str) -> Option<&Entry> {
        self.providers.iter().find(|e| e.provider.kind() == kind)
    }
}

pub(super) fn sandbox_app(
    root: &str,
    options: &DemoOptions,
) -> oauth_link::Result<(App, Option<Sandbox>, Vec<String>)> {
    let callback = format!("{root}/callback");
    let back = |kind: &str| format!("{callback}?provider={kind}");
    let sandbox_root = format!("{root}/sandbox");
    let sandbox = Sandbox::new(
        SandboxConfig::default()
            .public_url(&sandbox_root)
            .alloy_return_url(back("alloy-headless"))
            .novu_redirect_url("slack", back("novu"))
            .novu_redirect_url("msteams", back("novu")),
    );
    let catalogue = Sandbox::catalogue();
    let settings = sandbox.settings_for(&sandbox_root);
    let codec = StateCodec::new(StateKeys::random());
    let codec = match &options.clock {
        Some(clock) => codec.with_clock(clock.clone()),
        None => codec,
    };
    // One context for all four providers: one state key, one replay guard.
    let ctx = LinkContext::new(codec, Arc::new(MemoryReplayGuard::new()));
    let connectors: Vec<&str> =
        list(&catalogue, &["alloy", "connectors"]).filter_map(|c| str_at(c, "connectorId")).collect();
    let mut providers = Vec::new();
    let mut cards = Vec::new();
    for kind in SANDBOX_KINDS {
        let mut map: HashMap<String, String> = HashMap::new();
        for key in ["base_url", "api_key"] {
            if let Some(v) = settings.get(kind).and_then(|s| s.get(key)).and_then(Value::as_str) {
                map.insert(key.to_owned(), v.to_owned());
            }
        }
        map.insert("poll_timeout_ms".into(), options.poll_timeout.as_millis().to_string());
        map.insert("poll_interval_ms".into(), "50".into());
        map.insert("max_retries".into(), "1".into());
        map.insert("request_timeout_ms".into(), "10000".into());
        match kind {
            "alloy-connectors" => {
                map.insert("redirect_uri".into(), callback.clone());
                map.insert("connectors".into(), connectors.join(","));
            }
            "junction" => {
                map.insert("redirect_uri".into(), callback.clone());
            }
            _ => {}
        }
        let provider = AdapterConfig::parse(kind, ConfigMap::from_map(static_kind(kind), &map))?.build(ctx.clone())?;
        cards.push(card(&provider, sandbox_notes(kind)));
        providers.push(Entry::new(provider, None));
    }
    let app = App {
        root: root.to_owned(),
        providers,
        cards,
        cookies: CookieJar::random(),
        link_ttl: DEFAULT_STATE_TTL,
        mode_line: format!(
            "Sandbox mode: Alloy (headless and connectors), Novu and Junction are emulated in this process under {sandbox_root}/. \
Set OAUTH_LINK_PROVIDER and the platform's keys to use a real platform."
        ),
    };
    Ok((app, Some(sandbox), Vec::new()))
}

pub(super) fn real_app(root: &str, settings: &Settings) -> oauth_link::Result<(App, Option<Sandbox>, Vec<String>)> {
    let config = oauth_link::configure(settings, None)?;
    let kind = config.kind();
    if !SANDBOX_KINDS.contains(&kind) {
        return Err(Error::config(
            oauth_link::PROVIDER_ENV,
            format!(
                "the demo needs a platform with a consent page; `{kind}` has none. Unset OAUTH_LINK_PROVIDER to use the built-in sandbox"
            ),
        ));
    }
    let mut notes = Vec::new();
    let ctx = if settings.state.secret.is_some() {
        settings.state.context()?
    } else {
        notes.push(format!(
            "note: {} is not set; using a random state secret for this run (links do not survive a restart)",
            oauth_link::STATE_SECRET_ENV
        ));
        settings.state.ephemeral_context()?
    };
    let provider = config.build(ctx)?;
    let callback = format!("{root}/callback");
    let adapter = settings.adapter(kind)?;
    let configured = adapter.contains("redirect_uri") || adapter.contains("redirect_url");
    let redirect = if provider.capabilities().callback == CallbackModel::AppRedirect && !configured {
        Some(Url::parse(&callback).map_err(|e| Error::config("port", format!("bad callback URL: {e}")))?)
    } else {
        None
    };
    let mut card_notes = Vec::new();
    match kind {
        "alloy-headless" => card_notes.push(format!(
            "Alloy hosts the callback: set the return address to {callback}?provider=alloy-headless where your Alloy account allows it."
        )),
        "novu" => card_notes.push(format!(
            "Set the integration's redirect URL to {callback}?provider=novu. If consent is denied, Novu shows its own error page and does not come back."
        )),
        _ => card_notes.push(format!("The platform sends the browser back to {callback}.")),
    }
    let cards = vec![card(&provider, card_notes)];
    let app = App {
        root: root.to_owned(),
        providers: vec![Entry::new(provider, redirect)],
        cards,
        cookies: CookieJar::random(),
        link_ttl: settings.state.ttl,
        mode_line: format!("Real platform: {kind} (from {}).", settings.source()),
    };
    Ok((app, None, notes))
}

/// The `&'static str` of a known kind.
pub(super) fn static_kind(kind: &str) -> &'static str {
    SANDBOX_KINDS.iter().copied().find(|k| *k == kind).unwrap_or("unknown")
}

pub(super) fn list<'a>(v: &'a Value, path: &[&str]) -> impl Iterator<Item = &'a Value> {
    let mut cur = Some(v);
    for p in path {
        cur = cur.and_then(|c| c.get(p));
    }
    cur.and_then(Value::as_array).into_iter().flatten()
}

pub(super) fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(super) fn sandbox_notes(kind: &str) -> Vec<String> {
    match kind {
        "alloy-headless" => vec![
            "Hosted by Alloy: the demo keeps the link state in a cookie; the sandbox's return URL brings the browser back to /callback?provider=alloy-headless.".into(),
            "shopify needs an extra parameter: shopSubdomain=your-shop. Any user id works: the adapter finds or creates the Alloy user.".into(),
        ],
        "alloy-connectors" => vec!["App redirect: the browser comes back to /callback with the state on the URL.".into()],
        "novu" => vec![
            "Hosted by Novu: after Approve, Novu sends the browser to the integration's redirect URL (/callback?provider=novu).".into(),
            "If you press Deny, Novu shows its own page (\"OAuth error: access_denied\") and does not come back here: use your browser's Back button to return, then cancel the link in progress.".into(),
        ],
        "junction" => vec!["App redirect: Junction adds state=success (or state=error&error_type=...) to /callback.".into()],
        _ => Vec::new(),
    }
}

pub(super) fn card(provider: &SharedLinkProvider, notes: Vec<String>) -> ProviderCard {
    let kind = static_kind(provider.kind());
    let title = match kind {
        "alloy-headless" => "Alloy Embedded (headless)",
        "alloy-connectors" => "Alloy Connectivity API",
        "novu" => "Novu (Slack, MS Teams)",
        "junction" => "Junction (wearables)",
        _ => "Provider",
    };
    let callback = match provider.capabilities().callback {
        CallbackModel::Hosted => "hosted",
        CallbackModel::AppRedirect => "app redirect",
    };
    ProviderCard { kind, title, callback, targets: Vec::new(), closed_list: false, notes }
}
