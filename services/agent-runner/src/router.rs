//! gRPC client of the llm-router. Connects lazily so start order does not matter, and puts the
//! service token and the current trace context into every call.

use std::time::Duration;

use pincer_proto::llm::v1 as pb;
use pincer_proto::llm::v1::llm_router_client::LlmRouterClient;
use pincer_service_auth::Caller;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// A cheap-to-clone client.
#[derive(Clone, Debug)]
pub struct RouterClient {
    inner: LlmRouterClient<InterceptedService<Channel, Caller>>,
}

impl RouterClient {
    /// Prepares a connection to `url` (`http://host:port`) without dialling yet; calls carry
    /// `token` (`PINCER_LLM_ROUTER_TOKEN`).
    pub fn connect_lazy(url: &str, token: Option<&pincer_config::Secret>) -> Result<Self, String> {
        let caller = Caller::new(token).map_err(|error| error.to_string())?;
        let channel = Endpoint::from_shared(url.to_owned())
            .map_err(|error| error.to_string())?
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .connect_lazy();
        Ok(Self {
            inner: LlmRouterClient::with_interceptor(channel, caller),
        })
    }

    /// Starts a streaming chat call.
    pub async fn chat(
        &self,
        request: pb::ChatRequest,
    ) -> Result<tonic::Streaming<pb::ChatEvent>, tonic::Status> {
        let mut client = self.inner.clone();
        Ok(client.chat(request).await?.into_inner())
    }

    /// Embeddings (memory search), waiting at most `timeout` (plus a second for the hop).
    pub async fn embed(
        &self,
        request: pb::EmbedRequest,
        timeout: Duration,
    ) -> Result<pb::EmbedResponse, tonic::Status> {
        let mut client = self.inner.clone();
        let mut request = tonic::Request::new(request);
        request.set_timeout(timeout + Duration::from_secs(1));
        Ok(client.embed(request).await?.into_inner())
    }

    /// The router's model catalogue (context windows for compaction).
    pub async fn list_models(&self) -> Result<Vec<pb::ModelInfo>, tonic::Status> {
        let mut client = self.inner.clone();
        let mut request = tonic::Request::new(pb::ListModelsRequest {});
        request.set_timeout(Duration::from_secs(5));
        Ok(client.list_models(request).await?.into_inner().models)
    }
}
