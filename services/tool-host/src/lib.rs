//! tool-host: where the agent's tools that run programs or reach the network live, so that the
//! agent-runner needs neither (it keeps no network route out and no child processes).
//!
//! - [`service`]: the gRPC API (`pincer.tools.v1.ToolHost`): the catalogue as a stream, and calls;
//!   bearer-token auth ([`pincer_service_auth`]).
//! - [`catalog`]: the tools on offer: exec, the web tools, every connected MCP server's.
//! - [`definition`]: a tool as the model is offered it.
//! - [`exec`]: `exec`, one allow-listed program in the agent's workspace.
//! - [`web`]: `web_fetch` and `web_search`, with private addresses refused after resolution.
//! - [`confinement`]: the sandbox policy of every child (exec runs, MCP servers) and the MCP
//!   launcher that applies it; [`state`]: the directories children may write.
//! - [`workspaces`]: where each agent's workspace is (the same rule as the agent-runner's).

mod executable;
pub use executable::main;
pub mod catalog;
pub mod confinement;
pub mod definition;
pub mod error;
pub mod exec;
pub mod service;
pub mod state;
pub mod web;
pub mod workspaces;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use pincer_sandbox::Confiner;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Tool host settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The `agents` section (workspaces, sandbox settings).
    pub agents: pincer_config::Agents,
    /// The `tools` section (exec, web, allow/deny).
    pub tools: pincer_config::Tools,
    /// The `mcp` section.
    pub mcp: pincer_config::Mcp,
    /// The default agent's workspace when the config names none (`PINCER_WORKSPACE`).
    pub workspace_base: PathBuf,
    /// Where children get their writable directories (`PINCER_TOOL_STATE`).
    pub state_dir: PathBuf,
    /// The binary that confines children (this service's own, normally).
    pub confiner: Confiner,
    /// Bearer token the callers must present (`PINCER_TOOL_HOST_TOKEN`); `None` only on loopback.
    pub token: Option<pincer_config::Secret>,
    /// Paths no child may ever see: the config file, secrets files.
    pub hidden: Vec<PathBuf>,
    /// CA bundle children use for TLS (`PINCER_CA_BUNDLE`, else the system's).
    pub ca_bundle: Option<PathBuf>,
    /// `BRAVE_API_KEY`, when `tools.web.search.apiKey` is unset.
    pub brave_api_key: Option<pincer_config::Secret>,
    /// `SEARXNG_BASE_URL`, when `tools.web.search.searxng` is unset.
    pub searxng_base_url: Option<String>,
}

/// Tool host failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gRPC server failed.
    #[error("grpc server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The state directory cannot be used.
    #[error("state directory {path}: {reason}")]
    State {
        /// The directory.
        path: String,
        /// What the OS said.
        reason: String,
    },
    /// The configuration cannot work here.
    #[error("{0}")]
    Config(String),
    /// The web client could not be built.
    #[error("http client: {0}")]
    Http(String),
}

/// How long MCP servers may take to exit after shutdown.
const MCP_STOP_PATIENCE: Duration = Duration::from_secs(10);

/// Serves until `shutdown`, then stops every MCP server and running command.
/// (Boxed: see [`pincer_lifecycle::Serving`].)
pub fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> pincer_lifecycle::Serving<Error> {
    Box::pin(serve_until(config, listener, shutdown))
}

async fn serve_until(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let local = listener.local_addr().ok();
    if config.token.is_none() && !local.is_some_and(|addr| addr.ip().is_loopback()) {
        return Err(Error::Config(
            "PINCER_TOOL_HOST_TOKEN must be set when the tool host listens beyond loopback".into(),
        ));
    }
    let abi = pincer_sandbox::landlock_domain::kernel_abi();
    if abi == 0 {
        return Err(Error::Config(
            "this kernel has no Landlock (Linux 5.13+ with landlock enabled is needed): tools cannot be confined, so none are run".into(),
        ));
    }
    tracing::info!(
        landlock_abi = abi,
        "children are confined (landlock, seccomp, rlimits)"
    );
    let state = state::StateDir::open(&config.state_dir, config.ca_bundle.clone())?;
    let confinement = confinement::Confinement::new(config.confiner.clone(), state, &config.hidden);
    let mcp_shutdown = shutdown.child_token();
    let _stop_mcp = mcp_shutdown.clone().drop_guard();
    let launcher = Arc::new(confinement::McpLauncher::new(
        confinement.clone(),
        &config.mcp,
    ));
    let mcp = pincer_mcp::McpManager::start_with(&config.mcp, launcher, &mcp_shutdown);
    let exec = exec::Exec::new(&config, confinement);
    let web = web::Web::new(&config)?;
    let tools = catalog::Tools::new(&config, exec, web, mcp.clone());
    let workspaces = workspaces::Workspaces::new(&config.agents, &config.workspace_base);

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    report_readiness(mcp.clone(), health_reporter, shutdown.clone());

    let service = service::ToolHostService::new(Arc::new(tools), workspaces, shutdown.clone());
    let server = pincer_proto::tools::v1::tool_host_server::ToolHostServer::with_interceptor(
        service,
        pincer_service_auth::Interceptor::new(config.token.clone()),
    );
    tracing::info!(addr = %local.map(|a| a.to_string()).unwrap_or_default(), "tool-host serving");
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        })
    });
    let served = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(server)
        .serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned())
        .await;
    mcp_shutdown.cancel();
    mcp.stopped(MCP_STOP_PATIENCE).await;
    tracing::info!("tool-host stopped");
    Ok(served?)
}

/// `grpc.health.v1` says SERVING once every enabled MCP server has connected or failed its first
/// attempt: the agent-runner waits for it before taking turns, so the tools are known.
fn report_readiness(
    mcp: Arc<pincer_mcp::McpManager>,
    reporter: tonic_health::server::HealthReporter,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut changes = mcp.changes();
        loop {
            let status = if mcp.ready() {
                tonic_health::ServingStatus::Serving
            } else {
                tonic_health::ServingStatus::NotServing
            };
            reporter.set_service_status("", status).await;
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                () = shutdown.cancelled() => break,
            }
        }
        reporter
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
    });
}
