//! The `pincer` binary: `config validate` exit codes and messages, and `pincer dev` running the
//! whole stack as processes and stopping every one of them on SIGTERM.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use pincer_fake_provider::{FakeProvider, Knobs};
use pincer_test_support::{NatsServer, wait_http_ok};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_runs_the_stack_and_stops_every_process_on_sigterm() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bin_dir = pincer_test_support::workspace_binary("pincer-gateway")
        .parent()
        .unwrap()
        .to_path_buf();
    let fake = FakeProvider::start(
        Knobs {
            tokens: 2,
            ..Knobs::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
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
    let mut dev = Command::new(bin_dir.join("pincer"))
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
    let pid = dev.id();

    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_http_ok(&format!("{base}/readyz"), Duration::from_secs(30)).await;
    let children = descendants(pid);
    assert_eq!(
        children.len(),
        6,
        "nats-server and five services: {children:?}"
    );

    let answer: serde_json::Value = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth("dev-test-token")
        .json(&serde_json::json!({ "model": "pincer/default", "messages": [{ "role": "user", "content": "hi" }] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "alpha bravo");

    let status = pincer_test_support::terminate(&mut dev, Duration::from_secs(30)).await;
    assert!(status.success(), "pincer dev exit status {status:?}");
    for child in children {
        assert!(
            !Path::new(&format!("/proc/{child}")).exists() || is_zombie(child),
            "process {child} outlived pincer dev"
        );
    }
}

fn descendants(root: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let ppid = stat[close + 2..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(root) {
            out.push(pid);
        }
    }
    out
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.rfind(')')
                .is_some_and(|close| stat[close + 2..].starts_with('Z'))
        })
        .unwrap_or(true)
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
            "models": [{"id": "qwen2.5-coder:7b", "contextWindow": 131072, "cost": {"input": 0, "output": 0}}]}}
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
    assert_eq!(ids, ["ollama/qwen2.5-coder:7b", "ollama/llama3.2:3b"]);
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
    let dashboard = |envs: &[(&str, &str)], args: &[&str]| {
        let mut command = pincer();
        command
            .arg("dashboard")
            .arg("--config")
            .arg(&config)
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
        dashboard(&[], &[]),
        "http://127.0.0.1:19999/#token=from-config"
    );
    assert_eq!(dashboard(&[], &["--no-token"]), "http://127.0.0.1:19999/");
    assert_eq!(
        dashboard(
            &[
                ("PINCER_GATEWAY_TOKEN", "from-env"),
                ("PINCER_GATEWAY_URL", "https://box.tail.ts.net/")
            ],
            &[]
        ),
        "https://box.tail.ts.net/#token=from-env"
    );
    // scripts/up.sh keeps the token in ./.env.
    write(
        dir.path(),
        ".env",
        "OTHER=1\nPINCER_GATEWAY_TOKEN=from-dotenv\n",
    );
    assert_eq!(
        dashboard(&[], &[]),
        "http://127.0.0.1:19999/#token=from-dotenv"
    );
}
