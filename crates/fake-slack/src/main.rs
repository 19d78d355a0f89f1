//! `pincer-fake-slack [--listen 127.0.0.1:8083] [--app-token xapp-… --bot-token xoxb-…]`: the
//! fake Slack as a process, driven over its `/control` API.

use clap::Parser;
use pincer_fake_slack::{AppSpec, World, delivery, routes};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(about = "A fake Slack (Web API, Socket Mode, signed Events API requests) for tests")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8083")]
    listen: std::net::SocketAddr,
    /// The origin clients reach this fake at (`http://fake-slack:8083` in a compose network);
    /// Socket Mode and file URLs are built on it. Defaults to the listen address.
    #[arg(long, env = "PINCER_FAKE_SLACK_PUBLIC_URL")]
    public_url: Option<String>,
    /// An app-level token (`xapp-…`) to install, with `--bot-token` (more apps with
    /// `POST /control/apps`).
    #[arg(long, env = "PINCER_FAKE_SLACK_APP_TOKEN", requires = "bot_token")]
    app_token: Option<String>,
    /// The bot token (`xoxb-…`) of that app.
    #[arg(long, env = "PINCER_FAKE_SLACK_BOT_TOKEN", requires = "app_token")]
    bot_token: Option<String>,
    /// The bot's user id, for configs that name it ahead.
    #[arg(long)]
    bot_user_id: Option<String>,
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
    let world = World::new(&public_url);
    if let (Some(app_token), Some(bot_token)) = (&cli.app_token, &cli.bot_token) {
        let spec = AppSpec {
            bot_user_id: cli.bot_user_id.clone(),
            ..AppSpec::new(app_token, bot_token)
        };
        let app = world.add_app(&spec)?;
        println!(
            "app {} (bot user {}, bot {})",
            app.app_id, app.bot_user_id, app.bot_id
        );
    }
    println!("fake slack listening on http://{local} (api {public_url}/api)");
    let shutdown = CancellationToken::new();
    tokio::spawn(delivery::run(world.clone(), shutdown.clone()));
    let stop = shutdown.clone();
    axum::serve(listener, routes::router(world, shutdown.clone()))
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        })
        .await?;
    Ok(())
}
