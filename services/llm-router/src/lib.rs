//! llm-router: the only service that holds provider keys and talks to model providers.
//!
//! - [`catalog`]: turns `provider/model` references and `models.providers` into call targets.
//! - [`providers`]: one adapter per wire format (OpenAI-compatible SSE, Ollama NDJSON), each
//!   producing the same [`providers::ProviderEvent`] stream, plus error classification.
//! - [`failover`]: tries the primary, then the fallbacks, while nothing was streamed yet.
//! - [`grpc`]: the `pincer.llm.v1.LlmRouter` service and `grpc.health.v1`.

pub mod catalog;
pub mod failover;
pub mod grpc;
pub mod providers;

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;
use tokio_util::sync::CancellationToken;

/// Router settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The `models` section of the config file.
    pub models: pincer_config::Models,
    /// Whole-call deadline when the caller gives none.
    pub default_call_timeout: Duration,
    /// Overrides the base URL of Ollama providers that do not set `baseUrl` (`OLLAMA_BASE_URL`).
    pub ollama_base_url: Option<String>,
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
}

/// Serves the router on `listener` until `shutdown` is cancelled, then drains in-flight streams.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let catalog = catalog::Catalog::new(config.models, config.ollama_base_url);
    let http = providers::http_client().map_err(|error| Error::HttpClient(error.to_string()))?;
    let service = grpc::Router::new(catalog, http, config.default_call_timeout);

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
        .add_service(pincer_proto::llm::v1::llm_router_server::LlmRouterServer::new(service))
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await?;
    tracing::info!("llm-router stopped");
    Ok(())
}
