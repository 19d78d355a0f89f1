//! The agent's built-in tools. Each takes its JSON arguments as text and returns text for the model;
//! every failure becomes a [`ToolError`] whose message goes back to the model as the tool result,
//! so a bad call is something the model can correct, never a failed turn.
//!
//! - [`files`]: `read`, `write`, `edit`, `list`, confined to the workspace.
//! - [`memory`]: `memory_search` (over the agent's [`crate::memory`] index), `memory_write`.
//! - [`cron`]: `cron`, the agent's scheduled jobs.
//! - [`sessions`]: delegation: `sessions_spawn`, `sessions_send`, `sessions_list`,
//!   `sessions_history`, `agents_list`.
//!
//! The tools that run programs or reach the network (`exec`, `web_fetch`, `web_search`, MCP
//! tools `<server>__<tool>`) live in the tool host ([`crate::tool_host`]); they are offered and
//! called through the same box, under the same `tools.allow`/`tools.deny` policy.

pub mod cron;
pub mod files;
pub mod memory;
pub mod sessions;

use std::sync::Arc;
use std::time::Duration;

use pincer_proto::llm::v1 as pb;
use serde::de::DeserializeOwned;
use serde_json::json;

use pincer_workspace::{PathError, Workspace};

use crate::memory::MemoryIndex;
use crate::tool_host::ToolHost;

/// Why a tool call failed; the message is what the model sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// The arguments are not the JSON object the tool takes.
    #[error("invalid arguments: {0}")]
    Arguments(String),
    /// The path leaves the workspace.
    #[error(transparent)]
    Path(#[from] PathError),
    /// The request makes no sense (missing file kind, binary file, ...).
    #[error("{0}")]
    Invalid(String),
    /// The policy forbids it.
    #[error("not allowed: {0}")]
    Denied(String),
    /// The filesystem said no.
    #[error("{0}")]
    Io(String),
    /// No such tool.
    #[error("unknown tool `{name}`; available tools: {available}")]
    Unknown {
        /// Name asked for.
        name: String,
        /// What exists.
        available: String,
    },
    /// The tool did not finish in time.
    #[error("`{0}` did not finish within its time limit")]
    TimedOut(String),
    /// A tool of the tool host failed (or the tool host is unreachable); its own words.
    #[error("{0}")]
    Host(String),
}

impl ToolError {
    /// A failed access beneath the workspace, for `path` as the model named it.
    fn beneath(path: &str, error: &pincer_workspace::beneath::BeneathError) -> Self {
        use pincer_workspace::beneath::BeneathError;
        match error {
            BeneathError::Escapes => Self::Path(PathError::Escapes(path.to_owned())),
            BeneathError::HardLinked => Self::Invalid(format!("{path} {error}")),
            BeneathError::Io(io) => Self::io(path, io),
        }
    }

    fn io(path: &str, error: &std::io::Error) -> Self {
        let reason = match error.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_owned(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
            _ => error.to_string(),
        };
        Self::Io(format!("{path}: {reason}"))
    }
}

/// Parses a tool's arguments. An empty string counts as `{}` (models omit arguments for tools
/// without parameters).
fn args<T: DeserializeOwned>(arguments: &str) -> Result<T, ToolError> {
    let text = if arguments.trim().is_empty() {
        "{}"
    } else {
        arguments
    };
    serde_json::from_str(text).map_err(|error| ToolError::Arguments(error.to_string()))
}

/// Longest any built-in tool may run.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// The tools that run in this process, on the workspace.
const BUILT_IN: &[&str] = &[
    "read",
    "write",
    "edit",
    "list",
    "memory_search",
    "memory_write",
    "cron",
    "sessions_spawn",
    "sessions_send",
    "sessions_list",
    "sessions_history",
    "agents_list",
];

/// What a tool call knows of its turn.
#[derive(Clone, Copy, Default)]
pub struct CallContext<'a> {
    /// The replica's shared state and the turn (`None` outside a turn).
    pub turn: Option<(
        &'a crate::turn::TurnContext,
        &'a pincer_bus::messages::TurnRequest,
    )>,
    /// Children started by this run so far (`sessions_spawn`, `sessions_send`).
    pub children: Option<&'a std::sync::atomic::AtomicUsize>,
    /// Where the children's usage is added, to count toward the run's.
    pub child_usage: Option<&'a std::sync::Mutex<pincer_bus::messages::Usage>>,
}

