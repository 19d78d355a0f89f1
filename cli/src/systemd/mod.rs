//! The systemd deployment: NATS and the five services as hardened units (`pincer gateway
//! install`), grouped by `pincer.target`, run by the user's systemd (`--user`) or the machine's
//! (`--system`), so no Docker daemon takes the memory of a small VPS.
//!
//! - [`units`]: the unit files' text, from small structs (no IO).
//! - [`environment`]: which `.env` variable reaches which service, as in `compose.yml`; each
//!   service's secrets in an env file of its own.
//! - [`plan`]: the units of one installation: programs, paths, ordering, limits.
//! - [`install`]: `pincer gateway install|uninstall`.
//! - [`control`]: `start|stop|restart|logs|status` through `systemctl` and `journalctl`.

pub mod control;
pub mod environment;
pub mod install;
pub mod plan;
pub mod units;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The unit that starts, stops and restarts every service.
pub const TARGET: &str = "pincer.target";

/// Whose systemd runs the units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The user's own manager (`systemctl --user`), units in `~/.config/systemd/user`.
    User,
    /// The machine's (`systemctl`), units in `/etc/systemd/system`, run as a service user.
    System,
}

impl Scope {
    /// Where its unit files live.
    pub fn unit_dir(self) -> Option<PathBuf> {
        match self {
            Self::User => {
                let config = crate::sources::process_value("XDG_CONFIG_HOME")
                    .map(PathBuf::from)
                    .filter(|dir| dir.is_absolute())
                    .or_else(|| Some(home()?.join(".config")))?;
                Some(config.join("systemd/user"))
            }
            Self::System => Some(PathBuf::from("/etc/systemd/system")),
        }
    }

    /// `systemctl`, talking to this scope's manager.
    pub fn systemctl(self) -> Command {
        let mut command = Command::new("systemctl");
        if self == Self::User {
            command.arg("--user");
        }
        command
    }

    /// `journalctl`, reading this scope's journal.
    pub fn journalctl(self) -> Command {
        let mut command = Command::new("journalctl");
        if self == Self::User {
            command.arg("--user");
        }
        command
    }

    /// The target that starts the stack at boot (system) or at login (user, or at boot with
    /// lingering).
    pub fn wanted_by(self) -> &'static str {
        match self {
            Self::User => "default.target",
            Self::System => "multi-user.target",
        }
    }

    /// `--user` or `--system`, for messages.
    pub fn flag(self) -> &'static str {
        match self {
            Self::User => "--user",
            Self::System => "--system",
        }
    }
}

/// One process of the stack, in start order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Process {
    /// nats-server with JetStream.
    Nats,
    /// pincer-llm-router.
    LlmRouter,
    /// pincer-tool-host.
    ToolHost,
    /// pincer-agent-runner.
    AgentRunner,
    /// pincer-channel-bridge.
    ChannelBridge,
    /// pincer-gateway.
    Gateway,
}

impl Process {
    /// Every process, NATS first.
    pub const ALL: [Self; 6] = [
        Self::Nats,
        Self::LlmRouter,
        Self::ToolHost,
        Self::AgentRunner,
        Self::ChannelBridge,
        Self::Gateway,
    ];

    /// Its name, as compose's service and `pincer gateway logs <service>` call it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Nats => "nats",
            Self::LlmRouter => "llm-router",
            Self::ToolHost => "tool-host",
            Self::AgentRunner => "agent-runner",
            Self::ChannelBridge => "channel-bridge",
            Self::Gateway => "gateway",
        }
    }

    /// Its unit, `pincer-<name>.service`.
    pub fn unit(self) -> String {
        format!("pincer-{}.service", self.name())
    }

    /// The process called `name` (`pincer-` prefix and `.service` suffix allowed).
    pub fn named(name: &str) -> Option<Self> {
        let bare = name.strip_suffix(".service").unwrap_or(name);
        let bare = bare.strip_prefix("pincer-").unwrap_or(bare);
        Self::ALL.into_iter().find(|process| process.name() == bare)
    }
}

/// The names `pincer gateway restart|logs` accept, for an error message.
pub fn process_names() -> String {
    Process::ALL.map(Process::name).join(", ")
}

/// An installed systemd deployment: its scope and the config its units run with.
#[derive(Clone, Debug)]
pub struct Installed {
    /// Whose systemd runs it.
    pub scope: Scope,
    /// The config, as the target records it.
    pub config: Option<PathBuf>,
}

impl Installed {
    /// The installation whose `pincer.target` exists: the user's first, then the machine's.
    pub fn find() -> Option<Self> {
        [Scope::User, Scope::System].into_iter().find_map(|scope| {
            let target = scope.unit_dir()?.join(TARGET);
            let text = std::fs::read_to_string(target).ok()?;
            Some(Self {
                scope,
                config: units::target_config(&text).map(PathBuf::from),
            })
        })
    }

    /// One line for people: what runs the stack.
    pub fn describe(&self) -> String {
        let manager = match self.scope {
            Scope::User => "your systemd (systemctl --user)",
            Scope::System => "the machine's systemd",
        };
        format!("{TARGET} under {manager}")
    }
}

/// Where an installation keeps its state and the services' env files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// NATS's permission file (no passwords) and JetStream store.
    pub state_dir: PathBuf,
    /// JetStream's store (sessions, queued turns, cron jobs).
    pub nats_store: PathBuf,
    /// The agents' workspaces (agent-runner and tool host).
    pub workspace: PathBuf,
    /// The tool host's children's state (MCP servers' homes and caches).
    pub tool_state: PathBuf,
    /// One env file per service, mode 0600: its share of `.env`.
    pub env_dir: PathBuf,
}

impl Layout {
    /// The layout of `scope`: under `~/.pincer` for a user, `/var/lib/pincer` and
    /// `/etc/pincer/env` for the machine.
    pub fn of(scope: Scope) -> Result<Self, String> {
        let (state_dir, workspace, tool_state, env_dir) = match scope {
            Scope::User => {
                let base = home()
                    .ok_or("HOME is not set: cannot place user units")?
                    .join(".pincer");
                let state = base.join("state");
                (
                    state.clone(),
                    base.join("workspace"),
                    base.join("tools"),
                    state.join("env"),
                )
            }
            Scope::System => {
                let state = PathBuf::from("/var/lib/pincer");
                (
                    state.clone(),
                    state.join("workspace"),
                    state.join("tools"),
                    PathBuf::from("/etc/pincer/env"),
                )
            }
        };
        Ok(Self {
            nats_store: state_dir.join("nats"),
            state_dir,
            workspace,
            tool_state,
            env_dir,
        })
    }

    /// The env file of `process`.
    pub fn env_file(&self, process: Process) -> PathBuf {
        self.env_dir.join(format!("{}.env", process.name()))
    }

    /// NATS's permission file.
    pub fn nats_config(&self) -> PathBuf {
        self.state_dir.join("nats.conf")
    }
}

fn home() -> Option<PathBuf> {
    crate::sources::process_value("HOME")
        .map(PathBuf::from)
        .filter(|home| home.is_absolute())
}

/// Whether `path` lies where `ProtectHome=yes` would hide it.
pub fn under_home(path: &Path) -> bool {
    ["/home", "/root", "/run/user"]
        .iter()
        .any(|home| path.starts_with(home))
}
