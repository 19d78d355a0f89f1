//! Discord: bots on the gateway (WebSocket) and REST v10, hand-written over the workspace's
//! WebSocket and HTTP clients; an adapter over [`crate::channel`].
//!
//! - [`rest`]: the REST calls (identity, gateway URL, messages with an enforced nonce, typing).
//! - [`gateway`]: one connection: identify or resume, heartbeats, the zombie watchdog, close codes.
//! - [`event`]: a `MESSAGE_CREATE` as the channel core's message; threads and the bot's roles.
//! - [`account`]: one bot: its token checked, its gateway lease, dispatches handled in order.
//! - [`outbound`]: Discord's way to send for the channel core.

pub mod account;
pub mod event;
pub mod gateway;
pub mod outbound;
pub mod rest;

use std::collections::HashMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::channel::Context;
use crate::channel::access::Rules;
use crate::channel::health::AccountHealth;
use crate::channel::typing::Typing;

/// Runs every Discord bot of `config` until `shutdown`: one gateway connection per bot, one
/// sender for all.
pub async fn run(context: Context, config: pincer_config::Discord, shutdown: CancellationToken) {
    let state = &context.stores.state;
    let mut senders = HashMap::new();
    let mut bots = Vec::new();
    for (name, settings) in config.resolved_accounts(context.env_tokens.discord.as_ref()) {
        let Some(token) = settings.token.clone() else {
            continue;
        };
        let rest = match rest::Rest::new(&settings.api_base(), token.expose()) {
            Ok(rest) => rest,
            Err(error) => {
                tracing::error!(account = %name, %error, "cannot build the discord client");
                continue;
            }
        };
        let typing = Typing::new(rest.clone());
        senders.insert(
            name.clone(),
            outbound::Account {
                rest: rest.clone(),
                typing: typing.clone(),
                chunk_limit: outbound::chunk_limit(settings.text_chunk_limit),
            },
        );
        // Seen markers matter here: Discord replays after a resume.
        let ingest = context.ingest(
            ("discord", "dc"),
            &name,
            Rules::discord(&settings),
            settings.media_max_mb.unwrap_or(25),
            account::Discord { rest, typing },
        );
        let health = AccountHealth::new(state.clone(), "discord", &name);
        bots.push(tokio::spawn(account::run(
            ingest,
            token.expose().to_owned(),
            state.clone(),
            context.holder(&name),
            health,
            shutdown.clone(),
        )));
    }
    // Sends are idempotent by nonce: a dead sender's claim can be taken over soon.
    context
        .send_until("discord", senders, Duration::from_secs(30), bots, shutdown)
        .await;
}
