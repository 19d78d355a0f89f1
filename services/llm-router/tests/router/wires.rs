//! Each provider API end to end through the router against a fake that checks the real wire format:
//! Anthropic Messages (tool_use/tool_result, version rules), Ollama native (num_ctx from /api/show,
//! keep_alive, tool capability, discovery), OpenAI-compatible/OpenRouter (headers, cached usage, cost).

use crate::support::{Router, fake, request, user};
use pincer_fake_provider::{Knobs, ToolMode};
use pincer_proto::llm::v1 as pb;
use serde_json::json;

fn read_tool() -> pb::ToolSpec {
    pb::ToolSpec {
        name: "read".into(),
        description: "Read a file".into(),
        parameters_json:
            r#"{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}"#
                .into(),
    }
}

#[tokio::test]
async fn anthropic_tool_round_trip_with_the_current_version_rules() {
    let provider = fake(Knobs {
        tool_mode: ToolMode::First,
        tool_args: json!({"path": "SOUL.md"}),
        api_key: Some("sk-ant-test".into()),
        cached_tokens: 40,
        ..Knobs::default()
    })
    .await;
    let router = Router::start(json!({"providers": {"anthropic": {
        "baseUrl": provider.base_url(), "apiKey": "sk-ant-test",
        "models": [{"id": "claude-sonnet-4-6", "contextWindow": 200000,
                    "cost": {"input": 3, "output": 15, "cacheRead": 0.3}}]}}}))
    .await;
    let mut first = request("anthropic/claude-sonnet-4-6", &[]);
    first.messages.insert(
        0,
        pb::Message {
            role: pb::Role::System.into(),
            content: "You are Pincer.".into(),
            ..Default::default()
        },
    );
    first.tools = vec![read_tool()];
    let outcome = router.chat(first.clone()).await;
    let done = outcome.done();
    assert_eq!(done.finish_reason, "tool_calls");
    assert_eq!(outcome.tool_calls.len(), 1);
    let call = &outcome.tool_calls[0];
    assert_eq!(call.name, "read");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&call.arguments_json).expect("json"),
        json!({"path": "SOUL.md"})
    );
    let usage = done.usage.expect("usage");
    assert_eq!(usage.cached_tokens, Some(40));
    assert!(done.cost_usd.is_some_and(|c| c > 0.0));

    let sent = provider.requests().pop().expect("recorded");
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(
        sent.headers.get("anthropic-version").map(String::as_str),
        Some("2026-10-21")
    );
    assert_eq!(
        sent.headers.get("x-api-key").map(String::as_str),
        Some("sk-ant-test")
    );
    assert_eq!(sent.body["system"], "You are Pincer.");
    assert!(sent.body.get("temperature").is_none());
    assert_eq!(sent.body["tools"][0]["input_schema"]["required"][0], "path");

    // Second turn: the tool result goes back as a tool_result block; the fake rejects bad pairing.
    let mut second = first;
    second.messages.push(pb::Message {
        role: pb::Role::Assistant.into(),
        tool_calls: vec![call.clone()],
        ..Default::default()
    });
    second.messages.push(pb::Message {
        role: pb::Role::Tool.into(),
        content: "I am Pincer's soul.".into(),
        tool_call_id: call.id.clone(),
        tool_name: "read".into(),
        ..Default::default()
    });
    let outcome = router.chat(second).await;
    assert_eq!(outcome.done().finish_reason, "stop");
    assert!(!outcome.text.is_empty());
    let sent = provider.requests().pop().expect("recorded");
    assert_eq!(
        sent.body["messages"][2]["content"][0]["type"],
        "tool_result"
    );
    router.stop().await;
}

#[tokio::test]
async fn anthropic_529_overloaded_falls_back_to_another_provider() {
    let provider = fake(Knobs {
        fail: Some(pincer_fake_provider::Failure {
            status: 529,
            ..Default::default()
        }),
        ..Knobs::default()
    })
    .await;
    let backup = fake(Knobs::default()).await;
    let router = Router::start(json!({"providers": {
        "anthropic": {"baseUrl": provider.base_url(), "apiKey": "k"},
        "ollama": {"baseUrl": backup.base_url()}}}))
    .await;
    let outcome = router
        .chat(request("anthropic/claude-x", &["ollama/llama3.2:3b"]))
        .await;
    let done = outcome.done();
    assert_eq!(done.model, "ollama/llama3.2:3b");
    assert_eq!(
        crate::support::attempt_kind(&done.failed_attempts[0]),
        pb::ErrorKind::Overloaded
    );
    router.stop().await;
}

