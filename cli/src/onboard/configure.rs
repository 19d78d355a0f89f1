//! `pincer configure [SECTION]`: one section of onboarding again, on a terminal, against the
//! existing config and `.env` (OpenClaw's `openclaw configure`). Each section asks the same
//! questions as `pincer onboard`, with what is configured as the defaults, and edits only the keys
//! it owns; the rest of the files, comments included, stay as they are.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use super::prompter::Prompter;
use super::{Args as OnboardArgs, Files, Plan, Stop};
use crate::sources::shown;
use crate::target::exit;

/// What can be configured, in the order offered.
const SECTIONS: [(&str, &str); 8] = [
    (
        "models",
        "providers and their keys, the primary and fallback models",
    ),
    (
        "deployment",
        "how the stack runs: compose from a checkout, or native",
    ),
    ("telegram", "the Telegram bot and who may talk to it"),
    ("discord", "the Discord bot"),
    ("slack", "the Slack app"),
    ("whatsapp", "the WhatsApp Cloud API number"),
    ("signal", "the Signal number (signal-cli daemon)"),
    ("imessage", "iMessage through a BlueBubbles server"),
];

/// `pincer configure`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Sections: models, deployment, telegram, discord, slack, whatsapp, signal, imessage.\nExamples:\n  pincer configure\n  pincer configure models\n  pincer configure --section telegram\nFor one key without questions: pincer config set <path> <value>."
)]
pub struct Args {
    /// The section to edit (asked when omitted).
    section: Option<String>,
    /// The section, OpenClaw's spelling.
    #[arg(long = "section", conflicts_with = "section")]
    section_flag: Option<String>,
    /// Config file (default: as `pincer onboard` finds it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The .env file (default: beside the config).
    #[arg(long)]
    env_file: Option<PathBuf>,
}

/// Runs `pincer configure`.
pub async fn run(args: Args) -> ExitCode {
    let named = match args.section.or(args.section_flag) {
        Some(section) => match known(&section) {
            Some(section) => Some(section),
            None => {
                eprintln!(
                    "pincer: unknown section {section:?}; one of {}",
                    SECTIONS.map(|(name, _)| name).join(", ")
                );
                return ExitCode::from(exit::USAGE);
            }
        },
        None => None,
    };
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "pincer: configure asks questions on a terminal; for scripts use `pincer config set <path> <value>` or `pincer onboard --non-interactive`"
        );
        return ExitCode::from(exit::USAGE);
    }
    let onboard = OnboardArgs {
        config: args.config.clone(),
        env_file: args.env_file.clone(),
        ..OnboardArgs::default()
    };
    let files = Files::read(&onboard);
    if files.config.trim().is_empty() {
        eprintln!(
            "pincer: {} does not exist yet: run `pincer onboard` first",
            shown(&files.config_path)
        );
        return ExitCode::from(exit::CONFIG);
    }
    let mut ask = Prompter::new(true);
    let section = match named {
        Some(section) => section,
        None => match choose(&mut ask) {
            Ok(section) => section,
            Err(stop) => {
                eprintln!("pincer: {}", stop.message);
                return ExitCode::from(stop.code);
            }
        },
    };
    println!(
        "Configuring {section} in {} (secrets in {}). Enter keeps what is there; Ctrl-D twice quits.\n",
        shown(&files.config_path),
        shown(&files.env_path)
    );
    let mut plan = Plan::default();
    if let Err(stop) = steps(section, &onboard, &mut ask, &files, &mut plan).await {
        eprintln!("pincer: {}", stop.message);
        return ExitCode::from(stop.code);
    }
    println!(
        "\nwrote {} and {}; restart to apply: pincer gateway restart",
        shown(&files.config_path),
        shown(&files.env_path)
    );
    ExitCode::SUCCESS
}

/// The canonical name of `section` (`bluebubbles` is `imessage`).
fn known(section: &str) -> Option<&'static str> {
    let section = section.trim().to_ascii_lowercase();
    let section = match section.as_str() {
        "bluebubbles" => "imessage",
        "providers" => "models",
        other => other,
    };
    SECTIONS
        .iter()
        .find(|(name, _)| *name == section)
        .map(|(name, _)| *name)
}

/// Asks which section, by number or name.
fn choose(ask: &mut Prompter) -> Result<&'static str, Stop> {
    for (index, (name, what)) in SECTIONS.iter().enumerate() {
        println!("  {}) {name}: {what}", index + 1);
    }
    loop {
        let answer = ask.ask("Section to configure", "1")?;
        let by_number = answer
            .trim()
            .parse::<usize>()
            .ok()
            .and_then(|n| n.checked_sub(1))
            .and_then(|i| SECTIONS.get(i))
            .map(|(name, _)| *name);
        match by_number.or_else(|| known(&answer)) {
            Some(section) => return Ok(section),
            None => println!("  not a section: answer 1-{} or a name", SECTIONS.len()),
        }
    }
}

/// The onboarding steps of `section`, then the write (checked before anything is written).
async fn steps(
    section: &str,
    args: &OnboardArgs,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    match section {
        "models" => {
            super::providers::choose(args, ask, files, plan).await?;
            super::models::choose(args, ask, files, plan).await?;
        }
        "deployment" => {
            super::deployment::choose(args, ask, files, plan)?;
            super::write::gateway(args, files, plan);
        }
        "telegram" => super::telegram::choose(args, ask, files, plan)?,
        "discord" => super::chat_apps::discord(args, ask, files, plan)?,
        "slack" => super::chat_apps::slack(args, ask, files, plan)?,
        "whatsapp" => super::phone_apps::whatsapp(args, ask, files, plan)?,
        "signal" => super::phone_apps::signal(args, ask, plan)?,
        "imessage" => super::phone_apps::bluebubbles(args, ask, files, plan)?,
        other => return Err(Stop::new(exit::USAGE, format!("unknown section {other}"))),
    }
    super::write::write(files, plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_found_by_name_and_alias() {
        assert_eq!(known("Models"), Some("models"));
        assert_eq!(known("providers"), Some("models"));
        assert_eq!(known("bluebubbles"), Some("imessage"));
        assert_eq!(known("gateway"), None);
    }
}
