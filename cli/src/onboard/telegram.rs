//! The Telegram step: the bot token (to `.env`) and who may message the bot.

use serde_json::json;

use super::prompter::Prompter;
use super::{Args, Files, Plan, Stop};
use crate::target::exit;

/// The DM policies `channels.telegram.dmPolicy` takes.
const POLICIES: [&str; 4] = ["pairing", "allowlist", "open", "disabled"];

/// Asks for a bot and its DM policy and records them in `plan`.
pub(super) fn choose(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    let existing = files.existing("TELEGRAM_BOT_TOKEN");
    let question = "Telegram bot token from @BotFather";
    let mut token = match &args.telegram_token {
        Some(token) => Some(token.clone()),
        None => ask.secret(question, existing.is_some())?,
    };
    while let Some(problem) = token.as_deref().and_then(token_problem) {
        if !ask.interactive {
            return Err(Stop::new(
                exit::USAGE,
                format!("--telegram-token: {problem}"),
            ));
        }
        println!("  {problem}; try again, or Enter to skip");
        token = ask.secret(question, existing.is_some())?;
    }
    if let Some(token) = &token {
        plan.env("TELEGRAM_BOT_TOKEN", token);
    }
    if token.is_none() && !(existing.is_some() && files.config.contains("telegram")) {
        return Ok(());
    }
    let policy = loop {
        let policy = match &args.dm_policy {
            Some(policy) => policy.clone(),
            None => ask.ask(
                "Who may message the bot: pairing (a code you approve), allowlist, open, disabled",
                "pairing",
            )?,
        };
        if POLICIES.contains(&policy.as_str()) {
            break policy;
        }
        let problem = format!("dm policy {policy:?} is not one of {}", POLICIES.join(", "));
        if !ask.interactive || args.dm_policy.is_some() {
            return Err(Stop::new(exit::USAGE, problem));
        }
        println!("  {problem}");
    };
    let mut allow = args.allow_from.clone();
    if policy == "allowlist" && allow.is_empty() {
        allow = ask
            .ask("Telegram user ids or @names allowed (comma separated)", "")?
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if policy == "open" {
        allow = vec!["*".to_owned()];
    }
    // The whole object: an allowFrom left from an earlier policy must not outlive it.
    let mut telegram =
        json!({ "enabled": true, "botToken": "${TELEGRAM_BOT_TOKEN}", "dmPolicy": policy });
    if !allow.is_empty() {
        telegram["allowFrom"] = json!(allow);
    }
    plan.set("channels.telegram", telegram);
    Ok(())
}

/// What is wrong with a bot token's form (`<bot id>:<secret>`), if anything.
fn token_problem(token: &str) -> Option<String> {
    let well_formed = token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.chars().all(|c| c.is_ascii_digit())
            && !secret.is_empty()
            && secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    });
    (!well_formed).then(|| {
        "that is not a bot token: @BotFather's look like 123456789:AAE..., digits, a colon, then letters".to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_tokens_have_an_id_and_a_secret() {
        assert!(token_problem("123456789:AAEbcd-ef_GH").is_none());
        for bad in ["abc", "123:", ":abc", "12a:abc", "123:a b"] {
            assert!(token_problem(bad).is_some(), "{bad}");
        }
    }
}
