//! The deployment itself: `compose.yml` (and `compose.nats-cluster.yml`) run by docker-compose on
//! the locally built images, each test in its own compose project with its own env file, config,
//! port and volumes (removed at the end).
//!
//! - The stack comes up healthy from nothing, answers, and is hardened as compose.yml says
//!   (read-only root, uid 65532, no capabilities, no-new-privileges, only 127.0.0.1:port
//!   published, memory limits under 512 MB); `down` and `up` keep sessions and a turn that was
//!   still queued.
//! - Each service killed (SIGKILL, so the restart policy applies) in the middle of a turn: the
//!   restart brings it back and the message is answered exactly once.
//! - Split host: Ollama elsewhere, reachable only by URL; cut off, the router falls back to the next
//!   model; back, it is used again.
//! - A 3-node NATS cluster with R3 streams: a node stops mid-conversation, nothing is lost.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pincer_system_tests::{image_tag as tag, last_tool_result, repo_root as repo};
use pincer_test_support::eventually;
use serde_json::{Value, json};
use tokio::process::Command;

const TOKEN: &str = "compose-test-token-0123456789abcdef";

/// What scripts/ensure-secrets.sh puts into `.env`.
const INTERNAL_SECRETS: [&str; 6] = [
    "PINCER_NATS_PASSWORD_GATEWAY",
    "PINCER_NATS_PASSWORD_CHANNEL_BRIDGE",
    "PINCER_NATS_PASSWORD_AGENT_RUNNER",
    "PINCER_NATS_PASSWORD_LLM_ROUTER",
    "PINCER_LLM_ROUTER_TOKEN",
    "PINCER_TOOL_HOST_TOKEN",
];

async fn run(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|error| panic!("cannot run {program}: {error}"))
}

