//! The window a provider states when it refuses a prompt as too long. A configured
//! `contextWindow` (or the catalogue's) can be larger than what the server really runs, a local
//! model loaded with a smaller context for example; compacting for the configured window then
//! keeps the whole history and the next call fails the same way. The providers' own words say the
//! real limit.

/// Phrases that come just before the limit, lower case: OpenAI, OpenRouter, DeepSeek and vLLM
/// ("This model's maximum context length is 8192 tokens"), LM Studio ("the model is loaded with
/// context length of only 4096 tokens"), OpenAI's newer models ("exceed the configured limit of
/// 272000 tokens"), Gemini's OpenAI endpoint ("exceeds the maximum number of tokens allowed
/// (1048576)"), Anthropic ("prompt is too long: 208310 tokens > 200000 maximum"), text-generation
/// inference ("must be <= 8192"), Mistral ("too large for model with 32768 maximum context
/// length").
const BEFORE_THE_LIMIT: &[&str] = &[
    "maximum context length is",
    "context length of only",
    "context length of",
    "configured limit of",
    "maximum number of tokens allowed",
    "tokens >",
    "must be <=",
    "too large for model with",
];

/// How far from its phrase the number may be (a space, a parenthesis, "about").
const REACH: usize = 12;

/// The limit in tokens that `message` (a model call's failure) states, if it states one.
pub fn stated_window(message: &str) -> Option<u32> {
    let lower = message.to_ascii_lowercase();
    BEFORE_THE_LIMIT
        .iter()
        .find_map(|phrase| {
            let at = lower.find(phrase)? + phrase.len();
            number_after(&lower[at..])
        })
        // Below this a number read is more likely something else than a model's window.
        .filter(|&tokens| tokens >= MIN_WINDOW)
}

/// The smallest window believed (the runner's own estimate never goes lower either).
const MIN_WINDOW: u32 = 1024;

/// The first number within [`REACH`] characters of the start of `text` (digits, with thousands
/// separators).
fn number_after(text: &str) -> Option<u32> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    if start > REACH {
        return None;
    }
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_providers_own_words_give_the_limit() {
        for (message, limit) in [
            (
                "ollama/m: HTTP 400: This model's maximum context length is 8192 tokens. However, your messages resulted in 9010 tokens.",
                8192,
            ),
            (
                "HTTP 400: This endpoint's maximum context length is 131,072 tokens. However, you requested about 140000 tokens",
                131_072,
            ),
            (
                "HTTP 400: prompt is too long: 208310 tokens > 200000 maximum",
                200_000,
            ),
            (
                "HTTP 400: Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum context length",
                32_768,
            ),
            (
                "HTTP 400: The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
                1_048_576,
            ),
            (
                "HTTP 400: Trying to keep the first 6000 tokens when context the overflows. However, the model is loaded with context length of only 4096 tokens",
                4096,
            ),
            (
                "HTTP 400: Input tokens exceed the configured limit of 272000 tokens.",
                272_000,
            ),
            (
                "HTTP 422: Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8192. Given: 9000",
                8192,
            ),
        ] {
            assert_eq!(stated_window(message), Some(limit), "{message}");
        }
    }

    #[test]
    fn a_message_without_a_limit_states_none() {
        for message in [
            "HTTP 400: context_length_exceeded",
            "HTTP 400: the request exceeds the available context size, try increasing it",
            "HTTP 400: maximum context length is unknown; your prompt has 9000 tokens",
            "HTTP 400: This model's maximum context length is 0 tokens",
            "HTTP 422: `inputs` tokens + `max_new_tokens` must be <= 512. Given: 900",
            "",
        ] {
            assert_eq!(stated_window(message), None, "{message}");
        }
    }
}
