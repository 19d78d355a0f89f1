//! `pincer dev`: nats-server and the five services as child processes.
//!
//! The config's `${VAR}`s are filled as every command fills them: the environment, then the
//! config's own `.env`, then `./.env` ([`Sources`]); the children get those variables too.
//!
//! Children get their own process group, so a terminal's Ctrl-C reaches only this process, which
//! then stops them in order (gateway first, NATS last) with one SIGTERM each, and SIGKILL after a
//! grace period. Each also gets SIGTERM from the kernel if this process dies any other way.
//!
//! With `pincer-services` beside `pincer`, the services are forked from one process of it
//! (`pincer_service_launcher`), which hands them over as children of this one.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use pincer_lifecycle::entry::EXIT_CONFIG;

use crate::sources::Sources;

/// Arguments of `pincer dev`.
#[derive(clap::Args)]
#[command(after_help = "Example: pincer dev --config config/pincer.json5 --state-dir /tmp/pincer")]
pub struct Args {
    /// Path of the JSON5 config.
    #[arg(long, env = "PINCER_CONFIG")]
    config: PathBuf,
    /// Where NATS keeps its JetStream store (sessions, queued turns).
    #[arg(long, env = "PINCER_STATE_DIR")]
    state_dir: Option<PathBuf>,
    /// NATS client port (default: a free port).
    #[arg(long, env = "PINCER_NATS_PORT")]
    nats_port: Option<u16>,
    /// NATS HTTP monitoring port on 127.0.0.1 (`/varz`, `/connz`, `/jsz`; default: none). The
    /// benchmark reads it to count the bus messages a turn costs.
    #[arg(long, env = "PINCER_NATS_MONITOR_PORT")]
    nats_monitor_port: Option<u16>,
}

const STOP_GRACE: Duration = Duration::from_secs(12);

struct Proc {
    name: String,
    process: Process,
}

/// A child of `pincer dev`: one it started, or a service the launcher forked and handed to it.
/// Either is killed if dropped while it runs.
enum Process {
    Spawned(Child),
    Launched(pincer_service_launcher::LaunchedChild),
}

impl Process {
    /// Its PID, unless it has been reaped.
    fn id(&self) -> Option<u32> {
        match self {
            Self::Spawned(child) => child.id(),
            Self::Launched(child) => child.id(),
        }
    }

    fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        match self {
            Self::Spawned(child) => child.try_wait(),
            Self::Launched(child) => child.try_wait(),
        }
    }

    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        match self {
            Self::Spawned(child) => child.wait().await,
            Self::Launched(child) => child.wait().await,
        }
    }

    /// SIGKILL, and reap it.
    async fn kill(&mut self) {
        match self {
            Self::Spawned(child) => {
                let _ = child.kill().await;
            }
            Self::Launched(child) => {
                let _ = child.signal(Signal::SIGKILL);
                let _ = child.wait().await;
            }
        }
    }
}

