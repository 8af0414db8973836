//! The `oauth-link` binary: see the library docs of `oauth-link-cli` for the contract.

fn main() {
    // A bug must still end in one `error:` line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("error: internal error{place}; please report it");
    }));
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let code = oauth_link_cli::run(std::env::args_os(), std::env::vars(), &mut stdout.lock(), &mut stderr.lock());
    std::process::exit(code);
}
