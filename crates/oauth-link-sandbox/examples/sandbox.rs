//! Runs a sandbox and prints its settings as one JSON line: `cargo run -p oauth-link-sandbox --example sandbox [PORT]`.

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args().nth(1).map(|p| p.parse()).transpose()?.unwrap_or(0);
    let sb = oauth_link_sandbox::Sandbox::start(oauth_link_sandbox::SandboxConfig::default().port(port)).await?;
    println!("{}", sb.settings());
    tokio::signal::ctrl_c().await?;
    sb.shutdown().await?;
    Ok(())
}
