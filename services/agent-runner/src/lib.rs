//! agent-runner: runs the agent loop for turns taken from the JetStream work queue.
//!
//! - [`consumer`]: the durable pull consumer, per-session FIFO workers and the global
//!   `maxConcurrent` limit; acks only after a turn's outcome is stored.
//! - [`turn`]: one turn: lease the session, load the transcript, run a command or the agent loop,
//!   persist, answer.
//! - [`agent_loop`]: model calls and tool calls until an answer, `maxIterations` or the timeout;
//!   [`loop_guard`] keeps a model from repeating a failing call.
//! - [`agents`], [`skills`], [`tools`]: each agent's prompt files, skills and tools (files,
//!   memory); its workspace is [`pincer_workspace`]; [`memory`]: its memory index, embedded in
//!   the background.
//! - [`tool_host`]: the tools that run programs or reach the network (exec, web, MCP servers),
//!   which run in the tool host, not here.
//! - [`commands`]: `/new`, `/reset`, `/status`, `/model`, `/usage`.
//! - [`compaction`]: summarising older turns when the window is full.
//! - [`sessions`]: transcripts in a KV bucket (optimistic concurrency) and cross-replica leases.
//! - [`router`], [`model_call`]: the gRPC client of the llm-router and one streamed call.
//! - [`prompt`]: assembly of what is sent to the model.
//! - [`health`]: `grpc.health.v1` for the container probe and the NATS readiness ping.
//! - [`metrics`]: turns, model and tool calls, MCP server states, answered to the gateway's scrape.

