//! `pincer` commands on files and local processes: config editing, models, the security audit,
//! doctor, the OpenClaw import, MCP servers, the compose wrapper, completions and onboarding (flags
//! and a real pseudo-terminal).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn pincer_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pincer"))
        .args(args)
        .current_dir(dir)
        .env_remove("PINCER_GATEWAY_TOKEN")
        .env_remove("PINCER_CONFIG")
        .env("HOME", dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn out(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn err(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const COMMENTED: &str = r#"// my pincer
{
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "${PINCER_GATEWAY_TOKEN}" } }, // keep me
  models: { providers: { ollama: { baseUrl: "http://127.0.0.1:11434", api: "ollama", apiKey: "sk-inline-secret" } } },
  agents: {
    defaults: {
      model: "ollama/llama3.1",
      timeout: 30,
    },
  },
}
"#;

fn config_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    let file = dir.path().join("config/pincer.json5");
    std::fs::write(&file, COMMENTED).unwrap();
    (dir, file)
}

#[test]
fn config_get_set_unset_keep_comments_and_never_print_secrets() {
    let (dir, file) = config_dir();
    let d = dir.path();
    let got = pincer_in(d, &["config", "get", "agents.defaults.model"]);
    assert_eq!(out(&got).trim(), "ollama/llama3.1", "{got:?}");
    let secret = pincer_in(d, &["config", "get", "models.providers.ollama.apiKey"]);
    assert_eq!(out(&secret).trim(), "••••");
    let provider = out(&pincer_in(
        d,
        &["config", "get", "models.providers.ollama", "--json"],
    ));
    assert!(
        !provider.contains("sk-inline-secret") && provider.contains("baseUrl"),
        "{provider}"
    );

    assert!(
        pincer_in(d, &["config", "set", "agents.defaults.timeout", "120"])
            .status
            .success()
    );
    assert!(
        pincer_in(
            d,
            &["config", "set", "channels.telegram.dmPolicy", "pairing"]
        )
        .status
        .success()
    );
    assert!(
        pincer_in(
            d,
            &[
                "config",
                "set",
                "gateway.controlUi.allowedOrigins",
                r#"["https://box.ts.net"]"#
            ]
        )
        .status
        .success()
    );
    let text = std::fs::read_to_string(&file).unwrap();
    for kept in [
        "// my pincer",
        "// keep me",
        "${PINCER_GATEWAY_TOKEN}",
        "timeout: 120",
    ] {
        assert!(text.contains(kept), "{kept} missing:\n{text}");
    }
    assert_eq!(
        out(&pincer_in(
            d,
            &["config", "get", "channels.telegram.dmPolicy"]
        ))
        .trim(),
        "pairing"
    );

    // Invalid results are refused and the file stays as it was.
    let bad = pincer_in(d, &["config", "set", "agents.defaults.timeuot", "5"]);
    assert_eq!(bad.status.code(), Some(78), "{bad:?}");
    assert!(err(&bad).contains("timeuot"));
    let wrong_type = pincer_in(d, &["config", "set", "gateway.port", "\"high\""]);
    assert_eq!(wrong_type.status.code(), Some(78));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);

    assert!(
        pincer_in(d, &["config", "unset", "channels.telegram"])
            .status
            .success()
    );
    let unset_twice = pincer_in(d, &["config", "unset", "channels.telegram"]);
    assert_eq!(unset_twice.status.code(), Some(65));
    assert_eq!(
        pincer_in(d, &["config", "get", "channels"]).status.code(),
        Some(0)
    );
    let unset_var = pincer_in(d, &["config", "validate", file.to_str().unwrap()]);
    assert_eq!(
        unset_var.status.code(),
        Some(78),
        "PINCER_GATEWAY_TOKEN is not set anywhere"
    );
    std::fs::write(d.join(".env"), "PINCER_GATEWAY_TOKEN=from-dotenv\n").unwrap();
    let validated = pincer_in(d, &["config", "validate", file.to_str().unwrap()]);
    assert!(validated.status.success(), "{validated:?}");

    let schema: Value =
        serde_json::from_slice(&pincer_in(d, &["config", "schema"]).stdout).unwrap();
    assert!(schema["properties"]["gateway"].is_object(), "{schema}");
    assert!(schema.to_string().contains("dmPolicy"));
}

