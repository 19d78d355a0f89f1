//! `pincer security audit [--json]`: what in this deployment an attacker would use first.
//!
//! Reads the config file (as written, `${VAR}`s unresolved), `.env`, and, when Docker answers, the
//! running Pincer containers. Each finding has a severity, what is wrong and the fix. Exit status
//! is 2 when a critical finding exists (so it can gate a deploy), 1 for high, 0 otherwise.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;
use serde_json::{Value, json};

use crate::output;
use crate::sources::Sources;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Weakens a defence.
    Medium,
    /// Exploitable with some luck or access.
    High,
    /// Exploitable now.
    Critical,
}

/// One finding.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Stable id (`gateway.auth.none`, ...).
    pub id: &'static str,
    /// Severity.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

fn finding(
    id: &'static str,
    severity: Severity,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        id,
        severity,
        message: message.into(),
        fix: fix.into(),
    }
}

/// Why a literal secret is weak, if it is (see [`pincer_config::strength`]).
pub fn weakness(secret: &str) -> Option<String> {
    pincer_config::strength::weakness(secret)
}

/// Loopback (every local process) or a block wider than /24 (IPv4) or /64 (IPv6).
fn proxy_entry_is_broad(entry: &str) -> bool {
    let (address, prefix) = match entry.trim().split_once('/') {
        Some((address, prefix)) => (address, prefix.parse::<u8>().ok()),
        None => (entry.trim(), None),
    };
    match address.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_loopback() || prefix.is_some_and(|p| p < 24),
        Ok(std::net::IpAddr::V6(v6)) => {
            v6.is_loopback()
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
                || prefix.is_some_and(|p| p < 64)
        }
        Err(_) => false,
    }
}

/// Secrets besides the gateway's own token/password that guard a way in, with their key paths.
fn other_secrets(doc: &Value) -> Vec<(String, &Value)> {
    let mut out = vec![
        (
            "gateway.auth.adminToken".to_owned(),
            &doc["gateway"]["auth"]["adminToken"],
        ),
        (
            "gateway.auth.trustedProxy.secret".to_owned(),
            &doc["gateway"]["auth"]["trustedProxy"]["secret"],
        ),
    ];
    if doc["hooks"]["enabled"] == true {
        out.push(("hooks.token".to_owned(), &doc["hooks"]["token"]));
    }
    let telegram = &doc["channels"]["telegram"];
    out.push((
        "channels.telegram.webhookSecret".to_owned(),
        &telegram["webhookSecret"],
    ));
    if let Some(accounts) = telegram["accounts"].as_object() {
        for (id, account) in accounts {
            out.push((
                format!("channels.telegram.accounts.{id}.webhookSecret"),
                &account["webhookSecret"],
            ));
        }
    }
    out.retain(|(_, value)| value.is_string());
    out
}

fn literal(value: &Value) -> Option<&str> {
    value
        .as_str()
        .filter(|s| !pincer_config::redact::is_reference(s) && !s.contains("${"))
}

/// Resolves `${VAR}` from the process environment, then the `.env` files.
fn resolved(value: &Value, sources: &Sources) -> Option<String> {
    let text = value.as_str()?;
    if let Some(name) = text
        .trim()
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
    {
        return sources.lookup(name);
    }
    Some(text.to_owned())
}

