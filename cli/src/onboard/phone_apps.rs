//! The WhatsApp, Signal and iMessage steps. WhatsApp's access token goes to `.env` for the
//! channel-bridge, its app secret and a generated verify token for the gateway (which checks
//! Meta's calls); Signal needs only where its signal-cli daemon listens and the number; the
//! BlueBubbles password goes to both (the bridge calls the Mac, the gateway checks its webhooks).
//! Each DM sender pairs with a code first.

use serde_json::json;

use super::prompter::Prompter;
use super::{Args, Files, Plan, Stop};
use crate::target::exit;

/// Asks for a WhatsApp Cloud API number and records it in `plan`.
pub(super) fn whatsapp(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    let id = answer(
        ask,
        args.whatsapp_phone_number_id.as_deref(),
        "--whatsapp-phone-number-id",
        "WhatsApp Cloud API phone number id (Meta app > WhatsApp > API Setup; Enter skips)",
        "",
        |id| {
            (!id.chars().all(|c| c.is_ascii_digit()))
                .then(|| "the phone number id is digits (not the phone number itself)".to_owned())
        },
    )?;
    if id.is_empty() {
        return Ok(());
    }
    let token = secret(
        ask,
        args.whatsapp_access_token.clone(),
        "--whatsapp-access-token",
        "WhatsApp access token (a system user's permanent token)",
        files.existing("WHATSAPP_ACCESS_TOKEN").is_some(),
    )?;
    let app_secret = secret(
        ask,
        args.whatsapp_app_secret.clone(),
        "--whatsapp-app-secret",
        "Meta app secret (App settings > Basic), which signs the webhook calls",
        files.existing("WHATSAPP_APP_SECRET").is_some(),
    )?;
    keep(plan, "WHATSAPP_ACCESS_TOKEN", token);
    keep(plan, "WHATSAPP_APP_SECRET", app_secret);
    if files.existing("WHATSAPP_VERIFY_TOKEN").is_none() {
        plan.env("WHATSAPP_VERIFY_TOKEN", &crate::secrets::random_token());
    }
    plan.set(
        "channels.whatsapp",
        json!({ "enabled": true, "transport": "cloud", "phoneNumberId": id,
                "accessToken": "${WHATSAPP_ACCESS_TOKEN}", "appSecret": "${WHATSAPP_APP_SECRET}",
                "verifyToken": "${WHATSAPP_VERIFY_TOKEN}", "dmPolicy": "pairing" }),
    );
    println!(
        "  In Meta's app dashboard, set the webhook to https://<your public host>/whatsapp-webhook/default with the verify token in .env (WHATSAPP_VERIFY_TOKEN), and subscribe to \"messages\"."
    );
    Ok(())
}

/// Asks for a Signal number served by a signal-cli daemon.
pub(super) fn signal(args: &Args, ask: &mut Prompter, plan: &mut Plan) -> Result<(), Stop> {
    let number = answer(
        ask,
        args.signal_account.as_deref(),
        "--signal-account",
        "Signal number registered in signal-cli, e.g. +15551234567 (Enter skips)",
        "",
        |number| {
            let digits = number.strip_prefix('+').unwrap_or_default();
            (digits.len() < 7 || !digits.chars().all(|c| c.is_ascii_digit()))
                .then(|| "the number in international form: + and digits (+15551234567)".to_owned())
        },
    )?;
    if number.is_empty() {
        return Ok(());
    }
    let url = answer(
        ask,
        args.signal_http_url.as_deref(),
        "--signal-http-url",
        "signal-cli daemon HTTP address",
        pincer_config::DEFAULT_SIGNAL_HTTP_URL,
        not_a_url,
    )?;
    plan.set(
        "channels.signal",
        json!({ "enabled": true, "account": number, "httpUrl": url, "dmPolicy": "pairing" }),
    );
    println!(
        "  Run the daemon beside the stack: signal-cli -a {number} daemon --http 0.0.0.0:8080 --receive-mode=on-connection"
    );
    Ok(())
}

/// Asks for a BlueBubbles server (iMessage from a Mac).
pub(super) fn bluebubbles(
    args: &Args,
    ask: &mut Prompter,
    files: &Files,
    plan: &mut Plan,
) -> Result<(), Stop> {
    let url = answer(
        ask,
        args.bluebubbles_url.as_deref(),
        "--bluebubbles-url",
        "BlueBubbles server URL for iMessage, e.g. http://mac.local:1234 (Enter skips)",
        "",
        not_a_url,
    )?;
    if url.is_empty() {
        return Ok(());
    }
    let password = secret(
        ask,
        args.bluebubbles_password.clone(),
        "--bluebubbles-password",
        "BlueBubbles server password",
        files.existing("BLUEBUBBLES_PASSWORD").is_some(),
    )?;
    keep(plan, "BLUEBUBBLES_PASSWORD", password);
    plan.set(
        "channels.bluebubbles",
        json!({ "enabled": true, "serverUrl": url, "password": "${BLUEBUBBLES_PASSWORD}",
                "dmPolicy": "pairing" }),
    );
    println!(
        "  In BlueBubbles > API & Webhooks, add a webhook to https://<this host>/bluebubbles-webhook/default?password=<the password>, for new and updated messages."
    );
    Ok(())
}

/// A value from its flag, or asked (Enter takes `default`); asked again while `problem` finds
/// one in a non-empty answer (a flag's problem stops onboarding).
fn answer(
    ask: &mut Prompter,
    flag_value: Option<&str>,
    flag: &str,
    question: &str,
    default: &str,
    problem: impl Fn(&str) -> Option<String>,
) -> Result<String, Stop> {
    loop {
        let value = match flag_value {
            Some(value) => value.trim().to_owned(),
            None => ask.ask(question, default)?,
        };
        let Some(why) = Some(value.as_str())
            .filter(|v| !v.is_empty())
            .and_then(&problem)
        else {
            return Ok(value);
        };
        if flag_value.is_some() || !ask.interactive {
            return Err(Stop::new(exit::USAGE, format!("{flag}: {why}")));
        }
        println!("  {why}; try again, or Enter to skip");
    }
}

fn not_a_url(value: &str) -> Option<String> {
    let url = reqwest::Url::parse(value).ok();
    (!url.is_some_and(|u| matches!(u.scheme(), "http" | "https")))
        .then(|| format!("{value:?} is not an http(s) URL"))
}

/// A secret from its flag, or asked; required once the channel was chosen unless `.env` has it
/// already (`None`: keep that one).
fn secret(
    ask: &mut Prompter,
    flag_value: Option<String>,
    flag: &str,
    question: &str,
    existing: bool,
) -> Result<Option<String>, Stop> {
    let value = match flag_value {
        Some(value) => Some(value),
        None if ask.interactive => ask.secret(question, existing)?,
        None => None,
    };
    match value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        Some(value) if !value.contains(char::is_whitespace) => Ok(Some(value)),
        Some(_) => Err(Stop::new(exit::USAGE, format!("{flag}: it holds spaces"))),
        None if existing => Ok(None),
        None => Err(Stop::new(
            exit::USAGE,
            format!("{flag} is needed for this channel"),
        )),
    }
}

/// Records `value` under `name` in `.env` (when a new one was given).
fn keep(plan: &mut Plan, name: &str, value: Option<String>) {
    if let Some(value) = value {
        plan.env(name, &value);
    }
}
