//! The `pincer` binary: `config validate` exit codes and messages, `pincer dev` running the whole
//! stack as processes and stopping every one of them on SIGTERM (and when it is killed outright), and a new user's first ten
//! minutes (onboard, doctor, gateway start, an answer) with the stack as processes.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pincer_fake_provider::{FakeProvider, Knobs};
use pincer_test_support::{NatsServer, Terminal, wait_http_ok};

fn pincer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pincer"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn config_validate_accepts_a_good_file_and_names_the_key_of_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.json5",
        r#"{ gateway: { port: 18789, bind: "127.0.0.1" } }"#,
    );
    let output = pincer()
        .args(["config", "validate"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("config ok"));

    let typo = write(dir.path(), "typo.json5", r#"{ gateway: { prot: 18789 } }"#);
    let output = pincer()
        .args(["config", "validate"])
        .arg(&typo)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("gateway.prot") && stderr.contains("port"),
        "{stderr}"
    );

    let missing_var = write(
        dir.path(),
        "var.json5",
        r#"{ models: { providers: { openrouter: { apiKey: "${PINCER_TEST_SURELY_UNSET_VAR}" } } } }"#,
    );
    let output = pincer()
        .args(["config", "validate"])
        .arg(&missing_var)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("models.providers.openrouter.apiKey")
            && stderr.contains("PINCER_TEST_SURELY_UNSET_VAR"),
        "{stderr}"
    );
}

/// `pincer dev` with the stack of the executables beside `pincer`, ready.
struct RunningDev {
    dev: std::process::Child,
    /// The gateway's URL.
    base: String,
    bin_dir: PathBuf,
    fake: pincer_fake_provider::RunningFake,
    _dir: tempfile::TempDir,
}

async fn start_dev() -> RunningDev {
    start_dev_with(Knobs {
        tokens: 2,
        ..Knobs::default()
    })
    .await
}

