//! Discord bots and Slack apps (WhatsApp, Signal and iMessage in `phone_channels.rs`): with the stack up, as the channel-bridge reports each account's
//! connection (through the gateway's `channels.status`, so a refused token or an intent Discord
//! did not grant shows with the bridge's own words); with it down, asked from this machine
//! (Discord `users/@me` and the application's Message Content flag, Slack `auth.test` and, for
//! Socket Mode, the app-level token with `apps.connections.open`).

use std::time::Duration;

use pincer_control_client::ControlClient;
use serde_json::{Value, json};

use super::{Check, State, check};
use crate::sources::Sources;

/// Discord's application flags for the Message Content intent (granted, or limited under 100
/// servers): without one, the gateway refuses the bot with 4014.
const MESSAGE_CONTENT_FLAGS: u64 = (1 << 18) | (1 << 19);

/// Patience for one request.
const TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn channel_checks(
    config: &pincer_config::Config,
    sources: &Sources,
    client: Option<&mut ControlClient>,
    gateway: Option<&str>,
    out: &mut Vec<Check>,
) {
    let discord = config.channels.discord.as_ref().filter(|d| d.enabled);
    let slack = config.channels.slack.as_ref().filter(|s| s.enabled);
    if discord.is_none() && slack.is_none() && !super::phone_channels::any(config) {
        return;
    }
    let Some(http) = http() else { return };
    if let Some(client) = client
        && let Ok(status) = client.call("channels.status", json!({})).await
    {
        for account in status["channels"].as_array().into_iter().flatten() {
            if account["channel"] != "telegram" {
                out.push(from_bridge(account));
            }
        }
        if let Some(gateway) = gateway {
            super::phone_channels::webhook_checks(config, gateway, &http, out).await;
        }
        return;
    }
    super::phone_channels::direct_checks(config, &http, out).await;
    let secret = |name: &str| sources.lookup(name).map(pincer_config::Secret::new);
    if let Some(discord) = discord {
        for (name, account) in discord.resolved_accounts(secret("DISCORD_BOT_TOKEN").as_ref()) {
            let Some(token) = &account.token else {
                continue;
            };
            out.push(discord_check(&http, &name, &account.api_base(), token.expose()).await);
        }
    }
    if let Some(slack) = slack {
        let env = pincer_config::SlackEnvTokens {
            bot: secret("SLACK_BOT_TOKEN"),
            app: secret("SLACK_APP_TOKEN"),
        };
        for (name, account) in slack.resolved_accounts(&env) {
            out.push(slack_check(&http, &name, &account).await);
        }
    }
}

fn http() -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()
}

/// An account as the bridge sees it.
fn from_bridge(account: &Value) -> Check {
    let name = format!(
        "{} {}",
        account["channel"].as_str().unwrap_or("?"),
        account["account"].as_str().unwrap_or("?")
    );
    let connection = &account["connection"];
    let detail = connection["detail"].as_str().unwrap_or("");
    let bot = connection["bot"]
        .as_str()
        .map(|b| format!(" as {b}"))
        .unwrap_or_default();
    match connection["state"].as_str().unwrap_or("unknown") {
        "connected" => check(name, State::Ok, format!("connected{bot} ({detail})"), ""),
        "failed" => check(
            name,
            State::Fail,
            detail.to_owned(),
            "fix what it says, then `pincer gateway restart channel-bridge`",
        ),
        "unknown" => check(
            name,
            State::Warn,
            "the channel-bridge has not reported this account yet",
            "pincer gateway logs channel-bridge",
        ),
        state => check(
            name,
            State::Warn,
            format!("{state}{bot}: {detail}"),
            "pincer gateway logs channel-bridge",
        ),
    }
}

