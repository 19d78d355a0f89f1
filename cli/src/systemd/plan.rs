//! The units of one installation: each process started as `pincer dev` starts it (the same
//! program, config, bus user and addresses), with its share of `.env` in its own env file, fixed
//! loopback ports instead of free ones, and the limits and ordering of `compose.yml`.

use std::path::{Path, PathBuf};

use super::units::{self, EnvironmentFile, ProtectHome, Service, Target};
use super::{Layout, Process, Scope, TARGET};

/// Where the llm-router listens.
const ROUTER: &str = "127.0.0.1:50051";
/// Where the tool host listens.
const TOOL_HOST: &str = "127.0.0.1:50071";
/// The agent-runner's health endpoint.
const AGENT_RUNNER_HEALTH: &str = "127.0.0.1:50061";
/// The channel-bridge's health endpoint.
const CHANNEL_BRIDGE_HEALTH: &str = "127.0.0.1:50062";

/// What an installation is made from.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// Whose systemd runs it.
    pub scope: Scope,
    /// Where its state and env files live.
    pub layout: Layout,
    /// Where `pincer-gateway` and the other service binaries are.
    pub bin_dir: PathBuf,
    /// `bin_dir` holds `pincer-services`, every service in one executable: each unit starts it
    /// under its service's name (`ExecStart=@.../pincer-services pincer-gateway`), so the five
    /// processes share one copy of the code in memory.
    pub multi_call: bool,
    /// The nats-server binary.
    pub nats_bin: PathBuf,
    /// NATS's client port on 127.0.0.1.
    pub nats_port: u16,
    /// The config file (absolute).
    pub config: PathBuf,
    /// The tool host's own env file (the secrets MCP servers reference).
    pub tool_host_env_file: PathBuf,
    /// The user system units run as.
    pub run_as: Option<String>,
    /// The tool host's `MemoryMax=` (its MCP servers count against it).
    pub tool_host_memory: String,
}

/// A unit file's name and text.
#[derive(Clone, Debug)]
pub struct UnitFile {
    /// `pincer-gateway.service`, `pincer.target`.
    pub name: String,
    /// What goes in it.
    pub text: String,
}

/// Every unit file of `inputs`: the services in start order, then the target.
pub fn unit_files(inputs: &Inputs) -> Result<Vec<UnitFile>, String> {
    let mut files = Vec::new();
    for process in Process::ALL {
        files.push(UnitFile {
            name: process.unit(),
            text: units::render_service(&service(inputs, process)?),
        });
    }
    let target = Target {
        description: "Pincer: NATS and the services of the personal AI agent gateway".to_owned(),
        wants: Process::ALL.into_iter().map(Process::unit).collect(),
        wanted_by: inputs.scope.wanted_by().to_owned(),
        config: text(&inputs.config)?,
    };
    files.push(UnitFile {
        name: TARGET.to_owned(),
        text: units::render_target(&target),
    });
    Ok(files)
}

