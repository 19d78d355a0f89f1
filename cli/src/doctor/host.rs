//! Where the stack runs: Docker and the images (compose), or nats-server and the service
//! binaries (native); memory, disk and the gateway's port.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{Check, State, check};
use crate::sources::{Sources, shown};

/// The engine answers and every image of the deployment is built.
pub(super) fn docker_checks(sources: &Sources, checkout: &Path, out: &mut Vec<Check>) {
    match Command::new("docker")
        .arg("info")
        .arg("--format")
        .arg("{{.ServerVersion}}")
        .output()
    {
        Ok(info) if info.status.success() => {
            out.push(check(
                "docker",
                State::Ok,
                format!("engine {}", String::from_utf8_lossy(&info.stdout).trim()),
                "",
            ));
            let missing = crate::compose::missing_images(sources);
            if missing.is_empty() {
                out.push(check(
                    "images",
                    State::Ok,
                    format!(
                        "every pincer/* image is built (tag {})",
                        crate::compose::image_tag(sources)
                    ),
                    "",
                ));
            } else {
                out.push(check(
                    "images",
                    State::Warn,
                    format!("missing: {}", missing.join(", ")),
                    format!(
                        "pincer gateway start builds them ({}/scripts/build-images.sh)",
                        shown(checkout)
                    ),
                ));
            }
        }
        Ok(_) => out.push(check(
            "docker",
            State::Fail,
            "docker is installed but the engine does not answer",
            "start it (systemctl start docker, or dockerd &), or run natively: PINCER_DEPLOY=native",
        )),
        Err(_) => out.push(check(
            "docker",
            State::Fail,
            "docker is not installed",
            "apt-get install docker.io docker-compose (scripts/up.sh does), or run natively: PINCER_DEPLOY=native",
        )),
    }
}

/// What `pincer dev` starts: nats-server and the five service binaries.
pub(super) fn native_checks(out: &mut Vec<Check>) {
    let nats = std::env::var_os("NATS_SERVER_BIN")
        .map(PathBuf::from)
        .filter(|path| path.is_file())
        .or_else(|| on_path("nats-server"));
    match nats {
        Some(path) => out.push(check("nats-server", State::Ok, shown(&path), "")),
        None => out.push(check(
            "nats-server",
            State::Fail,
            "not found (NATS_SERVER_BIN, PATH)",
            "install nats-server >= 2.10 (https://github.com/nats-io/nats-server/releases) or set NATS_SERVER_BIN",
        )),
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    // `pincer dev` runs every service from this one executable when it is beside pincer.
    if let Some(multi_call) = beside
        .as_deref()
        .and_then(crate::executables::multi_call_in)
    {
        out.push(check(
            "services",
            State::Ok,
            format!("every service in {}", shown(&multi_call)),
            "",
        ));
        return;
    }
    let missing: Vec<&str> = [
        "pincer-gateway",
        "pincer-agent-runner",
        "pincer-llm-router",
        "pincer-channel-bridge",
        "pincer-tool-host",
    ]
    .into_iter()
    .filter(|name| {
        !beside.as_ref().is_some_and(|dir| dir.join(name).is_file()) && on_path(name).is_none()
    })
    .collect();
    if missing.is_empty() {
        out.push(check(
            "services",
            State::Ok,
            "every service binary is there",
            "",
        ));
    } else {
        out.push(check(
            "services",
            State::Fail,
            format!("not beside pincer nor on PATH: {}", missing.join(", ")),
            "cargo build --release in the checkout, and keep the binaries beside pincer",
        ));
    }
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// Memory available, against the compose limits when the stack runs in compose.
pub(super) fn memory_check(compose_dir: Option<&Path>, out: &mut Vec<Check>) {
    let available_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    });
    let limits_mib: Option<u64> = compose_dir
        .and_then(|dir| std::fs::read_to_string(dir.join("compose.yml")).ok())
        .map(|t| {
            t.lines()
                .filter_map(|l| l.trim().strip_prefix("mem_limit:"))
                .filter_map(|v| v.trim().trim_end_matches('m').parse::<u64>().ok())
                .sum()
        });
    match (available_kib, limits_mib) {
        (Some(kib), Some(limits)) if kib / 1024 < limits => out.push(check(
            "memory",
            State::Warn,
            format!(
                "{} MiB available, the compose limits add up to {limits} MiB",
                kib / 1024
            ),
            "stop other services or lower the limits; Pincer idles far below its limits",
        )),
        (Some(kib), Some(limits)) => out.push(check(
            "memory",
            State::Ok,
            format!(
                "{} MiB available (compose limits: {limits} MiB)",
                kib / 1024
            ),
            "",
        )),
        (Some(kib), None) => out.push(check(
            "memory",
            State::Ok,
            format!("{} MiB available", kib / 1024),
            "",
        )),
        (None, _) => out.push(check("memory", State::Skip, "/proc/meminfo unreadable", "")),
    }
}

/// Free space where the stack keeps its data.
pub(super) fn disk_check(at: &Path, out: &mut Vec<Check>) {
    match nix::sys::statvfs::statvfs(at) {
        Ok(stat) => {
            let free_mib = stat.blocks_available() * stat.fragment_size() / (1024 * 1024);
            let state = if free_mib < 1024 {
                State::Warn
            } else {
                State::Ok
            };
            out.push(check(
                "disk",
                state,
                format!("{free_mib} MiB free in {}", shown(at)),
                if state == State::Ok {
                    ""
                } else {
                    "free some space: images, NATS data and workspaces need room (docker system prune)"
                },
            ));
        }
        Err(error) => out.push(check("disk", State::Skip, error.to_string(), "")),
    }
}

/// The gateway answers on its port, or the port is free for it.
pub(super) async fn port_check(base: &str, out: &mut Vec<Check>) {
    let address = base
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let url = format!("{base}/healthz");
    match tokio::time::timeout(
        Duration::from_secs(2),
        pincer_lifecycle::probe::http_get_status(&url),
    )
    .await
    {
        Ok(Ok(200)) => out.push(check(
            "gateway port",
            State::Ok,
            format!("the gateway answers on {address}"),
            "",
        )),
        Ok(Ok(status)) => out.push(check(
            "gateway port",
            State::Fail,
            format!("something else answers on {address} (HTTP {status})"),
            "free the port or set PINCER_GATEWAY_PORT",
        )),
        _ => match std::net::TcpListener::bind(address) {
            Ok(_) => out.push(check(
                "gateway port",
                State::Warn,
                format!("nothing listens on {address}: the stack is not up"),
                "pincer gateway start",
            )),
            Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => out.push(check(
                "gateway port",
                State::Fail,
                format!("{address} is taken by another program"),
                "free the port or set PINCER_GATEWAY_PORT",
            )),
            Err(_) => out.push(check(
                "gateway port",
                State::Skip,
                format!("{address} is not on this machine"),
                "",
            )),
        },
    }
}
