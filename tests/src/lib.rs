//! Helpers shared by the end-to-end tests.
#![deny(missing_docs)]

/// A state secret long enough for the state codec.
pub const STATE_SECRET: &str = "e2e-state-secret-0123456789abcdef0123";

/// What one CLI run produced.
#[derive(Debug)]
pub struct CliRun {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CliRun {
    /// Stdout parsed as JSON; panics with both streams when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\nstderr:\n{}", self.stdout, self.stderr))
    }
}

/// Runs the `oauth-link` command line in-process with exactly `env` as its environment.
pub fn cli(args: &[&str], env: &[(&str, &str)]) -> CliRun {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("oauth-link").chain(args.iter().copied());
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let code = oauth_link_cli::run(argv, env, &mut out, &mut err);
    CliRun {
        code,
        stdout: String::from_utf8(out).expect("utf-8 stdout"),
        stderr: String::from_utf8(err).expect("utf-8 stderr"),
    }
}

/// Tracing capture for tests: every event formatted into one shared buffer, plus the
/// highest `attempt` any HTTP call reached and how many attempts were retries.
pub mod capture {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::{Context, SubscriberExt};
    use tracing_subscriber::Layer;

    /// What was captured.
    #[derive(Debug, Default)]
    pub struct Captured {
        /// Every event and span field, formatted.
        pub text: Mutex<String>,
        /// Highest `attempt` seen on an HTTP call.
        pub max_attempt: AtomicU64,
        /// HTTP attempts after the first of their call.
        pub retries: AtomicU64,
    }

    struct Recorder(Arc<Captured>);

    struct Fields<'a> {
        out: &'a mut String,
        attempt: Option<u64>,
        message: Option<String>,
    }

    impl Visit for Fields<'_> {
        fn record_u64(&mut self, field: &Field, value: u64) {
            if field.name() == "attempt" {
                self.attempt = Some(value);
            }
            self.out.push_str(&format!(" {}={value}", field.name()));
        }
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let text = format!("{value:?}");
            if field.name() == "message" {
                self.message = Some(text.clone());
            }
            self.out.push_str(&format!(" {}={text}", field.name()));
        }
    }

    impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Layer<S> for Recorder {
        fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
            let mut line = format!("{} {}:", event.metadata().level(), event.metadata().target());
            let mut fields = Fields { out: &mut line, attempt: None, message: None };
            event.record(&mut fields);
            let (attempt, message) = (fields.attempt, fields.message);
            if let (Some(attempt), Some("response" | "transport failure")) = (attempt, message.as_deref()) {
                self.0.max_attempt.fetch_max(attempt, Ordering::Relaxed);
                if attempt > 1 {
                    self.0.retries.fetch_add(1, Ordering::Relaxed);
                }
            }
            line.push('\n');
            self.0.text.lock().unwrap_or_else(|p| p.into_inner()).push_str(&line);
        }

        fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, _: &tracing::span::Id, _: Context<'_, S>) {
            let mut line = format!("span {}:", attrs.metadata().name());
            attrs.record(&mut Fields { out: &mut line, attempt: None, message: None });
            line.push('\n');
            self.0.text.lock().unwrap_or_else(|p| p.into_inner()).push_str(&line);
        }

        fn on_record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>, _: Context<'_, S>) {
            let mut line = String::from("record:");
            values.record(&mut Fields { out: &mut line, attempt: None, message: None });
            line.push('\n');
            self.0.text.lock().unwrap_or_else(|p| p.into_inner()).push_str(&line);
        }
    }

    /// Installs the capture as the process-wide subscriber at `level` (once per test binary).
    pub fn install(level: tracing::Level) -> Arc<Captured> {
        let captured = Arc::new(Captured::default());
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::from_level(level))
            .with(Recorder(captured.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("one capture per test binary");
        captured
    }
}

/// Adapters pointed at the sandbox.
pub mod sandbox {
    use std::collections::HashMap;

    use oauth_link::{Callback, ConfigMap, Link, LinkContext, ProviderConfig, SharedLinkProvider};
    use oauth_link_sandbox::{FaultConfig, RunningSandbox, Sandbox, SandboxConfig};

    /// Where the sandbox sends the browser back (the app under test).
    pub const APP: &str = "https://app.example";
    /// The four platform adapters.
    pub const KINDS: [&str; 4] = ["alloy-headless", "alloy-connectors", "novu", "junction"];

    /// The soaks' fault mix, seeded: 20% of platform requests fail (429 with Retry-After 0:
    /// 5%, 500: 3%, 503: 4%, a truncated body: 3%, a malformed one: 2%, a dropped
    /// connection: 3%), and 10% get 3 ms of latency.
    pub fn twenty_percent_faults(seed: u64) -> FaultConfig {
        FaultConfig {
            seed,
            rate_429: 0.05,
            retry_after_secs: 0,
            rate_500: 0.03,
            rate_503: 0.04,
            rate_truncated: 0.03,
            rate_malformed: 0.02,
            rate_drop: 0.03,
            latency_ms: 3,
            latency_rate: 0.1,
            ..FaultConfig::default()
        }
    }

    /// A sandbox whose hosted platforms send the browser back to [`APP`].
    pub async fn sandbox() -> RunningSandbox {
        let config = SandboxConfig::default()
            .alloy_return_url(format!("{APP}/alloy/back"))
            .novu_redirect_url("slack", format!("{APP}/novu/back"))
            .novu_redirect_url("msteams", format!("{APP}/novu/back"));
        Sandbox::start(config).await.expect("sandbox starts")
    }

    /// Adapter settings pointing at the sandbox, with fast polling.
    pub fn settings(sb: &RunningSandbox, kind: &str) -> HashMap<String, String> {
        let mut map = oauth_link_sandbox::adapter_settings(&sb.settings(), kind, APP);
        map.insert("poll_timeout_ms".to_owned(), "2000".to_owned());
        map.insert("poll_interval_ms".to_owned(), "20".to_owned());
        map
    }

    /// Builds an adapter through the facade.
    pub fn build(kind: &'static str, map: &HashMap<String, String>, ctx: LinkContext) -> SharedLinkProvider {
        ProviderConfig::parse(kind, ConfigMap::from_map(kind, map)).expect("config").build(ctx).expect("provider")
    }

    /// A target the sandbox catalogue offers for `kind`.
    pub fn target(kind: &str) -> &'static str {
        match kind {
            "junction" => "oura",
            _ => "slack",
        }
    }

    /// What the browser brings back to the app after the consent page redirected it.
    /// What the browser brings back: the redirect (when it reached the app) plus the state the
    /// app kept, which app-redirect platforms carry too.
    pub fn callback_from(provider: &SharedLinkProvider, link: &Link, location: Option<&str>) -> Callback {
        let back = match location {
            Some(url) if url.starts_with(APP) => Callback::from_url(provider.kind(), url).expect("redirect URL"),
            _ => Callback::default(),
        };
        back.with_state(link.state.clone())
    }
}
