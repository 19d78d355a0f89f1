//! The typing indicator while a turn runs: `sendChatAction typing` every few seconds (Telegram
//! shows it for about five), until the reply is sent or a ceiling passes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::client::BotApi;

/// Re-sent this often.
const EVERY: Duration = Duration::from_secs(4);
/// Never longer than this, even if no reply comes.
const CEILING: Duration = Duration::from_secs(120);

/// Typing indicators of one bot, by chat.
#[derive(Clone, Debug)]
pub struct Typing {
    api: BotApi,
    active: Arc<Mutex<HashMap<i64, CancellationToken>>>,
}

impl Typing {
    /// For the bot behind `api`.
    pub fn new(api: BotApi) -> Self {
        Self {
            api,
            active: Arc::default(),
        }
    }

    /// Shows "typing" in `chat` until [`Typing::stop`].
    pub fn start(&self, chat: i64) {
        let token = CancellationToken::new();
        if let Some(previous) = self
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(chat, token.clone())
        {
            previous.cancel();
        }
        let api = self.api.clone();
        tokio::spawn(async move {
            let until = tokio::time::Instant::now() + CEILING;
            while tokio::time::Instant::now() < until {
                if let Err(error) = api.typing(chat).await {
                    tracing::debug!(%error, chat, "typing indicator failed");
                }
                tokio::select! {
                    () = token.cancelled() => break,
                    () = tokio::time::sleep(EVERY) => {}
                }
            }
        });
    }

    /// Stops the indicator in `chat`.
    pub fn stop(&self, chat: i64) {
        if let Some(token) = self
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&chat)
        {
            token.cancel();
        }
    }
}
