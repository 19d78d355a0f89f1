//! What is sent to the model for a turn: a short system prompt, the session's history and the new
//! messages. Kept small on purpose: OpenClaw sends ~61 KiB for a plain "hi"; we aim under 8 KiB.

use pincer_bus::messages::{ChatMessage, Role};
use pincer_proto::llm::v1 as pb;

/// The default identity line, used until the workspace files (SOUL.md, AGENTS.md, ...) are loaded.
const DEFAULT_SYSTEM_PROMPT: &str =
    "You are Pincer, a helpful personal assistant. Answer concisely.";

/// Builds the model's message list from the stored history and this turn's messages.
pub fn build(history: &[ChatMessage], new_messages: &[ChatMessage]) -> Vec<pb::Message> {
    let mut out = Vec::with_capacity(history.len() + new_messages.len() + 1);
    let client_sets_system = new_messages
        .iter()
        .chain(history)
        .any(|m| m.role == Role::System);
    if !client_sets_system {
        out.push(pb::Message {
            role: pb::Role::System as i32,
            content: DEFAULT_SYSTEM_PROMPT.to_owned(),
            ..Default::default()
        });
    }
    out.extend(history.iter().chain(new_messages).map(to_proto));
    out
}

fn to_proto(message: &ChatMessage) -> pb::Message {
    let role = match message.role {
        Role::System => pb::Role::System,
        Role::User => pb::Role::User,
        Role::Assistant => pb::Role::Assistant,
        Role::Tool => pb::Role::Tool,
    };
    pb::Message {
        role: role as i32,
        content: message.content.clone(),
        tool_calls: message
            .tool_calls
            .iter()
            .map(|call| pb::ToolCall {
                id: call.id.clone(),
                name: call.name.clone(),
                arguments_json: call.arguments.clone(),
            })
            .collect(),
        tool_call_id: message.tool_call_id.clone().unwrap_or_default(),
        tool_name: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_comes_before_the_new_turn_after_the_system_prompt() {
        let history = vec![
            ChatMessage::text(Role::User, "first"),
            ChatMessage::text(Role::Assistant, "answer"),
        ];
        let new = vec![ChatMessage::text(Role::User, "second")];
        let built = build(&history, &new);
        let contents: Vec<&str> = built.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            contents,
            [DEFAULT_SYSTEM_PROMPT, "first", "answer", "second"]
        );
        assert_eq!(built[0].role, pb::Role::System as i32);
    }

    #[test]
    fn a_client_system_message_replaces_the_default() {
        let new = vec![
            ChatMessage::text(Role::System, "be terse"),
            ChatMessage::text(Role::User, "hi"),
        ];
        let built = build(&[], &new);
        assert_eq!(built.len(), 2);
        assert_eq!(built[0].content, "be terse");
    }

    #[test]
    fn a_plain_hi_stays_far_below_the_budget() {
        let built = build(&[], &[ChatMessage::text(Role::User, "hi")]);
        let bytes: usize = built.iter().map(|m| m.content.len()).sum();
        assert!(bytes < 8 * 1024, "prompt for 'hi' is {bytes} bytes");
    }
}
