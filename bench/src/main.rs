//! `pincer-bench`: benchmarks with the fake provider. Prints one JSON object per run. Not a test:
//! figures depend on the machine.
//!
//! `pincer-bench stack` (also the default when no subcommand is given) starts the fake provider and
//! `pincer dev`, then measures cold start, idle and peak memory of the whole stack, and closed-loop
//! latency/throughput of `/v1/chat/completions` at several concurrencies:
//!
//! ```text
//! cargo build --release -p pincer -p pincer-gateway -p pincer-llm-router -p pincer-agent-runner \
//!     -p pincer-channel-bridge -p pincer-fake-provider -p pincer-bench
//! target/release/pincer-bench --phases 1:200,8:400,32:400
//! ```
//!
//! `pincer-bench telegram` sends `--messages` DMs through a fake Bot API, the channel-bridge and the
//! stack (instant fake model) and reports messages/s and the bridge's RSS.
//!
//! `pincer-bench control` measures the gateway's control WebSocket: `--idle` signed-in connections
//! held (gateway KiB per connection), `--clients` sockets streaming a chat at once (events/s), and
//! one turn at a time over the socket vs `/v1/chat/completions` vs the fake alone.
//!
//! `pincer-bench tools` measures tool calls through the tool host: a confined `exec` round trip and
//! an MCP (stdio) round trip, against spawning the program directly; and its idle memory.
//!
//! `pincer-bench memory` measures `memory_search`: recall@5 on the labelled set in
//! `bench/data/memory` by full text and by full text plus embeddings, and search latency at
//! 10,000 chunks (see `memory.rs`).
//!
//! `pincer-bench router` measures the llm-router's own overhead: the fake provider (no delays) and
//! `pincer-llm-router` alone (NATS off), closed-loop streaming `LlmRouter/Chat` calls over one
//! shared HTTP/2 channel (`--channels N` to spread them), compared with the same number of
//! streaming `/api/chat` calls straight to the fake at the same concurrencies; plus the router's
//! idle and peak RSS:
//!
//! ```text
//! cargo build --release -p pincer-llm-router -p pincer-fake-provider -p pincer-bench \
//!     && target/release/pincer-bench router
//! target/release/pincer-bench router --phases 1:500,8:1000,32:2000 --channels 4
//! ```

mod bus_counts;
mod chat_apps;
mod control;
mod http_json;
mod load;
mod memory;
mod page_cache;
mod procs;
mod report;
mod router;
mod stack;
mod telegram;
mod tools;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(
    about = "Benchmark Pincer with the fake provider",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: the `stack` benchmark with these flags.
    #[command(flatten)]
    stack: StackArgs,
}

#[derive(Subcommand)]
enum Command {
    /// The whole stack (pincer dev) through the gateway (the default).
    Stack(StackArgs),
    /// The llm-router alone over gRPC, against the fake provider called directly.
    Router(router::Args),
    /// The gateway's control WebSocket: idle connections per MiB, event fan-out, per-turn overhead.
    Control(control::Args),
    /// Closed-loop load on a gateway that is already running (e.g. the compose deployment).
    Load(LoadArgs),
    /// Messages through the Telegram side (fake Bot API, channel-bridge polling) to an instant agent.
    Telegram(telegram::Args),
    /// Tool calls through the tool host: exec and MCP round trips, its idle memory.
    Tools(tools::Args),
    /// Messages through the Discord side (fake gateway and REST) to an instant agent.
    Discord(chat_apps::Args),
    /// Messages through the Slack side (fake Socket Mode and Web API) to an instant agent.
    Slack(chat_apps::Args),
    /// Messages through WhatsApp (fake Cloud API, signed webhooks through the gateway).
    Whatsapp(chat_apps::Args),
    /// Messages through Signal (fake signal-cli daemon: SSE events, JSON-RPC sends).
    Signal(chat_apps::Args),
    /// Messages through iMessage (fake BlueBubbles server, webhooks through the gateway).
    Imessage(chat_apps::Args),
    /// All six channels connected at once: the channel-bridge's memory and throughput.
    Channels(chat_apps::Args),
    /// Every figure of the footprint targets in one run, written as a Markdown table.
    Report(report::Args),
    /// memory_search: recall@5 on the labelled set (full text, hybrid) and latency at 10k chunks.
    Memory(memory::Args),
}

