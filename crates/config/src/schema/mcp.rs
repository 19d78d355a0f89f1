//! `mcp`: Model Context Protocol servers whose tools agents may call (`mcp.servers.<name>`).
//!
//! A server is either a stdio child process (`command`, `args`, `env`, `cwd`) or a streamable HTTP
//! endpoint (`url`, `headers`). Its tools are offered as `<name>__<tool>`, and only the ones
//! `allowTools` (or OpenClaw's `toolFilter.include`) names: nothing is offered by default.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// Default `mcp.servers.<name>.timeoutSeconds` (per tool call).
pub const DEFAULT_MCP_TIMEOUT_SECONDS: u64 = 30;

/// `mcp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mcp {
    /// Servers by name; the name prefixes their tools (`<name>__<tool>`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub servers: BTreeMap<String, McpServer>,
}

/// `mcp.servers.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct McpServer {
    /// Program to run as a stdio server (looked up on `PATH`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Its environment variables. The runner's own environment is not passed on, except `PATH`,
    /// `HOME`, the locale, the time zone and proxy settings.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, Secret>,
    /// Its working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Endpoint of a streamable HTTP server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP headers sent with every request (e.g. `Authorization`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// Seconds one tool call may take before it is cancelled.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    /// `false` keeps the entry without starting the server.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Tools offered to agents: names, `prefix*`, or `["*"]` for all. Empty: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_tools: Vec<String>,
    /// OpenClaw's filter: `include` adds to `allowTools`, `exclude` wins over both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_filter: Option<ToolFilter>,
    /// What a stdio server's process may reach beyond its own state directory.
    #[serde(default, skip_serializing_if = "McpSandbox::is_default")]
    pub sandbox: McpSandbox,
}

/// `mcp.servers.<name>.sandbox`: the confinement of a stdio server. It always gets its own state
/// directory (its `HOME`: package caches, its files) and read-only system paths; never the config
/// file, the services' secrets, other processes or the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct McpSandbox {
    /// Outbound TCP connections (to `allowPorts`); `false`: no network at all.
    #[serde(default = "enabled")]
    pub network: bool,
    /// TCP ports it may connect to while `network` is on.
    #[serde(default = "default_ports")]
    pub allow_ports: Vec<u16>,
    /// More paths it may read and write (e.g. the directories a filesystem server serves).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub writable_paths: Vec<String>,
    /// More paths it may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub readable_paths: Vec<String>,
    /// Writable memory, in MiB.
    #[serde(default = "default_memory")]
    pub memory_mb: u64,
    /// Processes and threads.
    #[serde(default = "default_processes")]
    pub max_processes: u64,
}

/// Default `mcp.servers.<name>.sandbox.allowPorts`: HTTPS, HTTP and DNS over TCP.
pub const DEFAULT_MCP_PORTS: [u16; 3] = [443, 80, 53];

fn default_ports() -> Vec<u16> {
    DEFAULT_MCP_PORTS.to_vec()
}

fn default_memory() -> u64 {
    1024
}

fn default_processes() -> u64 {
    128
}

impl Default for McpSandbox {
    fn default() -> Self {
        Self {
            network: true,
            allow_ports: default_ports(),
            writable_paths: Vec::new(),
            readable_paths: Vec::new(),
            memory_mb: default_memory(),
            max_processes: default_processes(),
        }
    }
}

impl McpSandbox {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// `mcp.servers.<name>.toolFilter`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ToolFilter {
    /// Tools offered (same patterns as `allowTools`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Tools never offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

impl Default for McpServer {
    fn default() -> Self {
        Self {
            command: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            cwd: None,
            url: None,
            headers: BTreeMap::new(),
            timeout_seconds: DEFAULT_MCP_TIMEOUT_SECONDS,
            enabled: true,
            allow_tools: Vec::new(),
            tool_filter: None,
            sandbox: McpSandbox::default(),
        }
    }
}

fn default_timeout() -> u64 {
    DEFAULT_MCP_TIMEOUT_SECONDS
}

fn enabled() -> bool {
    true
}

/// How to reach a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McpTransport<'a> {
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio {
        /// Program.
        command: &'a str,
        /// Arguments.
        args: &'a [String],
        /// Extra environment.
        env: &'a BTreeMap<String, Secret>,
        /// Working directory.
        cwd: Option<&'a str>,
    },
    /// A streamable HTTP endpoint.
    Http {
        /// Endpoint URL.
        url: &'a str,
        /// Headers for every request.
        headers: &'a BTreeMap<String, Secret>,
    },
}

