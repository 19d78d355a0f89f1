//! The closed error taxonomy every adapter maps into, and classification of HTTP failures.

use std::time::Duration;

/// What kind of failure a provider call had. Decides failover, never the message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 429 rate limit: retry later or elsewhere.
    RateLimited,
    /// Credits or spend cap exhausted (OpenAI insufficient_quota, OpenRouter 402).
    QuotaExhausted,
    /// Provider overloaded (503, Anthropic 529).
    Overloaded,
    /// The prompt does not fit the model's context window.
    ContextOverflow,
    /// Bad or missing credentials (401/403).
    Auth,
    /// Unknown model or endpoint (404).
    NotFound,
    /// The request was malformed (other 4xx).
    BadRequest,
    /// No answer in time.
    Timeout,
    /// Connection refused, reset, DNS.
    Transport,
    /// The response started but broke (bad frame, EOF without a finish, error event).
    StreamBroken,
    /// The configured API is not implemented.
    Unsupported,
    /// Any other provider-side failure (5xx).
    Upstream,
}

/// A classified provider failure. The message is safe to show: it never contains the API key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// Category.
    pub kind: ErrorKind,
    /// Short human-readable reason.
    pub message: String,
    /// `Retry-After` if the provider sent one.
    pub retry_after: Option<Duration>,
}

impl ProviderError {
    /// A new error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Maps a reqwest transport error.
    pub fn from_transport(error: &reqwest::Error) -> Self {
        let kind = if error.is_timeout() {
            ErrorKind::Timeout
        } else {
            ErrorKind::Transport
        };
        // reqwest's Display includes the URL but never headers, so no key can leak here.
        Self::new(kind, format!("request failed: {}", without_url(error)))
    }

    /// Classifies a non-2xx HTTP response from its status and (provider-shaped) body.
    pub fn from_status(status: u16, body: &str, retry_after: Option<Duration>) -> Self {
        let detail = error_detail(body);
        let lower = body.to_ascii_lowercase();
        let kind = match status {
            401 | 403 => ErrorKind::Auth,
            402 => ErrorKind::QuotaExhausted,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            429 if lower.contains("insufficient_quota")
                || lower.contains("spend_limit")
                || lower.contains("credit") =>
            {
                ErrorKind::QuotaExhausted
            }
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            400 | 413 if is_context_overflow(&lower) => ErrorKind::ContextOverflow,
            400..=499 => ErrorKind::BadRequest,
            _ => ErrorKind::Upstream,
        };
        Self {
            kind,
            message: format!("HTTP {status}: {detail}"),
            retry_after,
        }
    }
}

fn is_context_overflow(lower_body: &str) -> bool {
    [
        "context_length_exceeded",
        "maximum context length",
        "context length",
        "prompt is too long",
        "exceeds the context",
        "exceed context limit",
    ]
    .iter()
    .any(|needle| lower_body.contains(needle))
}

/// Pulls the human message out of OpenAI (`{"error":{"message"}}`), Ollama (`{"error":"..."}`) or
/// Anthropic (`{"type":"error","error":{"message"}}`) bodies; falls back to a bounded raw excerpt.
pub fn error_detail(body: &str) -> String {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        let error = value.get("error").unwrap_or(&value);
        if let Some(text) = error.as_str() {
            return truncate(text);
        }
        if let Some(text) = error.get("message").and_then(|m| m.as_str()) {
            return truncate(text);
        }
    }
    truncate(body.trim())
}

fn truncate(text: &str) -> String {
    const LIMIT: usize = 300;
    if text.len() <= LIMIT {
        return text.to_owned();
    }
    let mut end = LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(
            url.as_str(),
            &format!("{}://{}", url.scheme(), url.host_str().unwrap_or("")),
        );
    }
    text
}

/// Parses a `Retry-After` header given in seconds.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(ms) = headers
        .get("retry-after-ms")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_millis(ms));
    }
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_real_provider_bodies() {
        let openai_quota = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert_eq!(
            ProviderError::from_status(429, openai_quota, None).kind,
            ErrorKind::QuotaExhausted
        );
        let openai_rate = r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
        assert_eq!(
            ProviderError::from_status(429, openai_rate, None).kind,
            ErrorKind::RateLimited
        );
        let overflow = r#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#;
        assert_eq!(
            ProviderError::from_status(400, overflow, None).kind,
            ErrorKind::ContextOverflow
        );
        let ollama_missing = r#"{"error":"model 'x' not found, try pulling it first"}"#;
        let error = ProviderError::from_status(404, ollama_missing, None);
        assert_eq!(error.kind, ErrorKind::NotFound);
        assert_eq!(
            error.message,
            "HTTP 404: model 'x' not found, try pulling it first"
        );
        let anthropic =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(
            ProviderError::from_status(529, anthropic, None).kind,
            ErrorKind::Overloaded
        );
        assert_eq!(
            ProviderError::from_status(402, "{}", None).kind,
            ErrorKind::QuotaExhausted
        );
        assert_eq!(
            ProviderError::from_status(401, "nope", None).kind,
            ErrorKind::Auth
        );
        assert_eq!(
            ProviderError::from_status(500, "", None).kind,
            ErrorKind::Upstream
        );
    }

    #[test]
    fn long_bodies_are_truncated_on_a_char_boundary() {
        let body = "é".repeat(400);
        let detail = error_detail(&body);
        assert!(detail.len() < 320);
        assert!(detail.ends_with('…'));
    }
}
