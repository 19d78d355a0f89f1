//! The `api_key` knob: chat requests must present the configured key.
//!
//! Clients put keys in different headers (OpenAI and Ollama clients send
//! `Authorization: Bearer`, Anthropic's older SDKs `x-api-key`, its 2.x SDK `Bearer`), so both
//! are read on every wire; each wire prefers the header its provider documents.

use axum::http::{HeaderMap, header};

use crate::wire_error::Dialect;

/// Whether the request may go on: no key is required, or the presented one matches.
pub(crate) fn authorized(expected: Option<&str>, dialect: Dialect, headers: &HeaderMap) -> bool {
    expected.is_none_or(|expected| presented_key(dialect, headers) == Some(expected))
}

/// Whether the request presents any key at all.
pub(crate) fn presents_key(dialect: Dialect, headers: &HeaderMap) -> bool {
    presented_key(dialect, headers).is_some_and(|key| !key.is_empty())
}

/// The key a request presents. Anthropic prefers `x-api-key` when both headers are present;
/// the others prefer the bearer token.
fn presented_key(dialect: Dialect, headers: &HeaderMap) -> Option<&str> {
    let x_api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    match dialect {
        Dialect::Anthropic => x_api_key.or(bearer),
        Dialect::Ollama | Dialect::OpenAi => bearer.or(x_api_key),
    }
}

/// The token of `Bearer <token>` (scheme case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    header::HeaderName::from_static(name),
                    value.parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn reads_either_header_with_the_wire_preference() {
        let both = headers(&[("authorization", "bearer sk-b"), ("x-api-key", "sk-x")]);
        assert_eq!(presented_key(Dialect::Anthropic, &both), Some("sk-x"));
        assert_eq!(presented_key(Dialect::OpenAi, &both), Some("sk-b"));
        let x_only = headers(&[("x-api-key", "sk-x")]);
        assert_eq!(presented_key(Dialect::Ollama, &x_only), Some("sk-x"));
        let basic = headers(&[("authorization", "Basic abc")]);
        assert_eq!(presented_key(Dialect::OpenAi, &basic), None);
    }

    #[test]
    fn only_a_set_key_is_enforced() {
        let none = HeaderMap::new();
        assert!(authorized(None, Dialect::OpenAi, &none));
        assert!(!authorized(Some("sk-1"), Dialect::OpenAi, &none));
        let good = headers(&[("authorization", "Bearer sk-1")]);
        assert!(authorized(Some("sk-1"), Dialect::Ollama, &good));
        assert!(!authorized(Some("sk-2"), Dialect::Ollama, &good));
    }
}
