//! A Cloud API notification (`object: whatsapp_business_account`) as the channel core's messages
//! and the delivery statuses of the bot's own messages. One notification may carry several
//! entries, changes, messages and statuses; only those for this account's phone number id count
//! (one app's webhook may serve several numbers).

use serde_json::Value;

use crate::channel::access::address;
use crate::channel::inbound::{Inbound, MediaRef, Sender};

/// What the bot knows of its own number, to tell when it is addressed.
#[derive(Debug, Clone, Default)]
pub struct Me {
    /// The phone number id notifications name.
    pub phone_number_id: String,
    /// The number's digits (`16505551111`): `@16505551111` in a group mentions the bot.
    pub digits: String,
}

/// A message from a person, with when WhatsApp says it was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The message for the channel core.
    pub message: Inbound,
    /// Unix seconds (opens the 24-hour window of a DM).
    pub sent_at: u64,
}

/// A delivery status of one of the bot's messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The message's `wamid`.
    pub message_id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// Whom it was for.
    pub recipient: String,
    /// Unix seconds.
    pub at: u64,
    /// Why it failed (`failed` only).
    pub error: Option<String>,
}

/// Everything in a notification for `me`.
#[derive(Debug, Default)]
pub struct Notification {
    /// Messages people sent.
    pub received: Vec<Received>,
    /// Statuses of the bot's messages.
    pub statuses: Vec<Status>,
}

