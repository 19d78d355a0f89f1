//! `pincer doctor [--repair]`: checks what a working deployment needs and says, for each problem,
//! what is wrong and the fix. `--repair` applies the safe fixes (file permissions, a missing `.env`
//! with a fresh token, a missing workspace directory) and says what it changed; it never touches a
//! secret's value or a running service.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::output;

/// A check's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Fine.
    Ok,
    /// Works, but should be fixed.
    Warn,
    /// Broken.
    Fail,
    /// Could not be checked here.
    Skip,
}

/// One check.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Outcome.
    pub state: State,
    /// What was found.
    pub detail: String,
    /// How to fix it (empty when fine).
    pub fix: String,
    /// What `--repair` changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repaired: Option<String>,
}

fn check(
    name: impl Into<String>,
    state: State,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Check {
    Check {
        name: name.into(),
        state,
        detail: detail.into(),
        fix: fix.into(),
        repaired: None,
    }
}

/// Inputs of the checks.
pub struct Options {
    /// Config file.
    pub config: Option<PathBuf>,
    /// `.env`.
    pub env_file: PathBuf,
    /// Apply safe fixes.
    pub repair: bool,
    /// JSON output.
    pub json: bool,
}

fn env_lookup(env_file: &Path) -> impl Fn(&str) -> Option<String> + '_ {
    move |name: &str| {
        std::env::var(name)
            .ok()
            .or_else(|| crate::target::env_file_value(env_file, name))
    }
}

fn docker_checks(out: &mut Vec<Check>) {
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
            let missing: Vec<&str> = [
                "gateway",
                "agent-runner",
                "llm-router",
                "channel-bridge",
                "tool-host",
                "nats",
            ]
            .into_iter()
            .filter(|image| {
                let tag = std::env::var("PINCER_TAG").unwrap_or_else(|_| "local".to_owned());
                !Command::new("docker")
                    .args(["image", "inspect", &format!("pincer/{image}:{tag}")])
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .collect();
            if missing.is_empty() {
                out.push(check(
                    "images",
                    State::Ok,
                    "every pincer/* image is built",
                    "",
                ));
            } else {
                out.push(check(
                    "images",
                    State::Fail,
                    format!("missing: {}", missing.join(", ")),
                    "scripts/build-images.sh (scripts/up.sh runs it)",
                ));
            }
        }
        Ok(_) => out.push(check(
            "docker",
            State::Warn,
            "docker is installed but the engine does not answer",
            "start it (systemctl start docker, or dockerd &); `pincer dev` runs without docker",
        )),
        Err(_) => out.push(check(
            "docker",
            State::Warn,
            "docker is not installed",
            "apt-get install docker.io docker-compose (scripts/up.sh does), or use `pincer dev`",
        )),
    }
}

