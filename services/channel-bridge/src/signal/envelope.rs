//! A signal-cli `receive` event as the bridge sees it: `{"envelope": {...}, "account": "+…"}`.
//! An envelope with a `dataMessage` that says something (text or attachments) becomes the channel
//! core's message; receipts, typing, sync messages (the account's other devices), calls, stories,
//! edits, reactions, deletions, group updates and the account's own messages are skipped.
//!
//! Identity: Signal names a message by its author and its timestamp, so the message id is
//! `<author>:<timestamp>`, the author being its ACI (a lowercase UUID, stable for life) or, from
//! an old daemon that gives none, its number. A redelivered envelope has the same id. The chat of a
//! DM is the author (what `send` takes as `recipient`); a group's chat and space is its id.
//! Mentions are ranges in UTF-16 code units over a U+FFFC placeholder; they read as `@who`.

use serde_json::Value;

use crate::channel::access::address;
use crate::channel::inbound::{Inbound, MediaRef, Sender};

/// The account the events are for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Me {
    /// Its number (E.164).
    pub number: String,
    /// Its ACI, once seen (in an envelope of its own); mentions name it.
    pub uuid: Option<String>,
}

impl Me {
    fn is(&self, number: Option<&str>, uuid: Option<&str>) -> bool {
        number.is_some_and(|n| address(n) == self.number)
            || uuid.is_some_and(|u| self.uuid.as_deref() == Some(aci(u).as_str()))
    }
}

/// An ACI as ids compare it: lowercase, without a `uuid:` prefix. (Not through [`address`], which
/// would read a UUID made of decimal digits only as a phone number.)
pub fn aci(uuid: &str) -> String {
    let uuid = uuid.trim();
    uuid.strip_prefix("uuid:").unwrap_or(uuid).to_lowercase()
}

/// The account's own ACI, when `event` is one of its own envelopes (a sync message from one of its
/// devices carries both its number and its ACI).
pub fn own_uuid(event: &Value, me: &Me) -> Option<String> {
    let envelope = event.get("envelope")?;
    let number = text(envelope, "sourceNumber").or_else(|| text(envelope, "source"))?;
    (address(&number) == me.number)
        .then(|| text(envelope, "sourceUuid"))
        .flatten()
        .map(|uuid| aci(&uuid))
}

/// The message of a `receive` event's data; `None` when it is not one to consider.
pub fn message(event: &Value, me: &Me) -> Option<Inbound> {
    if let Some(account) = text(event, "account")
        && address(&account) != me.number
    {
        // Another number's event on a stream that was meant to carry this one's only.
        return None;
    }
    let envelope = event.get("envelope")?;
    let data = envelope.get("dataMessage").filter(|d| d.is_object())?;
    let number = text(envelope, "sourceNumber")
        .or_else(|| text(envelope, "source").filter(|s| s.starts_with('+')));
    let uuid = text(envelope, "sourceUuid");
    if me.is(number.as_deref(), uuid.as_deref()) {
        return None;
    }
    let author = match (&uuid, &number) {
        (Some(uuid), _) => aci(uuid),
        (None, Some(number)) => address(number),
        (None, None) => return None,
    };
    let timestamp = envelope
        .get("timestamp")
        .and_then(Value::as_u64)
        .or_else(|| data.get("timestamp").and_then(Value::as_u64))?;
    let not_a_message = data.get("reaction").is_some_and(|r| !r.is_null())
        || data.get("remoteDelete").is_some_and(|r| !r.is_null())
        || data.pointer("/groupInfo/type").and_then(Value::as_str) == Some("UPDATE");
    if not_a_message {
        return None;
    }
    let group = data
        .pointer("/groupInfo/groupId")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
        .map(str::to_owned);
    let chat = group.clone().unwrap_or_else(|| author.clone());
    let mentions = list(data, "mentions");
    let body = data
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let media: Vec<MediaRef> = list(data, "attachments")
        .iter()
        .filter_map(|attachment| media(attachment, &chat))
        .collect();
    if body.trim().is_empty() && media.is_empty() {
        // A sticker, a poll, an expiration timer change, a payment...
        return None;
    }
    let quote = data.get("quote").filter(|q| q.is_object());
    let quotes_me = quote.is_some_and(|q| {
        me.is(
            text(q, "authorNumber").as_deref(),
            text(q, "authorUuid").as_deref(),
        )
    });
    let mentions_me = mentions
        .iter()
        .any(|m| me.is(text(m, "number").as_deref(), text(m, "uuid").as_deref()));
    let id = format!("{author}:{timestamp}");
    let name = text(envelope, "sourceName")
        .filter(|n| !n.trim().is_empty())
        .or_else(|| number.clone())
        .unwrap_or_else(|| author.clone());
    Some(Inbound {
        message_id: id.clone(),
        id,
        direct: group.is_none(),
        space: group,
        room: None,
        thread: None,
        reply_thread: None,
        chat,
        sender: Sender {
            // The ACI is the sender's id (pairing and sessions survive a number change or a
            // hidden number); the number is still matched by allowFrom as the username.
            username: number
                .as_deref()
                .map(address)
                .filter(|number| *number != author),
            id: author,
            name,
            bot: false,
            roles: Vec::new(),
        },
        text: readable(body, mentions, me),
        mentioned: mentions_me || quotes_me,
        quoted: quote
            .and_then(|q| text(q, "text"))
            .filter(|t| !t.trim().is_empty()),
        forwarded_from: None,
        media,
    })
}

