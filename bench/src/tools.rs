//! `pincer-bench tools`: what a tool call costs. Starts `pincer-tool-host` alone (with the test
//! MCP server over stdio) and measures, one call at a time over gRPC as the agent-runner makes
//! them: an `exec` round trip (a confined `true`), an MCP round trip (`echo` on the stdio server),
//! and the floor of each (spawning `true` directly; the same `echo` without confinement is not
//! measured: the MCP call itself is in-process on a live connection). Plus the tool host's idle
//! memory, with and without the server child.
//!
//! ```text
//! cargo build --release -p pincer-tool-host -p pincer-mcp-test-server -p pincer-bench \
//!     && target/release/pincer-bench tools
//! ```

use std::process::Stdio;
use std::time::{Duration, Instant};

use pincer_proto::tools::v1 as pb;
use pincer_proto::tools::v1::tool_host_client::ToolHostClient;
use serde_json::json;
use tokio::process::Command;
use tonic::transport::Channel;

use crate::{procs, round};

const TOKEN: &str = "bench-tool-host-token";

/// Flags of `pincer-bench tools`.
#[derive(clap::Args)]
pub struct Args {
    /// Calls per measurement.
    #[arg(long, default_value_t = 300)]
    calls: usize,
    /// Seconds to idle before sampling idle memory.
    #[arg(long, default_value_t = 3)]
    idle_secs: u64,
}

/// Latencies in ms: p50, p99, max.
fn summary(mut samples: Vec<f64>) -> serde_json::Value {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| {
        let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
        round(samples.get(index).copied().unwrap_or_default())
    };
    json!({ "p50": at(0.5), "p99": at(0.99), "max": at(1.0), "n": samples.len() })
}

async fn call(
    client: &mut ToolHostClient<Channel>,
    name: &str,
    arguments: serde_json::Value,
) -> anyhow::Result<f64> {
    let mut request = tonic::Request::new(pb::CallToolRequest {
        name: name.to_owned(),
        arguments_json: arguments.to_string(),
        agent_id: String::new(),
    });
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse()?);
    let started = Instant::now();
    let response = client.call_tool(request).await?.into_inner();
    let elapsed = started.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(!response.is_error, "{name} failed: {}", response.text);
    Ok(elapsed)
}

/// Runs the benchmark and prints its JSON.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let bin_dir = crate::bin_dir()?;
    let work = tempfile::tempdir()?;
    let config = work.path().join("pincer.json5");
    let server = bin_dir.join("pincer-mcp-test-server");
    std::fs::write(
        &config,
        format!(
            r#"{{ tools: {{ exec: {{ mode: "allowlist", allowlist: ["true"] }} }},
                 mcp: {{ servers: {{ t: {{ command: "{}", allowTools: ["echo"] }} }} }} }}"#,
            server.display()
        ),
    )?;
    let port = crate::stack::free_port()?;
    let mut host = Command::new(bin_dir.join("pincer-tool-host"))
        .env("PINCER_CONFIG", &config)
        .env("PINCER_TOOL_HOST_LISTEN", format!("127.0.0.1:{port}"))
        .env("PINCER_TOOL_HOST_TOKEN", TOKEN)
        .env("PINCER_WORKSPACE", work.path().join("workspace"))
        .env("PINCER_TOOL_STATE", work.path().join("state"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = host
        .id()
        .ok_or_else(|| anyhow::anyhow!("the tool host exited"))?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut client = loop {
        if let Ok(client) = ToolHostClient::connect(url.clone()).await {
            break client;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the tool host did not listen in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Until the server is connected the echo call fails: wait for its first answer.
    while call(&mut client, "t__echo", json!({"text": "warm"}))
        .await
        .is_err()
    {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the MCP server did not connect in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..20 {
        call(&mut client, "exec", json!({"command": "true"})).await?;
    }
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    let idle_host_kb = procs::status_kib(pid, "VmRSS").unwrap_or(0);
    let idle_tree = procs::tree_memory(pid);

    let mut exec = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        exec.push(call(&mut client, "exec", json!({"command": "true"})).await?);
    }
    let mut mcp = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        mcp.push(call(&mut client, "t__echo", json!({"text": "ping"})).await?);
    }
    // The floor of exec: the same program spawned directly, unconfined.
    let mut spawn = Vec::with_capacity(args.calls);
    for _ in 0..args.calls {
        let started = Instant::now();
        Command::new("true").status().await?;
        spawn.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let peak_host_kb = procs::status_kib(pid, "VmHWM").unwrap_or(0);
    let _ = host.start_kill();
    let _ = host.wait().await;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "machine": procs::machine(),
            "exec_round_trip_ms": summary(exec),
            "mcp_round_trip_ms": summary(mcp),
            "floor_spawn_true_ms": summary(spawn),
            "tool_host_idle_rss_kib": idle_host_kb,
            "tool_host_peak_rss_kib": peak_host_kb,
            "with_mcp_server": idle_tree.by_name(),
        }))?
    );
    Ok(())
}
