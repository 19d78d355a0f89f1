//! Deciding the answer to a chat request: fixed words, an echo of the request, or a tool call.

use serde_json::Value;

use crate::knobs::{Knobs, ScriptStep, ToolMode};
use crate::request::{ChatRequest, content_text, is_tool_result, role};

/// The words the reply cycles through.
pub const WORDS: &[&str] = &[
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];

/// A tool call the fake decided to make.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlannedTool {
    pub name: String,
    pub arguments: Value,
}

/// What to answer, independent of the wire format.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// Text pieces, one per streamed chunk; each after the first starts with its separator.
    pub chunks: Vec<String>,
    /// A tool call instead of text (then `chunks` is empty).
    pub tool: Option<PlannedTool>,
    /// Whether the last message carried tool results.
    pub after_tool: bool,
    pub messages: usize,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl Plan {
    /// The whole reply text.
    pub fn text(&self) -> String {
        self.chunks.concat()
    }
}

/// Plans the answer to `request` under `knobs`.
pub(crate) fn plan(request: &ChatRequest, knobs: &Knobs, step: Option<&ScriptStep>) -> Plan {
    let messages = request.messages();
    let after_tool = messages.last().is_some_and(is_tool_result);
    let (tool, chunks) = if let Some(step) = step {
        let tool = step.tool.as_ref().map(|tool| PlannedTool {
            name: tool.name.clone(),
            arguments: tool.arguments.clone(),
        });
        (tool, split_words(&step.text))
    } else {
        let tool = (!after_tool && wants_tool(messages, knobs))
            .then(|| pick_tool(&request.tool_names, knobs))
            .flatten();
        let chunks = match (&tool, knobs.echo) {
            (Some(_), _) => Vec::new(),
            (None, true) => split_words(&echo_text(messages)),
            (None, false) => fixed_words(knobs.tokens),
        };
        (tool, chunks)
    };
    let chars: usize = messages
        .iter()
        .map(|m| content_text(m).len())
        .sum::<usize>()
        + request.system_text().len();
    Plan {
        prompt_tokens: u32::try_from(chars / 4).unwrap_or(u32::MAX).max(1),
        completion_tokens: u32::try_from(chunks.len()).unwrap_or(u32::MAX),
        chunks,
        tool,
        after_tool,
        messages: messages.len(),
    }
}

/// Whether the tool mode asks for a tool call on this turn.
fn wants_tool(messages: &[Value], knobs: &Knobs) -> bool {
    match knobs.tool_mode {
        ToolMode::Off => false,
        ToolMode::First => true,
        // The current turn: user messages after the last assistant message (gateways may
        // append context messages after the user's).
        ToolMode::Marker => messages
            .iter()
            .rev()
            .take_while(|m| role(m) != "assistant")
            .filter(|m| role(m) == "user")
            .any(|m| content_text(m).contains(&knobs.tool_marker)),
    }
}

/// The configured tool if offered, else the first offered one; `None` if none are offered.
fn pick_tool(offered: &[String], knobs: &Knobs) -> Option<PlannedTool> {
    let name = knobs
        .tool_name
        .as_ref()
        .filter(|wanted| offered.contains(wanted))
        .or_else(|| offered.first())?;
    Some(PlannedTool {
        name: name.clone(),
        arguments: knobs.tool_args.clone(),
    })
}

/// `messages=<n> last=<last user message content>`.
fn echo_text(messages: &[Value]) -> String {
    let last_user = messages
        .iter()
        .rev()
        .find(|m| role(m) == "user" && !is_tool_result(m))
        .map(content_text)
        .unwrap_or_default();
    format!("messages={} last={last_user}", messages.len())
}

/// `tokens` words cycling through [`WORDS`], the first bare and the rest with a leading space.
fn fixed_words(tokens: u32) -> Vec<String> {
    WORDS
        .iter()
        .cycle()
        .take(tokens as usize)
        .enumerate()
        .map(|(i, word)| {
            if i == 0 {
                (*word).to_owned()
            } else {
                format!(" {word}")
            }
        })
        .collect()
}

