//! The fake's world: business numbers (with their token, app secret and webhook), groups, the
//! people who wrote to each number and when (the 24-hour window), media, and a record of every
//! message the business sent and every notification delivered.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;

/// A business number to install.
#[derive(Debug, Clone)]
pub struct NumberSpec {
    /// Its phone number id (what the API paths and notifications name).
    pub phone_number_id: String,
    /// Its display number (`+1 555-078-3881`).
    pub display_phone_number: String,
    /// The business name.
    pub verified_name: String,
    /// The access token the Graph API accepts for it.
    pub access_token: String,
    /// The app secret notifications are signed with.
    pub app_secret: String,
    /// Where notifications go (the gateway's `/whatsapp-webhook/<account>`), once set.
    pub webhook_url: Option<String>,
}

/// A message the business sent through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentMessage {
    /// Its `wamid`.
    pub id: String,
    /// The sending number's id.
    pub from_number: String,
    /// `individual` or `group`.
    pub recipient_type: String,
    /// The person's WhatsApp id or the group id.
    pub to: String,
    /// The text body.
    pub body: String,
    /// The message it quoted (`context.message_id`).
    pub reply_to: Option<String>,
    /// `delivered`, or `failed` with Meta's code (outside the 24-hour window: 131047).
    pub outcome: String,
}

/// A read receipt the business sent, and whether it showed a typing indicator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadReceipt {
    /// The message marked read.
    pub message_id: String,
    /// With `typing_indicator`.
    pub typing: bool,
}

/// One POST of a notification to a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    /// The number it was for.
    pub phone_number_id: String,
    /// The HTTP status, or 0 when the webhook could not be reached.
    pub status: u16,
    /// Which attempt (1 = the first).
    pub attempt: u32,
}

/// Faults to play.
#[derive(Debug, Clone, Default)]
pub struct Knobs {
    /// The next sends fail with this Graph error code (and HTTP status), one per send.
    pub fail_sends: Vec<(u16, i64)>,
    /// Deliver every notification twice, the second after the first was answered (Meta does
    /// this now and then).
    pub duplicate_notifications: bool,
    /// Send `delivered` and `read` statuses for each accepted message (on by default through
    /// [`World::new`]).
    pub statuses: bool,
}

#[derive(Default)]
pub(crate) struct State {
    pub numbers: BTreeMap<String, NumberSpec>,
    /// Group id → (the number in it, members' WhatsApp ids).
    pub groups: BTreeMap<String, (String, Vec<String>)>,
    /// (number id, person) → Unix seconds of their last message.
    pub last_inbound: HashMap<(String, String), u64>,
    /// Inbound message ids by number (what read receipts and replies may name).
    pub inbound_ids: HashMap<String, Vec<String>>,
    /// Media id → (mime type, bytes).
    pub media: HashMap<String, (String, Vec<u8>)>,
    pub sent: Vec<SentMessage>,
    pub receipts: Vec<ReadReceipt>,
    pub deliveries: Vec<DeliveryRecord>,
    pub knobs: Knobs,
    pub next_id: u64,
}

/// The shared state; cheap to clone.
#[derive(Clone)]
pub struct World {
    state: Arc<Mutex<State>>,
    /// `http://127.0.0.1:<port>`: media URLs are built on it.
    pub origin: String,
    /// Posts notifications.
    pub(crate) http: reqwest::Client,
}

impl World {
    /// An empty world served at `origin`.
    pub fn new(origin: &str) -> Self {
        let state = State {
            knobs: Knobs {
                statuses: true,
                ..Knobs::default()
            },
            ..State::default()
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            state: Arc::new(Mutex::new(state)),
            origin: origin.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the state from the others.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Installs a number.
    pub fn lock_numbers_insert(&self, spec: NumberSpec) {
        self.lock()
            .numbers
            .insert(spec.phone_number_id.clone(), spec);
    }

    /// A fresh id with `prefix`.
    pub(crate) fn next_id(&self, prefix: &str) -> String {
        let mut state = self.lock();
        state.next_id += 1;
        format!("{prefix}{:016X}", state.next_id * 7919 + 0x5A17)
    }
}