#[tokio::test]
async fn ollama_gets_num_ctx_from_show_keep_alive_and_no_tools_it_cannot_call() {
    let provider = fake(Knobs {
        context_window: 8192,
        no_tools_capability: true,
        model: "llama3.2:3b".into(),
        ..Knobs::default()
    })
    .await;
    let router = Router::start(json!({"providers": {"ollama": {
        "baseUrl": provider.base_url(), "keepAlive": "30m", "apiKey": "ollama-local",
        "models": [{"id": "qwen2.5-coder:7b", "contextWindow": 32768}]}}}))
    .await;
    let mut call = request("ollama/llama3.2:3b", &[]);
    call.tools = vec![read_tool()];
    let outcome = router.chat(call).await;
    assert_eq!(outcome.done().model, "ollama/llama3.2:3b");
    let sent = provider.requests().pop().expect("recorded");
    assert_eq!(sent.path, "/api/chat");
    assert_eq!(sent.body["options"]["num_ctx"], 8192);
    assert_eq!(sent.body["truncate"], false);
    assert_eq!(sent.body["keep_alive"], "30m");
    assert!(sent.body.get("tools").is_none());

    let models = router.models().await;
    let configured = models
        .iter()
        .find(|m| m.id == "ollama/qwen2.5-coder:7b")
        .expect("configured model listed");
    assert_eq!(configured.source, "config");
    assert_eq!(
        configured.context_window, 8192,
        "configured 32K capped at the native window"
    );
    assert!(configured.below_minimum_context);
    let discovered = models
        .iter()
        .find(|m| m.id == "ollama/llama3.2:3b")
        .expect("pulled model discovered");
    assert_eq!(discovered.source, "discovered");
    assert!(!discovered.supports_tools);

    let status = router.status().await;
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.contains("ollama/qwen2.5-coder:7b") && w.contains("64000")),
        "{:?}",
        status.warnings
    );
    router.stop().await;
}

#[tokio::test]
async fn openrouter_gets_attribution_headers_free_ids_and_cached_usage_with_cost() {
    let provider = fake(Knobs {
        cached_tokens: 10,
        ..Knobs::default()
    })
    .await;
    let router = Router::start(json!({"providers": {"openrouter": {
        "baseUrl": format!("{}/v1", provider.base_url()), "apiKey": "sk-or-test",
        "models": [
            {"id": "google/gemma-3-4b-it:free", "contextWindow": 131072, "cost": {"input": 0, "output": 0}},
            {"id": "deepseek/deepseek-chat-v3.2", "contextWindow": 64000, "cost": {"input": 0.53, "output": 0.53}}]}}}))
    .await;
    let outcome = router
        .chat(request("openrouter/google/gemma-3-4b-it:free", &[]))
        .await;
    let done = outcome.done();
    assert_eq!(done.model, "openrouter/google/gemma-3-4b-it:free");
    assert_eq!(done.cost_usd, Some(0.0));
    let sent = provider.requests().pop().expect("recorded");
    assert_eq!(sent.body["model"], "google/gemma-3-4b-it:free");
    assert_eq!(sent.body["stream_options"]["include_usage"], true);
    assert!(sent.headers.contains_key("http-referer"));
    assert_eq!(
        sent.headers.get("x-openrouter-title").map(String::as_str),
        Some("Pincer")
    );

    let outcome = router
        .chat(request("openrouter/deepseek/deepseek-chat-v3.2", &[]))
        .await;
    let done = outcome.done();
    let usage = done.usage.expect("usage");
    assert_eq!(usage.cached_tokens, Some(10));
    let prompt = f64::from(usage.prompt_tokens.expect("prompt"));
    let completion = f64::from(usage.completion_tokens.expect("completion"));
    let expected = (prompt + completion) * 0.53 / 1e6;
    let cost = done.cost_usd.expect("priced");
    assert!((cost - expected).abs() < 1e-12, "{cost} vs {expected}");
    router.stop().await;
}

#[tokio::test]
async fn tool_calls_from_history_cross_providers_in_their_own_shapes() {
    // A conversation started on an OpenAI-style provider (string arguments) continues on Ollama
    // (object arguments) after a fallback.
    let ollama = fake(Knobs::default()).await;
    let router =
        Router::start(json!({"providers": {"ollama": {"baseUrl": ollama.base_url()}}})).await;
    let mut call = request("ollama/m", &[]);
    call.messages = vec![
        user("list files"),
        pb::Message {
            role: pb::Role::Assistant.into(),
            tool_calls: vec![pb::ToolCall {
                id: "call_abc".into(),
                name: "ls".into(),
                arguments_json: r#"{"path":"."}"#.into(),
            }],
            ..Default::default()
        },
        pb::Message {
            role: pb::Role::Tool.into(),
            content: "a.md".into(),
            tool_call_id: "call_abc".into(),
            tool_name: "ls".into(),
            ..Default::default()
        },
    ];
    assert!(router.chat(call).await.done.is_some());
    let sent = ollama.requests().pop().expect("recorded");
    assert_eq!(
        sent.body["messages"][1]["tool_calls"][0]["function"]["arguments"],
        json!({"path": "."})
    );
    assert_eq!(sent.body["messages"][2]["tool_name"], "ls");
    router.stop().await;
}