/// Runs the stack until a signal or until any process exits.
pub async fn run(args: Args) -> ExitCode {
    let started = Instant::now();
    let sources = Sources::with_config(Some(args.config.clone()));
    if let Err(error) = sources.load(pincer_config::Scope::All) {
        eprintln!("pincer dev: invalid config: {error}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let config_path = std::fs::canonicalize(&args.config).unwrap_or_else(|_| args.config.clone());
    match start_all(&args, &config_path, &sources).await {
        Ok((mut procs, gateway_port)) => {
            eprintln!(
                "pincer dev: started {} processes; waiting for http://127.0.0.1:{gateway_port}/readyz",
                procs.len()
            );
            let outcome = supervise(&mut procs, gateway_port, started).await;
            stop_all(&mut procs).await;
            outcome
        }
        Err(error) => {
            eprintln!("pincer dev: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn start_all(
    args: &Args,
    config: &Path,
    sources: &Sources,
) -> anyhow::Result<(Vec<Proc>, u16)> {
    let state_dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
    std::fs::create_dir_all(&state_dir)?;
    let nats_port = match args.nats_port {
        Some(port) => port,
        None => pincer_lifecycle::ports::free_port()?,
    };
    let nats_bin = std::env::var_os("NATS_SERVER_BIN")
        .map_or_else(|| PathBuf::from("nats-server"), PathBuf::from);
    // Fresh secrets for this run: every service signs in to the bus as its own user, and the
    // router and the tool host take calls only with their token. Nothing is written but the
    // server's permission file, which names the password variables, not the passwords.
    let secrets = crate::secrets::Internal::generate();
    let nats_config = state_dir.join("nats.conf");
    crate::secrets::write_private(
        &nats_config,
        &pincer_bus::access::server_config(&pincer_bus::Namespace::default()),
    )?;
    let mut procs = Vec::new();
    let mut nats = Command::new(&nats_bin);
    nats.arg("-c")
        .arg(&nats_config)
        .args([
            "-a",
            "127.0.0.1",
            "-p",
            &nats_port.to_string(),
            "-js",
            "-sd",
        ])
        .arg(state_dir.join("nats"))
        .envs(secrets.nats_server_env());
    if let Some(port) = args.nats_monitor_port {
        nats.args(["-m", &port.to_string()]);
    }
    // As in the NATS image (docker/nats/Dockerfile): a soft heap limit, or the Go runtime keeps
    // what a busy hour grew to; and one thread running Go code, which costs less CPU per turn
    // beside the services.
    for (name, value) in [("GOMEMLIMIT", "32MiB"), ("GOMAXPROCS", "1")] {
        if std::env::var_os(name).is_none() {
            nats.env(name, value);
        }
    }
    procs.push(Proc {
        name: "nats-server".to_owned(),
        process: spawn(nats).map_err(|e| {
            anyhow::anyhow!(
                "cannot start {} ({e}); install nats-server >= 2.10 or set NATS_SERVER_BIN",
                nats_bin.display()
            )
        })?,
    });

    let router = format!("127.0.0.1:{}", pincer_lifecycle::ports::free_port()?);
    let tool_host = format!("127.0.0.1:{}", pincer_lifecycle::ports::free_port()?);
    let common = [
        ("PINCER_CONFIG", config.display().to_string()),
        ("PINCER_NATS_URL", format!("nats://127.0.0.1:{nats_port}")),
    ];
    let router_client = vec![
        ("PINCER_LLM_ROUTER_URL", format!("http://{router}")),
        ("PINCER_LLM_ROUTER_TOKEN", secrets.router_token.clone()),
    ];
    let tool_host_client = vec![
        ("PINCER_TOOL_HOST_URL", format!("http://{tool_host}")),
        ("PINCER_TOOL_HOST_TOKEN", secrets.tool_host_token.clone()),
    ];
    // An explicit state dir (tests, benchmarks) keeps the agents' workspaces and the tools'
    // state in it too; otherwise the user's own `~/.pincer/workspace` (or `PINCER_WORKSPACE`).
    let mut workspace = Vec::new();
    if args.state_dir.is_some() && std::env::var_os("PINCER_WORKSPACE").is_none() {
        workspace.push((
            "PINCER_WORKSPACE",
            state_dir.join("workspace").display().to_string(),
        ));
    }
    let mut tool_state = Vec::new();
    if args.state_dir.is_some() && std::env::var_os("PINCER_TOOL_STATE").is_none() {
        tool_state.push((
            "PINCER_TOOL_STATE",
            state_dir.join("tools").display().to_string(),
        ));
    }
    let role = |role: pincer_bus::access::Role| secrets.nats_client_env(role);
    use pincer_bus::access::Role;
    let services: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "pincer-llm-router",
            [
                vec![
                    ("PINCER_LLM_ROUTER_LISTEN", router),
                    ("PINCER_LLM_ROUTER_TOKEN", secrets.router_token.clone()),
                ],
                role(Role::LlmRouter),
            ]
            .concat(),
        ),
        (
            "pincer-tool-host",
            [
                vec![
                    ("PINCER_TOOL_HOST_LISTEN", tool_host),
                    ("PINCER_TOOL_HOST_TOKEN", secrets.tool_host_token.clone()),
                ],
                workspace.clone(),
                tool_state,
            ]
            .concat(),
        ),
        (
            "pincer-agent-runner",
            [
                vec![(
                    "PINCER_AGENT_RUNNER_HEALTH_LISTEN",
                    format!("127.0.0.1:{}", pincer_lifecycle::ports::free_port()?),
                )],
                router_client.clone(),
                tool_host_client,
                workspace,
                role(Role::AgentRunner),
            ]
            .concat(),
        ),
        (
            "pincer-channel-bridge",
            [
                vec![(
                    "PINCER_CHANNEL_BRIDGE_HEALTH_LISTEN",
                    format!("127.0.0.1:{}", pincer_lifecycle::ports::free_port()?),
                )],
                role(Role::ChannelBridge),
            ]
            .concat(),
        ),
        (
            "pincer-gateway",
            [router_client, role(Role::Gateway)].concat(),
        ),
    ];
    // What the `.env` files set and the environment does not, under what this run sets itself.
    let from_files = sources.file_variables();
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    // One executable for every service when it is here: the processes then share its code in
    // memory instead of each mapping a binary of its own (`pincer-services` picks the service by
    // the name it is started under).
    // Forked from one process of it, they also share what the loader wrote at start-up (see
    // pincer-service-launcher).
    let mut launcher = match crate::executables::multi_call_in(&bin_dir) {
        Some(multi_call) => Some(pincer_service_launcher::Launcher::start(&multi_call)?),
        None => None,
    };
    for (service, env) in services {
        let env: Vec<(String, String)> = from_files
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .chain(common.iter().map(|(k, v)| ((*k).to_owned(), v.clone())))
            .chain(env.into_iter().map(|(k, v)| (k.to_owned(), v)))
            .collect();
        let process = match launcher.as_mut() {
            Some(launcher) => Process::Launched(launcher.launch(service, env).await?),
            None => {
                let path = bin_dir.join(service);
                let program = if path.is_file() {
                    path
                } else {
                    PathBuf::from(service)
                };
                let mut command = Command::new(&program);
                command.envs(env);
                spawn(command)
                    .map_err(|e| anyhow::anyhow!("cannot start {}: {e}", program.display()))?
            }
        };
        procs.push(Proc {
            name: service.to_owned(),
            process,
        });
    }
    if let Some(launcher) = launcher {
        launcher.finish().await?;
    }
    let gateway_port = sources
        .lookup("PINCER_GATEWAY_PORT")
        .and_then(|p| p.parse().ok())
        .or_else(|| {
            sources
                .load(pincer_config::Scope::Sections(&["gateway"]))
                .ok()
                .flatten()
                .map(|c| c.gateway.port)
        })
        .unwrap_or(18789);
    Ok((procs, gateway_port))
}

fn spawn(mut command: Command) -> std::io::Result<Process> {
    command.process_group(0).kill_on_drop(true);
    pincer_service_launcher::stop_with_this_process(&mut command);
    Ok(Process::Spawned(command.spawn()?))
}

async fn supervise(procs: &mut [Proc], gateway_port: u16, started: Instant) -> ExitCode {
    let ready_url = format!("http://127.0.0.1:{gateway_port}/readyz");
    let mut announced = false;
    let mut poll = tokio::time::interval(Duration::from_millis(10));
    loop {
        tokio::select! {
            signal = pincer_lifecycle::shutdown::wait_for_signal() => {
                eprintln!("pincer dev: {signal}, stopping");
                return ExitCode::SUCCESS;
            }
            _ = poll.tick() => {
                for proc in procs.iter_mut() {
                    if let Ok(Some(status)) = proc.process.try_wait() {
                        eprintln!("pincer dev: {} exited ({status}), stopping the stack", proc.name);
                        return ExitCode::FAILURE;
                    }
                }
                if !announced
                    && pincer_lifecycle::probe::http_get_ok(&ready_url, Duration::from_millis(500)).await.is_ok()
                {
                    announced = true;
                    poll = tokio::time::interval(Duration::from_millis(250));
                    eprintln!(
                        "pincer dev: ready in {} ms: http://127.0.0.1:{gateway_port}/v1/chat/completions",
                        started.elapsed().as_millis()
                    );
                    // The supervisor only waits from now on: what it ran to start the stack (the
                    // CLI, config checks) need not stay resident. Best effort: keeping the pages
                    // costs memory, not correctness.
                    if let Err(error) = pincer_unused_memory::release() {
                        eprintln!("pincer dev: start-up pages kept: {error}");
                    }
                }
            }
        }
    }
}

/// Stops the gateway first (no new work), NATS last (so acks and transcripts land).
async fn stop_all(procs: &mut [Proc]) {
    for proc in procs.iter_mut().rev() {
        let Some(pid) = proc.process.id() else {
            continue;
        };
        let pid = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
        let _ = kill(pid, Signal::SIGTERM);
        match tokio::time::timeout(STOP_GRACE, proc.process.wait()).await {
            Ok(_) => {}
            Err(_) => {
                eprintln!(
                    "pincer dev: {} did not stop in {STOP_GRACE:?}, killing it",
                    proc.name
                );
                proc.process.kill().await;
            }
        }
    }
}

fn default_state_dir() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".to_owned());
    Path::new(&home).join(".pincer").join("dev")
}
