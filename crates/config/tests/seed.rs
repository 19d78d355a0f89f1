//! Every OpenClaw config block of the seed report (fixtures copied byte-for-byte) loads, with the
//! values the report intends.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pincer_config::{Api, AuthMode, Bind, Config, DmPolicy, Error, Scope, load_file};

const OPENROUTER_KEY: &str = "sk-or-v1-test-0123456789abcdef";

/// The fixtures, in report order. A dropped, renamed or extra file fails `all_fixtures_load`.
const FIXTURES: &[&str] = &[
    "01_minimal_vps_heredoc.json5",
    "02_ollama.json5",
    "03_openrouter.json5",
    "04_hybrid.json5",
    "05_tailscale_heredoc.json5",
    "06_gateway_auth.json5",
    "07_telegram_dm_policy.json5",
    "08_vps_summary.json5",
];

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed")
}

fn env(name: &str) -> Option<String> {
    (name == "OPENROUTER_API_KEY").then(|| OPENROUTER_KEY.to_owned())
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn load(name: &str) -> Config {
    let path = fixture_dir().join(name);
    load_file(&path, &env, Scope::All).unwrap_or_else(|err| panic!("{name}: {err}"))
}

#[test]
fn all_fixtures_load() {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .map(|entry| {
            entry
                .expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, FIXTURES, "fixture set changed");
    assert_eq!(on_disk.len(), 8);
    for name in FIXTURES {
        load(name);
    }
}

#[test]
fn minimal_vps_heredoc() {
    let config = load("01_minimal_vps_heredoc.json5");
    assert_eq!(
        config.gateway.bind,
        Bind::Address(IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
    assert_eq!(config.gateway.port, 18789);
    assert_eq!(config.gateway.mode.as_deref(), Some("local"));
    let agent = config.agents.resolve("default").expect("default agent");
    assert_eq!(agent.id, "main");
    assert_eq!(agent.primary, "openrouter/google/gemma-3-4b-it:free");
    assert_eq!(
        agent.fallbacks,
        ["openrouter/meta/llama-3.1-8b-instruct:free"]
    );
    assert_eq!(agent.max_iterations, 15);
    assert_eq!(agent.timeout, Duration::from_secs(120));
    let telegram = config.channels.telegram.expect("telegram");
    assert!(telegram.enabled);
    assert_eq!(telegram.dm_policy, Some(DmPolicy::Pairing));
    assert!(telegram.bot_token.is_none());
}

#[test]
fn ollama() {
    let config = load("02_ollama.json5");
    let provider = config.models.provider("ollama").expect("ollama provider");
    assert_eq!(provider.api, Some(Api::Ollama));
    assert_eq!(provider.api_for("ollama"), Api::Ollama);
    assert_eq!(
        provider.base_url_for("ollama").as_deref(),
        Some("http://localhost:11434")
    );
    assert_eq!(
        provider.api_key.as_ref().map(|k| k.expose()),
        Some("ollama-local")
    );
    assert_eq!(provider.models.len(), 2);
    let qwen = config
        .models
        .model_entry("ollama", "qwen2.5-coder:7b")
        .expect("qwen");
    assert_eq!(qwen.name.as_deref(), Some("Qwen 2.5 Coder 7B"));
    assert_eq!(qwen.context_window, Some(32768));
    assert_eq!(qwen.max_tokens, Some(8192));
    assert_eq!(qwen.cost.map(|c| (c.input, c.output)), Some((0.0, 0.0)));
    let agent = config.agents.resolve("main").expect("main agent");
    assert_eq!(agent.primary, "ollama/qwen2.5-coder:7b");
    assert_eq!(agent.fallbacks, ["ollama/llama3.1:8b"]);
    assert_eq!(agent.max_iterations, 20);
    assert_eq!(agent.timeout, Duration::from_secs(600));
}

#[test]
fn openrouter() {
    let config = load("03_openrouter.json5");
    let provider = config
        .models
        .provider("openrouter")
        .expect("openrouter provider");
    assert_eq!(
        provider.api_key.as_ref().map(|k| k.expose()),
        Some(OPENROUTER_KEY)
    );
    assert_eq!(provider.api_for("openrouter"), Api::OpenaiCompletions);
    assert_eq!(
        provider.base_url_for("openrouter").as_deref(),
        Some("https://openrouter.ai/api/v1")
    );
    let agent = config.agents.resolve("default").expect("default agent");
    assert_eq!(agent.primary, "openrouter/anthropic/claude-sonnet-4-6");
    assert_eq!(agent.fallbacks.len(), 3);
    assert_eq!(agent.fallbacks[2], "openrouter/google/gemma-3-4b-it:free");
    assert!(!format!("{config:?}").contains(OPENROUTER_KEY));
}

#[test]
fn hybrid() {
    let config = load("04_hybrid.json5");
    let agent = config.agents.resolve("default").expect("default agent");
    assert_eq!(agent.primary, "openrouter/google/gemma-3-4b-it:free");
    assert_eq!(
        agent.fallbacks,
        [
            "openrouter/deepseek/deepseek-chat-v3.2",
            "ollama/llama3.2:3b"
        ]
    );
    assert_eq!(agent.max_iterations, 10);
    assert_eq!(agent.timeout, Duration::from_secs(90));

    let ollama = config.models.provider("ollama").expect("ollama provider");
    assert_eq!(ollama.api, None);
    assert_eq!(ollama.api_for("ollama"), Api::Ollama);
    assert_eq!(
        ollama.base_url_for("ollama").as_deref(),
        Some("http://localhost:11434")
    );

    let openrouter = config
        .models
        .provider("openrouter")
        .expect("openrouter provider");
    assert_eq!(openrouter.base_url, None);
    assert_eq!(
        openrouter.base_url_for("openrouter").as_deref(),
        Some("https://openrouter.ai/api/v1")
    );
    let deepseek = config
        .models
        .model_entry("openrouter", "deepseek/deepseek-chat-v3.2")
        .expect("deepseek");
    assert_eq!(deepseek.context_window, Some(64000));
    assert_eq!(deepseek.cost.map(|c| c.input), Some(0.00053));
    let (provider, model) =
        pincer_config::parse_model_ref(&agent.fallbacks[1]).expect("valid fallback ref");
    assert!(config.models.model_entry(provider, model).is_some());
}

#[test]
fn tailscale_heredoc() {
    let config = load("05_tailscale_heredoc.json5");
    assert_eq!(config.gateway.bind, Bind::Tailnet);
    assert_eq!(config.gateway.port, 18789);
    assert_eq!(
        config.tailscale.mode,
        Some(pincer_config::TailscaleMode::On)
    );
    assert_eq!(
        config.tailscale().effective_mode(),
        pincer_config::TailscaleMode::Serve
    );
    assert_eq!(config.tailscale.reset_on_exit, Some(false));
}

#[test]
fn gateway_auth() {
    let config = load("06_gateway_auth.json5");
    let gateway = &config.gateway;
    assert_eq!(gateway.bind, Bind::Address(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(gateway.auth.mode, Some(AuthMode::Token));
    assert_eq!(
        gateway.auth.token.as_ref().map(|t| t.expose()),
        Some("your-64-char-hex-token-here")
    );
    assert_eq!(
        gateway.control_ui.allowed_origins,
        [
            "http://localhost:18789",
            "https://your-domain.tailnet-name.ts.net"
        ]
    );
    assert!(!gateway.control_ui.allow_insecure_auth);
    assert!(!gateway.control_ui.dangerously_disable_device_auth);
    assert!(!format!("{config:?}").contains("your-64-char-hex-token-here"));
    // No model anywhere: resolution reports it instead of inventing one.
    assert!(config.agents.resolve("default").is_err());
}

#[test]
fn telegram_dm_policy_with_comment() {
    let config = load("07_telegram_dm_policy.json5");
    let telegram = config.channels.telegram.expect("telegram");
    assert!(
        telegram.enabled,
        "a configured channel is on unless enabled: false"
    );
    assert_eq!(telegram.dm_policy(), DmPolicy::Pairing);
}

#[test]
fn vps_summary() {
    let config = load("08_vps_summary.json5");
    assert_eq!(config.agents.defaults.max_concurrent(), 2);
    assert_eq!(
        config.gateway.auth.token.as_ref().map(|t| t.expose()),
        Some("GENERATE_WITH_OPENSSL_RAND")
    );
    let agent = config.agents.resolve("default").expect("default agent");
    assert_eq!(agent.primary, "openrouter/google/gemma-3-4b-it:free");
    assert!(agent.fallbacks.is_empty());
    let gemma = config
        .models
        .model_entry("openrouter", "google/gemma-3-4b-it:free")
        .expect("gemma");
    assert_eq!(gemma.max_tokens, Some(4096));
    assert!(config.channels.telegram.expect("telegram").enabled);
}

#[test]
fn missing_key_fails_in_scope_only() {
    let path = fixture_dir().join("04_hybrid.json5");
    match load_file(&path, &no_env, Scope::All) {
        Err(Error::MissingVar { path: key, var, .. }) => {
            assert_eq!(key, "models.providers.openrouter.apiKey");
            assert_eq!(var, "OPENROUTER_API_KEY");
        }
        other => panic!("expected MissingVar, got {other:?}"),
    }
    let config = load_file(&path, &no_env, Scope::Sections(&["gateway"])).expect("gateway only");
    assert_eq!(
        config
            .agents
            .resolve("default")
            .expect("agent")
            .fallbacks
            .len(),
        2
    );

    let summary = fixture_dir().join("08_vps_summary.json5");
    let err = load_file(&summary, &no_env, Scope::All).expect_err("missing key");
    assert_eq!(err.path(), Some("models.providers.openrouter.apiKey"));
    assert!(err.to_string().contains("OPENROUTER_API_KEY"), "{err}");
    load_file(
        &summary,
        &no_env,
        Scope::Sections(&["gateway", "agents", "channels"]),
    )
    .expect("models out of scope");
}