#[test]
fn models_set_and_fallbacks_edit_the_agents_chain() {
    let (dir, file) = config_dir();
    let d = dir.path();
    let router = ["--router", "http://127.0.0.1:9"];
    let set = pincer_in(
        d,
        &[&["models", "set", "ollama/qwen2.5:14b"][..], &router].concat(),
    );
    assert!(set.status.success(), "{set:?}");
    assert!(
        err(&set).contains("not reachable"),
        "the router was not there to check: {}",
        err(&set)
    );
    assert!(
        pincer_in(
            d,
            &[
                &[
                    "models",
                    "fallbacks",
                    "add",
                    "openrouter/anthropic/claude-sonnet-4"
                ][..],
                &router
            ]
            .concat()
        )
        .status
        .success()
    );
    let chain: Value =
        serde_json::from_slice(&pincer_in(d, &["models", "fallbacks", "list", "--json"]).stdout)
            .unwrap();
    assert_eq!(chain["primary"], "ollama/qwen2.5:14b");
    assert_eq!(
        chain["fallbacks"][0],
        "openrouter/anthropic/claude-sonnet-4"
    );
    let duplicate = pincer_in(
        d,
        &[
            &["models", "fallbacks", "add", "ollama/qwen2.5:14b"][..],
            &router,
        ]
        .concat(),
    );
    assert_eq!(duplicate.status.code(), Some(65));
    assert!(
        pincer_in(
            d,
            &[
                "models",
                "fallbacks",
                "remove",
                "openrouter/anthropic/claude-sonnet-4"
            ]
        )
        .status
        .success()
    );
    assert_eq!(
        out(&pincer_in(d, &["config", "get", "agents.defaults.model"])).trim(),
        "ollama/qwen2.5:14b",
        "the short form is back"
    );
    assert_eq!(
        pincer_in(d, &["models", "set", "not-a-ref"]).status.code(),
        Some(64)
    );
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("// keep me")
    );
}

