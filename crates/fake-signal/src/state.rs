//! The fake daemon's state: its accounts (a queue of envelopes each, as Signal's servers keep
//! them until the daemon receives them), groups, stored attachments, the open event streams and
//! what was delivered to them, and the records of what clients did. Everything behind one mutex.
//!
//! The daemon runs as with `--receive-mode=on-connection`: it receives an account's messages only
//! while a stream for it is open, and writes each to every such stream (signal-cli hands an
//! envelope to every receive handler). A message for an account without a stream waits.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use crate::knobs::Fault;
use crate::records::{AttachmentDownload, DeliveryRecord, SentMessage, StreamRecord, TypingCall};
use crate::spec::{AccountIdentity, Person};

/// A failure of a test's request to the fake.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FakeError {
    /// No account with this number was added.
    #[error("no account {0} was added")]
    UnknownAccount(String),
    /// The number is not E.164.
    #[error("{0} is not a number in E.164 (+15551234567)")]
    NotANumber(String),
    /// No group with this id was added to the account.
    #[error("the account has no group {0}")]
    UnknownGroup(String),
}

/// What the task writing one stream is told.
#[derive(Debug)]
pub enum Frame {
    /// Write these bytes.
    Bytes(Bytes),
    /// Write these bytes (a partial event), then end the stream.
    CutThenEnd(Bytes),
    /// End the stream.
    End,
}

/// An open event stream.
#[derive(Debug)]
pub struct LiveStream {
    /// Its record's id.
    pub id: u64,
    /// `?account=`; `None`: every account.
    pub account: Option<String>,
    /// Where its frames go.
    pub frames: UnboundedSender<Frame>,
}

/// A group an account is in.
#[derive(Clone, Debug)]
pub struct Group {
    /// Its title.
    pub name: String,
    /// Its other members.
    pub members: Vec<Person>,
}

/// A delivered envelope, kept for a replay.
#[derive(Clone, Debug)]
pub struct Delivered {
    /// The event as written.
    pub event: Value,
    /// What tests see.
    pub record: DeliveryRecord,
}

/// One account.
#[derive(Debug)]
pub struct Account {
    /// Its number and ACI.
    pub identity: AccountIdentity,
    /// Envelopes waiting for a stream, oldest first, each marked whether it is a replay.
    pub queue: VecDeque<(Value, bool)>,
    /// Envelopes written to streams, in order.
    pub delivered: Vec<Delivered>,
    /// The next stream opened for the account first gets this many of the last deliveries again.
    pub replay_on_connect: usize,
    /// The next envelope is cut off halfway and the stream ended.
    pub cut_next: bool,
    /// Forced failures by method.
    pub faults: HashMap<String, VecDeque<Fault>>,
    /// Groups by id.
    pub groups: BTreeMap<String, Group>,
    /// Recipients that are not on Signal.
    pub unregistered: HashSet<String>,
    /// Attachments received, by id.
    pub attachments: HashMap<String, Vec<u8>>,
    /// Successful sends.
    pub sent: Vec<SentMessage>,
    /// Successful typing calls.
    pub typing: Vec<TypingCall>,
    /// The most streams open for it at once.
    pub max_streams: usize,
}

/// Everything.
#[derive(Debug, Default)]
pub struct Inner {
    /// Accounts by number.
    pub accounts: BTreeMap<String, Account>,
    /// Open streams.
    pub streams: Vec<LiveStream>,
    /// Every stream ever opened.
    pub stream_records: Vec<StreamRecord>,
    /// `getAttachment` calls.
    pub downloads: Vec<AttachmentDownload>,
    /// The last timestamp handed out (they are unique and increasing).
    pub clock: u64,
    /// Time between keep-alives on each stream.
    pub keepalive: Option<Duration>,
}

/// The daemon; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct World {
    inner: Arc<Mutex<Inner>>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// signal-cli's keep-alive interval.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(15);

impl World {
    /// Locks the state (a panic elsewhere does not poison it for the rest of a test).
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a registered account.
    pub fn add_account(&self, number: &str) -> Result<AccountIdentity, FakeError> {
        if !is_number(number) {
            return Err(FakeError::NotANumber(number.to_owned()));
        }
        let identity = AccountIdentity {
            number: number.to_owned(),
            uuid: uuid::Uuid::new_v4().to_string(),
        };
        self.lock().accounts.insert(
            number.to_owned(),
            Account {
                identity: identity.clone(),
                queue: VecDeque::new(),
                delivered: Vec::new(),
                replay_on_connect: 0,
                cut_next: false,
                faults: HashMap::new(),
                groups: BTreeMap::new(),
                unregistered: HashSet::new(),
                attachments: HashMap::new(),
                sent: Vec::new(),
                typing: Vec::new(),
                max_streams: 0,
            },
        );
        Ok(identity)
    }

    /// Reads an account.
    pub fn read<T>(&self, number: &str, read: impl FnOnce(&Account) -> T) -> Option<T> {
        self.lock().accounts.get(number).map(read)
    }

    /// Changes an account.
    pub fn change<T>(
        &self,
        number: &str,
        change: impl FnOnce(&mut Account) -> T,
    ) -> Result<T, FakeError> {
        self.lock()
            .accounts
            .get_mut(number)
            .map(change)
            .ok_or_else(|| FakeError::UnknownAccount(number.to_owned()))
    }

