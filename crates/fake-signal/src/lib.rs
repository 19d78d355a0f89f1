//! A fake signal-cli daemon for tests, benchmarks and containers, written from signal-cli's
//! documentation (`signal-cli-jsonrpc(5)`) and its HTTP server: the three endpoints of
//! `signal-cli daemon --http` with several accounts (started without `-a`) and
//! `--receive-mode=on-connection`:
//!
//! - `GET /api/v1/check`: 200.
//! - `GET /api/v1/events[?account=]`: Server-Sent Events, `event:receive` with
//!   `data:{"envelope": …, "account": …}`, a `:` keep-alive every 15 s. Messages for an account
//!   with no stream open wait (on Signal's servers, for the real daemon) and come when one opens.
//! - `POST /api/v1/rpc`: JSON-RPC 2.0, `send`, `sendTyping`, `getAttachment`, `version`,
//!   `listAccounts`, with signal-cli's checks and error codes.
//!
//! Tests play the people ([`RunningSignal::say`]), read what the bridge did (sends, typing, streams,
//! deliveries, downloads) and force faults: a stream dropped or cut mid-event, envelopes delivered
//! again after a reconnect (as after signal-cli crashed before it was done with them), failing
//! calls (rate limits, network failures, HTTP errors).
//!
//! Modules: [`spec`] (people, messages, envelopes), [`state`], [`events`], [`rpc`] and
//! [`methods`], [`records`], [`knobs`], [`routes`], [`control`] (the same over HTTP).

pub mod control;
pub mod events;
pub mod knobs;
pub mod methods;
pub mod records;
pub mod routes;
pub mod rpc;
pub mod spec;
pub mod state;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
pub use knobs::Fault;
pub use records::{AttachmentDownload, DeliveryRecord, SentMessage, StreamRecord, TypingCall};
use serde_json::Value;
pub use spec::{AccountIdentity, AttachmentSpec, Incoming, MENTION_PLACEHOLDER, Person};
pub use state::{FakeError, World};
use tokio_util::sync::CancellationToken;

/// A message put in an account's queue.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Injected {
    /// Its timestamp.
    pub timestamp: u64,
    /// Its author's ACI.
    pub source_uuid: String,
    /// The ids its attachments are stored under.
    pub attachment_ids: Vec<String>,
}

/// A running fake daemon; stops when dropped.
pub struct RunningSignal {
    addr: SocketAddr,
    world: World,
    shutdown: CancellationToken,
}