fn env_file_checks(options: &Options, out: &mut Vec<Check>) {
    let path = &options.env_file;
    let Ok(meta) = std::fs::metadata(path) else {
        let mut found = check(
            ".env",
            State::Warn,
            format!("{} does not exist", path.display()),
            "cp .env.example .env and set PINCER_GATEWAY_TOKEN (openssl rand -hex 32)",
        );
        if options.repair {
            let example = std::fs::read_to_string(".env.example")
                .unwrap_or_else(|_| "PINCER_GATEWAY_TOKEN=change-me\n".to_owned());
            let text: String = example
                .lines()
                .map(|line| {
                    if line.starts_with("PINCER_GATEWAY_TOKEN=") {
                        format!("PINCER_GATEWAY_TOKEN={}", crate::secrets::random_token())
                    } else {
                        line.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n";
            if crate::config_cmd::write_atomically(path, &text).is_ok() {
                found.repaired = Some(format!(
                    "created {} (mode 600) with a new random gateway token",
                    path.display()
                ));
            }
        }
        out.push(found);
        return;
    };
    let bits = meta.permissions().mode() & 0o777;
    if bits & 0o077 != 0 {
        let mut found = check(
            ".env permissions",
            State::Fail,
            format!(
                "{} is mode {bits:o}: other users can read its secrets",
                path.display()
            ),
            format!("chmod 600 {}", path.display()),
        );
        if options.repair
            && std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).is_ok()
        {
            found.repaired = Some(format!("chmod 600 {}", path.display()));
        }
        out.push(found);
    } else {
        out.push(check(
            ".env permissions",
            State::Ok,
            format!("mode {bits:o}"),
            "",
        ));
    }
    match crate::target::env_file_value(path, "PINCER_GATEWAY_TOKEN") {
        Some(token) if crate::audit::weakness(&token).is_none() => {
            out.push(check("gateway token", State::Ok, "set and strong", ""))
        }
        Some(token) => {
            let why = crate::audit::weakness(&token).unwrap_or_default();
            let mut found = check(
                "gateway token",
                State::Fail,
                format!("PINCER_GATEWAY_TOKEN is weak: {why}"),
                "set PINCER_GATEWAY_TOKEN in .env to `openssl rand -hex 32`, then restart the gateway",
            );
            if options.repair && token.to_ascii_lowercase().contains("change-me") {
                // Only the shipped placeholder is replaced: a token someone chose is theirs to change.
                if let Ok(text) = std::fs::read_to_string(path) {
                    let replaced = text.replace(
                        &format!("PINCER_GATEWAY_TOKEN={token}"),
                        &format!("PINCER_GATEWAY_TOKEN={}", crate::secrets::random_token()),
                    );
                    if crate::config_cmd::write_atomically(path, &replaced).is_ok() {
                        found.repaired = Some("replaced the placeholder PINCER_GATEWAY_TOKEN with a random one (restart the gateway)".to_owned());
                    }
                }
            }
            out.push(found);
        }
        None => out.push(check(
            "gateway token",
            State::Warn,
            "PINCER_GATEWAY_TOKEN is not in .env",
            "add PINCER_GATEWAY_TOKEN=$(openssl rand -hex 32)",
        )),
    }
    internal_secrets_check(path, options.repair, out);
}

/// The bus passwords and service tokens compose needs: without them the stack does not start.
fn internal_secrets_check(path: &Path, repair: bool, out: &mut Vec<Check>) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let missing = crate::secrets::missing_lines(&text);
    if missing.is_empty() {
        out.push(check(
            "internal secrets",
            State::Ok,
            "bus passwords and service tokens are set",
            "",
        ));
        return;
    }
    let names: Vec<&str> = missing
        .iter()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    let mut found = check(
        "internal secrets",
        State::Fail,
        format!(
            "{} lacks {}: compose refuses to start without them",
            path.display(),
            names.join(", ")
        ),
        "run scripts/ensure-secrets.sh (scripts/up.sh does), or pincer doctor --repair",
    );
    if repair {
        let mut text = text;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&missing.join("\n"));
        text.push('\n');
        if crate::config_cmd::write_atomically(path, &text).is_ok() {
            found.repaired = Some(format!(
                "generated {} (restart the stack)",
                names.join(", ")
            ));
        }
    }
    out.push(found);
}

async fn provider_checks(config: &pincer_config::Config, out: &mut Vec<Check>) {
    for (name, provider) in &config.models.providers {
        let Some(base) = provider.base_url.as_deref() else {
            continue;
        };
        let url = match provider.api {
            Some(pincer_config::Api::Ollama) => format!("{}/api/tags", base.trim_end_matches('/')),
            _ => format!("{}/models", base.trim_end_matches('/')),
        };
        let probe = pincer_lifecycle::probe::http_get_status(&url);
        match tokio::time::timeout(Duration::from_secs(3), probe).await {
            Ok(Ok(status)) if (200..300).contains(&status) => out.push(check(format!("provider {name}"), State::Ok, format!("{base} answers"), "")),
            Ok(Ok(401 | 403)) => out.push(check(format!("provider {name}"), State::Fail, format!("{base} refuses the request (401/403): the API key is missing or wrong"), format!("check models.providers.{name}.apiKey and its variable in .env"))),
            Ok(Ok(status)) => out.push(check(format!("provider {name}"), State::Warn, format!("{base} answered HTTP {status}"), "check the baseUrl")),
            Ok(Err(error)) if url.starts_with("https://") => out.push(check(format!("provider {name}"), State::Skip, format!("{base}: not probed over https here ({error})"), "")),
            Ok(Err(error)) => out.push(check(format!("provider {name}"), State::Fail, format!("{base} is not reachable: {error}"), "is the provider running, and is baseUrl reachable from this machine (and from the containers)?")),
            Err(_) => out.push(check(format!("provider {name}"), State::Fail, format!("{base} did not answer within 3 s"), "check the address and firewall")),
        }
    }
}

/// An allowlist with programs that run other programs is only as narrow as the confinement.
fn exec_check(config: &pincer_config::Config, out: &mut Vec<Check>) {
    let exec = &config.tools.exec;
    if exec.mode != pincer_config::ExecMode::Allowlist {
        return;
    }
    let launchers: Vec<&str> = exec
        .allowlist
        .iter()
        .map(String::as_str)
        .filter(|program| pincer_config::runs_other_programs(program))
        .collect();
    if launchers.is_empty() {
        out.push(check(
            "exec allowlist",
            State::Ok,
            exec.allowlist.join(", "),
            "",
        ));
    } else {
        out.push(check(
            "exec allowlist",
            State::Warn,
            format!("{} run other programs: exec is only as narrow as the tool host's confinement (workspace only, no network)", launchers.join(", ")),
            "keep them only if the agent needs them (pincer security audit lists them too)",
        ));
    }
}