#[tokio::test]
async fn servers_that_ignore_stream_true_still_answer_with_text_tools_and_usage() {
    let provider = fake(Knobs {
        ignore_stream: true,
        tool_mode: ToolMode::First,
        tool_args: json!({"path": "SOUL.md"}),
        ..Knobs::default()
    })
    .await;
    let router = Router::start(json!({"providers": {
        "vllm": {"baseUrl": format!("{}/v1", provider.base_url()), "models": [{"id": "qwen3"}]},
        "anthropic": {"baseUrl": provider.base_url(), "apiKey": "k", "api": "anthropic-messages",
                      "models": [{"id": "claude-haiku-4-5"}]}}}))
    .await;
    for model in ["vllm/qwen3", "anthropic/claude-haiku-4-5"] {
        let mut call = request(model, &[]);
        call.tools = vec![read_tool()];
        let outcome = router.chat(call).await;
        let done = outcome.done();
        assert_eq!(done.model, model);
        assert_eq!(done.finish_reason, "tool_calls", "{model}");
        assert_eq!(outcome.tool_calls.len(), 1, "{model}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&outcome.tool_calls[0].arguments_json)
                .expect("json"),
            json!({"path": "SOUL.md"})
        );
        assert!(done.usage.and_then(|u| u.completion_tokens).is_some());

        let plain = router.chat(request(model, &[])).await;
        assert!(!plain.text.is_empty(), "{model}: no text");
        assert_eq!(plain.done().finish_reason, "stop");
    }
    let sent = provider.requests();
    assert!(sent.iter().all(|r| r.body["stream"] == true));
    router.stop().await;
}

#[tokio::test]
async fn status_probes_every_provider_from_where_the_router_runs() {
    let provider = fake(Knobs {
        api_key: Some("sk-right".into()),
        ..Knobs::default()
    })
    .await;
    let base = format!("{}/v1", provider.base_url());
    let router = Router::start(json!({"providers": {
        "good": {"baseUrl": base, "apiKey": "sk-right", "api": "openai-completions"},
        "badkey": {"baseUrl": base, "apiKey": "sk-wrong", "api": "openai-completions"},
        "local": {"baseUrl": provider.base_url(), "api": "ollama"},
        "down": {"baseUrl": "http://127.0.0.1:9", "api": "ollama"}}}))
    .await;
    let unprobed = router.status().await;
    assert!(unprobed.providers.iter().all(|p| p.probe.is_none()));

    let status = router.status_probed(true).await;
    let probe = |id: &str| {
        status
            .providers
            .iter()
            .find(|p| p.id == id)
            .and_then(|p| p.probe.clone())
            .unwrap_or_else(|| panic!("no probe for {id}: {status:?}"))
    };
    assert!(probe("good").reachable && probe("good").http_status == 200);
    assert!(probe("local").reachable, "ollama's /api/tags needs no key");
    let refused = probe("badkey");
    assert_eq!((refused.reachable, refused.http_status), (false, 401));
    assert!(!refused.error.contains("sk-wrong"), "{}", refused.error);
    let down = probe("down");
    assert_eq!((down.reachable, down.http_status), (false, 0));
    assert!(down.error.contains("connect"), "{}", down.error);
    router.stop().await;
}

/// A thinking level reaches Anthropic as a budget the API accepts (at least 1,024 tokens, under
/// `max_tokens`, which the router raises to make room) even when the model's cap is small.
#[tokio::test]
async fn anthropic_thinking_is_a_budget_the_api_accepts() {
    let provider = fake(Knobs {
        api_key: Some("sk-ant-test".into()),
        ..Knobs::default()
    })
    .await;
    let router = Router::start(json!({"providers": {"anthropic": {
        "baseUrl": provider.base_url(), "apiKey": "sk-ant-test",
        "models": [{"id": "claude-sonnet-4-6", "maxTokens": 1024}]}}}))
    .await;
    let mut request = request("anthropic/claude-sonnet-4-6", &[]);
    request.thinking = pb::Thinking::High.into();
    let outcome = router.chat(request).await;
    assert_eq!(outcome.done().finish_reason, "stop");
    let sent = provider.requests().pop().expect("recorded");
    let budget = sent.body["thinking"]["budget_tokens"]
        .as_u64()
        .expect("budget");
    assert!(budget >= 1024, "{}", sent.body);
    assert!(sent.body["max_tokens"].as_u64().expect("cap") > budget);
}
