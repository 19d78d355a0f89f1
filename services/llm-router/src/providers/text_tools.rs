//! Tool calls that a model printed as text. Small local models (and Ollama templates that miss the
//! model's tool syntax) answer `{"name": "read", "arguments": {...}}`, a fenced JSON block or a
//! `<tool_call>` tag instead of a structured call; OpenClaw users see the JSON as the reply.
//!
//! When tools were offered, text that *could* be such a call is held back (nothing else is delayed:
//! a reply that starts with prose streams as usual). At the end, if the held text is exactly one or
//! more calls to offered tools, it becomes structured [`ProviderEvent::ToolCall`]s; otherwise it is
//! released as the text it was. Ambiguous text is never executed.

use serde_json::Value;

use super::{EventStream, ProviderEvent, ToolCall};

/// Longest text held back while deciding; longer replies are prose or code, not a call.
const MAX_HELD: usize = 64 * 1024;

/// Wraps `inner` so printed tool calls to `tool_names` become structured calls.
pub fn promote(mut inner: EventStream, tool_names: Vec<String>) -> EventStream {
    use futures::StreamExt;
    Box::pin(async_stream::stream! {
        let mut held = String::new();
        let mut holding = true;
        let mut structured = false;
        while let Some(item) = inner.next().await {
            match item {
                Ok(ProviderEvent::Text(text)) if holding => {
                    held.push_str(&text);
                    if held.len() > MAX_HELD || looks(&held) == Looks::Prose {
                        holding = false;
                        yield Ok(ProviderEvent::Text(std::mem::take(&mut held)));
                    }
                }
                Ok(ProviderEvent::ToolCall(call)) => {
                    structured = true;
                    yield Ok(ProviderEvent::ToolCall(call));
                }
                Ok(ProviderEvent::Finish { reason, usage }) => {
                    if !held.is_empty() {
                        match parse_calls(&held, &tool_names) {
                            Some(calls) if !structured => {
                                tracing::info!(calls = calls.len(), "promoted tool calls the model printed as text");
                                for call in calls {
                                    yield Ok(ProviderEvent::ToolCall(call));
                                }
                                yield Ok(ProviderEvent::Finish { reason: "tool_calls".to_owned(), usage });
                                return;
                            }
                            _ => yield Ok(ProviderEvent::Text(std::mem::take(&mut held))),
                        }
                    }
                    yield Ok(ProviderEvent::Finish { reason, usage });
                    return;
                }
                other => yield other,
            }
        }
    })
}

#[derive(Debug, PartialEq, Eq)]
enum Looks {
    /// Could still be a printed call: keep holding.
    Maybe,
    /// Certainly not a printed call: release.
    Prose,
}

fn looks(text: &str) -> Looks {
    let trimmed = text.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('{') || trimmed.starts_with('[') {
        return Looks::Maybe;
    }
    for opener in ["<tool_call>", "```"] {
        if opener.starts_with(trimmed) {
            return Looks::Maybe;
        }
    }
    if trimmed.starts_with("<tool_call>") {
        return Looks::Maybe;
    }
    if let Some(rest) = trimmed.strip_prefix("```") {
        let Some((language, body)) = rest.split_once('\n') else {
            return if rest.len() <= 4 {
                Looks::Maybe
            } else {
                Looks::Prose
            };
        };
        let language = language.trim().to_ascii_lowercase();
        let body = body.trim_start();
        if (language.is_empty() || language == "json")
            && (body.is_empty() || body.starts_with('{') || body.starts_with('['))
        {
            return Looks::Maybe;
        }
    }
    Looks::Prose
}

/// The calls in `text` if it is nothing but calls to offered tools.
fn parse_calls(text: &str, tool_names: &[String]) -> Option<Vec<ToolCall>> {
    let mut body = text.trim();
    if let Some(inner) = body
        .strip_prefix("<tool_call>")
        .and_then(|rest| rest.trim_end().strip_suffix("</tool_call>"))
    {
        body = inner.trim();
    } else if let Some(rest) = body.strip_prefix("```") {
        let (_, fenced) = rest.split_once('\n')?;
        body = fenced.trim_end().strip_suffix("```")?.trim();
    }
    let value: Value = serde_json::from_str(body).ok()?;
    let items = match value {
        Value::Array(items) if !items.is_empty() => items,
        object @ Value::Object(_) => vec![object],
        _ => return None,
    };
    items
        .iter()
        .map(|item| one_call(item, tool_names))
        .collect()
}

