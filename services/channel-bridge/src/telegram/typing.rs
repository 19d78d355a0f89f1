//! The typing indicator while a turn runs: `sendChatAction typing` every few seconds (Telegram
//! shows it for about five), until the runner announces the turn's end (its final run event, seen
//! by whichever replica started the indicator), the reply is sent from this replica, or a ceiling
//! passes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::client::BotApi;

/// Re-sent this often.
const EVERY: Duration = Duration::from_secs(4);
/// Never longer than this, even if no end is seen (the agent's default run timeout).
const CEILING: Duration = Duration::from_secs(600);

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

    /// Shows "typing" in `chat` until [`Typing::stop`], or until a message arrives on `ended`
    /// (the turn's run events: the final one ends the turn).
    pub fn start(&self, chat: i64, ended: Option<async_nats::Subscriber>) {
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
            use futures::StreamExt as _;
            let mut ended = ended;
            let until = tokio::time::Instant::now() + CEILING;
            while tokio::time::Instant::now() < until {
                if let Err(error) = api.typing(chat).await {
                    tracing::debug!(%error, chat, "typing indicator failed");
                }
                let end = async {
                    match ended.as_mut() {
                        Some(events) => {
                            events.next().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    () = token.cancelled() => break,
                    () = end => break,
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