impl RunningSignal {
    /// Starts on `addr` (port 0 picks one).
    pub async fn start(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let world = World::default();
        let shutdown = CancellationToken::new();
        let app = routes::router(routes::Daemon {
            world: world.clone(),
            shutdown: shutdown.clone(),
            bound: addr,
        });
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "fake signal-cli stopped");
            }
        });
        Ok(Self {
            addr,
            world,
            shutdown,
        })
    }

    /// `http://<addr>`: the `httpUrl` to configure.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The state, for anything the handle does not wrap.
    pub fn world(&self) -> &World {
        &self.world
    }

    // === Declarations ===

    /// Registers an account (its number) with a fresh ACI.
    pub fn add_account(&self, number: &str) -> Result<AccountIdentity, FakeError> {
        self.world.add_account(number)
    }

    /// Makes `account` a member of a new group named `name` with `members`; returns its id.
    pub fn add_group(
        &self,
        account: &str,
        name: &str,
        members: &[&Person],
    ) -> Result<String, FakeError> {
        let id = new_group_id();
        let group = state::Group {
            name: name.to_owned(),
            members: members.iter().map(|p| (*p).clone()).collect(),
        };
        self.world
            .change(account, |a| a.groups.insert(id.clone(), group))?;
        Ok(id)
    }

    /// Makes `recipient` (as a bridge names it) unknown to Signal for `account`'s sends.
    pub fn mark_unregistered(&self, account: &str, recipient: &str) -> Result<(), FakeError> {
        self.world.change(account, |a| {
            a.unregistered.insert(recipient.to_owned());
        })
    }

    // === Playing people ===

    /// A message to `account`: stored attachments, an envelope queued, written at once to the
    /// account's streams if one is open.
    pub fn say(&self, account: &str, incoming: &Incoming) -> Result<Injected, FakeError> {
        inject(&self.world, account, incoming)
    }

    /// Any `receive` event (`{"envelope": …, "account": …}`): receipts, typing, sync messages.
    pub fn inject_event(&self, account: &str, event: Value) -> Result<(), FakeError> {
        self.world.lock().enqueue(account, event)
    }

    /// A fresh timestamp from the fake's clock (for hand-made envelopes).
    pub fn timestamp(&self) -> u64 {
        self.world.lock().timestamp()
    }

    // === What the bridge did ===

    /// `account`'s successful sends, in order.
    pub fn sent(&self, account: &str) -> Vec<SentMessage> {
        self.world
            .read(account, |a| a.sent.clone())
            .unwrap_or_default()
    }

    /// `account`'s successful typing calls, in order.
    pub fn typing(&self, account: &str) -> Vec<TypingCall> {
        self.world
            .read(account, |a| a.typing.clone())
            .unwrap_or_default()
    }

    /// Every event stream opened, in order.
    pub fn streams(&self) -> Vec<StreamRecord> {
        self.world.lock().stream_records.clone()
    }

    /// Streams open now that carry `account`'s envelopes.
    pub fn open_streams(&self, account: &str) -> usize {
        self.world.lock().open_streams(account)
    }

    /// The most streams that carried `account`'s envelopes at once.
    pub fn max_concurrent_streams(&self, account: &str) -> usize {
        self.world.read(account, |a| a.max_streams).unwrap_or(0)
    }

    /// `account`'s envelopes written to streams, in order.
    pub fn deliveries(&self, account: &str) -> Vec<DeliveryRecord> {
        self.world
            .read(account, |a| {
                a.delivered.iter().map(|d| d.record.clone()).collect()
            })
            .unwrap_or_default()
    }

    /// `account`'s envelopes waiting for a stream.
    pub fn queued(&self, account: &str) -> usize {
        self.world.read(account, |a| a.queue.len()).unwrap_or(0)
    }

    /// `getAttachment` calls.
    pub fn attachment_downloads(&self) -> Vec<AttachmentDownload> {
        self.world.lock().downloads.clone()
    }

    // === Knobs ===

    /// Time between keep-alives on new and open streams (signal-cli: 15 s). Short ones let the
    /// fake notice a client that went away sooner (a write to its closed connection fails).
    pub fn set_keepalive(&self, every: Duration) {
        self.world.lock().keepalive = Some(every);
    }

    /// The next stream opened for `account` first gets its last `count` envelopes again, as when
    /// signal-cli crashed before it was done with them.
    pub fn replay_on_next_connect(&self, account: &str, count: usize) -> Result<(), FakeError> {
        self.world.change(account, |a| a.replay_on_connect = count)
    }

    /// The next envelope for `account` is written halfway, then its streams end; it stays
    /// queued for the next stream.
    pub fn cut_next_event(&self, account: &str) -> Result<(), FakeError> {
        self.world.change(account, |a| a.cut_next = true)
    }

    /// Ends the streams that carry `account`'s envelopes (a daemon restart); returns how many.
    pub fn drop_streams(&self, account: &str) -> usize {
        self.world.lock().end_streams(account)
    }

    /// The next `count` calls of `method` by `account` fail with `fault`.
    pub fn fail_next(
        &self,
        account: &str,
        method: &str,
        count: usize,
        fault: Fault,
    ) -> Result<(), FakeError> {
        self.world.change(account, |a| {
            let faults = a.faults.entry(method.to_owned()).or_default();
            faults.extend(std::iter::repeat_n(fault, count));
        })
    }
}

impl Drop for RunningSignal {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An id like signal-cli's stored attachments: random, with the type's extension.
fn attachment_id(content_type: &str) -> String {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let name: String = (0..20)
        .map(|_| char::from(alphabet[fastrand::usize(..alphabet.len())]))
        .collect();
    let extension = match content_type {
        "image/jpeg" => ".jpg",
        "image/png" => ".png",
        "audio/aac" => ".aac",
        "video/mp4" => ".mp4",
        "application/pdf" => ".pdf",
        _ => "",
    };
    format!("{name}{extension}")
}

/// A fresh group id: base64 of 32 random bytes, as Signal's (v2) groups have.
pub fn new_group_id() -> String {
    let id_bytes: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
    base64::engine::general_purpose::STANDARD.encode(id_bytes)
}

/// Queues `incoming` for `account` (see [`RunningSignal::say`]).
pub fn inject(world: &World, account: &str, incoming: &Incoming) -> Result<Injected, FakeError> {
    let mut inner = world.lock();
    let account_state = inner
        .accounts
        .get(account)
        .ok_or_else(|| FakeError::UnknownAccount(account.to_owned()))?;
    let group_name = match &incoming.group {
        Some(group) => Some(
            account_state
                .groups
                .get(group)
                .ok_or_else(|| FakeError::UnknownGroup(group.clone()))?
                .name
                .clone(),
        ),
        None => None,
    };
    let timestamp = match incoming.timestamp {
        Some(timestamp) => timestamp,
        None => inner.timestamp(),
    };
    let attachment_ids: Vec<String> = incoming
        .attachments
        .iter()
        .map(|attachment| attachment_id(&attachment.content_type))
        .collect();
    if let Some(account_state) = inner.accounts.get_mut(account) {
        for (id, attachment) in attachment_ids.iter().zip(&incoming.attachments) {
            account_state
                .attachments
                .insert(id.clone(), attachment.data.clone());
        }
    }
    let event = spec::receive_event(
        account,
        incoming,
        timestamp,
        group_name.as_deref(),
        &attachment_ids,
    );
    inner.enqueue(account, event)?;
    Ok(Injected {
        timestamp,
        source_uuid: incoming.from.uuid.clone(),
        attachment_ids,
    })
}