impl CallContext<'_> {
    fn cron(&self) -> Option<&pincer_cron::JobStore> {
        self.turn.and_then(|(turn, _)| turn.cron.as_ref())
    }

    fn reply_to(&self) -> Option<&pincer_bus::messages::Delivery> {
        self.turn.and_then(|(_, request)| request.deliver.as_ref())
    }
}

/// The tools of one agent.
#[derive(Clone, Debug)]
pub struct ToolBox {
    agent: String,
    workspace: Workspace,
    policy: pincer_config::Tools,
    /// `agents.defaults.sandbox.workspaceAccess`: what the tools may do with the workspace.
    access: pincer_config::WorkspaceAccess,
    host: Option<Arc<ToolHost>>,
    memory: MemoryIndex,
}

/// The built-in tools that change the workspace: not offered when it is read-only.
const WRITING: &[&str] = &["write", "edit", "memory_write"];
/// The built-in tools that read it: not offered either when tools may not see it.
const READING: &[&str] = &["read", "list", "memory_search"];

impl ToolBox {
    /// Tools of `agent` over `workspace` under `policy` (`tools` in the config); memory is
    /// searched by words until [`ToolBox::with_memory`] gives it embeddings.
    pub fn new(agent: &str, workspace: Workspace, policy: &pincer_config::Tools) -> Self {
        Self {
            agent: agent.to_owned(),
            memory: MemoryIndex::new(workspace.root(), None),
            workspace,
            policy: policy.clone(),
            access: pincer_config::WorkspaceAccess::default(),
            host: None,
        }
    }

    /// Offers only what `access` (OpenClaw's `sandbox.workspaceAccess`) lets tools do with the
    /// workspace: `ro` leaves out the tools that write it, `none` those that read it too.
    #[must_use]
    pub fn with_workspace_access(mut self, access: pincer_config::WorkspaceAccess) -> Self {
        self.access = access;
        self
    }

    /// Whether the workspace access lets the built-in tool `name` be offered.
    fn access_permits(&self, name: &str) -> bool {
        use pincer_config::WorkspaceAccess;
        match self.access {
            WorkspaceAccess::Rw => true,
            WorkspaceAccess::Ro => !WRITING.contains(&name),
            WorkspaceAccess::None => !WRITING.contains(&name) && !READING.contains(&name),
        }
    }

    /// Uses `memory` (the workspace's index, with its embedder) for the memory tools.
    #[must_use]
    pub fn with_memory(mut self, memory: MemoryIndex) -> Self {
        self.memory = memory;
        self
    }

    /// The memory index of the workspace.
    pub fn memory(&self) -> &MemoryIndex {
        &self.memory
    }

    /// Adds the tools of the tool host.
    #[must_use]
    pub fn with_host(mut self, host: Arc<ToolHost>) -> Self {
        self.host = Some(host);
        self
    }

    /// What the model should know about tools that are missing or failing right now.
    pub fn outages(&self) -> Vec<String> {
        self.host
            .as_ref()
            .map(|host| host.offer().outages())
            .unwrap_or_default()
    }

