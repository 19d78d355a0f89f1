//! The configured agents of this runner, each with its workspace and tools, opened at start-up so
//! a workspace that cannot be created is a start-up error, not a failed turn.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use pincer_config::{AgentError, ResolvedAgent};
use pincer_workspace::{self as workspace, Workspace, bootstrap::Caps};

use crate::memory::{Embedder, MemoryIndex};
use crate::router::RouterClient;
use crate::tool_host::ToolHost;
use crate::tools::ToolBox;

/// One agent, ready to run turns.
#[derive(Debug)]
pub struct Agent {
    /// Model, limits and ids, defaults applied.
    pub resolved: ResolvedAgent,
    /// Its tools (and workspace).
    pub tools: ToolBox,
    /// Prompt caps for its workspace files.
    pub caps: Caps,
    /// Its workspace files and skills as last read.
    pub prompt: crate::prompt_cache::PromptCache,
}

/// Every agent by its resolved id.
#[derive(Debug, Default)]
pub struct AgentSet {
    config: pincer_config::Agents,
    by_id: HashMap<String, Arc<Agent>>,
}

impl AgentSet {
    /// Opens the workspace of every agent that resolves. `base` is the default agent's workspace
    /// when the config names none (others get `<base>-<id>`). Every agent gets the tools of the
    /// tool host, when there is one, and embeddings for memory search through `router` when
    /// `agents.defaults.memorySearch` names a provider.
    pub fn open(
        config: &pincer_config::Agents,
        tools: &pincer_config::Tools,
        host: Option<&Arc<ToolHost>>,
        base: &Path,
        router: Option<&RouterClient>,
    ) -> Result<Self, workspace::Error> {
        let embedding_model = config
            .defaults
            .memory_search
            .as_ref()
            .and_then(pincer_config::MemorySearch::embedding_model);
        let default_id = config.default_id().to_owned();
        let mut ids = vec![default_id.clone()];
        ids.extend(
            config
                .entries
                .keys()
                .filter(|id| **id != default_id)
                .cloned(),
        );
        let caps = Caps {
            file: config
                .defaults
                .bootstrap_max_chars
                .unwrap_or(workspace::bootstrap::DEFAULT_FILE_CAP),
            total: config
                .defaults
                .bootstrap_total_max_chars
                .unwrap_or(workspace::bootstrap::DEFAULT_TOTAL_CAP),
        };
        let mut by_id = HashMap::new();
        for id in ids {
            let Ok(resolved) = config.resolve(&id) else {
                // No model: every turn for it gets the resolution error, which says what to set.
                continue;
            };
            let dir = workspace::location(
                resolved.workspace.as_deref(),
                base,
                &resolved.id,
                resolved.id == default_id,
            );
            let ws = Workspace::open(&dir)?;
            tracing::info!(agent = %resolved.id, workspace = %ws.root().display(), "agent ready");
            let embedder = router
                .zip(embedding_model.clone())
                .map(|(router, model)| Embedder::new(router.clone(), model));
            let memory = MemoryIndex::new(ws.root(), embedder);
            let access = config
                .defaults
                .sandbox
                .as_ref()
                .map(pincer_config::Sandbox::workspace_access)
                .unwrap_or_default();
            let mut toolbox = ToolBox::new(&resolved.id, ws, tools)
                .with_memory(memory)
                .with_workspace_access(access);
            if let Some(host) = host {
                toolbox = toolbox.with_host(host.clone());
            }
            by_id.insert(
                resolved.id.clone(),
                Arc::new(Agent {
                    tools: toolbox,
                    resolved,
                    caps,
                    prompt: Default::default(),
                }),
            );
        }
        Ok(Self {
            config: config.clone(),
            by_id,
        })
    }

    /// The `agents` section.
    pub fn config(&self) -> &pincer_config::Agents {
        &self.config
    }

    /// The agents that can run, by id.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.by_id.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Starts each agent's memory indexer (index built from the files, embeddings computed in
    /// the background) until `shutdown`.
    pub fn start_memory_indexers(&self, shutdown: &tokio_util::sync::CancellationToken) {
        for agent in self.by_id.values() {
            tokio::spawn(crate::memory::indexer::run(
                agent.tools.memory().clone(),
                shutdown.clone(),
            ));
        }
    }

    /// The agent a turn names (`default`, `main` or an entry id).
    pub fn get(&self, id: &str) -> Result<Arc<Agent>, AgentError> {
        let resolved = self.config.resolve(id)?;
        self.by_id
            .get(&resolved.id)
            .cloned()
            .ok_or(AgentError::UnknownAgent {
                id: id.to_owned(),
                valid: self.config.ids(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_agent_gets_its_own_workspace() {
        let dir = tempfile::tempdir().expect("dir");
        let custom = dir.path().join("custom");
        let config: pincer_config::Agents = serde_json::from_value(serde_json::json!({
            "defaults": {"model": "a/b"},
            "list": [{"id": "work", "workspace": custom.to_string_lossy()}, {"id": "home"}]
        }))
        .expect("agents");
        let base = dir.path().join("workspace");
        let set = AgentSet::open(&config, &Default::default(), None, &base, None).expect("open");
        let root = |id: &str| {
            set.get(id)
                .expect(id)
                .tools
                .workspace()
                .root()
                .to_path_buf()
        };
        assert_eq!(root("main"), std::fs::canonicalize(&base).expect("base"));
        assert_eq!(root("default"), root("main"));
        assert_eq!(
            root("work"),
            std::fs::canonicalize(&custom).expect("custom")
        );
        assert!(root("home").ends_with("workspace-home"));
        assert!(set.get("nobody").is_err());
    }
}
