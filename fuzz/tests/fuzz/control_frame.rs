//! Control WebSocket frames as the gateway reads them: the frame, its params, a `config.patch`
//! merged into a config, the fields it would touch, and the session key `chat.send` derives.

use std::sync::LazyLock;

use pincer_fuzz::Target;
use pincer_gateway::control::frame::{self, Request};
use pincer_gateway::control::resolve::session_key;
use pincer_gateway::control::settings::{guarded, merge_patch};
use proptest::prelude::*;
use serde_json::{Value, json};

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    Target::load(
        "control_frame",
        &[
            "\"type\"",
            "\"req\"",
            "\"id\"",
            "\"method\"",
            "\"params\"",
            "\"sessionKey\"",
            "\"agent:\"",
            "\"agent:other:main\"",
            "\":\"",
            "\"raw\"",
            "\"auth\"",
            "\"nonce\"",
            "\"device\"",
            "\"scopes\"",
            "\"operator.admin\"",
            "\"models\"",
            "\"baseUrl\"",
        ],
    )
});

fn parse(bytes: &[u8]) -> Option<Result<Request, frame::ErrorShape>> {
    // The socket hands over text frames only: bytes that are not UTF-8 never reach the parser.
    std::str::from_utf8(bytes).ok().map(frame::parse)
}

fn check(request: &Request) -> Result<(), String> {
    if request.kind != "req" {
        return Err(format!("frame of type {:?} accepted", request.kind));
    }
    if !(request.params.is_object() || request.params.is_null()) {
        return Err(format!("params {:?} accepted", request.params));
    }
    // Every method reads its params through `frame::params`; a map of anything must not panic.
    let _ = frame::params::<serde_json::Map<String, Value>>(&request.params);
    // config.patch: merged into a config, and every leaf it touches classified.
    let mut config =
        json!({ "gateway": { "auth": { "mode": "token" } }, "models": { "providers": {} } });
    merge_patch(&mut config, &request.params);
    let mut stack = vec![(String::new(), &request.params)];
    while let Some((path, value)) = stack.pop() {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    stack.push((child_path, child));
                }
            }
            leaf => {
                let _ = guarded(&path, leaf);
            }
        }
    }
    // chat.send: whatever key is asked for, the session stays the agent's own.
    if let Some(requested) = request.params.get("sessionKey").and_then(Value::as_str)
        && let Ok(key) = session_key("main", Some(requested))
        && !key.starts_with("agent:main:")
    {
        return Err(format!("{requested:?} became {key:?} outside agent main"));
    }
    Ok(())
}

#[test]
fn the_corpus_is_read_as_real_clients_expect() {
    for (name, bytes) in TARGET.entries("ok-") {
        let request = parse(bytes)
            .expect("UTF-8")
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        check(&request).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, bytes) in TARGET.entries("err-") {
        let refused = parse(bytes).expect("UTF-8");
        let error = refused.err().unwrap_or_else(|| panic!("{name} accepted"));
        assert_eq!(error.code, frame::Code::InvalidRequest, "{name}");
        assert!(!error.message.is_empty(), "{name}");
    }
}

proptest! {
    #![proptest_config(TARGET.config())]

    #[test]
    fn mutated_frames_are_answered_never_crash(bytes in TARGET.inputs()) {
        match parse(&bytes) {
            Some(Ok(request)) => {
                if let Err(broken) = check(&request) {
                    prop_assert!(false, "{broken}");
                }
            }
            Some(Err(error)) => prop_assert!(!error.message.is_empty()),
            None => {}
        }
    }
}