/// What is wrong with one server entry; `key` is relative to `mcp.servers.<name>` (empty for the
/// entry itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ServerProblem {
    /// Key under the entry (`url`, `headers.X-Token`, ...), or empty.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl ServerProblem {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The full key path of the problem for the server `name`.
    #[must_use]
    pub fn path(&self, name: &str) -> String {
        if self.key.is_empty() {
            format!("mcp.servers.{name}")
        } else {
            format!("mcp.servers.{name}.{}", self.key)
        }
    }
}

/// Whether `name` may name a server: `[A-Za-z0-9_-]+`, since it becomes part of tool names.
#[must_use]
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether servers `a` and `b` would offer tools under the same names: `<name>__<tool>` no longer
/// says where one's name ends when the other's is it plus `__...` (`x` and `x__y`) or plus `_`
/// (`x` and `x_`, against a tool named `_t`).
fn names_clash(a: &str, b: &str) -> bool {
    let extends = |short: &str, long: &str| {
        long.strip_prefix(short)
            .is_some_and(|rest| rest.starts_with("__") || rest == "_")
    };
    extends(a, b) || extends(b, a)
}

impl McpServer {
    /// Per-call time limit.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.max(1))
    }

    /// Whether the server's tool `tool` may be offered: named by `allowTools` or
    /// `toolFilter.include` (exact, `prefix*` or `*`) and not by `toolFilter.exclude`.
    #[must_use]
    pub fn permits_tool(&self, tool: &str) -> bool {
        let matches = |pattern: &String| match pattern.strip_suffix('*') {
            Some(prefix) => tool.starts_with(prefix),
            None => pattern == tool,
        };
        let (include, exclude) = self
            .tool_filter
            .as_ref()
            .map_or((&[][..], &[][..]), |f| (&f.include[..], &f.exclude[..]));
        if exclude.iter().any(matches) {
            return false;
        }
        self.allow_tools.iter().any(matches) || include.iter().any(matches)
    }

    /// The transport, or the first problem with the entry.
    pub fn transport(&self) -> Result<McpTransport<'_>, ServerProblem> {
        match (&self.command, &self.url) {
            (Some(_), Some(_)) => Err(ServerProblem::new(
                "",
                "`command` and `url` are both set; a server is either stdio (`command`) or streamable HTTP (`url`)",
            )),
            (None, None) => Err(ServerProblem::new(
                "",
                "set `command` (a stdio server) or `url` (a streamable HTTP server)",
            )),
            (Some(command), None) => self.stdio(command),
            (None, Some(url)) => self.http(url),
        }
    }

    fn stdio<'a>(&'a self, command: &'a str) -> Result<McpTransport<'a>, ServerProblem> {
        if command.trim().is_empty() {
            return Err(ServerProblem::new("command", "must not be empty"));
        }
        if !self.headers.is_empty() {
            return Err(ServerProblem::new(
                "headers",
                "only HTTP servers (`url`) take `headers`; pass settings to a stdio server with `env`",
            ));
        }
        if let Some(key) = self
            .env
            .keys()
            .find(|key| key.is_empty() || key.contains(['=', '\0']))
        {
            return Err(ServerProblem::new(
                format!("env.{key}"),
                "environment variable names must be non-empty without `=`",
            ));
        }
        if let Some((key, _)) = self
            .env
            .iter()
            .find(|(_, value)| value.expose().contains('\0'))
        {
            return Err(ServerProblem::new(
                format!("env.{key}"),
                "the value contains a NUL character",
            ));
        }
        for (key, paths) in [
            ("writablePaths", &self.sandbox.writable_paths),
            ("readablePaths", &self.sandbox.readable_paths),
        ] {
            if let Some(path) = paths.iter().find(|path| !path.starts_with('/')) {
                return Err(ServerProblem::new(
                    format!("sandbox.{key}"),
                    format!("{path:?} is not an absolute path"),
                ));
            }
        }
        self.check_timeout()?;
        Ok(McpTransport::Stdio {
            command,
            args: &self.args,
            env: &self.env,
            cwd: self.cwd.as_deref(),
        })
    }

    fn http<'a>(&'a self, url: &'a str) -> Result<McpTransport<'a>, ServerProblem> {
        let scheme_ok = ["http://", "https://"].iter().any(|scheme| {
            url.get(..scheme.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(scheme))
                && url.len() > scheme.len()
        });
        if !scheme_ok {
            return Err(ServerProblem::new(
                "url",
                // The URL is not echoed: some services put a key in it.
                "expected an http:// or https:// URL",
            ));
        }
        for (key, set) in [
            ("args", !self.args.is_empty()),
            ("env", !self.env.is_empty()),
            ("cwd", self.cwd.is_some()),
        ] {
            if set {
                return Err(ServerProblem::new(
                    key,
                    format!("only stdio servers (`command`) take `{key}`"),
                ));
            }
        }
        for (name, value) in &self.headers {
            if !valid_header_name(name) {
                return Err(ServerProblem::new(
                    format!("headers.{name}"),
                    "not a valid HTTP header name",
                ));
            }
            if value
                .expose()
                .bytes()
                .any(|b| b < b' ' && b != b'\t' || b == 0x7f)
            {
                return Err(ServerProblem::new(
                    format!("headers.{name}"),
                    "the value contains control characters",
                ));
            }
        }
        self.check_timeout()?;
        Ok(McpTransport::Http {
            url,
            headers: &self.headers,
        })
    }

    fn check_timeout(&self) -> Result<(), ServerProblem> {
        if self.timeout_seconds == 0 {
            return Err(ServerProblem::new("timeoutSeconds", "must be at least 1"));
        }
        Ok(())
    }
}

