//! `pincer doctor [--repair]`: checks what a working deployment needs and says, for each problem,
//! what is wrong and the fix. `--repair` applies the safe fixes (file permissions, a missing `.env`
//! with a fresh token, a missing workspace directory) and says what it changed; it never touches a
//! secret's value or a running service.
//!
//! It first says which files it read (the config and its `.env` files, found as every command
//! finds them) and how the stack runs; the checks follow from that: [`files`] (the `.env`),
//! [`host`] (Docker and images, or nats-server and the binaries; memory, disk, port),
//! [`system`] (swap, the firewall), [`providers`] (from where the services run), [`services`]
//! (what the config asks of them) and [`telegram`] (each bot's webhook as Telegram sees it).

mod channels;
mod files;
mod host;
mod phone_channels;
mod providers;
mod services;
mod system;
mod systemd_units;
mod telegram;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use pincer_control_client::ControlClient;
use serde::Serialize;
use serde_json::json;

use crate::deploy::Deployment;
use crate::output;
use crate::sources::{Sources, shown};

/// A check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Fine.
    Ok,
    /// Works, but should be fixed.
    Warn,
    /// Broken.
    Fail,
    /// Could not be checked here.
    Skip,
}

/// One check.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Outcome.
    pub state: State,
    /// What was found.
    pub detail: String,
    /// How to fix it (empty when fine).
    pub fix: String,
    /// What `--repair` changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repaired: Option<String>,
}

fn check(
    name: impl Into<String>,
    state: State,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        name: name.into(),
        state,
        detail: detail.into(),
        fix: fix.into(),
        repaired: None,
    }
}