/// The unit of `process`.
pub fn service(inputs: &Inputs, process: Process) -> Result<Service, String> {
    let layout = &inputs.layout;
    let exec_start = match process {
        Process::Nats => vec![
            text(&inputs.nats_bin)?,
            "-c".to_owned(),
            text(&layout.nats_config())?,
            "-a".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            inputs.nats_port.to_string(),
            "-js".to_owned(),
            "-sd".to_owned(),
            text(&layout.nats_store)?,
        ],
        _ if inputs.multi_call => vec![
            // `@`: the next word is the program's argv[0], which names the service to run.
            format!(
                "@{}",
                text(&inputs.bin_dir.join(crate::executables::MULTI_CALL))?
            ),
            format!("pincer-{}", process.name()),
        ],
        _ => vec![text(
            &inputs.bin_dir.join(format!("pincer-{}", process.name())),
        )?],
    };
    let mut environment: Vec<(&str, String)> = Vec::new();
    if process != Process::Nats {
        environment.push(("PINCER_CONFIG", text(&inputs.config)?));
    }
    let nats_url = format!("nats://127.0.0.1:{}", inputs.nats_port);
    let router_url = format!("http://{ROUTER}");
    let mut requires = vec![Process::Nats.unit()];
    let mut wants = Vec::new();
    let mut read_write = Vec::new();
    let mut state_directories = Vec::new();
    let mut memory_max = "128M".to_owned();
    let mut tasks_max = 64;
    match process {
        Process::Nats => {
            requires.clear();
            // As in the NATS image and `pincer dev`: a soft heap limit, or the Go runtime keeps
            // what a busy hour grew to; and one thread running Go code.
            environment.push(("GOMEMLIMIT", "32MiB".to_owned()));
            environment.push(("GOMAXPROCS", "1".to_owned()));
            read_write.push(layout.nats_store.clone());
            state_directories.push("pincer/nats");
            memory_max = "256M".to_owned();
            tasks_max = 128;
        }
        Process::LlmRouter => {
            environment.extend([
                ("PINCER_NATS_URL", nats_url),
                ("PINCER_NATS_USER", "llm-router".to_owned()),
                ("PINCER_LLM_ROUTER_LISTEN", ROUTER.to_owned()),
            ]);
        }
        Process::ToolHost => {
            // The tool host needs no bus; its children never see the services' env files.
            requires.clear();
            environment.extend([
                ("PINCER_TOOL_HOST_LISTEN", TOOL_HOST.to_owned()),
                ("PINCER_WORKSPACE", text(&layout.workspace)?),
                ("PINCER_TOOL_STATE", text(&layout.tool_state)?),
                ("PINCER_SECRETS_DIR", text(&layout.env_dir)?),
            ]);
            read_write.extend([layout.workspace.clone(), layout.tool_state.clone()]);
            state_directories.extend(["pincer/workspace", "pincer/tools"]);
            memory_max.clone_from(&inputs.tool_host_memory);
            tasks_max = 256;
        }
        Process::AgentRunner => {
            environment.extend([
                ("PINCER_NATS_URL", nats_url),
                ("PINCER_NATS_USER", "agent-runner".to_owned()),
                ("PINCER_LLM_ROUTER_URL", router_url),
                ("PINCER_TOOL_HOST_URL", format!("http://{TOOL_HOST}")),
                ("PINCER_WORKSPACE", text(&layout.workspace)?),
                (
                    "PINCER_AGENT_RUNNER_HEALTH_LISTEN",
                    AGENT_RUNNER_HEALTH.to_owned(),
                ),
            ]);
            wants.extend([Process::LlmRouter.unit(), Process::ToolHost.unit()]);
            read_write.push(layout.workspace.clone());
            state_directories.push("pincer/workspace");
        }
        Process::ChannelBridge => {
            environment.extend([
                ("PINCER_NATS_URL", nats_url),
                ("PINCER_NATS_USER", "channel-bridge".to_owned()),
                (
                    "PINCER_CHANNEL_BRIDGE_HEALTH_LISTEN",
                    CHANNEL_BRIDGE_HEALTH.to_owned(),
                ),
            ]);
        }
        Process::Gateway => {
            environment.extend([
                ("PINCER_NATS_URL", nats_url),
                ("PINCER_NATS_USER", "gateway".to_owned()),
                ("PINCER_LLM_ROUTER_URL", router_url),
            ]);
            wants.push(Process::LlmRouter.unit());
        }
    }
    let mut environment_files = vec![EnvironmentFile {
        path: text(&layout.env_file(process))?,
        optional: false,
    }];
    if process == Process::ToolHost {
        environment_files.push(EnvironmentFile {
            path: text(&inputs.tool_host_env_file)?,
            optional: true,
        });
    }
    let system = inputs.scope == Scope::System;
    let reads_home = [&inputs.config, &inputs.bin_dir, &inputs.nats_bin]
        .iter()
        .any(|path| super::under_home(path));
    let protect_home = if system && !reads_home {
        ProtectHome::Yes
    } else {
        ProtectHome::ReadOnly
    };
    Ok(Service {
        description: format!("Pincer {}", process.name()),
        exec_start,
        environment: environment
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect(),
        environment_files,
        requires,
        wants,
        part_of: TARGET.to_owned(),
        read_write_paths: read_write
            .iter()
            .map(|p| text(p))
            .collect::<Result<_, _>>()?,
        // systemd creates these for the service user; a user unit's directories are made by
        // `pincer gateway install`.
        state_directories: if system {
            state_directories.into_iter().map(str::to_owned).collect()
        } else {
            Vec::new()
        },
        protect_home,
        memory_max,
        tasks_max,
        user: inputs.run_as.clone().filter(|_| system),
    })
}

/// A path as a unit can hold it: UTF-8, absolute, without control characters (a newline would
/// end the directive).
fn text(path: &Path) -> Result<String, String> {
    let Some(value) = path.to_str() else {
        return Err(format!(
            "{} is not UTF-8: systemd units cannot name it",
            path.display()
        ));
    };
    if !path.is_absolute() {
        return Err(format!("{value} is not an absolute path"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{value:?} holds a control character: systemd units cannot name it"
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests;
