//! A new user's first ten minutes with docker compose, as the tools lead them: `pincer onboard`
//! on a terminal from an empty home (compose with this checkout, Ollama at the demo's
//! `fake-provider`, which only the containers resolve, and an OpenRouter key against a fake
//! OpenRouter the containers reach too), `pincer doctor` without a FAIL, `pincer gateway start`
//! from another directory, one answer through the published port, `pincer models list` and
//! `pincer doctor` through the running stack, `pincer gateway stop`.
//!
//! The compose project is this test's own (`COMPOSE_PROJECT_NAME`, a free port), removed at the
//! end; the images are the built `pincer/*:$PINCER_IMAGE_TAG`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use pincer_fake_provider::{FakeProvider, Knobs};
use pincer_system_tests::{image_tag, repo_root};
use pincer_test_support::{Terminal, eventually, workspace_binary};
use serde_json::Value;

const KEY: &str = "sk-or-v1-firstrun0123456789abcdef0123456789";

/// `pincer` run as the user: their HOME, this test's compose project and image tag.
struct User {
    home: tempfile::TempDir,
    elsewhere: tempfile::TempDir,
    project: String,
}

impl User {
    fn pincer(&self, cwd: &Path) -> Command {
        let mut command = Command::new(workspace_binary("pincer"));
        command
            .current_dir(cwd)
            .env("HOME", self.home.path())
            .env("COMPOSE_PROJECT_NAME", &self.project)
            .env("PINCER_TAG", image_tag())
            .env("PINCER_HEALTH_INTERVAL", "1s")
            .env("NO_COLOR", "1")
            .env_remove("PINCER_CONFIG")
            .env_remove("PINCER_GATEWAY_TOKEN")
            .env_remove("PINCER_GATEWAY_PORT")
            .env_remove("PINCER_GATEWAY_URL")
            .env_remove("PINCER_LLM_ROUTER_URL");
        command
    }

    /// `pincer ARGS` from a directory that is neither the checkout nor the home.
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = self.pincer(self.elsewhere.path());
        command.args(args);
        tokio::task::spawn_blocking(move || command.output().expect("pincer runs"))
            .await
            .expect("join")
    }

    async fn doctor(&self) -> Value {
        let output = self.run(&["doctor", "--json"]).await;
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {output:?}"))
    }

    fn env_file(&self) -> PathBuf {
        self.home.path().join(".pincer/.env")
    }
}