/// RFC 9110 `token`.
fn valid_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Mcp {
    /// The first problem of any server: `(key path, message)`.
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        for (name, server) in &self.servers {
            if !valid_server_name(name) {
                return Err((
                    format!("mcp.servers.{name}"),
                    "server names may only contain A-Z, a-z, 0-9, `_` and `-` (they prefix tool names as `<name>__<tool>`)".into(),
                ));
            }
            if let Some(other) = self.servers.keys().find(|other| names_clash(name, other)) {
                return Err((
                    format!("mcp.servers.{name}"),
                    format!(
                        "its tools would be named like those of server `{other}` (`<name>__<tool>` no longer says which server a tool is); rename one of them"
                    ),
                ));
            }
            if let Err(problem) = server.transport() {
                return Err((problem.path(name), problem.message));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn server(value: serde_json::Value) -> McpServer {
        serde_json::from_value(value).expect("well-typed")
    }

    #[test]
    fn defaults_deny_every_tool_and_bound_calls() {
        let stdio = server(json!({"command": "npx"}));
        assert_eq!(stdio.timeout(), Duration::from_secs(30));
        assert!(stdio.enabled);
        assert!(!stdio.permits_tool("read_file"));
        assert_eq!(
            stdio.transport(),
            Ok(McpTransport::Stdio {
                command: "npx",
                args: &[],
                env: &BTreeMap::new(),
                cwd: None
            })
        );
    }

    #[test]
    fn allow_lists_filters_and_wildcards() {
        let listed = server(json!({"command": "x", "allowTools": ["echo", "get_*"]}));
        assert!(listed.permits_tool("echo") && listed.permits_tool("get_time"));
        assert!(!listed.permits_tool("secret"));
        let all = server(json!({"command": "x", "allowTools": ["*"]}));
        assert!(all.permits_tool("secret"));
        let filtered = server(
            json!({"command": "x", "toolFilter": {"include": ["*"], "exclude": ["secret"]}}),
        );
        assert!(filtered.permits_tool("echo") && !filtered.permits_tool("secret"));
        let excluded = server(
            json!({"command": "x", "allowTools": ["secret"], "toolFilter": {"exclude": ["sec*"]}}),
        );
        assert!(!excluded.permits_tool("secret"));
        let only_exclude = server(json!({"command": "x", "toolFilter": {"exclude": ["a"]}}));
        assert!(!only_exclude.permits_tool("b"), "deny by default");
    }

    #[test]
    fn exactly_one_transport_and_keys_that_fit_it() {
        let problem = |value| server(value).transport().expect_err("invalid");
        let both = problem(json!({"command": "x", "url": "http://h/mcp"}));
        assert_eq!(both.path("s"), "mcp.servers.s");
        assert!(both.message.contains("both set"), "{}", both.message);
        let neither = problem(json!({"args": ["a"]}));
        assert!(
            neither.message.contains("set `command`"),
            "{}",
            neither.message
        );
        assert_eq!(
            problem(json!({"url": "ftp://h"})).path("s"),
            "mcp.servers.s.url"
        );
        assert_eq!(
            problem(json!({"url": "http://h", "args": ["a"]})).path("s"),
            "mcp.servers.s.args"
        );
        assert_eq!(
            problem(json!({"command": "x", "headers": {"A": "b"}})).path("s"),
            "mcp.servers.s.headers"
        );
        assert_eq!(
            problem(json!({"url": "http://h", "headers": {"Bad Name": "b"}})).path("s"),
            "mcp.servers.s.headers.Bad Name"
        );
        assert_eq!(
            problem(json!({"command": "x", "timeoutSeconds": 0})).path("s"),
            "mcp.servers.s.timeoutSeconds"
        );
        let http =
            server(json!({"url": "https://h/mcp", "headers": {"Authorization": "Bearer t"}}));
        assert!(matches!(
            http.transport(),
            Ok(McpTransport::Http {
                url: "https://h/mcp",
                ..
            })
        ));
    }

    #[test]
    fn server_names_are_tool_prefixes() {
        assert!(valid_server_name("git-hub_2"));
        assert!(names_clash("x", "x__y") && names_clash("x_", "x") && !names_clash("x", "x_y"));
        assert!(!names_clash("a__b", "c") && !names_clash("x", "xy"));
        for bad in ["", "a b", "a.b", "ü", "a/b"] {
            assert!(!valid_server_name(bad), "{bad}");
        }
        let mcp: Mcp = serde_json::from_value(json!({"servers": {"a.b": {"command": "x"}}}))
            .expect("well-typed");
        let (path, message) = mcp.check().expect_err("bad name");
        assert_eq!(path, "mcp.servers.a.b");
        assert!(message.contains("A-Z"), "{message}");
    }

    #[test]
    fn secrets_never_print() {
        let http =
            server(json!({"url": "http://h", "headers": {"Authorization": "Bearer s3cr3t"}}));
        let stdio = server(json!({"command": "x", "env": {"TOKEN": "s3cr3t"}}));
        for text in [
            format!("{http:?}{stdio:?}"),
            serde_json::to_string(&http).expect("json"),
            serde_json::to_string(&stdio).expect("json"),
        ] {
            assert!(!text.contains("s3cr3t"), "{text}");
        }
    }

    #[test]
    fn loading_names_the_key_path() {
        let load =
            |text: &str, scope| crate::parse_str(text, "p.json5", &|_| Some("v".to_owned()), scope);
        let all = crate::Scope::All;
        let err = load("{mcp: {servers: {s: {comand: 'x'}}}}", all).expect_err("unknown key");
        assert_eq!(err.path(), Some("mcp.servers.s.comand"));
        assert!(err.to_string().contains("did you mean `command`"), "{err}");
        let err = load(
            "{mcp: {servers: {s: {command: 'x', allowTools: 'echo'}}}}",
            all,
        )
        .expect_err("wrong type");
        assert_eq!(err.path(), Some("mcp.servers.s.allowTools"));
        let err = load(
            "{mcp: {servers: {s: {command: 'x', url: 'http://h'}}}}",
            all,
        )
        .expect_err("both");
        assert_eq!(err.path(), Some("mcp.servers.s"));
        let err = load("{mcp: {servers: {s: {}}}}", all).expect_err("neither");
        assert_eq!(err.path(), Some("mcp.servers.s"));
        let err = load("{mcp: {servers: {'a b': {command: 'x'}}}}", all).expect_err("name");
        assert_eq!(err.path(), Some("mcp.servers.a b"));
        let other = crate::Scope::Sections(&["agents"]);
        assert!(
            load("{mcp: {servers: {s: {}}}}", other).is_ok(),
            "checked only in scope"
        );
        let config = load(
            "{mcp: {servers: {gh: {url: 'https://h/mcp', headers: {Authorization: 'Bearer ${T}'}, allowTools: ['*']}}}}",
            crate::Scope::Sections(&["mcp"]),
        )
        .expect("valid");
        let gh = &config.mcp.servers["gh"];
        assert_eq!(gh.headers["Authorization"].expose(), "Bearer v");
    }
}