/// Reads a notification body for `me`.
pub fn read(body: &Value, me: &Me) -> Notification {
    let mut out = Notification::default();
    let entries = body["entry"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for change in entries
        .iter()
        .filter_map(|entry| entry["changes"].as_array())
        .flatten()
    {
        let value = &change["value"];
        if change["field"].as_str() != Some("messages")
            || value["metadata"]["phone_number_id"].as_str() != Some(me.phone_number_id.as_str())
        {
            continue;
        }
        let contacts = value["contacts"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for message in value["messages"].as_array().into_iter().flatten() {
            if let Some(received) = message_of(message, contacts, me) {
                out.received.push(received);
            }
        }
        for status in value["statuses"].as_array().into_iter().flatten() {
            if let Some(status) = status_of(status) {
                out.statuses.push(status);
            }
        }
    }
    out
}

fn message_of(message: &Value, contacts: &[Value], me: &Me) -> Option<Received> {
    let id = message["id"].as_str()?.to_owned();
    let from = message["from"].as_str()?;
    let kind = message["type"].as_str().unwrap_or_default();
    let (text, media) = content(message, kind)?;
    let group = message["group_id"].as_str().map(str::to_owned);
    let name = contacts
        .iter()
        .find(|c| c["wa_id"].as_str() == Some(from))
        .and_then(|c| c["profile"]["name"].as_str())
        .unwrap_or(from)
        .to_owned();
    let context = &message["context"];
    let replies_to_bot = context["from"]
        .as_str()
        .is_some_and(|author| !me.digits.is_empty() && digits(author) == me.digits);
    let mentions_bot = !me.digits.is_empty() && text.contains(&format!("@{}", me.digits));
    let forwarded = context["forwarded"].as_bool() == Some(true)
        || context["frequently_forwarded"].as_bool() == Some(true);
    let sent_at = message["timestamp"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .or_else(|| message["timestamp"].as_u64())
        .unwrap_or_default();
    let inbound = Inbound {
        id: id.clone(),
        message_id: id,
        chat: group.clone().unwrap_or_else(|| from.to_owned()),
        thread: None,
        reply_thread: None,
        direct: group.is_none(),
        space: group,
        room: None,
        sender: Sender {
            id: address(from),
            username: None,
            name,
            bot: false,
            roles: Vec::new(),
        },
        text,
        mentioned: replies_to_bot || mentions_bot,
        quoted: None,
        forwarded_from: forwarded.then(|| "someone else".to_owned()),
        media,
    };
    Some(Received {
        message: inbound,
        sent_at,
    })
}

/// The text and attachments of a message of type `kind`; `None` for what the agent has nothing to
/// answer (reactions, system notices, unsupported messages).
fn content(message: &Value, kind: &str) -> Option<(String, Vec<MediaRef>)> {
    let body = &message[kind];
    let caption = || body["caption"].as_str().unwrap_or_default().to_owned();
    let media = |kind: &'static str| {
        let id = body["id"].as_str()?.to_owned();
        Some(vec![MediaRef {
            kind,
            locator: id,
            file_name: body["filename"].as_str().map(str::to_owned),
            size: None,
        }])
    };
    match kind {
        "text" => Some((body["body"].as_str()?.to_owned(), Vec::new())),
        "image" => Some((caption(), media("photo")?)),
        "document" => Some((caption(), media("document")?)),
        "video" => Some((caption(), media("video")?)),
        "sticker" => Some((String::new(), media("sticker")?)),
        "audio" => {
            let voice = body["voice"].as_bool() == Some(true);
            Some((String::new(), media(if voice { "voice" } else { "audio" })?))
        }
        "button" => Some((body["text"].as_str()?.to_owned(), Vec::new())),
        "interactive" => {
            let reply = if body["button_reply"].is_object() {
                &body["button_reply"]
            } else {
                &body["list_reply"]
            };
            Some((reply["title"].as_str()?.to_owned(), Vec::new()))
        }
        "location" => {
            let (lat, lon) = (body["latitude"].as_f64()?, body["longitude"].as_f64()?);
            let name = body["name"].as_str().unwrap_or("a location");
            Some((format!("(shared {name} at {lat}, {lon})"), Vec::new()))
        }
        // Shared contact cards: `contacts` is a list, each with a name and phones.
        "contacts" => {
            let cards: Vec<String> = message["contacts"]
                .as_array()?
                .iter()
                .map(|card| {
                    let name = card["name"]["formatted_name"].as_str().unwrap_or("someone");
                    let phones: Vec<&str> = card["phones"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|phone| phone["phone"].as_str())
                        .collect();
                    if phones.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{name}, {}", phones.join(", "))
                    }
                })
                .collect();
            (!cards.is_empty()).then(|| {
                (
                    format!("(shared a contact: {})", cards.join("; ")),
                    Vec::new(),
                )
            })
        }
        _ => None,
    }
}

fn status_of(status: &Value) -> Option<Status> {
    let error = status["errors"]
        .as_array()
        .and_then(|errors| errors.first())
        .map(|e| {
            let details = e["error_data"]["details"]
                .as_str()
                .or_else(|| e["message"].as_str())
                .or_else(|| e["title"].as_str())
                .unwrap_or("no details");
            format!("code {}: {details}", e["code"].as_i64().unwrap_or_default())
        });
    Some(Status {
        message_id: status["id"].as_str()?.to_owned(),
        status: status["status"].as_str()?.to_owned(),
        recipient: status["recipient_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        at: status["timestamp"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or_default(),
        error,
    })
}

/// The digits of a phone number as WhatsApp writes it (`+1 631-555-5555` → `16315555555`).
pub fn digits(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Me {
        Me {
            phone_number_id: "106540352242922".into(),
            digits: "15550783881".into(),
        }
    }

    fn notification(value: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398",
            "changes": [{"field": "messages", "value": value}]}]})
    }

    #[test]
    fn a_text_message_from_a_person_is_a_direct_message() {
        let body = notification(serde_json::json!({
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
            "messages": [{"from": "16505551234", "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
                "timestamp": "1749416383", "type": "text", "text": {"body": "Does it come in another color?"}}]
        }));
        let read = read(&body, &me());
        assert_eq!(read.received.len(), 1);
        let message = &read.received[0].message;
        assert!(message.direct);
        assert_eq!(message.chat, "16505551234");
        assert_eq!(message.sender.id, "+16505551234");
        assert_eq!(message.sender.name, "Sheena Nelson");
        assert_eq!(message.text, "Does it come in another color?");
        assert_eq!(read.received[0].sent_at, 1_749_416_383);
    }

    #[test]
    fn a_shared_contact_card_reaches_the_agent_as_text() {
        let body = notification(serde_json::json!({
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "34600111222"}],
            "messages": [{"from": "34600111222", "id": "wamid.c1", "timestamp": "5", "type": "contacts",
                "contacts": [{"name": {"formatted_name": "Barbara Johnson", "first_name": "Barbara"},
                              "phones": [{"phone": "+1 (940) 555-1234", "type": "HOME", "wa_id": "19405551234"}]}]}]
        }));
        let read = read(&body, &me());
        assert_eq!(
            read.received[0].message.text,
            "(shared a contact: Barbara Johnson, +1 (940) 555-1234)"
        );
    }

    #[test]
    fn group_messages_mentions_media_and_other_numbers() {
        let body = notification(serde_json::json!({
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "34600111222"}],
            "messages": [
                {"from": "34600111222", "group_id": "Y2FmZS1ncm91cA", "id": "wamid.g1", "timestamp": "1",
                 "type": "text", "text": {"body": "@15550783881 what's on?"}},
                {"from": "34600111222", "group_id": "Y2FmZS1ncm91cA", "id": "wamid.g2", "timestamp": "2",
                 "type": "text", "text": {"body": "just chatting"}},
                {"from": "34600111222", "id": "wamid.v1", "timestamp": "3", "type": "audio",
                 "audio": {"id": "1003383421387256", "mime_type": "audio/ogg; codecs=opus", "voice": true}},
                {"from": "34600111222", "id": "wamid.r1", "timestamp": "4", "type": "reaction",
                 "reaction": {"message_id": "wamid.x", "emoji": "👍"}}
            ]
        }));
        let read = read(&body, &me());
        assert_eq!(read.received.len(), 3, "the reaction is not a message");
        let mention = &read.received[0].message;
        assert!(!mention.direct);
        assert_eq!(mention.space.as_deref(), Some("Y2FmZS1ncm91cA"));
        assert!(mention.mentioned);
        assert!(!read.received[1].message.mentioned);
        let voice = &read.received[2].message;
        assert_eq!(voice.media[0].kind, "voice");
        assert_eq!(voice.media[0].locator, "1003383421387256");

        let other = Me {
            phone_number_id: "999".into(),
            ..me()
        };
        assert!(read_for(&body, &other).is_empty(), "another number's");
    }

    fn read_for(body: &serde_json::Value, me: &Me) -> Vec<Received> {
        read(body, me).received
    }

    #[test]
    fn statuses_carry_their_failure() {
        let body = notification(serde_json::json!({
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
            "statuses": [
                {"id": "wamid.s1", "status": "delivered", "timestamp": "1750263773", "recipient_id": "16505551234"},
                {"id": "wamid.s2", "status": "failed", "timestamp": "1750263774", "recipient_id": "16505551234",
                 "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                             "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}}]}
            ]
        }));
        let statuses = read(&body, &me()).statuses;
        assert_eq!(statuses.len(), 2);
        assert_eq!(statuses[0].status, "delivered");
        assert!(
            statuses[1]
                .error
                .as_deref()
                .is_some_and(|e| e.contains("131047"))
        );
    }
}