async fn start_dev_with(knobs: Knobs) -> RunningDev {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Where the one executable of every service is: `pincer dev` starts it for each service.
    let bin_dir = pincer_test_support::workspace_binary("pincer-services")
        .parent()
        .unwrap()
        .to_path_buf();
    let fake = FakeProvider::start(knobs, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = pincer_test_support::free_port();
    let config = write(
        dir.path(),
        "pincer.json5",
        &format!(
            r#"{{ gateway: {{ port: {port}, auth: {{ token: "dev-test-token" }} }},
                 models: {{ providers: {{ ollama: {{ baseUrl: "{}", api: "ollama" }} }} }},
                 agents: {{ defaults: {{ model: "ollama/fake-model" }} }} }}"#,
            fake.base_url()
        ),
    );
    let dev = Command::new(bin_dir.join("pincer"))
        .args(["dev", "--config"])
        .arg(&config)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("NATS_SERVER_BIN", NatsServer::binary())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{base}/readyz"), Duration::from_secs(30)).await;
    RunningDev {
        dev,
        base,
        bin_dir,
        fake,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_runs_the_stack_and_stops_every_process_on_sigterm() {
    let RunningDev {
        mut dev,
        base,
        bin_dir,
        fake: _fake,
        _dir,
    } = start_dev().await;
    let pid = dev.id();
    let children = descendants(pid);
    assert_eq!(
        children.len(),
        6,
        "nats-server and five services: {children:?}"
    );
    // Each service is a process of `pincer-services`, named after its service.
    let mut services: Vec<String> = children
        .iter()
        .filter(|child| {
            std::fs::read_link(format!("/proc/{child}/exe"))
                .is_ok_and(|exe| exe.ends_with("pincer-services"))
        })
        .filter_map(|child| std::fs::read_to_string(format!("/proc/{child}/comm")).ok())
        .map(|comm| comm.trim().to_owned())
        .collect();
    services.sort();
    assert_eq!(
        services,
        [
            "pincer-agent-ru",
            "pincer-channel-",
            "pincer-gateway",
            "pincer-llm-rout",
            "pincer-tool-hos"
        ],
        "children: {children:?}"
    );

    // Their command lines name them too, as if each had been started under its name.
    let mut command_lines: Vec<String> = children
        .iter()
        .filter_map(|child| std::fs::read(format!("/proc/{child}/cmdline")).ok())
        .map(|cmdline| String::from_utf8_lossy(&cmdline).into_owned())
        .filter(|cmdline| cmdline.starts_with("pincer-"))
        .collect();
    command_lines.sort();
    assert_eq!(
        command_lines,
        [
            "pincer-agent-runner\0",
            "pincer-channel-bridge\0",
            "pincer-gateway\0",
            "pincer-llm-router\0",
            "pincer-tool-host\0"
        ]
    );

    // Forked from one loaded process, the five share one copy of what the loader wrote: each
    // counts for a fifth of it.
    let exe = std::fs::canonicalize(bin_dir.join("pincer-services")).unwrap();
    let mut sharing = 0;
    for child in &children {
        let (rss, pss) = pincer_test_support::loader_written_kib(*child, &exe);
        if rss > 0 {
            sharing += 1;
            assert!(
                pss * 5 <= rss + 20,
                "process {child}: Rss {rss} KiB, Pss {pss} KiB of loader-written pages"
            );
        }
    }
    assert_eq!(sharing, 5, "services with loader-written pages of {exe:?}");

    let answer = pincer_test_support::ask_gateway(&base, "dev-test-token", "hi").await;
    assert_eq!(answer["choices"][0]["message"]["content"], "alpha bravo");

    let status = pincer_test_support::terminate(&mut dev, Duration::from_secs(30)).await;
    assert!(status.success(), "pincer dev exit status {status:?}");
    for child in children {
        assert!(
            !Path::new(&format!("/proc/{child}")).exists() || pincer_test_support::is_zombie(child),
            "process {child} outlived pincer dev"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_killed_outright_in_the_middle_of_a_turn_leaves_no_process_behind() {
    // Kept whole: its temporary directory and fake model live until the end. The model takes
    // longer than the test, so a turn is running when the supervisor dies: the runner's drain
    // then waits on a NATS that is gone too.
    let mut running = start_dev_with(Knobs {
        delay_ms: 120_000,
        ..Knobs::default()
    })
    .await;
    let children = descendants(running.dev.id());
    assert_eq!(children.len(), 6, "{children:?}");
    let turn = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", running.base))
        .bearer_auth("dev-test-token")
        .json(&serde_json::json!({"model": "pincer/default", "messages": [{"role": "user", "content": "hi"}]}))
        .send();
    let turn = tokio::spawn(turn);
    pincer_test_support::eventually("the model to be asked", Duration::from_secs(30), || {
        let asked = !running.fake.requests().is_empty();
        async move { asked.then_some(()) }
    })
    .await;
    running.dev.kill().unwrap();
    running.dev.wait().unwrap();
    // Each child is told (SIGTERM) when its parent dies, and stops as on any SIGTERM. Those still
    // running are named (pid, command, state) if the wait runs out.
    pincer_test_support::eventually_seen(
        "every child of the killed pincer dev to exit",
        // A drain never takes longer than pincer_lifecycle::shutdown::DRAIN_LIMIT (30 s).
        Duration::from_secs(45),
        || {
            let running: Vec<String> = children
                .iter()
                .copied()
                .filter(|child| {
                    Path::new(&format!("/proc/{child}")).exists()
                        && !pincer_test_support::is_zombie(*child)
                })
                .map(described)
                .collect();
            async move {
                if running.is_empty() {
                    Ok(())
                } else {
                    Err(running.join(", "))
                }
            }
        },
    )
    .await;
    turn.abort();
}

/// `pid`, its command name and its state, as /proc shows them.
fn described(pid: u32) -> String {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let state = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("State:").map(|s| s.trim().to_owned()))
        })
        .unwrap_or_default();
    format!("{pid} {} ({state})", comm.trim())
}

fn descendants(root: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|pid| pincer_test_support::parent_pid(*pid) == Some(root))
        .collect()
}

