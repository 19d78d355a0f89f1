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
    let id = match &args.whatsapp_phone_number_id {
        Some(id) => id.trim().to_owned(),
        None => ask.ask(
            "WhatsApp Cloud API phone number id (Meta app > WhatsApp > API Setup; Enter skips)",
            "",
        )?,
    };
    if id.is_empty() {
        return Ok(());
    }
    if !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Stop::new(
            exit::USAGE,
            "--whatsapp-phone-number-id: the phone number id is digits (not the phone number itself)",
        ));
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
    let number = match &args.signal_account {
        Some(number) => number.trim().to_owned(),
        None => ask.ask(
            "Signal number registered in signal-cli, e.g. +15551234567 (Enter skips)",
            "",
        )?,
    };
    if number.is_empty() {
        return Ok(());
    }
    if !number.starts_with('+')
        || number.len() < 8
        || !number[1..].chars().all(|c| c.is_ascii_digit())
    {
        return Err(Stop::new(
            exit::USAGE,
            "--signal-account: the number in international form, + and digits (+15551234567)",
        ));
    }
    let url = match &args.signal_http_url {
        Some(url) => url.trim().to_owned(),
        None => ask.ask(
            "signal-cli daemon HTTP address",
            pincer_config::DEFAULT_SIGNAL_HTTP_URL,
        )?,
    };
    if reqwest::Url::parse(&url).is_err() {
        return Err(Stop::new(
            exit::USAGE,
            format!("--signal-http-url: {url:?} is not a URL"),
        ));
    }
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
    let url = match &args.bluebubbles_url {
        Some(url) => url.trim().to_owned(),
        None => ask.ask(
            "BlueBubbles server URL for iMessage, e.g. http://mac.local:1234 (Enter skips)",
            "",
        )?,
    };
    if url.is_empty() {
        return Ok(());
    }
    if reqwest::Url::parse(&url).is_err() {
        return Err(Stop::new(
            exit::USAGE,
            format!("--bluebubbles-url: {url:?} is not a URL"),
        ));
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
