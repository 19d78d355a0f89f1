//! `pincer-mcp-test-server [--legacy-only] [--legacy-versions] [--delay-ms MS] [--http ADDR]`: stdio
//! by default; with `--http` it prints `listening on http://ADDR/mcp` on stderr and serves until
//! SIGINT/SIGTERM, answering `--allow-host` names besides localhost, and with `--lost-session-400`
//! a request in a session it did not start as the TypeScript SDK's servers do. `--delay-ms` waits before serving (a server slow to start, like a first
//! `npx -y` download).

use anyhow::{Context as _, bail};
use pincer_mcp_test_server::Options;

const USAGE: &str = "usage: pincer-mcp-test-server [--legacy-only] [--legacy-versions] [--delay-ms MS] [--http 127.0.0.1:PORT [--allow-host NAME]... [--lost-session-400]]";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut options = Options::default();
    let mut http = None;
    let mut hosts = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--legacy-only" => options.legacy_only = true,
            "--legacy-versions" => options.legacy_versions = true,
            "--lost-session-400" => options.lost_session_400 = true,
            "--allow-host" => hosts.push(args.next().context(USAGE)?),
            "--delay-ms" => {
                let ms: u64 = args.next().context(USAGE)?.parse().context(USAGE)?;
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            "--http" => {
                let addr = args.next().context(USAGE)?;
                http = Some(addr.parse::<std::net::SocketAddr>().context(USAGE)?);
            }
            "--help" | "-h" => {
                eprintln!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument `{other}`; {USAGE}"),
        }
    }
    let Some(addr) = http else {
        return Ok(pincer_mcp_test_server::serve_stdio(options).await?);
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    eprintln!(
        "listening on {}",
        pincer_mcp_test_server::url(listener.local_addr()?)
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing a SIGTERM handler")?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        stop.cancel();
    });
    Ok(pincer_mcp_test_server::serve_http_as(listener, options, &hosts, shutdown).await?)
}