#[test]
fn security_audit_grades_findings_and_gates_on_critical_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("config")).unwrap();
    let write = |text: &str| std::fs::write(d.join("config/pincer.json5"), text).unwrap();
    write(
        r#"{ gateway: { bind: "127.0.0.1", auth: { mode: "token", token: "${PINCER_GATEWAY_TOKEN}" } } }"#,
    );
    std::fs::write(
        d.join(".env"),
        "PINCER_GATEWAY_TOKEN=3f9c1e0b7a5d4c2e8f6a1b3d5c7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e\n",
    )
    .unwrap();
    std::fs::set_permissions(d.join(".env"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let clean = pincer_in(d, &["security", "audit"]);
    assert_eq!(
        clean.status.code(),
        Some(0),
        "{}{}",
        out(&clean),
        err(&clean)
    );

    // The seed's placeholder token, .env readable by all, an open DM policy: high.
    std::fs::write(
        d.join(".env"),
        "PINCER_GATEWAY_TOKEN=change-me-run-openssl-rand-hex-32\n",
    )
    .unwrap();
    std::fs::set_permissions(d.join(".env"), std::fs::Permissions::from_mode(0o644)).unwrap();
    write(
        r#"{ gateway: { auth: { mode: "token", token: "${PINCER_GATEWAY_TOKEN}" } }, channels: { telegram: { dmPolicy: "open", allowFrom: ["*"] } } }"#,
    );
    let high = pincer_in(d, &["security", "audit", "--json"]);
    assert_eq!(high.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&high.stdout).unwrap();
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["id"].as_str())
        .collect();
    for id in [
        "gateway.auth.weak",
        "files.env.readable",
        "channels.dm.open",
    ] {
        assert!(ids.contains(&id), "{id} missing: {ids:?}");
    }
    assert!(
        report["findings"][0]["fix"]
            .as_str()
            .is_some_and(|f| !f.is_empty())
    );

    // A shell for the model: critical, exit 2.
    write(r#"{ tools: { exec: { mode: "allowlist", allowlist: ["bash"] } } }"#);
    let critical = pincer_in(d, &["security", "audit"]);
    assert_eq!(critical.status.code(), Some(2));
    assert!(out(&critical).contains("CRITICAL"));
}

/// With the stack down, doctor asks WhatsApp, the signal-cli daemon, the BlueBubbles server and
/// Telegram from this machine: a token Meta takes, a daemon that is not running, a password the
/// Mac refuses, a webhook left at Telegram while the config polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_asks_whatsapp_signal_and_the_bluebubbles_server() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let telegram = pincer_fake_telegram::RunningTelegram::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let set = reqwest::Client::new()
        .post(format!("{}/bot123:abc/setWebhook", telegram.api_root()))
        .json(&serde_json::json!({ "url": "https://old.example/hook" }))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let whatsapp = pincer_fake_whatsapp::RunningWhatsApp::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    whatsapp.add_number(pincer_fake_whatsapp::NumberSpec {
        phone_number_id: "106540352242922".into(),
        display_phone_number: "+1 555-078-3881".into(),
        verified_name: "Pincer".into(),
        access_token: "EAAG-doctor-token".into(),
        app_secret: "s".into(),
        webhook_url: None,
    });
    let mac = pincer_fake_bluebubbles::RunningBlueBubbles::start(
        "127.0.0.1:0".parse().unwrap(),
        "the-real-password",
    )
    .await
    .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let no_daemon = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let config = format!(
        r#"{{ gateway: {{ port: 1, auth: {{ mode: "token", token: "${{PINCER_GATEWAY_TOKEN}}" }} }},
  channels: {{
    whatsapp: {{ phoneNumberId: "106540352242922", accessToken: "${{WHATSAPP_ACCESS_TOKEN}}", appSecret: "s",
                 verifyToken: "v", apiBaseUrl: "{}" }},
    signal: {{ account: "+15550001111", httpUrl: "{no_daemon}" }},
    bluebubbles: {{ serverUrl: "{}", password: "${{BLUEBUBBLES_PASSWORD}}" }},
    telegram: {{ botToken: "123:abc", apiRoot: "{}" }} }} }}"#,
        whatsapp.api_base_url(),
        mac.server_url(),
        telegram.api_root()
    );
    std::fs::write(d.join("pincer.json5"), config).unwrap();
    let env = "PINCER_GATEWAY_TOKEN=0f3a9c21b7d84e6f5a2c1b0e9d8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f\n\
               WHATSAPP_ACCESS_TOKEN=EAAG-doctor-token\nBLUEBUBBLES_PASSWORD=a-wrong-password\n";
    std::fs::write(d.join(".env"), env).unwrap();
    std::fs::set_permissions(d.join(".env"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let report = tokio::task::spawn_blocking(move || {
        pincer_in(
            &d,
            &[
                "doctor",
                "--json",
                "--config",
                "pincer.json5",
                "--env-file",
                ".env",
            ],
        )
    })
    .await
    .unwrap();
    let report: Value =
        serde_json::from_slice(&report.stdout).unwrap_or_else(|e| panic!("{e}: {}", err(&report)));
    let check = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check in {report}"))
            .clone()
    };
    let whatsapp_check = check("whatsapp default");
    assert_eq!(whatsapp_check["state"], "ok", "{whatsapp_check}");
    assert!(
        whatsapp_check["detail"]
            .as_str()
            .unwrap()
            .contains("+1 555-078-3881")
    );
    let signal = check("signal default");
    assert_eq!(signal["state"], "fail", "{signal}");
    assert!(
        signal["fix"]
            .as_str()
            .unwrap()
            .contains("signal-cli -a +15550001111 daemon")
    );
    let webhook = check("telegram default at Telegram");
    assert_eq!(webhook["state"], "warn", "{webhook}");
    assert!(
        webhook["detail"]
            .as_str()
            .unwrap()
            .contains("https://old.example/hook"),
        "{webhook}"
    );
    let swap = check("swap");
    assert_ne!(swap["state"], "fail", "{swap}");
    let firewall = check("firewall");
    assert!(firewall["detail"].as_str().is_some_and(|d| !d.is_empty()));
    let bluebubbles = check("bluebubbles default");
    assert_eq!(bluebubbles["state"], "fail", "{bluebubbles}");
    assert!(
        bluebubbles["detail"]
            .as_str()
            .unwrap()
            .contains("refused the password")
    );
}

