//! Where each agent's workspace is: the agent-runner's rule ([`pincer_workspace::location`]) on
//! the same config and `PINCER_WORKSPACE`, so `exec` runs in the directory the file tools see.

use std::path::{Path, PathBuf};

/// The agents' workspaces.
#[derive(Debug, Clone)]
pub struct Workspaces {
    agents: pincer_config::Agents,
    base: PathBuf,
}

impl Workspaces {
    /// Workspaces of `agents`, the default one at `base` unless configured.
    #[must_use]
    pub fn new(agents: &pincer_config::Agents, base: &Path) -> Self {
        Self {
            agents: agents.clone(),
            base: base.to_path_buf(),
        }
    }

    /// The (existing, canonical) workspace of `agent` (empty: the default agent).
    pub fn dir(&self, agent: &str) -> Result<PathBuf, String> {
        let id = if agent.trim().is_empty() {
            self.agents.default_id()
        } else {
            agent
        };
        let (id, configured) = self
            .agents
            .workspace_setting(id)
            .map_err(|error| error.to_string())?;
        let dir = pincer_workspace::location(
            configured.as_deref(),
            &self.base,
            &id,
            id == self.agents.default_id(),
        );
        pincer_workspace::Workspace::open(&dir)
            .map(|workspace| workspace.root().to_path_buf())
            .map_err(|error| error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_layout_as_the_runner() {
        let dir = tempfile::tempdir().expect("dir");
        let agents: pincer_config::Agents = serde_json::from_value(serde_json::json!({
            "defaults": {"model": "a/b"}, "entries": {"work": {}}
        }))
        .expect("agents");
        let base = dir.path().join("workspace");
        let workspaces = Workspaces::new(&agents, &base);
        let main = workspaces.dir("").expect("default");
        assert_eq!(main, std::fs::canonicalize(&base).expect("base"));
        assert_eq!(workspaces.dir("main").expect("main"), main);
        assert!(
            workspaces
                .dir("work")
                .expect("work")
                .ends_with("workspace-work")
        );
        assert!(workspaces.dir("nobody").is_err());
    }
}