mod executable;
pub use executable::main;
pub mod aborts;
pub mod agent_loop;
pub mod agents;
pub mod attachments;
pub mod commands;
pub mod compaction;
pub mod consumer;
pub mod context_limit;
pub mod health;
pub mod heartbeat;
pub mod image_type;
pub mod loop_guard;
pub mod memory;
pub mod metrics;
pub mod model_call;
pub mod prompt;
pub mod prompt_cache;
mod released_leases;
pub mod router;
#[cfg(test)]
mod scripted_router;
pub mod sessions;
pub mod skills;
pub mod subagents;
#[cfg(test)]
mod test_bus;
pub mod tool_host;
pub mod tools;
pub mod turn;
pub mod usage_recorder;

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
    /// This service's user on the bus (`None`: anonymous, for a server without authorization).
    pub nats_credentials: Option<pincer_bus::connect::Credentials>,
    /// llm-router gRPC endpoint (`http://host:port`).
    pub router_url: String,
    /// The llm-router's token (`PINCER_LLM_ROUTER_TOKEN`).
    pub router_token: Option<pincer_config::Secret>,
    /// Subject namespace.
    pub namespace: Namespace,
    /// The `agents` section.
    pub agents: pincer_config::Agents,
    /// The `tools` section (the built-in tools' policy).
    pub tools: pincer_config::Tools,
    /// The tool host (`None`: only the built-in tools).
    pub tool_host: Option<tool_host::Settings>,
    /// The default agent's workspace when the config names none (`PINCER_WORKSPACE`).
    pub workspace_base: PathBuf,
    /// Turns running at once (`agents.defaults.maxConcurrent`, across replicas; 0: this replica
    /// runs only sub-agents).
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
    /// The subscription to `chat.abort` requests failed.
    #[error("cannot listen for aborts: {0}")]
    Aborts(#[from] async_nats::SubscribeError),
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
    Workspace(#[from] pincer_workspace::Error),
    /// The tool host settings cannot work.
    #[error(transparent)]
    ToolHost(#[from] tool_host::Error),
}

/// How long the runner waits at start for the tool host to know its tools (every MCP server
/// connected or failed once; each attempt is bounded by the server's own timeout) before it
/// serves turns with what is known.
const TOOL_HOST_PATIENCE: Duration = Duration::from_secs(90);

/// A fresh workspace in a temporary directory, for tests.
#[cfg(test)]
pub(crate) fn scratch_workspace() -> (tempfile::TempDir, pincer_workspace::Workspace) {
    let dir = tempfile::tempdir().expect("temporary dir");
    let ws = pincer_workspace::Workspace::open(dir.path()).expect("workspace opens");
    (dir, ws)
}

/// Consumes turns until `shutdown`, then stops pulling, lets running turns finish within the grace
/// period and leaves unfinished ones unacknowledged for redelivery.
/// (Boxed: see [`pincer_lifecycle::Serving`].)
pub fn run(
    config: Config,
    health_listener: TcpListener,
    shutdown: CancellationToken,
) -> pincer_lifecycle::Serving<Error> {
    Box::pin(serve_until(config, health_listener, shutdown))
}

async fn serve_until(
    config: Config,
    health_listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    // The catalogue is followed in the background until `shutdown`, or until this returns early.
    let host_shutdown = shutdown.child_token();
    let _stop_host = host_shutdown.clone().drop_guard();
    let host = config
        .tool_host
        .as_ref()
        .map(|settings| tool_host::ToolHost::start(settings, host_shutdown.clone()))
        .transpose()?;
    let router =
        router::RouterClient::connect_lazy(&config.router_url, config.router_token.as_ref())
            .map_err(|reason| Error::RouterUrl {
                url: config.router_url.clone(),
                reason,
            })?;
    let agents = Arc::new(agents::AgentSet::open(
        &config.agents,
        &config.tools,
        host.as_ref(),
        &config.workspace_base,
        Some(&router),
    )?);
    agents.start_memory_indexers(&shutdown);
    let Some((client, js)) = pincer_bus::connect::join(
        &config.nats_url,
        "agent-runner",
        config.nats_credentials.as_ref(),
        &config.namespace,
        shutdown.cancelled(),
    )
    .await?
    else {
        return Ok(());
    };
    let (context, usage_writer) = turn_context(&config, &client, &js, agents, router).await?;

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

    // Ready means ready: no turn is taken before the tools it could use are known.
    if let Some(host) = &host {
        wait_for_tools(host, &shutdown).await;
    }
    let scrapes = answer_scrapes(
        &client,
        &config.namespace,
        &context,
        host.clone(),
        &shutdown,
    )
    .await;
    let ping = health::answer_pings(
        client.clone(),
        config.namespace.clone(),
        host.clone(),
        shutdown.clone(),
    );
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let context = Arc::new(context);
    let subagent_slots = config
        .agents
        .defaults
        .subagents
        .as_ref()
        .map_or(8, pincer_config::Subagents::max_concurrent) as usize;
    // Two lanes, so a parent waiting for its child never holds the slot the child needs. A lane
    // with no slots is left to other replicas (a replica can be given to sub-agents only).
    let lane = |lane: consumer::Lane, slots: usize| {
        let (js, context, shutdown) = (js.clone(), Arc::clone(&context), shutdown.clone());
        let (ack_wait, grace) = (config.ack_wait, config.drain_grace);
        async move {
            if slots == 0 {
                shutdown.cancelled().await;
                return Ok(());
            }
            consumer::consume(&js, context, lane, slots, ack_wait, grace, shutdown).await
        }
    };
    let (main, children) = tokio::join!(
        lane(
            consumer::Lane::main(&config.namespace),
            config.max_concurrent
        ),
        lane(consumer::Lane::subagents(&config.namespace), subagent_slots),
    );
    if main.is_err() || children.is_err() {
        shutdown.cancel();
    }
    let consumed = main.and(children);
    // This scope's handle on the turns' context holds a usage recorder too: the writer below
    // only finishes once every recorder is gone (it waited its whole patience, 5 s, at every stop).
    drop(context);
    health_reporter
        .set_service_status("", tonic_health::ServingStatus::NotServing)
        .await;
    ping.abort();
    if let Some(scrapes) = scrapes {
        scrapes.abort();
    }
    shutdown.cancel();
    // The turns are over (the consumer dropped their context): write the usage they recorded.
    if let Some(writer) = usage_writer {
        writer.finish(Duration::from_secs(5)).await;
    }
    if let Ok(Err(error)) = health_server.await {
        tracing::warn!(%error, "health server ended with an error");
    }
    // Make sure acks and publishes reach the server before the process exits.
    pincer_bus::connect::final_flush(&client).await;
    consumed
}

/// The state every turn of this replica shares, and the task writing their usage. The media store
/// and the usage bucket are optional: without them turns still run (attachments are not saved,
/// usage is not counted).
async fn turn_context(
    config: &Config,
    client: &async_nats::Client,
    js: &async_nats::jetstream::Context,
    agents: Arc<agents::AgentSet>,
    router: router::RouterClient,
) -> Result<(turn::TurnContext, Option<usage_recorder::UsageWriter>), Error> {
    let ns = &config.namespace;
    let sessions = sessions::SessionStore::open(js, ns, config.ack_wait / 2).await?;
    let media = match pincer_bus::setup::media_store(js, ns).await {
        Ok(store) => Some(attachments::Media::new(store)),
        Err(error) => {
            tracing::warn!(%error, "media store unavailable: attachments will not be saved");
            None
        }
    };
    let (usage, usage_writer) = match pincer_bus::setup::usage_bucket(js, ns).await {
        Ok(store) => {
            let (recorder, writer) = usage_recorder::UsageRecorder::start(store);
            (Some(recorder), Some(writer))
        }
        Err(error) => {
            tracing::warn!(%error, "usage bucket unavailable: usage will not be recorded");
            (None, None)
        }
    };
    let cron = match pincer_cron::JobStore::open(js, ns).await {
        Ok(store) => Some(store),
        Err(error) => {
            tracing::warn!(%error, "cron bucket unavailable: the cron tool will say so");
            None
        }
    };
    let runner_id = format!("agent-runner-{}", uuid::Uuid::new_v4().simple());
    let context = turn::TurnContext {
        cron,
        client: client.clone(),
        namespace: ns.clone(),
        agents,
        sessions,
        router,
        windows: Arc::default(),
        media,
        metrics: metrics::Metrics::new(&runner_id),
        runner_id,
        usage,
        aborts: aborts::Aborts::listen(client, ns).await?,
    };
    Ok((context, usage_writer))
}

/// Waits until the tool host knows its tools (every MCP server connected or failed once), at most
/// [`TOOL_HOST_PATIENCE`]; then turns are served with what is known.
/// Answers the gateway's metrics scrape; without it the runner still runs turns.
async fn answer_scrapes(
    client: &async_nats::Client,
    ns: &Namespace,
    context: &turn::TurnContext,
    host: Option<Arc<tool_host::ToolHost>>,
    shutdown: &CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let metrics = context.metrics.clone();
    let render = Arc::new(move || metrics.render(host.as_deref()));
    let answering = pincer_metrics::scrape::answer(
        client.clone(),
        ns.metrics(pincer_bus::access::Role::AgentRunner.user()),
        render,
        shutdown.clone(),
    )
    .await;
    match answering {
        Ok(task) => Some(task),
        Err(error) => {
            tracing::warn!(%error, "cannot answer metrics scrapes");
            None
        }
    }
}

async fn wait_for_tools(host: &tool_host::ToolHost, shutdown: &CancellationToken) {
    let waited = std::time::Instant::now();
    let ready = tokio::select! {
        ready = host.ready(TOOL_HOST_PATIENCE) => ready,
        () = shutdown.cancelled() => true,
    };
    if ready {
        tracing::info!(
            waited_ms = u64::try_from(waited.elapsed().as_millis()).unwrap_or(u64::MAX),
            "tool host ready"
        );
    } else {
        tracing::warn!(
            "the tool host is not ready after {}s; serving turns with the tools known so far",
            TOOL_HOST_PATIENCE.as_secs()
        );
    }
}
