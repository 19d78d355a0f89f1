//! A Slack event as the bridge sees it: an `event_callback` whose `message` (or `app_mention`)
//! becomes the channel core's message. The same message can arrive twice, as `message` and as
//! `app_mention`, with different event ids: its identity is its channel and `ts`, so it is handled
//! once. The app's own messages, edits, deletions and joins are skipped.

use serde_json::Value;

use super::web::Identity;
use crate::channel::inbound::{Inbound, MediaRef, Sender};
use crate::channel::key_token;

/// Message subtypes that are someone saying something; every other subtype (edits, deletions,
/// joins, topic changes) is not a message to answer.
const SPOKEN: [&str; 4] = [
    "file_share",
    "thread_broadcast",
    "bot_message",
    "me_message",
];

/// The message of an `event_callback` payload; `None` when it is not one to consider.
/// `start_threads`: `replyToMode` `first`/`all`, an answer to a message outside a thread starts
/// one on it.
pub fn message(payload: &Value, me: &Identity, start_threads: bool) -> Option<Inbound> {
    let event = payload.get("event")?;
    let kind = event.get("type")?.as_str()?;
    if kind != "message" && kind != "app_mention" {
        return None;
    }
    let subtype = event.get("subtype").and_then(Value::as_str);
    if subtype.is_some_and(|s| !SPOKEN.contains(&s)) {
        return None;
    }
    let user = text(event, "user");
    let bot_id = text(event, "bot_id");
    if user.as_deref() == Some(me.user_id.as_str()) || (bot_id.is_some() && bot_id == me.bot_id) {
        return None;
    }
    let channel = text(event, "channel")?;
    let ts = text(event, "ts")?;
    let sender_id = user.or_else(|| bot_id.clone())?;
    let direct = match event.get("channel_type").and_then(Value::as_str) {
        Some(kind) => kind == "im",
        None => channel.starts_with('D'),
    };
    let raw = event
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mention = format!("<@{}", me.user_id);
    let mentioned = kind == "app_mention"
        || raw.contains(&format!("{mention}>"))
        || raw.contains(&format!("{mention}|"));
    // A thread's first message carries its own ts as `thread_ts`: it is not inside a thread.
    let thread = text(event, "thread_ts").filter(|thread| *thread != ts);
    let reply_thread = (thread.is_none() && start_threads && !direct).then(|| ts.clone());
    Some(Inbound {
        id: key_token(&format!("{channel}-{ts}")),
        message_id: ts,
        chat: channel.clone(),
        thread,
        reply_thread,
        direct,
        space: (!direct).then_some(channel),
        room: None,
        sender: Sender {
            id: sender_id.clone(),
            username: None,
            name: text(event, "username").unwrap_or(sender_id),
            bot: subtype == Some("bot_message") || bot_id.is_some(),
            roles: Vec::new(),
        },
        text: readable(raw, me),
        mentioned,
        quoted: None,
        forwarded_from: None,
        media: event
            .get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(file)
            .collect(),
    })
}

/// Slack's text as a person reads it: its `<…>` references written out (the bot's mention as
/// `@name`, other people as `@name` or `@U…`, channels as `#name`, links as `label (url)`), then
/// entities decoded (a person's own `<` comes as `&lt;`, so only Slack's references are read).
fn readable(raw: &str, me: &Identity) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        out.push_str(&reference(&rest[start + 1..start + end], me));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// One `<…>` reference of Slack's text, without its brackets, as a person reads it.
fn reference(inner: &str, me: &Identity) -> String {
    let (target, label) = match inner.split_once('|') {
        Some((target, label)) => (target, Some(label)),
        None => (inner, None),
    };
    if let Some(user) = target.strip_prefix('@') {
        if user == me.user_id {
            return format!("@{}", me.name);
        }
        return format!("@{}", label.unwrap_or(user));
    }
    if let Some(channel) = target.strip_prefix('#') {
        return format!("#{}", label.filter(|l| !l.is_empty()).unwrap_or(channel));
    }
    if let Some(special) = target.strip_prefix('!') {
        // `<!here>`, `<!channel>`, `<!subteam^S1|@team>`, `<!date^…|fallback>`.
        return match label {
            Some(label) => label.to_owned(),
            None => format!("@{}", special.split('^').next().unwrap_or(special)),
        };
    }
    match label {
        Some(label) if label != target.trim_start_matches("mailto:") => {
            format!("{label} ({target})")
        }
        Some(label) => label.to_owned(),
        None => target.to_owned(),
    }
}

