//! The context-window guard. The seed report calls 64K tokens the minimum for multi-step agent work;
//! smaller windows are flagged at startup and in status. A prompt that cannot fit a model's window
//! is not sent to it (the provider would reject it, or Ollama would silently drop history).

use crate::providers::CallRequest;

/// The window below which a model is flagged as too small for agent work.
pub const MINIMUM_CONTEXT: u32 = 64_000;

/// A cheap, deliberately low estimate of a request's prompt tokens: about four characters per
/// token for text and JSON, plus a few tokens of framing per message. Erring low means the guard
/// only refuses prompts that are certainly too big; the provider still has the last word.
pub fn estimate_prompt_tokens(request: &CallRequest) -> u32 {
    let mut chars = 0usize;
    for message in &request.messages {
        chars += message.content.chars().count();
        for call in &message.tool_calls {
            chars += call.name.len() + call.arguments.len();
        }
    }
    for tool in &request.tools {
        chars += tool.name.len() + tool.description.len() + tool.parameters.len();
    }
    let framing = request.messages.len() * 4;
    u32::try_from(chars / 4 + framing).unwrap_or(u32::MAX)
}

/// Why a request does not fit `window`, if it does not.
pub fn does_not_fit(estimate: u32, window: Option<u32>) -> Option<String> {
    let window = window.filter(|w| *w > 0)?;
    (estimate > window).then(|| {
        format!("the prompt is about {estimate} tokens, more than the model's {window}-token context window")
    })
}

/// A warning for a model whose window is known and too small for agent work.
pub fn small_window_warning(reference: &str, window: Option<u32>) -> Option<String> {
    let window = window.filter(|w| *w > 0)?;
    (window < MINIMUM_CONTEXT).then(|| {
        format!(
            "{reference} has a {window}-token context window; multi-step agent work needs at least {MINIMUM_CONTEXT} (tool results and history will not fit)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Message;

    #[test]
    fn estimate_grows_with_content_and_refuses_only_beyond_the_window() {
        let request = CallRequest {
            messages: vec![Message {
                role: crate::providers::Role::User,
                content: "x".repeat(40_000),
                ..Message::default()
            }],
            ..CallRequest::default()
        };
        let estimate = estimate_prompt_tokens(&request);
        assert_eq!(estimate, 10_004);
        assert!(does_not_fit(estimate, Some(8192)).is_some());
        assert!(does_not_fit(estimate, Some(32_768)).is_none());
        assert!(does_not_fit(estimate, None).is_none());
        assert!(does_not_fit(estimate, Some(0)).is_none());
    }

    #[test]
    fn windows_under_64k_are_flagged() {
        assert!(small_window_warning("ollama/llama3.2:3b", Some(32_768)).is_some());
        assert!(small_window_warning("openrouter/deepseek", Some(64_000)).is_none());
        assert!(small_window_warning("x/y", None).is_none());
    }
}
