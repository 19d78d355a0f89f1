//! Extended thinking as Anthropic plays it. A request with `thinking` enabled gets a signed
//! `thinking` block before its answer; a request that goes on with tool results must bring the
//! thinking blocks of the assistant message that called the tools back first and unchanged, or it
//! is refused (400), as the real API refuses it. Signatures here are a hash of the thinking text,
//! so an edited block fails its check too.

use serde_json::{Map, Value};

use crate::anthropic_request::AnthropicRequestError;

/// What the fake "thinks" before every answer of a thinking request.
pub(crate) const THOUGHT: &str = "The user wants an answer; I will give it.";

/// The signature of a thinking block with `thinking` as its text.
pub(crate) fn signature(thinking: &str) -> String {
    // FNV-1a, 64 bits: stable across runs and builds.
    let hash = thinking
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    format!("EqQBfake{hash:016x}")
}

/// Whether the request thinks.
pub(crate) fn enabled(body: &Map<String, Value>) -> bool {
    body.get("thinking")
        .and_then(|thinking| thinking.get("type"))
        .and_then(Value::as_str)
        == Some("enabled")
}

/// Every thinking block carries the signature of its text; with thinking on, the assistant
/// message answered by the last message's tool results starts with a thinking block.
pub(crate) fn check(
    body: &Map<String, Value>,
    messages: &[Value],
) -> Result<(), AnthropicRequestError> {
    for (index, message) in messages.iter().enumerate() {
        for (block, content) in blocks(message).iter().enumerate() {
            if content.get("type").and_then(Value::as_str) == Some("thinking") {
                let text = content.get("thinking").and_then(Value::as_str);
                let signed = content.get("signature").and_then(Value::as_str);
                if text
                    .zip(signed)
                    .is_none_or(|(text, signed)| signature(text) != signed)
                {
                    return Err(AnthropicRequestError::BadSignature { index, block });
                }
            }
        }
    }
    if !enabled(body) {
        return Ok(());
    }
    let [.., calls, results] = messages else {
        return Ok(());
    };
    let answers_calls = blocks(results)
        .iter()
        .any(|block| block.get("type").and_then(Value::as_str) == Some("tool_result"));
    if !answers_calls {
        return Ok(());
    }
    let first = blocks(calls)
        .first()
        .and_then(|block| block.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("text")
        .to_owned();
    if first == "thinking" || first == "redacted_thinking" {
        return Ok(());
    }
    Err(AnthropicRequestError::MissingThinking {
        index: messages.len() - 2,
        found: first,
    })
}

fn blocks(message: &Value) -> &[Value] {
    message
        .get("content")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
}