#[test]
fn doctor_reports_and_repairs_the_safe_things() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A checkout: compose runs the stack, so compose's internal secrets belong in its .env.
    std::fs::write(d.join("compose.yml"), "services: {}\n").unwrap();
    std::fs::create_dir_all(d.join("config")).unwrap();
    std::fs::write(d.join("config/pincer.json5"), r#"{ gateway: { port: 1, auth: { mode: "token", token: "${PINCER_GATEWAY_TOKEN}" } }, models: { providers: { ollama: { baseUrl: "http://127.0.0.1:9", api: "ollama", models: [{ id: "tiny", contextWindow: 8192 }] } } } }"#).unwrap();
    std::fs::write(
        d.join(".env"),
        "PINCER_GATEWAY_TOKEN=change-me-run-openssl-rand-hex-32\n",
    )
    .unwrap();
    std::fs::set_permissions(d.join(".env"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let report = pincer_in(d, &["doctor", "--json"]);
    assert_eq!(report.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    let state = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["state"].as_str().unwrap().to_owned())
    };
    assert_eq!(state(".env permissions").as_deref(), Some("fail"));
    assert_eq!(state("gateway token").as_deref(), Some("fail"));
    assert_eq!(state("config").as_deref(), Some("ok"));
    assert_eq!(
        state("provider ollama").as_deref(),
        Some("fail"),
        "{report}"
    );
    assert_eq!(state("model tiny").as_deref(), Some("warn"));

    let repaired = pincer_in(d, &["doctor", "--repair"]);
    assert!(
        out(&repaired).contains("repaired: chmod 600"),
        "{}",
        out(&repaired)
    );
    assert_eq!(
        std::fs::metadata(d.join(".env"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let env = std::fs::read_to_string(d.join(".env")).unwrap();
    let value = |name: &str| {
        env.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} missing from {env}"))
            .to_owned()
    };
    let token = value("PINCER_GATEWAY_TOKEN");
    assert_eq!(token.len(), 64);
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
    // The internal secrets compose needs were generated too.
    for name in [
        "PINCER_NATS_PASSWORD_GATEWAY",
        "PINCER_LLM_ROUTER_TOKEN",
        "PINCER_TOOL_HOST_TOKEN",
    ] {
        assert_eq!(value(name).len(), 64, "{name}");
    }
}

#[test]
fn import_openclaw_converts_the_config_and_copies_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let openclaw = d.join(".openclaw");
    std::fs::create_dir_all(openclaw.join("workspace/memory")).unwrap();
    std::fs::write(openclaw.join("workspace/SOUL.md"), "be kind").unwrap();
    std::fs::write(openclaw.join("workspace/memory/2026-11-01.md"), "notes").unwrap();
    std::fs::write(openclaw.join("openclaw.json"), r#"{
      gateway: { mode: "local", port: 18789, bind: "loopback", auth: { mode: "token", token: "${OPENCLAW_GATEWAY_TOKEN}" } },
      agents: { defaults: { model: { primary: "openrouter/anthropic/claude-sonnet-4" } }, list: [{ id: "main", default: true }] },
      models: { providers: { openrouter: { baseUrl: "https://openrouter.ai/api/v1", apiKey: "${OPENROUTER_API_KEY}" } } },
      channels: { telegram: { botToken: "${TELEGRAM_BOT_TOKEN}" }, whatsapp: { enabled: true } },
      cron: { enabled: true, sessionRetention: "24h" },
    }"#).unwrap();
    let imported = pincer_in(d, &["import", "openclaw", "--json"]);
    assert!(imported.status.success(), "{imported:?}");
    let report: Value = serde_json::from_slice(&imported.stdout).unwrap();
    let dropped: Vec<&str> = report["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x["path"].as_str())
        .collect();
    assert!(
        dropped.contains(&"channels.whatsapp") && dropped.contains(&"cron.sessionRetention"),
        "{dropped:?}"
    );
    assert_eq!(report["workspace"]["copied"], 2);
    assert_eq!(
        std::fs::read_to_string(d.join(".pincer/workspace/SOUL.md")).unwrap(),
        "be kind"
    );
    let text = std::fs::read_to_string(d.join("config/pincer.json5")).unwrap();
    assert!(
        text.contains("channels.whatsapp") && text.contains("${TELEGRAM_BOT_TOKEN}"),
        "{text}"
    );
    let again = pincer_in(d, &["import", "openclaw"]);
    assert_eq!(again.status.code(), Some(64), "no silent overwrite");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_servers_are_added_tried_and_removed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = pincer_mcp_test_server::url(listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(pincer_mcp_test_server::serve_http(
        listener,
        Default::default(),
        shutdown.clone(),
    ));
    let (dir, _) = config_dir();
    let d = dir.path().to_owned();
    let run = move |args: Vec<String>| {
        let d = d.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                pincer_in(&d, &args.iter().map(String::as_str).collect::<Vec<_>>())
            })
            .await
            .unwrap()
        }
    };
    let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let added = run(args(&[
        "mcp", "add", "test", "--url", &url, "--allow", "echo",
    ]))
    .await;
    assert!(added.status.success(), "{added:?}");
    let listed = out(&run(args(&["mcp", "list"])).await);
    assert!(
        listed.contains("test") && listed.contains("http") && listed.contains("echo"),
        "{listed}"
    );
    let tools = run(args(&["mcp", "tools", "test", "--json"])).await;
    assert!(tools.status.success(), "{tools:?}");
    let tools: Value = serde_json::from_slice(&tools.stdout).unwrap();
    let echo = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == "echo")
        .unwrap()
        .clone();
    assert_eq!(echo["allowed"], true);
    let add = tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == "add")
        .unwrap()
        .clone();
    assert_eq!(add["allowed"], false, "only echo is allowed for agents");
    let called = run(args(&[
        "mcp",
        "call",
        "test",
        "add",
        "--args",
        r#"{"a": 2, "b": 3}"#,
    ]))
    .await;
    assert!(called.status.success(), "{called:?}");
    assert!(out(&called).contains('5'), "{}", out(&called));
    let bad = run(args(&["mcp", "call", "test", "echo", "--args", "[1]"])).await;
    assert_eq!(bad.status.code(), Some(64));
    assert!(run(args(&["mcp", "remove", "test"])).await.status.success());
    assert!(out(&run(args(&["mcp", "list"])).await).contains("no MCP servers"));
    shutdown.cancel();
    let _ = server.await;
}