/// Splits text into word chunks, each carrying the whitespace before it; concatenating the
/// chunks gives back the text exactly.
pub(crate) fn split_words(text: &str) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for ch in text.chars() {
        if ch.is_whitespace() && in_word {
            chunks.push(std::mem::take(&mut current));
            in_word = false;
        }
        in_word |= !ch.is_whitespace();
        current.push(ch);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Cuts `text` into at most `pieces` non-empty parts of similar length (on char boundaries),
/// for tool arguments streamed in fragments.
pub(crate) fn fragments(text: &str, pieces: usize) -> Vec<&str> {
    let chars = text.chars().count();
    let size = chars.div_ceil(pieces.max(1)).max(1);
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let cut = rest.char_indices().nth(size).map_or(rest.len(), |(i, _)| i);
        let (head, tail) = rest.split_at(cut);
        parts.push(head);
        rest = tail;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire_error::Dialect;
    use serde_json::json;

    fn request(body: Value) -> ChatRequest {
        ChatRequest::parse(body.to_string().as_bytes(), Dialect::OpenAi).unwrap()
    }

    const TOOLS: &str = r#"[{"type":"function","function":{"name":"a"}},
                            {"type":"function","function":{"name":"b"}}]"#;

    fn tools() -> Value {
        serde_json::from_str(TOOLS).unwrap()
    }

    #[test]
    fn fixed_words_cycle() {
        let plan = plan(
            &request(json!({"model": "m", "messages": []})),
            &Knobs {
                tokens: 10,
                ..Knobs::default()
            },
            None,
        );
        assert_eq!(plan.chunks.len(), 10);
        assert!(plan.text().starts_with("alpha bravo"));
        assert!(plan.text().ends_with("hotel alpha bravo"));
        assert_eq!(plan.completion_tokens, 10);
    }

    #[test]
    fn split_words_round_trips() {
        let text = "messages=2 last=hi  there\nfriend ";
        let chunks = split_words(text);
        assert_eq!(chunks.concat(), text);
        assert_eq!(chunks[0], "messages=2");
        assert_eq!(chunks[2], "  there");
    }

    #[test]
    fn fragments_cover_the_text() {
        assert_eq!(fragments("{}", 3), ["{", "}"]);
        assert_eq!(fragments("", 3), Vec::<&str>::new());
        let text = r#"{"city":"Zürich"}"#;
        let parts = fragments(text, 3);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn anthropic_tool_results_end_the_tool_loop() {
        let knobs = Knobs {
            tool_mode: ToolMode::First,
            echo: true,
            ..Knobs::default()
        };
        let body = json!({"model": "m", "max_tokens": 9, "tools": [{"name": "a"}], "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "a", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"}]}]});
        let request = ChatRequest::parse(body.to_string().as_bytes(), Dialect::Anthropic).unwrap();
        let planned = plan(&request, &knobs, None);
        assert!(planned.after_tool && planned.tool.is_none());
        assert_eq!(planned.text(), "messages=3 last=go");
    }

    #[test]
    fn echo_describes_the_request() {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": "s"}, {"role": "user", "content": "first"},
            {"role": "assistant", "content": "x"}, {"role": "user", "content": "second one"}]});
        let knobs = Knobs {
            echo: true,
            ..Knobs::default()
        };
        assert_eq!(
            plan(&request(body), &knobs, None).text(),
            "messages=4 last=second one"
        );
    }

    #[test]
    fn first_mode_calls_the_preferred_tool_until_a_result_arrives() {
        let knobs = Knobs {
            tool_mode: ToolMode::First,
            tool_name: Some("b".to_owned()),
            ..Knobs::default()
        };
        let ask = json!({"model": "m", "tools": tools(),
                         "messages": [{"role": "user", "content": "go"}]});
        let planned = plan(&request(ask), &knobs, None);
        assert_eq!(planned.tool.map(|t| t.name).as_deref(), Some("b"));
        assert!(planned.chunks.is_empty());
        let answered = json!({"model": "m", "tools": tools(), "messages": [
            {"role": "user", "content": "go"}, {"role": "tool", "content": "42"}]});
        let planned = plan(&request(answered), &knobs, None);
        assert!(planned.tool.is_none() && planned.after_tool);
    }

    #[test]
    fn marker_mode_looks_at_the_current_turn_only() {
        let knobs = Knobs {
            tool_mode: ToolMode::Marker,
            ..Knobs::default()
        };
        let old = json!({"model": "m", "tools": tools(), "messages": [
            {"role": "user", "content": "USE_TOOL"}, {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "plain"}]});
        assert!(plan(&request(old), &knobs, None).tool.is_none());
        let now = json!({"model": "m", "tools": tools(), "messages": [
            {"role": "user", "content": "please USE_TOOL"}, {"role": "system", "content": "ctx"}]});
        assert_eq!(
            plan(&request(now), &knobs, None)
                .tool
                .map(|t| t.name)
                .as_deref(),
            Some("a")
        );
    }
}
