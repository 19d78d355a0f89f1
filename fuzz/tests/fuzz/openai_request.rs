//! `POST /v1/chat/completions` bodies as the gateway parses them: any body gets a call or a 400
//! that names what is wrong, never a panic.

use std::sync::LazyLock;

use pincer_fuzz::Target;
use pincer_gateway::http::ApiError;
use pincer_gateway::http::openai::{ChatCall, parse};
use proptest::prelude::*;

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    Target::load(
        "openai_request",
        &[
            "\"model\"",
            "\"messages\"",
            "\"role\"",
            "\"content\"",
            "\"tool_calls\"",
            "\"tool_call_id\"",
            "\"function\"",
            "\"arguments\"",
            "\"stream\"",
            "\"stream_options\"",
            "\"include_usage\"",
            "\"user\"",
            "\"type\"",
            "\"text\"",
            "\"image_url\"",
            "\"url\"",
            "\"data:image/png;base64,cG5nIQ==\"",
            "\"temperature\"",
            "\"max_tokens\"",
            "\"max_completion_tokens\"",
            "\"pincer/\"",
            "\"openclaw/a/b\"",
            "\"assistant\"",
            "\"tool\"",
        ],
    )
});

/// What must hold for whatever `parse` returned.
fn check(body: &[u8], parsed: &Result<ChatCall, ApiError>) -> Result<(), String> {
    match parsed {
        Ok(call) => {
            if call.messages.is_empty() {
                return Err(format!("accepted without messages: {call:?}"));
            }
            if call.agent_id.is_empty() || call.agent_id.contains('/') {
                return Err(format!(
                    "agent id {:?} from {:?}",
                    call.agent_id, call.model
                ));
            }
            Ok(())
        }
        Err(ApiError::BadRequest { message, param }) => {
            if message.trim().is_empty() {
                return Err("a 400 without a message".to_owned());
            }
            let known = [
                "model",
                "messages",
                "stream",
                "stream_options",
                "user",
                "reasoning_effort",
                "temperature",
                "max_tokens",
                "max_completion_tokens",
            ];
            match param {
                Some(param) if !known.iter().any(|field| param.starts_with(field)) => {
                    Err(format!("param {param:?} names no field"))
                }
                _ => Ok(()),
            }
        }
        Err(ApiError::ModelNotFound { message }) if !message.is_empty() => Ok(()),
        Err(other) => Err(format!("{other:?} for {:?}", String::from_utf8_lossy(body))),
    }
}

#[test]
fn the_corpus_is_read_as_real_clients_expect() {
    for (name, body) in TARGET.entries("ok-") {
        let parsed = parse(body);
        assert!(parsed.is_ok(), "{name}: {parsed:?}");
        check(body, &parsed).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, body) in TARGET.entries("err-") {
        let parsed = parse(body);
        assert!(parsed.is_err(), "{name} accepted: {parsed:?}");
        check(body, &parsed).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

proptest! {
    #![proptest_config(TARGET.config())]

    #[test]
    fn mutated_requests_are_parsed_or_refused_by_name(body in TARGET.inputs()) {
        let parsed = parse(&body);
        if let Err(broken) = check(&body, &parsed) {
            prop_assert!(false, "{broken}");
        }
    }
}
