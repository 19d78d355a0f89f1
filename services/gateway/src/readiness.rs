//! `/readyz`: the stack can serve a turn now. Checks run concurrently with short timeouts.

use std::time::Duration;

use pincer_bus::Namespace;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};

const CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// Readiness probes.
#[derive(Clone, Debug)]
pub struct Readiness {
    client: async_nats::Client,
    namespace: Namespace,
    router: HealthClient<Channel>,
}

/// The outcome, as served by `/readyz`.
#[derive(Debug, Serialize)]
pub struct Report {
    /// All checks passed.
    pub ok: bool,
    /// NATS connection state.
    pub nats: Check,
    /// llm-router `grpc.health.v1`.
    pub llm_router: Check,
    /// An agent-runner answered the ping.
    pub agent_runner: Check,
    /// What the answering agent-runner says of its tool host and MCP servers (not on the
    /// public `/readyz`: server errors are for signed-in operators).
    #[serde(skip)]
    pub tools: Option<serde_json::Value>,
}

/// One check.
#[derive(Debug, Serialize)]
pub struct Check {
    /// Passed.
    pub ok: bool,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Check {
    fn from(result: Result<(), String>) -> Self {
        match result {
            Ok(()) => Self {
                ok: true,
                error: None,
            },
            Err(error) => Self {
                ok: false,
                error: Some(error),
            },
        }
    }
}

impl Readiness {
    /// Prepares the probes (the router channel connects lazily).
    pub fn new(
        client: async_nats::Client,
        namespace: Namespace,
        router_url: &str,
    ) -> Result<Self, String> {
        let channel = Endpoint::from_shared(router_url.to_owned())
            .map_err(|e| e.to_string())?
            .connect_timeout(CHECK_TIMEOUT)
            .connect_lazy();
        Ok(Self {
            client,
            namespace,
            router: HealthClient::new(channel),
        })
    }

    /// Runs every check.
    pub async fn check(&self) -> Report {
        let (nats, llm_router, agent_runner) =
            tokio::join!(self.nats(), self.router(), self.agent_runner());
        let tools = agent_runner.as_ref().ok().and_then(|tools| tools.clone());
        let agent_runner = agent_runner.map(|_| ());
        Report {
            ok: nats.is_ok() && llm_router.is_ok() && agent_runner.is_ok(),
            nats: Check::from(nats),
            llm_router: Check::from(llm_router),
            agent_runner: Check::from(agent_runner),
            tools,
        }
    }

    async fn nats(&self) -> Result<(), String> {
        match self.client.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            other => Err(format!("nats connection is {other:?}")),
        }
    }

    async fn router(&self) -> Result<(), String> {
        let mut client = self.router.clone();
        let call = client.check(HealthCheckRequest {
            service: String::new(),
        });
        match tokio::time::timeout(CHECK_TIMEOUT, call).await {
            Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32 => {
                Ok(())
            }
            Ok(Ok(response)) => Err(format!(
                "llm-router reports status {}",
                response.get_ref().status
            )),
            Ok(Err(status)) => Err(format!("llm-router health check failed: {}", status.code())),
            Err(_) => Err("llm-router health check timed out".to_owned()),
        }
    }

    /// The ping's answer carries the runner's view of its tools.
    async fn agent_runner(&self) -> Result<Option<serde_json::Value>, String> {
        let ping = self
            .client
            .request(self.namespace.agent_runner_ping(), "ping".into());
        match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
            Ok(Ok(reply)) => Ok(serde_json::from_slice::<serde_json::Value>(&reply.payload)
                .ok()
                .and_then(|report| report.get("tools").cloned())),
            Ok(Err(error)) if error.kind() == async_nats::RequestErrorKind::NoResponders => {
                Err("no agent-runner is consuming".to_owned())
            }
            Ok(Err(error)) => Err(format!("agent-runner ping failed: {error}")),
            Err(_) => Err("agent-runner ping timed out".to_owned()),
        }
    }
}
