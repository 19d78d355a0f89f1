//! What the config asks of the services: the exec allowlist, Telegram accounts, model windows,
//! and, when the stack runs, the tool host and MCP servers as it reports them.

use serde_json::json;

use super::{Check, State, check};

/// An allowlist with programs that run other programs is only as narrow as the confinement.
pub(super) fn exec_check(config: &pincer_config::Config, out: &mut Vec<Check>) {
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
pub(super) async fn tool_checks(
    client: Option<&mut pincer_control_client::ControlClient>,
    out: &mut Vec<Check>,
) {
    let Some(client) = client else {
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
            "pincer gateway logs tool-host",
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
                    "check mcp.servers.{name} (command, url, env) and `pincer gateway logs tool-host`"
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

/// Each enabled Telegram account: polling, or a webhook that Telegram accepts.
pub(super) fn telegram_checks(config: &pincer_config::Config, out: &mut Vec<Check>) {
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

/// A model window below 64K: tool-using agents overflow it.
pub(super) fn window_checks(config: &pincer_config::Config, out: &mut Vec<Check>) {
    for model in config
        .models
        .providers
        .values()
        .flat_map(|p| p.models.iter())
    {
        if let Some(window) = model.context_window
            && window < 65_536
        {
            out.push(check(
                format!("model {}", model.id),
                State::Warn,
                format!("context window {window} is below 64K: tool-using agents overflow it"),
                "pick a model with a larger window or raise contextWindow if the model supports it",
            ));
        }
    }
}
