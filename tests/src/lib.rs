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
