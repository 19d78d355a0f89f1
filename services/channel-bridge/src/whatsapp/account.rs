//! One WhatsApp number: learn its display number (a refused token stops the account with a clear
//! error), then take its notifications off JetStream, where the gateway's webhook put them. Each
//! message person sends opens (or keeps open) the 24-hour window and goes to the channel core;
//! each status of a bot message is recorded. While a turn runs the message is marked read with a
//! typing indicator.

use std::time::Duration;

use pincer_bus::messages::TurnRequest;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::graph::{Graph, GraphError};
use super::notification::{self, Me};
use super::window::Windows;
use crate::channel::health::AccountHealth;
use crate::channel::inbound::{Inbound, MediaRef};
use crate::channel::ingest::{self, Platform};

/// What WhatsApp adds around a turn: media downloads and the typing indicator.
pub struct WhatsApp {
    /// The number's Graph API client.
    pub graph: Graph,
}

impl Platform for WhatsApp {
    type Watch = ();

    fn label(&self) -> &'static str {
        "WhatsApp"
    }

    async fn download(&self, media: &MediaRef, limit: u64) -> Result<Vec<u8>, String> {
        self.graph
            .download(&media.locator, limit)
            .await
            .map_err(|error| error.to_string())
    }

    async fn prepare(
        &self,
        _client: &async_nats::Client,
        _message: &Inbound,
        _turn: &TurnRequest,
    ) -> Self::Watch {
    }

    fn working(&self, message: &Inbound, _turn: &TurnRequest, (): Self::Watch) {
        // Blue ticks and "typing…" until the answer (WhatsApp drops it after 25 s by itself).
        let (graph, id) = (self.graph.clone(), message.message_id.clone());
        tokio::spawn(async move {
            if let Err(error) = graph.read_and_typing(&id).await {
                tracing::debug!(%error, "no typing indicator");
            }
        });
    }
}

/// Runs one number until `shutdown` or a refused token.
pub async fn run(
    ingest: ingest::Ingest<WhatsApp>,
    phone_number_id: String,
    windows: Windows,
    health: AccountHealth,
    shutdown: CancellationToken,
) {
    let graph = ingest.platform.graph.clone();
    health.connecting("phone number lookup").await;
    let info = loop {
        match graph.number_info().await {
            Ok(info) => break info,
            Err(GraphError::Auth(reason)) => {
                health
                    .failed(&format!(
                        "WhatsApp refused the access token ({reason}); check channels.whatsapp.accessToken"
                    ))
                    .await;
                return;
            }
            Err(error) => {
                health
                    .retrying(&format!("phone number lookup: {error}"))
                    .await;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    };
    let me = Me {
        phone_number_id,
        digits: notification::digits(&info.display_phone_number),
    };
    tracing::info!(account = %ingest.account, number = %info.display_phone_number, "whatsapp number known");
    health
        .connected(
            &info.display_phone_number,
            "notifications come through the gateway's /whatsapp-webhook",
        )
        .await;
    let handler = Handler {
        ingest: &ingest,
        me,
        windows,
        health: &health,
    };
    crate::channel::pushed::consume(
        &ingest.js,
        &ingest.ns,
        "whatsapp",
        &ingest.account,
        |body| {
            let handler = &handler;
            async move { handler.handle(&body).await }
        },
        &shutdown,
    )
    .await;
    health.stopped().await;
}

struct Handler<'a> {
    ingest: &'a ingest::Ingest<WhatsApp>,
    me: Me,
    windows: Windows,
    health: &'a AccountHealth,
}

impl Handler<'_> {
    /// Handles one notification; an error brings it back whole (handled messages are skipped
    /// then by their seen markers and ids).
    async fn handle(&self, body: &Value) -> Result<(), String> {
        let notification = notification::read(body, &self.me);
        for status in &notification.statuses {
            if let Some(error) = &status.error {
                tracing::warn!(message = %status.message_id, %error, "whatsapp could not deliver a reply");
            }
            self.windows
                .record(status)
                .await
                .map_err(|e| format!("status not recorded: {e}"))?;
        }
        for received in &notification.received {
            let message = &received.message;
            if message.direct {
                self.windows
                    .wrote(&message.chat, received.sent_at)
                    .await
                    .map_err(|e| format!("window not recorded: {e}"))?;
                // Meta redelivers a notification for days; one older than the window could not
                // be answered, so no turn runs (and costs) for it.
                let age = pincer_clock::now_secs().saturating_sub(received.sent_at);
                if received.sent_at > 0 && age > super::window::WINDOW.as_secs() {
                    tracing::warn!(id = %message.id, hours = age / 3600, "whatsapp message older than the 24-hour window: it cannot be answered, so it is not handed on");
                    continue;
                }
            }
            self.health.event().await;
            self.ingest.handle(message).await.map_err(|error| {
                tracing::warn!(%error, id = %message.id, "whatsapp message not handed on yet");
                error.to_string()
            })?;
        }
        Ok(())
    }
}
