//! `tools`: which built-in tools the agent may use, how `exec` is confined, and the web tools.

use serde::{Deserialize, Serialize};

pub use super::web::{SearchProvider, SsrfPolicy, Web, WebFetch, WebSearch};

/// Default `exec` timeout.
pub const DEFAULT_EXEC_TIMEOUT_SECONDS: u64 = 30;
/// Default cap on the output `exec` hands back to the model.
pub const DEFAULT_EXEC_MAX_OUTPUT_CHARS: usize = 16_000;

/// `tools`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Tools {
    /// Only these tools are offered (names, OpenClaw's `group:` names, `*` wildcards such as
    /// `server__*` for an MCP server's); empty = every built-in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Never offer these tools; wins over `allow`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
    /// The `exec` tool.
    #[serde(default)]
    pub exec: Exec,
    /// `web_fetch` and `web_search`.
    #[serde(default)]
    pub web: Web,
}

/// Programs that run other programs named on their command line or in files the model can write
/// (`sh -c`, `env`, `xargs`, `find -exec`, git aliases and hooks, `rg --pre`, `tar
/// --to-command`, interpreters): on an allowlist, they are exactly as safe as the tool host's
/// confinement, so `pincer security audit` and `pincer doctor` say so.
pub const RUNS_OTHER_PROGRAMS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "fish", "ksh", "env", "xargs", "find", "git", "rg", "tar", "make",
    "python", "python3", "node", "npx", "npm", "uv", "uvx", "pip", "pip3", "perl", "ruby", "awk",
    "gawk", "sed", "ssh", "nice", "timeout", "nohup", "sudo", "busybox", "watch", "parallel",
];

/// Whether `program` (a name or a path) is one of [`RUNS_OTHER_PROGRAMS`].
#[must_use]
pub fn runs_other_programs(program: &str) -> bool {
    let name = program.rsplit('/').next().unwrap_or(program);
    RUNS_OTHER_PROGRAMS.contains(&name)
}

/// `tools.exec.mode`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ExecMode {
    /// No `exec` tool (the default).
    #[default]
    Deny,
    /// `exec` runs only the commands named in `tools.exec.allowlist`.
    Allowlist,
}

/// `tools.exec`: off unless `mode: "allowlist"` names the commands it may run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Exec {
    /// `deny` (default) or `allowlist`.
    #[serde(default)]
    pub mode: ExecMode,
    /// Command names (looked up on `PATH`) or absolute paths that may be run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowlist: Vec<String>,
    /// Seconds before a command is killed.
    #[serde(default = "default_exec_timeout")]
    pub timeout_seconds: u64,
    /// Characters of stdout + stderr handed back to the model; the rest is cut with a marker.
    #[serde(default = "default_exec_output")]
    pub max_output_chars: usize,
    /// Whether commands may open network connections (HTTP and HTTPS ports only). Unset: what
    /// `agents.defaults.sandbox.docker.network` says, else no network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<bool>,
    /// Writable memory a command may use, in MiB.
    #[serde(default = "default_exec_memory")]
    pub memory_mb: u64,
    /// Processes (and threads) a command may start.
    #[serde(default = "default_exec_processes")]
    pub max_processes: u64,
}

impl Default for Exec {
    fn default() -> Self {
        Self {
            mode: ExecMode::Deny,
            allowlist: Vec::new(),
            timeout_seconds: DEFAULT_EXEC_TIMEOUT_SECONDS,
            max_output_chars: DEFAULT_EXEC_MAX_OUTPUT_CHARS,
            network: None,
            memory_mb: DEFAULT_EXEC_MEMORY_MB,
            max_processes: DEFAULT_EXEC_MAX_PROCESSES,
        }
    }
}

/// Default `tools.exec.memoryMb`.
pub const DEFAULT_EXEC_MEMORY_MB: u64 = 512;
/// Default `tools.exec.maxProcesses`.
pub const DEFAULT_EXEC_MAX_PROCESSES: u64 = 64;

fn default_exec_memory() -> u64 {
    DEFAULT_EXEC_MEMORY_MB
}

fn default_exec_processes() -> u64 {
    DEFAULT_EXEC_MAX_PROCESSES
}

fn default_exec_timeout() -> u64 {
    DEFAULT_EXEC_TIMEOUT_SECONDS
}

fn default_exec_output() -> usize {
    DEFAULT_EXEC_MAX_OUTPUT_CHARS
}

impl Tools {
    /// Whether the tool `name` passes `allow`/`deny`: names, OpenClaw's groups (`group:fs`) and
    /// aliases (`bash`), `*` wildcards (see [`super::tool_groups`]).
    #[must_use]
    pub fn permits(&self, name: &str) -> bool {
        let matches = |pattern: &String| super::tool_groups::matches(pattern, name);
        if self.deny.iter().any(matches) {
            return false;
        }
        self.allow.is_empty() || self.allow.iter().any(matches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_is_off_by_default_with_bounded_defaults() {
        let tools: Tools = serde_json::from_str("{}").expect("empty");
        assert_eq!(tools.exec.mode, ExecMode::Deny);
        assert_eq!(tools.exec.timeout_seconds, DEFAULT_EXEC_TIMEOUT_SECONDS);
        let tools: Tools =
            serde_json::from_str(r#"{"exec": {"mode": "allowlist", "allowlist": ["ls"]}}"#)
                .expect("allowlist");
        assert_eq!(tools.exec.allowlist, ["ls"]);
        assert!(serde_json::from_str::<Tools>(r#"{"exec": {"mode": "full"}}"#).is_err());
    }

    #[test]
    fn deny_wins_over_allow_and_wildcards_match_prefixes() {
        let tools = Tools {
            allow: vec!["read".into(), "github__*".into()],
            deny: vec!["github__delete_repo".into()],
            ..Tools::default()
        };
        assert!(tools.permits("read"));
        assert!(tools.permits("github__list_repos"));
        assert!(!tools.permits("github__delete_repo"));
        assert!(!tools.permits("write"));
        assert!(Tools::default().permits("write"));
    }
}
