//! `pincer-bench report`: every footprint figure in one run, written as a Markdown table beside its
//! target and the floor (the fake model answering the same load directly).
//!
//! ```text
//! cargo build --release --workspace --bins && scripts/build-images.sh --no-cargo
//! target/release/pincer-bench report --compose --build --out BENCHMARKS.md
//! ```
//!
//! Runs, in order: the whole stack under `pincer dev` (idle and peak memory, latency at one client,
//! turns/s at 8 and 32 clients twice, CPU and bus messages per turn by process); a second stack run
//! of twice 10,000 turns over 1,000 sessions, memory read after each (does the second leave more
//! than the first did?); with `--compose`,
//! `scripts/measure-compose.sh` (the compose deployment from `up` to ready, its memory, a turn
//! answered after its agent-runner was killed); with
//! `--build`, a clean release build of what `scripts/up.sh` builds in a fresh target directory (wall
//! time and the largest compiler process).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{Value, json};

use crate::{StackArgs, round};

/// Flags of `pincer-bench report`.
#[derive(clap::Args)]
pub struct Args {
    /// Where the table goes.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// Turns per throughput phase.
    #[arg(long, default_value_t = 2000)]
    turns: usize,
    /// Turns of the memory-flatness run (spread over `--flat-sessions`).
    #[arg(long, default_value_t = 10_000)]
    flat_turns: usize,
    /// Sessions of the memory-flatness run.
    #[arg(long, default_value_t = 1000)]
    flat_sessions: usize,
    /// Also measure the compose deployment (needs the images: scripts/build-images.sh).
    #[arg(long)]
    compose: bool,
    /// Also time a clean release build of what `scripts/up.sh` builds (minutes).
    #[arg(long)]
    build: bool,
}

/// Seconds of quiet before each memory reading of the flatness run. A service gives back what a
/// burst of turns used after its first quiet 5 s window (`pincer_lifecycle`); the window the load
/// ends in may still count as busy, so that is at most 10 s after the load.
const FLAT_QUIET_SECS: u64 = 12;

pub async fn run(args: Args) -> anyhow::Result<()> {
    let turns = args.turns;
    let stack_args = StackArgs {
        phases: format!("1:{},8:{turns},32:{turns},8:{turns},32:{turns}", turns / 4),
        tokens: 16,
        idle_secs: 5,
        stream: false,
        max_concurrent: 16,
        floor_requests: turns / 4,
        sessions: 0,
        quiet_after_phase_secs: 0,
    };
    eprintln!("report: the stack under load");
    let stack = crate::stack_report(&stack_args).await?;
    eprintln!(
        "report: twice {} turns over {} sessions",
        args.flat_turns, args.flat_sessions
    );
    let flat = crate::stack_report(&StackArgs {
        // Twice the turns, memory read after each: flat is the second reading equal to the first
        // (what a turn leaves behind would grow it), whatever the first kept over the cold start.
        phases: format!("32:{turns},32:{turns}", turns = args.flat_turns),
        quiet_after_phase_secs: FLAT_QUIET_SECS,
        floor_requests: 0,
        sessions: args.flat_sessions,
        idle_secs: FLAT_QUIET_SECS,
        ..stack_args
    })
    .await?;
    let compose = if args.compose {
        eprintln!("report: the compose deployment");
        Some(measure_compose().await?)
    } else {
        None
    };
    let build = if args.build {
        eprintln!("report: a clean release build");
        Some(clean_build().await?)
    } else {
        None
    };
    let raw = json!({ "stack": stack, "flat": flat, "compose": compose, "build": build });
    let markdown = render(&raw);
    std::fs::write(&args.out, &markdown)?;
    eprintln!("report: wrote {}", args.out.display());
    println!("{}", serde_json::to_string_pretty(&raw)?);
    Ok(())
}

