//! The confinement of every child: what an exec run and an MCP server may read, write, connect to
//! and use, and the environment it gets. Nothing here is decided per call by the model.
//!
//! Both read the system paths ([`pincer_sandbox::system::read_paths`]), never the config file or
//! another secret ([`crate::Config::hidden`]); both die with the tool host and stay in their
//! process group. An exec run writes only the agent's workspace (or nothing, per
//! `agents.defaults.sandbox.workspaceAccess`) and its own empty `HOME`/`TMPDIR`; an MCP server
//! writes only its state directory and the paths its `sandbox` entry adds.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use pincer_config::{McpSandbox, WorkspaceAccess};
use pincer_sandbox::{Confiner, Limits, Network, Policy};

use crate::state::{RunDirs, StateDir};

/// Bytes any one file a child writes may reach.
const MAX_FILE_BYTES: u64 = 256 << 20;
/// Open descriptors per child process.
const MAX_OPEN_FILES: u64 = 1024;
/// `PATH` of children when the tool host has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";
/// Passed on from the tool host's own environment when set (locale, time zone, proxies).
const PASSED_ON: &[&str] = &[
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];
/// Variables through which the common runtimes (OpenSSL, Node, Python, pip, git, curl) take a CA
/// bundle.
const CA_VARIABLES: &[&str] = &[
    "SSL_CERT_FILE",
    "NODE_EXTRA_CA_CERTS",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "GIT_SSL_CAINFO",
    "CURL_CA_BUNDLE",
];

/// What children share: the helper, the system paths, the state directory.
#[derive(Clone, Debug)]
pub struct Confinement {
    confiner: Confiner,
    system: Vec<PathBuf>,
    state: StateDir,
    path: OsString,
}

impl Confinement {
    /// Children of a tool host with `hidden` paths and `state`.
    #[must_use]
    pub fn new(confiner: Confiner, state: StateDir, hidden: &[PathBuf]) -> Self {
        let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
        let mut hidden: Vec<&Path> = hidden.iter().map(PathBuf::as_path).collect();
        hidden.push(state.root());
        let mut system = pincer_sandbox::system::read_paths(Some(&path), &hidden);
        // The CA bundle children are pointed at (it may sit beside the config: the file only).
        system.extend(state.ca_bundle().map(Path::to_path_buf));
        Self {
            confiner,
            system,
            state,
            path,
        }
    }

    /// The state directory.
    #[must_use]
    pub fn state(&self) -> &StateDir {
        &self.state
    }

    /// The environment every child starts from: `PATH`, its own `HOME` and `TMPDIR`, the locale,
    /// proxies, and the CA bundle. Nothing else of the tool host's environment.
    fn base_env(&self, home: &Path, tmp: &Path) -> Vec<(String, OsString)> {
        let mut env = vec![
            ("PATH".to_owned(), self.path.clone()),
            ("HOME".to_owned(), home.into()),
            ("TMPDIR".to_owned(), tmp.into()),
        ];
        for key in PASSED_ON {
            if let Some(value) = std::env::var_os(key) {
                env.push(((*key).to_owned(), value));
            }
        }
        if !env.iter().any(|(key, _)| key == "LANG") {
            env.push(("LANG".to_owned(), "C.UTF-8".into()));
        }
        if let Some(bundle) = self.state.ca_bundle() {
            for key in CA_VARIABLES {
                env.push(((*key).to_owned(), bundle.into()));
            }
        }
        env
    }

    /// The system paths, plus `program` itself when it is named by an absolute path outside them
    /// (an allow-listed `/opt/tools/x`, a server built somewhere of its own).
    fn read_paths(&self, program: &str) -> Vec<PathBuf> {
        let mut read = self.system.clone();
        if program.starts_with('/') {
            read.push(PathBuf::from(program));
        }
        read
    }

    /// The policy for one exec run of `program` in `workspace`.
    #[must_use]
    pub fn exec_policy(
        &self,
        exec: &ExecSettings,
        program: &str,
        workspace: &Path,
        run: &RunDirs,
    ) -> Policy {
        let mut read = self.read_paths(program);
        let mut write: Vec<PathBuf> = pincer_sandbox::system::WRITE_DEVICES
            .iter()
            .map(PathBuf::from)
            .collect();
        write.push(run.root.clone());
        match exec.workspace {
            WorkspaceAccess::Rw => write.push(workspace.to_path_buf()),
            WorkspaceAccess::Ro => read.push(workspace.to_path_buf()),
            WorkspaceAccess::None => {}
        }
        Policy {
            read,
            write,
            network: if exec.network {
                Network::Ports {
                    connect: vec![443, 80],
                }
            } else {
                Network::Off
            },
            limits: Limits {
                memory_bytes: exec.memory_mb << 20,
                processes: pincer_sandbox::limits::user_tasks() + exec.max_processes,
                // A backstop behind the timeout: CPU time can only run out after it.
                cpu_seconds: Some(exec.timeout_seconds + 1),
                file_bytes: MAX_FILE_BYTES,
                open_files: MAX_OPEN_FILES,
            },
            parent: std::process::id(),
        }
    }