    /// The keep-alive interval.
    pub fn keepalive(&self) -> Duration {
        self.lock().keepalive.unwrap_or(DEFAULT_KEEPALIVE)
    }
}

impl Inner {
    /// A fresh timestamp: now, or one past the last one handed out.
    pub fn timestamp(&mut self) -> u64 {
        self.clock = now_ms().max(self.clock + 1);
        self.clock
    }

    /// Queues `event` for `number` and writes what it can.
    pub fn enqueue(&mut self, number: &str, event: Value) -> Result<(), FakeError> {
        let account = self
            .accounts
            .get_mut(number)
            .ok_or_else(|| FakeError::UnknownAccount(number.to_owned()))?;
        account.queue.push_back((event, false));
        self.pump(number);
        Ok(())
    }

    /// Writes `number`'s queued envelopes to its open streams, oldest first. An envelope no
    /// stream took (they all closed) stays queued, first in line.
    pub fn pump(&mut self, number: &str) {
        loop {
            let Some(account) = self.accounts.get_mut(number) else {
                return;
            };
            let streams: Vec<usize> = self
                .streams
                .iter()
                .enumerate()
                .filter(|(_, s)| s.account.as_deref().is_none_or(|a| a == number))
                .map(|(index, _)| index)
                .collect();
            if streams.is_empty() {
                return;
            }
            let Some((event, replay)) = account.queue.pop_front() else {
                return;
            };
            let frame = format!("event:receive\ndata:{event}\n\n");
            if std::mem::take(&mut account.cut_next) {
                // Half an event, then the end: the envelope was not delivered and waits.
                account.queue.push_front((event, replay));
                let half = Bytes::from(frame[..frame.len() / 2].to_owned());
                for index in streams.into_iter().rev() {
                    let stream = self.streams.remove(index);
                    let _ = stream.frames.send(Frame::CutThenEnd(half.clone()));
                    self.closed(stream.id);
                }
                return;
            }
            let bytes = Bytes::from(frame);
            let mut written = Vec::new();
            let mut dead = Vec::new();
            for index in streams {
                let stream = &self.streams[index];
                if stream.frames.send(Frame::Bytes(bytes.clone())).is_ok() {
                    written.push(stream.id);
                } else {
                    dead.push(stream.id);
                }
            }
            for id in dead {
                self.remove_stream(id);
            }
            let Some(account) = self.accounts.get_mut(number) else {
                return;
            };
            if written.is_empty() {
                account.queue.push_front((event, replay));
                continue;
            }
            let record = DeliveryRecord {
                timestamp: event
                    .pointer("/envelope/timestamp")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
                source_uuid: event
                    .pointer("/envelope/sourceUuid")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                streams: written,
                replay,
            };
            account.delivered.push(Delivered { event, record });
        }
    }

    /// Registers an open stream, replays what the account's knob asks for, and writes what waits.
    pub fn open_stream(&mut self, stream: LiveStream) {
        let id = stream.id;
        let filter = stream.account.clone();
        self.stream_records.push(StreamRecord {
            id,
            account: filter.clone(),
            opened_ms: now_ms(),
            closed_ms: None,
        });
        self.streams.push(stream);
        let numbers: Vec<String> = match filter {
            Some(number) => vec![number],
            None => self.accounts.keys().cloned().collect(),
        };
        for number in &numbers {
            let open = self.open_streams(number);
            if let Some(account) = self.accounts.get_mut(number) {
                account.max_streams = account.max_streams.max(open);
                let replay = std::mem::take(&mut account.replay_on_connect);
                let from = account.delivered.len().saturating_sub(replay);
                let again: Vec<Value> = account.delivered[from..]
                    .iter()
                    .map(|d| d.event.clone())
                    .collect();
                for event in again.into_iter().rev() {
                    account.queue.push_front((event, true));
                }
            }
            self.pump(number);
        }
    }

    /// Streams open for `number` (its own and those for every account).
    pub fn open_streams(&self, number: &str) -> usize {
        self.streams
            .iter()
            .filter(|s| s.account.as_deref().is_none_or(|a| a == number))
            .count()
    }

    /// Forgets a stream that ended (either side).
    pub fn remove_stream(&mut self, id: u64) {
        self.streams.retain(|s| s.id != id);
        self.closed(id);
    }

    fn closed(&mut self, id: u64) {
        if let Some(record) = self
            .stream_records
            .iter_mut()
            .find(|r| r.id == id && r.closed_ms.is_none())
        {
            record.closed_ms = Some(now_ms());
        }
    }

    /// Ends `number`'s streams (the daemon restarting); returns how many.
    pub fn end_streams(&mut self, number: &str) -> usize {
        let ids: Vec<u64> = self
            .streams
            .iter()
            .filter(|s| s.account.as_deref().is_none_or(|a| a == number))
            .map(|s| s.id)
            .collect();
        for id in &ids {
            if let Some(stream) = self.streams.iter().find(|s| s.id == *id) {
                let _ = stream.frames.send(Frame::End);
            }
            self.remove_stream(*id);
        }
        ids.len()
    }

    /// The next stream id.
    pub fn next_stream_id(&self) -> u64 {
        self.stream_records.last().map_or(1, |r| r.id + 1)
    }
}

/// `+` and 7 to 15 digits.
pub fn is_number(text: &str) -> bool {
    text.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
    })
}
