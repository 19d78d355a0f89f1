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
    let token = args
        .telegram_token
        .clone()
        .or_else(|| ask.secret("Telegram bot token from @BotFather", existing.is_some()));
    if let Some(token) = &token {
        plan.env("TELEGRAM_BOT_TOKEN", token);
    }
    if token.is_none() && !(existing.is_some() && files.config.contains("telegram")) {
        return Ok(());
    }
    let policy = args.dm_policy.clone().unwrap_or_else(|| {
        ask.ask(
            "Who may message the bot: pairing (a code you approve), allowlist, open, disabled",
            "pairing",
        )
    });
    if !POLICIES.contains(&policy.as_str()) {
        return Err(Stop::new(
            exit::USAGE,
            format!("dm policy {policy:?} is not one of {}", POLICIES.join(", ")),
        ));
    }
    let mut allow = args.allow_from.clone();
    if policy == "allowlist" && allow.is_empty() {
        allow = ask
            .ask("Telegram user ids or @names allowed (comma separated)", "")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
    }
    if policy == "open" {
        allow = vec!["*".to_owned()];
    }
    let mut telegram =
        json!({ "enabled": true, "botToken": "${TELEGRAM_BOT_TOKEN}", "dmPolicy": policy });
    if !allow.is_empty() {
        telegram["allowFrom"] = json!(allow);
    }
    plan.set("channels.telegram", telegram);
    Ok(())
}