/// A gateway that answers every request with 200 (what `gateway start` waits for).
fn ready_gateway() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 1024];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let _ = std::io::Write::write_all(
                &mut stream,
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
            );
        }
    });
    port
}

#[test]
fn gateway_start_stop_restart_and_logs_run_compose_from_any_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A `docker-compose` (v1) that records its arguments; `docker compose version` fails here,
    // every other docker call (image inspect) succeeds.
    let bin = d.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = d.join("calls");
    for (name, body) in [
        (
            "docker-compose",
            format!("#!/bin/sh\necho \"$@\" >> {}\n", record.display()),
        ),
        (
            "docker",
            "#!/bin/sh\n[ \"$1\" = compose ] && exit 1\nexit 0\n".to_owned(),
        ),
    ] {
        std::fs::write(bin.join(name), body).unwrap();
        std::fs::set_permissions(bin.join(name), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // What onboarding records: the checkout, and the settings beside the config.
    let checkout = d.join("checkout");
    std::fs::create_dir_all(&checkout).unwrap();
    std::fs::write(checkout.join("compose.yml"), "services: {}\n").unwrap();
    let home = d.join(".pincer");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::write(home.join("pincer.json5"), "{}\n").unwrap();
    let env_file = home.join(".env");
    std::fs::write(
        &env_file,
        format!(
            "PINCER_DEPLOY=compose\nPINCER_COMPOSE_DIR={}\nPINCER_GATEWAY_PORT={}\n",
            checkout.display(),
            ready_gateway()
        ),
    )
    .unwrap();
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pincer"))
            .args(args)
            .current_dir(&elsewhere)
            .env("HOME", d)
            .env("PATH", &path)
            .env_remove("PINCER_CONFIG")
            .env_remove("PINCER_GATEWAY_PORT")
            .output()
            .unwrap()
    };
    for args in [
        &["gateway", "start"][..],
        &["gateway", "stop"],
        &["gateway", "restart", "agent-runner"],
        &["gateway", "logs", "gateway", "--tail", "20", "-f"],
    ] {
        let output = run(args);
        assert!(output.status.success(), "{args:?}: {output:?}");
    }
    assert!(out(&run(&["gateway", "start"])).contains("ready in"));
    let calls = std::fs::read_to_string(&record).unwrap();
    let project = format!(
        "--project-directory {} -f {}/compose.yml --env-file {}",
        checkout.display(),
        checkout.display(),
        env_file.display()
    );
    assert_eq!(
        calls,
        format!(
            "{project} up -d\n{project} stop\n{project} restart agent-runner\n{project} logs --tail 20 --follow gateway\n{project} up -d\n"
        )
    );
    // What compose needs and does not make: the tool host's env file and the internal secrets.
    assert!(checkout.join("config/tool-host.env").is_file());
    let env = std::fs::read_to_string(&env_file).unwrap();
    assert!(env.contains("PINCER_NATS_PASSWORD_GATEWAY="), "{env}");

    // Without a record or a checkout here, the error says what to do.
    std::fs::remove_dir_all(&home).unwrap();
    let nothing = run(&["gateway", "start"]);
    assert_eq!(nothing.status.code(), Some(78), "{nothing:?}");
    assert!(
        err(&nothing).contains("pincer onboard"),
        "{}",
        err(&nothing)
    );
}

#[test]
fn completions_and_help_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let bash = pincer_in(dir.path(), &["completions", "bash"]);
    assert!(bash.status.success());
    assert!(out(&bash).contains("complete -F") && out(&bash).contains("onboard"));
    for command in [
        "onboard",
        "config",
        "models",
        "gateway",
        "pairing",
        "sessions",
        "usage",
        "doctor",
        "security",
        "import",
        "mcp",
        "dashboard",
        "dev",
        "configure",
    ] {
        let help = pincer_in(dir.path(), &[command, "--help"]);
        assert!(help.status.success(), "{command}");
        assert!(out(&help).contains("Usage: pincer"), "{command}");
        assert!(out(&help).contains("Example"), "{command} has no example");
    }
}

