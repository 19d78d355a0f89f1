//! BlueBubbles' message records (in a `new-message` webhook, or from a catch-up query) as the
//! channel core's messages, and `updated-message` webhooks as delivery receipts of the bot's own
//! messages. A chat's guid says what it is: `iMessage;-;+15551234567` a direct chat,
//! `iMessage;+;chat1234…` a group.

use serde_json::Value;

use crate::channel::access::address;
use crate::channel::inbound::{Inbound, MediaRef, Sender};

/// A webhook's meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message (the bot's own are `from_me`).
    Message(Box<Message>),
    /// A message of the bot was delivered or read.
    Receipt(Receipt),
    /// Sending a message failed on the Mac.
    SendError {
        /// The message's guid.
        guid: String,
        /// Why.
        reason: String,
    },
    /// Typing bubbles, chat renames and the like.
    Other,
}

/// A message with what the bridge needs beyond the channel core's view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// For the channel core.
    pub inbound: Inbound,
    /// Written by the Mac's own Apple ID (the bot's replies, or its owner typing there).
    pub from_me: bool,
    /// Unix ms it was created.
    pub created_ms: u64,
    /// The message it replies to (an inline reply), whose author decides whether the bot was
    /// addressed.
    pub replies_to: Option<String>,
}

/// A delivery receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The message's guid.
    pub guid: String,
    /// `delivered` or `read`.
    pub status: &'static str,
    /// Unix ms.
    pub at: u64,
}

/// Reads a webhook body.
pub fn read(body: &Value) -> Event {
    let data = &body["data"];
    match body["type"].as_str() {
        Some("new-message") => message(data).map_or(Event::Other, |m| Event::Message(Box::new(m))),
        Some("updated-message") if data["isFromMe"].as_bool() == Some(true) => {
            let guid = data["guid"].as_str().unwrap_or_default().to_owned();
            let read_at = data["dateRead"].as_u64().filter(|t| *t > 0);
            let delivered_at = data["dateDelivered"].as_u64().filter(|t| *t > 0);
            match (read_at, delivered_at) {
                (Some(at), _) => Event::Receipt(Receipt {
                    guid,
                    status: "read",
                    at,
                }),
                (None, Some(at)) => Event::Receipt(Receipt {
                    guid,
                    status: "delivered",
                    at,
                }),
                _ => Event::Other,
            }
        }
        Some("message-send-error") => Event::SendError {
            guid: data["guid"].as_str().unwrap_or_default().to_owned(),
            reason: data["error"].as_i64().map_or_else(
                || "unknown error".to_owned(),
                |code| format!("error {code}"),
            ),
        },
        _ => Event::Other,
    }
}

/// Whether a record is a tapback, its removal or a sticker put on another message: a reaction,
/// not a message. BlueBubbles names the kind as a string (`"love"`, `"-like"`, `"sticker"`, or
/// the code, `"2006"`, for the ones it has no name for) and leaves it null on plain messages;
/// a number is read too, as the Messages database holds it.
fn is_associated(data: &Value) -> bool {
    let kind = &data["associatedMessageType"];
    kind.as_str().is_some_and(|k| !k.is_empty() && k != "0")
        || kind.as_i64().is_some_and(|k| k != 0)
        || data["associatedMessageGuid"]
            .as_str()
            .is_some_and(|g| !g.is_empty())
}