/// The tool host and every MCP server, as the running stack reports them (the gateway's
/// `health`): a server that is down is named with its last error. Skipped when the stack is
/// not running.
async fn tool_checks(options: &Options, out: &mut Vec<Check>) {
    let args = crate::target::GatewayArgs {
        url: None,
        config: options.config.clone(),
    };
    let Ok(gateway) = crate::target::resolve(&args) else {
        return;
    };
    let Ok(mut client) = gateway.connect().await else {
        out.push(check(
            "tools",
            State::Skip,
            "the stack is not running: tool host and MCP servers not checked",
            "",
        ));
        return;
    };
    let Ok(health) = client.call("health", json!({})).await else {
        return;
    };
    let tools = &health["tools"];
    match tools["host"].as_str() {
        Some("reachable") => out.push(check(
            "tool host",
            State::Ok,
            format!("reachable, {} tools on offer", tools["tools"]),
            "",
        )),
        Some("none") => out.push(check(
            "tool host",
            State::Warn,
            "the agent-runner has no tool host: exec, web and MCP tools are off",
            "set PINCER_TOOL_HOST_URL (compose.yml does)",
        )),
        Some(other) => out.push(check(
            "tool host",
            State::Fail,
            format!("the tool host is {other}"),
            "docker-compose logs tool-host",
        )),
        None => return,
    }
    for server in tools["servers"].as_array().into_iter().flatten() {
        let name = server["name"].as_str().unwrap_or("?");
        let state = server["state"].as_str().unwrap_or("unknown");
        let error = server["lastError"].as_str().unwrap_or("");
        let (level, fix) = match state {
            "connected" => (State::Ok, String::new()),
            "disabled" => (State::Skip, String::new()),
            "starting" => (
                State::Warn,
                "wait for its first start (a first `npx -y`/`uvx` download takes a while)"
                    .to_owned(),
            ),
            _ => (
                State::Fail,
                format!(
                    "check mcp.servers.{name} (command, url, env) and `docker-compose logs tool-host`"
                ),
            ),
        };
        let detail = if error.is_empty() || state == "connected" {
            format!(
                "{state}, {} of {} tools offered",
                server["tools"], server["listed"]
            )
        } else {
            format!("{state}: {error}")
        };
        out.push(check(format!("mcp server {name}"), level, detail, fix));
    }
}

