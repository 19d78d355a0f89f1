//! A fake BlueBubbles server for tests, built from its REST API and webhook behaviour: every call
//! under `/api/v1` wants the server password as the `password` (or `guid`) query parameter;
//! `server/info`, `message/text` (a chat that exists, a `tempGuid`, the Private API for replies),
//! `message/query` over its message database, attachment downloads, typing and read marks (Private
//! API only). People's messages are stored and posted once to the configured webhook, as
//! BlueBubbles does (no retries: a missed webhook is only found by querying); the bot's messages
//! get `new-message` and `updated-message` (delivered, read) webhooks.

pub mod api;
pub mod state;

use std::net::SocketAddr;

pub use state::{Knobs, SentText, World};
use tokio_util::sync::CancellationToken;

/// A person's message to the Mac's Apple ID.
#[derive(Debug, Clone, Default)]
pub struct Incoming {
    /// The chat guid (`iMessage;-;+15551234567`, `iMessage;+;chat1234`).
    pub chat: String,
    /// The sender's address (phone number or email).
    pub from: String,
    /// The text.
    pub text: String,
    /// The message it replies to inline.
    pub reply_to: Option<String>,
    /// An attachment: mime type, bytes, file name.
    pub attachment: Option<(String, Vec<u8>, String)>,
    /// A tapback on a message: its kind as BlueBubbles names it (`"love"`, `"-like"`, `"2006"`)
    /// and the message's guid.
    pub tapback: Option<(String, String)>,
}

impl Incoming {
    /// A direct message from `from`.
    pub fn dm(from: &str, text: &str) -> Self {
        Self {
            chat: format!("iMessage;-;{from}"),
            from: from.to_owned(),
            text: text.to_owned(),
            ..Self::default()
        }
    }

    /// `from`'s tapback `kind` on message `target` in a direct chat, with the text Messages
    /// gives it.
    pub fn tapback(from: &str, kind: &str, target: &str) -> Self {
        Self {
            tapback: Some((kind.to_owned(), target.to_owned())),
            ..Self::dm(from, &format!("Reacted {kind} to a message"))
        }
    }

    /// A message from `from` in group chat `chat`.
    pub fn in_group(chat: &str, from: &str, text: &str) -> Self {
        Self {
            chat: chat.to_owned(),
            ..Self::dm(from, text)
        }
    }
}

/// A running fake server; stops when dropped.
pub struct RunningBlueBubbles {
    addr: SocketAddr,
    world: World,
    shutdown: CancellationToken,
}

impl RunningBlueBubbles {
    /// Starts on `addr` (port 0 picks one) with `password`.
    pub async fn start(addr: SocketAddr, password: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let world = World::new(password);
        let shutdown = CancellationToken::new();
        let app = api::router(world.clone());
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "fake bluebubbles stopped");
            }
        });
        Ok(Self {
            addr,
            world,
            shutdown,
        })
    }

    /// `http://127.0.0.1:<port>`: the `serverUrl` to configure.
    pub fn server_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The state.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Where webhooks go (BlueBubbles' webhook setting, password included by the user).
    pub fn set_webhook(&self, url: &str) {
        self.world.lock().webhook = Some(url.to_owned());
    }

    /// Changes the faults played.
    pub fn update_knobs(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut self.world.lock().knobs);
    }

    /// A person writes: the message is stored and its webhook posted once; returns its guid and
    /// the webhook's status (0: unreachable or not sent).
    pub async fn user_says(&self, incoming: &Incoming) -> (String, u16) {
        let (guid, record) = self.world.receive(incoming);
        let status = self.world.post_webhook("new-message", &record).await;
        (guid, status)
    }

    /// What the bot sent, in order.
    pub fn sent(&self) -> Vec<SentText> {
        self.world.lock().sent.clone()
    }

    /// How many typing and read calls came (Private API).
    pub fn typing_calls(&self) -> usize {
        self.world.lock().typing_calls
    }
}

impl Drop for RunningBlueBubbles {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