#[derive(clap::Args)]
struct StackArgs {
    /// Load phases as concurrency:requests, comma separated.
    #[arg(long, default_value = "1:200,8:400,32:400")]
    phases: String,
    /// Words per fake reply.
    #[arg(long, default_value_t = 16)]
    tokens: u32,
    /// Seconds to idle before sampling idle memory.
    #[arg(long, default_value_t = 5)]
    idle_secs: u64,
    /// Use SSE streaming requests.
    #[arg(long)]
    stream: bool,
    /// agents.defaults.maxConcurrent for the run.
    #[arg(long, default_value_t = 16)]
    max_concurrent: u32,
    /// Requests per phase sent straight to the fake provider to measure the harness floor.
    #[arg(long, default_value_t = 200)]
    floor_requests: usize,
    /// Spread the turns over this many stored sessions (0: a new session per turn). With
    /// `--phases 32:10000 --sessions 1000` the report shows whether the agent-runner's memory grows
    /// with the number of past turns.
    #[arg(long, default_value_t = 0)]
    sessions: usize,
    /// Seconds of quiet after each phase before its memory is read (`idle_after_phase`; 0: not
    /// read). Memory read after each of several equal phases shows whether it keeps growing with
    /// the turns or stays where the first phase left it.
    #[arg(long, default_value_t = 0)]
    quiet_after_phase_secs: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => stack(cli.stack).await,
        Some(Command::Stack(args)) => stack(args).await,
        Some(Command::Router(args)) => router::run(args).await,
        Some(Command::Telegram(args)) => telegram::run(args).await,
        Some(Command::Control(args)) => control::run(args).await,
        Some(Command::Load(args)) => load_running(args).await,
        Some(Command::Tools(args)) => tools::run(args).await,
        Some(Command::Discord(args)) => chat_apps::run(chat_apps::Which::Discord, args).await,
        Some(Command::Slack(args)) => chat_apps::run(chat_apps::Which::Slack, args).await,
        Some(Command::Whatsapp(args)) => chat_apps::run(chat_apps::Which::WhatsApp, args).await,
        Some(Command::Signal(args)) => chat_apps::run(chat_apps::Which::Signal, args).await,
        Some(Command::Imessage(args)) => chat_apps::run(chat_apps::Which::IMessage, args).await,
        Some(Command::Channels(args)) => chat_apps::run(chat_apps::Which::All, args).await,
        Some(Command::Report(args)) => report::run(args).await,
        Some(Command::Memory(args)) => memory::run(args).await,
    }
}

/// Flags of `pincer-bench load`.
#[derive(clap::Args)]
struct LoadArgs {
    /// The gateway, `http://127.0.0.1:18789`.
    #[arg(long)]
    url: String,
    /// Its token (default: $PINCER_GATEWAY_TOKEN).
    #[arg(long, env = "PINCER_GATEWAY_TOKEN")]
    token: String,
    /// Load phases as concurrency:requests, comma separated.
    #[arg(long, default_value = "32:640")]
    phases: String,
    /// Sessions the turns are spread over (0: a new one per turn).
    #[arg(long, default_value_t = 0)]
    sessions: usize,
}

async fn load_running(args: LoadArgs) -> anyhow::Result<()> {
    let authority = args.url.trim_start_matches("http://").trim_end_matches('/');
    let addr: std::net::SocketAddr = authority
        .parse()
        .map_err(|_| anyhow::anyhow!("--url must be http://<ip>:<port>, not {}", args.url))?;
    // The load client keeps the token for its whole life.
    let token: &'static str = Box::leak(args.token.into_boxed_str());
    let target = load::Target::gateway(addr, token).with_sessions(args.sessions);
    load::run_phase(&target, 4, 40, false).await?;
    let mut phases = Vec::new();
    for (concurrency, requests) in parse_phases(&args.phases)? {
        let outcome = load::run_phase(&target, concurrency, requests, false).await?;
        phases.push(json!({
            "concurrency": concurrency,
            "requests": requests,
            "ok": outcome.ok,
            "errors": outcome.errors,
            "turns_per_s": round(outcome.rps()),
            "latency_ms": outcome.summary(),
        }));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({ "machine": procs::machine(), "phases": phases }))?
    );
    Ok(())
}

