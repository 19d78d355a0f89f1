//! agent-runner: runs the agent loop for turns taken from the JetStream work queue.
//!
//! - [`consumer`]: the durable pull consumer, per-session FIFO workers and the global
//!   `maxConcurrent` limit; acks only after a turn's outcome is stored.
//! - [`turn`]: one turn: lease the session, load the transcript, run a command or the agent loop,
//!   persist, answer.
//! - [`agent_loop`]: model calls and tool calls until an answer, `maxIterations` or the timeout.
//! - [`agents`], [`workspace`], [`skills`], [`tools`]: each agent's home, prompt files, skills and
//!   tools (files, exec, memory).
//! - [`mcp`]: the MCP servers of `mcp.servers`, shared by all agents, restarted when they fail.
//! - [`commands`]: `/new`, `/reset`, `/status`, `/model`, `/usage`.
//! - [`compaction`]: summarising older turns when the window is full.
//! - [`sessions`]: transcripts in a KV bucket (optimistic concurrency) and cross-replica leases.
//! - [`router`], [`model_call`]: the gRPC client of the llm-router and one streamed call.
//! - [`prompt`]: assembly of what is sent to the model.
//! - [`health`]: `grpc.health.v1` for the container probe and the NATS readiness ping.

pub mod agent_loop;
pub mod agents;
pub mod attachments;
pub mod commands;
pub mod compaction;
pub mod consumer;
pub mod health;
pub mod mcp;
pub mod model_call;
pub mod prompt;
pub mod prompt_cache;
pub mod router;
pub mod sessions;
pub mod skills;
pub mod tools;
pub mod turn;
pub mod workspace;

use std::path::PathBuf;
use std::sync::Arc;

use std::time::Duration;

use pincer_bus::Namespace;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Runner settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// NATS server URL.
    pub nats_url: String,
    /// llm-router gRPC endpoint (`http://host:port`).
    pub router_url: String,
    /// Subject namespace.
    pub namespace: Namespace,
    /// The `agents` section.
    pub agents: pincer_config::Agents,
    /// The `tools` section.
    pub tools: pincer_config::Tools,
    /// The `mcp` section (`Default`: no servers).
    pub mcp: pincer_config::Mcp,
    /// The default agent's workspace when the config names none (`PINCER_WORKSPACE`).
    pub workspace_base: PathBuf,
    /// Turns running at once in this replica (`agents.defaults.maxConcurrent`).
    pub max_concurrent: usize,
    /// How long in-flight turns may take to finish after shutdown was requested.
    pub drain_grace: Duration,
    /// Redelivery delay of a turn whose runner died; session leases expire in half of it.
    pub ack_wait: Duration,
}

/// Runner failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// NATS connection or setup failed.
    #[error(transparent)]
    Bus(#[from] pincer_bus::Error),
    /// The JetStream consumer could not be created or read.
    #[error("jetstream consumer failed: {0}")]
    Consumer(String),
    /// The llm-router endpoint is malformed.
    #[error("invalid llm-router url {url:?}: {reason}")]
    RouterUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The health server failed.
    #[error("health server failed: {0}")]
    Health(#[from] tonic::transport::Error),
    /// An agent's workspace cannot be used.
    #[error(transparent)]
    Workspace(#[from] workspace::Error),
}

/// How long MCP servers may take to exit after shutdown (stdio: stdin closed, then SIGTERM,
/// then SIGKILL).
const MCP_STOP_PATIENCE: Duration = Duration::from_secs(10);

/// Consumes turns until `shutdown`, then stops pulling, lets running turns finish within the grace
/// period and leaves unfinished ones unacknowledged for redelivery.
pub async fn run(
    config: Config,
    health_listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    // Servers start in the background; their tools appear once they are connected. They stop with
    // `shutdown`, or when this returns early with an error.
    let mcp_shutdown = shutdown.child_token();
    let _stop_mcp = mcp_shutdown.clone().drop_guard();
    let mcp = mcp::McpManager::start(&config.mcp, &mcp_shutdown);
    let agents = Arc::new(agents::AgentSet::open(
        &config.agents,
        &config.tools,
        &mcp,
        &config.workspace_base,
    )?);
    let client = pincer_bus::connect::connect(
        &config.nats_url,
        "agent-runner",
        pincer_bus::connect::STARTUP_PATIENCE,
    )
    .await?;
    let js = async_nats::jetstream::new(client.clone());
    pincer_bus::setup::ensure_all(&js, &config.namespace).await?;
    let sessions =
        sessions::SessionStore::open(&js, &config.namespace, config.ack_wait / 2).await?;
    let router = router::RouterClient::connect_lazy(&config.router_url).map_err(|reason| {
        Error::RouterUrl {
            url: config.router_url.clone(),
            reason,
        }
    })?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let health_shutdown = shutdown.clone();
    let health_server = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(health_service)
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(health_listener),
                health_shutdown.cancelled_owned(),
            )
            .await
    });

    let context = turn::TurnContext {
        client: client.clone(),
        namespace: config.namespace.clone(),
        agents,
        sessions,
        router,
        windows: Arc::default(),
        media: match pincer_bus::setup::media_store(&js, &config.namespace).await {
            Ok(store) => Some(attachments::Media(store)),
            Err(error) => {
                tracing::warn!(%error, "media store unavailable: attachments will not be saved");
                None
            }
        },
        runner_id: format!("agent-runner-{}", uuid::Uuid::new_v4().simple()),
        usage: match pincer_bus::setup::usage_bucket(&js, &config.namespace).await {
            Ok(store) => Some(store),
            Err(error) => {
                tracing::warn!(%error, "usage bucket unavailable: usage will not be recorded");
                None
            }
        },
    };
    let ping = health::answer_pings(client.clone(), config.namespace.clone(), shutdown.clone());
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let consumed = consumer::consume(
        &js,
        context,
        config.max_concurrent,
        config.ack_wait,
        config.drain_grace,
        shutdown.clone(),
    )
    .await;
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    ping.abort();
    shutdown.cancel();
    if let Ok(Err(error)) = health_server.await {
        tracing::warn!(%error, "health server ended with an error");
    }
    // Make sure acks and publishes reach the server before the process exits.
    if let Err(error) = client.flush().await {
        tracing::warn!(%error, "final nats flush failed");
    }
    mcp.stopped(MCP_STOP_PATIENCE).await;
    consumed
}
