//! `pincer-fake-telegram [--listen 127.0.0.1:8081]`: the fake Bot API as a process.

use clap::Parser;

#[derive(Parser)]
#[command(about = "A fake Telegram Bot API server for tests")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: std::net::SocketAddr,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    println!(
        "fake telegram listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(
        listener,
        pincer_fake_telegram::api::router(Default::default()),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