/// A message record as the channel core's message; `None` for what carries nothing to answer
/// (tapbacks, group events, empty messages).
pub fn message(data: &Value) -> Option<Message> {
    let guid = data["guid"].as_str()?.to_owned();
    if is_associated(data) || data["itemType"].as_i64().is_some_and(|t| t != 0) {
        return None;
    }
    let chat = data["chats"].as_array()?.first()?;
    let chat_guid = chat["guid"].as_str()?.to_owned();
    let group = chat_guid.split(';').nth(1) == Some("+");
    let handle = data["handle"]["address"].as_str().unwrap_or_default();
    let text = data["text"]
        .as_str()
        .unwrap_or_default()
        .replace('\u{fffc}', "");
    let media: Vec<MediaRef> = data["attachments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|attachment| {
            let mime = attachment["mimeType"].as_str().unwrap_or_default();
            let kind = if data["isAudioMessage"].as_bool() == Some(true) {
                "voice"
            } else if mime.starts_with("image/") {
                "photo"
            } else if mime.starts_with("video/") {
                "video"
            } else if mime.starts_with("audio/") {
                "audio"
            } else {
                "document"
            };
            Some(MediaRef {
                kind,
                locator: attachment["guid"].as_str()?.to_owned(),
                file_name: attachment["transferName"].as_str().map(str::to_owned),
                size: attachment["totalBytes"].as_u64(),
            })
        })
        .collect();
    if text.trim().is_empty() && media.is_empty() {
        return None;
    }
    let name = chat["participants"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["address"].as_str() == Some(handle))
        .and_then(|p| p["displayName"].as_str().filter(|n| !n.is_empty()))
        .unwrap_or(handle)
        .to_owned();
    let replies_to = data["threadOriginatorGuid"]
        .as_str()
        .filter(|g| !g.is_empty() && *g != guid)
        .map(str::to_owned);
    let inbound = Inbound {
        id: guid.clone(),
        message_id: guid,
        chat: chat_guid.clone(),
        thread: None,
        reply_thread: None,
        direct: !group,
        space: group.then_some(chat_guid),
        room: None,
        sender: Sender {
            id: address(handle),
            username: None,
            name,
            bot: false,
            roles: Vec::new(),
        },
        text,
        mentioned: false,
        quoted: None,
        forwarded_from: None,
        media,
    };
    Some(Message {
        inbound,
        from_me: data["isFromMe"].as_bool() == Some(true),
        created_ms: data["dateCreated"].as_u64().unwrap_or_default(),
        replies_to,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(chat: &str, text: &str) -> serde_json::Value {
        serde_json::json!({
            "originalROWID": 412, "guid": "7D3F2A9C-1B4E-4C1A-9D3B-0A1B2C3D4E5F", "text": text,
            "handle": {"originalROWID": 3, "address": "+15551234567", "service": "iMessage"},
            "isFromMe": false, "dateCreated": 1_733_350_000_000_u64, "itemType": 0,
            "associatedMessageType": null, "threadOriginatorGuid": null,
            "attachments": [],
            "chats": [{"guid": chat, "chatIdentifier": "x", "displayName": "",
                       "participants": [{"address": "+15551234567", "displayName": "Ana"}]}]
        })
    }

    #[test]
    fn a_direct_chat_message() {
        let event = read(&serde_json::json!({"type": "new-message",
            "data": record("iMessage;-;+15551234567", "hello there")}));
        let Event::Message(message) = event else {
            panic!("a message: {event:?}")
        };
        assert!(message.inbound.direct);
        assert_eq!(message.inbound.chat, "iMessage;-;+15551234567");
        assert_eq!(message.inbound.sender.id, "+15551234567");
        assert_eq!(message.inbound.sender.name, "Ana");
        assert_eq!(message.created_ms, 1_733_350_000_000);
        assert!(!message.from_me);
    }

    #[test]
    fn groups_tapbacks_attachments_and_receipts() {
        let group = message(&record("iMessage;+;chat493787", "bot, what's up?")).expect("message");
        assert!(!group.inbound.direct);
        assert_eq!(
            group.inbound.space.as_deref(),
            Some("iMessage;+;chat493787")
        );
        for kind in [
            json!("love"),
            json!("-like"),
            json!("sticker"),
            json!("2006"),
            json!(2000),
        ] {
            let mut tapback = record("iMessage;+;chat493787", "Loved “hi”");
            tapback["associatedMessageType"] = kind.clone();
            assert_eq!(message(&tapback), None, "{kind}");
        }
        let mut unnamed = record("iMessage;+;chat493787", "Reacted 😂 to “hi”");
        unnamed["associatedMessageGuid"] = json!("p:0/7D3F2A9C-1B4E-4C1A-9D3B-0A1B2C3D4E5F");
        assert_eq!(message(&unnamed), None);
        let mut photo = record("iMessage;-;+15551234567", "\u{fffc}");
        photo["attachments"] = serde_json::json!([{"guid": "at_1", "mimeType": "image/heic",
            "transferName": "IMG_0042.HEIC", "totalBytes": 183_422}]);
        let photo = message(&photo).expect("photo");
        assert_eq!(photo.inbound.media[0].kind, "photo");
        assert_eq!(photo.inbound.text, "");
        let receipt = read(&serde_json::json!({"type": "updated-message", "data": {
            "guid": "G1", "isFromMe": true, "dateDelivered": 5, "dateRead": 9}}));
        assert_eq!(
            receipt,
            Event::Receipt(Receipt {
                guid: "G1".into(),
                status: "read",
                at: 9
            })
        );
        assert_eq!(
            read(&serde_json::json!({"type": "typing-indicator", "data": {}})),
            Event::Other
        );
    }
}
