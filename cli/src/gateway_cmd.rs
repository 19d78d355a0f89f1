//! `pincer gateway status|start|stop|restart|logs|install|uninstall`: the deployment, from any
//! directory: systemd units, docker compose with the recorded checkout, or `pincer dev` in the
//! background ([`crate::stack`]); `install` writes the systemd units ([`crate::systemd`]).
//!
//! `status` asks the gateway (`/readyz`, and the control plane's `status` for version and uptime)
//! and systemd (each unit's state and memory) or Docker (each container's health and memory);
//! without either it reports the `pincer dev` processes' memory from /proc.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use crate::output;
use crate::stack::Stack;
use crate::systemd::{Scope, install};
use crate::target::{self, Gateway, exit};

/// `pincer gateway`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer gateway status\n  pincer gateway restart agent-runner\n  pincer gateway logs channel-bridge -f\n  pincer gateway install --user"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    target: target::GatewayArgs,
    /// Print JSON (status).
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Readiness, version, and each service's health and memory.
    Status,
    /// Start the stack and wait until it is ready (docker compose, or pincer dev in the background).
    Start,
    /// Stop the stack (data stays).
    Stop,
    /// Restart the stack or one service.
    Restart {
        /// gateway, agent-runner, llm-router, channel-bridge, tool-host, nats.
        service: Option<String>,
    },
    /// Service logs.
    Logs {
        /// One service.
        service: Option<String>,
        /// Keep following.
        #[arg(long, short)]
        follow: bool,
        /// Lines from the end.
        #[arg(long, default_value_t = 100)]
        tail: usize,
    },
    /// Write hardened systemd units for NATS and the services (and pincer.target), then
    /// daemon-reload and enable them: the stack without Docker.
    Install(InstallArgs),
    /// Stop, disable and remove the systemd units (the data, config and .env stay).
    Uninstall {
        #[command(flatten)]
        scope: ScopeArgs,
    },
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer gateway install --user\n  sudo pincer gateway install --system --bin-dir /usr/local/bin --config /etc/pincer/pincer.json5"
)]
struct InstallArgs {
    #[command(flatten)]
    scope: ScopeArgs,
    /// Where pincer-gateway and the other service binaries are (default: beside this pincer).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// The nats-server (>= 2.10) to run (default: in --bin-dir, $NATS_SERVER_BIN, or on PATH).
    #[arg(long)]
    nats_bin: Option<PathBuf>,
    /// NATS's client port on 127.0.0.1.
    #[arg(long, default_value_t = 4222)]
    nats_port: u16,
    /// The user system units run as (--system).
    #[arg(long, default_value = "pincer")]
    run_as: String,
    /// Only write the files: no daemon-reload, no enable.
    #[arg(long)]
    no_enable: bool,
}

#[derive(clap::Args)]
struct ScopeArgs {
    /// Your own systemd (systemctl --user; units in ~/.config/systemd/user). The default.
    #[arg(long, conflicts_with = "system")]
    user: bool,
    /// The machine's systemd (units in /etc/systemd/system, run as --run-as); needs root.
    #[arg(long)]
    system: bool,
}

impl ScopeArgs {
    fn chosen(&self) -> Option<Scope> {
        if self.system {
            Some(Scope::System)
        } else if self.user {
            Some(Scope::User)
        } else {
            None
        }
    }
}

