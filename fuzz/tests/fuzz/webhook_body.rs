//! Bodies the gateway takes from outside callers after their token or secret: Telegram webhook
//! updates and `/hooks/agent` / `/hooks/wake` calls (with their delivery targets).

use std::sync::LazyLock;

use pincer_fuzz::Target;
use pincer_gateway::hooks::{AgentHook, WakeHook};
use pincer_gateway::webhooks::update_id_of;
use proptest::prelude::*;

static TARGET: LazyLock<Target> = LazyLock::new(|| {
    Target::load(
        "webhook_body",
        &[
            "\"update_id\"",
            "\"message\"",
            "\"text\"",
            "\"sessionKey\"",
            "\"agentId\"",
            "\"name\"",
            "\"idempotencyKey\"",
            "\"channel\"",
            "\"to\"",
            "\"deliver\"",
            "\":\"",
            "\"agent:other:main\"",
            "\"../\"",
            "9223372036854775807",
            "-1",
        ],
    )
});

/// Whatever a hook names, its session stays under the agent's `hook:` namespace.
fn check(body: &[u8]) -> Result<(), String> {
    let _ = update_id_of(body);
    if let Ok(hook) = serde_json::from_slice::<AgentHook>(body) {
        // A delivery target is read or refused, never trusted blindly.
        let _ = hook.delivery(&[]);
        let key = hook.session_key("main");
        if !key.starts_with("agent:main:hook:") {
            return Err(format!("{hook:?} runs in {key:?}"));
        }
    }
    let _ = serde_json::from_slice::<WakeHook>(body);
    Ok(())
}

#[test]
fn the_corpus_is_read_as_real_clients_expect() {
    for (name, body) in TARGET.entries("ok-telegram") {
        assert!(update_id_of(body).is_ok(), "{name}");
    }
    for (name, body) in TARGET.entries("ok-hook-agent") {
        let hook: AgentHook =
            serde_json::from_slice(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        check(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!hook.message.is_empty(), "{name}");
    }
    for (name, body) in TARGET.entries("ok-hook-wake") {
        serde_json::from_slice::<WakeHook>(body).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, body) in TARGET.entries("err-hook") {
        assert!(serde_json::from_slice::<AgentHook>(body).is_err(), "{name}");
    }
    for (name, body) in TARGET.entries("err-telegram") {
        assert!(update_id_of(body).is_err(), "{name}");
    }
    let named =
        serde_json::from_slice::<AgentHook>(br#"{"message":"m","name":"gmail"}"#).expect("a hook");
    assert!(
        named
            .session_key("main")
            .starts_with("agent:main:hook:gmail:")
    );
}

proptest! {
    #![proptest_config(TARGET.config())]

    #[test]
    fn mutated_bodies_are_read_or_refused(body in TARGET.inputs()) {
        if let Err(broken) = check(&body) {
            prop_assert!(false, "{broken}");
        }
    }
}