/// The directory of this binary, where the benchmarked binaries are expected.
fn bin_dir() -> anyhow::Result<PathBuf> {
    std::env::current_exe()?
        .parent()
        .map(std::path::Path::to_path_buf)
        .ok_or_else(|| anyhow::anyhow!("cannot locate the binaries next to pincer-bench"))
}

async fn stack(args: StackArgs) -> anyhow::Result<()> {
    let report = stack_report(&args).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Runs the `stack` benchmark and returns its JSON report.
async fn stack_report(args: &StackArgs) -> anyhow::Result<serde_json::Value> {
    let phases = parse_phases(&args.phases)?;
    let bin_dir = bin_dir()?;

    let fake = stack::Fake::start(&bin_dir, args.tokens).await?;
    let direct = load::Target::ollama_direct(fake.addr);
    let floor = load::run_phase(&direct, 1, args.floor_requests, false).await?;

    let work = tempfile::tempdir()?;
    page_cache::evict(&page_cache::stack_executables(&bin_dir));
    let cold_start = Instant::now();
    let mut dev = stack::Dev::start(&bin_dir, work.path(), fake.addr, args.max_concurrent).await?;
    dev.wait_ready(Duration::from_secs(30)).await?;
    let cold_start_ms = cold_start.elapsed().as_secs_f64() * 1000.0;

    // A stack that fails under load (a service exited, so `pincer dev` stopped it) says why.
    let measured = async {
        let target =
            load::Target::gateway(dev.gateway_addr, stack::TOKEN).with_sessions(args.sessions);
        // Warm connections, pools and caches before measuring.
        load::run_phase(&target, 4, 40, args.stream).await?;
        tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
        let idle = procs::tree_memory(dev.pid());

        let mut results = Vec::new();
        let mut peak_rss_kb = idle.rss_kb;
        let mut peak_pss_kb = idle.pss_kb_without("pincer");
        let mut peak_pss_by_process = idle.pss_by_name();
        for (concurrency, requests) in &phases {
            // The floor: the same load on the fake alone, while the stack idles.
            let floor_phase = if args.floor_requests > 0 {
                let outcome =
                    load::run_phase(&direct, *concurrency, args.floor_requests, args.stream)
                        .await?;
                json!({
                    "turns_per_s": round(outcome.rps()),
                    "latency_ms": outcome.summary(),
                })
            } else {
                serde_json::Value::Null
            };
            let bus_before = bus_counts::Counters::read(dev.nats_monitor).await?;
            let sampler = procs::PeakSampler::start(dev.pid(), Duration::from_millis(50));
            let cpu_before = procs::cpu_ticks_by_name(dev.pid());
            let outcome = load::run_phase(&target, *concurrency, *requests, args.stream).await?;
            let cpu_after = procs::cpu_ticks_by_name(dev.pid());
            let bus_after = bus_counts::Counters::read(dev.nats_monitor).await?;
            let after = procs::tree_memory(dev.pid());
            let peaks = sampler.stop().await;
            let peak = peaks.rss_kb;
            peak_rss_kb = peak_rss_kb.max(peak);
            if peaks.pss_kb > peak_pss_kb {
                peak_pss_kb = peaks.pss_kb;
                peak_pss_by_process = peaks.pss_by_process_mib;
            }
            let quiet_after = if args.quiet_after_phase_secs > 0 {
                tokio::time::sleep(Duration::from_secs(args.quiet_after_phase_secs)).await;
                memory_json(&procs::tree_memory(dev.pid()))
            } else {
                serde_json::Value::Null
            };
            let turns = outcome.ok.max(1);
            let per_turn_ms =
                |ticks: u64| round(procs::ticks_to_seconds(ticks) * 1000.0 / turns as f64);
            let by_process: serde_json::Map<String, serde_json::Value> = cpu_after
                .iter()
                .map(|(name, ticks)| {
                    let before = cpu_before.get(name).copied().unwrap_or(0);
                    (
                        name.clone(),
                        json!(per_turn_ms(ticks.saturating_sub(before))),
                    )
                })
                .collect();
            let total_ticks = cpu_after.values().sum::<u64>() - cpu_before.values().sum::<u64>();
            results.push(json!({
                "concurrency": concurrency,
                "requests": requests,
                "ok": outcome.ok,
                "errors": outcome.errors,
                "turns_per_s": round(outcome.ok as f64 / outcome.wall.as_secs_f64()),
                "latency_ms": outcome.summary(),
                "floor": floor_phase,
                "stack_cpu_ms_per_turn": per_turn_ms(total_ticks),
                "cpu_ms_per_turn_by_process": by_process,
                "bus_messages_per_turn": bus_before.per_turn(&bus_after, turns),
                "peak_rss_mib": round(peak as f64 / 1024.0),
                "rss_after_mib_by_process": after.by_name(),
                "idle_after_phase": quiet_after,
            }));
        }
        tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
        let idle_after = procs::tree_memory(dev.pid());
        anyhow::Ok((
            idle,
            results,
            peak_rss_kb,
            (peak_pss_kb, peak_pss_by_process),
            idle_after,
        ))
    }
    .await;
    let (idle, results, peak_rss_kb, (peak_pss_kb, peak_pss_by_process), idle_after) =
        measured.map_err(|error| error.context(format!("the stack failed; {}", dev.log_tail())))?;
    let fake_stats = fake.stats().await.unwrap_or_default();
    let stop_started = Instant::now();
    dev.stop().await;
    let stop_ms = stop_started.elapsed().as_secs_f64() * 1000.0;

    Ok(json!({
        "machine": procs::machine(),
        "stream": args.stream,
        "sessions": args.sessions,
        "max_concurrent": args.max_concurrent,
        "cold_start_to_ready_ms": round(cold_start_ms),
        "idle": memory_json(&idle),
        "idle_after_load": memory_json(&idle_after),
        "peak_rss_mib": round(peak_rss_kb as f64 / 1024.0),
        "peak_stack_pss_mib": round(peak_pss_kb as f64 / 1024.0),
        "peak_pss_by_process_mib": peak_pss_by_process,
        "floor_fake_direct_latency_ms": floor.summary(),
        "phases": results,
        "provider_request_bytes_max": fake_stats.get("req_bytes_max"),
        "provider_chat_calls": fake_stats.get("chat"),
        "stop_ms": round(stop_ms),
    }))
}

/// A tree's memory: RSS with and without the `pincer dev` supervisor (not part of a deployment),
/// PSS without it, anonymous memory, and RSS and PSS by process.
fn memory_json(memory: &procs::TreeMemory) -> serde_json::Value {
    json!({
        "rss_mib": round(memory.rss_kb as f64 / 1024.0),
        "stack_rss_mib": memory.rss_mib_without("pincer"),
        "stack_pss_mib": memory.pss_mib_without("pincer"),
        "anon_mib": round(memory.anon_kb as f64 / 1024.0),
        "processes": memory.processes,
        "by_process_mib": memory.by_name(),
        "pss_by_process_mib": memory.pss_by_name(),
    })
}

fn parse_phases(spec: &str) -> anyhow::Result<Vec<(usize, usize)>> {
    spec.split(',')
        .map(|phase| {
            let (c, n) = phase
                .split_once(':')
                .ok_or_else(|| anyhow::anyhow!("phase {phase:?} is not concurrency:requests"))?;
            Ok((c.trim().parse()?, n.trim().parse()?))
        })
        .collect()
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}