async fn measure_compose() -> anyhow::Result<Value> {
    let output = tokio::process::Command::new("scripts/measure-compose.sh")
        .stderr(std::process::Stdio::inherit())
        .output()
        .await?;
    anyhow::ensure!(
        output.status.success(),
        "scripts/measure-compose.sh failed ({})",
        output.status
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// What `scripts/up.sh` builds (the binaries of the images compose.yml runs), in a fresh target
/// directory.
async fn clean_build() -> anyhow::Result<Value> {
    let target = tempfile::tempdir()?;
    let mut command = tokio::process::Command::new("scripts/build-images.sh");
    command
        .args(["--cargo-only", "compose"])
        .env("CARGO_TARGET_DIR", target.path());
    let started = Instant::now();
    let status = command.status().await?;
    let wall = started.elapsed();
    anyhow::ensure!(
        status.success(),
        "scripts/build-images.sh --cargo-only compose failed ({status})"
    );
    // The largest process among the finished children: the biggest rustc (or the linker).
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    Ok(json!({
        "wall_s": round(wall.as_secs_f64()),
        "largest_process_mib": round(usage.max_rss() as f64 / 1024.0),
    }))
}

/// Where idle memory grew between `before` and `after` (process name → MiB): NATS (a Go heap the
/// runtime hands back over minutes) apart from the services, the supervisor left out.
fn growth_by_side(before: &Value, after: &Value) -> String {
    let mib = |of: &Value, name: &str| of[name].as_f64().unwrap_or(0.0);
    let names: Vec<&String> = after
        .as_object()
        .map(|processes| processes.keys().collect())
        .unwrap_or_default();
    let services: f64 = names
        .iter()
        .filter(|name| !["nats-server", "pincer"].contains(&name.as_str()))
        .map(|name| mib(after, name) - mib(before, name))
        .sum();
    format!(
        "nats-server {} → {} MiB, the services {:+} MiB together",
        mib(before, "nats-server"),
        mib(after, "nats-server"),
        round(services)
    )
}

/// The Markdown page.
fn render(raw: &Value) -> String {
    let stack = &raw["stack"];
    let phases = stack["phases"].as_array().cloned().unwrap_or_default();
    let at = |concurrency: u64| -> Vec<&Value> {
        phases
            .iter()
            .filter(|p| p["concurrency"].as_u64() == Some(concurrency))
            .collect()
    };
    let one = at(1);
    let eight = at(8);
    let many = at(32);
    let join = |values: Vec<String>| values.join(" / ");
    let each = |phases: &[&Value], pick: &dyn Fn(&Value) -> String| {
        join(phases.iter().map(|p| pick(p)).collect())
    };
    let num = |v: &Value| v.as_f64().map_or("?".to_owned(), |n| format!("{n}"));

    let mut rows: Vec<[String; 4]> = Vec::new();
    // PSS: the services are processes of one executable (`pincer-services`), whose code RSS
    // would count once per process; summed PSS is what the stack takes from the machine.
    rows.push([
        "idle memory, NATS + services (PSS summed, `pincer dev`; its supervisor excluded)".into(),
        format!(
            "{} MiB ({} MiB RSS summed, {} MiB of it anonymous: the rest is the executables' pages)",
            num(&stack["idle"]["stack_pss_mib"]),
            num(&stack["idle"]["stack_rss_mib"]),
            num(&stack["idle"]["anon_mib"])
        ),
        "≤ 32 MiB".into(),
        String::new(),
    ]);
    let supervisor = stack["idle"]["rss_mib"].as_f64().unwrap_or(0.0)
        - stack["idle"]["stack_rss_mib"].as_f64().unwrap_or(0.0);
    let peak = stack["peak_rss_mib"]
        .as_f64()
        .map(|p| round(p - supervisor));
    rows.push([
        "peak memory under load (PSS summed, supervisor excluded)".into(),
        format!(
            "{} MiB ({} MiB RSS summed)",
            num(&stack["peak_stack_pss_mib"]),
            num(&json!(peak))
        ),
        "≤ 64 MiB".into(),
        String::new(),
    ]);
    if let Some(phase) = one.first() {
        rows.push([
            "per-turn latency p50 / p99, one client".into(),
            format!(
                "{} / {} ms",
                num(&phase["latency_ms"]["p50"]),
                num(&phase["latency_ms"]["p99"])
            ),
            "≤ 2 / ≤ 5 ms".into(),
            format!(
                "{} / {} ms",
                num(&phase["floor"]["latency_ms"]["p50"]),
                num(&phase["floor"]["latency_ms"]["p99"])
            ),
        ]);
    }
    rows.push([
        "turns/s at 8 clients (two runs)".into(),
        each(&eight, &|p| num(&p["turns_per_s"])),
        "≥ 1,000".into(),
        each(&eight, &|p| num(&p["floor"]["turns_per_s"])),
    ]);
    rows.push([
        "turns/s at 32 clients (two runs), p99".into(),
        format!(
            "{}; p99 {} ms",
            each(&many, &|p| num(&p["turns_per_s"])),
            each(&many, &|p| num(&p["latency_ms"]["p99"]))
        ),
        "≥ 1,000, p99 ≤ 50 ms".into(),
        each(&many, &|p| num(&p["floor"]["turns_per_s"])),
    ]);
    rows.push([
        "CPU per turn, whole stack, 8 clients".into(),
        format!("{} ms", each(&eight, &|p| num(&p["stack_cpu_ms_per_turn"]))),
        "≤ 1 ms".into(),
        String::new(),
    ]);
    rows.push([
        "cold start of `pincer dev` to ready (its executables read from disk)".into(),
        format!("{} ms", num(&stack["cold_start_to_ready_ms"])),
        String::new(),
        String::new(),
    ]);
    let flat = &raw["flat"];
    let first = &flat["phases"][0]["idle_after_phase"];
    let second = &flat["phases"][1]["idle_after_phase"];
    let turns = flat["phases"][0]["requests"].as_u64().unwrap_or(0);
    rows.push([
        format!(
            "memory before / after {turns} / after {} turns over {} sessions (idle PSS, {FLAT_QUIET_SECS} s after each)",
            turns * 2,
            flat["sessions"]
        ),
        // Anonymous memory apart from the executables' pages: heaps that grew (most of it NATS's Go
        // heap and JetStream's block buffers) are not code mapped again by turns.
        format!(
            "{} / {} / {} MiB (the first {turns}: {}; the next {turns}: {}; anonymous memory of all processes {} → {} → {} MiB)",
            num(&flat["idle"]["stack_pss_mib"]),
            num(&first["stack_pss_mib"]),
            num(&second["stack_pss_mib"]),
            growth_by_side(&flat["idle"]["pss_by_process_mib"], &first["pss_by_process_mib"]),
            growth_by_side(&first["pss_by_process_mib"], &second["pss_by_process_mib"]),
            num(&flat["idle"]["anon_mib"]),
            num(&first["anon_mib"]),
            num(&second["anon_mib"]),
        ),
        "flat".into(),
        String::new(),
    ]);
    // Read as a `Value`: a key missing from the measurement reads as null instead of panicking.
    let compose = &raw["compose"];
    if compose.is_object() {
        rows.push([
            "`docker-compose up` to ready (images built)".into(),
            format!("{} ms", num(&compose["up_to_ready_ms"])),
            "≤ 3 s".into(),
            String::new(),
        ]);
        // Read after the images' files are dropped from the page cache, as after a reboot: each
        // container is charged the pages of its own binary.
        rows.push([
            "compose idle / peak under 32 clients, the containers' working set (`docker stats`: cgroup usage without inactive page cache) and their processes' PSS (the demo's fake model excluded)".into(),
            format!(
                "working set {} / {} MiB; PSS {} / {} MiB",
                num(&compose["idle_total_mib"]),
                num(&compose["peak_total_mib_under_load"]),
                num(&compose["idle_pss_total_mib"]),
                num(&compose["peak_pss_total_mib_under_load"])
            ),
            "≤ 32 / ≤ 64 MiB".into(),
            String::new(),
        ]);
        // The turns of that load, and the containers that died under it: each has its own memory
        // limit there, which the stack under `pincer dev` does not.
        let load = &compose["load"]["phases"][0];
        rows.push([
            "compose under 32 clients: turns/s, p99, turns that failed, containers restarted"
                .into(),
            format!(
                "{} turns/s, p99 {} ms, {} of {} failed; {}",
                num(&load["turns_per_s"]),
                num(&load["latency_ms"]["p99"]),
                num(&load["errors"]),
                num(&load["requests"]),
                restarts(&compose["restarts_under_load"])
            ),
            "none failed, none restarted".into(),
            String::new(),
        ]);
        let crash = &compose["crash_recovery"];
        let outcome = match crash["error"].as_str() {
            Some(error) => format!("not answered: {error}"),
            None => format!(
                "{} ms after the kill (HTTP {}; {} model calls: the killed one and the one that answered)",
                num(&crash["answered_after_kill_ms"]),
                num(&crash["status"]),
                num(&crash["model_calls"])
            ),
        };
        rows.push([
            "a turn whose agent-runner is killed (SIGKILL) while the model answers is answered (compose restarts the runner)".into(),
            outcome,
            "≤ 10 s".into(),
            String::new(),
        ]);
    }
    if let Some(build) = raw["build"].as_object() {
        rows.push([
            "clean release build of what compose runs (`scripts/up.sh`), 2 cores".into(),
            format!(
                "{} s; largest compiler process {} MiB",
                num(&build["wall_s"]),
                num(&build["largest_process_mib"])
            ),
            "≤ 240 s".into(),
            String::new(),
        ]);
    }

    let mut page = String::new();
    let _ = writeln!(page, "# Benchmarks\n");
    let _ = writeln!(
        page,
        "Written by `target/release/pincer-bench report{}{}` (fake model answering at once, {} words \
         per answer). Machine: {}.\n",
        if raw["compose"].is_null() {
            ""
        } else {
            " --compose"
        },
        if raw["build"].is_null() {
            ""
        } else {
            " --build"
        },
        16,
        machine_line(&stack["machine"]),
    );
    let _ = writeln!(page, "| figure | measured | target | floor (fake alone) |");
    let _ = writeln!(page, "|---|---|---|---|");
    for [figure, measured, target, floor] in &rows {
        let _ = writeln!(page, "| {figure} | {measured} | {target} | {floor} |");
    }
    let _ = writeln!(page, "\n## Where a turn goes (8 clients, first run)\n");
    if let Some(phase) = eight.first() {
        let _ = writeln!(
            page,
            "| process | CPU ms per turn | bus messages in / out per turn | idle RSS / PSS MiB | PSS at the peak, MiB |"
        );
        let _ = writeln!(page, "|---|---|---|---|---|");
        let cpu = phase["cpu_ms_per_turn_by_process"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let bus = &phase["bus_messages_per_turn"]["by_connection"];
        let idle = &stack["idle"]["by_process_mib"];
        let idle_pss = &stack["idle"]["pss_by_process_mib"];
        let peak_pss = &stack["peak_pss_by_process_mib"];
        for (name, ms) in &cpu {
            let messages = connection_of(bus, name)
                .map(|c| format!("{} / {}", num(&c["in"]), num(&c["out"])))
                .unwrap_or_default();
            let _ = writeln!(
                page,
                "| {name} | {} | {messages} | {} / {} | {} |",
                num(ms),
                num(&idle[name]),
                num(&idle_pss[name]),
                num(&peak_pss[name])
            );
        }
        let _ = writeln!(
            page,
            "\nBus messages per turn, all clients: {} published, {} delivered.",
            num(&phase["bus_messages_per_turn"]["published_by_clients"]),
            num(&phase["bus_messages_per_turn"]["delivered_to_clients"]),
        );
    }
    page
}

/// The bus figures of a process (as /proc names it: 15 characters) by its NATS connection name
/// (`gateway` or `pincer-llm-router`).
fn connection_of<'a>(bus: &'a Value, process: &str) -> Option<&'a Value> {
    if !process.starts_with("pincer-") {
        return None;
    }
    bus.as_object()?.iter().find_map(|(name, figures)| {
        let full = format!("pincer-{}", name.trim_start_matches("pincer-"));
        full.starts_with(process).then_some(figures)
    })
}

fn machine_line(machine: &Value) -> String {
    machine
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k} {}", v.as_str().map_or(v.to_string(), str::to_owned)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// "none restarted", or which containers were restarted how often (`{"name": count}`).
fn restarts(counts: &Value) -> String {
    let named: Vec<String> = counts
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, count)| format!("{name} ×{}", count.as_u64().unwrap_or(0)))
        .collect();
    if named.is_empty() {
        "none restarted".into()
    } else {
        format!("restarted: {}", named.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_restart_reads_as_none_whether_the_counts_are_empty_or_missing() {
        assert_eq!(restarts(&json!({})), "none restarted");
        assert_eq!(restarts(&Value::Null), "none restarted");
    }

    #[test]
    fn the_compose_rows_give_both_memory_readings_and_how_many_turns_failed() {
        let raw = json!({
            "stack": {},
            "flat": {},
            "compose": {
                "load": { "phases": [{
                    "turns_per_s": 144.59, "errors": 207, "requests": 3200,
                    "latency_ms": { "p99": 4000.322 },
                }] },
                "crash_recovery": {},
                "restarts_under_load": { "pincer-measure_fake-provider_1": 7 },
                "idle_total_mib": 40.3, "peak_total_mib_under_load": 63.0,
                "idle_pss_total_mib": 50.2, "peak_pss_total_mib_under_load": 77.1,
            },
        });
        let page = render(&raw);
        assert!(
            page.contains("| working set 40.3 / 63 MiB; PSS 50.2 / 77.1 MiB | ≤ 32 / ≤ 64 MiB |"),
            "{page}"
        );
        assert!(
            page.contains("| compose under 32 clients: turns/s, p99, turns that failed, containers restarted | 144.59 turns/s, p99 4000.322 ms, 207 of 3200 failed; restarted: pincer-measure_fake-provider_1 ×7 | none failed, none restarted |"),
            "{page}"
        );
    }
}
