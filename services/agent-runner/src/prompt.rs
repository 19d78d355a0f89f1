//! What is sent to the model for a turn: the agent's system prompt (built from its workspace files
//! and skills), the session's history, this turn's messages and the tool steps so far. Kept small on
//! purpose: OpenClaw sends ~61 KiB for a plain "hi"; we stay under 8 KiB with every tool offered.

use std::collections::HashMap;

use pincer_bus::messages::{ChatMessage, Role};
use pincer_proto::llm::v1 as pb;

use crate::skills::Skill;
use pincer_workspace::bootstrap::Section;

/// The opening line of every system prompt.
const PREAMBLE: &str = "You are a personal assistant running in Pincer. The workspace files below \
define who you are and how you work. Use tools when they help; tool paths are relative to the \
workspace. Answer in the user's language.";

/// The agent's system prompt; `outages` (tools missing or failing right now) get a section of
/// their own, so the model can say what is down instead of guessing.
pub fn system_prompt(
    sections: &[Section],
    skills: &[Skill],
    today: &str,
    outages: &[String],
) -> String {
    let mut prompt = format!("{PREAMBLE}\nToday is {today} (UTC).\n");
    if !outages.is_empty() {
        prompt.push_str("\n## Tools unavailable\n");
        for line in outages {
            prompt.push_str(&format!("- {line}\n"));
        }
    }
    for section in sections {
        prompt.push_str(&format!(
            "\n## {}\n{}\n",
            section.name,
            section.text.trim_end()
        ));
    }
    if !skills.is_empty() {
        prompt.push_str("\n## Skills\nBefore using a skill, read its SKILL.md with `read`.\n");
        for skill in skills {
            prompt.push_str(&format!(
                "- {}: {} ({})\n",
                skill.name, skill.description, skill.path
            ));
        }
    }
    prompt
}

/// The model's message list: system prompt, history, this turn's messages (with their images, one
/// list per message), the tool steps so far. Tool results whose call is not in the list (the
/// history was cut) are left out, since providers refuse them. Images of earlier turns are not
/// sent again: their messages name the files.
pub fn build(
    system: &str,
    history: &[ChatMessage],
    (new_messages, new_images): (&[ChatMessage], &[Vec<pb::Image>]),
    steps: &[ChatMessage],
) -> Vec<pb::Message> {
    let mut out = Vec::with_capacity(history.len() + new_messages.len() + steps.len() + 1);
    out.push(pb::Message {
        role: pb::Role::System as i32,
        content: system.to_owned(),
        ..Default::default()
    });
    // Call id -> the tool it called.
    let mut calls: HashMap<&str, &str> = HashMap::new();
    for (index, message) in history.iter().chain(new_messages).chain(steps).enumerate() {
        for call in &message.tool_calls {
            calls.insert(call.id.as_str(), call.name.as_str());
        }
        let called = message
            .tool_call_id
            .as_deref()
            .and_then(|id| calls.get(id).copied());
        if message.role == Role::Tool && called.is_none() {
            continue;
        }
        let mut proto = to_proto(message);
        // A result an API client sent names only its call; Ollama wants the tool's name too.
        if proto.tool_name.is_empty()
            && let Some(name) = called
        {
            name.clone_into(&mut proto.tool_name);
        }
        // `new_images` has one list per new message; the steps come after them and get none.
        if let Some(images) = index
            .checked_sub(history.len())
            .and_then(|i| new_images.get(i))
        {
            proto.images.clone_from(images);
        }
        out.push(proto);
    }
    answer_unanswered_calls(out)
}

/// What stands in for the result of a call nobody answered.
const UNANSWERED: &str = "error: no result: the caller did not answer this call";

/// Adds a result for every call left without one: a client that was handed its function calls
/// (`finish_reason: "tool_calls"`) may write again without answering them, and providers refuse
/// a list where a call has no result, which would have failed every later turn of the session.
fn answer_unanswered_calls(messages: Vec<pb::Message>) -> Vec<pb::Message> {
    let mut out = Vec::with_capacity(messages.len());
    // Calls of the last assistant message still waiting for their results: (id, tool).
    let mut waiting: Vec<(String, String)> = Vec::new();
    let close = |out: &mut Vec<pb::Message>, waiting: &mut Vec<(String, String)>| {
        out.extend(waiting.drain(..).map(|(id, name)| pb::Message {
            role: pb::Role::Tool as i32,
            content: UNANSWERED.to_owned(),
            tool_call_id: id,
            tool_name: name,
            ..Default::default()
        }));
    };
    for message in messages {
        if message.role == pb::Role::Tool as i32 {
            waiting.retain(|(id, _)| *id != message.tool_call_id);
        } else {
            close(&mut out, &mut waiting);
            waiting.extend(
                message
                    .tool_calls
                    .iter()
                    .map(|call| (call.id.clone(), call.name.clone())),
            );
        }
        out.push(message);
    }
    close(&mut out, &mut waiting);
    out
}

