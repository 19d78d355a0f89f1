//! One bot account: learn who the bot is (retrying while Telegram is unreachable), then poll.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use pincer_bus::Namespace;
use tokio_util::sync::CancellationToken;

use super::client::BotApi;
use super::ingest::{Ingest, Telegram};
use super::poller;
use crate::channel::access::Rules;
use crate::channel::health::AccountHealth;
use crate::channel::ingest;
use crate::channel::typing::Typing;

/// What an account's polling side needs.
pub struct AccountSetup {
    /// Account name (`default` for the top-level bot).
    pub name: String,
    /// Its effective settings.
    pub config: pincer_config::Telegram,
    /// Its client.
    pub api: BotApi,
    /// Its typing indicators.
    pub typing: Typing<BotApi>,
    /// `session.dmScope: main`.
    pub shared_dm_session: bool,
    /// `bindings`.
    pub bindings: Vec<pincer_config::Binding>,
    /// This replica's stable identity (lease holder name).
    pub instance: String,
    /// The bridge's metrics.
    pub metrics: crate::metrics::Metrics,
}

/// Runs the account's poller until `shutdown`.
pub async fn run(
    setup: AccountSetup,
    js: jetstream::Context,
    ns: Namespace,
    state: kv::Store,
    pairing: kv::Store,
    media: jetstream::object_store::ObjectStore,
    shutdown: CancellationToken,
) {
    let health = AccountHealth::new(state.clone(), "telegram", &setup.name);
    health.connecting("getMe").await;
    let mut delay = Duration::from_secs(1);
    let (bot_id, username) = loop {
        match setup.api.get_me().await {
            Ok(me) => break me,
            Err(super::client::ApiError::Unauthorized) => {
                health
                    .failed("the bot token was refused (401): check channels.telegram.botToken")
                    .await;
                return;
            }
            Err(error) => {
                tracing::warn!(account = %setup.name, %error, "telegram getMe failed, retrying");
                health.retrying(&error.to_string()).await;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    };
    tracing::info!(account = %setup.name, bot = %username, "telegram bot ready");
    health.connected(&username, "").await;
    let ingest = Ingest {
        core: ingest::Ingest {
            js,
            ns,
            channel: "telegram",
            tag: "tg",
            account: setup.name.clone(),
            rules: Rules::telegram(&setup.config),
            pairing: pincer_store::pairing::Pairing::new(pairing, "telegram", &setup.name),
            shared_dm_session: setup.shared_dm_session,
            bindings: setup.bindings,
            media_max_bytes: u64::from(setup.config.media_max_mb.unwrap_or(20)) * 1024 * 1024,
            media,
            streaming: setup.config.streaming.unwrap_or(false),
            seen: None,
            metrics: setup.metrics.clone(),
            platform: Telegram {
                api: setup.api.clone(),
                typing: setup.typing,
                state: state.clone(),
                account: setup.name.clone(),
                streaming: setup.config.streaming.unwrap_or(false),
            },
        },
        bot_id,
        bot_username: username,
    };
    match (
        setup.config.webhook_url.as_deref(),
        setup.config.webhook_secret.as_ref(),
    ) {
        (Some(url), Some(secret)) if !url.is_empty() => {
            super::webhook::run(&setup.api, url, secret, ingest, &shutdown).await;
        }
        _ => {
            // The replica's stable identity: restarted, it takes its own lease back at once.
            let holder = format!("{}/{}", setup.instance, super::key_token(&setup.name));
            poller::run(setup.api, ingest, state, holder, shutdown).await;
        }
    }
}
