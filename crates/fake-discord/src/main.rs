//! `pincer-fake-discord [--listen 127.0.0.1:8082] [--bot TOKEN]... [--guilds FILE]`: the fake
//! Discord as a process, driven over its `/control` API.

use anyhow::Context;
use clap::Parser;
use pincer_fake_discord::{BotSpec, GatewayConfig, Guild, World, routes};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(about = "A fake Discord (gateway v10 + REST v10) for tests")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8082")]
    listen: std::net::SocketAddr,
    /// The origin clients reach this fake at (`http://fake-discord:8082` in a compose network);
    /// gateway, resume and attachment URLs are built on it. Defaults to the listen address.
    #[arg(long, env = "PINCER_FAKE_DISCORD_PUBLIC_URL")]
    public_url: Option<String>,
    /// Bot tokens to accept (more with `POST /control/bots`).
    #[arg(long = "bot", env = "PINCER_FAKE_DISCORD_BOTS", value_delimiter = ',')]
    bots: Vec<String>,
    /// A JSON file with an array of guilds (`{id, name, channels, threads, roles, members,
    /// bot_roles}`).
    #[arg(long)]
    guilds: Option<std::path::PathBuf>,
    /// HELLO's heartbeat interval in milliseconds.
    #[arg(long, default_value_t = 41_250)]
    heartbeat_interval_ms: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let local = listener.local_addr()?;
    let public_url = cli.public_url.unwrap_or_else(|| format!("http://{local}"));
    let gateway = GatewayConfig {
        heartbeat_interval_ms: cli.heartbeat_interval_ms,
        ..GatewayConfig::default()
    };
    let world = World::new(&public_url, gateway);
    for token in cli.bots.iter().filter(|t| !t.is_empty()) {
        let user = world.add_bot(&BotSpec::new(token))?;
        println!("bot {} ({})", user.id, user.username);
    }
    if let Some(path) = &cli.guilds {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let guilds: Vec<Guild> =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        for guild in guilds {
            world.add_guild(guild);
        }
    }
    println!("fake discord listening on http://{local} (api {public_url}/api/v10)");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    axum::serve(listener, routes::router(world, shutdown.clone()))
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        })
        .await?;
    Ok(())
}