#[tokio::test]
async fn models_list_and_status_show_what_the_router_knows() {
    let fake = FakeProvider::start(
        Knobs {
            context_window: 8192,
            model: "llama3.2:3b".into(),
            ..Knobs::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let router_url = format!("http://{}", listener.local_addr().unwrap());
    let models: pincer_config::Models = serde_json::from_value(serde_json::json!({
        "providers": {"ollama": {"baseUrl": fake.base_url(), "apiKey": "ollama-local",
            "models": [{"id": "qwen2.5-coder:7b", "contextWindow": 131072, "cost": {"input": 0, "output": 0}}]},
            // A self-hosted OpenAI-compatible server without a catalogue, named as onboarding
            // names it: its /models says.
            "openai": {"baseUrl": format!("{}/v1", fake.base_url()), "api": "openai-completions"}}
    }))
    .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let router = tokio::spawn(pincer_llm_router::run(
        pincer_llm_router::Config {
            models,
            default_call_timeout: Duration::from_secs(10),
            ollama_base_url: None,
            nats_url: None,
            nats_credentials: None,
            token: None,
            namespace: pincer_bus::Namespace::default(),
            retry: pincer_llm_router::RetryPolicy::default(),
        },
        listener,
        shutdown.clone(),
    ));
    let run = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || pincer().args(args).output().unwrap())
    };
    let list = run(vec![
        "models".into(),
        "list".into(),
        "--json".into(),
        "--router".into(),
        router_url.clone(),
    ])
    .await
    .unwrap();
    assert!(list.status.success(), "{list:?}");
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "ollama/qwen2.5-coder:7b",
            "ollama/llama3.2:3b",
            "openai/llama3.2:3b"
        ]
    );
    assert_eq!(
        list[0]["contextWindow"], 8192,
        "capped at the native window"
    );
    assert_eq!(list[0]["belowMinimumContext"], true);
    assert_eq!(list[1]["source"], "discovered");

    let status = run(vec![
        "models".into(),
        "status".into(),
        "--router".into(),
        router_url.clone(),
    ])
    .await
    .unwrap();
    assert!(status.status.success(), "{status:?}");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("Providers") && text.contains("ollama"),
        "{text}"
    );
    assert!(
        text.contains("8192-token context window"),
        "the effective window is warned about: {text}"
    );
    assert!(!text.contains("ollama-local"), "keys are never printed");

    shutdown.cancel();
    router.await.unwrap().unwrap();
    let down = run(vec![
        "models".into(),
        "status".into(),
        "--router".into(),
        router_url,
    ])
    .await
    .unwrap();
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot reach the llm-router"));
}