/// Runs `pincer gateway ...`.
pub async fn run(args: Args) -> ExitCode {
    match args.command {
        Command::Status => match target::resolve_or_exit(&args.target) {
            Ok(gateway) => status(&gateway, &args.target, args.json).await,
            Err(code) => code,
        },
        Command::Install(install_args) => install::install(&install::Request {
            scope: install_args.scope.chosen().unwrap_or(Scope::User),
            bin_dir: install_args.bin_dir,
            nats_bin: install_args.nats_bin,
            nats_port: install_args.nats_port,
            config: args.target.config,
            run_as: install_args.run_as,
            no_enable: install_args.no_enable,
        }),
        Command::Uninstall { scope } => install::uninstall(scope.chosen()),
        command => {
            let stack = match Stack::find(args.target.config.as_deref()) {
                Ok(stack) => stack,
                Err(code) => return code,
            };
            match command {
                Command::Start => stack.start().await,
                Command::Stop => stack.stop().await,
                Command::Restart { service } => stack.restart(service.as_deref()).await,
                Command::Logs {
                    service,
                    follow,
                    tail,
                } => stack.logs(service.as_deref(), follow, tail).await,
                Command::Status | Command::Install(_) | Command::Uninstall { .. } => {
                    ExitCode::SUCCESS
                }
            }
        }
    }
}

fn containers(project: Option<&str>) -> Vec<Value> {
    let mut containers = crate::docker::compose_containers(project);
    let ids: Vec<String> = containers
        .iter()
        .filter_map(|c| c["Id"].as_str().map(str::to_owned))
        .collect();
    containers.retain(|c| {
        c["Config"]["Image"]
            .as_str()
            .is_some_and(|i| i.starts_with("pincer/"))
    });
    if containers.is_empty() {
        return containers;
    }
    let stats = std::process::Command::new("docker")
        .args(["stats", "--no-stream", "--format", "{{.ID}} {{.MemUsage}}"])
        .args(&ids)
        .output();
    let stats = stats
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for container in &mut containers {
        let id = container["Id"].as_str().unwrap_or("").to_owned();
        let memory = stats
            .lines()
            .find(|l| id.starts_with(l.split_whitespace().next().unwrap_or("-")))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?");
        container["pincerMemory"] = json!(memory);
    }
    containers
}

/// The `pincer dev` processes: name, RSS and PSS in KiB. PSS counts a page shared by several
/// processes (the one executable of the services) once in all: their sum is what they take.
fn local_processes() -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let name = status
            .lines()
            .find_map(|l| l.strip_prefix("Name:"))
            .unwrap_or("")
            .trim()
            .to_owned();
        if !(name.starts_with("pincer-") || name == "nats-server") {
            continue;
        }
        let rss = kib_field(&status, "VmRSS:").unwrap_or(0);
        let pss = std::fs::read_to_string(entry.path().join("smaps_rollup"))
            .ok()
            .and_then(|rollup| kib_field(&rollup, "Pss:"))
            .unwrap_or(rss);
        out.push((name, rss, pss));
    }
    out.sort();
    out
}

