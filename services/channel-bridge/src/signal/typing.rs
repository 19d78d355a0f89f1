//! "Typing…" in a Signal chat while a turn runs: `sendTyping` again every 10 s (Signal shows it
//! for 15 s), through the channel core's [`Typing`], and a `sendTyping` with `stop` when the reply
//! goes out, for the chats where this replica showed it (a client clears it on the next message
//! anyway; the stop ends it at once, even where the reply fails).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::rpc::{Rpc, Target};
use crate::channel::typing::{Indicate, Typing};

impl Indicate for Rpc {
    fn every(&self) -> Duration {
        Duration::from_secs(10)
    }

    async fn typing(&self, chat: &str) -> Result<(), String> {
        Rpc::typing(self, Target::of(chat), false)
            .await
            .map_err(|error| error.to_string())
    }
}

/// One number's typing indicators; cheap to clone.
#[derive(Clone, Debug)]
pub struct Indicator {
    rpc: Rpc,
    typing: Typing<Rpc>,
    shown: Arc<Mutex<HashSet<String>>>,
}

impl Indicator {
    /// For the number behind `rpc`.
    pub fn new(rpc: Rpc) -> Self {
        Self {
            typing: Typing::new(rpc.clone()),
            rpc,
            shown: Arc::default(),
        }
    }

    /// Shows "typing" in `chat` until [`Indicator::stop`] or the turn's end on `ended`.
    pub fn start(&self, chat: &str, ended: Option<async_nats::Subscriber>) {
        self.shown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(chat.to_owned());
        self.typing.start(chat, ended);
    }

    /// Stops it in `chat`, telling Signal if this replica showed it.
    pub fn stop(&self, chat: &str) {
        self.typing.stop(chat);
        let shown = self
            .shown
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(chat);
        if !shown {
            return;
        }
        let rpc = self.rpc.clone();
        let chat = chat.to_owned();
        tokio::spawn(async move {
            if let Err(error) = rpc.typing(Target::of(&chat), true).await {
                tracing::debug!(%error, "typing stop not sent");
            }
        });
    }
}