/// Characters of a message list, the basis of token estimates (~4 characters a token).
pub fn chars(messages: &[pb::Message]) -> usize {
    messages
        .iter()
        .map(|m| {
            m.content.len()
                + m.tool_calls
                    .iter()
                    .map(|c| c.name.len() + c.arguments_json.len())
                    .sum::<usize>()
        })
        .sum()
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
        tool_name: message.name.clone().unwrap_or_default(),
        images: Vec::new(),
        reasoning_json: message.reasoning.clone(),
    }
}

#[cfg(test)]
mod tests {
    use pincer_bus::messages::ToolCall;

    use super::*;

    #[test]
    fn a_call_left_unanswered_gets_a_result_before_the_next_message() {
        let call = |id: &str| ToolCall {
            id: id.to_owned(),
            name: "get_weather".to_owned(),
            arguments: "{}".to_owned(),
        };
        let history = [
            ChatMessage::text(Role::User, "weather?"),
            ChatMessage {
                tool_calls: vec![call("a"), call("b")],
                ..ChatMessage::text(Role::Assistant, "")
            },
            ChatMessage::tool_result("a", "get_weather", "sunny"),
        ];
        // The client wrote again without answering `b`.
        let new = [ChatMessage::text(Role::User, "never mind")];
        let built = build("system", &history, (&new, &[]), &[]);
        let shape: Vec<(i32, &str, &str)> = built
            .iter()
            .map(|m| (m.role, m.tool_call_id.as_str(), m.content.as_str()))
            .collect();
        let tool = pb::Role::Tool as i32;
        assert_eq!(
            shape[3..],
            [
                (tool, "a", "sunny"),
                (tool, "b", UNANSWERED),
                (pb::Role::User as i32, "", "never mind"),
            ]
        );
        assert_eq!(built[4].tool_name, "get_weather");
    }
    use pincer_workspace::Workspace;
    use pincer_workspace::bootstrap::Caps;

    #[test]
    fn history_comes_before_the_new_turn_after_the_system_prompt() {
        let history = vec![
            ChatMessage::text(Role::User, "first"),
            ChatMessage::text(Role::Assistant, "answer"),
        ];
        let new = vec![ChatMessage::text(Role::User, "second")];
        let built = build("sys", &history, (&new, &[]), &[]);
        let contents: Vec<&str> = built.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["sys", "first", "answer", "second"]);
        assert_eq!(built[0].role, pb::Role::System as i32);
    }

    #[test]
    fn images_go_with_this_turns_messages_only() {
        let picture = |byte: u8| pb::Image {
            mime_type: "image/png".into(),
            data: vec![byte],
        };
        let history = vec![ChatMessage {
            images: vec!["inbox/old.png".into()],
            ..ChatMessage::text(Role::User, "earlier picture")
        }];
        let new = vec![
            ChatMessage::text(Role::User, "look"),
            ChatMessage::text(Role::User, "and this"),
        ];
        let steps = vec![ChatMessage::text(Role::Assistant, "thinking")];
        let built = build(
            "sys",
            &history,
            (&new, &[vec![picture(1)], vec![picture(2), picture(3)]]),
            &steps,
        );
        let counts: Vec<usize> = built.iter().map(|m| m.images.len()).collect();
        assert_eq!(counts, [0, 0, 1, 2, 0]);
        assert_eq!(built[3].images[1].data, [3]);
    }

    #[test]
    fn orphan_tool_results_are_left_out() {
        let call = ChatMessage {
            tool_calls: vec![ToolCall {
                id: "a".into(),
                name: "read".into(),
                arguments: "{}".into(),
            }],
            ..ChatMessage::text(Role::Assistant, "")
        };
        let history = vec![
            ChatMessage::tool_result("gone", "read", "cut from history"),
            ChatMessage::text(Role::User, "q"),
            call,
            ChatMessage::tool_result("a", "read", "kept"),
        ];
        let built = build("sys", &history, (&[], &[]), &[]);
        let contents: Vec<&str> = built.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(contents, ["sys", "q", "", "kept"]);
        assert_eq!(built[3].tool_name, "read");
    }

    #[test]
    fn a_plain_hi_with_the_default_workspace_stays_far_below_the_budget() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Workspace::open(dir.path()).expect("ws");
        let system = system_prompt(&ws.bootstrap(Caps::default()), &[], "2026-11-29", &[]);
        let built = build(
            &system,
            &[],
            (&[ChatMessage::text(Role::User, "hi")], &[]),
            &[],
        );
        let tools =
            crate::tools::ToolBox::new("main", ws, &pincer_config::Tools::default()).specs();
        let tool_bytes: usize = tools
            .iter()
            .map(|t| t.name.len() + t.description.len() + t.parameters_json.len())
            .sum();
        let bytes = chars(&built) + tool_bytes;
        assert!(bytes < 8 * 1024, "prompt for 'hi' is {bytes} bytes");
        assert!(system.contains("## SOUL.md") && system.contains("## MEMORY.md"));
        assert!(!system.contains("unavailable"));
    }

    #[test]
    fn outages_are_named_to_the_model() {
        let system = system_prompt(
            &[],
            &[],
            "2026-12-03",
            &["MCP server `time` is down (it exited); its tools fail until it is back.".into()],
        );
        assert!(
            system.contains("## Tools unavailable\n- MCP server `time` is down"),
            "{system}"
        );
    }
}