/// The text with each mention's placeholder written as `@who` (the account itself by its
/// number). Ranges count UTF-16 code units; a range outside the text is left alone.
fn readable(body: &str, mentions: &[Value], me: &Me) -> String {
    let mut ranges: Vec<(usize, usize, String)> = mentions
        .iter()
        .filter_map(|mention| {
            let start = usize::try_from(mention.get("start")?.as_u64()?).ok()?;
            let length = usize::try_from(mention.get("length")?.as_u64()?).ok()?;
            let number = text(mention, "number");
            let uuid = text(mention, "uuid");
            let who = if me.is(number.as_deref(), uuid.as_deref()) {
                me.number.clone()
            } else {
                number
                    .or(uuid)
                    .or_else(|| text(mention, "name"))
                    .unwrap_or_default()
            };
            Some((start, length, format!("@{who}")))
        })
        .collect();
    if ranges.is_empty() {
        return body.to_owned();
    }
    // From the end, so earlier ranges keep their offsets.
    ranges.sort_by_key(|range| std::cmp::Reverse(range.0));
    let mut units: Vec<u16> = body.encode_utf16().collect();
    let mut previous_start = usize::MAX;
    for (start, length, who) in ranges {
        let end = start.saturating_add(length);
        if end > units.len() || end > previous_start {
            continue;
        }
        units.splice(start..end, who.encode_utf16());
        previous_start = start;
    }
    String::from_utf16_lossy(&units)
}

/// An attachment: its id and the chat it came in are what `getAttachment` needs.
fn media(attachment: &Value, chat: &str) -> Option<MediaRef> {
    let id = text(attachment, "id")?;
    let content_type = text(attachment, "contentType").unwrap_or_default();
    let file_name = text(attachment, "filename");
    let kind = match content_type.split('/').next() {
        Some("image") => "photo",
        // Signal's voice notes are AAC recordings without a file name.
        Some("audio") if file_name.is_none() => "voice",
        Some("audio") => "audio",
        Some("video") => "video",
        _ => "document",
    };
    Some(MediaRef {
        kind,
        locator: locator(chat, &id),
        file_name: Some(safe_file_name(file_name.as_deref(), &id)),
        size: attachment.get("size").and_then(Value::as_u64),
    })
}

/// The name the agent's copy gets: the sender's, as one plain file name, else signal-cli's id
/// for it (`<random>.<ext>`). Always set, because the core's fallback is made from the chat id,
/// and a group's (base64) may hold a `/`.
fn safe_file_name(given: Option<&str>, id: &str) -> String {
    let plain = |name: &str| -> String {
        let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
        let cleaned: String = last
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ' | '(' | ')') {
                    c
                } else {
                    '_'
                }
            })
            .take(120)
            .collect();
        cleaned.trim().trim_start_matches('.').to_owned()
    };
    let name = given.map(plain).unwrap_or_default();
    if name.is_empty() { plain(id) } else { name }
}

/// A [`MediaRef::locator`]: the chat and the attachment id (neither contains a space).
pub fn locator(chat: &str, id: &str) -> String {
    format!("{chat} {id}")
}

/// The chat and attachment id of a [`locator`].
pub fn parse_locator(locator: &str) -> Option<(&str, &str)> {
    locator
        .split_once(' ')
        .filter(|(chat, id)| !chat.is_empty() && !id.is_empty())
}

