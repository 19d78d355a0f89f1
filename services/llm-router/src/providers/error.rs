//! The closed error taxonomy every adapter maps into, and classification of HTTP failures.

use std::time::Duration;

/// What kind of failure a provider call had. Decides failover, never the message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
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
    /// Skipped because the target is cooling down after earlier failures.
    CoolingDown,
}

impl ErrorKind {
    /// Whether the same model may be tried again after a backoff.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::Overloaded
                | ErrorKind::Upstream
                | ErrorKind::Timeout
                | ErrorKind::Transport
                | ErrorKind::StreamBroken
        )
    }

    /// Whether the failure ends the whole call instead of moving to the next model: the request
    /// itself is the problem, so every model would fail the same way (the caller compacts or fixes).
    pub fn is_terminal(self) -> bool {
        matches!(self, ErrorKind::BadRequest | ErrorKind::ContextOverflow)
    }

    /// Whether the failure belongs to the API key rather than to the model.
    pub fn is_key_scoped(self) -> bool {
        matches!(self, ErrorKind::Auth | ErrorKind::QuotaExhausted)
    }

    /// The proto enum value.
    pub fn to_proto(self) -> pincer_proto::llm::v1::ErrorKind {
        use pincer_proto::llm::v1::ErrorKind as P;
        match self {
            ErrorKind::RateLimited => P::RateLimited,
            ErrorKind::QuotaExhausted => P::QuotaExhausted,
            ErrorKind::Overloaded => P::Overloaded,
            ErrorKind::ContextOverflow => P::ContextOverflow,
            ErrorKind::Auth => P::Auth,
            ErrorKind::NotFound => P::NotFound,
            ErrorKind::BadRequest => P::BadRequest,
            ErrorKind::Timeout => P::Timeout,
            ErrorKind::Transport => P::Transport,
            ErrorKind::StreamBroken => P::StreamBroken,
            ErrorKind::Unsupported => P::Unsupported,
            ErrorKind::Upstream => P::Upstream,
            ErrorKind::CoolingDown => P::CoolingDown,
        }
    }
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

    /// The same error with `retry_after` set.
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Maps a reqwest transport error, naming what broke (connect timeout, refused, DNS, TLS).
    pub fn from_transport(error: &reqwest::Error) -> Self {
        let chain = source_chain(error).to_ascii_lowercase();
        let (kind, what) = if error.is_timeout() && error.is_connect() {
            (ErrorKind::Timeout, "connect timeout")
        } else if error.is_timeout() {
            (ErrorKind::Timeout, "timeout")
        } else if chain.contains("dns") || chain.contains("lookup") || chain.contains("resolve") {
            (ErrorKind::Transport, "DNS lookup failed")
        } else if TLS_WORDS.iter().any(|word| chain.contains(word)) {
            (ErrorKind::Transport, "TLS failed")
        } else if chain.contains("refused") {
            (ErrorKind::Transport, "connection refused")
        } else if chain.contains("reset") || chain.contains("broken pipe") {
            (ErrorKind::Transport, "connection reset")
        } else if error.is_connect() {
            (ErrorKind::Transport, "cannot connect")
        } else {
            (ErrorKind::Transport, "request failed")
        };
        // reqwest's Display includes the URL but never headers, so no key can leak here.
        Self::new(kind, format!("{what}: {}", without_url(error)))
    }

    /// Classifies an error object found inside a 200 stream: OpenAI/OpenRouter
    /// `{"message","code"}` (OpenRouter's code is the HTTP status it would have sent), Anthropic
    /// `{"type":"overloaded_error","message"}`, Ollama's plain string.
    pub fn in_stream(error: &serde_json::Value) -> Self {
        let message = error
            .as_str()
            .or_else(|| error.get("message").and_then(serde_json::Value::as_str))
            .unwrap_or("provider error")
            .to_owned();
        let lower = format!("{error}").to_ascii_lowercase();
        let status = error
            .get("code")
            .and_then(serde_json::Value::as_u64)
            .and_then(|code| u16::try_from(code).ok())
            .filter(|code| (400..=599).contains(code));
        let kind = match error.get("type").and_then(serde_json::Value::as_str) {
            _ if is_context_overflow(&lower) => ErrorKind::ContextOverflow,
            Some("overloaded_error") => ErrorKind::Overloaded,
            Some("rate_limit_error") => ErrorKind::RateLimited,
            Some("authentication_error" | "permission_error") => ErrorKind::Auth,
            Some("billing_error") => ErrorKind::QuotaExhausted,
            Some("invalid_request_error") => ErrorKind::BadRequest,
            Some("timeout_error") => ErrorKind::Timeout,
            _ => match status {
                Some(status) => Self::from_status(status, &error.to_string(), None).kind,
                None if lower.contains("rate limit") => ErrorKind::RateLimited,
                None if lower.contains("overloaded") => ErrorKind::Overloaded,
                None => ErrorKind::StreamBroken,
            },
        };
        Self::new(
            kind,
            format!("error inside the stream: {}", truncate(&message)),
        )
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
            // A conflict with a concurrent request on the provider's side: worth another try, as
            // the official SDKs do.
            409 => ErrorKind::Upstream,
            429 if lower.contains("insufficient_quota")
                || lower.contains("spend_limit")
                || lower.contains("credit_balance")
                || lower.contains("billing") =>
            {
                ErrorKind::QuotaExhausted
            }
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            // 422: text-generation-inference's "`inputs` tokens + `max_new_tokens` must be <= N".
            400 | 413 | 422 if is_context_overflow(&lower) => ErrorKind::ContextOverflow,
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
        "input length exceeds",
        "exceeds the available context size",
        "context window",
        // Gemini's OpenAI endpoint, OpenAI's newer models, text-generation-inference.
        "maximum number of tokens allowed",
        "input tokens exceed the configured limit",
        "`max_new_tokens` must be <=",
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

/// Words rustls and hyper-rustls use for handshake failures (lower case): a plain-HTTP server
/// behind an https URL yields "received corrupt message", a bad chain "invalid peer certificate".
const TLS_WORDS: &[&str] = &[
    "certificate",
    "tls",
    "handshake",
    "corrupt message",
    "peer sent",
    "alert received",
];

/// The error and its sources, joined: hyper and rustls put the useful words ("Connection refused",
/// "dns error", "invalid peer certificate") several levels down.
fn source_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

fn without_url(error: &reqwest::Error) -> String {
    let mut text = source_chain(error);
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
    let value = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())?
        .trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    // An HTTP date: the wait is its distance from now (past dates mean "now").
    let when = pincer_clock::parse_http_date(value)?;
    Some(Duration::from_secs(
        when.saturating_sub(pincer_clock::now_secs()),
    ))
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
        for (status, body) in [
            (
                400,
                r#"{"error":{"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."}}"#,
            ),
            (
                400,
                r#"{"error":{"message":"Input tokens exceed the configured limit of 272000 tokens."}}"#,
            ),
            (
                422,
                r#"{"error":"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 8192. Given: 9000"}"#,
            ),
        ] {
            assert_eq!(
                ProviderError::from_status(status, body, None).kind,
                ErrorKind::ContextOverflow,
                "{body}"
            );
        }
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
        assert!(
            ProviderError::from_status(409, "conflict", None)
                .kind
                .is_retryable(),
            "a 409 is tried again, as the official SDKs do"
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
    fn classifies_errors_inside_a_200_stream() {
        let kind = |v: serde_json::Value| ProviderError::in_stream(&v).kind;
        assert_eq!(
            kind(
                serde_json::json!({"code": 429, "message": "Rate limit exceeded: free-models-per-min"})
            ),
            ErrorKind::RateLimited
        );
        assert_eq!(
            kind(serde_json::json!({"code": 502, "message": "Provider returned error"})),
            ErrorKind::Upstream
        );
        assert_eq!(
            kind(serde_json::json!({"type": "overloaded_error", "message": "Overloaded"})),
            ErrorKind::Overloaded
        );
        assert_eq!(
            kind(serde_json::json!(
                "the input length exceeds the context length"
            )),
            ErrorKind::ContextOverflow
        );
        assert_eq!(
            kind(serde_json::json!("model runner has unexpectedly stopped")),
            ErrorKind::StreamBroken
        );
    }

    #[test]
    fn retry_after_accepts_seconds_fractions_and_http_dates() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("retry-after", "7".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert("retry-after", "0.5".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(500)));
        headers.insert(
            "retry-after",
            "Sun, 06 Nov 1994 08:49:37 GMT".parse().expect("header"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert("retry-after-ms", "250".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        headers.clear();
        headers.insert("retry-after", "soon".parse().expect("header"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn long_bodies_are_truncated_on_a_char_boundary() {
        let body = "é".repeat(400);
        let detail = error_detail(&body);
        assert!(detail.len() < 320);
        assert!(detail.ends_with('…'));
    }
}
