//! The typing indicator while a turn runs, on any platform that has one: shown again every few
//! seconds (platforms show it for a few seconds only), until the runner announces the turn's end
//! (its final run event, seen by whichever replica started the indicator), the reply is sent from
//! this replica, or a ceiling passes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Never longer than this, even if no end is seen (the agent's default run timeout).
const CEILING: Duration = Duration::from_secs(600);

/// A platform call that shows "typing" in a chat for a few seconds.
pub trait Indicate: Clone + Send + Sync + 'static {
    /// How often the indicator must be shown again.
    fn every(&self) -> Duration;

    /// Shows it once in `chat`.
    fn typing(&self, chat: &str) -> impl Future<Output = Result<(), String>> + Send;
}

/// Typing indicators of one bot, by chat.
#[derive(Clone, Debug)]
pub struct Typing<I> {
    api: I,
    active: Arc<Mutex<HashMap<String, CancellationToken>>>,
}

impl<I: Indicate> Typing<I> {
    /// For the bot behind `api`.
    pub fn new(api: I) -> Self {
        Self {
            api,
            active: Arc::default(),
        }
    }

    /// Shows "typing" in `chat` until [`Typing::stop`], or until a message arrives on `ended`
    /// (the turn's run events: the final one ends the turn).
    pub fn start(&self, chat: &str, ended: Option<async_nats::Subscriber>) {
        let token = CancellationToken::new();
        if let Some(previous) = self
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(chat.to_owned(), token.clone())
        {
            previous.cancel();
        }
        let api = self.api.clone();
        let chat = chat.to_owned();
        tokio::spawn(async move {
            use futures::StreamExt as _;
            let mut ended = ended;
            let until = tokio::time::Instant::now() + CEILING;
            while tokio::time::Instant::now() < until {
                if let Err(error) = api.typing(&chat).await {
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
                    () = tokio::time::sleep(api.every()) => {}
                }
            }
        });
    }

    /// Stops the indicator in `chat`.
    pub fn stop(&self, chat: &str) {
        if let Some(token) = self
            .active
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(chat)
        {
            token.cancel();
        }
    }
}
