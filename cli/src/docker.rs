//! The running compose containers, as `docker inspect` describes them (empty when Docker does not
//! answer), for `pincer gateway status` and `pincer security audit`.

use std::process::Command;

use serde_json::Value;

/// Ids of the running containers that compose started.
pub fn compose_container_ids() -> Vec<String> {
    let Ok(ids) = Command::new("docker")
        .args(["ps", "-q", "--filter", "label=com.docker.compose.project"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// `docker inspect` of the running compose containers.
pub fn compose_containers() -> Vec<Value> {
    let ids = compose_container_ids();
    if ids.is_empty() {
        return Vec::new();
    }
    Command::new("docker")
        .arg("inspect")
        .args(&ids)
        .output()
        .ok()
        .and_then(|output| serde_json::from_slice(&output.stdout).ok())
        .unwrap_or_default()
}