async fn docker_json(args: &[&str]) -> Value {
    let output = run("/usr/bin/docker", args).await;
    assert!(output.status.success(), "docker {args:?}: {output:?}");
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// One compose project; `down -v` when dropped.
struct Project {
    name: String,
    dir: tempfile::TempDir,
    files: Vec<PathBuf>,
    port: u16,
    http: reqwest::Client,
}

impl Project {
    async fn up(label: &str, config: &str, files: &[&str], extra_env: &[(&str, &str)]) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().expect("project dir");
        let port = pincer_test_support::free_port();
        let config_path = dir.path().join("pincer.json5");
        std::fs::write(&config_path, config).expect("config");
        let mut env = format!(
            "COMPOSE_PROFILES=demo\nPINCER_TAG={}\nPINCER_GATEWAY_PORT={port}\nPINCER_GATEWAY_TOKEN={TOKEN}\nPINCER_CONFIG_FILE={}\nOLLAMA_BASE_URL=http://fake-provider:8080\nOLLAMA_MODEL=fake-model\nPINCER_HEALTH_INTERVAL=1s\nRUST_LOG=info\n",
            tag(),
            config_path.display()
        );
        // The internal secrets scripts/up.sh would generate.
        for name in INTERNAL_SECRETS {
            env.push_str(&format!(
                "{name}=compose-test-{}\n",
                name.to_ascii_lowercase()
            ));
        }
        let tool_env = dir.path().join("tool-host.env");
        std::fs::write(&tool_env, "").expect("tool host env file");
        env.push_str(&format!(
            "PINCER_TOOL_HOST_ENV_FILE={}\n",
            tool_env.display()
        ));
        for (key, value) in extra_env {
            env.push_str(&format!("{key}={value}\n"));
        }
        std::fs::write(dir.path().join("test.env"), env).expect("env file");
        let project = Self {
            name: format!("pincer-{label}-{}", std::process::id()),
            dir,
            files: files.iter().map(|f| repo().join(f)).collect(),
            port,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .build()
                .expect("client"),
        };
        let started = Instant::now();
        project.compose(&["up", "-d"]).await;
        project.wait_ready().await;
        eprintln!(
            "compose {label}: healthy and ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        project
    }

    /// `docker-compose` with this project's name, directory, env file and compose files.
    fn compose_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--project-name".into(),
            self.name.clone().into(),
            "--project-directory".into(),
            repo().into(),
            "--env-file".into(),
            self.dir.path().join("test.env").into(),
        ];
        for file in &self.files {
            args.push("-f".into());
            args.push(file.clone().into());
        }
        args
    }

    async fn compose(&self, args: &[&str]) -> std::process::Output {
        let output = Command::new("docker-compose")
            .args(self.compose_args())
            .args(args)
            .output()
            .await
            .expect("docker-compose runs (apt-get install docker-compose)");
        assert!(
            output.status.success(),
            "docker-compose {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn wait_ready(&self) {
        eventually(
            "the stack to be ready",
            Duration::from_secs(120),
            || async {
                let ready = self
                    .http
                    .get(format!("{}/readyz", self.url()))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                ready.is_ok_and(|r| r.status() == 200).then_some(())
            },
        )
        .await;
    }

    async fn ids(&self, service: &str) -> Vec<String> {
        let output = self.compose(&["ps", "-q", service]).await;
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    async fn inspect(&self, service: &str) -> Value {
        let ids = self.ids(service).await;
        let id = ids
            .first()
            .unwrap_or_else(|| panic!("no {service} container"));
        docker_json(&["inspect", id]).await[0].clone()
    }

    /// SIGKILL to the container's init: a crash, so the restart policy brings it back (a `docker
    /// kill` counts as a deliberate stop and would not be restarted).
    async fn crash(&self, service: &str) -> u64 {
        let before = self.inspect(service).await;
        let restarts = before["RestartCount"].as_u64().unwrap_or(0);
        let pid = before["State"]["Pid"].as_i64().expect("running");
        let killed = run("kill", &["-9", &pid.to_string()]).await;
        assert!(killed.status.success(), "kill {pid}: {killed:?}");
        restarts
    }

    async fn wait_restarted(&self, service: &str, restarts_before: u64) {
        let what = format!("{service} to be restarted");
        eventually(&what, Duration::from_secs(60), || async {
            let state = self.inspect(service).await;
            (state["RestartCount"].as_u64().unwrap_or(0) > restarts_before
                && state["State"]["Running"] == true)
                .then_some(())
        })
        .await;
    }

    /// The fake provider's address on the project's internal network (reachable from the host).
    async fn fake(&self, service: &str) -> String {
        let state = self.inspect(service).await;
        let networks = state["NetworkSettings"]["Networks"]
            .as_object()
            .expect("networks");
        let ip = networks
            .values()
            .find_map(|n| n["IPAddress"].as_str().filter(|ip| !ip.is_empty()))
            .expect("an address");
        format!("http://{ip}:8080")
    }

    /// Sets the fake provider's knobs (waiting for it to listen, after a restart).
    async fn knobs(&self, service: &str, knobs: Value) {
        eventually(
            "the fake provider to answer",
            Duration::from_secs(30),
            || async {
                let url = format!("{}/control", self.fake(service).await);
                let sent = self
                    .http
                    .post(url)
                    .json(&knobs)
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await;
                sent.is_ok_and(|r| r.status().is_success()).then_some(())
            },
        )
        .await;
    }

    async fn chats(&self, service: &str) -> u64 {
        chat_requests(&self.http, &self.fake(service).await).await
    }

    /// A turn; retried with the same idempotency key until it is answered (what a client does).
    async fn turn(&self, user: &str, text: &str, key: &str, patience: Duration) -> String {
        ask(
            self.http.clone(),
            self.url(),
            user.to_owned(),
            text.to_owned(),
            key.to_owned(),
            patience,
        )
        .await
    }
}

/// Chat requests a fake provider at `base` has served.
async fn chat_requests(http: &reqwest::Client, base: &str) -> u64 {
    let stats: Value = http
        .get(format!("{base}/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    stats["chat"].as_u64().unwrap_or(0)
}

/// `http://<ip>:8080` of a container on `network` (its address changes when it reconnects).
async fn address_on(container: &str, network: &str) -> String {
    let state = docker_json(&["inspect", container]).await;
    let ip = state[0]["NetworkSettings"]["Networks"][network]["IPAddress"]
        .as_str()
        .expect("ip")
        .to_owned();
    format!("http://{ip}:8080")
}

/// Sends a turn and sends it again with the same idempotency key until it is answered (each try
/// waits at most 20 s: a request cut by a crash is retried like a client would).
async fn ask(
    http: reqwest::Client,
    url: String,
    user: String,
    text: String,
    key: String,
    patience: Duration,
) -> String {
    let what = format!("an answer to {text:?}");
    eventually(&what, patience, || async {
        let response = http
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth(TOKEN)
            .header("idempotency-key", &key)
            .timeout(Duration::from_secs(20))
            .json(&json!({ "model": "pincer/default", "user": user, "messages": [{ "role": "user", "content": text }] }))
            .send()
            .await
            .ok()
            .filter(|response| response.status() == 200)?;
        let body: Value = response.json().await.expect("json");
        Some(
            body["choices"][0]["message"]["content"]
                .as_str()
                .expect("text")
                .to_owned(),
        )
    })
    .await
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker-compose")
            .args(self.compose_args())
            .args(["down", "-v", "--remove-orphans", "--timeout", "5"])
            .output();
    }
}

const CONFIG: &str = r#"{
  gateway: { port: 18789, auth: { mode: "token", token: "${PINCER_GATEWAY_TOKEN}" } },
  models: { providers: { ollama: { baseUrl: "${OLLAMA_BASE_URL}", api: "ollama", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: { primary: "ollama/fake-model" }, timeout: 60 } },
}"#;

/// The fake's echo answer `messages=<n> last=<text>`: n counts the system prompt and the history.
fn echoed(answer: &str) -> (u64, String) {
    let mut words = answer.split_whitespace();
    let n = words
        .next()
        .and_then(|w| w.strip_prefix("messages="))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an echo: {answer}"));
    let last = answer
        .split_once("last=")
        .map(|(_, t)| t.to_owned())
        .unwrap_or_default();
    (n, last)
}

const PINCER_SERVICES: [&str; 6] = [
    "nats",
    "llm-router",
    "tool-host",
    "agent-runner",
    "channel-bridge",
    "gateway",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_stack_is_hardened_answers_and_keeps_state_across_down_and_up() {
    let project = Project::up("hardened", CONFIG, &["compose.yml"], &[]).await;
    project
        .knobs("fake-provider", json!({ "echo": true }))
        .await;
    let (n, last) = echoed(
        &project
            .turn("alice", "one", "k1", Duration::from_secs(30))
            .await,
    );
    assert_eq!((n, last.as_str()), (2, "one"));

    // Hardening, as the kernel sees the running processes.
    let mut memory = 0u64;
    for service in PINCER_SERVICES {
        let c = project.inspect(service).await;
        assert_eq!(c["HostConfig"]["ReadonlyRootfs"], true, "{service}");
        assert_eq!(c["Config"]["User"], "65532:65532", "{service}");
        assert_eq!(c["HostConfig"]["CapDrop"], json!(["ALL"]), "{service}");
        let limit = c["HostConfig"]["Memory"].as_u64().unwrap_or(0);
        assert!(limit > 0, "{service} has no memory limit");
        // The tool host's limit is its MCP servers' as much as its own: counted apart.
        if service == "tool-host" {
            assert!(
                limit <= 512 * 1024 * 1024,
                "tool-host limit {} MiB",
                limit >> 20
            );
        } else {
            memory += limit;
        }
        let pid = c["State"]["Pid"].as_i64().expect("pid");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(str::trim)
                .unwrap_or("?")
                .to_owned()
        };
        assert_eq!(field("CapEff:"), "0000000000000000", "{service}");
        assert_eq!(field("NoNewPrivs:"), "1", "{service}");
        assert_eq!(
            field("Uid:").split_whitespace().next(),
            Some("65532"),
            "{service}"
        );
        let ports = c["NetworkSettings"]["Ports"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (port, bindings) in ports {
            for binding in bindings.as_array().into_iter().flatten() {
                assert_eq!(
                    binding["HostIp"], "127.0.0.1",
                    "{service} publishes {port} beyond loopback"
                );
                assert_eq!(service, "gateway", "only the gateway publishes a port");
            }
        }
    }
    assert!(
        memory < 512 * 1024 * 1024,
        "limits add up to {} MiB",
        memory >> 20
    );

    // Every container's health check (pincer-probe at the address compose gives the service: HTTP
    // for NATS and the gateway, gRPC health for the others) passes against the running service.
    for service in PINCER_SERVICES {
        eventually(
            &format!("{service} to be healthy"),
            Duration::from_secs(60),
            || async {
                let state = project.inspect(service).await;
                (state["State"]["Health"]["Status"] == "healthy").then_some(())
            },
        )
        .await;
        let state = project.inspect(service).await;
        let test = &state["Config"]["Healthcheck"]["Test"];
        assert_eq!(test[1], "/usr/local/bin/pincer-probe", "{service}: {test}");
    }

    // A turn sent while no runner runs stays queued: the client gives up, the stack goes down.
    project.compose(&["stop", "agent-runner"]).await;
    let queued = project
        .http
        .post(format!("{}/v1/chat/completions", project.url()))
        .bearer_auth(TOKEN)
        .header("idempotency-key", "k2")
        .timeout(Duration::from_secs(2))
        .json(&json!({ "model": "pincer/default", "user": "alice", "messages": [{ "role": "user", "content": "two" }] }))
        .send()
        .await;
    assert!(queued.is_err() || queued.is_ok_and(|r| r.status() != 200));
    project.compose(&["down"]).await;
    // Up without the runner first: the fake starts with default knobs and must echo before the
    // queued turn reaches it.
    project
        .compose(&["up", "-d", "--scale", "agent-runner=0"])
        .await;
    project
        .knobs("fake-provider", json!({ "echo": true }))
        .await;
    project.compose(&["up", "-d"]).await;
    project.wait_ready().await;

    // The queued turn ran after the restart, on the stored history; asking again returns it.
    let (n, last) = echoed(
        &project
            .turn("alice", "two", "k2", Duration::from_secs(60))
            .await,
    );
    assert_eq!((n, last.as_str()), (4, "two"));
    let (n, _) = echoed(
        &project
            .turn("alice", "three", "k3", Duration::from_secs(30))
            .await,
    );
    assert_eq!(
        n, 6,
        "one, two and their answers are in the history once each"
    );

    // More replicas: nothing fixed (names, ports) stands in the way.
    project
        .compose(&[
            "up",
            "-d",
            "--scale",
            "agent-runner=3",
            "--scale",
            "llm-router=2",
        ])
        .await;
    assert_eq!(project.ids("agent-runner").await.len(), 3);
    assert_eq!(project.ids("llm-router").await.len(), 2);
    project.wait_ready().await;
    for index in 0..6 {
        let user = format!("scaled-{index}");
        let (n, _) = echoed(
            &project
                .turn(&user, "hi", &user, Duration::from_secs(60))
                .await,
        );
        assert_eq!(n, 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_service_killed_mid_turn_comes_back_and_the_message_is_answered_once() {
    let project = Project::up("kill", CONFIG, &["compose.yml"], &[]).await;
    for service in PINCER_SERVICES {
        project
            .knobs("fake-provider", json!({ "echo": true, "delay_ms": 1500 }))
            .await;
        let before = project.chats("fake-provider").await;
        let user = format!("user-{service}");
        let text = format!("message while {service} dies");
        let turn = tokio::spawn(ask(
            project.http.clone(),
            project.url(),
            user.clone(),
            text.clone(),
            format!("kill-{service}"),
            Duration::from_secs(150),
        ));
        // Kill it while the model is working on the turn.
        eventually(
            "the turn to reach the model",
            Duration::from_secs(30),
            || async { (project.chats("fake-provider").await != before).then_some(()) },
        )
        .await;
        let crashed = std::time::Instant::now();
        let restarts = project.crash(service).await;
        project.wait_restarted(service, restarts).await;
        let answer = turn.await.expect("request task");
        // A figure for the record (the model takes 1.5 s of it), not a pass mark.
        eprintln!(
            "{service}: answered {:.1} s after the SIGKILL",
            crashed.elapsed().as_secs_f64()
        );
        let (n, last) = echoed(&answer);
        assert_eq!(
            (n, last.as_str()),
            (2, text.as_str()),
            "{service}: {answer}"
        );
        // Exactly once in the history: the next turn sees one message and one answer before it.
        project
            .knobs("fake-provider", json!({ "echo": true, "delay_ms": 0 }))
            .await;
        let (n, _) = echoed(
            &project
                .turn(
                    &user,
                    "after",
                    &format!("after-{service}"),
                    Duration::from_secs(60),
                )
                .await,
        );
        assert_eq!(
            n, 4,
            "{service}: the killed turn is in the history exactly once"
        );
        eprintln!("{service}: killed mid-turn, restarted, answered once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_off_ollama_host_falls_back_and_is_used_again_when_it_returns() {
    // The "8 GB host": its own fake provider, reachable only by URL on the egress network.
    let config = r#"{
  gateway: { port: 18789, auth: { mode: "token", token: "${PINCER_GATEWAY_TOKEN}" } },
  models: { providers: {
    remote: { baseUrl: "http://remote-ollama:8080", api: "ollama", models: [{ id: "fake-model" }] },
    local: { baseUrl: "http://fake-provider:8080/v1", api: "openai-completions", models: [{ id: "fake-model" }] },
  } },
  agents: { defaults: { model: { primary: "remote/fake-model", fallbacks: ["local/fake-model"] }, timeout: 60 } },
}"#;
    let project = Project::up("split", config, &["compose.yml"], &[]).await;
    let egress = format!("{}_egress", project.name.replace('.', ""));
    let remote = format!("{}-remote-ollama", project.name);
    let started = run(
        "/usr/bin/docker",
        &[
            "run",
            "-d",
            "--rm",
            "--name",
            &remote,
            "--network",
            &egress,
            "--network-alias",
            "remote-ollama",
            "--read-only",
            "--cap-drop",
            "ALL",
            &format!("pincer/fake-provider:{}", tag()),
            "--host",
            "0.0.0.0",
            "--port",
            "8080",
            "--model",
            "fake-model",
        ],
    )
    .await;
    assert!(started.status.success(), "{started:?}");
    let _cleanup = scopeguard(remote.clone());
    let remote_url = address_on(&remote, &egress).await;
    project
        .turn("split", "first", "s1", Duration::from_secs(30))
        .await;
    assert_eq!(
        chat_requests(&project.http, &remote_url).await,
        1,
        "the remote host served"
    );
    let local_before = project.chats("fake-provider").await;

    // Cut the link: the next turn is answered by the fallback.
    let cut = run(
        "/usr/bin/docker",
        &["network", "disconnect", &egress, &remote],
    )
    .await;
    assert!(cut.status.success(), "{cut:?}");
    project
        .turn("split", "second", "s2", Duration::from_secs(60))
        .await;
    assert!(
        project.chats("fake-provider").await > local_before,
        "the fallback served while the host was away"
    );

    // Back: after its cooldown the remote host serves again.
    let back = run(
        "/usr/bin/docker",
        &[
            "network",
            "connect",
            "--alias",
            "remote-ollama",
            &egress,
            &remote,
        ],
    )
    .await;
    assert!(back.status.success(), "{back:?}");
    let remote_url = address_on(&remote, &egress).await;
    // Each look drives one more turn: the router tries the remote host again after its cooldown.
    let turns = std::sync::atomic::AtomicUsize::new(0);
    let (turns, project, remote_url) = (&turns, &project, &remote_url);
    eventually(
        "the router going back to the remote host",
        Duration::from_secs(90),
        move || async move {
            if chat_requests(&project.http, remote_url).await > 0 {
                return Some(());
            }
            let index = turns.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            project
                .turn(
                    "split",
                    &format!("again {index}"),
                    &format!("s3-{index}"),
                    Duration::from_secs(60),
                )
                .await;
            None
        },
    )
    .await;
}

/// Removes a container started outside compose when the test ends.
fn scopeguard(name: String) -> impl Drop {
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::process::Command::new("/usr/bin/docker")
                .args(["rm", "-f", &self.0])
                .output();
        }
    }
    Remove(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_nats_cluster_loses_nothing_when_a_node_stops() {
    let project = Project::up(
        "cluster",
        CONFIG,
        &["compose.yml", "compose.nats-cluster.yml"],
        &[],
    )
    .await;
    project
        .knobs("fake-provider", json!({ "echo": true }))
        .await;
    // Streams and buckets are replicated three times.
    let (n, _) = echoed(
        &project
            .turn("carol", "m1", "c1", Duration::from_secs(60))
            .await,
    );
    assert_eq!(n, 2);
    for node in ["nats", "nats-2"] {
        // One node down at a time, mid-conversation.
        project.compose(&["stop", "--timeout", "1", node]).await;
        let index = if node == "nats" { 2 } else { 3 };
        let (n, last) = echoed(
            &project
                .turn(
                    "carol",
                    &format!("m{index}"),
                    &format!("c{index}"),
                    Duration::from_secs(90),
                )
                .await,
        );
        assert_eq!(
            (n, last.as_str()),
            (2 * index as u64, format!("m{index}").as_str()),
            "{node} down"
        );
        project.compose(&["start", node]).await;
        project.wait_ready().await;
    }
    let (n, _) = echoed(
        &project
            .turn("carol", "m4", "c4", Duration::from_secs(60))
            .await,
    );
    assert_eq!(n, 8, "every message of the conversation is there once");
}

/// The tool host as it is deployed: an MCP server installed from PyPI at first start (stdio), an
/// HTTP MCP server, `exec git`, each through a whole turn; then every escape a tool child could
/// try, against the running container, which stays healthy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_work_in_the_deployed_stack_and_their_children_reach_nothing_else() {
    let config = r#"{
  gateway: { port: 18789, auth: { mode: "token", token: "${PINCER_GATEWAY_TOKEN}" } },
  models: { providers: { ollama: { baseUrl: "${OLLAMA_BASE_URL}", api: "ollama", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: { primary: "ollama/fake-model" }, timeout: 120 } },
  tools: { exec: { mode: "allowlist", allowlist: ["git", "sh", "python3", "cat"], timeoutSeconds: 10,
                   memoryMb: 128, maxProcesses: 32, maxOutputChars: 4000 } },
  mcp: { servers: {
    time: { command: "uvx", args: ["mcp-server-time", "--local-timezone", "UTC"], allowTools: ["*"], timeoutSeconds: 90 },
    remote: { url: "http://mcp-http:8080/mcp", allowTools: ["echo", "add"] },
  } },
}"#;
    let dir = tempfile::tempdir().expect("override dir");
    let overlay = dir.path().join("compose.tools-test.yml");
    // The HTTP MCP server stands where an internet one would: on the tool host's way out. When
    // this machine's egress re-signs TLS, the tool host's children get the host's CA bundle.
    let host_ca = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
    let ca = if host_ca.is_file() {
        format!(
            "    volumes: [\"{}:/etc/pincer/host-ca.pem:ro\"]\n    environment:\n      PINCER_CA_BUNDLE: /etc/pincer/host-ca.pem\n",
            host_ca.display()
        )
    } else {
        String::new()
    };
    std::fs::write(
        &overlay,
        format!(
            "version: \"3.8\"\nservices:\n  mcp-http:\n    image: pincer/mcp-test-server:${{PINCER_TAG:-local}}\n    command: [\"--http\", \"0.0.0.0:8080\", \"--allow-host\", \"mcp-http\"]\n    networks: [tool-egress]\n    read_only: true\n    user: \"65532:65532\"\n    cap_drop: [ALL]\n  tool-host:\n    depends_on: [mcp-http]\n{ca}"
        ),
    )
    .expect("overlay");
    let overlay = overlay.display().to_string();
    let project = Project::up("tools", config, &["compose.yml", &overlay], &[]).await;

    // Ready means ready: the first turn is offered the tools of every server.
    let offered = scripted_turn(&project, "t1", vec![json!({"text": "hello"})]).await;
    let tools: Vec<&str> = offered["tools"]
        .as_array()
        .expect("tools offered")
        .iter()
        .filter_map(|tool| tool["function"]["name"].as_str())
        .collect();
    for name in ["time__get_current_time", "exec", "web_fetch"] {
        assert!(
            tools.contains(&name),
            "{name} missing from the first turn: {tools:?}"
        );
    }
    // The HTTP server may have come up after the tool host's first try: it is retried.
    let host = ToolHostClient::at(&project).await;
    let catalog = host.catalog_with("remote__echo").await;
    assert!(
        !catalog.contains(&"remote__crash".to_owned()),
        "allowTools limits the HTTP server: {catalog:?}"
    );

    let time = scripted_turn(
        &project,
        "t2",
        vec![
            json!({"tool": {"name": "time__get_current_time", "arguments": {"timezone": "UTC"}}}),
            json!({"text": "done"}),
        ],
    )
    .await;
    let result = last_tool_result(&time);
    assert!(
        result.contains("UTC") && result.contains("datetime"),
        "{result}"
    );

    let remote = scripted_turn(
        &project,
        "t3",
        vec![
            json!({"tool": {"name": "remote__echo", "arguments": {"text": "over http"}}}),
            json!({"text": "done"}),
        ],
    )
    .await;
    assert_eq!(last_tool_result(&remote), "over http");

    let git = scripted_turn(
        &project,
        "t4",
        vec![
            json!({"tool": {"name": "exec", "arguments": {"command": "git", "args": ["init", "-q", "repo"]}}}),
            json!({"tool": {"name": "exec", "arguments": {"command": "git", "args": ["-C", "repo", "status"]}}}),
            json!({"text": "done"}),
        ],
    )
    .await;
    let result = last_tool_result(&git);
    assert!(
        result.starts_with("exit code: 0") && result.contains("No commits yet"),
        "{result}"
    );

    // The escapes, straight at the tool host with the agent-runner's token.
    let gateway_secret = TOKEN;
    let (out, _) = host.exec("cat", &["/etc/pincer/pincer.json5"]).await;
    assert!(out.contains("Permission denied"), "{out}");
    let (out, _) = host
        .exec(
            "git",
            &[
                "-c",
                "alias.x=!cat /etc/pincer/pincer.json5 /proc/1/environ",
                "x",
            ],
        )
        .await;
    assert!(
        !out.contains(gateway_secret) && !out.contains("PINCER_"),
        "{out}"
    );
    let environ = "import glob\nfor p in glob.glob('/proc/[0-9]*/environ'):\n  try: print(p, open(p).read()[:40])\n  except OSError as e: print(p, 'refused', e.errno)\nprint('listed')";
    let (out, _) = host.exec("python3", &["-c", environ]).await;
    assert!(out.contains("listed") && !out.contains("PINCER_"), "{out}");
    let (out, _) = host
        .exec("sh", &["-c", "echo x > /home/nonroot/escaped; echo x > /var/lib/pincer-tools/escaped; echo x > /tmp/escaped; echo tried"])
        .await;
    assert!(out.contains("tried"), "{out}");
    let tool_host = project.ids("tool-host").await.remove(0);
    for path in [
        "/home/nonroot/escaped",
        "/var/lib/pincer-tools/escaped",
        "/tmp/escaped",
    ] {
        let seen = run("/usr/bin/docker", &["exec", &tool_host, "test", "-e", path]).await;
        assert!(!seen.status.success(), "{path} was written");
    }
    let connect = "import socket\nfor host, port in [('nats', 4222), ('llm-router', 50051), ('agent-runner', 50061)]:\n  try:\n    socket.create_connection((host, port), timeout=3); print('CONNECTED', host)\n  except OSError as e: print('refused', host, e)";
    let (out, _) = host.exec("python3", &["-c", connect]).await;
    assert!(
        !out.contains("CONNECTED") && out.matches("refused").count() == 3,
        "{out}"
    );
    let (out, _) = host
        .exec(
            "python3",
            &["-c", "x = bytearray(1 << 30); print('ALLOCATED')"],
        )
        .await;
    assert!(
        out.contains("MemoryError") && !out.contains("ALLOCATED"),
        "{out}"
    );
    let (out, error) = host
        .exec(
            "python3",
            &[
                "-c",
                "import sys\nfor _ in range(100000): sys.stdout.write('y' * 1000)",
            ],
        )
        .await;
    assert!(
        !error && out.contains("output truncated"),
        "{}",
        &out[..out.len().min(200)]
    );
    let bomb = "import os\nwhile True:\n  try: os.fork()\n  except OSError: pass";
    let (out, error) = host.exec("python3", &["-c", bomb]).await;
    assert!(error && out.contains("did not finish"), "{out}");
    let (out, error) = host.exec("git", &["--version"]).await;
    assert!(
        !error && out.contains("git version"),
        "after the bombs: {out}"
    );
    let state = project.inspect("tool-host").await;
    assert_eq!(state["RestartCount"], 0, "the tool host never went down");
    assert_eq!(state["State"]["Health"]["Status"], "healthy");
    let after = scripted_turn(&project, "t5", vec![json!({"text": "still here"})]).await;
    assert!(after["messages"].is_array());
}

/// Runs one turn whose model answers follow `script`; returns the last request the model got.
async fn scripted_turn(project: &Project, key: &str, script: Vec<Value>) -> Value {
    project
        .knobs("fake-provider", json!({ "script": script }))
        .await;
    project
        .turn("tool-user", key, key, Duration::from_secs(120))
        .await;
    let stats: Value = project
        .http
        .get(format!("{}/stats", project.fake("fake-provider").await))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    stats["last_request"]["body"].clone()
}

/// A gRPC client of the deployed tool host, reached on its `tool-egress` address.
struct ToolHostClient {
    client: pincer_proto::tools::v1::tool_host_client::ToolHostClient<tonic::transport::Channel>,
}

impl ToolHostClient {
    async fn at(project: &Project) -> Self {
        let ids = project.ids("tool-host").await;
        let network = format!("{}_tool-egress", project.name.replace('.', ""));
        let container = ids.first().expect("a tool-host container");
        let address = address_on(container, &network)
            .await
            .replace(":8080", ":50071");
        let channel = tonic::transport::Endpoint::from_shared(address)
            .expect("url")
            .connect()
            .await
            .expect("the tool host answers on its network");
        Self {
            client: pincer_proto::tools::v1::tool_host_client::ToolHostClient::new(channel),
        }
    }

    fn authed<T>(message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!(
                "Bearer compose-test-{}",
                "PINCER_TOOL_HOST_TOKEN".to_ascii_lowercase()
            )
            .parse()
            .expect("ascii"),
        );
        request
    }

    /// The tool names on offer, once `name` is among them.
    async fn catalog_with(&self, name: &str) -> Vec<String> {
        let mut stream = self
            .client
            .clone()
            .watch_catalog(Self::authed(
                pincer_proto::tools::v1::WatchCatalogRequest {},
            ))
            .await
            .expect("watch")
            .into_inner();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let next = tokio::time::timeout_at(deadline.into(), stream.message()).await;
            let catalog = next
                .unwrap_or_else(|_| panic!("{name} was never offered"))
                .expect("stream")
                .expect("a catalogue");
            let names: Vec<String> = catalog.tools.into_iter().map(|tool| tool.name).collect();
            if names.iter().any(|tool| tool == name) {
                return names;
            }
        }
    }

    async fn exec(&self, command: &str, args: &[&str]) -> (String, bool) {
        let request = Self::authed(pincer_proto::tools::v1::CallToolRequest {
            name: "exec".to_owned(),
            arguments_json: json!({"command": command, "args": args}).to_string(),
            agent_id: String::new(),
        });
        let response = self
            .client
            .clone()
            .call_tool(request)
            .await
            .expect("the call reaches the tool host")
            .into_inner();
        (response.text, response.is_error)
    }
}