    /// The command of one exec run: `program args` confined, in the workspace (or the run's
    /// home without workspace access), with git's configuration sources closed.
    #[must_use]
    pub fn exec_command(
        &self,
        exec: &ExecSettings,
        workspace: &Path,
        run: &RunDirs,
        program: &str,
        args: &[String],
    ) -> tokio::process::Command {
        let policy = self.exec_policy(exec, program, workspace, run);
        let mut command = self.confiner.command(&policy, program, args);
        command.envs(self.base_env(&run.home, &run.tmp));
        // git reads no global or system config (a `.gitconfig` could run anything through an
        // alias or a hook), asks for nothing on a terminal, and looks for no repository above
        // the workspace.
        command
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0");
        if let Some(parent) = workspace.parent() {
            command.env("GIT_CEILING_DIRECTORIES", parent);
        }
        let cwd = match exec.workspace {
            WorkspaceAccess::None => run.home.as_path(),
            _ => workspace,
        };
        command.current_dir(cwd);
        command
    }

    /// The policy of a stdio MCP server running `program` (in `cwd`, if configured) with `home`
    /// as its state directory.
    #[must_use]
    pub fn server_policy(
        &self,
        sandbox: &McpSandbox,
        program: &str,
        cwd: Option<&str>,
        home: &Path,
    ) -> Policy {
        let mut read = self.read_paths(program);
        read.extend(cwd.map(PathBuf::from));
        read.extend(sandbox.readable_paths.iter().map(PathBuf::from));
        let mut write: Vec<PathBuf> = pincer_sandbox::system::WRITE_DEVICES
            .iter()
            .map(PathBuf::from)
            .collect();
        write.push(home.to_path_buf());
        write.extend(sandbox.writable_paths.iter().map(PathBuf::from));
        Policy {
            read,
            write,
            network: if sandbox.network {
                Network::Ports {
                    connect: sandbox.allow_ports.clone(),
                }
            } else {
                Network::Off
            },
            limits: Limits {
                memory_bytes: sandbox.memory_mb << 20,
                processes: pincer_sandbox::limits::user_tasks() + sandbox.max_processes,
                // A server lives as long as the tool host: no CPU-time cap.
                cpu_seconds: None,
                file_bytes: MAX_FILE_BYTES,
                open_files: MAX_OPEN_FILES,
            },
            parent: std::process::id(),
        }
    }
}

/// `exec`'s confinement, resolved from `tools.exec` and `agents.defaults.sandbox`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecSettings {
    /// What it may do with the workspace.
    pub workspace: WorkspaceAccess,
    /// Outbound HTTP(S).
    pub network: bool,
    /// Writable memory, MiB.
    pub memory_mb: u64,
    /// Processes and threads on top of the user's.
    pub max_processes: u64,
    /// The run's time limit.
    pub timeout_seconds: u64,
}

impl ExecSettings {
    /// From the config: `tools.exec.network` wins over `sandbox.docker.network`; no network and
    /// a read-write workspace by default.
    #[must_use]
    pub fn from_config(exec: &pincer_config::Exec, agents: &pincer_config::Agents) -> Self {
        let sandbox = agents.defaults.sandbox.clone().unwrap_or_default();
        Self {
            workspace: sandbox.workspace_access(),
            network: exec.network.or(sandbox.network()).unwrap_or(false),
            memory_mb: exec.memory_mb.max(16),
            max_processes: exec.max_processes.max(1),
            timeout_seconds: exec.timeout_seconds.max(1),
        }
    }
}

/// Starts the stdio MCP servers confined, each with its state directory as `HOME`.
#[derive(Debug)]
pub struct McpLauncher {
    confinement: Confinement,
    servers: pincer_config::Mcp,
}

impl McpLauncher {
    /// For the servers of `mcp`.
    #[must_use]
    pub fn new(confinement: Confinement, mcp: &pincer_config::Mcp) -> Self {
        Self {
            confinement,
            servers: mcp.clone(),
        }
    }
}

