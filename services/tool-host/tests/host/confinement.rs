//! Every child of the tool host is confined: exec runs and MCP servers can do their job in their
//! own directories and nothing else. Each escape is refused, and the host keeps serving.

use std::io::Read as _;
use std::time::Duration;

use crate::support::{Host, SECRET, mcp_server};
use serde_json::json;

/// Debian's interpreter (a `python3` earlier on PATH may be a shim that lives elsewhere).
const PYTHON: &str = "/usr/bin/python3";

const EXEC: &str = r#"{
  tools: { exec: { mode: "allowlist", allowlist: ["git", "cat", "sh", "/usr/bin/python3", "ls", "sleep"],
                   timeoutSeconds: 5, maxOutputChars: 2000, memoryMb: 128 } },
}"#;

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|id| id == "0"))
        })
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_does_its_job_in_the_workspace() {
    let host = Host::start(EXEC).await;
    let (out, error) = host.exec("git", &["init", "-q", "."]).await;
    assert!(!error && out.starts_with("exit code: 0"), "{out}");
    std::fs::write(host.workspace().join("notes.txt"), "hello").expect("write");
    let (out, error) = host.exec("git", &["status", "--porcelain"]).await;
    assert!(!error && out.contains("?? notes.txt"), "{out}");
    let (out, _) = host.exec("cat", &["notes.txt"]).await;
    assert!(out.contains("hello"), "{out}");
    let (out, _) = host
        .exec("sh", &["-c", "echo made > made.txt && cat made.txt"])
        .await;
    assert!(out.contains("made"), "{out}");
    assert!(
        host.workspace().join("made.txt").is_file(),
        "writes land in the workspace"
    );
    let (out, error) = host.exec("rm", &["-rf", "/"]).await;
    assert!(
        error && out.contains("not in tools.exec.allowlist"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_cannot_read_the_config_other_processes_or_write_outside() {
    let host = Host::start(EXEC).await;
    let secret = host.secret_file.display().to_string();
    let refused = |out: &str| !out.contains(SECRET);
    let (out, _) = host.exec("cat", &[&secret]).await;
    assert!(refused(&out) && out.contains("Permission denied"), "{out}");
    // An allow-listed git runs anything through an alias...
    host.exec("git", &["init", "-q", "."]).await;
    let alias = format!("alias.x=!cat {secret}");
    let (out, _) = host.exec("git", &["-c", &alias, "x"]).await;
    assert!(refused(&out), "{out}");
    // ... or through a hook in a config file the model wrote.
    let hook = format!("[core]\n\tfsmonitor = \"cat {secret} #\"\n");
    let config = host.workspace().join(".git/config");
    let mut text = std::fs::read_to_string(&config).expect("git config");
    text.push_str(&hook);
    std::fs::write(&config, text).expect("hook");
    let (out, _) = host.exec("git", &["status"]).await;
    assert!(refused(&out), "{out}");
    // Another process's environment (the tool host's own: it holds the secrets).
    let environ = format!("/proc/{}/environ", std::process::id());
    let (out, _) = host.exec("cat", &[&environ]).await;
    assert!(
        out.contains("Permission denied") && !out.contains("PATH="),
        "{out}"
    );
    let (out, _) = host.exec("ls", &["/proc"]).await;
    assert!(
        !out.contains(&std::process::id().to_string()),
        "no process list: {out}"
    );
    // Outside the workspace: the state directory, a sibling, /tmp.
    let outside = host.state().join("outside.txt");
    let target = format!("echo x > {}", outside.display());
    let (out, _) = host.exec("sh", &["-c", &target]).await;
    assert!(!outside.exists(), "{out}");
    let escape = format!("/tmp/pincer-escape-{}", std::process::id());
    let (out, _) = host
        .exec("sh", &["-c", &format!("echo x > {escape}")])
        .await;
    assert!(!std::path::Path::new(&escape).exists(), "{out}");
    // Still serving.
    let (out, error) = host.exec("cat", &["SOUL.md"]).await;
    assert!(!error && out.starts_with("exit code: 0"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_cannot_reach_the_bus_or_other_services() {
    let host = Host::start(EXEC).await;
    // Stand-ins for NATS and the llm-router on loopback.
    let bus = std::net::TcpListener::bind("127.0.0.1:0").expect("bus");
    bus.set_nonblocking(true).expect("nonblocking");
    let port = bus.local_addr().expect("addr").port();
    let script = format!(
        "import socket\ntry:\n  socket.create_connection(('127.0.0.1', {port}), timeout=3)\n  print('CONNECTED')\nexcept OSError as e:\n  print('refused', e)"
    );
    let (out, _) = host.exec(PYTHON, &["-c", &script]).await;
    assert!(
        !out.contains("CONNECTED") && out.contains("refused"),
        "{out}"
    );
    assert!(bus.accept().is_err(), "nothing reached the bus port");
    // The tool host's own port, with no token in hand, refuses anyway; the child cannot even try.
    let own = host.url.rsplit(':').next().unwrap_or_default().to_owned();
    let script = format!(
        "import socket\ntry:\n  socket.create_connection(('127.0.0.1', {own}), timeout=3)\n  print('CONNECTED')\nexcept OSError as e:\n  print('refused', e)"
    );
    let (out, _) = host.exec(PYTHON, &["-c", &script]).await;
    assert!(!out.contains("CONNECTED"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_commands_are_stopped_and_the_host_keeps_serving() {
    let host = Host::start(EXEC).await;
    // Memory: 128 MiB of writable memory.
    let (out, _) = host
        .exec(
            PYTHON,
            &["-c", "x = bytearray(1 << 30); print('ALLOCATED')"],
        )
        .await;
    assert!(
        !out.contains("ALLOCATED") && out.contains("MemoryError"),
        "{out}"
    );
    // Output: a flood is cut, not buffered.
    let (out, error) = host
        .exec(
            PYTHON,
            &[
                "-c",
                "import sys\nfor _ in range(200000): sys.stdout.write('x' * 1000)",
            ],
        )
        .await;
    assert!(
        !error && out.contains("output truncated at 2000"),
        "{}",
        &out[..out.len().min(300)]
    );
    assert!(out.len() < 4000);
    // Time: killed at the limit.
    let (out, error) = host.exec("sleep", &["60"]).await;
    assert!(error && out.contains("did not finish within 5s"), "{out}");
    // Nothing outlives its run: a background child dies with the group.
    let marker = format!("sleep 3{}", std::process::id());
    let (out, _) = host
        .exec("sh", &["-c", &format!("{marker} & echo started")])
        .await;
    assert!(out.contains("started"), "{out}");
    pincer_test_support::eventually(
        "the background child to be gone",
        Duration::from_secs(10),
        || {
            let marker = marker.clone();
            async move { (!process_exists(&marker)).then_some(()) }
        },
    )
    .await;
    // Processes (the kernel does not limit root's, so only as another user).
    if !running_as_root() {
        let bomb = "import os\nwhile True:\n  try: os.fork()\n  except OSError: pass";
        let (out, _) = host.exec(PYTHON, &["-c", bomb]).await;
        assert!(out.contains("did not finish"), "{out}");
    }
    let (out, error) = host.exec("cat", &["SOUL.md"]).await;
    assert!(!error && out.starts_with("exit code: 0"), "{out}");
}

fn process_exists(marker: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let mut cmdline = String::new();
        std::fs::File::open(entry.path().join("cmdline"))
            .and_then(|mut file| file.read_to_string(&mut cmdline))
            .is_ok()
            && cmdline.contains(marker)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mcp_servers_live_in_their_state_directory_and_reach_nothing_else() {
    let config = format!(
        r#"{{ mcp: {{ servers: {{
            t: {{ command: "{server}", allowTools: ["*"] }},
            offline: {{ command: "{server}", allowTools: ["*"], sandbox: {{ network: false }} }},
        }} }} }}"#,
        server = mcp_server()
    );
    let host = Host::start(&config).await;
    let catalog = host.catalog().await;
    assert!(catalog.ready);
    assert!(catalog.tools.iter().any(|tool| tool.name == "t__echo"));
    let (out, error) = host.call("t__echo", json!({"text": "hi"})).await;
    assert_eq!((out.as_str(), error), ("hi", false));
    // Its home is its state directory, and only that is writable.
    let (home, _) = host.call("t__env", json!({"name": "HOME"})).await;
    assert!(home.ends_with("/mcp/t"), "{home}");
    let (out, _) = host
        .call(
            "t__write_file",
            json!({"path": format!("{home}/note"), "text": "kept"}),
        )
        .await;
    assert!(out.starts_with("wrote"), "{out}");
    let (out, _) = host
        .call(
            "t__write_file",
            json!({"path": host.workspace().join("x").display().to_string(), "text": "no"}),
        )
        .await;
    assert!(out.starts_with("cannot write"), "{out}");
    // No config, no other process, no secrets in its environment.
    let (out, _) = host
        .call(
            "t__read_file",
            json!({"path": host.secret_file.display().to_string()}),
        )
        .await;
    assert!(
        !out.contains(SECRET) && out.contains("cannot read"),
        "{out}"
    );
    let (out, _) = host
        .call(
            "t__read_file",
            json!({"path": format!("/proc/{}/environ", std::process::id())}),
        )
        .await;
    assert!(out.contains("cannot read"), "{out}");
    let (out, _) = host
        .call("t__env", json!({"name": "PINCER_TOOL_HOST_TOKEN"}))
        .await;
    assert_eq!(out, "(unset)");
    // Network: the web ports only, and nothing at all without network.
    let bus = std::net::TcpListener::bind("127.0.0.1:0").expect("bus");
    let port = bus.local_addr().expect("addr").port();
    let (out, _) = host
        .call("t__connect", json!({"host": "127.0.0.1", "port": port}))
        .await;
    assert!(out.starts_with("cannot connect"), "{out}");
    let (out, _) = host
        .call(
            "offline__connect",
            json!({"host": "127.0.0.1", "port": 443}),
        )
        .await;
    assert!(out.starts_with("cannot connect"), "{out}");
    // A flood on the protocol channel is survived.
    let (out, _) = host.call("t__flood", json!({"bytes": 20_000_000})).await;
    assert!(
        out.contains("flooded") || out.contains("mcp server"),
        "{out}"
    );
    pincer_test_support::eventually(
        "the server to answer after the flood",
        Duration::from_secs(30),
        || async {
            let (out, error) = host.call("t__echo", json!({"text": "after"})).await;
            (!error && out == "after").then_some(())
        },
    )
    .await;
}
