//! Each Telegram bot as Telegram sees it (`getWebhookInfo`), against the mode the config asks
//! for: a webhook left at Telegram stops long polling (409), a webhook at another URL sends the
//! updates elsewhere, and Telegram's last delivery error says why a webhook gets nothing.
//!
//! The channel-bridge mends the first two when it starts (`deleteWebhook` before polling,
//! `setWebhook` in webhook mode), so with the stack down they are warnings; with it running they
//! mean the bridge could not.

use std::time::Duration;

use serde_json::Value;

use super::{Check, State, check};
use crate::sources::Sources;

/// Telegram's Bot API.
const DEFAULT_API_ROOT: &str = "https://api.telegram.org";
/// Patience for one call.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Updates waiting at Telegram beyond which someone should look.
const PENDING_WARNING: u64 = 100;

/// One check per bot with a token.
pub(super) async fn webhook_checks(
    config: &pincer_config::Config,
    sources: &Sources,
    stack_running: bool,
    out: &mut Vec<Check>,
) {
    let Some(telegram) = config.channels.telegram.as_ref().filter(|t| t.enabled) else {
        return;
    };
    let Ok(http) = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    else {
        return;
    };
    let api_root = telegram
        .api_root
        .clone()
        .unwrap_or_else(|| DEFAULT_API_ROOT.to_owned());
    let env_token = sources
        .lookup("TELEGRAM_BOT_TOKEN")
        .map(pincer_config::Secret::new);
    for (name, account) in telegram.resolved_accounts(env_token.as_ref()) {
        let Some(token) = account.bot_token.as_ref().filter(|t| !t.is_empty()) else {
            continue;
        };
        let url = format!(
            "{}/bot{}/getWebhookInfo",
            api_root.trim_end_matches('/'),
            token.expose()
        );
        let configured = account
            .webhook_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let name = format!("telegram {name} at Telegram");
        let answer = match http.get(&url).send().await {
            Ok(response) => {
                let status = response.status();
                match response.json::<Value>().await {
                    Ok(body) if body["ok"] == true => Ok(body["result"].clone()),
                    Ok(body) => Err((
                        status.as_u16(),
                        body["description"].as_str().unwrap_or("").to_owned(),
                    )),
                    Err(error) => Err((status.as_u16(), error.to_string())),
                }
            }
            // The token is in the URL: never print reqwest's error, which names it.
            Err(error) if error.is_timeout() => Err((0, "no answer within 10s".to_owned())),
            Err(_) => Err((0, "cannot reach the Bot API from here".to_owned())),
        };
        out.push(match answer {
            Ok(info) => verdict(&name, &info, configured, stack_running),
            Err((401 | 404, _)) => check(
                name,
                State::Fail,
                "Telegram refuses the bot token",
                "check TELEGRAM_BOT_TOKEN (or the account's botToken) with @BotFather",
            ),
            Err((_, why)) => check(
                name,
                State::Skip,
                why,
                "check this machine's route to api.telegram.org",
            ),
        });
    }
}

/// The verdict on `getWebhookInfo`'s `result` for a bot configured with `configured` (a webhook
/// URL) or long polling (`None`).
pub(super) fn verdict(
    name: &str,
    info: &Value,
    configured: Option<&str>,
    stack_running: bool,
) -> Check {
    let at_telegram = info["url"].as_str().unwrap_or("").trim();
    let pending = info["pending_update_count"].as_u64().unwrap_or(0);
    let mismatch_state = if stack_running {
        State::Fail
    } else {
        State::Warn
    };
    match configured {
        None if !at_telegram.is_empty() => {
            return check(
                name,
                mismatch_state,
                format!(
                    "Telegram has a webhook set ({at_telegram}) but the config polls: getUpdates gets 409 while it is set"
                ),
                if stack_running {
                    "pincer gateway logs channel-bridge says why deleteWebhook failed; or set webhookUrl to use it"
                } else {
                    "the channel-bridge deletes it when it starts polling; set webhookUrl instead to keep it"
                },
            );
        }
        Some(wanted) if at_telegram != wanted => {
            return check(
                name,
                mismatch_state,
                format!(
                    "the config's webhookUrl is {wanted} but Telegram has {}",
                    if at_telegram.is_empty() {
                        "none"
                    } else {
                        at_telegram
                    }
                ),
                if stack_running {
                    "pincer gateway logs channel-bridge says why setWebhook failed"
                } else {
                    "the channel-bridge sets it when it starts"
                },
            );
        }
        _ => {}
    }
    if let Some(error) = info["last_error_message"]
        .as_str()
        .filter(|e| !e.is_empty())
    {
        return check(
            name,
            State::Warn,
            format!(
                "Telegram's last delivery to the webhook failed: {error} ({pending} update(s) waiting)"
            ),
            "the webhook URL must reach the gateway over https with a valid certificate; check the TLS proxy",
        );
    }
    if pending > PENDING_WARNING {
        return check(
            name,
            State::Warn,
            format!("{pending} updates wait at Telegram"),
            "start the stack (or look at pincer channels status): nobody is taking them",
        );
    }
    let mode = match configured {
        Some(url) => format!("webhook {url}"),
        None => "long polling, no webhook set".to_owned(),
    };
    check(
        name,
        State::Ok,
        format!("{mode}, {pending} update(s) waiting"),
        "",
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_webhook_left_at_telegram_stops_polling() {
        let info = json!({"url": "https://old.example/hook", "pending_update_count": 3});
        assert_eq!(verdict("t", &info, None, false).state, State::Warn);
        assert_eq!(verdict("t", &info, None, true).state, State::Fail);
        let none = json!({"url": "", "pending_update_count": 0});
        assert_eq!(verdict("t", &none, None, true).state, State::Ok);
    }

    #[test]
    fn a_webhook_elsewhere_or_failing_is_reported() {
        let wanted = Some("https://me.example/telegram-webhook/default");
        let elsewhere = json!({"url": "https://other.example/x", "pending_update_count": 0});
        assert_eq!(verdict("t", &elsewhere, wanted, true).state, State::Fail);
        let failing = json!({"url": wanted, "pending_update_count": 9,
            "last_error_date": 1, "last_error_message": "SSL error {error:0A000086:SSL routines::certificate verify failed}"});
        let check = verdict("t", &failing, wanted, true);
        assert_eq!(check.state, State::Warn);
        assert!(
            check.detail.contains("certificate verify failed"),
            "{}",
            check.detail
        );
        let fine = json!({"url": wanted, "pending_update_count": 0});
        assert_eq!(verdict("t", &fine, wanted, true).state, State::Ok);
        let backlog = json!({"url": "", "pending_update_count": 500});
        assert_eq!(verdict("t", &backlog, None, false).state, State::Warn);
    }
}
