//! The typed config: OpenClaw's key names (camelCase in the file), unknown keys rejected.

use serde::{Deserialize, Serialize};

pub mod agents;
pub mod bindings;
pub mod channels;
pub mod gateway;
pub mod mcp;
pub mod memory_search;
pub mod models;
pub mod tool_groups;
pub mod tools;
pub mod web;

/// The whole config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Editor schema hint (`"$schema"`); allowed and ignored.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The gateway service: listener, auth, Control UI, HTTP endpoints.
    #[serde(default)]
    pub gateway: gateway::Gateway,
    /// LLM providers and their models.
    #[serde(default)]
    pub models: models::Models,
    /// Agent defaults and named agents.
    #[serde(default)]
    pub agents: agents::Agents,
    /// Messaging channels.
    #[serde(default)]
    pub channels: channels::Channels,
    /// Tailscale serve/funnel integration.
    #[serde(default)]
    pub tailscale: Tailscale,
    /// Session behaviour.
    #[serde(default)]
    pub session: Session,
    /// Routing of channels, accounts and peers to agents.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bindings: Vec<bindings::Binding>,
    /// Built-in tool policy and `exec` confinement.
    #[serde(default)]
    pub tools: tools::Tools,
    /// MCP servers whose tools agents may call.
    #[serde(default)]
    pub mcp: mcp::Mcp,
    /// Token-protected `/hooks/...` endpoints that start agent runs.
    #[serde(default)]
    pub hooks: Hooks,
    /// The scheduler of jobs (`pincer cron`, the agent's `cron` tool) and heartbeats.
    #[serde(default)]
    pub cron: Cron,
}

/// `hooks`: external triggers (`POST /hooks/agent`, `POST /hooks/wake`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Hooks {
    /// Serve the endpoints (default off).
    #[serde(default)]
    pub enabled: bool,
    /// Bearer token for the hooks; must differ from the gateway token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<crate::Secret>,
    /// URL prefix (default `/hooks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `cron`: the gateway's scheduler (jobs made with `pincer cron`, the Control UI or the agent's
/// `cron` tool, and `agents.defaults.heartbeat`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Cron {
    /// Run the scheduler (default true). Off: jobs are kept but nothing fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How late a firing may still happen after the stack was down, e.g. `"1h"` (the default).
    /// A firing missed by more is recorded as skipped and the job waits for its next time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_grace: Option<String>,
}

/// Missed firings within this still happen when `cron.missedGrace` is unset.
pub const DEFAULT_MISSED_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

impl Cron {
    /// Whether the scheduler runs.
    pub fn enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    /// `missedGrace`, checked at load.
    pub fn missed_grace(&self) -> std::time::Duration {
        self.missed_grace
            .as_deref()
            .and_then(|text| crate::parse_duration(text).ok())
            .unwrap_or(DEFAULT_MISSED_GRACE)
    }
}

/// `tailscale` (or `gateway.tailscale`): publish the gateway with the host's `tailscale` CLI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Tailscale {
    /// `off` (default), `serve` (HTTPS on the tailnet), `funnel` (HTTPS on the internet), or
    /// `on` (older configs' word for `serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TailscaleMode>,
    /// Undo the serve/funnel configuration when the gateway stops (default false: it stays, so
    /// a restart keeps the same URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_on_exit: Option<bool>,
}

/// `tailscale.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TailscaleMode {
    /// No Tailscale automation.
    Off,
    /// `tailscale serve`: the tailnet only, with identity headers.
    Serve,
    /// `tailscale funnel`: the public internet (needs a token or password).
    Funnel,
    /// The seed report's spelling of `serve`.
    On,
}

impl Tailscale {
    /// What the gateway does: `On` reads as `Serve`, unset as `Off`.
    #[must_use]
    pub fn effective_mode(&self) -> TailscaleMode {
        match self.mode {
            None | Some(TailscaleMode::Off) => TailscaleMode::Off,
            Some(TailscaleMode::Serve | TailscaleMode::On) => TailscaleMode::Serve,
            Some(TailscaleMode::Funnel) => TailscaleMode::Funnel,
        }
    }
}

impl Config {
    /// The Tailscale settings in force: `gateway.tailscale` (OpenClaw's place) when set, else
    /// the top-level `tailscale`.
    #[must_use]
    pub fn tailscale(&self) -> &Tailscale {
        self.gateway.tailscale.as_ref().unwrap_or(&self.tailscale)
    }
}

/// `session`: how conversations map to sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Session {
    /// DM session scoping (e.g. `main`, `per-peer`, `per-channel-peer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_scope: Option<String>,
}