/// Findings about the config document (`doc` as written in the file).
pub fn config_findings(doc: &Value, sources: &Sources) -> Vec<Finding> {
    let mut out = Vec::new();
    let gateway = &doc["gateway"];
    let bind = gateway["bind"].as_str().unwrap_or("loopback");
    let loopback = matches!(bind, "loopback" | "localhost" | "127.0.0.1" | "::1");
    let mode =
        gateway["auth"]["mode"]
            .as_str()
            .unwrap_or(if gateway["auth"]["password"].is_string() {
                "password"
            } else {
                "token"
            });
    if mode == "none" {
        if loopback {
            out.push(finding("gateway.auth.none", Severity::High, "gateway.auth.mode is \"none\": any process or user on this host can drive the agent and read every session", "set gateway.auth.mode to \"token\" with a random token"));
        } else {
            out.push(finding("gateway.open", Severity::Critical, format!("the gateway binds {bind} without auth: anyone who reaches the port controls the agent (the gateway refuses to start like this)"), "bind loopback, or set gateway.auth.mode \"token\""));
        }
    }
    if !loopback && mode != "none" {
        out.push(finding(
            "gateway.bind.exposed",
            Severity::Medium,
            format!("the gateway binds {bind}: it is reachable from other machines"),
            "bind loopback and reach it through SSH forwarding or `tailscale serve`",
        ));
    }
    for (key, kind) in [("token", "token"), ("password", "password")] {
        let value = &gateway["auth"][key];
        // Token mode falls back to PINCER_GATEWAY_TOKEN when the file has none.
        let secret = match value {
            Value::Null if kind == "token" => sources.lookup("PINCER_GATEWAY_TOKEN"),
            _ => resolved(value, sources),
        };
        if mode == kind
            && let Some(secret) = secret
            && let Some(why) = weakness(&secret)
        {
            out.push(finding(
                "gateway.auth.weak",
                Severity::High,
                format!("the gateway {kind} is weak: {why}"),
                "generate one: openssl rand -hex 32",
            ));
        }
        if literal(value).is_some() {
            out.push(finding(
                "gateway.auth.inline",
                Severity::Medium,
                format!("gateway.auth.{key} is written in the config file"),
                format!(
                    "move it to .env and write \"${{PINCER_GATEWAY_{}}}\"",
                    key.to_ascii_uppercase()
                ),
            ));
        }
    }
    for (path, value) in other_secrets(doc) {
        if let Some(secret) = resolved(value, sources)
            && let Some(why) = weakness(&secret)
        {
            out.push(finding(
                "secret.weak",
                Severity::High,
                format!("{path} is weak: {why}"),
                "generate one: openssl rand -hex 32",
            ));
        }
    }
    if mode == "trusted-proxy" && !gateway["auth"]["trustedProxy"]["secret"].is_string() {
        let broad: Vec<&str> = gateway["trustedProxies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|entry| proxy_entry_is_broad(entry))
            .collect();
        if !broad.is_empty() {
            out.push(finding(
                "gateway.trustedProxies.broad",
                Severity::High,
                format!("gateway.trustedProxies lists {broad:?} with no proxy secret: any process there may claim to be any user"),
                "set gateway.auth.trustedProxy.secret and have the proxy send it in x-pincer-proxy-secret, or list only the proxy's own address",
            ));
        }
    }
    let ui = &gateway["controlUi"];
    if ui["allowedOrigins"]
        .as_array()
        .is_some_and(|o| o.iter().any(|v| v == "*"))
    {
        out.push(finding(
            "controlUi.origins.wildcard",
            Severity::High,
            "gateway.controlUi.allowedOrigins contains \"*\": any web page may try to sign in",
            "list the exact origins of your dashboard",
        ));
    }
    if ui["allowInsecureAuth"] == true {
        out.push(finding(
            "controlUi.insecureAuth",
            Severity::Medium,
            "allowInsecureAuth: browsers on other machines send the token over plain http",
            "serve the gateway over https (tailscale serve) and turn it off",
        ));
    }
    if ui["dangerouslyDisableDeviceAuth"] == true {
        out.push(finding(
            "controlUi.deviceAuth",
            Severity::Medium,
            "dangerouslyDisableDeviceAuth is on",
            "turn it off",
        ));
    }
    let telegram = &doc["channels"]["telegram"];
    let mut accounts = vec![("telegram".to_owned(), telegram.clone())];
    if let Some(map) = telegram["accounts"].as_object() {
        accounts.extend(
            map.iter()
                .map(|(name, account)| (format!("telegram.accounts.{name}"), account.clone())),
        );
    }
    for (name, account) in &accounts {
        if account["dmPolicy"] == "open"
            || account["allowFrom"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "*"))
        {
            out.push(finding("channels.dm.open", Severity::High, format!("{name}: anyone who finds the bot can talk to your agent (dmPolicy open / allowFrom \"*\")"), "use dmPolicy \"pairing\" or an allowFrom list"));
        }
        if account["groupPolicy"] == "open" {
            out.push(finding(
                "channels.group.open",
                Severity::Medium,
                format!("{name}: any group the bot is added to reaches the agent"),
                "list groups in groups / groupAllowFrom",
            ));
        }
        if literal(&account["botToken"]).is_some() {
            out.push(finding(
                "channels.token.inline",
                Severity::Medium,
                format!("{name}.botToken is written in the config file"),
                "move it to .env and write \"${TELEGRAM_BOT_TOKEN}\"",
            ));
        }
    }
    let exec = &doc["tools"]["exec"];
    if exec["mode"] == "allowlist"
        && exec["allowlist"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "*" || v == "sh" || v == "bash"))
    {
        out.push(finding("tools.exec.wide", Severity::Critical, "tools.exec allows a shell or every command: the model can run anything in the agent's container", "list only the commands the agent needs"));
    }
    let launchers: Vec<&str> = exec["allowlist"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|program| {
            *program != "sh" && *program != "bash" && pincer_config::runs_other_programs(program)
        })
        .collect();
    if exec["mode"] == "allowlist" && !launchers.is_empty() {
        out.push(finding(
            "tools.exec.launcher",
            Severity::High,
            format!(
                "tools.exec.allowlist holds {}, which run other programs (aliases, hooks, -exec, interpreters): exec is then only as narrow as the tool host's confinement",
                launchers.join(", ")
            ),
            "keep them only if the agent needs them; the tool host confines what they start to the workspace, without network",
        ));
    }
    if let Some(servers) = doc["mcp"]["servers"].as_object() {
        for (name, server) in servers {
            if server["allowTools"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == "*"))
            {
                out.push(finding("mcp.tools.wholesale", Severity::Medium, format!("mcp.servers.{name} allows every tool the server offers (now and after its updates)"), "list the tools the agent needs in allowTools"));
            }
        }
    }
    if let Some(providers) = doc["models"]["providers"].as_object() {
        for (name, provider) in providers {
            if literal(&provider["apiKey"]).is_some() {
                out.push(finding(
                    "models.key.inline",
                    Severity::Medium,
                    format!("models.providers.{name}.apiKey is written in the config file"),
                    "move it to .env and reference it as \"${VAR}\"",
                ));
            }
        }
    }
    if doc["hooks"]["enabled"] == true {
        out.push(finding(
            "hooks.enabled",
            Severity::Info,
            "hooks are on: POST /hooks/agent starts agent runs for whoever holds hooks.token",
            "keep hooks.token in .env and rotate it if it leaks",
        ));
    }
    if doc["hooks"]["enabled"] == true
        && doc["hooks"]["token"].is_string()
        && doc["hooks"]["token"] == gateway["auth"]["token"]
    {
        out.push(finding(
            "hooks.token.shared",
            Severity::High,
            "hooks.token is the gateway token",
            "give hooks their own token",
        ));
    }
    out
}