#[test]
fn dashboard_prints_the_signed_in_url_from_config_env_or_dotenv() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "pincer.json5",
        r#"{ gateway: { port: 19999, auth: { mode: "token", token: "from-config" } } }"#,
    );
    let dashboard = |config: &Path, envs: &[(&str, &str)], args: &[&str]| {
        let mut command = pincer();
        command
            .arg("dashboard")
            .arg("--config")
            .arg(config)
            .args(args)
            .current_dir(dir.path())
            .env_remove("PINCER_GATEWAY_TOKEN")
            .env_remove("PINCER_GATEWAY_URL")
            .env_remove("PINCER_GATEWAY_PORT");
        for (key, value) in envs {
            command.env(key, value);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    assert_eq!(
        dashboard(&config, &[], &[]),
        "http://127.0.0.1:19999/#token=from-config"
    );
    assert_eq!(
        dashboard(&config, &[], &["--no-token"]),
        "http://127.0.0.1:19999/"
    );
    assert_eq!(
        dashboard(
            &config,
            &[
                ("PINCER_GATEWAY_TOKEN", "from-env"),
                ("PINCER_GATEWAY_URL", "https://box.tail.ts.net/")
            ],
            &[]
        ),
        "https://box.tail.ts.net/#token=from-env"
    );
    // The token the gateway takes: a literal one in the config beats a .env's.
    write(
        dir.path(),
        ".env",
        "OTHER=1\nPINCER_GATEWAY_TOKEN=from-dotenv\n",
    );
    assert_eq!(
        dashboard(&config, &[], &[]),
        "http://127.0.0.1:19999/#token=from-config"
    );
    // A config that names ${PINCER_GATEWAY_TOKEN} takes it from its own .env (and its port),
    // before the working directory's.
    let own = dir.path().join("own");
    std::fs::create_dir_all(&own).unwrap();
    let referring = write(
        &own,
        "pincer.json5",
        r#"{ gateway: { auth: { mode: "token", token: "${PINCER_GATEWAY_TOKEN}" } } }"#,
    );
    write(
        &own,
        ".env",
        "PINCER_GATEWAY_TOKEN=from-own-env\nPINCER_GATEWAY_PORT=19998\n",
    );
    assert_eq!(
        dashboard(&referring, &[], &[]),
        "http://127.0.0.1:19998/#token=from-own-env"
    );
    std::fs::remove_file(own.join(".env")).unwrap();
    assert_eq!(
        dashboard(&referring, &[], &[]),
        "http://127.0.0.1:18789/#token=from-dotenv",
        "then ./.env"
    );
}

/// `pincer` from the directory of the service binaries (what `gateway start` runs natively), with
/// `home` as HOME, run from `cwd`.
fn pincer_for(home: &Path, cwd: &Path) -> Command {
    let bin_dir = pincer_test_support::workspace_binary("pincer-gateway")
        .parent()
        .unwrap()
        .to_path_buf();
    let mut command = Command::new(bin_dir.join("pincer"));
    command
        .current_dir(cwd)
        .env("HOME", home)
        .env("NATS_SERVER_BIN", NatsServer::binary())
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .env_remove("PINCER_CONFIG")
        .env_remove("PINCER_GATEWAY_TOKEN")
        .env_remove("PINCER_GATEWAY_URL")
        .env_remove("PINCER_GATEWAY_PORT")
        .env_remove("PINCER_LLM_ROUTER_URL");
    command
}

/// Runs `pincer gateway stop` when dropped, so a failing test leaves no stack behind.
struct StopsTheStack(PathBuf);

impl Drop for StopsTheStack {
    fn drop(&mut self) {
        let _ = pincer_for(&self.0, &self.0)
            .args(["gateway", "stop"])
            .output();
    }
}

fn doctor_json(home: &Path, cwd: &Path) -> serde_json::Value {
    let output = pincer_for(home, cwd)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"))
}

fn check<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

/// `pincer configure telegram` on a terminal edits the Telegram section of an onboarded config and
/// leaves the rest (the models, the comments) as it was; an unknown section is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configure_edits_one_section_on_a_terminal() {
    let ollama = FakeProvider::start(Knobs::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let (h, url) = (home.path().to_owned(), ollama.base_url());
    let (status, transcript) = tokio::task::spawn_blocking(move || {
        let onboarded = pincer_for(&h, &h)
            .args(["onboard", "--non-interactive", "--deploy", "native"])
            .args(["--ollama-url", &url, "--primary", "ollama/fake-model"])
            .output()
            .unwrap();
        assert!(onboarded.status.success(), "{onboarded:?}");
        let mut configure = pincer_for(&h, &h);
        configure.arg("configure");
        let mut terminal = Terminal::spawn(&mut configure);
        terminal.expect("8) imessage");
        terminal.answer("Section to configure", "gateway");
        terminal.expect("not a section");
        terminal.answer("Section to configure", "3");
        terminal.answer("Telegram bot token", "123:abc");
        terminal.answer("Who may message the bot", "open");
        terminal.finish(Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert!(status.success(), "{transcript}");
    let config = std::fs::read_to_string(home.path().join(".pincer/pincer.json5")).unwrap();
    let parsed: serde_json::Value = json5::from_str(&config).unwrap();
    assert_eq!(parsed["channels"]["telegram"]["dmPolicy"], "open");
    assert_eq!(
        parsed["channels"]["telegram"]["botToken"],
        "${TELEGRAM_BOT_TOKEN}"
    );
    assert_eq!(
        parsed["agents"]["defaults"]["model"], "ollama/fake-model",
        "the models section stayed: {config}"
    );
    assert!(config.contains("//"), "comments stay");
    let env = std::fs::read_to_string(home.path().join(".pincer/.env")).unwrap();
    assert!(env.contains("TELEGRAM_BOT_TOKEN=123:abc"), "{env}");

    let unknown = pincer_for(home.path(), home.path())
        .args(["configure", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(64), "{unknown:?}");
}

/// The first ten minutes of a new user, natively: `pincer onboard` on a terminal from an empty
/// home (Ollama through the fake provider, an OpenRouter key against a fake OpenRouter, a wrong
/// answer at every step), `doctor` without a FAIL, `gateway start` from another directory, one
/// answer through the gateway, `models list` through it, `doctor` asking the providers through
/// the router, `gateway stop`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_ten_minutes_natively() {
    const KEY: &str = "sk-or-v1-0123456789abcdef0123456789abcdef";
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ollama = FakeProvider::start(
        Knobs {
            model: "llama3.2:3b".into(),
            listed_models: vec!["qwen2.5:7b".into()],
            tokens: 3,
            ..Knobs::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let openrouter = FakeProvider::start(
        Knobs {
            model: "openrouter/auto".into(),
            listed_models: vec!["openai/gpt-4o-mini".into()],
            api_key: Some(KEY.into()),
            ..Knobs::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let home = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let port = pincer_test_support::free_port();
    let (h, ollama_url) = (home.path().to_owned(), ollama.base_url());
    let openrouter_url = format!("{}/v1", openrouter.base_url());
    let (status, transcript) = tokio::task::spawn_blocking(move || {
        let mut onboard = pincer_for(&h, &h);
        onboard.args(["onboard", "--openrouter-url", &openrouter_url]);
        onboard.args(["--gateway-port", &port.to_string()]);
        let mut terminal = Terminal::spawn(&mut onboard);
        terminal.answer("Run with", "2");
        terminal.answer("Ollama URL", "http://127.0.0.1:9");
        terminal.expect("not reachable");
        terminal.answer("Ollama URL: another one", &ollama_url);
        terminal.expect("lists 2 model(s)");
        terminal.answer("OpenRouter API key", "not-a-key");
        terminal.expect("does not look like a key for OpenRouter");
        terminal.answer("OpenRouter API key", "sk-or-v1-well-formed-but-wrong");
        terminal.expect("OpenRouter refuses this key");
        terminal.answer("OpenRouter API key", KEY);
        terminal.expect("OpenRouter accepts the key");
        terminal.answer("Anthropic API key", "");
        terminal.answer("OpenAI-compatible API", "none");
        terminal.expect("3) openrouter/auto");
        terminal.answer("Primary model", "ollama/mistral");
        terminal.expect("ollama does not list \"mistral\"");
        terminal.answer("Primary model", "");
        terminal.answer("Try ollama/llama3.2:3b now", "");
        terminal.expect("ollama/llama3.2:3b answered");
        terminal.answer("Fallback models", "3");
        terminal.expect("Telegram bot token");
        terminal.send(b"\x04");
        terminal.expect("Ctrl-D again quits");
        terminal.answer("Telegram bot token", "");
        terminal.answer("Discord bot token", "");
        terminal.answer("Slack bot token", "");
        terminal.answer("WhatsApp Cloud API phone number id", "");
        terminal.answer("Signal number", "");
        terminal.answer("BlueBubbles server URL", "");
        terminal.answer("Start the stack now?", "n");
        terminal.finish(Duration::from_secs(30))
    })
    .await
    .unwrap();
    assert!(status.success(), "{transcript}");
    assert!(
        !transcript.contains(KEY),
        "keys are not echoed:\n{transcript}"
    );
    assert!(transcript.contains("next: pincer doctor, then pincer gateway start"));
    let (home, cwd) = (home.path(), elsewhere.path());
    let config = std::fs::read_to_string(home.join(".pincer/pincer.json5")).unwrap();
    assert!(
        config.contains(r#"primary: "ollama/llama3.2:3b", fallbacks: ["openrouter/auto"]"#),
        "{config}"
    );

    // doctor, from another directory, reads what onboarding wrote, and finds nothing broken.
    let report = doctor_json(home, cwd);
    assert_eq!(report["failed"], 0, "{report:#}");
    assert!(
        report["read"].to_string().contains("~/.pincer/.env"),
        "{report}"
    );
    assert_eq!(
        check(&report, "provider ollama")["state"],
        "ok",
        "{report:#}"
    );
    assert_eq!(
        check(&report, "provider openrouter")["state"],
        "ok",
        "{report:#}"
    );

    let _stop = StopsTheStack(home.to_owned());
    let started = tokio::task::spawn_blocking({
        let (home, cwd) = (home.to_owned(), cwd.to_owned());
        move || {
            pincer_for(&home, &cwd)
                .args(["gateway", "start"])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(started.status.success(), "{started:?}");
    assert!(
        String::from_utf8_lossy(&started.stdout).contains("ready in"),
        "{started:?}"
    );

    let env = std::fs::read_to_string(home.join(".pincer/.env")).unwrap();
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("PINCER_GATEWAY_TOKEN="))
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let answer = pincer_test_support::ask_gateway(&base, token, "hi").await;
    assert_eq!(
        answer["choices"][0]["message"]["content"], "alpha bravo charlie",
        "{answer}"
    );

    let models = pincer_for(home, cwd)
        .args(["models", "list", "--json"])
        .output()
        .unwrap();
    assert!(models.status.success(), "through the gateway: {models:?}");
    assert!(String::from_utf8_lossy(&models.stdout).contains("ollama/llama3.2:3b"));

    // With the stack up, the router asks the providers.
    let report = doctor_json(home, cwd);
    assert_eq!(report["failed"], 0, "{report:#}");
    let provider = check(&report, "provider openrouter");
    assert!(
        provider["detail"]
            .as_str()
            .unwrap()
            .contains("answers the llm-router"),
        "{provider}"
    );

    let stopped = pincer_for(home, cwd)
        .args(["gateway", "stop"])
        .output()
        .unwrap();
    assert!(stopped.status.success(), "{stopped:?}");
    let down = pincer_test_support::eventually(
        "the gateway to stop answering",
        Duration::from_secs(10),
        || async move {
            reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
                .await
                .is_err()
                .then_some(true)
        },
    )
    .await;
    assert!(down);
}