/// The number of a `<field> <n> kB` line of a `/proc/<pid>` file (`status`, `smaps_rollup`).
fn kib_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// `pincer gateway status`.
async fn status(gateway: &Gateway, target: &target::GatewayArgs, json_out: bool) -> ExitCode {
    let ready = fetch_json(&format!("{}/readyz", gateway.base)).await;
    let info = match gateway.connect().await {
        Ok(mut client) => client.call("status", json!({})).await.ok(),
        Err(_) => None,
    };
    // Only this deployment's containers: other compose projects may run on the machine, and a
    // native stack has none.
    let stack = Stack::find_quietly(target.config.as_deref());
    let units = stack
        .as_ref()
        .and_then(Stack::unit_states)
        .unwrap_or_default();
    let containers = match &stack {
        Some(_) if !units.is_empty() => Vec::new(),
        Some(stack) => match stack.compose_project() {
            Some(project) => containers(Some(&project)),
            None => Vec::new(),
        },
        None => containers(None),
    };
    let processes = if containers.is_empty() && units.is_empty() {
        local_processes()
    } else {
        Vec::new()
    };
    let healthy = ready.as_ref().is_some_and(|r| r["ok"] == true);
    if json_out {
        output::json(&json!({
            "gateway": gateway.base,
            "ready": ready,
            "status": info,
            "containers": containers.iter().map(|c| json!({
                "service": c["Config"]["Labels"]["com.docker.compose.service"],
                "state": c["State"]["Status"],
                "health": c["State"]["Health"]["Status"],
                "memory": c["pincerMemory"],
                "image": c["Config"]["Image"],
            })).collect::<Vec<_>>(),
            "processes": processes.iter().map(|(name, rss, pss)| json!({ "name": name, "rssKib": rss, "pssKib": pss })).collect::<Vec<_>>(),
            "units": units.iter().map(|u| json!({ "unit": u.unit, "state": u.state, "memoryBytes": u.memory })).collect::<Vec<_>>(),
        }));
    } else {
        match &ready {
            Some(report) => {
                let state = if healthy {
                    output::good("ready")
                } else {
                    output::bad("not ready")
                };
                println!("gateway {} {state}", gateway.base);
                for check in ["nats", "llm_router", "agent_runner"] {
                    let ok = report[check]["ok"] == true;
                    let detail = report[check]["error"].as_str().unwrap_or("");
                    println!(
                        "  {:<13} {} {detail}",
                        check.replace('_', "-"),
                        if ok {
                            output::good("ok")
                        } else {
                            output::bad("down")
                        }
                    );
                }
            }
            None => println!("gateway {} {}", gateway.base, output::bad("not reachable")),
        }
        if let Some(info) = &info {
            println!(
                "  version {}  up {}s  {} control connection(s)",
                info["version"].as_str().unwrap_or("?"),
                info["uptimeMs"].as_u64().unwrap_or(0) / 1000,
                info["connections"]
            );
        }
        if !units.is_empty() {
            let rows: Vec<Vec<String>> = units
                .iter()
                .map(|u| {
                    let memory = u.memory.map_or_else(
                        || "-".to_owned(),
                        |bytes| format!("{:.1} MiB", bytes as f64 / 1_048_576.0),
                    );
                    vec![u.unit.clone(), u.state.clone(), memory]
                })
                .collect();
            println!();
            output::table(&["UNIT", "STATE", "MEMORY"], &rows);
        } else if !containers.is_empty() {
            let rows: Vec<Vec<String>> = containers
                .iter()
                .map(|c| {
                    vec![
                        c["Config"]["Labels"]["com.docker.compose.service"]
                            .as_str()
                            .unwrap_or("?")
                            .to_owned(),
                        c["State"]["Status"].as_str().unwrap_or("?").to_owned(),
                        c["State"]["Health"]["Status"]
                            .as_str()
                            .unwrap_or("-")
                            .to_owned(),
                        c["pincerMemory"].as_str().unwrap_or("?").to_owned(),
                        c["Config"]["Image"].as_str().unwrap_or("?").to_owned(),
                    ]
                })
                .collect();
            println!();
            output::table(&["SERVICE", "STATE", "HEALTH", "MEMORY", "IMAGE"], &rows);
        } else if !processes.is_empty() {
            println!();
            let rows: Vec<Vec<String>> = processes
                .iter()
                .map(|(name, rss, pss)| {
                    vec![
                        name.clone(),
                        format!("{:.1} MiB", *pss as f64 / 1024.0),
                        format!("{:.1} MiB", *rss as f64 / 1024.0),
                    ]
                })
                .collect();
            output::table(&["PROCESS", "MEMORY (PSS)", "RSS"], &rows);
        }
    }
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::UNAVAILABLE)
    }
}

/// `GET url` as JSON (any status), plain http.
async fn fetch_json(url: &str) -> Option<Value> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let work = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(authority).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut body = Vec::new();
        stream.read_to_end(&mut body).await.ok()?;
        let text = String::from_utf8_lossy(&body);
        let (_, payload) = text.split_once("\r\n\r\n")?;
        serde_json::from_str(payload.trim()).ok()
    };
    tokio::time::timeout(Duration::from_secs(3), work)
        .await
        .ok()
        .flatten()
}
