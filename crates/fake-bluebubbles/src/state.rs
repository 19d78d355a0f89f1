//! The fake server's state: its chats and message database, what the bot sent, and the webhook.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::{Value, json};

use crate::Incoming;

/// A text the bot sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentText {
    /// Its guid.
    pub guid: String,
    /// The chat.
    pub chat: String,
    /// The text.
    pub text: String,
    /// `apple-script` or `private-api`.
    pub method: String,
    /// The message it replied to inline.
    pub reply_to: Option<String>,
    /// The client's `tempGuid`.
    pub temp_guid: String,
}

/// Faults and settings.
#[derive(Debug, Clone)]
pub struct Knobs {
    /// The Private API helper is on.
    pub private_api: bool,
    /// Webhooks are not posted (the server lost track of its webhook).
    pub webhook_down: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            private_api: true,
            webhook_down: false,
        }
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub password: String,
    pub webhook: Option<String>,
    /// Every message, people's and the bot's, in creation order.
    pub messages: Vec<Value>,
    /// Attachment guid → (mime, bytes).
    pub attachments: HashMap<String, (String, Vec<u8>)>,
    pub sent: Vec<SentText>,
    pub typing_calls: usize,
    pub knobs: Knobs,
    pub next: u64,
    pub last_ms: u64,
}

/// The shared state; cheap to clone.
#[derive(Clone)]
pub struct World {
    state: Arc<Mutex<State>>,
    http: reqwest::Client,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl World {
    /// A server with `password`.
    pub fn new(password: &str) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            state: Arc::new(Mutex::new(State {
                password: password.to_owned(),
                ..State::default()
            })),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A guid and a creation time, strictly increasing.
    pub(crate) fn stamp(&self) -> (String, u64) {
        let mut state = self.lock();
        state.next += 1;
        let ms = now_ms().max(state.last_ms + 1);
        state.last_ms = ms;
        (format!("7D3F2A9C-1B4E-4C1A-9D3B-{:012X}", state.next), ms)
    }

    /// The chat record of `chat_guid` with the participants seen in it.
    pub(crate) fn chat(&self, chat_guid: &str, participant: &str) -> Value {
        json!({
            "guid": chat_guid,
            "chatIdentifier": chat_guid.rsplit(';').next().unwrap_or_default(),
            "displayName": "",
            "style": if chat_guid.contains(";+;") { 43 } else { 45 },
            "participants": [{"address": participant, "displayName": ""}],
        })
    }

    /// Stores a person's message; returns its guid and record.
    pub fn receive(&self, incoming: &Incoming) -> (String, Value) {
        let (guid, created) = self.stamp();
        let mut attachments = Vec::new();
        if let Some((mime, bytes, name)) = &incoming.attachment {
            let (attachment_guid, _) = self.stamp();
            attachments.push(json!({
                "guid": attachment_guid, "mimeType": mime, "transferName": name,
                "totalBytes": bytes.len(),
            }));
            self.lock()
                .attachments
                .insert(attachment_guid, (mime.clone(), bytes.clone()));
        }
        let text = if incoming.attachment.is_some() && incoming.text.is_empty() {
            "\u{fffc}".to_owned()
        } else {
            incoming.text.clone()
        };
        let record = json!({
            "originalROWID": created % 1_000_000, "guid": guid, "text": text,
            "handle": {"address": incoming.from, "service": "iMessage"},
            "isFromMe": false, "dateCreated": created, "dateDelivered": 0, "dateRead": 0,
            "itemType": 0,
            "associatedMessageType": incoming.tapback.as_ref().map(|(kind, _)| kind),
            "associatedMessageGuid": incoming.tapback.as_ref().map(|(_, target)| format!("p:0/{target}")),
            "threadOriginatorGuid": incoming.reply_to,
            "attachments": attachments,
            "chats": [self.chat(&incoming.chat, &incoming.from)],
        });
        self.lock().messages.push(record.clone());
        (guid, record)
    }

    /// Posts one webhook (once, as BlueBubbles does); the status, 0 when not delivered.
    pub async fn post_webhook(&self, kind: &str, data: &Value) -> u16 {
        let (url, down) = {
            let state = self.lock();
            (state.webhook.clone(), state.knobs.webhook_down)
        };
        let Some(url) = url.filter(|_| !down) else {
            return 0;
        };
        self.http
            .post(url)
            .json(&json!({"type": kind, "data": data}))
            .send()
            .await
            .map_or(0, |response| response.status().as_u16())
    }
}
