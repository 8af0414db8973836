//! The `oauth-link` command line, as a library so tests drive it in-process.
//!
//! [`run`] takes the arguments, the environment, and the two output streams, and returns
//! the exit code:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success; stdout holds one JSON document |
//! | 2 | usage, configuration or input error; invalid, expired or replayed state |
//! | 3 | the platform or the user rejected the request (4xx, consent denied) |
//! | 4 | transport error, 5xx, or a rate limit that outlasted the retries |
//!
//! Used link states are recorded under `OAUTH_LINK_REPLAY_DIR` (default
//! `$XDG_STATE_HOME/oauth-link/used-states`, else `~/.local/state/oauth-link/used-states`), so a
//! state completes once even though every command is a separate process.
//!
//! `webhook verify` checks a webhook delivery (signature, timestamp, id) and prints the
//! connection event it carries; a forged, stale or already-handled delivery exits 2.
//! Handled delivery ids are recorded under `--dedupe-dir` (default
//! `$XDG_STATE_HOME/oauth-link/webhook-deliveries`, same fallbacks), see [`webhook`].
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use oauth_link::{
    Callback, ConnectionQuery, Error, ErrorClass, LinkRequest, Settings, SharedLinkProvider, StateToken, Url,
};
use serde_json::json;

pub mod demo;
pub mod webhook;

/// Exit code for usage, configuration, input and state errors.
pub const EXIT_USAGE: i32 = 2;
/// Exit code for rejections by the platform or the user.
pub const EXIT_REJECTED: i32 = 3;
/// Exit code for transient failures.
pub const EXIT_TRANSIENT: i32 = 4;

#[derive(Debug, Parser)]
#[command(
    name = "oauth-link",
    version,
    about = "Connect end users' third-party accounts through Alloy, Novu or Junction",
    after_help = "Settings come from OAUTH_LINK_* environment variables, or from --config FILE (TOML).\nSee docs/configuration.md."
)]
struct Cli {
    /// Provider kind (overrides OAUTH_LINK_PROVIDER and the config file's `provider`).
    #[arg(long, global = true, value_name = "KIND")]
    provider: Option<String>,

