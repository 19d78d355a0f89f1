//! One BlueBubbles server: check its password (a refused one stops the account with a clear
//! error) and whether its Private API is on, then take messages from two places. The gateway's
//! webhook brings them at once (off JetStream); a catch-up query every few seconds brings any the
//! webhook missed (BlueBubbles posts each webhook once, so a message sent while the gateway was
//! down would otherwise be lost). Each message is handled once whichever way it came: the channel
//! core skips ids it has seen, and JetStream drops a second turn with the same id. Receipts of the
//! bot's messages are recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pincer_bus::messages::TurnRequest;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::api::{Api, ApiError};
use super::event::{self, Event};
use super::records::Records;
use crate::channel::health::AccountHealth;
use crate::channel::inbound::{Inbound, MediaRef};
use crate::channel::ingest::{self, Platform};

/// How often the server is asked for messages the webhook did not bring.
const CATCH_UP_EVERY: Duration = Duration::from_secs(5);
/// Most messages taken per catch-up query.
const CATCH_UP_BATCH: u32 = 100;

/// What iMessage adds around a turn: attachment downloads, the read mark and typing bubble.
pub struct BlueBubbles {
    /// The server's API.
    pub api: Api,
    /// Whether its Private API is on (learnt at start).
    pub private_api: Arc<AtomicBool>,
}

impl Platform for BlueBubbles {
    type Watch = ();

    fn label(&self) -> &'static str {
        "iMessage"
    }

    async fn download(&self, media: &MediaRef, limit: u64) -> Result<Vec<u8>, String> {
        self.api
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
        if !self.private_api.load(Ordering::Relaxed) {
            return;
        }
        let (api, chat) = (self.api.clone(), message.chat.clone());
        tokio::spawn(async move {
            if let Err(error) = api.mark_read(&chat).await {
                tracing::debug!(%error, "chat not marked read");
            }
            if let Err(error) = api.typing(&chat, true).await {
                tracing::debug!(%error, "no typing bubble");
            }
        });
    }
}

/// Runs one server's account until `shutdown` or a refused password.
pub async fn run(
    ingest: ingest::Ingest<BlueBubbles>,
    records: Records,
    health: AccountHealth,
    shutdown: CancellationToken,
) {
    let api = ingest.platform.api.clone();
    health.connecting("server info").await;
    let info = loop {
        match api.server_info().await {
            Ok(info) => break info,
            Err(ApiError::Auth) => {
                health
                    .failed("the BlueBubbles server refused the password; check channels.bluebubbles.password")
                    .await;
                return;
            }
            Err(error) => {
                health.retrying(&format!("server info: {error}")).await;
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    };
    ingest
        .platform
        .private_api
        .store(info.private_api, Ordering::Relaxed);
    tracing::info!(account = %ingest.account, apple_id = %info.account, private_api = info.private_api, "bluebubbles server known");
    let detail = if info.private_api {
        "messages come through the gateway's /bluebubbles-webhook"
    } else {
        "messages come through the gateway's /bluebubbles-webhook (Private API off: no replies in thread, typing or read marks)"
    };
    health.connected(&info.account, detail).await;
    let handler = Handler {
        ingest: &ingest,
        records,
        health: &health,
    };
    let pushed = crate::channel::pushed::consume(
        &ingest.js,
        &ingest.ns,
        "bluebubbles",
        &ingest.account,
        |body| {
            let handler = &handler;
            async move { handler.webhook(&body).await }
        },
        &shutdown,
    );
    tokio::join!(pushed, handler.catch_up(&api, &shutdown));
    health.stopped().await;
}

struct Handler<'a> {
    ingest: &'a ingest::Ingest<BlueBubbles>,
    records: Records,
    health: &'a AccountHealth,
}

impl Handler<'_> {
    async fn webhook(&self, body: &Value) -> Result<(), String> {
        match event::read(body) {
            Event::Message(message) => self.message(*message).await,
            Event::Receipt(receipt) => self
                .records
                .status(&receipt.guid, receipt.status, receipt.at)
                .await
                .map_err(|e| format!("receipt not recorded: {e}")),
            Event::SendError { guid, reason } => {
                tracing::warn!(%guid, %reason, "the Mac could not send a reply");
                self.records
                    .status(&guid, &format!("failed: {reason}"), pincer_clock::now_ms())
                    .await
                    .map_err(|e| format!("failure not recorded: {e}"))
            }
            Event::Other => Ok(()),
        }
    }

    async fn message(&self, mut message: event::Message) -> Result<(), String> {
        if message.from_me {
            return Ok(());
        }
        if let Some(original) = &message.replies_to
            && self.records.status_of(original).await.is_some()
        {
            message.inbound.mentioned = true;
        }
        self.health.event().await;
        self.ingest.handle(&message.inbound).await.map_err(|error| {
            tracing::warn!(%error, id = %message.inbound.id, "imessage not handed on yet");
            error.to_string()
        })
    }

    /// Every few seconds, the messages since the cursor, handled like the webhook's. The first
    /// run starts the cursor now: history is never answered.
    async fn catch_up(&self, api: &Api, shutdown: &CancellationToken) {
        let mut cursor = match self.records.cursor().await {
            Some(cursor) => cursor,
            None => {
                let now = pincer_clock::now_ms();
                if let Err(error) = self.records.set_cursor(now).await {
                    tracing::warn!(%error, "catch-up cursor not stored");
                }
                now
            }
        };
        while !shutdown.is_cancelled() {
            // A millisecond back: a message created in the same one as the last handled is not skipped
            // (the handled one is recognised as seen).
            match api
                .messages_since(cursor.saturating_sub(1), CATCH_UP_BATCH)
                .await
            {
                Ok(records) => {
                    let (reached, complete) = self.handle_page(&records).await;
                    if reached > cursor {
                        cursor = reached;
                        if let Err(error) = self.records.set_cursor(cursor).await {
                            tracing::debug!(%error, "catch-up cursor not stored");
                        }
                        // A full page may have more behind it: a backlog is read page after page.
                        if complete && records.len() >= CATCH_UP_BATCH as usize {
                            continue;
                        }
                    }
                }
                Err(error) => tracing::debug!(%error, "catch-up query failed"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(CATCH_UP_EVERY) => {}
            }
        }
    }

    /// Hands a catch-up page's messages on and says how far the cursor may move: past every record
    /// read, the ones that carry nothing to answer too (tapbacks, group events, empty messages),
    /// or a page of them would come back forever; never past a message not yet handed on. The flag
    /// says whether the whole page was handled.
    async fn handle_page(&self, records: &[Value]) -> (u64, bool) {
        let mut reached = 0;
        for record in records {
            if let Some(message) = event::message(record)
                && let Err(error) = self.message(message).await
            {
                tracing::warn!(%error, "catch-up stops here until the next round");
                return (reached, false);
            }
            reached = reached.max(record["dateCreated"].as_u64().unwrap_or_default());
        }
        (reached, true)
    }
}
