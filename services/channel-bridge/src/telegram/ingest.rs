//! Telegram's side of ingest: an update becomes the channel core's message
//! ([`update::Inbound::into_message`]), and while its turn runs the chat shows "typing" and,
//! with `streaming: true`, a preview of the answer. Everything else (policy, pairing, routing,
//! exactly-once publishing, attachments) is [`crate::channel::ingest`].

use async_nats::jetstream::kv;
use pincer_bus::messages::TurnRequest;
use serde_json::Value;

use super::client::BotApi;
use super::update;
use crate::channel::inbound::{Inbound, MediaRef};
use crate::channel::ingest::{self, IngestError, Platform};
use crate::channel::typing::Typing;

/// One bot's update handler.
pub struct Ingest {
    /// The channel core's ingest for this account.
    pub core: ingest::Ingest<Telegram>,
    /// The bot's user id (replies to it address it).
    pub bot_id: i64,
    /// The bot's username (mentions of it address it).
    pub bot_username: String,
}

impl Ingest {
    /// The account (bot) name.
    pub fn account(&self) -> &str {
        &self.core.account
    }

    /// Handles one update. `Ok` means it is durably dealt with and the offset may move past it.
    pub async fn handle(&self, raw: &Value) -> Result<(), IngestError> {
        let Some(update) = update::parse(raw, self.bot_id) else {
            return Ok(());
        };
        self.core
            .handle(&update.into_message(&self.bot_username))
            .await
    }
}

/// What Telegram adds around a turn: downloads by file id, the typing indicator and the preview.
pub struct Telegram {
    /// The bot's API.
    pub api: BotApi,
    /// Its typing indicators.
    pub typing: Typing<BotApi>,
    /// Channel state (preview message ids).
    pub state: kv::Store,
    /// The account name.
    pub account: String,
    /// `streaming: true`: show the answer as it is written.
    pub streaming: bool,
}

/// The subscriptions taken before a turn is published: its end (for the typing indicator) and,
/// when streaming, its deltas (for the preview).
pub struct Watch {
    ended: Option<async_nats::Subscriber>,
    preview: Option<async_nats::Subscriber>,
}

impl Platform for Telegram {
    type Watch = Watch;

    fn label(&self) -> &'static str {
        "Telegram"
    }

    async fn download(&self, media: &MediaRef, limit: u64) -> Result<Vec<u8>, String> {
        self.api
            .download(&media.locator, limit)
            .await
            .map_err(|error| error.to_string())
    }

    async fn prepare(
        &self,
        client: &async_nats::Client,
        _message: &Inbound,
        turn: &TurnRequest,
    ) -> Watch {
        // Listen for the turn's end before it can happen, so the indicator stops on time.
        let ended = client.subscribe(turn.reply_subject.clone()).await.ok();
        let preview = if self.streaming {
            client.subscribe(turn.reply_subject.clone()).await.ok()
        } else {
            None
        };
        Watch { ended, preview }
    }

    fn working(&self, message: &Inbound, turn: &TurnRequest, watch: Watch) {
        let topic = message.thread.as_deref();
        if let (Some(events), Ok(chat)) = (watch.preview, message.chat.parse::<i64>()) {
            tokio::spawn(super::preview::follow(
                self.api.clone(),
                self.state.clone(),
                super::preview::key(&self.account, &turn.turn_id),
                (chat, topic.and_then(|topic| topic.parse().ok())),
                events,
            ));
        }
        self.typing.start(
            &super::outbound::typing_key(&message.chat, topic),
            watch.ended,
        );
    }
}