impl pincer_mcp::Launcher for McpLauncher {
    fn command(
        &self,
        server: &pincer_mcp::StdioCommand<'_>,
    ) -> Result<tokio::process::Command, String> {
        let sandbox = self
            .servers
            .servers
            .get(server.server)
            .map(|entry| entry.sandbox.clone())
            .unwrap_or_default();
        let dirs = self
            .confinement
            .state
            .server(server.server)
            .map_err(|error| format!("cannot create its state directory: {error}"))?;
        let policy =
            self.confinement
                .server_policy(&sandbox, server.command, server.cwd, &dirs.home);
        let mut command = self
            .confinement
            .confiner
            .command(&policy, server.command, server.args);
        command
            .envs(self.confinement.base_env(&dirs.home, &dirs.tmp))
            // Package runners stay quiet on stdout, which is the protocol channel.
            .env("NO_UPDATE_NOTIFIER", "1")
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_audit", "false")
            .envs(server.env.iter().map(|(key, value)| (key, value.expose())))
            .current_dir(server.cwd.map_or(dirs.home.as_path(), Path::new));
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confinement(dir: &Path) -> Confinement {
        let state = StateDir::open(&dir.join("state"), None).expect("state");
        Confinement::new(
            Confiner::new("/bin/true"),
            state,
            &[PathBuf::from("/etc/pincer/pincer.json5")],
        )
    }

    fn settings(workspace: WorkspaceAccess, network: bool) -> ExecSettings {
        ExecSettings {
            workspace,
            network,
            memory_mb: 64,
            max_processes: 8,
            timeout_seconds: 5,
        }
    }

    #[test]
    fn exec_writes_only_the_workspace_and_its_run_and_has_no_network() {
        let dir = tempfile::tempdir().expect("dir");
        let confinement = confinement(dir.path());
        let run = confinement.state().run().expect("run");
        let ws = dir.path().join("ws");
        let policy =
            confinement.exec_policy(&settings(WorkspaceAccess::Rw, false), "git", &ws, &run);
        assert!(policy.write.contains(&ws) && policy.write.contains(&run.root));
        assert!(!policy.read.contains(&ws));
        assert!(
            !policy
                .read
                .iter()
                .chain(&policy.write)
                .any(|p| p.starts_with("/etc/pincer")
                    || Path::new("/etc/pincer").starts_with(p) && p != Path::new("/")),
            "the config is never granted"
        );
        assert!(
            !policy
                .read
                .iter()
                .any(|p| confinement.state().root().starts_with(p))
        );
        assert_eq!(policy.network, Network::Off);
        assert_eq!(policy.limits.cpu_seconds, Some(6));
        let ro = confinement.exec_policy(
            &settings(WorkspaceAccess::Ro, true),
            "/opt/x/tool",
            &ws,
            &run,
        );
        assert!(ro.read.contains(&PathBuf::from("/opt/x/tool")));
        assert!(ro.read.contains(&ws) && !ro.write.contains(&ws));
        assert!(matches!(ro.network, Network::Ports { .. }));
        let none =
            confinement.exec_policy(&settings(WorkspaceAccess::None, false), "git", &ws, &run);
        assert!(!none.read.contains(&ws) && !none.write.contains(&ws));
    }

    #[test]
    fn settings_follow_tools_exec_then_the_openclaw_sandbox_keys() {
        let agents: pincer_config::Agents = serde_json::from_value(serde_json::json!({
            "defaults": {"sandbox": {"mode": "all", "workspaceAccess": "ro", "docker": {"network": "bridge"}}}
        }))
        .expect("agents");
        let exec = pincer_config::Exec::default();
        let resolved = ExecSettings::from_config(&exec, &agents);
        assert_eq!(
            (resolved.workspace, resolved.network),
            (WorkspaceAccess::Ro, true)
        );
        let exec = pincer_config::Exec {
            network: Some(false),
            ..exec
        };
        assert!(!ExecSettings::from_config(&exec, &agents).network);
        let plain = ExecSettings::from_config(&exec, &pincer_config::Agents::default());
        assert_eq!(
            (plain.workspace, plain.network),
            (WorkspaceAccess::Rw, false)
        );
        assert!(
            serde_json::from_value::<pincer_config::Agents>(serde_json::json!({
                "defaults": {"sandbox": {"mode": "off"}}
            }))
            .is_err(),
            "Pincer never runs commands unconfined"
        );
    }

    #[test]
    fn servers_get_their_state_dir_their_paths_and_their_network() {
        let dir = tempfile::tempdir().expect("dir");
        let confinement = confinement(dir.path());
        let sandbox: McpSandbox = serde_json::from_value(serde_json::json!({
            "network": false, "writablePaths": ["/srv/data"], "readablePaths": ["/srv/ref"]
        }))
        .expect("sandbox");
        let home = confinement.state().server("fs").expect("dirs").home;
        let policy = confinement.server_policy(&sandbox, "npx", None, &home);
        assert!(policy.write.contains(&home) && policy.write.contains(&PathBuf::from("/srv/data")));
        assert!(policy.read.contains(&PathBuf::from("/srv/ref")));
        assert_eq!(policy.network, Network::Off);
        let web = confinement.server_policy(&McpSandbox::default(), "npx", None, &home);
        assert_eq!(
            web.network,
            Network::Ports {
                connect: pincer_config::DEFAULT_MCP_PORTS.to_vec()
            }
        );
        assert_eq!(web.limits.cpu_seconds, None);
    }
}
