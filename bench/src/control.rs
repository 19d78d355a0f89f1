//! `pincer-bench control`: the gateway's control WebSocket.
//!
//! - Idle connections: `--idle N` signed-in sockets held open; the gateway's RSS before and after
//!   gives KiB per connection (and connections per MiB).
//! - Fan-out: `--clients N` sockets each send one `chat.send` at once, `--rounds` times; every
//!   streamed `chat` event is counted until each run's final event: events per second delivered.
//! - Overhead: one turn at a time through `chat.send` (to its final event), through
//!   `/v1/chat/completions`, and straight to the fake provider.

use std::time::{Duration, Instant};

use pincer_control_client::{ALL_SCOPES, ControlClient};
use serde_json::json;

use crate::{load, procs, round, stack};

/// Flags of `pincer-bench control`.
#[derive(clap::Args)]
pub struct Args {
    /// Idle signed-in connections to hold.
    #[arg(long, default_value_t = 1000)]
    idle: usize,
    /// Clients streaming at once in the fan-out phase.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Fan-out rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Words per fake reply (one streamed event each).
    #[arg(long, default_value_t = 32)]
    tokens: u32,
    /// Sequential turns for the overhead comparison.
    #[arg(long, default_value_t = 200)]
    turns: usize,
}

fn gateway_rss(dev: &stack::Dev) -> u64 {
    procs::tree_memory_of(dev.pid(), "pincer-gateway")
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let bin_dir = crate::bin_dir()?;
    let fake = stack::Fake::start(&bin_dir, args.tokens).await?;
    let work = tempfile::tempdir()?;
    let mut dev = stack::Dev::start(&bin_dir, work.path(), fake.addr, 128).await?;
    dev.wait_ready(Duration::from_secs(30)).await?;
    let url = format!("ws://{}/ws", dev.gateway_addr);

    // Warm every path once.
    let mut warm = ControlClient::connect(&url, stack::TOKEN, &ALL_SCOPES)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    chat_once(&mut warm, "warm").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Idle connections per MiB.
    let before_kib = gateway_rss(&dev);
    let mut idle = Vec::with_capacity(args.idle);
    for _ in 0..args.idle {
        idle.push(
            ControlClient::connect(&url, stack::TOKEN, &["operator.read"])
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_kib = gateway_rss(&dev);
    let per_connection_kib = after_kib.saturating_sub(before_kib) as f64 / args.idle.max(1) as f64;
    drop(idle);

    // Fan-out: N clients streaming at once.
    let mut clients = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        clients.push(
            ControlClient::connect(&url, stack::TOKEN, &ALL_SCOPES)
                .await
                .map_err(|e| anyhow::anyhow!("{e:?}"))?,
        );
    }
    let sampler = procs::PeakSampler::start(dev.pid(), Duration::from_millis(50));
    let mut rounds = Vec::new();
    for round_index in 0..args.rounds {
        let started = Instant::now();
        let tasks: Vec<_> = clients
            .drain(..)
            .enumerate()
            .map(|(index, mut client)| {
                tokio::spawn(async move {
                    let events =
                        chat_once(&mut client, &format!("fan-{round_index}-{index}")).await;
                    (client, events)
                })
            })
            .collect();
        let mut events = 0usize;
        for task in tasks {
            let (client, counted) = task.await?;
            events += counted?;
            clients.push(client);
        }
        let wall = started.elapsed();
        rounds.push(json!({
            "events": events,
            "seconds": round(wall.as_secs_f64()),
            "events_per_s": round(events as f64 / wall.as_secs_f64()),
        }));
    }
    let peak_kib = sampler.stop().await.rss_kb;
    drop(clients);

    // One turn at a time: control socket, HTTP API, the fake alone.
    let mut socket_ms = Vec::with_capacity(args.turns);
    for index in 0..args.turns {
        let started = Instant::now();
        chat_once(&mut warm, &format!("seq-{index}")).await?;
        socket_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let http = load::run_phase(
        &load::Target::gateway(dev.gateway_addr, stack::TOKEN),
        1,
        args.turns,
        true,
    )
    .await?;
    let direct =
        load::run_phase(&load::Target::ollama_direct(fake.addr), 1, args.turns, true).await?;
    let socket = load::Outcome {
        ok: args.turns,
        errors: 0,
        wall: Duration::ZERO,
        latencies_ms: socket_ms,
    };
    dev.stop().await;

    let report = json!({
        "machine": procs::machine(),
        "idle_connections": {
            "connections": args.idle,
            "gateway_rss_mib": { "before": round(before_kib as f64 / 1024.0), "after": round(after_kib as f64 / 1024.0) },
            "kib_per_connection": round(per_connection_kib),
            "connections_per_mib": round(1024.0 / per_connection_kib.max(0.01)),
        },
        "fan_out": { "clients": args.clients, "words_per_reply": args.tokens, "rounds": rounds, "stack_peak_rss_mib": round(peak_kib as f64 / 1024.0) },
        "one_turn_at_a_time_ms": {
            "control_socket_chat_send": socket.summary(),
            "http_chat_completions_stream": http.summary(),
            "fake_provider_direct_stream": direct.summary(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Sends one message and reads its `chat` events to the end; returns how many arrived.
async fn chat_once(client: &mut ControlClient, session: &str) -> anyhow::Result<usize> {
    let sent = client
        .call("chat.send", json!({ "sessionKey": session, "message": "Reply with a short greeting.", "idempotencyKey": session }))
        .await
        .map_err(|e| anyhow::anyhow!("chat.send: {e}"))?;
    let run = sent["runId"].clone();
    let mut events = 0;
    loop {
        let event = client
            .event("chat")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if event["payload"]["runId"] != run {
            continue;
        }
        events += 1;
        match event["payload"]["state"].as_str() {
            Some("delta") => {}
            Some("final") => return Ok(events),
            other => anyhow::bail!("run ended with {other:?}: {event}"),
        }
    }
}
