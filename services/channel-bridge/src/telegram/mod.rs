//! Telegram: long polling in, replies out, with the access policy in between.
//!
//! - [`account`]: one bot: identity, then polling.
//! - [`client`]: the Bot API calls and their typed errors.
//! - [`update`]: an update as a message (sender, chat, mentions, media).
//! - [`policy`]: DM and group access, mention gating.
//! - [`ingest`]: accepted messages to JetStream (turns, pairing codes).
//! - [`poller`]: the leased long-polling loop and its saved offset.
//! - [`outbound`]: chunked, idempotent sending with rate-limit handling.
//! - [`typing`]: the typing indicator while a turn runs.
//! - [`webhook`]: webhook mode (updates pushed through the gateway).

pub mod account;
pub mod client;
pub mod ingest;
pub mod outbound;
pub mod policy;
pub mod poller;
pub mod typing;
pub mod update;
pub mod webhook;
