//! The deployment step: docker compose from a Pincer checkout, or the processes of `pincer dev`
//! on this machine. The choice goes to `.env` ([`crate::deploy`]), so `pincer gateway start`
//! works from any directory afterwards.

use std::path::{Path, PathBuf};

use super::prompter::Prompter;
use super::{Args, Files, Plan, Stop};
use crate::deploy::{COMPOSE_DIR, DEPLOY};
use crate::sources::shown;
use crate::target::exit;

/// Asks how the stack will run and records it in `plan`.
pub(super) fn choose(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    let recorded_dir = files.existing(COMPOSE_DIR).map(PathBuf::from);
    let checkout = args
        .compose_dir
        .clone()
        .or_else(|| recorded_dir.clone().filter(|dir| is_checkout(dir)))
        .or_else(crate::deploy::find_checkout);
    let docker = std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    let default_compose = match files.existing(DEPLOY).as_deref() {
        Some("compose") => true,
        Some("native") => false,
        _ => checkout.is_some() && docker,
    };
    let compose_dir = match args.deploy.as_deref() {
        Some("compose") => Some(required_checkout(checkout)?),
        Some(_) => None,
        None if !ask.interactive => default_compose.then_some(checkout).flatten(),
        None => ask_deployment(ask, checkout, docker, default_compose)?,
    };
    match &compose_dir {
        Some(dir) => {
            let dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
            plan.env(DEPLOY, "compose");
            plan.env(COMPOSE_DIR, &dir.display().to_string());
            plan.compose_dir = Some(dir);
        }
        None => plan.env(DEPLOY, "native"),
    }
    Ok(())
}

fn is_checkout(dir: &Path) -> bool {
    dir.join("compose.yml").is_file()
}

fn required_checkout(checkout: Option<PathBuf>) -> Result<PathBuf, Stop> {
    match checkout {
        Some(dir) if is_checkout(&dir) => Ok(dir),
        Some(dir) => Err(Stop::new(
            exit::USAGE,
            format!(
                "{}/compose.yml does not exist: --compose-dir names your Pincer checkout",
                shown(&dir)
            ),
        )),
        None => Err(Stop::new(
            exit::USAGE,
            "--deploy compose needs a Pincer checkout: pass --compose-dir (the directory with compose.yml)",
        )),
    }
}

fn ask_deployment(
    ask: &mut Prompter,
    checkout: Option<PathBuf>,
    docker: bool,
    default_compose: bool,
) -> Result<Option<PathBuf>, Stop> {
    println!("How will Pincer run?");
    match &checkout {
        Some(dir) => println!(
            "  1) docker compose, with the checkout at {}{}",
            shown(dir),
            if docker {
                ""
            } else {
                " (docker does not answer here yet)"
            }
        ),
        None => println!("  1) docker compose, from a Pincer checkout (type its path)"),
    }
    println!("  2) processes on this machine (pincer dev; needs nats-server)");
    let default = if default_compose { "1" } else { "2" };
    loop {
        let answer = ask.ask("Run with (1, 2, or a checkout's path)", default)?;
        match answer.as_str() {
            "1" => match &checkout {
                Some(dir) => return Ok(Some(dir.clone())),
                None => {
                    println!("  no checkout found: type the path of the directory with compose.yml")
                }
            },
            "2" => return Ok(None),
            path => {
                let dir = PathBuf::from(path);
                if is_checkout(&dir) {
                    return Ok(Some(dir));
                }
                println!(
                    "  {}/compose.yml does not exist: 1, 2, or the path of a Pincer checkout",
                    shown(&dir)
                );
            }
        }
    }
}