/// Findings about file permissions.
pub fn file_findings(
    config: &Path,
    env_file: &Path,
    config_has_literal_secrets: bool,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    };
    if let Some(bits) = mode(env_file)
        && bits & 0o077 != 0
    {
        out.push(finding(
            "files.env.readable",
            Severity::High,
            format!(
                "{} holds secrets and is readable by others (mode {bits:o})",
                env_file.display()
            ),
            format!(
                "chmod 600 {} (or `pincer doctor --repair`)",
                env_file.display()
            ),
        ));
    }
    if config_has_literal_secrets
        && let Some(bits) = mode(config)
        && bits & 0o044 != 0
    {
        out.push(finding(
            "files.config.readable",
            Severity::High,
            format!(
                "{} contains secrets and is readable by others (mode {bits:o})",
                config.display()
            ),
            format!(
                "chmod 600 {}, or move the secrets to .env",
                config.display()
            ),
        ));
    }
    out
}

/// Findings about the running Pincer containers (`docker inspect`), if Docker answers.
pub fn container_findings() -> Vec<Finding> {
    crate::docker::compose_containers(None)
        .iter()
        .flat_map(inspect_findings)
        .collect()
}

/// Findings for one `docker inspect` entry (Pincer and Ollama containers only).
pub fn inspect_findings(container: &Value) -> Vec<Finding> {
    let mut out = Vec::new();
    let name = container["Name"]
        .as_str()
        .unwrap_or("?")
        .trim_start_matches('/')
        .to_owned();
    let image = container["Config"]["Image"].as_str().unwrap_or("");
    let ollama = image.contains("ollama");
    if !image.starts_with("pincer/") && !ollama && !name.contains("pincer") {
        return out;
    }
    let host = &container["HostConfig"];
    if host["Privileged"] == true {
        out.push(finding(
            "container.privileged",
            Severity::Critical,
            format!("{name} runs privileged"),
            "remove privileged: true",
        ));
    }
    if !ollama {
        if host["ReadonlyRootfs"] != true {
            out.push(finding(
                "container.rootfs.writable",
                Severity::High,
                format!("{name} has a writable root filesystem"),
                "read_only: true (compose.yml does this)",
            ));
        }
        let user = container["Config"]["User"].as_str().unwrap_or("");
        if user.is_empty() || user == "root" || user == "0" || user.starts_with("0:") {
            out.push(finding(
                "container.root",
                Severity::High,
                format!("{name} runs as root"),
                "user: \"65532:65532\"",
            ));
        }
        let drops_all = host["CapDrop"]
            .as_array()
            .is_some_and(|c| c.iter().any(|v| v == "ALL"));
        if !drops_all || host["CapAdd"].as_array().is_some_and(|c| !c.is_empty()) {
            out.push(finding(
                "container.capabilities",
                Severity::High,
                format!("{name} keeps Linux capabilities"),
                "cap_drop: [ALL] and no cap_add",
            ));
        }
        if !host["SecurityOpt"].as_array().is_some_and(|o| {
            o.iter().any(|v| {
                v.as_str()
                    .is_some_and(|s| s.starts_with("no-new-privileges"))
            })
        }) {
            out.push(finding(
                "container.newprivs",
                Severity::Medium,
                format!("{name} may gain privileges (setuid)"),
                "security_opt: [\"no-new-privileges:true\"]",
            ));
        }
    }
    if let Some(ports) = container["NetworkSettings"]["Ports"].as_object() {
        for (port, bindings) in ports {
            for binding in bindings.as_array().into_iter().flatten() {
                let ip = binding["HostIp"].as_str().unwrap_or("");
                let public = ip.is_empty() || ip == "0.0.0.0" || ip == "::";
                if ollama && port.starts_with("11434") {
                    out.push(finding(
                        "ollama.port.published",
                        if public {
                            Severity::Critical
                        } else {
                            Severity::High
                        },
                        format!(
                            "{name} publishes Ollama's API ({port}) on {}",
                            if ip.is_empty() { "all addresses" } else { ip }
                        ),
                        "do not publish 11434; the router reaches Ollama on the internal network",
                    ));
                } else if public {
                    out.push(finding(
                        "container.port.public",
                        Severity::High,
                        format!("{name} publishes {port} on all addresses"),
                        "publish on 127.0.0.1 only (\"127.0.0.1:18789:18789\")",
                    ));
                }
            }
        }
    }
    out
}