async fn get(http: &reqwest::Client, url: &str, auth: &str) -> Result<(u16, Value), String> {
    let response = http
        .get(url)
        .header(reqwest::header::AUTHORIZATION, auth)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

async fn discord_check(http: &reqwest::Client, name: &str, base: &str, token: &str) -> Check {
    let name = format!("discord {name}");
    let auth = format!("Bot {}", token.trim().trim_start_matches("Bot "));
    match get(http, &format!("{base}/users/@me"), &auth).await {
        Err(why) => {
            return check(
                name,
                State::Skip,
                format!("Discord not reachable from here: {why}"),
                "",
            );
        }
        Ok((401, _)) => {
            return check(
                name,
                State::Fail,
                "Discord refused the bot token (401)",
                "reset the token in the developer portal and set channels.discord.token (DISCORD_BOT_TOKEN)",
            );
        }
        Ok((status, _)) if !(200..300).contains(&status) => {
            return check(
                name,
                State::Warn,
                format!("users/@me answered HTTP {status}"),
                "",
            );
        }
        Ok(_) => {}
    }
    match get(http, &format!("{base}/applications/@me"), &auth).await {
        Ok((200, app)) => {
            let flags = app["flags"].as_u64().unwrap_or(0);
            if flags & MESSAGE_CONTENT_FLAGS == 0 {
                check(
                    name,
                    State::Fail,
                    "the Message Content intent is not enabled: Discord would refuse the bot (4014)",
                    "developer portal > Bot > Privileged Gateway Intents > Message Content Intent",
                )
            } else {
                check(
                    name,
                    State::Ok,
                    "token accepted, Message Content intent enabled",
                    "",
                )
            }
        }
        _ => check(name, State::Ok, "token accepted (intents not checked)", ""),
    }
}

async fn slack_call(http: &reqwest::Client, url: &str, token: &str) -> Result<Value, String> {
    let response = http
        .post(url)
        .header(
            reqwest::header::AUTHORIZATION,
            format!("Bearer {}", token.trim()),
        )
        .json(&json!({}))
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    response.json().await.map_err(|e| e.to_string())
}

async fn slack_check(http: &reqwest::Client, name: &str, app: &pincer_config::Slack) -> Check {
    let name = format!("slack {name}");
    let base = app.api_base();
    let Some(bot) = app.bot_token.as_ref() else {
        return check(
            name,
            State::Fail,
            "no bot token",
            "set channels.slack.botToken (SLACK_BOT_TOKEN)",
        );
    };
    let identity = match slack_call(http, &format!("{base}/auth.test"), bot.expose()).await {
        Err(why) => {
            return check(
                name,
                State::Skip,
                format!("Slack not reachable from here: {why}"),
                "",
            );
        }
        Ok(answer) if answer["ok"] != true => {
            return check(
                name,
                State::Fail,
                format!(
                    "Slack refused the bot token ({})",
                    answer["error"].as_str().unwrap_or("?")
                ),
                "reinstall the app and set channels.slack.botToken (SLACK_BOT_TOKEN, xoxb-...)",
            );
        }
        Ok(answer) => answer["user"].as_str().unwrap_or("?").to_owned(),
    };
    if app.mode() == pincer_config::SlackMode::Http {
        return check(
            name,
            State::Ok,
            format!(
                "bot {identity}; events come through the gateway's {}",
                app.webhook_path()
            ),
            "",
        );
    }
    let Some(app_token) = app.app_token.as_ref() else {
        return check(
            name,
            State::Fail,
            "Socket Mode needs the app-level token",
            "set channels.slack.appToken (SLACK_APP_TOKEN, xapp-...)",
        );
    };
    match slack_call(
        http,
        &format!("{base}/apps.connections.open"),
        app_token.expose(),
    )
    .await
    {
        Ok(answer) if answer["ok"] == true => check(
            name,
            State::Ok,
            format!("bot {identity}; Socket Mode token accepted"),
            "",
        ),
        Ok(answer) => check(
            name,
            State::Fail,
            format!(
                "Slack refused the app-level token ({})",
                answer["error"].as_str().unwrap_or("?")
            ),
            "create an app-level token with connections:write and enable Socket Mode",
        ),
        Err(why) => check(
            name,
            State::Skip,
            format!("Slack not reachable from here: {why}"),
            "",
        ),
    }
}