impl Drop for User {
    fn drop(&mut self) {
        // Whatever happened, the project and its volumes go.
        let repo = repo_root();
        let _ = Command::new("docker-compose")
            .args(["--project-name", &self.project, "--project-directory"])
            .arg(&repo)
            .arg("-f")
            .arg(repo.join("compose.yml"))
            .arg("--env-file")
            .arg(self.env_file())
            .args(["down", "-v", "--remove-orphans", "--timeout", "5"])
            .output();
    }
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {name} check in {report:#}"))
}

/// The host's address on Docker's default bridge, where the containers reach the host: the
/// bridge's gateway, or (when Docker does not name it) the first address of its subnet, which is
/// what Docker gives the bridge.
fn docker_host_address() -> String {
    let output = Command::new("/usr/bin/docker")
        .args([
            "network",
            "inspect",
            "bridge",
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}} {{.Subnet}}{{end}}",
        ])
        .output()
        .expect("docker runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (gateway, subnet) = text.trim_end().split_once(' ').unwrap_or(("", ""));
    if !gateway.is_empty() {
        return gateway.to_owned();
    }
    let network: std::net::Ipv4Addr = subnet
        .split('/')
        .next()
        .and_then(|address| address.parse().ok())
        .unwrap_or_else(|| panic!("no docker bridge subnet: {output:?}"));
    std::net::Ipv4Addr::from(u32::from(network) + 1).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_ten_minutes_with_compose() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // A fake OpenRouter on every interface, so the llm-router container reaches it too.
    let openrouter = FakeProvider::start(
        Knobs {
            model: "openrouter/auto".into(),
            listed_models: vec!["openai/gpt-4o-mini".into()],
            api_key: Some(KEY.into()),
            ..Knobs::default()
        },
        "0.0.0.0:0".parse().expect("address"),
    )
    .await
    .expect("fake starts");
    let port_of_fake = openrouter
        .base_url()
        .rsplit(':')
        .next()
        .and_then(|port| port.parse::<u16>().ok())
        .expect("the fake's port");
    let openrouter_url = format!("http://{}:{port_of_fake}/v1", docker_host_address());
    let user = User {
        home: tempfile::tempdir().expect("home"),
        elsewhere: tempfile::tempdir().expect("dir"),
        project: format!("pincer-firstrun-{}", std::process::id()),
    };
    let port = pincer_test_support::free_port();

    let mut onboard = user.pincer(user.home.path());
    onboard.args(["onboard", "--openrouter-url", &openrouter_url]);
    onboard.args(["--gateway-port", &port.to_string()]);
    let (status, transcript) = tokio::task::spawn_blocking(move || {
        let mut terminal = Terminal::spawn(&mut onboard);
        terminal.answer("Run with", &repo_root().display().to_string());
        terminal.answer("Ollama URL", "http://fake-provider:8080");
        terminal.expect("not reachable");
        terminal.answer("Ollama URL: another one", "keep");
        terminal.answer("OpenRouter API key", KEY);
        terminal.expect("OpenRouter accepts the key");
        terminal.answer("Anthropic API key", "");
        terminal.answer("OpenAI-compatible API", "none");
        terminal.expect("1) openrouter/auto");
        terminal.answer("Primary model", "ollama/llama3.2:3b");
        terminal.answer("Try ollama/llama3.2:3b now", "");
        terminal.expect("cannot be reached from here");
        terminal.answer("Fallback models", "1");
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
    .expect("join");
    assert!(status.success(), "{transcript}");
    let env = std::fs::read_to_string(user.env_file()).expect(".env");
    assert!(
        env.contains("PINCER_DEPLOY=compose") && env.contains("COMPOSE_PROFILES=demo"),
        "{env}"
    );

    // Before the stack runs: what only the containers resolve is skipped, nothing fails.
    let report = user.doctor().await;
    assert_eq!(report["failed"], 0, "{report:#}");
    assert_eq!(
        check(&report, "provider ollama")["state"],
        "skip",
        "{report:#}"
    );
    assert_eq!(
        check(&report, "provider openrouter")["state"],
        "ok",
        "{report:#}"
    );

    let started = user.run(&["gateway", "start"]).await;
    assert!(started.status.success(), "{started:?}");
    assert!(String::from_utf8_lossy(&started.stdout).contains("ready in"));

    let token = env
        .lines()
        .find_map(|line| line.strip_prefix("PINCER_GATEWAY_TOKEN="))
        .expect("a gateway token");
    let base = format!("http://127.0.0.1:{port}");
    let answer = pincer_test_support::ask_gateway(&base, token, "hi").await;
    assert!(
        answer["choices"][0]["message"]["content"]
            .as_str()
            .is_some_and(|text| text.starts_with("alpha")),
        "{answer}"
    );

    let models = user.run(&["models", "list", "--json"]).await;
    assert!(models.status.success(), "through the gateway: {models:?}");
    assert!(String::from_utf8_lossy(&models.stdout).contains("ollama/llama3.2:3b"));

    // With the stack up, the router asks the providers from inside: no false FAIL for a name
    // only the containers resolve.
    let report = user.doctor().await;
    assert_eq!(report["failed"], 0, "{report:#}");
    for provider in ["provider ollama", "provider openrouter"] {
        let found = check(&report, provider);
        assert!(
            found["state"] == "ok"
                && found["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("answers the llm-router")),
            "{found}"
        );
    }

    let stopped = user.run(&["gateway", "stop"]).await;
    assert!(stopped.status.success(), "{stopped:?}");
    eventually(
        "the gateway to stop answering",
        Duration::from_secs(30),
        || async move {
            reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
}