fn list<'a>(value: &'a Value, field: &str) -> &'a [Value] {
    value
        .get(field)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn text(value: &Value, field: &str) -> Option<String> {
    value
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const BOT: &str = "+15550001111";
    const BOT_UUID: &str = "0b0b0b0b-0000-4000-8000-000000000001";
    const ANA: &str = "+15552223333";
    const ANA_UUID: &str = "CB3C2BD0-5C34-4D3E-9F5E-2B7C8A1F0E11";

    fn me() -> Me {
        Me {
            number: BOT.into(),
            uuid: Some(BOT_UUID.into()),
        }
    }

    fn event(data: Value) -> Value {
        json!({"account": BOT, "envelope": {
            "source": ANA, "sourceNumber": ANA, "sourceUuid": ANA_UUID, "sourceName": "Ana",
            "sourceDevice": 1, "timestamp": 1_700_000_000_123_u64,
            "serverReceivedTimestamp": 1_700_000_000_200_u64, "serverDeliveredTimestamp": 1_700_000_000_201_u64,
            "dataMessage": data,
        }})
    }

    #[test]
    fn a_dm_is_named_by_its_author_and_timestamp() {
        let dm = event(
            json!({"timestamp": 1_700_000_000_123_u64, "message": "hello", "expiresInSeconds": 0, "viewOnce": false}),
        );
        let message = message(&dm, &me()).expect("a message");
        let author = "cb3c2bd0-5c34-4d3e-9f5e-2b7c8a1f0e11";
        assert_eq!(message.id, format!("{author}:1700000000123"));
        assert_eq!(message.message_id, message.id);
        assert!(message.direct && message.space.is_none());
        assert_eq!(message.chat, author, "a DM is answered to its author");
        assert_eq!(message.sender.id, author);
        assert_eq!(message.sender.username.as_deref(), Some(ANA));
        assert_eq!(message.sender.name, "Ana");
        assert_eq!(message.text, "hello");
        assert!(!message.mentioned);
        assert_eq!(
            super::message(&dm, &me()).map(|m| m.id),
            Some(message.id),
            "the same envelope again has the same id"
        );
    }

    #[test]
    fn without_an_aci_the_number_is_the_author() {
        let mut dm = event(json!({"message": "hi"}));
        dm["envelope"]["sourceUuid"] = Value::Null;
        let message = message(&dm, &me()).expect("a message");
        assert_eq!(message.id, format!("{ANA}:1700000000123"));
        assert_eq!(message.chat, ANA);
        assert_eq!(message.sender.username, None);
    }

    #[test]
    fn a_group_message_that_mentions_the_account() {
        // The emoji is two UTF-16 code units: the second mention starts at 16, not 15.
        let text = "\u{fffc} what about \u{1f600} \u{fffc}?";
        let group = event(json!({
            "message": text,
            "groupInfo": {"groupId": "R3JvdXBJZEdyb3VwSWRHcm91cElkR3JvdXBJZDA=", "groupName": "Team", "revision": 3, "type": "DELIVER"},
            "mentions": [
                {"name": BOT, "number": BOT, "uuid": BOT_UUID, "start": 0, "length": 1},
                {"name": "+15559990000", "number": "+15559990000", "uuid": "aaaaaaaa-2222-4333-8444-555555555555", "start": 16, "length": 1}
            ]
        }));
        let message = message(&group, &me()).expect("a message");
        assert!(!message.direct && message.mentioned);
        assert_eq!(
            message.space.as_deref(),
            Some("R3JvdXBJZEdyb3VwSWRHcm91cElkR3JvdXBJZDA=")
        );
        assert_eq!(message.chat, message.space.clone().unwrap_or_default());
        assert_eq!(
            message.text,
            format!("@{BOT} what about \u{1f600} @+15559990000?")
        );

        let by_uuid_only = event(json!({"message": "\u{fffc} hi",
            "groupInfo": {"groupId": "R3JvdXBJZA==", "type": "DELIVER"},
            "mentions": [{"uuid": BOT_UUID, "start": 0, "length": 1}]}));
        assert!(message_of(&by_uuid_only).mentioned);
        let other = event(json!({"message": "\u{fffc} hi",
            "groupInfo": {"groupId": "R3JvdXBJZA==", "type": "DELIVER"},
            "mentions": [{"number": "+15559990000", "start": 0, "length": 1}]}));
        assert!(!message_of(&other).mentioned);
    }

    fn message_of(event: &Value) -> Inbound {
        message(event, &me()).expect("a message")
    }

    #[test]
    fn a_quote_of_the_accounts_message_addresses_it() {
        let reply = event(json!({"message": "and then?",
            "groupInfo": {"groupId": "R3JvdXBJZA==", "type": "DELIVER"},
            "quote": {"id": 1_699_999_999_000_u64, "author": BOT, "authorNumber": BOT, "authorUuid": BOT_UUID,
                      "text": "earlier answer", "attachments": []}}));
        let message = message_of(&reply);
        assert!(message.mentioned);
        assert_eq!(message.quoted.as_deref(), Some("earlier answer"));
        let mut of_someone_else = reply;
        of_someone_else["envelope"]["dataMessage"]["quote"]["authorNumber"] = json!(ANA);
        of_someone_else["envelope"]["dataMessage"]["quote"]["authorUuid"] = json!(ANA_UUID);
        assert!(!message_of(&of_someone_else).mentioned);
    }

    #[test]
    fn attachments_are_media_to_fetch_by_id() {
        let photo = event(json!({"message": null, "attachments": [
            {"contentType": "image/jpeg", "filename": "cat.jpg", "id": "Xk3j2.jpg", "size": 5120},
            {"contentType": "audio/aac", "filename": null, "id": "v0ice.aac", "size": 900}
        ]}));
        let message = message_of(&photo);
        assert_eq!(message.text, "");
        assert_eq!(message.media.len(), 2);
        assert_eq!(message.media[0].kind, "photo");
        assert_eq!(message.media[0].file_name.as_deref(), Some("cat.jpg"));
        assert_eq!(message.media[0].size, Some(5120));
        assert_eq!(message.media[1].kind, "voice");
        assert_eq!(
            message.media[1].file_name.as_deref(),
            Some("v0ice.aac"),
            "named after its id, not the chat"
        );
        assert_eq!(safe_file_name(Some("../../SOUL.md"), "x.bin"), "SOUL.md");
        assert_eq!(safe_file_name(Some("a/b\\c:d.txt"), "x.bin"), "c_d.txt");
        assert_eq!(safe_file_name(Some(".."), "x.bin"), "x.bin");
        assert_eq!(
            parse_locator(&message.media[0].locator),
            Some((message.chat.as_str(), "Xk3j2.jpg"))
        );
    }

    #[test]
    fn what_is_not_someone_saying_something_is_skipped() {
        let base = event(json!({"message": "x"}));
        let mut skipped = Vec::new();
        for (path, value) in [
            ("/envelope/dataMessage", Value::Null),
            ("/envelope/dataMessage/message", Value::Null),
            ("/envelope/dataMessage/message", json!("   ")),
        ] {
            let mut event = base.clone();
            if let Some(slot) = event.pointer_mut(path) {
                *slot = value;
            }
            skipped.push(event);
        }
        let envelope = base["envelope"].clone();
        let without_data = |extra: Value| {
            let mut envelope = envelope.clone();
            if let Some(map) = envelope.as_object_mut() {
                map.remove("dataMessage");
                if let Some(extra) = extra.as_object() {
                    map.extend(extra.clone());
                }
            }
            json!({"account": BOT, "envelope": envelope})
        };
        skipped.push(without_data(json!({"receiptMessage": {"when": 1, "isDelivery": true, "isRead": false, "isViewed": false, "timestamps": [1]}})));
        skipped.push(without_data(
            json!({"typingMessage": {"action": "STARTED", "timestamp": 1}}),
        ));
        skipped.push(without_data(json!({"syncMessage": {"sentMessage": {"destination": ANA, "timestamp": 1, "message": "from my phone"}}})));
        skipped.push(event(
            json!({"message": null, "reaction": {"emoji": "👍", "targetAuthor": BOT, "targetSentTimestamp": 1, "isRemove": false}}),
        ));
        skipped.push(event(
            json!({"message": null, "remoteDelete": {"timestamp": 1}}),
        ));
        skipped.push(event(
            json!({"message": null, "groupInfo": {"groupId": "R3JvdXBJZA==", "type": "UPDATE"}}),
        ));
        let mut own = base.clone();
        own["envelope"]["sourceNumber"] = json!(BOT);
        own["envelope"]["source"] = json!(BOT);
        own["envelope"]["sourceUuid"] = json!(BOT_UUID);
        skipped.push(own);
        let mut other_account = base.clone();
        other_account["account"] = json!("+15557778888");
        skipped.push(other_account);
        skipped.push(json!({"account": BOT, "exception": {"message": "decryption failed", "type": "ProtocolInvalidMessageException"}}));
        for event in skipped {
            assert!(message(&event, &me()).is_none(), "{event}");
        }
        assert!(message(&base, &me()).is_some());
    }

    #[test]
    fn the_accounts_own_aci_is_learnt_from_its_own_envelopes() {
        let me = Me {
            number: BOT.into(),
            uuid: None,
        };
        let mut own = event(json!({"message": "x"}));
        own["envelope"]["sourceNumber"] = json!(BOT);
        own["envelope"]["sourceUuid"] = json!(BOT_UUID.to_uppercase());
        assert_eq!(own_uuid(&own, &me).as_deref(), Some(BOT_UUID));
        assert_eq!(own_uuid(&event(json!({"message": "x"})), &me), None);
    }

    #[test]
    fn mentions_outside_the_text_are_left_alone() {
        let bad = [json!({"number": "+1", "start": 40, "length": 1})];
        assert_eq!(readable("short", &bad, &me()), "short");
    }
}
