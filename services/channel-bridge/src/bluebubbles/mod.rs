//! iMessage through a BlueBubbles server on the user's Mac: its webhooks come through the gateway
//! (`/bluebubbles-webhook/<account>`, password checked there) and JetStream, a catch-up query
//! covers what a webhook missed, and replies go out through its REST API. An adapter over
//! [`crate::channel`].
//!
//! - [`api`]: the REST calls (server info, text, attachments, typing, read marks, messages since).
//! - [`event`]: webhooks and message records as messages and receipts.
//! - [`records`]: the bot's messages with their receipts, and the catch-up cursor.
//! - [`account`]: one server: its password checked, webhooks and catch-up consumed.
//! - [`outbound`]: iMessage's way to send for the channel core.

pub mod account;
pub mod api;
pub mod event;
pub mod outbound;
pub mod records;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use pincer_config::BlueBubbles;
use tokio_util::sync::CancellationToken;

use crate::channel::access::{Addressed, Rules};
use crate::channel::context::Context;
use crate::channel::health::AccountHealth;

/// Checks an enabled `channels.bluebubbles` has what the bridge needs.
pub fn validate(config: &BlueBubbles) -> Result<(), String> {
    let accounts = config.resolved_accounts();
    if accounts.is_empty() {
        return Err(
            "channels.bluebubbles is enabled but has no serverUrl: set it to your BlueBubbles server (e.g. \"http://mac.local:1234\")"
                .to_owned(),
        );
    }
    for (account, settings) in &accounts {
        if reqwest::Url::parse(&settings.server_base()).is_err() {
            return Err(format!(
                "channels.bluebubbles ({account}): serverUrl {:?} is not a URL",
                settings.server_base()
            ));
        }
        if settings
            .password
            .as_ref()
            .is_none_or(pincer_config::Secret::is_empty)
        {
            return Err(format!(
                "channels.bluebubbles ({account}) has no password: set it (e.g. \"${{BLUEBUBBLES_PASSWORD}}\")"
            ));
        }
        crate::open_needs_star(
            "bluebubbles",
            account,
            settings.dm_policy(),
            &settings.allow_from,
        )
        .map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// Runs every server of `config` until `shutdown`, and one sender for all.
pub async fn run(context: Context, config: BlueBubbles, shutdown: CancellationToken) {
    let state = &context.stores.state;
    let mut senders = HashMap::new();
    let mut servers = Vec::new();
    for (name, settings) in config.resolved_accounts() {
        let Some(password) = settings.password.clone() else {
            continue;
        };
        let api = match api::Api::new(&settings.server_base(), password.expose()) {
            Ok(api) => api,
            Err(error) => {
                tracing::error!(account = %name, %error, "cannot build the bluebubbles client");
                continue;
            }
        };
        let private_api = Arc::new(AtomicBool::new(false));
        let records = records::Records::new(state.clone(), &name);
        senders.insert(
            name.clone(),
            outbound::Account {
                api: api.clone(),
                private_api: Arc::clone(&private_api),
                records: records.clone(),
                chunk_limit: outbound::chunk_limit(settings.text_chunk_limit),
            },
        );
        let rules = Rules::addressed(&Addressed {
            dm: settings.dm_policy(),
            allow_from: &settings.allow_from,
            group_policy: settings.group_policy,
            group_allow_from: &settings.group_allow_from,
            groups: &settings.groups,
            mention_patterns: &settings.mention_patterns,
        });
        // Seen markers matter here: a message comes both by webhook and by catch-up.
        let ingest = context.ingest(
            ("bluebubbles", "bb"),
            &name,
            rules,
            settings.media_max_mb.unwrap_or(20),
            account::BlueBubbles { api, private_api },
        );
        let health = AccountHealth::new(state.clone(), "bluebubbles", &name);
        servers.push(tokio::spawn(account::run(
            ingest,
            records,
            health,
            shutdown.clone(),
        )));
    }
    context
        .send_until(
            "bluebubbles",
            senders,
            Duration::from_secs(120),
            servers,
            shutdown,
        )
        .await;
}