fn file(value: &Value) -> Option<MediaRef> {
    let mime = value
        .get("mimetype")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let kind = match mime.split('/').next() {
        Some("image") => "photo",
        Some("audio") => "audio",
        Some("video") => "video",
        _ => "document",
    };
    Some(MediaRef {
        kind,
        locator: text(value, "url_private_download").or_else(|| text(value, "url_private"))?,
        file_name: text(value, "name"),
        size: value.get("size").and_then(Value::as_u64),
    })
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

    fn me() -> Identity {
        Identity {
            user_id: "UBOT".into(),
            bot_id: Some("BBOT".into()),
            name: "pincer".into(),
        }
    }

    fn callback(event: Value) -> Value {
        json!({"type": "event_callback", "event_id": "Ev1", "event": event})
    }

    #[test]
    fn a_channel_message_that_mentions_the_app_and_its_app_mention_twin_are_one_message() {
        let event = json!({"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1",
            "text": "<@UBOT> what about a &lt;b&gt;?", "ts": "1700000000.000100"});
        let message = message(&callback(event.clone()), &me(), false).expect("a message");
        assert!(message.mentioned && !message.direct);
        assert_eq!(message.text, "@pincer what about a <b>?");
        assert_eq!(message.space.as_deref(), Some("C1"));
        let mut twin = event;
        twin["type"] = json!("app_mention");
        let twin = super::message(&callback(twin), &me(), false).expect("app_mention");
        assert_eq!(twin.id, message.id, "same channel and ts: handled once");
    }

    #[test]
    fn slack_references_read_as_a_person_reads_them() {
        let text = "<@UBOT|pincer> ask <@U0ANA> and <@U0BEN|ben> in <#C0GEN|general> or <#C0RND|>, \
                    <!here>: see <https://x.test/a?b=1&amp;c=2|the doc>, <https://y.test>, \
                    <mailto:a@x.test|a@x.test> &amp; 1 &lt; 2";
        assert_eq!(
            readable(text, &me()),
            "@pincer ask @U0ANA and @ben in #general or #C0RND, @here: see the doc \
             (https://x.test/a?b=1&c=2), https://y.test, a@x.test & 1 < 2"
        );
    }

    #[test]
    fn dms_threads_files_and_what_is_skipped() {
        let dm = json!({"type": "message", "channel": "D1", "channel_type": "im", "user": "U1", "text": "hi", "ts": "1.1"});
        let dm = message(&callback(dm), &me(), true).expect("dm");
        assert!(dm.direct && dm.reply_thread.is_none());

        let threaded = json!({"type": "message", "channel": "C1", "user": "U1", "text": "more", "ts": "2.2", "thread_ts": "1.0",
            "files": [{"name": "a.pdf", "mimetype": "application/pdf", "size": 3, "url_private": "https://files.slack.com/a.pdf"}]});
        let threaded = message(&callback(threaded), &me(), false).expect("thread reply");
        assert_eq!(threaded.thread.as_deref(), Some("1.0"));
        assert_eq!(threaded.media[0].file_name.as_deref(), Some("a.pdf"));

        let root =
            json!({"type": "message", "channel": "C1", "user": "U1", "text": "q", "ts": "3.3"});
        assert_eq!(
            message(&callback(root.clone()), &me(), true)
                .and_then(|m| m.reply_thread)
                .as_deref(),
            Some("3.3")
        );
        assert!(
            message(&callback(root), &me(), false)
                .and_then(|m| m.reply_thread)
                .is_none()
        );

        for skipped in [
            json!({"type": "message", "channel": "C1", "user": "UBOT", "text": "mine", "ts": "4"}),
            json!({"type": "message", "channel": "C1", "bot_id": "BBOT", "text": "mine", "ts": "5"}),
            json!({"type": "message", "subtype": "message_changed", "channel": "C1", "ts": "6"}),
            json!({"type": "message", "subtype": "channel_join", "channel": "C1", "user": "U1", "ts": "7"}),
            json!({"type": "reaction_added", "user": "U1"}),
        ] {
            assert!(
                message(&callback(skipped.clone()), &me(), false).is_none(),
                "{skipped}"
            );
        }
        let other_bot = json!({"type": "message", "subtype": "bot_message", "channel": "C1", "bot_id": "B2", "text": "beep", "ts": "8"});
        assert!(
            message(&callback(other_bot), &me(), false)
                .expect("other bot")
                .sender
                .bot
        );
    }
}
