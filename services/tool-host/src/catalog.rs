//! The tools the tool host offers, and the dispatch of a call to the one it names: `exec`, the
//! web tools, and every tool of a connected MCP server that its entry and `tools.allow`/`deny`
//! permit.

use std::sync::Arc;

use pincer_mcp::McpManager;
use pincer_proto::tools::v1 as pb;

use crate::definition::Definition;
use crate::error::ToolError;
use crate::exec::Exec;
use crate::web::Web;
use crate::workspaces::Workspaces;

/// Everything the tool host runs.
#[derive(Debug)]
pub struct Tools {
    exec: Option<Exec>,
    web: Web,
    mcp: Arc<McpManager>,
    policy: pincer_config::Tools,
}

impl Tools {
    /// The tools of `config`.
    #[must_use]
    pub fn new(config: &crate::Config, exec: Option<Exec>, web: Web, mcp: Arc<McpManager>) -> Self {
        Self {
            exec,
            web,
            mcp,
            policy: config.tools.clone(),
        }
    }

    /// The MCP servers.
    #[must_use]
    pub fn mcp(&self) -> &Arc<McpManager> {
        &self.mcp
    }

    /// The tools offered now, permitted ones only.
    fn definitions(&self) -> Vec<Definition> {
        let mut tools: Vec<Definition> = self.exec.iter().map(Exec::definition).collect();
        tools.extend(self.web.definitions());
        tools.extend(self.mcp.specs().into_iter().map(|spec| Definition {
            name: spec.name,
            description: spec.description,
            parameters_json: spec.parameters_json,
        }));
        tools.retain(|tool| self.policy.permits(&tool.name));
        tools
    }

    /// The catalogue at `revision`.
    #[must_use]
    pub fn catalog(&self, revision: u64) -> pb::Catalog {
        pb::Catalog {
            ready: self.mcp.ready(),
            tools: self
                .definitions()
                .into_iter()
                .map(Definition::into_proto)
                .collect(),
            servers: self
                .mcp
                .status()
                .into_iter()
                .map(|status| pb::McpServer {
                    name: status.name,
                    transport: status.transport.to_owned(),
                    state: status.state.as_str().to_owned(),
                    last_error: status.last_error.unwrap_or_default(),
                    tools: u32::try_from(status.tools).unwrap_or(u32::MAX),
                    listed: u32::try_from(status.listed).unwrap_or(u32::MAX),
                    restarts: status.restarts,
                    protocol_version: status.protocol_version.unwrap_or_default(),
                })
                .collect(),
            revision,
        }
    }

    /// Runs the tool `name` for `agent` (whose workspace `exec` runs in).
    pub async fn call(
        &self,
        name: &str,
        arguments: &str,
        agent: &str,
        workspaces: &Workspaces,
    ) -> Result<String, ToolError> {
        if !self.policy.permits(name) {
            return Err(ToolError::Denied(format!(
                "`{name}` is excluded by tools.allow / tools.deny"
            )));
        }
        // MCP names are routed even while their server is down, so the model learns why.
        if self.mcp.owns(name) {
            return Ok(self.mcp.call(name, arguments).await?);
        }
        match (name, &self.exec) {
            ("exec", Some(exec)) => {
                let workspace = workspaces.dir(agent).map_err(ToolError::Invalid)?;
                exec.run(&workspace, arguments).await
            }
            (other, _) if self.web.offers(other) => self.web.call(other, arguments).await,
            (other, _) => Err(ToolError::Unknown {
                name: other.to_owned(),
                available: self
                    .definitions()
                    .iter()
                    .map(|tool| tool.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}
