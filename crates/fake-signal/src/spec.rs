//! What tests declare and inject: people (an ACI, maybe a number, a profile name), accounts,
//! and incoming messages (a DM or a group message, with mentions, a quote, attachments), turned
//! into the `receive` event signal-cli writes for each (`{"envelope": {...}, "account": "+…"}`,
//! the field names and nulls of its `JsonMessageEnvelope` and `JsonDataMessage`).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::records::SentMessage;

/// The placeholder Signal puts in a message's text where a mention is.
pub const MENTION_PLACEHOLDER: char = '\u{fffc}';

/// A Signal user: an ACI always, a number unless they hide it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Their number (E.164), `None` when hidden.
    pub number: Option<String>,
    /// Their ACI.
    pub uuid: String,
    /// Their profile name.
    pub name: String,
}

impl Person {
    /// Someone with this number and a fresh ACI.
    pub fn new(number: &str, name: &str) -> Self {
        Self {
            number: Some(number.to_owned()),
            uuid: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
        }
    }

    /// Someone whose number is hidden: only their ACI is known.
    pub fn without_number(name: &str) -> Self {
        Self {
            number: None,
            uuid: uuid::Uuid::new_v4().to_string(),
            name: name.to_owned(),
        }
    }

    /// signal-cli's legacy `source`: the number if known, else the ACI.
    pub fn legacy_identifier(&self) -> String {
        self.number.clone().unwrap_or_else(|| self.uuid.clone())
    }

    /// As a JSON `recipientAddress`.
    pub fn address(&self) -> Value {
        json!({ "uuid": self.uuid, "number": self.number })
    }
}

/// An account of the daemon: a registered number and its ACI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountIdentity {
    /// Its number.
    pub number: String,
    /// Its ACI.
    pub uuid: String,
}

impl AccountIdentity {
    /// The account as a [`Person`] (to mention or quote it).
    pub fn person(&self) -> Person {
        Person {
            number: Some(self.number.clone()),
            uuid: self.uuid.clone(),
            name: "bot".to_owned(),
        }
    }
}

/// A mention: a range of the text (UTF-16 code units) naming someone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mention {
    /// Who.
    pub who: Person,
    /// Where it starts.
    pub start: u32,
    /// How long it is (1: the placeholder).
    pub length: u32,
}

/// A quote of an earlier message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// The quoted message's timestamp.
    pub id: u64,
    /// Its author.
    pub author: Person,
    /// Its text.
    pub text: String,
}

/// An attached file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachmentSpec {
    /// MIME type.
    pub content_type: String,
    /// File name (`None` for a voice note).
    pub filename: Option<String>,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// A message someone sends to an account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incoming {
    /// The author.
    pub from: Person,
    /// Its text (with a [`MENTION_PLACEHOLDER`] per mention); empty for attachments only.
    pub text: String,
    /// The group it is in (its base64 id), `None` for a DM.
    pub group: Option<String>,
    /// Mentions.
    pub mentions: Vec<Mention>,
    /// A quoted message.
    pub quote: Option<Quote>,
    /// Attachments.
    pub attachments: Vec<AttachmentSpec>,
    /// The message's timestamp; `None` takes the fake's clock.
    pub timestamp: Option<u64>,
}

impl Incoming {
    /// A direct message.
    pub fn dm(from: &Person, text: &str) -> Self {
        Self {
            from: from.clone(),
            text: text.to_owned(),
            group: None,
            mentions: Vec::new(),
            quote: None,
            attachments: Vec::new(),
            timestamp: None,
        }
    }

    /// A message in `group`.
    pub fn in_group(group: &str, from: &Person, text: &str) -> Self {
        Self {
            group: Some(group.to_owned()),
            ..Self::dm(from, text)
        }
    }

    /// The same, mentioning `who` at its start (as Signal writes a mention: a placeholder).
    #[must_use]
    pub fn mentioning(mut self, who: &Person) -> Self {
        self.text = format!("{MENTION_PLACEHOLDER} {}", self.text);
        for mention in &mut self.mentions {
            mention.start += 2;
        }
        self.mentions.insert(
            0,
            Mention {
                who: who.clone(),
                start: 0,
                length: 1,
            },
        );
        self
    }

    /// The same, quoting `message` that `author` (the account) sent.
    #[must_use]
    pub fn quoting(mut self, message: &SentMessage, author: &Person) -> Self {
        self.quote = Some(Quote {
            id: message.timestamp,
            author: author.clone(),
            text: message.text.clone(),
        });
        self
    }

    /// The same, with an attachment.
    #[must_use]
    pub fn with_attachment(mut self, attachment: AttachmentSpec) -> Self {
        self.attachments.push(attachment);
        self
    }
}

/// What signal-cli writes for a received message: the `receive` event's data. `attachment_ids`
/// are the ids under which the attachments were stored.
pub fn receive_event(
    account: &str,
    incoming: &Incoming,
    timestamp: u64,
    group_name: Option<&str>,
    attachment_ids: &[String],
) -> Value {
    let mut data = json!({
        "timestamp": timestamp,
        "message": if incoming.text.is_empty() { Value::Null } else { json!(incoming.text) },
        "expiresInSeconds": 0,
        "viewOnce": false,
    });
    if let Some(group) = &incoming.group {
        data["groupInfo"] = json!({
            "groupId": group, "groupName": group_name, "revision": 1, "type": "DELIVER"
        });
    }
    if !incoming.mentions.is_empty() {
        data["mentions"] = incoming
            .mentions
            .iter()
            .map(|m| {
                json!({
                    "name": m.who.legacy_identifier(), "number": m.who.number, "uuid": m.who.uuid,
                    "start": m.start, "length": m.length,
                })
            })
            .collect();
    }
    if let Some(quote) = &incoming.quote {
        data["quote"] = json!({
            "id": quote.id,
            "author": quote.author.legacy_identifier(),
            "authorNumber": quote.author.number,
            "authorUuid": quote.author.uuid,
            "text": quote.text,
            "attachments": [],
        });
    }
    if !incoming.attachments.is_empty() {
        data["attachments"] = incoming
            .attachments
            .iter()
            .zip(attachment_ids)
            .map(|(attachment, id)| {
                json!({
                    "contentType": attachment.content_type, "filename": attachment.filename,
                    "id": id, "size": attachment.data.len(), "width": null, "height": null,
                    "caption": null, "uploadTimestamp": timestamp,
                })
            })
            .collect();
    }
    envelope_event(account, &incoming.from, timestamp, "dataMessage", data)
}

/// A `receive` event of another kind from `from`: `kind` is `receiptMessage`, `typingMessage`,
/// `syncMessage`, `dataMessage`... with its content.
pub fn envelope_event(
    account: &str,
    from: &Person,
    timestamp: u64,
    kind: &str,
    content: Value,
) -> Value {
    let mut envelope = json!({
        "source": from.legacy_identifier(),
        "sourceNumber": from.number,
        "sourceUuid": from.uuid,
        "sourceName": from.name,
        "sourceDevice": 1,
        "timestamp": timestamp,
        "serverReceivedTimestamp": timestamp + 3,
        "serverDeliveredTimestamp": timestamp + 5,
    });
    envelope[kind] = content;
    json!({ "envelope": envelope, "account": account })
}
