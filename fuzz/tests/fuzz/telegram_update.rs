//! Telegram updates (from `getUpdates` or a webhook) as the channel-bridge reads them, and the
//! reply text it renders and splits for Telegram.

use std::sync::LazyLock;

use pincer_channel_bridge::chunk::{split, utf16_len};
use pincer_channel_bridge::render::to_html;
use pincer_channel_bridge::telegram::update::{Inbound, parse, update_id};
use pincer_fuzz::Target;
use proptest::prelude::*;
use serde_json::Value;

const BOT_ID: i64 = 999;

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    Target::load(
        "telegram_update",
        &[
            "\"update_id\"",
            "\"message\"",
            "\"edited_message\"",
            "\"chat\"",
            "\"from\"",
            "\"text\"",
            "\"caption\"",
            "\"entities\"",
            "\"offset\"",
            "\"length\"",
            "\"mention\"",
            "\"reply_to_message\"",
            "\"photo\"",
            "\"file_id\"",
            "\"file_size\"",
            "999",
            "4294967296",
            "\"@pincer_bot\"",
            "\"forward_origin\"",
            "\"is_bot\"",
        ],
    )
});

fn check(update: &Value, inbound: &Inbound) -> Result<(), String> {
    if Some(inbound.update_id) != update_id(update) {
        return Err(format!("update id {} from {update}", inbound.update_id));
    }
    for mention in &inbound.mentions {
        if !inbound.text.to_lowercase().contains(mention.as_str()) {
            return Err(format!("mention {mention:?} is not in {:?}", inbound.text));
        }
    }
    Ok(())
}

/// Replies: rendered to Telegram HTML and split under `limit` UTF-16 units, losing nothing but
/// the whitespace at the cuts (and gaining only the fences that close and reopen a code block).
fn check_reply(text: &str, limit: usize) -> Result<(), String> {
    let _ = to_html(text);
    let pieces = split(text, limit);
    if let Some(long) = pieces.iter().find(|p| utf16_len(p) > limit) {
        return Err(format!("a piece of {} UTF-16 units", utf16_len(long)));
    }
    let joined: String = pieces.concat();
    let squeeze = |s: &str| {
        s.replace("```", "")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
    };
    if squeeze(&joined) != squeeze(text) {
        return Err("splitting lost or changed text".to_owned());
    }
    Ok(())
}

#[test]
fn the_corpus_is_read_as_real_clients_expect() {
    for (name, bytes) in TARGET.entries("ok-") {
        let update: Value = serde_json::from_slice(bytes).expect(name);
        let inbound = parse(&update, BOT_ID).unwrap_or_else(|| panic!("{name} skipped"));
        check(&update, &inbound).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_reply(&inbound.text, 4096).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, bytes) in TARGET.entries("other-") {
        let update: Value = serde_json::from_slice(bytes).expect(name);
        assert_eq!(parse(&update, BOT_ID), None, "{name}");
    }
    let group = serde_json::from_slice(
        TARGET
            .entries("ok-group-mention")
            .next()
            .expect("the group seed")
            .1,
    )
    .expect("JSON");
    let inbound = parse(&group, BOT_ID).expect("a message");
    assert_eq!(
        inbound.mentions,
        ["pincer_bot"],
        "the UTF-16 offset after an emoji"
    );
}

proptest! {
    #![proptest_config(TARGET.config())]

    #[test]
    fn mutated_updates_are_read_or_skipped(bytes in TARGET.inputs()) {
        if let Ok(update) = serde_json::from_slice::<Value>(&bytes)
            && let Some(inbound) = parse(&update, BOT_ID)
            && let Err(broken) =
                check(&update, &inbound).and_then(|()| check_reply(&inbound.text, 4096))
        {
            prop_assert!(false, "{broken}");
        }
    }

    #[test]
    fn mutated_text_renders_and_splits(bytes in TARGET.inputs()) {
        // A small limit, so that the seeds are cut many times over.
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Err(broken) = check_reply(&text, 100) {
            prop_assert!(false, "{broken}");
        }
    }
}
