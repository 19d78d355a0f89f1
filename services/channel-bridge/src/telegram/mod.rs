//! Telegram: long polling (or a webhook) in, replies out; an adapter over [`crate::channel`].
//!
//! - [`account`]: one bot: identity, then polling.
//! - [`client`]: the Bot API calls and their typed errors.
//! - [`update`]: an update as a message (sender, chat, mentions, media).
//! - [`ingest`]: an update as the channel core's message; typing and preview while a turn runs.
//! - [`poller`]: the leased long-polling loop and its saved offset.
//! - [`outbound`]: Telegram's way to send (HTML, pacing, its errors) for the channel core.
//! - [`preview`]: the streaming preview, edited into the final answer.
//! - [`webhook`]: webhook mode (updates pushed through the gateway).

pub mod account;
pub mod client;
pub mod ingest;
pub mod outbound;
pub mod poller;
pub mod preview;
pub mod update;
pub mod webhook;

pub use crate::channel::key_token;
