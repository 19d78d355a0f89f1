//! The Discord and Slack steps: their tokens (to `.env`, only the channel-bridge gets them) and
//! the channel blocks that name them. Each DM sender pairs with a code first; guild and Slack
//! channels are added to the config by hand (the README says how).

use serde_json::json;

use super::prompter::Prompter;
use super::{Args, Files, Plan, Stop};
use crate::target::exit;

/// Asks for a Discord bot token and records it in `plan`.
pub(super) fn discord(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    let existing = files.existing("DISCORD_BOT_TOKEN").is_some();
    let token = token(
        ask,
        args.discord_token.clone(),
        "--discord-token",
        "Discord bot token (developer portal > Bot; enable the Message Content intent)",
        existing,
        discord_token_problem,
    )?;
    let Some(token) = token else { return Ok(()) };
    plan.env("DISCORD_BOT_TOKEN", &token);
    plan.set(
        "channels.discord",
        json!({ "enabled": true, "token": "${DISCORD_BOT_TOKEN}", "dmPolicy": "pairing" }),
    );
    Ok(())
}

/// Asks for a Slack app's tokens (bot, and app-level for Socket Mode) and records them.
pub(super) fn slack(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    let bot = token(
        ask,
        args.slack_bot_token.clone(),
        "--slack-bot-token",
        "Slack bot token (xoxb-...)",
        files.existing("SLACK_BOT_TOKEN").is_some(),
        |t| prefix_problem(t, "xoxb-", "a bot token"),
    )?;
    let Some(bot) = bot else { return Ok(()) };
    let app = loop {
        let app = token(
            ask,
            args.slack_app_token.clone(),
            "--slack-app-token",
            "Slack app-level token for Socket Mode (xapp-..., scope connections:write)",
            files.existing("SLACK_APP_TOKEN").is_some(),
            |t| prefix_problem(t, "xapp-", "an app-level token"),
        )?;
        match app {
            Some(app) => break app,
            None if !ask.interactive => {
                return Err(Stop::new(
                    exit::USAGE,
                    "--slack-app-token: Socket Mode needs the app-level token (xapp-...)",
                ));
            }
            None => println!("  Socket Mode needs it (no public URL is required then)"),
        }
    };
    plan.env("SLACK_BOT_TOKEN", &bot);
    plan.env("SLACK_APP_TOKEN", &app);
    plan.set(
        "channels.slack",
        json!({ "enabled": true, "botToken": "${SLACK_BOT_TOKEN}", "appToken": "${SLACK_APP_TOKEN}", "dmPolicy": "pairing" }),
    );
    Ok(())
}

/// A token from its flag, or asked (Enter skips), asked again while `problem` finds one.
fn token(
    ask: &mut Prompter,
    flag_value: Option<String>,
    flag: &str,
    question: &str,
    existing: bool,
    problem: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, Stop> {
    let from_flag = flag_value.is_some();
    let mut token = match flag_value {
        Some(token) => Some(token),
        None if ask.interactive => ask.secret(question, existing)?,
        None => None,
    };
    while let Some(why) = token.as_deref().and_then(&problem) {
        if !ask.interactive || from_flag {
            return Err(Stop::new(exit::USAGE, format!("{flag}: {why}")));
        }
        println!("  {why}; try again, or Enter to skip");
        token = ask.secret(question, existing)?;
    }
    Ok(token)
}

/// What is wrong with a Discord bot token's form (three dot-separated base64url parts).
fn discord_token_problem(token: &str) -> Option<String> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let well_formed = parts.len() == 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    (!well_formed).then(|| {
        "that is not a Discord bot token: they look like MTEx...Abc.Gh1jK2.xyz..., three parts separated by dots".to_owned()
    })
}

fn prefix_problem(token: &str, prefix: &str, what: &str) -> Option<String> {
    let token = token.trim();
    (!token.starts_with(prefix)
        || token.len() < prefix.len() + 8
        || token.contains(char::is_whitespace))
    .then(|| format!("that is not {what}: Slack's start with {prefix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_forms_are_checked() {
        assert!(discord_token_problem("MTExMjM0NTY3ODkw.GhIjKl.abcdefghij-klmnop_qrst").is_none());
        for bad in ["abc", "a.b", "a..b", "a.b.c d"] {
            assert!(discord_token_problem(bad).is_some(), "{bad}");
        }
        assert!(prefix_problem("xoxb-1234-5678-abcdef", "xoxb-", "a bot token").is_none());
        assert!(prefix_problem("xapp-1-A123-456-abcdef", "xoxb-", "a bot token").is_some());
        assert!(prefix_problem("xoxb-", "xoxb-", "a bot token").is_some());
    }
}
