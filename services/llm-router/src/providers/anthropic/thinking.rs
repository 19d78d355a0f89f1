//! Extended thinking across a tool loop. With thinking on, Anthropic wants the assistant message
//! that called tools back with its thinking blocks first, complete and unchanged (it checks their
//! signatures), and refuses the tool results otherwise (400 "Expected `thinking` or
//! `redacted_thinking`"). The blocks are collected from the stream, handed to the caller once
//! before the finish ([`ProviderEvent::Reasoning`](super::ProviderEvent::Reasoning)), and put
//! back from the history into the messages of the loop under way. Blocks of earlier turns are not
//! sent: Anthropic drops them anyway.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Message, Role};

/// The thinking blocks of one streamed reply, by content index.
#[derive(Default)]
pub(super) struct Collected {
    open: BTreeMap<u64, Value>,
    done: Vec<Value>,
}

impl Collected {
    /// Opens block `index` when it is a thinking or redacted_thinking block (the whole block when
    /// the reply came whole); false for any other kind.
    pub(super) fn start(&mut self, index: u64, block: &Value) -> bool {
        let opened = match block.get("type").and_then(Value::as_str) {
            Some("thinking") => json!({
                "type": "thinking",
                "thinking": block.get("thinking").and_then(Value::as_str).unwrap_or_default(),
                "signature": block.get("signature").and_then(Value::as_str).unwrap_or_default(),
            }),
            Some("redacted_thinking") => block.clone(),
            _ => return false,
        };
        self.open.insert(index, opened);
        true
    }

    /// Adds a `thinking_delta` or `signature_delta` to block `index`; false for other deltas.
    pub(super) fn delta(&mut self, index: u64, delta: &Value) -> bool {
        let (field, part) = match delta.get("type").and_then(Value::as_str) {
            Some("thinking_delta") => ("thinking", delta.get("thinking")),
            Some("signature_delta") => ("signature", delta.get("signature")),
            _ => return false,
        };
        let part = part.and_then(Value::as_str).unwrap_or_default();
        if let Some(Value::String(text)) = self
            .open
            .get_mut(&index)
            .and_then(|block| block.get_mut(field))
        {
            text.push_str(part);
        }
        true
    }

    /// Closes block `index` if it is a thinking block.
    pub(super) fn stop(&mut self, index: u64) {
        if let Some(block) = self.open.remove(&index) {
            self.done.push(block);
        }
    }

    /// The reply's blocks as a JSON array, in order; `None` when it had none.
    pub(super) fn finish(self) -> Option<String> {
        (!self.done.is_empty()).then(|| Value::Array(self.done).to_string())
    }
}

/// Where the tool loop under way starts in `history`: after its last user message.
fn loop_start(history: &[Message]) -> usize {
    history
        .iter()
        .rposition(|m| m.role == Role::User)
        .map_or(0, |at| at + 1)
}

/// The thinking blocks an assistant message carries, as Anthropic sent them.
fn blocks(message: &Message) -> Vec<Value> {
    if message.reasoning.is_empty() {
        return Vec::new();
    }
    match serde_json::from_str::<Value>(&message.reasoning) {
        Ok(Value::Array(blocks)) => blocks
            .into_iter()
            .filter(|b| matches!(b["type"].as_str(), Some("thinking" | "redacted_thinking")))
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether a call over `history` may think: not when an assistant message of the loop under way
/// called tools without thinking blocks (another provider's, or one made with thinking off), which
/// Anthropic would refuse.
pub(super) fn can_think(history: &[Message]) -> bool {
    history[loop_start(history)..]
        .iter()
        .filter(|m| m.role == Role::Assistant && !m.tool_calls.is_empty())
        .all(|m| !blocks(m).is_empty())
}

/// The blocks to put first in assistant message `at` of `history`: its own, when it belongs to
/// the loop under way.
pub(super) fn replayed(history: &[Message], at: usize) -> Vec<Value> {
    if at < loop_start(history) {
        return Vec::new();
    }
    blocks(&history[at])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::ToolCall;

    fn said(role: Role, content: &str) -> Message {
        Message {
            role,
            content: content.into(),
            ..Message::default()
        }
    }

    fn called(reasoning: &str) -> Message {
        Message {
            role: Role::Assistant,
            tool_calls: vec![ToolCall {
                id: "toolu_1".into(),
                name: "list".into(),
                arguments: "{}".into(),
            }],
            reasoning: reasoning.into(),
            ..Message::default()
        }
    }

    #[test]
    fn streamed_blocks_are_collected_whole_and_in_order() {
        let mut collected = Collected::default();
        assert!(collected.start(0, &json!({"type": "thinking", "thinking": ""})));
        assert!(collected.delta(0, &json!({"type": "thinking_delta", "thinking": "Let me "})));
        assert!(collected.delta(0, &json!({"type": "thinking_delta", "thinking": "look."})));
        assert!(collected.delta(0, &json!({"type": "signature_delta", "signature": "EqQB"})));
        collected.stop(0);
        assert!(!collected.start(1, &json!({"type": "text", "text": ""})));
        assert!(!collected.delta(1, &json!({"type": "text_delta", "text": "Hi"})));
        collected.stop(1);
        assert!(collected.start(2, &json!({"type": "redacted_thinking", "data": "EmwK"})));
        collected.stop(2);
        let blocks: Value =
            serde_json::from_str(&collected.finish().expect("blocks")).expect("json");
        assert_eq!(
            blocks,
            json!([
                {"type": "thinking", "thinking": "Let me look.", "signature": "EqQB"},
                {"type": "redacted_thinking", "data": "EmwK"},
            ])
        );
        assert_eq!(Collected::default().finish(), None);
    }

    #[test]
    fn only_the_loop_under_way_gets_its_blocks_back() {
        let signed = r#"[{"type":"thinking","thinking":"t","signature":"s"}]"#;
        let history = [
            said(Role::User, "first"),
            called(signed),
            said(Role::Tool, "result"),
            said(Role::Assistant, "done"),
            said(Role::User, "second"),
            called(signed),
            said(Role::Tool, "result"),
        ];
        assert!(replayed(&history, 1).is_empty(), "an earlier turn's");
        assert_eq!(replayed(&history, 5)[0]["signature"], "s");
        assert!(can_think(&history));
    }

    #[test]
    fn a_loop_with_a_call_made_without_thinking_cannot_think() {
        let history = [said(Role::User, "q"), called(""), said(Role::Tool, "r")];
        assert!(!can_think(&history));
        let earlier = [said(Role::User, "q"), called(""), said(Role::User, "again")];
        assert!(can_think(&earlier), "the loop is a new one");
    }
}