fn one_call(item: &Value, tool_names: &[String]) -> Option<ToolCall> {
    let call = item.get("function").unwrap_or(item);
    let name = call.get("name")?.as_str()?;
    if !tool_names.iter().any(|offered| offered == name) {
        return None;
    }
    let arguments = match call.get("arguments").or_else(|| call.get("parameters")) {
        Some(Value::Object(map)) => Value::Object(map.clone()).to_string(),
        Some(Value::String(text))
            if serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object()) =>
        {
            text.clone()
        }
        None => "{}".to_owned(),
        Some(_) => return None,
    };
    // Only `name` and the arguments: anything else means this is data, not a call.
    let allowed = ["name", "arguments", "parameters", "id", "type", "function"];
    let extra = |v: &Value| {
        v.as_object()
            .is_some_and(|map| map.keys().any(|key| !allowed.contains(&key.as_str())))
    };
    if extra(call) || (call != item && extra(item)) {
        return None;
    }
    Some(ToolCall {
        id: super::minted_call_id(),
        name: name.to_owned(),
        arguments,
    })
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::providers::{ProviderError, Usage};

    fn run(chunks: &[&str], names: &[&str]) -> Vec<ProviderEvent> {
        let mut items: Vec<Result<ProviderEvent, ProviderError>> = chunks
            .iter()
            .map(|c| Ok(ProviderEvent::Text((*c).to_owned())))
            .collect();
        items.push(Ok(ProviderEvent::Finish {
            reason: "stop".into(),
            usage: Usage::default(),
        }));
        let names = names.iter().map(|n| (*n).to_owned()).collect();
        futures::executor::block_on(
            promote(Box::pin(futures::stream::iter(items)), names)
                .map(Result::unwrap)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn a_printed_call_to_an_offered_tool_becomes_structured() {
        let out = run(
            &[
                "{\"name\": \"read\", ",
                "\"arguments\": {\"path\": \"a.md\"}}",
            ],
            &["read"],
        );
        let ProviderEvent::ToolCall(call) = &out[0] else {
            panic!("a call: {out:?}");
        };
        assert_eq!(
            (call.name.as_str(), call.arguments.as_str()),
            ("read", r#"{"path":"a.md"}"#)
        );
        assert!(
            call.id.starts_with("call_") && call.id.len() == 29,
            "{}",
            call.id
        );
        assert!(matches!(&out[1], ProviderEvent::Finish { reason, .. } if reason == "tool_calls"));
    }

    #[test]
    fn fenced_and_tagged_calls_are_recognised() {
        let fenced = run(
            &[
                "```json\n[{\"name\":\"ls\",\"parameters\":{}},",
                "{\"function\":{\"name\":\"read\",\"arguments\":\"{\\\"path\\\":\\\"b\\\"}\"}}]\n```",
            ],
            &["ls", "read"],
        );
        assert_eq!(fenced.len(), 3);
        assert!(
            matches!(&fenced[1], ProviderEvent::ToolCall(call) if call.name == "read" && call.arguments == r#"{"path":"b"}"#)
        );
        let tagged = run(
            &[
                "<tool_",
                "call>{\"name\":\"ls\",\"arguments\":{}}</tool_call>",
            ],
            &["ls"],
        );
        assert!(matches!(&tagged[0], ProviderEvent::ToolCall(call) if call.name == "ls"));
    }

    #[test]
    fn prose_streams_at_once_and_ambiguous_json_stays_text() {
        let prose = run(&["Sure", ", here it is"], &["read"]);
        assert_eq!(prose[0], ProviderEvent::Text("Sure".into()));
        assert_eq!(prose[1], ProviderEvent::Text(", here it is".into()));

        for ambiguous in [
            r#"{"name": "write", "arguments": {}}"#,
            r#"{"name": "read", "arguments": {}, "note": "data"}"#,
            r#"{"name": "read", "arguments": {} } and then"#,
            "```rust\nfn main() {}\n```",
        ] {
            let out = run(&[ambiguous], &["read"]);
            assert_eq!(out[0], ProviderEvent::Text(ambiguous.into()), "{ambiguous}");
            assert!(matches!(&out[1], ProviderEvent::Finish { reason, .. } if reason == "stop"));
        }
    }
}
