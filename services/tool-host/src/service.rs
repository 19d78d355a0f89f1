//! The gRPC API: the catalogue as a stream (the current one at once, then one per change), and
//! tool calls. A tool's failure is an answer the model reads (`is_error`); a gRPC status means
//! the call never reached a tool.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures::Stream;
use pincer_proto::tools::v1 as pb;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

use crate::catalog::Tools;
use crate::workspaces::Workspaces;

/// The `pincer.tools.v1.ToolHost` service.
#[derive(Debug, Clone)]
pub struct ToolHostService {
    tools: Arc<Tools>,
    workspaces: Workspaces,
    shutdown: CancellationToken,
}

impl ToolHostService {
    /// Serves `tools`; catalogue streams end at `shutdown`.
    #[must_use]
    pub fn new(tools: Arc<Tools>, workspaces: Workspaces, shutdown: CancellationToken) -> Self {
        Self {
            tools,
            workspaces,
            shutdown,
        }
    }
}

type CatalogStream = Pin<Box<dyn Stream<Item = Result<pb::Catalog, Status>> + Send>>;

#[tonic::async_trait]
impl pb::tool_host_server::ToolHost for ToolHostService {
    type WatchCatalogStream = CatalogStream;

    async fn watch_catalog(
        &self,
        _request: Request<pb::WatchCatalogRequest>,
    ) -> Result<Response<Self::WatchCatalogStream>, Status> {
        let tools = self.tools.clone();
        let shutdown = self.shutdown.clone();
        let stream = async_stream::stream! {
            let mut changes = tools.mcp().changes();
            loop {
                let revision = *changes.borrow_and_update();
                yield Ok(tools.catalog(revision));
                tokio::select! {
                    changed = changes.changed() => if changed.is_err() { break },
                    () = shutdown.cancelled() => break,
                }
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    async fn call_tool(
        &self,
        request: Request<pb::CallToolRequest>,
    ) -> Result<Response<pb::CallToolResponse>, Status> {
        let span = tracing::info_span!("tool_call", tool = tracing::field::Empty);
        pincer_telemetry::propagation::set_parent(
            &span,
            &pincer_telemetry::propagation::GrpcMetadataRef(request.metadata()),
        );
        let call = request.into_inner();
        span.record("tool", call.name.as_str());
        let started = Instant::now();
        let result = self
            .tools
            .call(
                &call.name,
                &call.arguments_json,
                &call.agent_id,
                &self.workspaces,
            )
            .instrument(span)
            .await;
        tracing::info!(
            tool = %call.name,
            agent = %call.agent_id,
            ok = result.is_ok(),
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "tool call"
        );
        Ok(Response::new(match result {
            Ok(text) => pb::CallToolResponse {
                text,
                is_error: false,
            },
            Err(error) => pb::CallToolResponse {
                text: error.to_string(),
                is_error: true,
            },
        }))
    }
}
