//! The running compose containers, as `docker inspect` describes them (empty when Docker does not
//! answer), for `pincer gateway status` and `pincer security audit`.

use std::process::Command;

use serde_json::Value;

/// Ids of the running containers that compose started (of `project` only, when given).
pub fn compose_container_ids(project: Option<&str>) -> Vec<String> {
    let label = match project {
        Some(project) => format!("label=com.docker.compose.project={project}"),
        None => "label=com.docker.compose.project".to_owned(),
    };
    let Ok(ids) = Command::new("docker")
        .args(["ps", "-q", "--filter", &label])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&ids.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// `docker inspect` of the running compose containers (of `project` only, when given).
pub fn compose_containers(project: Option<&str>) -> Vec<Value> {
    let ids = compose_container_ids(project);
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
