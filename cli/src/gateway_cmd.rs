//! `pincer gateway status|start|stop|restart|logs`: the deployment, with docker compose underneath
//! (the `compose.yml` in this directory; `docker compose` or `docker-compose`, whichever exists).
//!
//! `status` asks the gateway (`/readyz`, and the control plane's `status` for version and uptime)
//! and Docker (each container's health and memory); without Docker it reports the `pincer dev`
//! processes' memory from /proc.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use serde_json::{Value, json};

use crate::output;
use crate::target::{Gateway, exit};

/// The compose command line: `docker compose` (v2) when it works, else `docker-compose` (v1).
fn compose() -> Vec<String> {
    let v2 = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if v2 {
        vec!["docker".to_owned(), "compose".to_owned()]
    } else {
        vec!["docker-compose".to_owned()]
    }
}

fn run_compose(args: &[&str]) -> ExitCode {
    let command = compose();
    let status = Command::new(&command[0])
        .args(&command[1..])
        .args(args)
        .status();
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1)),
        Err(error) => {
            eprintln!(
                "pincer: cannot run {}: {error} (install docker-compose, or use `pincer dev`)",
                command.join(" ")
            );
            ExitCode::from(exit::UNAVAILABLE)
        }
    }
}

/// `pincer gateway start`: `scripts/up.sh` in a Pincer checkout (builds images, waits for health),
/// else `compose up -d`.
pub fn start() -> ExitCode {
    if Path::new("scripts/up.sh").is_file() {
        return match Command::new("bash").arg("scripts/up.sh").status() {
            Ok(status) if status.success() => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        };
    }
    run_compose(&["up", "-d"])
}

/// `pincer gateway stop`.
pub fn stop() -> ExitCode {
    run_compose(&["stop"])
}

/// `pincer gateway restart [SERVICE]`.
pub fn restart(service: Option<&str>) -> ExitCode {
    let mut args = vec!["restart"];
    args.extend(service);
    run_compose(&args)
}

/// `pincer gateway logs [SERVICE] [--follow] [--tail N]`.
pub fn logs(service: Option<&str>, follow: bool, tail: usize) -> ExitCode {
    let tail = tail.to_string();
    let mut args = vec!["logs", "--tail", tail.as_str()];
    if follow {
        args.push("--follow");
    }
    args.extend(service);
    run_compose(&args)
}

fn containers() -> Vec<Value> {
    let mut containers = crate::docker::compose_containers();
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
    let stats = Command::new("docker")
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

fn local_processes() -> Vec<(String, u64)> {
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
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        out.push((name, rss));
    }
    out.sort();
    out
}

/// `pincer gateway status`.
pub async fn status(gateway: &Gateway, json_out: bool) -> ExitCode {
    let ready = fetch_json(&format!("{}/readyz", gateway.base)).await;
    let info = match gateway.connect().await {
        Ok(mut client) => client.call("status", json!({})).await.ok(),
        Err(_) => None,
    };
    let containers = containers();
    let processes = if containers.is_empty() {
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
            "processes": processes.iter().map(|(name, kib)| json!({ "name": name, "rssKib": kib })).collect::<Vec<_>>(),
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
        if !containers.is_empty() {
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
                .map(|(name, kib)| vec![name.clone(), format!("{:.1} MiB", *kib as f64 / 1024.0)])
                .collect();
            output::table(&["PROCESS", "MEMORY"], &rows);
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