fn onboard_flags(d: &Path, ollama: &str) -> Output {
    pincer_in(
        d,
        &[
            "onboard",
            "--non-interactive",
            "--config",
            "pincer.json5",
            "--env-file",
            ".env",
            "--workspace",
            "ws",
            "--deploy",
            "native",
            "--ollama-url",
            ollama,
            "--primary",
            "ollama/fake-model",
            "--fallback",
            "ollama/other",
            "--telegram-token",
            "123:abc",
            "--dm-policy",
            "allowlist",
            "--allow-from",
            "42",
        ],
    )
}

/// A fake Ollama listing `fake-model` and `other`.
async fn fake_ollama() -> pincer_fake_provider::RunningFake {
    pincer_fake_provider::FakeProvider::start(
        pincer_fake_provider::Knobs {
            listed_models: vec!["other".into()],
            ..Default::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboard_from_flags_writes_config_env_and_workspace_and_edits_on_rerun() {
    let fake = fake_ollama().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let url = fake.base_url();
    let first = tokio::task::spawn_blocking({
        let d = d.clone();
        let url = url.clone();
        move || onboard_flags(&d, &url)
    })
    .await
    .unwrap();
    assert!(first.status.success(), "{first:?}");
    let env = std::fs::read_to_string(d.join(".env")).unwrap();
    assert_eq!(
        std::fs::metadata(d.join(".env"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("PINCER_GATEWAY_TOKEN="))
        .unwrap()
        .to_owned();
    assert_eq!(token.len(), 64);
    assert!(
        env.contains("TELEGRAM_BOT_TOKEN=123:abc")
            && env.contains(&format!("OLLAMA_BASE_URL={url}"))
            && env.contains("PINCER_DEPLOY=native")
    );
    assert!(env.contains("OLLAMA_MODELS=fake-model other"), "{env}");
    let config = std::fs::read_to_string(d.join("pincer.json5")).unwrap();
    assert!(
        !config.contains("123:abc") && config.contains("${TELEGRAM_BOT_TOKEN}"),
        "secrets stay in .env: {config}"
    );
    // Pretty, commented JSON5: a person can edit it.
    assert!(config.starts_with("// Pincer's configuration"), "{config}");
    assert!(
        config
            .contains("model: { primary: \"ollama/fake-model\", fallbacks: [\"ollama/other\"] },"),
        "{config}"
    );
    for line in config.lines() {
        assert!(line.len() <= 100, "{line:?}");
    }
    assert!(d.join("ws/AGENTS.md").is_file() && d.join("ws/memory").is_dir());

    // `config set` keeps it readable: a long value opens up, one member per line.
    let set = pincer_in(
        &d,
        &[
            "config",
            "set",
            "--file",
            "pincer.json5",
            "models.providers.openrouter",
            r#"{ apiKey: "${OPENROUTER_API_KEY}", baseUrl: "https://openrouter.ai/api/v1", models: [{ id: "openai/gpt-4o-mini" }] }"#,
        ],
    );
    assert!(set.status.success(), "{set:?}");
    let edited = std::fs::read_to_string(d.join("pincer.json5")).unwrap();
    assert!(
        edited.contains("      openrouter: {\n        apiKey: \"${OPENROUTER_API_KEY}\",\n"),
        "{edited}"
    );
    assert!(edited.contains("// The agent:"), "comments stay: {edited}");

    // Re-running edits: a comment added by hand and the token survive.
    std::fs::write(d.join("pincer.json5"), format!("// mine\n{config}")).unwrap();
    let second = tokio::task::spawn_blocking({
        let d = d.clone();
        let url = url.clone();
        move || onboard_flags(&d, &url)
    })
    .await
    .unwrap();
    assert!(second.status.success(), "{second:?}");
    assert!(
        std::fs::read_to_string(d.join("pincer.json5"))
            .unwrap()
            .starts_with("// mine")
    );
    assert!(
        std::fs::read_to_string(d.join(".env"))
            .unwrap()
            .contains(&token),
        "the gateway token is kept"
    );
    let validate = pincer_in(&d, &["config", "validate", "pincer.json5"]);
    assert!(validate.status.success(), "{validate:?}");
    assert!(
        out(&validate).contains(".env"),
        "it says which .env it read: {}",
        out(&validate)
    );

    // Without a primary model and nothing listed to default to, nothing is written.
    let empty = tempfile::tempdir().unwrap();
    let refused = pincer_in(
        empty.path(),
        &["onboard", "--non-interactive", "--deploy", "native"],
    );
    assert_eq!(refused.status.code(), Some(64), "{refused:?}");
    assert!(
        err(&refused).contains("no primary model"),
        "{}",
        err(&refused)
    );
    assert!(!empty.path().join(".pincer/pincer.json5").exists());
    assert!(!empty.path().join(".pincer/.env").exists());
}

fn onboard_on_a_terminal(home: &Path, args: &[&str]) -> pincer_test_support::Terminal {
    pincer_test_support::Terminal::spawn(
        Command::new(env!("CARGO_BIN_EXE_pincer"))
            .arg("onboard")
            .args(args)
            .current_dir(home)
            .env("HOME", home)
            .env("NO_COLOR", "1")
            .env_remove("PINCER_GATEWAY_TOKEN")
            .env_remove("PINCER_CONFIG"),
    )
}

/// Drives `pincer onboard` through a pseudo-terminal: prompts are answered as a person would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboard_interactively_through_a_terminal() {
    let fake = fake_ollama().await;
    let url = fake.base_url();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let (status, transcript) = tokio::task::spawn_blocking(move || {
        let mut terminal = onboard_on_a_terminal(
            &d,
            &[
                "--config",
                "pincer.json5",
                "--env-file",
                ".env",
                "--workspace",
                "ws",
            ],
        );
        terminal.answer("Run with", "2");
        terminal.answer("Ollama URL", &url);
        terminal.answer("OpenRouter API key", "");
        terminal.answer("Anthropic API key", "");
        terminal.answer("OpenAI-compatible API", "none");
        terminal.expect("1) ollama/fake-model");
        terminal.expect("2) ollama/other");
        terminal.answer(
            "Primary model (number, provider/model, or a word to search) [1]",
            "2",
        );
        terminal.answer("Try ollama/other now", "y");
        terminal.expect("ollama/other answered");
        terminal.answer("Fallback models", "1");
        terminal.answer("Telegram bot token", "bot-token-without-id");
        terminal.expect("that is not a bot token");
        terminal.answer("Telegram bot token", "777:secret-token");
        terminal.answer("Who may message the bot", "friends");
        terminal.expect("is not one of pairing, allowlist, open, disabled");
        terminal.answer("Who may message the bot", "pairing");
        terminal.answer("Discord bot token", "not-a-discord-token");
        terminal.expect("that is not a Discord bot token");
        terminal.answer(
            "Discord bot token",
            "MTExMjM0NTY3ODkw.GhIjKl.discord-secret_part",
        );
        terminal.answer("Slack bot token", "xoxb-1111-2222-slacksecret");
        terminal.answer("Slack app-level token", "xapp-1-A111-222-appsecret");
        terminal.answer("WhatsApp Cloud API phone number id", "+1 555 0100");
        terminal.expect("the phone number id is digits");
        terminal.answer("WhatsApp Cloud API phone number id", "106540352242922");
        terminal.answer("WhatsApp access token", "EAAG-whatsapp-secret-token");
        terminal.answer("Meta app secret", "meta-app-secret-0123456789");
        terminal.answer("Signal number", "+15550001111");
        terminal.answer("signal-cli daemon HTTP address", "");
        terminal.answer("BlueBubbles server URL", "http://mac.local:1234");
        terminal.answer("BlueBubbles server password", "bb-secret-password");
        terminal.answer("Start the stack now?", "n");
        terminal.finish(std::time::Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert!(status.success(), "{transcript}");
    assert!(
        !transcript.contains("777:secret-token"),
        "secrets are not echoed:\n{transcript}"
    );
    let d = dir.path();
    let config = std::fs::read_to_string(d.join("pincer.json5")).unwrap();
    assert!(
        config.contains(r#"model: { primary: "ollama/other", fallbacks: ["ollama/fake-model"] }"#),
        "the listed models were offered and picked by number: {config}"
    );
    assert!(config.contains(r#"dmPolicy: "pairing""#), "{config}");
    let env = std::fs::read_to_string(d.join(".env")).unwrap();
    assert!(env.contains("TELEGRAM_BOT_TOKEN=777:secret-token"));
    assert!(env.contains("DISCORD_BOT_TOKEN=MTExMjM0NTY3ODkw.GhIjKl.discord-secret_part"));
    assert!(env.contains("SLACK_BOT_TOKEN=xoxb-1111-2222-slacksecret"));
    assert!(env.contains("SLACK_APP_TOKEN=xapp-1-A111-222-appsecret"));
    assert!(env.contains("WHATSAPP_ACCESS_TOKEN=EAAG-whatsapp-secret-token"));
    assert!(env.contains("WHATSAPP_APP_SECRET=meta-app-secret-0123456789"));
    assert!(
        env.contains("WHATSAPP_VERIFY_TOKEN="),
        "a verify token is generated"
    );
    assert!(env.contains("BLUEBUBBLES_PASSWORD=bb-secret-password"));
    assert!(
        config.contains(r#"phoneNumberId: "106540352242922""#),
        "{config}"
    );
    assert!(config.contains(r#"account: "+15550001111""#), "{config}");
    assert!(
        config.contains(r#"serverUrl: "http://mac.local:1234""#),
        "{config}"
    );
    assert!(
        !transcript.contains("whatsapp-secret") && !transcript.contains("bb-secret"),
        "secrets are not echoed"
    );
    assert!(
        config.contains(r#"token: "${DISCORD_BOT_TOKEN}""#),
        "{config}"
    );
    assert!(
        config.contains(r#"appToken: "${SLACK_APP_TOKEN}""#),
        "{config}"
    );
    assert!(
        !transcript.contains("discord-secret_part") && !transcript.contains("slacksecret"),
        "secrets are not echoed"
    );
}

/// Ctrl-D gets a second chance; a second Ctrl-D quits, and nothing is written (a config that
/// exists stays as it was).
#[test]
fn onboarding_quit_with_ctrl_d_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut terminal = onboard_on_a_terminal(d, &["--deploy", "native"]);
    terminal.expect("Ollama URL");
    terminal.send(b"\x04");
    terminal.expect("Ctrl-D again quits without writing anything");
    terminal.answer("Ollama URL", "none");
    terminal.expect("OpenRouter API key");
    terminal.send(b"\x04");
    terminal.expect("OpenRouter API key");
    terminal.send(b"\x04");
    let (status, transcript) = terminal.finish(std::time::Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{transcript}");
    assert!(
        transcript.contains("onboarding cancelled: nothing was written"),
        "{transcript}"
    );
    assert!(!d.join(".pincer").exists(), "nothing half-written");

    // Editing: Ctrl-C while a secret is typed quits too, and the files stay as they were.
    std::fs::create_dir_all(d.join(".pincer")).unwrap();
    std::fs::write(d.join(".pincer/pincer.json5"), "// mine\n{}\n").unwrap();
    let mut terminal = onboard_on_a_terminal(d, &["--deploy", "native", "--ollama-url", "none"]);
    terminal.expect("OpenRouter API key");
    terminal.send(b"sk-or-v1-half\x03");
    let (status, transcript) = terminal.finish(std::time::Duration::from_secs(30));
    assert_eq!(status.code(), Some(130), "{transcript}");
    assert_eq!(
        std::fs::read_to_string(d.join(".pincer/pincer.json5")).unwrap(),
        "// mine\n{}\n"
    );
    assert!(!d.join(".pincer/.env").exists());
}

/// `pincer models pull` asks the provider's Ollama host for the model and follows its stream to
/// `success`; the model is then listed; a model Ollama does not have fails with Ollama's words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_pull_downloads_on_the_providers_ollama_host() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ollama = fake_ollama().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    std::fs::write(
        d.join("pincer.json5"),
        format!(
            r#"{{ models: {{ providers: {{ local: {{ baseUrl: "{}", api: "ollama" }} }} }} }}"#,
            ollama.base_url()
        ),
    )
    .unwrap();
    let (pulled, missing, hosted) = tokio::task::spawn_blocking(move || {
        let args = |model: &str| {
            vec![
                "models".to_owned(),
                "pull".to_owned(),
                model.to_owned(),
                "--config".to_owned(),
                "pincer.json5".to_owned(),
            ]
        };
        let run = |args: Vec<String>| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            pincer_in(&d, &args)
        };
        (
            run(args("local/qwen3:8b")),
            run(args("local/does-not-exist:1b")),
            run(args("openai/gpt-x")),
        )
    })
    .await
    .unwrap();
    assert!(pulled.status.success(), "{pulled:?}");
    assert!(
        out(&pulled).contains("pulled local/qwen3:8b"),
        "{}",
        out(&pulled)
    );
    assert!(
        err(&pulled).contains("100%"),
        "a line per quarter when not on a terminal: {}",
        err(&pulled)
    );
    let tags: Value = reqwest::get(format!("{}/api/tags", ollama.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        tags["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "qwen3:8b"),
        "{tags}"
    );
    assert_eq!(missing.status.code(), Some(69), "{missing:?}");
    assert!(
        err(&missing).contains("file does not exist"),
        "{}",
        err(&missing)
    );
    assert_eq!(hosted.status.code(), Some(64), "{hosted:?}");
}
