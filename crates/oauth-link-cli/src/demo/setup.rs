//! Building the demo: the providers (over the embedded sandbox, or a real platform), the
//! connect router that serves them, and the cards shown for each (targets come from each
//! provider's catalogue, at first view).

use super::*;

/// What the demo's own pages share.
#[derive(Debug)]
pub(super) struct App {
    /// Offered providers, in display order.
    pub(super) providers: Vec<Entry>,
    pub(super) cards: Vec<ProviderCard>,
    /// One line about the mode, for the index page.
    pub(super) mode_line: String,
    /// The in-process sandbox (sandbox mode): the connections page can ask it to put a
    /// connection in error, to show a connection needing re-authorisation.
    pub(super) sandbox: Option<Sandbox>,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub(super) provider: SharedLinkProvider,
    /// The provider's OAuth targets, read once through `list_targets` (a failed read is
    /// tried again on the next view).
    pub(super) targets: tokio::sync::OnceCell<Vec<TargetHint>>,
}

impl Entry {
    fn new(provider: SharedLinkProvider) -> Self {
        Self { provider, targets: tokio::sync::OnceCell::new() }
    }

    /// The targets a user can connect through a consent screen, those needing extra
    /// parameters last (so the first choice works as is).
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

/// Everything [`serve`] mounts.
pub(super) struct Built {
    pub(super) app: App,
    pub(super) links: LinkRouterBuilder,
    pub(super) sandbox: Option<Sandbox>,
    pub(super) notes: Vec<String>,
}

/// The connect router's settings common to both modes: mounted at `/oauth`, back to the
/// demo's pages, plain-http cookies (the demo listens on 127.0.0.1 only).
fn links(root: &str) -> LinkRouterBuilder {
    LinkRouter::builder(CookieKey::generate(), user_fn(session_user))
        .public_url(format!("{root}{LINKS_PREFIX}"))
        .secure_cookies(false)
        .success_url("/connections")
        .failure_url("/failed")
}

pub(super) fn sandbox_app(root: &str, options: &DemoOptions) -> oauth_link::Result<Built> {
    let back = |kind: &str| format!("{root}{LINKS_PREFIX}/{kind}/callback");
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
    let mut router = links(root);
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
        if kind == "alloy-connectors" {
            map.insert("connectors".into(), connectors.join(","));
        }
        let provider = ProviderConfig::parse(kind, ConfigMap::from_map(static_kind(kind), &map))?.build(ctx.clone())?;
        // No redirect_uri configured: app-redirect platforms come back to the router.
        router = router.provider_returning_here(provider.clone());
        cards.push(card(&provider, sandbox_notes(kind)));
        providers.push(Entry::new(provider));
    }
    let app = App {
        providers,
        cards,
        mode_line: format!(
            "Sandbox mode: Alloy (headless and connectors), Novu and Junction are emulated in this process under {sandbox_root}/. \
Set OAUTH_LINK_PROVIDER and the platform's keys to use a real platform."
        ),
        sandbox: Some(sandbox.clone()),
    };
    Ok(Built { app, links: router, sandbox: Some(sandbox), notes: Vec::new() })
}

pub(super) fn real_app(root: &str, settings: &Settings) -> oauth_link::Result<Built> {
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
    let callback = format!("{root}{LINKS_PREFIX}/{kind}/callback");
    let adapter = settings.adapter(kind)?;
    // An app-redirect platform whose configuration names no redirect comes back to the
    // router's own callback; a configured one is left as it is.
    let configured = adapter.contains("redirect_uri") || adapter.contains("redirect_url");
    let router = if configured {
        links(root).provider(provider.clone())
    } else {
        links(root).provider_returning_here(provider.clone())
    };
    let note = match kind {
        "alloy-headless" => format!("Alloy hosts the callback: set the return address to {callback} where your Alloy account allows it."),
        "novu" => format!(
            "Set the integration's redirect URL to {callback}. If consent is denied, Novu shows its own error page and does not come back."
        ),
        _ if configured => "The platform sends the browser back to the configured redirect_uri (point it at this demo's callback).".into(),
        _ => format!("The platform sends the browser back to {callback}."),
    };
    let app = App {
        cards: vec![card(&provider, vec![note])],
        providers: vec![Entry::new(provider)],
        mode_line: format!("Real platform: {kind} (from {}).", settings.source()),
        sandbox: None,
    };
    Ok(Built { app, links: router, sandbox: None, notes })
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
            "Hosted by Alloy: the link state waits in a sealed cookie; the sandbox's return URL brings the browser back to /oauth/alloy-headless/callback.".into(),
            "shopify needs an extra parameter: shopSubdomain=your-shop. Any user works: the adapter finds or creates the Alloy user.".into(),
        ],
        "alloy-connectors" => vec!["App redirect: the browser comes back to /oauth/alloy-connectors/callback with the state on the URL.".into()],
        "novu" => vec![
            "Hosted by Novu: after Approve, Novu sends the browser to the integration's redirect URL (/oauth/novu/callback).".into(),
            "If you press Deny, Novu shows its own page (\"OAuth error: access_denied\") and does not come back here: use your browser's Back button; the unfinished link simply expires.".into(),
        ],
        "junction" => vec!["App redirect: Junction adds state=success (or state=error&error_type=...) to /oauth/junction/callback.".into()],
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
    let hosted = !provider.capabilities().state_in_redirect();
    ProviderCard { kind, title, hosted, targets: Vec::new(), closed_list: false, notes }
}