/// `pincer doctor`: the inputs of the checks.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer doctor\n  pincer doctor --repair\n  pincer doctor --json | jq '.checks[] | select(.state != \"ok\")'"
)]
pub struct Args {
    /// Apply the safe fixes (permissions, a missing .env with a new token) and say what changed.
    #[arg(long)]
    repair: bool,
    /// Config file.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The .env file to check (default: the config's own, then ./.env).
    #[arg(long)]
    env_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// What the checks look at.
struct Context {
    sources: Sources,
    /// The `.env` checked (and repaired).
    env_file: PathBuf,
    deployment: Option<Deployment>,
    repair: bool,
}

impl Context {
    fn compose_dir(&self) -> Option<&Path> {
        match &self.deployment {
            Some(Deployment::Compose { dir, .. }) => Some(dir),
            _ => None,
        }
    }
}

/// Runs every check.
pub async fn run(options: Args) -> ExitCode {
    let sources = Sources::find(options.config.as_deref()).with_env_file(options.env_file.clone());
    let deployment = Deployment::resolve(&sources);
    let context = Context {
        env_file: options
            .env_file
            .clone()
            .unwrap_or_else(|| sources.main_env_file()),
        deployment: deployment.as_ref().ok().cloned(),
        repair: options.repair,
        sources,
    };
    // Asking providers and bots can take seconds each; the report comes at the end.
    let progress =
        (!options.json).then(|| crate::progress::Progress::start("checking the deployment"));
    let mut checks = Vec::new();
    match &deployment {
        Ok(Deployment::Compose { dir, .. }) => {
            host::docker_checks(&context.sources, dir, &mut checks)
        }
        Ok(Deployment::Native { .. }) => host::native_checks(&mut checks),
        Err(error) => checks.push(check(
            "deployment",
            State::Warn,
            error.to_string(),
            "pincer onboard records it",
        )),
    }
    if let Some(installed) = crate::systemd::Installed::find() {
        systemd_units::unit_checks(&installed, &mut checks);
    }
    files::env_file_checks(&context, &mut checks);
    files::config_readable_check(&context, &mut checks);
    let config = config_check(&context.sources, &mut checks);
    if let Some(config) = &config {
        let gateway = crate::target::resolve_with(None, &context.sources).ok();
        // Signed in only when the stack answers: then the checks ask it, not this machine.
        let mut client: Option<ControlClient> = match &gateway {
            Some(gateway) => gateway.connect().await.ok(),
            None => None,
        };
        let compose = context.compose_dir().is_some();
        providers::provider_checks(config, client.as_mut(), compose, &mut checks).await;
        services::window_checks(config, &mut checks);
        services::telegram_checks(config, &mut checks);
        telegram::webhook_checks(config, &context.sources, client.is_some(), &mut checks).await;
        let gateway_base = gateway.as_ref().map(|g| g.base.as_str());
        channels::channel_checks(
            config,
            &context.sources,
            client.as_mut(),
            gateway_base,
            &mut checks,
        )
        .await;
        services::exec_check(config, &mut checks);
        if let Some(gateway) = &gateway {
            host::port_check(&gateway.base, &mut checks).await;
        }
        let exposed = !matches!(config.gateway.bind, pincer_config::Bind::Loopback);
        system::firewall_check(config.gateway.port, exposed, &mut checks);
        services::tool_checks(client.as_mut(), &mut checks).await;
    }
    let data_dir = context
        .sources
        .config
        .as_deref()
        .and_then(Path::parent)
        .filter(|dir| dir.is_dir())
        .unwrap_or(Path::new("."));
    host::disk_check(data_dir, &mut checks);
    host::memory_check(context.compose_dir(), &mut checks);
    system::swap_check(&mut checks);
    if let Some(progress) = progress {
        progress.finish();
    }
    report(
        &context,
        deployment.as_ref().ok(),
        &checks,
        options.json,
        options.repair,
    )
}

/// Loads the config with every `${VAR}` resolved, as the services will.
fn config_check(sources: &Sources, out: &mut Vec<Check>) -> Option<pincer_config::Config> {
    match (
        sources.config.as_deref(),
        sources.load(pincer_config::Scope::All),
    ) {
        (Some(path), Ok(Some(config))) => {
            out.push(
                match pincer_config::exposure::weak_exposed_secret(&config) {
                    Some((key, why)) => check(
                        "config",
                        State::Fail,
                        format!("{}: {key}: {why}", shown(path)),
                        format!("set {key} to `openssl rand -hex 32` (or bind to loopback)"),
                    ),
                    None => check(
                        "config",
                        State::Ok,
                        format!("{} is valid, every ${{VAR}} set", shown(path)),
                        "",
                    ),
                },
            );
            Some(config)
        }
        (Some(path), Err(error)) => {
            out.push(check(
                "config",
                State::Fail,
                error.to_string(),
                format!(
                    "fix the key named above (`pincer config validate {}`)",
                    path.display()
                ),
            ));
            None
        }
        _ => {
            out.push(check("config", State::Fail, "no config file (looked at $PINCER_CONFIG, ./config/pincer.json5, ~/.pincer/pincer.json5)", "pincer onboard"));
            None
        }
    }
}

fn report(
    context: &Context,
    deployment: Option<&Deployment>,
    checks: &[Check],
    json_out: bool,
    repair: bool,
) -> ExitCode {
    let failed = checks
        .iter()
        .filter(|c| c.state == State::Fail && c.repaired.is_none())
        .count();
    let read = context.sources.describe();
    let runs = deployment.map(Deployment::describe);
    if json_out {
        output::json(
            &json!({ "read": read, "deployment": runs, "checks": checks, "failed": failed }),
        );
    } else {
        println!("read: {}", read.join("; "));
        if let Some(runs) = &runs {
            println!("runs: {runs}");
        }
        println!();
        for c in checks {
            let label = match c.state {
                State::Ok => output::good("ok"),
                State::Warn => output::warn("warn"),
                State::Fail => output::bad("FAIL"),
                State::Skip => "skip".to_owned(),
            };
            println!("{label:>5}  {}: {}", c.name, c.detail);
            if let Some(done) = &c.repaired {
                println!("       repaired: {done}");
            } else if !c.fix.is_empty() && c.state != State::Ok {
                println!("       fix: {}", c.fix);
            }
        }
        if failed > 0 && !repair {
            println!("\n{failed} problem(s); `pincer doctor --repair` fixes the safe ones");
        }
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