    /// The workspace the tools work in.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// The tool definitions offered to the model: the built-ins and the tools of connected MCP
    /// servers that the policy permits.
    pub fn specs(&self) -> Vec<pb::ToolSpec> {
        let mut specs = vec![
            spec(
                "read",
                "Read a text file in the workspace (optionally lines offset..offset+limit).",
                json!({"type":"object","properties":{"path":{"type":"string"},"offset":{"type":"integer"},"limit":{"type":"integer"}},"required":["path"]}),
            ),
            spec(
                "write",
                "Create or replace a file in the workspace.",
                json!({"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"]}),
            ),
            spec(
                "edit",
                "Replace one exact occurrence of old_text with new_text in a file.",
                json!({"type":"object","properties":{"path":{"type":"string"},"old_text":{"type":"string"},"new_text":{"type":"string"}},"required":["path","old_text","new_text"]}),
            ),
            spec(
                "list",
                "List a workspace directory (default: the root).",
                json!({"type":"object","properties":{"path":{"type":"string"}}}),
            ),
            spec(
                "memory_search",
                "Search long-term memory (MEMORY.md, memory/*.md).",
                json!({"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"integer"}},"required":["query"]}),
            ),
            spec(
                "memory_write",
                "Save a note to memory: target daily (default) or long_term.",
                json!({"type":"object","properties":{"text":{"type":"string"},"target":{"type":"string","enum":["daily","long_term"]}},"required":["text"]}),
            ),
            spec(
                "cron",
                "Schedule work for yourself: reminders, recurring checks. action: list | add | update | remove | run. add takes: message, and one of at (RFC 3339 time or +10m/+2h from now), every (30m, 1h) or cron (\"0 7 * * *\" with tz like Europe/Berlin); the answer goes to this chat unless channel/to name another. update takes id and enabled or name; remove and run take id.",
                json!({"type":"object","properties":{
                    "action":{"type":"string","enum":["list","add","update","remove","run"]},
                    "id":{"type":"string"},
                    "message":{"type":"string"},
                    "at":{"type":"string"},
                    "every":{"type":"string"},
                    "cron":{"type":"string"},
                    "tz":{"type":"string"},
                    "name":{"type":"string"},
                    "sessionTarget":{"type":"string","enum":["isolated","main"]},
                    "channel":{"type":"string"},
                    "to":{"type":"string"},
                    "enabled":{"type":"boolean"}
                },"required":["action"]}),
            ),
            spec(
                "sessions_spawn",
                "Delegate a task to a sub-agent (a fresh session of yourself or of an allowed agent, see agents_list) and get its answer. Give it everything it needs in task.",
                json!({"type":"object","properties":{"task":{"type":"string"},"agentId":{"type":"string"},"label":{"type":"string"},"model":{"type":"string"},"runTimeoutSeconds":{"type":"integer"}},"required":["task"]}),
            ),
            spec(
                "sessions_send",
                "Send a message to another session (sessions_list) and get its answer.",
                json!({"type":"object","properties":{"sessionKey":{"type":"string"},"message":{"type":"string"},"timeoutSeconds":{"type":"integer"}},"required":["sessionKey","message"]}),
            ),
            spec(
                "sessions_list",
                "List recent sessions you may reach.",
                json!({"type":"object","properties":{"limit":{"type":"integer"}}}),
            ),
            spec(
                "sessions_history",
                "Read the last messages of a session.",
                json!({"type":"object","properties":{"sessionKey":{"type":"string"},"limit":{"type":"integer"}},"required":["sessionKey"]}),
            ),
            spec(
                "agents_list",
                "List the agents you may delegate to.",
                json!({"type":"object","properties":{}}),
            ),
        ];
        if let Some(host) = &self.host {
            specs.extend(
                host.offer()
                    .catalog
                    .tools
                    .into_iter()
                    .map(|tool| pb::ToolSpec {
                        name: tool.name,
                        description: tool.description,
                        parameters_json: tool.parameters_json,
                    }),
            );
        }
        specs.retain(|spec| self.policy.permits(&spec.name) && self.access_permits(&spec.name));
        specs
    }

    /// Runs one call outside a turn (no scheduler, no chat).
    pub async fn call(&self, name: &str, arguments: &str) -> Result<String, ToolError> {
        self.call_in(name, arguments, CallContext::default()).await
    }

    /// Runs one call; the result (or the error message) is the tool result for the model.
    pub async fn call_in(
        &self,
        name: &str,
        arguments: &str,
        context: CallContext<'_>,
    ) -> Result<String, ToolError> {
        // The tool host's tools go there, MCP names even while their server (or the tool host)
        // is down, so the model learns why.
        if let Some(host) = &self.host
            && !BUILT_IN.contains(&name)
            && self.policy.permits(name)
            && (host.offers(name) || name.contains("__"))
        {
            return host
                .call(&self.agent, name, arguments)
                .await
                .map_err(ToolError::Host);
        }
        let offered = self.specs();
        if !offered.iter().any(|spec| spec.name == name) {
            return Err(ToolError::Unknown {
                name: name.to_owned(),
                available: offered
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        if name == "memory_search" {
            return tokio::time::timeout(TOOL_TIMEOUT, memory::search(&self.memory, arguments))
                .await
                .unwrap_or_else(|_| Err(ToolError::TimedOut(name.to_owned())));
        }
        if name == "cron" {
            let call = cron::CronCall {
                store: context.cron(),
                agent: &self.agent,
                reply_to: context.reply_to(),
            };
            return tokio::time::timeout(TOOL_TIMEOUT, cron::call(&call, arguments))
                .await
                .unwrap_or_else(|_| Err(ToolError::TimedOut(name.to_owned())));
        }
        match name {
            // Bounded by their own wait (`runTimeoutSeconds`), not the built-ins' limit.
            "sessions_spawn" => return sessions::spawn(&context, &self.agent, arguments).await,
            "sessions_send" => return sessions::send(&context, &self.agent, arguments).await,
            "sessions_list" | "sessions_history" => {
                let work = async {
                    if name == "sessions_list" {
                        sessions::list(&context, &self.agent, arguments).await
                    } else {
                        sessions::history(&context, &self.agent, arguments).await
                    }
                };
                return tokio::time::timeout(TOOL_TIMEOUT, work)
                    .await
                    .unwrap_or_else(|_| Err(ToolError::TimedOut(name.to_owned())));
            }
            "agents_list" => return sessions::agents(&context, &self.agent),
            _ => {}
        }
        // The file tools block: run them off the async workers, bounded in time.
        let workspace = self.workspace.clone();
        let memory = self.memory.clone();
        let (tool, arguments) = (name.to_owned(), arguments.to_owned());
        let work = tokio::task::spawn_blocking(move || match tool.as_str() {
            "read" => files::read(&workspace, &arguments),
            "write" => files::write(&workspace, &arguments),
            "edit" => files::edit(&workspace, &arguments),
            "list" => files::list(&workspace, &arguments),
            "memory_write" => {
                let saved = memory::write(
                    &workspace,
                    &arguments,
                    &pincer_clock::Date::today().to_string(),
                );
                if saved.is_ok() {
                    memory.changed();
                }
                saved
            }
            other => Err(ToolError::Invalid(format!(
                "`{other}` has no implementation"
            ))),
        });
        match tokio::time::timeout(TOOL_TIMEOUT, work).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(ToolError::Invalid(format!("`{name}` crashed: {join}"))),
            Err(_) => Err(ToolError::TimedOut(name.to_owned())),
        }
    }
}

fn spec(name: &str, description: &str, parameters: serde_json::Value) -> pb::ToolSpec {
    pb::ToolSpec {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters_json: parameters.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_tools_and_denied_tools_are_tool_errors_naming_the_choices() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Workspace::open(dir.path()).expect("ws");
        let policy = pincer_config::Tools {
            deny: vec!["write".into()],
            ..Default::default()
        };
        let tools = ToolBox::new("main", ws, &policy);
        let names: Vec<String> = tools.specs().into_iter().map(|s| s.name).collect();
        assert!(!names.contains(&"write".to_owned()) && !names.contains(&"exec".to_owned()));
        let error = tools
            .call("write", r#"{"path":"a","content":"b"}"#)
            .await
            .expect_err("denied");
        assert!(
            error.to_string().contains("unknown tool `write`")
                && error.to_string().contains("read")
        );
        let error = tools
            .call("exec", r#"{"command":"ls"}"#)
            .await
            .expect_err("off");
        assert!(matches!(error, ToolError::Unknown { .. }));
        assert!(tools.call("read", r#"{"path":"SOUL.md"}"#).await.is_ok());
    }

    #[tokio::test]
    async fn a_read_only_workspace_offers_no_tool_that_writes_it() {
        use pincer_config::WorkspaceAccess;
        let dir = tempfile::tempdir().expect("dir");
        let ws = Workspace::open(dir.path()).expect("ws");
        let names = |tools: &ToolBox| -> Vec<String> {
            tools.specs().into_iter().map(|s| s.name).collect()
        };
        let read_only = ToolBox::new("main", ws.clone(), &Default::default())
            .with_workspace_access(WorkspaceAccess::Ro);
        let offered = names(&read_only);
        for tool in ["write", "edit", "memory_write"] {
            assert!(!offered.contains(&tool.to_owned()), "{tool}");
        }
        assert!(offered.contains(&"read".to_owned()));
        let refused = read_only
            .call("write", r#"{"path":"a","content":"b"}"#)
            .await
            .expect_err("not offered");
        assert!(matches!(refused, ToolError::Unknown { .. }));
        assert!(!dir.path().join("a").exists());

        let unseen = ToolBox::new("main", ws, &Default::default())
            .with_workspace_access(WorkspaceAccess::None);
        let offered = names(&unseen);
        for tool in ["read", "list", "memory_search", "write"] {
            assert!(!offered.contains(&tool.to_owned()), "{tool}");
        }
        assert!(offered.contains(&"cron".to_owned()), "the rest stays");
    }
}
