//! `pincer-fake-provider`: serve the fake model provider, or probe one (`healthcheck`).

mod cli;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use pincer_fake_provider::{FakeProvider, health};

use crate::cli::{Cli, Command, HealthcheckArgs, ServeArgs};

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Healthcheck(args)) => Ok(healthcheck(args).await),
        None => serve(cli.serve).await.map(|()| ExitCode::SUCCESS),
    }
}

async fn healthcheck(args: HealthcheckArgs) -> ExitCode {
    match health::probe(&args.url, Duration::from_millis(args.timeout_ms)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("unhealthy: {}: {err}", args.url);
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    if args.verbose {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .init();
    }
    let addr = args.addr();
    let knobs = args.knobs.into_knobs();
    let fake = FakeProvider::start(knobs, addr).await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{}",
        serde_json::json!({ "listening": fake.addr.to_string() })
    )
    .and_then(|()| stdout.flush())
    .context("writing the listening line")?;
    drop(stdout);
    shutdown_signal()
        .await
        .context("waiting for a shutdown signal")?;
    tracing::info!("shutting down");
    fake.shutdown().await?;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = terminate.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
