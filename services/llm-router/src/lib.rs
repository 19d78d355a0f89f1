//! llm-router: the only service that holds provider keys and talks to model providers.
//!
//! - [`catalog`]: turns `provider/model` references and `models.providers` into call targets.
//! - [`providers`]: one adapter per wire format (OpenAI-compatible SSE, Ollama NDJSON, Anthropic
//!   Messages SSE), each producing the same [`providers::ProviderEvent`] stream, plus error
//!   classification into one closed taxonomy.
//! - [`failover`]: primary → fallbacks with key rotation, retries, breakers and no replay after
//!   output.
//! - [`health`]: cooldowns and circuit breakers per provider, key and model, shared over NATS KV.
//! - [`metrics`]: provider calls, fallbacks, key rotations, first-token latency and breaker states,
//!   answered to the gateway's scrape over NATS.
//! - [`discovery`]: Ollama `/api/tags` and `/api/show` (context length → `num_ctx`, tool support).
//! - [`guard`], [`cost`]: the context-window guard and per-call cost.
//! - [`embeddings`]: `Embed`, texts to vectors with one embedding model (memory search).
//! - [`grpc`], [`status`]: the `pincer.llm.v1.LlmRouter` service and `grpc.health.v1`;
//!   [`probe`]: each provider asked whether it answers, from where the router runs.

mod executable;
pub use executable::main;
pub mod catalog;
pub mod cost;
pub mod discovery;
pub mod embeddings;
pub mod failover;
pub mod gathered;
pub mod grpc;
pub mod guard;
pub mod health;
pub mod metrics;
pub mod probe;
pub mod providers;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;

pub use failover::RetryPolicy;

/// Router settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The `models` section of the config file.
    pub models: pincer_config::Models,
    /// Whole-call deadline when the caller gives none.
    pub default_call_timeout: Duration,
    /// Overrides the base URL of Ollama providers that do not set `baseUrl` (`OLLAMA_BASE_URL`).
    pub ollama_base_url: Option<String>,
    /// NATS, for health shared between replicas; `None` keeps health in memory.
    pub nats_url: Option<String>,
    /// This service's user on the bus (`None`: anonymous).
    pub nats_credentials: Option<pincer_bus::connect::Credentials>,
    /// Token every caller must present (`PINCER_LLM_ROUTER_TOKEN`); `None` only on loopback.
    pub token: Option<pincer_config::Secret>,
    /// Subject and bucket names.
    pub namespace: pincer_bus::Namespace,
    /// Retries within one model.
    pub retry: RetryPolicy,
}

/// Router failures at startup or while serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The HTTP client for providers could not be built.
    #[error("cannot build the provider http client: {0}")]
    HttpClient(String),
    /// The gRPC server failed.
    #[error("grpc server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// Listening beyond loopback without a token would let anyone spend the provider keys.
    #[error("PINCER_LLM_ROUTER_TOKEN must be set when the llm-router listens on {0}")]
    NoToken(String),
}

/// Serves the router on `listener` until `shutdown` is cancelled, then drains in-flight streams.
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
    if config.token.is_none()
        && let Ok(addr) = listener.local_addr()
        && !addr.ip().is_loopback()
    {
        return Err(Error::NoToken(addr.to_string()));
    }
    let catalog = catalog::Catalog::new(config.models, config.ollama_base_url)
        .map_err(|error| Error::HttpClient(error.to_string()))?;
    let book = health::HealthBook::new();
    let engine = Arc::new(failover::Engine::new(catalog, book, config.retry));
    if let Some(url) = config.nats_url {
        join_bus(
            Arc::clone(&engine),
            url,
            config.nats_credentials,
            config.namespace,
            shutdown.clone(),
        );
    }
    for warning in status::startup_warnings(&engine) {
        tracing::warn!("{warning}");
    }
    let service = grpc::Router::new(engine, config.default_call_timeout);

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<pincer_proto::llm::v1::llm_router_server::LlmRouterServer<grpc::Router>>()
        .await;

    tracing::info!(addr = %listener.local_addr().map(|a| a.to_string()).unwrap_or_default(), "llm-router serving");
    // tonic's own tcp_nodelay applies only to listeners it binds; set it on each accepted stream so
    // streamed deltas are not held back by Nagle's algorithm (~40 ms each with delayed ACKs).
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        })
    });
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(tonic::service::interceptor::InterceptedService::new(
            // Room for a turn's images beside a long history (tonic's default is 4 MiB).
            pincer_proto::llm::v1::llm_router_server::LlmRouterServer::new(service)
                .max_decoding_message_size(MAX_REQUEST_BYTES),
            pincer_service_auth::Interceptor::new(config.token),
        ))
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await?;
    tracing::info!("llm-router stopped");
    Ok(())
}

/// Largest chat request accepted: the agent-runner caps a turn's images at 20 MiB.
pub const MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

/// Joins NATS in the background: the health book is shared through KV and the gateway's metrics
/// scrape is answered. The router serves from the first moment, with in-memory health until (and
/// whenever) NATS is unreachable.
fn join_bus(
    engine: Arc<failover::Engine>,
    url: String,
    credentials: Option<pincer_bus::connect::Credentials>,
    namespace: pincer_bus::Namespace,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let connect = async {
            let client = pincer_bus::connect::connect(
                &url,
                "pincer-llm-router",
                credentials.as_ref(),
                pincer_bus::connect::STARTUP_PATIENCE,
            )
            .await?;
            answer_scrapes(&client, &namespace, &engine, &shutdown).await;
            let js = async_nats::jetstream::new(client);
            pincer_bus::setup::model_health_bucket(&js, &namespace).await
        };
        let store = tokio::select! {
            () = shutdown.cancelled() => return,
            store = connect => store,
        };
        match store {
            Ok(store) => {
                tracing::info!("model health shared through NATS KV");
                engine.book.attach(store, shutdown);
            }
            Err(error) => {
                tracing::warn!(%error, "model health stays in memory: NATS KV unavailable");
            }
        }
    });
}

/// Answers the gateway's metrics scrape until `shutdown` (the task ends with it).
async fn answer_scrapes(
    client: &async_nats::Client,
    namespace: &pincer_bus::Namespace,
    engine: &Arc<failover::Engine>,
    shutdown: &CancellationToken,
) {
    let engine = Arc::clone(engine);
    let render = Arc::new(move || engine.metrics.render(&engine.book));
    let subject = namespace.metrics(pincer_bus::access::Role::LlmRouter.user());
    if let Err(error) =
        pincer_metrics::scrape::answer(client.clone(), subject, render, shutdown.clone()).await
    {
        tracing::warn!(%error, "cannot answer metrics scrapes");
    }
}
