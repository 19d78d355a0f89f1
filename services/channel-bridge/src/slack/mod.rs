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

use crate::channel::Context;
use crate::channel::access::Rules;
use crate::channel::health::AccountHealth;

/// Runs every Slack app of `config` until `shutdown`, and one sender for all.
pub async fn run(context: Context, config: pincer_config::Slack, shutdown: CancellationToken) {
    let state = &context.stores.state;
    let mut senders = HashMap::new();
    let mut apps = Vec::new();
    for (name, settings) in config.resolved_accounts(&context.env_tokens.slack) {
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
        let mut ingest = context.ingest(
            ("slack", "sl"),
            &name,
            Rules::slack(&settings),
            20,
            account::Slack {
                web,
                state: state.clone(),
                account: name.clone(),
            },
        );
        // The placeholder shows the answer as it is written.
        ingest.streaming = true;
        let setup = account::AppSetup {
            socket_mode: settings.mode() == SlackMode::Socket,
            start_threads: matches!(
                settings.reply_to_mode,
                Some(ReplyToMode::First | ReplyToMode::All)
            ),
            holder: context.holder(&name),
        };
        let health = AccountHealth::new(state.clone(), "slack", &name);
        apps.push(tokio::spawn(account::run(
            ingest,
            setup,
            health,
            shutdown.clone(),
        )));
    }
    // A dead sender's chunk is looked up in the conversation before it is posted again.
    context
        .send_until("slack", senders, Duration::from_secs(30), apps, shutdown)
        .await;
}