    /// TOML config file (instead of OAUTH_LINK_* environment variables).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log HTTP calls to stderr (secrets redacted); RUST_LOG works too.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a link for a user to connect an account; prints {provider, url, state, expires_at}.
    Link {
        /// The app's id for the end user.
        #[arg(long)]
        user: String,
        /// What to connect (app, connector, integration, wearable provider).
        #[arg(long)]
        target: String,
        /// Where the platform should send the browser back (platforms that accept one).
        #[arg(long, value_name = "URL")]
        redirect_uri: Option<String>,
        /// OAuth scope to ask for (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Provider-specific parameter (repeatable), e.g. --param shopSubdomain=acme.
        #[arg(long = "param", value_name = "K=V", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Idempotency key for platforms that honour one.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Complete a link after the browser came back; prints the connection.
    Complete {
        /// The full URL the browser came back to.
        #[arg(long, value_name = "URL", conflicts_with = "query")]
        callback_url: Option<String>,
        /// The query string the browser came back with.
        #[arg(long, value_name = "QS")]
        query: Option<String>,
        /// The state the app kept from `link` (hosted-callback platforms).
        #[arg(long)]
        state: Option<String>,
    },
    /// List a user's connections; prints an array.
    Connections {
        /// The app's id for the end user.
        #[arg(long)]
        user: String,
        /// Only connections to this target.
        #[arg(long)]
        target: Option<String>,
    },
    /// Remove a connection; prints {"disconnected": true}.
    Disconnect {
        /// The app's id for the end user.
        #[arg(long)]
        user: String,
        /// The connection id from `connections`.
        #[arg(long)]
        connection: String,
    },
    /// List what the configured provider can link (its catalogue); prints an array of
    /// {id, name, logo_url?, auth, params?}. Pass an `id` to `link --target`.
    Targets,
    /// List the provider kinds compiled in, with their capabilities.
    Providers,
    /// Run the local sandbox of the four platforms; prints one JSON line with each provider
    /// kind's settings (base_url, api_key), then serves until Ctrl-C.
    Sandbox {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Where the hosted platforms (Alloy headless, Novu) send the browser after consent:
        /// the return address an operator sets in the platform's dashboard.
        #[arg(long, value_name = "URL", default_value = DEFAULT_RETURN_URL)]
        return_url: String,
        /// Deliver Junction's connection events (`provider.connection.created` on approval,
        /// `provider.connection.error` when the admin API puts a connection in error) to
        /// this URL, Svix-signed, retried on Svix's schedule until answered 2xx.
        #[arg(long, value_name = "URL", requires = "webhook_secret")]
        webhook_url: Option<String>,
        /// The signing secret of those deliveries (`whsec_` followed by base64).
        #[arg(long, value_name = "SECRET", requires = "webhook_url")]
        webhook_secret: Option<String>,
    },
    /// Run the demo web app: connect an account in a browser, see and remove connections.
    /// Uses the in-process sandbox unless a provider is configured (OAUTH_LINK_PROVIDER,
    /// --provider or --config). Prints {"url": ...}, then serves until Ctrl-C.
    Demo {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Webhook commands.
    Webhook {
        #[command(subcommand)]
        action: WebhookAction,
    },
}

#[derive(Debug, Subcommand)]
enum WebhookAction {
    /// Verify one webhook delivery with the provider's configured `webhook_secret` and print
    /// the connection event it carries (`{"event": null, ...}` for any other event). Exit 2
    /// for a bad signature, a stale timestamp or a delivery id already handled.
    Verify {
        /// A request header, `name: value` (repeatable): the delivery's `svix-id`,
        /// `svix-timestamp` and `svix-signature`, or `webhook-*`.
        #[arg(long = "header", value_name = "NAME: VALUE", value_parser = webhook::parse_header)]
        headers: Vec<(String, String)>,
        /// The raw body, byte for byte (default: read stdin).
        #[arg(long, value_name = "FILE")]
        body_file: Option<PathBuf>,
        /// Where handled delivery ids are recorded (default
        /// `$XDG_STATE_HOME/oauth-link/webhook-deliveries`).
        #[arg(long, value_name = "DIR")]
        dedupe_dir: Option<PathBuf>,
        /// The body, read before the command runs.
        #[arg(skip)]
        body: Vec<u8>,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Validate the configuration and print the resolved settings, secrets redacted.
    Check,
}

fn parse_param(raw: &str) -> Result<(String, String), String> {
    match raw.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{raw}` is not KEY=VALUE")),
    }
}

/// Runs the command line and returns the exit code. Writes one JSON document to `out` on
/// success, one `error: ...` line to `err` on failure. A command that reads stdin
/// (`webhook verify` without `--body-file`) reads the process's.
pub fn run<I, T>(
    args: I,
    env: impl IntoIterator<Item = (String, String)>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_with_stdin(args, env, &mut std::io::stdin(), out, err)
}

/// [`run`] with `stdin` as the command's standard input.
pub fn run_with_stdin<I, T>(
    args: I,
    env: impl IntoIterator<Item = (String, String)>,
    stdin: &mut dyn std::io::Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            let text = e.render().to_string();
            let target: &mut dyn Write = if code == 0 { out } else { err };
            let _ = write!(target, "{text}");
            return if code == 0 { 0 } else { EXIT_USAGE };
        }
    };
    let env: Vec<(String, String)> = env.into_iter().collect();
    init_tracing(cli.verbose, &env);
    if let Command::Webhook { action: WebhookAction::Verify { body_file, body, .. } } = &mut cli.command {
        match webhook::read_body(body_file.as_deref(), stdin) {
            Ok(read) => *body = read,
            Err(e) => {
                let _ = writeln!(err, "error: {e}");
                return exit_code(&e);
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "error: cannot start the async runtime: {e}");
            return EXIT_TRANSIENT;
        }
    };
    match runtime.block_on(execute(cli, env, out, err)) {
        Ok(None) => 0,
        Ok(Some(document)) => {
            let text = serde_json::to_string_pretty(&document).unwrap_or_else(|_| "null".into());
            if writeln!(out, "{text}").is_err() {
                return EXIT_TRANSIENT;
            }
            0
        }
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            exit_code(&e)
        }
    }
}

/// The app page the sandbox's hosted platforms send the browser back to by default.
pub const DEFAULT_RETURN_URL: &str = "http://localhost:3000/oauth/done";

/// Runs the sandbox until Ctrl-C (or SIGTERM): the settings line first, flushed, so a
/// script can read it and start using the sandbox.
async fn serve_sandbox(
    port: u16,
    return_url: &str,
    webhook: Option<(&str, &str)>,
    out: &mut dyn Write,
) -> oauth_link::Result<()> {
    Url::parse(return_url)
        .map_err(|e| Error::invalid_input("sandbox", "return_url", format!("`{return_url}` is not a URL ({e})")))?;
    let mut config = oauth_link_sandbox::SandboxConfig::default().port(port).alloy_return_url(return_url);
    if let Some((url, secret)) = webhook {
        let target = oauth_link_sandbox::WebhookTarget::new(url, secret).ok_or_else(|| {
            Error::invalid_input(
                "sandbox",
                "webhook",
                "--webhook-url must be an http(s) URL and --webhook-secret `whsec_` followed by base64",
            )
        })?;
        config = config.junction_webhook(target);
    }
    let catalogue = oauth_link_sandbox::Sandbox::catalogue();
    for integration in catalogue["novu"]["integrations"].as_array().into_iter().flatten() {
        if let Some(identifier) = integration["integrationIdentifier"].as_str() {
            config = config.novu_redirect_url(identifier, return_url);
        }
    }
    let sandbox = oauth_link_sandbox::Sandbox::start(config).await.map_err(|e| {
        Error::config("port", format!("cannot start the sandbox on port {port}: {e}; pick another --port"))
    })?;
    writeln!(out, "{}", sandbox.settings())
        .and_then(|()| out.flush())
        .map_err(|e| Error::config("stdout", format!("cannot write the sandbox settings: {e}")))?;
    shutdown_signal().await;
    let _ = sandbox.shutdown().await;
    Ok(())
}

/// Runs the demo until Ctrl-C (or SIGTERM): `{"url": ...}` first, flushed; notes (such as
/// a random state secret) go to `err`.
async fn serve_demo(
    port: u16,
    settings: Option<Settings>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> oauth_link::Result<()> {
    let options = demo::DemoOptions { port, settings, ..demo::DemoOptions::default() };
    let running = demo::start(options).await?;
    for note in running.notes() {
        let _ = writeln!(err, "{note}");
    }
    writeln!(out, "{}", json!({ "url": running.url() }))
        .and_then(|()| out.flush())
        .map_err(|e| Error::config("stdout", format!("cannot write the demo URL: {e}")))?;
    shutdown_signal().await;
    running.shutdown().await;
    Ok(())
}

/// The settings of a real platform for the demo, when one is chosen (flag, config file or
/// `OAUTH_LINK_PROVIDER`); `None` means the built-in sandbox.
fn demo_settings(cli: &Cli, env: Vec<(String, String)>) -> oauth_link::Result<Option<Settings>> {
    let chosen_in_env = env.iter().any(|(k, v)| k == oauth_link::PROVIDER_ENV && !v.trim().is_empty());
    if cli.provider.is_none() && cli.config.is_none() && !chosen_in_env {
        return Ok(None);
    }
    let mut settings = match &cli.config {
        Some(path) => Settings::from_toml_file(path)?,
        None => Settings::from_env_vars(env)?,
    };
    if let Some(kind) = &cli.provider {
        settings.provider = Some(kind.clone());
    }
    Ok(Some(settings))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// The exit code for an error.
pub fn exit_code(error: &Error) -> i32 {
    match error.class() {
        ErrorClass::Caller => EXIT_USAGE,
        ErrorClass::Rejected => EXIT_REJECTED,
        ErrorClass::Transient => EXIT_TRANSIENT,
    }
}

fn init_tracing(verbose: u8, env: &[(String, String)]) {
    let rust_log = env.iter().find(|(k, _)| k == "RUST_LOG").map(|(_, v)| v.clone());
    let filter = match (verbose, rust_log) {
        (0, None) => return,
        (0, Some(filter)) => filter,
        (1, _) => "oauth_link=debug,oauth_link_core=debug".to_owned(),
        _ => "trace".to_owned(),
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .try_init();
}

fn settings(cli: &Cli, env: Vec<(String, String)>) -> oauth_link::Result<Settings> {
    let env_for_defaults = env.clone();
    let mut settings = match &cli.config {
        Some(path) => Settings::from_toml_file(path)?,
        None => Settings::from_env_vars(env)?,
    };
    if let Some(kind) = &cli.provider {
        settings.provider = Some(kind.clone());
    }
    if settings.state.replay_dir.is_none() && settings.state.redis_url.is_none() {
        // Each command is its own process: record used states on disk so `complete` works once.
        settings.state.replay_dir = Some(default_replay_dir(&env_for_defaults));
    }
    Ok(settings)
}

/// `$XDG_STATE_HOME/oauth-link/used-states`, else `$HOME/.local/state/oauth-link/used-states`,
/// else the same under the temp directory.
fn default_replay_dir(env: &[(String, String)]) -> PathBuf {
    state_base(env).join("oauth-link").join("used-states")
}

/// `$XDG_STATE_HOME`, else `$HOME/.local/state`, else the temp directory.
fn state_base(env: &[(String, String)]) -> PathBuf {
    let get = |name: &str| env.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| PathBuf::from(v));
    get("XDG_STATE_HOME")
        .or_else(|| get("HOME").map(|home| home.join(".local").join("state")))
        .unwrap_or_else(std::env::temp_dir)
}

fn provider(settings: &Settings) -> oauth_link::Result<SharedLinkProvider> {
    oauth_link::from_settings(settings)
}

async fn execute(
    cli: Cli,
    env: Vec<(String, String)>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> oauth_link::Result<Option<serde_json::Value>> {
    if let Command::Demo { port } = cli.command {
        let settings = demo_settings(&cli, env)?;
        serve_demo(port, settings, out, err).await?;
        return Ok(None);
    }
    if let Command::Sandbox { port, return_url, webhook_url, webhook_secret } = &cli.command {
        let webhook = webhook_url.as_deref().zip(webhook_secret.as_deref());
        serve_sandbox(*port, return_url, webhook, out).await?;
        return Ok(None);
    }
    if let Command::Webhook { action: WebhookAction::Verify { headers, dedupe_dir, body, .. } } = &cli.command {
        let dedupe_dir = dedupe_dir.clone().unwrap_or_else(|| webhook::default_dedupe_dir(state_base(&env)));
        let settings = settings(&cli, env)?;
        return webhook::verify(&settings, headers, body, &dedupe_dir).await.map(Some);
    }
    let settings = settings(&cli, env)?;
    run_command(cli.command, settings).await.map(Some)
}

async fn run_command(command: Command, settings: Settings) -> oauth_link::Result<serde_json::Value> {
    match command {
        Command::Demo { .. } => Err(Error::invalid_input("demo", "command", "the demo command is served, not run")),
        Command::Sandbox { .. } => {
            Err(Error::invalid_input("sandbox", "command", "the sandbox command takes no settings"))
        }
        Command::Webhook { .. } => Err(Error::invalid_input("webhook", "command", "the webhook command runs apart")),
        Command::Providers => Ok(serde_json::to_value(oauth_link::available_providers()).unwrap_or_default()),
        Command::Config { action: ConfigAction::Check } => {
            let config = oauth_link::configure(&settings, None)?;
            settings.state.context()?;
            Ok(json!({
                "provider": config.kind(),
                "source": settings.source(),
                "settings": config.to_json(),
                "state": settings.state,
            }))
        }
        Command::Link { user, target, redirect_uri, scopes, params, idempotency_key } => {
            let provider = provider(&settings)?;
            let mut request = LinkRequest::new(user, target);
            if let Some(uri) = redirect_uri {
                let parsed = Url::parse(&uri).map_err(|e| {
                    Error::invalid_input(
                        provider.kind(),
                        "redirect_uri",
                        format!("`{uri}` is not an absolute URL ({e})"),
                    )
                })?;
                request = request.with_redirect_uri(parsed);
            }
            request.scopes = scopes;
            request.params = params.into_iter().collect();
            request.idempotency_key = idempotency_key;
            let link = provider.generate_link(&request).await?;
            Ok(serde_json::to_value(&link).unwrap_or_default())
        }
        Command::Complete { callback_url, query, state } => {
            let provider = provider(&settings)?;
            let kind = provider.kind();
            let mut callback = match (callback_url, query) {
                (Some(url), _) => Callback::from_url(kind, &url)?,
                (None, Some(query)) => Callback::from_query(kind, &query)?,
                (None, None) if state.is_some() => Callback::default(),
                (None, None) => {
                    return Err(Error::invalid_input(
                        kind,
                        "callback",
                        "pass --callback-url URL or --query QS (what the browser came back with), and/or --state STATE (what `link` printed)",
                    ))
                }
            };
            if let Some(state) = state {
                callback = callback.with_state(StateToken::new(state));
            }
            let connection = provider.complete_callback(&callback).await?;
            Ok(serde_json::to_value(&connection).unwrap_or_default())
        }
        Command::Connections { user, target } => {
            let provider = provider(&settings)?;
            let mut query = ConnectionQuery::user(user);
            query.target = target;
            Ok(serde_json::to_value(provider.list_connections(&query).await?).unwrap_or_default())
        }
        Command::Targets => Ok(serde_json::to_value(provider(&settings)?.list_targets().await?).unwrap_or_default()),
        Command::Disconnect { user, connection } => {
            provider(&settings)?.disconnect(&user, &connection).await?;
            Ok(json!({ "disconnected": true }))
        }
    }
}