fn memory_check(out: &mut Vec<Check>) {
    let available_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
    });
    let limits_mib: u64 = std::fs::read_to_string("compose.yml")
        .map(|t| {
            t.lines()
                .filter_map(|l| l.trim().strip_prefix("mem_limit:"))
                .filter_map(|v| v.trim().trim_end_matches('m').parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    match available_kib {
        Some(kib) if limits_mib > 0 && kib / 1024 < limits_mib => out.push(check(
            "memory",
            State::Warn,
            format!(
                "{} MiB available, the compose limits add up to {limits_mib} MiB",
                kib / 1024
            ),
            "stop other services or lower the limits; Pincer idles far below its limits",
        )),
        Some(kib) => out.push(check(
            "memory",
            State::Ok,
            format!(
                "{} MiB available (compose limits: {limits_mib} MiB)",
                kib / 1024
            ),
            "",
        )),
        None => out.push(check("memory", State::Skip, "/proc/meminfo unreadable", "")),
    }
}

fn disk_check(out: &mut Vec<Check>) {
    match nix::sys::statvfs::statvfs(".") {
        Ok(stat) => {
            let free_mib = stat.blocks_available() * stat.fragment_size() / (1024 * 1024);
            let state = if free_mib < 1024 {
                State::Warn
            } else {
                State::Ok
            };
            out.push(check("disk", state, format!("{free_mib} MiB free here"), if state == State::Ok { "" } else { "free some space: images, NATS data and workspaces need room (docker system prune)" }));
        }
        Err(error) => out.push(check("disk", State::Skip, error.to_string(), "")),
    }
}

async fn port_check(config: &pincer_config::Config, out: &mut Vec<Check>) {
    let port = crate::target::env_file_value(Path::new(".env"), "PINCER_GATEWAY_PORT")
        .unwrap_or_else(|| config.gateway.port.to_string());
    let url = format!("http://127.0.0.1:{port}/healthz");
    match tokio::time::timeout(
        Duration::from_secs(2),
        pincer_lifecycle::probe::http_get_status(&url),
    )
    .await
    {
        Ok(Ok(200)) => out.push(check(
            "gateway port",
            State::Ok,
            format!("the gateway answers on 127.0.0.1:{port}"),
            "",
        )),
        Ok(Ok(status)) => out.push(check(
            "gateway port",
            State::Fail,
            format!("something else answers on 127.0.0.1:{port} (HTTP {status})"),
            "free the port or set PINCER_GATEWAY_PORT",
        )),
        _ => match std::net::TcpListener::bind(("127.0.0.1", port.parse().unwrap_or(18789))) {
            Ok(_) => out.push(check(
                "gateway port",
                State::Warn,
                format!("nothing listens on 127.0.0.1:{port}: the stack is not up"),
                "scripts/up.sh (or `pincer gateway start`)",
            )),
            Err(_) => out.push(check(
                "gateway port",
                State::Fail,
                format!("127.0.0.1:{port} is taken by another program"),
                "free the port or set PINCER_GATEWAY_PORT",
            )),
        },
    }
}

fn telegram_checks(config: &pincer_config::Config, out: &mut Vec<Check>) {
    let Some(telegram) = &config.channels.telegram else {
        return;
    };
    if !telegram.enabled {
        return;
    }
    for (name, account) in telegram.resolved_accounts(None) {
        let webhook = account
            .webhook_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty());
        if webhook && account.webhook_secret.is_none() {
            out.push(check(
                format!("telegram {name}"),
                State::Fail,
                "webhook mode without webhookSecret: anyone could post updates",
                "set webhookSecret: \"${TELEGRAM_WEBHOOK_SECRET}\"",
            ));
        } else if webhook
            && !account
                .webhook_url
                .as_deref()
                .unwrap_or("")
                .starts_with("https://")
        {
            out.push(check(
                format!("telegram {name}"),
                State::Fail,
                "webhookUrl must be https (Telegram refuses anything else)",
                "put a TLS proxy in front of the gateway",
            ));
        } else {
            out.push(check(format!("telegram {name}"), State::Ok, if webhook { "webhook mode" } else { "long polling (one poller across replicas; a webhook set elsewhere is reported by the bridge as a 409)" }, ""));
        }
    }
}

/// Runs every check.
pub async fn run(options: Options) -> ExitCode {
    let mut checks = Vec::new();
    docker_checks(&mut checks);
    env_file_checks(&options, &mut checks);
    let file = crate::target::config_file(options.config.clone());
    let config = match &file {
        None => {
            checks.push(check("config", State::Fail, "no config file (looked at $PINCER_CONFIG, ./config/pincer.json5, ~/.pincer/pincer.json5)", "pincer onboard, or cp config/pincer.example.json5 config/pincer.json5"));
            None
        }
        Some(path) => {
            let lookup = env_lookup(&options.env_file);
            match pincer_config::load_file(path, &lookup, pincer_config::Scope::All) {
                Ok(config) => {
                    checks.push(check(
                        "config",
                        State::Ok,
                        format!("{} is valid (with .env)", path.display()),
                        "",
                    ));
                    Some(config)
                }
                Err(error) => {
                    checks.push(check(
                        "config",
                        State::Fail,
                        error.to_string(),
                        format!(
                            "fix the key named above (`pincer config validate {}`)",
                            path.display()
                        ),
                    ));
                    None
                }
            }
        }
    };
    if let Some(config) = &config {
        provider_checks(config, &mut checks).await;
        for model in config
            .models
            .providers
            .values()
            .flat_map(|p| p.models.iter())
        {
            if let Some(window) = model.context_window
                && window < 65_536
            {
                checks.push(check(format!("model {}", model.id), State::Warn, format!("context window {window} is below 64K: tool-using agents overflow it"), "pick a model with a larger window or raise contextWindow if the model supports it"));
            }
        }
        telegram_checks(config, &mut checks);
        exec_check(config, &mut checks);
        port_check(config, &mut checks).await;
        tool_checks(&options, &mut checks).await;
    }
    disk_check(&mut checks);
    memory_check(&mut checks);

    let failed = checks
        .iter()
        .filter(|c| c.state == State::Fail && c.repaired.is_none())
        .count();
    if options.json {
        output::json(&json!({ "checks": checks, "failed": failed }));
    } else {
        for c in &checks {
            let label = match c.state {
                State::Ok => output::good("ok"),
                State::Warn => output::warn("warn"),
                State::Fail => output::bad("FAIL"),
                State::Skip => "skip".to_owned(),
            };
            println!("{label:>5}  {}: {}", c.name, c.detail);
            if let Some(done) = &c.repaired {
                println!("       repaired: {done}");
            } else if !c.fix.is_empty() && c.state != State::Ok {
                println!("       fix: {}", c.fix);
            }
        }
        if failed > 0 && !options.repair {
            println!("\n{failed} problem(s); `pincer doctor --repair` fixes the safe ones");
        }
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
