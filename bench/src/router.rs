//! `pincer-bench router`: the llm-router's overhead. Streams `LlmRouter/Chat` calls through
//! `pincer-llm-router` to the fake provider, and the same number of streaming `/api/chat` calls
//! straight to the fake, at the same concurrencies; the difference is the router's cost.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use pincer_proto::llm::v1 as pb;
use pincer_proto::llm::v1::llm_router_client::LlmRouterClient;
use serde_json::json;
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

use crate::{load, procs, round, stack};

/// Flags of `pincer-bench router`.
#[derive(clap::Args)]
pub struct Args {
    /// Load phases as concurrency:requests, comma separated.
    #[arg(long, default_value = "1:500,32:2000")]
    phases: String,
    /// Words per fake reply (one streamed chunk each).
    #[arg(long, default_value_t = 16)]
    tokens: u32,
    /// gRPC channels (HTTP/2 connections) to the router; workers are spread over them.
    #[arg(long, default_value_t = 1)]
    channels: usize,
    /// Unmeasured requests on each path (at concurrency 4) before the first phase.
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Seconds to wait for the router's gRPC port.
    #[arg(long, default_value_t = 30)]
    start_timeout_secs: u64,
}

/// Runs the benchmark and prints its JSON. Ctrl-C (or any error) drops the children, which kills
/// them.
pub async fn run(args: Args) -> anyhow::Result<()> {
    tokio::select! {
        result = bench(args) => result,
        signal = tokio::signal::ctrl_c() => {
            signal?;
            anyhow::bail!("interrupted")
        }
    }
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let phases = crate::parse_phases(&args.phases)?;
    anyhow::ensure!(args.channels >= 1, "--channels must be at least 1");
    let bin_dir = crate::bin_dir()?;

    let fake = stack::Fake::start(&bin_dir, args.tokens).await?;
    let work = tempfile::tempdir()?;
    let mut router = Router::start(&bin_dir, work.path(), fake.addr).await?;
    let ready_after = router
        .wait_listening(Duration::from_secs(args.start_timeout_secs))
        .await?;
    let rss_idle = procs::status_kib(router.pid(), "VmRSS").unwrap_or(0);

    let mut channels = Vec::with_capacity(args.channels);
    for _ in 0..args.channels {
        channels.push(
            Endpoint::from_shared(format!("http://{}", router.addr))?
                .tcp_nodelay(true)
                .connect_timeout(Duration::from_secs(3))
                .connect()
                .await?,
        );
    }
    let direct = load::Target::ollama_direct(fake.addr);

    // Warm connections, pools and caches on both paths before measuring.
    if args.warmup > 0 {
        let warm_direct = load::run_phase(&direct, 4, args.warmup, true).await?;
        let warm_router = grpc_phase(&channels, 4, args.warmup).await?;
        anyhow::ensure!(
            warm_direct.errors == 0 && warm_router.errors == 0,
            "warm-up failed: {} direct and {} router errors",
            warm_direct.errors,
            warm_router.errors
        );
    }
    let rss_after_warmup = procs::status_kib(router.pid(), "VmRSS").unwrap_or(0);

    let mut results = Vec::new();
    let mut rss_peak = rss_after_warmup.max(rss_idle);
    for (concurrency, requests) in phases {
        let floor = load::run_phase(&direct, concurrency, requests, true).await?;
        let sampler = procs::PeakSampler::start(router.pid(), Duration::from_millis(20));
        let cpu_before = procs::tree_cpu_ticks(router.pid());
        let routed = grpc_phase(&channels, concurrency, requests).await?;
        let cpu_after = procs::tree_cpu_ticks(router.pid());
        let sampled = sampler.stop().await.rss_kb;
        let rss_after = procs::status_kib(router.pid(), "VmRSS").unwrap_or(0);
        let hwm = procs::status_kib(router.pid(), "VmHWM").unwrap_or(0);
        let phase_peak = sampled.max(rss_after);
        rss_peak = rss_peak.max(phase_peak).max(hwm);
        let cpu_seconds = procs::ticks_to_seconds(cpu_after.saturating_sub(cpu_before));
        results.push(json!({
            "concurrency": concurrency,
            "requests": requests,
            "router": side(&routed),
            "direct": side(&floor),
            "overhead_p50_ms": round(routed.percentile_ms(50.0) - floor.percentile_ms(50.0)),
            "overhead_p99_ms": round(routed.percentile_ms(99.0) - floor.percentile_ms(99.0)),
            "router_cpu_ms_per_request": round(cpu_seconds * 1000.0 / routed.ok.max(1) as f64),
            "router_rss_peak_kib": phase_peak,
            "router_vm_hwm_kib": hwm,
        }));
    }
    let fake_stats = fake.stats().await.unwrap_or_default();
    drop(channels);
    router.stop().await;

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let report = json!({
        "machine": { "nproc": cores, "cpu": procs::machine()["cpu"] },
        "tokens": args.tokens,
        "channels": args.channels,
        "router_ready_ms": round(ready_after.as_secs_f64() * 1000.0),
        "router_rss_idle_kib": rss_idle,
        "router_rss_after_warmup_kib": rss_after_warmup,
        "router_rss_peak_kib": rss_peak,
        "phases": results,
        "provider_chat_calls": fake_stats.get("chat"),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// One path's figures in a phase.
fn side(outcome: &load::Outcome) -> serde_json::Value {
    json!({
        "p50_ms": round(outcome.percentile_ms(50.0)),
        "p99_ms": round(outcome.percentile_ms(99.0)),
        "rps": round(outcome.rps()),
        "errors": outcome.errors,
    })
}

/// The `pincer-llm-router` process.
struct Router {
    child: Child,
    addr: SocketAddr,
}

impl Router {
    /// Writes a `models` config pointing an Ollama provider at the fake and starts the router with
    /// NATS off.
    async fn start(bin_dir: &Path, work: &Path, fake: SocketAddr) -> anyhow::Result<Self> {
        let port = crate::stack::free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let config = work.join("router.json5");
        std::fs::write(
            &config,
            format!(
                r#"{{
  models: {{ providers: {{ fake: {{ api: "ollama", baseUrl: "http://{fake}",
    models: [{{ id: "fake-model", contextWindow: 131072 }}] }} }} }},
}}"#
            ),
        )?;
        let child = Command::new(bin_dir.join("pincer-llm-router"))
            .env("PINCER_CONFIG", &config)
            .env("PINCER_LLM_ROUTER_LISTEN", addr.to_string())
            .env("PINCER_NATS_URL", "none")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| {
                anyhow::anyhow!(
                    "cannot start {}: {error}",
                    bin_dir.join("pincer-llm-router").display()
                )
            })?;
        Ok(Self { child, addr })
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Polls the gRPC port until it accepts a connection (the router binds after loading its
    /// config), failing if the process exits or `patience` runs out.
    async fn wait_listening(&mut self, patience: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(started.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("pincer-llm-router exited early: {status}");
            }
            anyhow::ensure!(
                started.elapsed() < patience,
                "pincer-llm-router did not listen on {} within {patience:?}",
                self.addr
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// SIGTERM and wait; dropping the child afterwards SIGKILLs it if it is still running.
    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
    }
}

/// Sends `requests` streaming chats with `concurrency` closed-loop workers spread over `channels`.
async fn grpc_phase(
    channels: &[Channel],
    concurrency: usize,
    requests: usize,
) -> anyhow::Result<load::Outcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for index in 0..concurrency.max(1) {
        let client = LlmRouterClient::new(channels[index % channels.len()].clone());
        let next = Arc::clone(&next);
        workers.push(tokio::spawn(grpc_worker(client, next, requests)));
    }
    let mut outcome = load::Outcome {
        ok: 0,
        errors: 0,
        wall: Duration::ZERO,
        latencies_ms: Vec::with_capacity(requests),
    };
    let mut first_error = None;
    for worker in workers {
        let (ok, errors, latencies, error) = worker.await?;
        outcome.ok += ok;
        outcome.errors += errors;
        outcome.latencies_ms.extend(latencies);
        first_error = first_error.or(error);
    }
    outcome.wall = started.elapsed();
    if let Some(error) = first_error {
        eprintln!(
            "pincer-bench: {} of {requests} router calls failed, first: {error}",
            outcome.errors
        );
    }
    Ok(outcome)
}

fn chat_request() -> pb::ChatRequest {
    pb::ChatRequest {
        model: "fake/fake-model".to_owned(),
        messages: vec![pb::Message {
            role: pb::Role::User as i32,
            content: "hi".to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

async fn grpc_worker(
    mut client: LlmRouterClient<Channel>,
    next: Arc<AtomicUsize>,
    total: usize,
) -> (usize, usize, Vec<f64>, Option<String>) {
    let (mut ok, mut errors, mut latencies, mut first_error) = (0, 0, Vec::new(), None);
    while next.fetch_add(1, Ordering::Relaxed) < total {
        let started = Instant::now();
        let result = async {
            let mut stream = client.chat(chat_request()).await?.into_inner();
            while let Some(event) = stream.message().await? {
                if let Some(pb::chat_event::Event::Done(_)) = event.event {
                    let elapsed = started.elapsed();
                    // Read the trailers so the call ends cleanly (not timed).
                    while stream.message().await?.is_some() {}
                    return Ok(Some(elapsed));
                }
            }
            Ok::<_, tonic::Status>(None)
        }
        .await;
        match result {
            Ok(Some(elapsed)) => {
                ok += 1;
                latencies.push(elapsed.as_secs_f64() * 1000.0);
            }
            Ok(None) => {
                errors += 1;
                first_error.get_or_insert_with(|| "stream ended without Done".to_owned());
            }
            Err(status) => {
                errors += 1;
                first_error.get_or_insert_with(|| status.to_string());
            }
        }
    }
    (ok, errors, latencies, first_error)
}
