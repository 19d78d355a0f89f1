//! `pincer-fake-signal [--listen 127.0.0.1:8080] [--account +15551234567 ...]`: the fake
//! signal-cli daemon as a process, driven over its `/control` API.

use clap::Parser;
use pincer_fake_signal::{World, routes};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(about = "A fake signal-cli daemon (JSON-RPC, SSE events, health check) for tests")]
struct Cli {
    /// Address to listen on (signal-cli's `--http` default).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Accounts to register (more with `POST /control/accounts`).
    #[arg(
        long = "account",
        env = "PINCER_FAKE_SIGNAL_ACCOUNTS",
        value_delimiter = ','
    )]
    accounts: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let local = listener.local_addr()?;
    let world = World::default();
    for number in &cli.accounts {
        let account = world.add_account(number)?;
        println!("account {} (aci {})", account.number, account.uuid);
    }
    println!(
        "fake signal-cli listening on http://{local} (/api/v1/rpc, /api/v1/events, /api/v1/check)"
    );
    let shutdown = CancellationToken::new();
    let app = routes::router(routes::Daemon {
        world,
        shutdown: shutdown.clone(),
        bound: local,
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
        })
        .await?;
    Ok(())
}
