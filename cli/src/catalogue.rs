//! Where `pincer models` reads the router's catalogue and health: by default through the
//! gateway's control plane (`models.list`, `models.status`), the one port a deployment publishes,
//! so it works for compose as for `pincer dev`; or straight from the llm-router's gRPC port with
//! `--router` or `$PINCER_LLM_ROUTER_URL`. Both give the same JSON (`pincer_proto::json`).

use std::path::Path;
use std::time::Duration;

use pincer_proto::llm::v1 as pb;
use pincer_proto::llm::v1::llm_router_client::LlmRouterClient;
use serde_json::{Value, json};

use crate::sources::Sources;
use crate::target::{self, Gateway};

/// Patience for the router to answer.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Why the catalogue could not be read: the message was printed, this is the exit code.
pub type Failed = u8;

/// The catalogue's source.
pub enum Catalogue {
    /// The llm-router's gRPC address, and the token it wants.
    Router(String, Option<pincer_config::Secret>),
    /// The gateway.
    Gateway(Gateway),
}

impl Catalogue {
    /// `--router` (or `$PINCER_LLM_ROUTER_URL`) when given, else the gateway at `--url` or as the
    /// config describes it.
    pub fn choose(
        router: Option<String>,
        url: Option<String>,
        config: Option<&Path>,
    ) -> Result<Self, String> {
        let sources = Sources::find(config);
        if let Some(router) =
            router.or_else(|| crate::sources::process_value("PINCER_LLM_ROUTER_URL"))
        {
            let token = sources
                .lookup("PINCER_LLM_ROUTER_TOKEN")
                .map(pincer_config::Secret::new);
            return Ok(Self::Router(router, token));
        }
        target::resolve_with(url, &sources).map(Self::Gateway)
    }

    /// The models, as `[{id, name, api, source, contextWindow, ...}]`.
    pub async fn models(&self) -> Result<Value, Failed> {
        match self {
            Self::Gateway(gateway) => target::call(gateway, "models.list", json!({}))
                .await
                .map(|payload| payload["models"].clone()),
            Self::Router(url, token) => {
                let mut client = router(url, token.as_ref()).await?;
                let models = client
                    .list_models(pb::ListModelsRequest {})
                    .await
                    .map_err(|status| refused(url, &status))?
                    .into_inner()
                    .models;
                Ok(pincer_proto::json::models(&models))
            }
        }
    }

    /// Health of every provider, key and model, as `{providers, models, warnings, ...}`.
    pub async fn status(&self) -> Result<Value, Failed> {
        match self {
            Self::Gateway(gateway) => target::call(gateway, "models.status", json!({})).await,
            Self::Router(url, token) => {
                let mut client = router(url, token.as_ref()).await?;
                let status = client
                    .status(pb::StatusRequest { probe: false })
                    .await
                    .map_err(|status| refused(url, &status))?
                    .into_inner();
                Ok(pincer_proto::json::status(&status))
            }
        }
    }
}

type Client = LlmRouterClient<
    tonic::service::interceptor::InterceptedService<
        tonic::transport::Channel,
        pincer_service_auth::Caller,
    >,
>;

async fn router(url: &str, token: Option<&pincer_config::Secret>) -> Result<Client, Failed> {
    let unreachable = |why: String| {
        eprintln!(
            "pincer: cannot reach the llm-router at {url}: {why} (is the stack up? `pincer gateway status`; without --router the gateway is asked)"
        );
        target::exit::UNAVAILABLE
    };
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|e| unreachable(e.to_string()))?
        .connect_timeout(Duration::from_secs(3))
        .timeout(TIMEOUT);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let caller = pincer_service_auth::Caller::new(token).map_err(|e| unreachable(e.to_string()))?;
    Ok(LlmRouterClient::with_interceptor(channel, caller))
}

fn refused(url: &str, status: &tonic::Status) -> Failed {
    eprintln!(
        "pincer: the llm-router at {url} answered: {}",
        status.message()
    );
    match status.code() {
        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied => target::exit::NOPERM,
        _ => target::exit::UNAVAILABLE,
    }
}
