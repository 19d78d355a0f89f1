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

use crate::channel::access::Rules;
use crate::channel::health::AccountHealth;
use crate::channel::typing::Typing;
use crate::channel::{ingest, key_token, outbound as core_outbound};

/// Runs every Discord bot of `config` until `shutdown`: one gateway connection per bot, one
/// sender for all.
pub async fn run(
    js: async_nats::jetstream::Context,
    bridge: crate::Config,
    config: pincer_config::Discord,
    stores: crate::channel::Stores,
    shutdown: CancellationToken,
) {
    let ns = bridge.namespace.clone();
    let crate::channel::Stores {
        state,
        pairing,
        media,
    } = stores;
    let mut senders = HashMap::new();
    let mut bots = Vec::new();
    for (name, settings) in config.resolved_accounts(bridge.env_tokens.discord.as_ref()) {
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
        let ingest = ingest::Ingest {
            js: js.clone(),
            ns: ns.clone(),
            channel: "discord",
            tag: "dc",
            account: name.clone(),
            rules: Rules::discord(&settings),
            pairing: pincer_store::pairing::Pairing::new(pairing.clone(), "discord", &name),
            shared_dm_session: bridge.dm_scope.as_deref() == Some("main"),
            bindings: bridge.bindings.clone(),
            media_max_bytes: u64::from(settings.media_max_mb.unwrap_or(25)) * 1024 * 1024,
            media: media.clone(),
            streaming: false,
            seen: Some(state.clone()),
            platform: account::Discord { rest, typing },
        };
        let health = AccountHealth::new(state.clone(), "discord", &name);
        let holder = format!("{}/{}", bridge.instance, key_token(&name));
        bots.push(tokio::spawn(account::run(
            ingest,
            token.expose().to_owned(),
            state.clone(),
            holder,
            health,
            shutdown.clone(),
        )));
    }
    let sender = core_outbound::Sender {
        channel: "discord",
        accounts: senders,
        state,
        // Sends are idempotent by nonce: a dead sender's claim can be taken over soon.
        stale_claim: Duration::from_secs(30),
    };
    if let Err(error) = sender.run(js, ns, &bridge.instance, shutdown.clone()).await {
        tracing::error!(%error, "discord sending stopped");
    }
    for bot in bots {
        let _ = bot.await;
    }
}
