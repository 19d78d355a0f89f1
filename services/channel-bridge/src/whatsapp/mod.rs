//! WhatsApp through Meta's Cloud API: notifications come through the gateway's webhook
//! (`/whatsapp-webhook/<account>`, signature checked there) and JetStream; replies go out through
//! the Graph API. An adapter over [`crate::channel`].
//!
//! - [`graph`]: the Graph API calls (number info, text to a person or group, read + typing,
//!   media) with Meta's error codes typed.
//! - [`notification`]: a webhook body as messages and statuses.
//! - [`window`]: the 24-hour customer service window and delivery statuses, in channel state.
//! - [`account`]: one number: its token checked, its notifications consumed.
//! - [`outbound`]: WhatsApp's way to send for the channel core.

pub mod account;
pub mod graph;
pub mod notification;
pub mod outbound;
pub mod window;

use std::collections::HashMap;
use std::time::Duration;

use pincer_config::WhatsApp;
use tokio_util::sync::CancellationToken;

use crate::channel::access::{Addressed, Rules};
use crate::channel::context::Context;
use crate::channel::health::AccountHealth;

/// Checks an enabled `channels.whatsapp` has what the bridge needs (the gateway checks the
/// webhook secrets it needs itself).
pub fn validate(config: &WhatsApp) -> Result<(), String> {
    let accounts = config.resolved_accounts();
    if accounts.is_empty() {
        return Err(
            "channels.whatsapp is enabled but has no number: set channels.whatsapp.phoneNumberId (Pincer speaks Meta's Cloud API; WhatsApp Web linking is not supported)"
                .to_owned(),
        );
    }
    for (account, settings) in &accounts {
        if settings
            .access_token
            .as_ref()
            .is_none_or(pincer_config::Secret::is_empty)
        {
            return Err(format!(
                "channels.whatsapp ({account}) has no accessToken: set it (e.g. \"${{WHATSAPP_ACCESS_TOKEN}}\")"
            ));
        }
        crate::open_needs_star(
            "whatsapp",
            account,
            settings.dm_policy(),
            &settings.allow_from,
        )
        .map_err(|error| error.to_string())?;
    }
    Ok(())
}

/// Runs every number of `config` until `shutdown`, and one sender for all.
pub async fn run(context: Context, config: WhatsApp, shutdown: CancellationToken) {
    let state = &context.stores.state;
    let mut senders = HashMap::new();
    let mut numbers = Vec::new();
    for (name, settings) in config.resolved_accounts() {
        let (Some(token), Some(phone_number_id)) = (
            settings.access_token.clone(),
            settings.phone_number_id.clone(),
        ) else {
            continue;
        };
        let graph = match graph::Graph::new(&settings.api_base(), &phone_number_id, token.expose())
        {
            Ok(graph) => graph,
            Err(error) => {
                tracing::error!(account = %name, %error, "cannot build the whatsapp client");
                continue;
            }
        };
        let windows = window::Windows::new(state.clone(), &name);
        senders.insert(
            name.clone(),
            outbound::Account {
                graph: graph.clone(),
                windows: windows.clone(),
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
        // Seen markers matter here: Meta retries a notification for days.
        let ingest = context.ingest(
            ("whatsapp", "wa"),
            &name,
            rules,
            settings.media_max_mb.unwrap_or(20),
            account::WhatsApp { graph },
        );
        let health = AccountHealth::new(state.clone(), "whatsapp", &name);
        numbers.push(tokio::spawn(account::run(
            ingest,
            phone_number_id,
            windows,
            health,
            shutdown.clone(),
        )));
    }
    // No idempotent send and no way to look a sent message up: a claim is taken over only once
    // its sender is surely gone.
    context
        .send_until(
            "whatsapp",
            senders,
            Duration::from_secs(120),
            numbers,
            shutdown,
        )
        .await;
}
