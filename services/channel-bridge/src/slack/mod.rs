//! Slack: apps over Socket Mode (default; no public URL needed) or the HTTP Events API through
//! the gateway, and the Web API; hand-written over the workspace's WebSocket and HTTP clients, an
//! adapter over [`crate::channel`].
//!
//! - [`web`]: the Web API calls (identity, Socket Mode URL, posting with a key in the metadata,
//!   updating, finding a reply posted before a crash, file downloads).
//! - [`socket`]: Socket Mode: ack after the message is durable, overlap on refresh, two sockets
//!   at most, pings and a silence watchdog.
//! - [`event`]: an `event_callback` as the channel core's message.
//! - [`account`]: one app: its token checked, Socket Mode under a lease or pushed events, the
//!   placeholder message while a turn runs.
//! - [`outbound`]: Slack's way to send for the channel core (mrkdwn, threads).

pub mod account;
pub mod event;
pub mod outbound;
pub mod socket;
pub mod web;

use std::collections::HashMap;
use std::time::Duration;

use pincer_config::{ReplyToMode, SlackMode};
use tokio_util::sync::CancellationToken;

use crate::channel::access::Rules;
use crate::channel::health::AccountHealth;
use crate::channel::{ingest, key_token, outbound as core_outbound};

/// Runs every Slack app of `config` until `shutdown`, and one sender for all.
pub async fn run(
    js: async_nats::jetstream::Context,
    bridge: crate::Config,
    config: pincer_config::Slack,
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
    let mut apps = Vec::new();
    for (name, settings) in config.resolved_accounts(&bridge.env_tokens.slack) {
        let Some(bot_token) = settings.bot_token.clone() else {
            continue;
        };
        let app_token = settings.app_token.as_ref().map(|t| t.expose().to_owned());
        let web = match web::Web::new(
            &settings.api_base(),
            bot_token.expose(),
            app_token.as_deref(),
        ) {
            Ok(web) => web,
            Err(error) => {
                tracing::error!(account = %name, %error, "cannot build the slack client");
                continue;
            }
        };
        senders.insert(
            name.clone(),
            outbound::Account {
                web: web.clone(),
                chunk_limit: outbound::chunk_limit(settings.text_chunk_limit),
            },
        );
        let ingest = ingest::Ingest {
            js: js.clone(),
            ns: ns.clone(),
            channel: "slack",
            tag: "sl",
            account: name.clone(),
            rules: Rules::slack(&settings),
            pairing: pincer_store::pairing::Pairing::new(pairing.clone(), "slack", &name),
            shared_dm_session: bridge.dm_scope.as_deref() == Some("main"),
            bindings: bridge.bindings.clone(),
            media_max_bytes: 20 * 1024 * 1024,
            media: media.clone(),
            // The placeholder shows the answer as it is written.
            streaming: true,
            seen: Some(state.clone()),
            platform: account::Slack {
                web,
                state: state.clone(),
                account: name.clone(),
            },
        };
        let setup = account::AppSetup {
            socket_mode: settings.mode() == SlackMode::Socket,
            start_threads: matches!(
                settings.reply_to_mode,
                Some(ReplyToMode::First | ReplyToMode::All)
            ),
            holder: format!("{}/{}", bridge.instance, key_token(&name)),
        };
        let health = AccountHealth::new(state.clone(), "slack", &name);
        apps.push(tokio::spawn(account::run(
            ingest,
            setup,
            health,
            shutdown.clone(),
        )));
    }
    let sender = core_outbound::Sender {
        channel: "slack",
        accounts: senders,
        state,
        // A dead sender's chunk is looked up in the conversation before it is posted again.
        stale_claim: Duration::from_secs(30),
    };
    if let Err(error) = sender.run(js, ns, &bridge.instance, shutdown.clone()).await {
        tracing::error!(%error, "slack sending stopped");
    }
    for app in apps {
        let _ = app.await;
    }
}