/// `pincer security`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer security audit\n  pincer security audit --json && docker-compose up -d   # deploy only without critical/high findings"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Findings with severity; exit 2 on critical, 1 on high (gate a deploy with it).
    Audit {
        /// Config file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The .env file (default: the config's own, then ./.env).
        #[arg(long)]
        env_file: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `pincer security audit`.
pub fn run(args: Args) -> ExitCode {
    let Command::Audit {
        config,
        env_file,
        json,
    } = args.command;
    let sources = Sources::find(config.as_deref()).with_env_file(env_file);
    audit(&sources, json)
}

/// Runs the audit.
fn audit(sources: &Sources, json_out: bool) -> ExitCode {
    let file = sources.config.clone();
    let env_file = sources.main_env_file();
    let doc: Value = match &file {
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| json5::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(doc) => doc,
            Err(error) => {
                eprintln!("pincer: cannot read {}: {error}", path.display());
                return ExitCode::from(crate::target::exit::CONFIG);
            }
        },
        None => json!({}),
    };
    let mut findings = config_findings(&doc, sources);
    let inline = findings.iter().any(|f| f.id.ends_with(".inline"));
    if let Some(path) = &file {
        findings.extend(file_findings(path, &env_file, inline));
    }
    findings.extend(container_findings());
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    let worst = findings.first().map(|f| f.severity);
    if json_out {
        output::json(&json!({
            "config": file.as_ref().map(|p| p.display().to_string()),
            "findings": findings,
            "critical": findings.iter().filter(|f| f.severity == Severity::Critical).count(),
            "high": findings.iter().filter(|f| f.severity == Severity::High).count(),
        }));
    } else if findings.is_empty() {
        println!(
            "{} no findings ({})",
            output::good("ok"),
            file.as_ref()
                .map_or("no config file".to_owned(), |p| p.display().to_string())
        );
    } else {
        for f in &findings {
            let label = match f.severity {
                Severity::Critical => output::bad("CRITICAL"),
                Severity::High => output::bad("high"),
                Severity::Medium => output::warn("medium"),
                Severity::Info => "info".to_owned(),
            };
            println!(
                "{label:>8}  {}  [{}]\n          fix: {}",
                f.message, f.id, f.fix
            );
        }
    }
    match worst {
        Some(Severity::Critical) => ExitCode::from(2),
        Some(Severity::High) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(doc: Value) -> Vec<&'static str> {
        config_findings(
            &doc,
            &Sources {
                config: None,
                env_files: Vec::new(),
            },
        )
        .iter()
        .map(|f| f.id)
        .collect()
    }

    #[test]
    fn the_seed_config_is_clean_but_for_the_placeholder_token() {
        let seed = json!({ "gateway": { "bind": "127.0.0.1", "port": 18789, "auth": { "mode": "token", "token": "your-64-char-hex-token-here" },
            "controlUi": { "allowedOrigins": ["http://localhost:18789"], "allowInsecureAuth": false, "dangerouslyDisableDeviceAuth": false } } });
        assert_eq!(ids(seed), ["gateway.auth.weak", "gateway.auth.inline"]);
        let good = json!({ "gateway": { "auth": { "mode": "token", "token": "${PINCER_GATEWAY_TOKEN}" } } });
        assert!(ids(good).is_empty());
    }

    #[test]
    fn each_risk_is_found() {
        assert_eq!(
            ids(json!({ "gateway": { "bind": "lan", "auth": { "mode": "none" } } })),
            ["gateway.open"]
        );
        assert_eq!(
            ids(json!({ "gateway": { "auth": { "mode": "none" } } })),
            ["gateway.auth.none"]
        );
        assert!(
            ids(json!({ "channels": { "telegram": { "dmPolicy": "open" } } }))
                .contains(&"channels.dm.open")
        );
        assert!(ids(json!({ "channels": { "telegram": { "accounts": { "w": { "allowFrom": ["*"] } } } } })).contains(&"channels.dm.open"));
        assert!(
            ids(json!({ "tools": { "exec": { "mode": "allowlist", "allowlist": ["bash"] } } }))
                .contains(&"tools.exec.wide")
        );
        assert!(
            ids(json!({ "mcp": { "servers": { "x": { "command": "y", "allowTools": ["*"] } } } }))
                .contains(&"mcp.tools.wholesale")
        );
        assert!(
            ids(json!({ "gateway": { "controlUi": { "allowedOrigins": ["*"] } } }))
                .contains(&"controlUi.origins.wildcard")
        );
        assert!(
            ids(json!({ "models": { "providers": { "or": { "apiKey": "sk-or-123" } } } }))
                .contains(&"models.key.inline")
        );
        assert_eq!(
            ids(json!({ "hooks": { "enabled": true, "token": "${HOOKS}" } })),
            ["hooks.enabled"]
        );
    }

    #[test]
    fn containers_are_judged_by_their_inspect_data() {
        let hardened = json!({ "Name": "/pincer_gateway_1", "Config": { "Image": "pincer/gateway:local", "User": "65532:65532" },
            "HostConfig": { "ReadonlyRootfs": true, "CapDrop": ["ALL"], "CapAdd": null, "SecurityOpt": ["no-new-privileges:true"], "Privileged": false },
            "NetworkSettings": { "Ports": { "18789/tcp": [{ "HostIp": "127.0.0.1", "HostPort": "18789" }] } } });
        assert!(inspect_findings(&hardened).is_empty());
        let loose = json!({ "Name": "/pincer_agent-runner_1", "Config": { "Image": "pincer/agent-runner:local", "User": "" },
            "HostConfig": { "ReadonlyRootfs": false, "CapDrop": null, "Privileged": true },
            "NetworkSettings": { "Ports": { "8080/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "8080" }] } } });
        let found: Vec<&str> = inspect_findings(&loose).iter().map(|f| f.id).collect();
        for id in [
            "container.privileged",
            "container.rootfs.writable",
            "container.root",
            "container.capabilities",
            "container.newprivs",
            "container.port.public",
        ] {
            assert!(found.contains(&id), "{id} missing from {found:?}");
        }
        let ollama = json!({ "Name": "/pincer_ollama_1", "Config": { "Image": "ollama/ollama" }, "HostConfig": {},
            "NetworkSettings": { "Ports": { "11434/tcp": [{ "HostIp": "0.0.0.0", "HostPort": "11434" }] } } });
        assert_eq!(inspect_findings(&ollama)[0].id, "ollama.port.published");
    }

    #[test]
    fn weak_hook_webhook_and_admin_secrets_and_broad_proxies_are_found() {
        let found = ids(json!({
            "gateway": { "auth": { "mode": "token", "token": "${PINCER_GATEWAY_TOKEN}", "adminToken": "admin" } },
            "hooks": { "enabled": true, "token": "hook-token" },
            "channels": { "telegram": { "webhookSecret": "tg", "accounts": { "work": { "webhookSecret": "short" } } } }
        }));
        assert_eq!(
            found.iter().filter(|id| **id == "secret.weak").count(),
            4,
            "{found:?}"
        );
        let proxied = |proxies: Value, auth: Value| {
            ids(json!({ "gateway": { "auth": auth, "trustedProxies": proxies } }))
                .contains(&"gateway.trustedProxies.broad")
        };
        let bare = json!({ "mode": "trusted-proxy" });
        assert!(proxied(json!(["127.0.0.1"]), bare.clone()));
        assert!(proxied(json!(["10.0.0.0/8"]), bare.clone()));
        assert!(!proxied(json!(["172.18.0.5"]), bare));
        let with_secret =
            json!({ "mode": "trusted-proxy", "trustedProxy": { "secret": "${PROXY_SECRET}" } });
        assert!(!proxied(json!(["127.0.0.1"]), with_secret));
    }

    #[test]
    fn weak_secrets() {
        assert!(weakness("changeme").is_some());
        assert!(weakness("short").is_some());
        assert!(weakness(&"a".repeat(64)).is_some());
        assert!(
            weakness("3f9c1e0b7a5d4c2e8f6a1b3d5c7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e").is_none()
        );
    }
}
