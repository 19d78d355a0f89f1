//! `pincer-fake-whatsapp [--listen 127.0.0.1:8085] [--phone-number-id … --access-token …
//! --app-secret … --webhook-url …]`: the fake Cloud API as a process, for benchmarks and manual
//! runs.

use clap::Parser;
use pincer_fake_whatsapp::{NumberSpec, World, router};

#[derive(Parser)]
#[command(about = "A fake WhatsApp Cloud API (Graph API sends, signed webhook notifications)")]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8085")]
    listen: std::net::SocketAddr,
    /// The number to install.
    #[arg(long, default_value = "106540352242922")]
    phone_number_id: String,
    /// Its access token.
    #[arg(
        long,
        env = "PINCER_FAKE_WHATSAPP_ACCESS_TOKEN",
        default_value = "EAAG-fake"
    )]
    access_token: String,
    /// Its app secret.
    #[arg(
        long,
        env = "PINCER_FAKE_WHATSAPP_APP_SECRET",
        default_value = "fake-app-secret"
    )]
    app_secret: String,
    /// Where its notifications go.
    #[arg(long)]
    webhook_url: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let cli = Cli::parse();
    let listener = tokio::net::TcpListener::bind(cli.listen).await?;
    let local = listener.local_addr()?;
    let world = World::new(&format!("http://{local}"));
    world.lock_numbers_insert(NumberSpec {
        phone_number_id: cli.phone_number_id.clone(),
        display_phone_number: "+1 555-078-3881".to_owned(),
        verified_name: "Pincer Test".to_owned(),
        access_token: cli.access_token,
        app_secret: cli.app_secret,
        webhook_url: cli.webhook_url,
    });
    println!(
        "fake whatsapp listening on http://{local} (apiBaseUrl http://{local}/v23.0, number {})",
        cli.phone_number_id
    );
    axum::serve(listener, router(world))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
