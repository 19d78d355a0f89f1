//! An agent's workspace: its home directory of Markdown files (persona, rules, memory, skills)
//! and the only place its file tools may touch.
//!
//! - [`confine`]: which paths the file tools may name (relative, no `..`).
//! - [`beneath`]: every access resolved by the kernel beneath the root (no symlink escapes).
//! - [`bootstrap`]: the files read into every prompt, with caps.
//! - [`templates`]: what a new workspace starts with.

pub mod beneath;
pub mod bootstrap;
pub mod confine;
pub mod templates;

use std::path::{Path, PathBuf};

pub use confine::PathError;

/// Workspace setup failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The directory could not be created or resolved.
    #[error("workspace {path}: {reason}")]
    Unusable {
        /// The directory.
        path: String,
        /// What the OS said.
        reason: String,
    },
}

/// An agent's workspace root (canonical).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// Opens `dir`, creating it and any missing default file (never overwriting one). Run on
    /// every start: a user who deletes a default file gets it back, one who edits it keeps it.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let unusable = |error: std::io::Error| Error::Unusable {
            path: dir.display().to_string(),
            reason: error.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(unusable)?;
        let root = std::fs::canonicalize(dir).map_err(unusable)?;
        for (name, content) in templates::BOOTSTRAP_FILES {
            let path = root.join(name);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    use std::io::Write as _;
                    file.write_all(content.as_bytes()).map_err(unusable)?;
                    tracing::info!(file = %path.display(), "created default workspace file");
                }
                Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(unusable(error)),
            }
        }
        std::fs::create_dir_all(root.join("memory")).map_err(unusable)?;
        std::fs::create_dir_all(root.join("skills")).map_err(unusable)?;
        Ok(Self { root })
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolves a path the model gave, refusing escapes.
    pub fn resolve(&self, requested: &str) -> Result<PathBuf, PathError> {
        confine::confine(&self.root, requested)
    }

    /// A path the model gave, checked ([`confine`]) and made relative to the root, for the
    /// [`beneath`] accesses that the kernel keeps inside it.
    pub fn relative(&self, requested: &str) -> Result<PathBuf, PathError> {
        let full = confine::confine(&self.root, requested)?;
        Ok(full
            .strip_prefix(&self.root)
            .map(Path::to_path_buf)
            .unwrap_or_default())
    }

    /// `full` relative to the root, for messages.
    pub fn display(&self, full: &Path) -> String {
        confine::display(&self.root, full)
    }

    /// The bootstrap files for the prompt.
    pub fn bootstrap(&self, caps: bootstrap::Caps) -> Vec<bootstrap::Section> {
        let names: Vec<&str> = templates::BOOTSTRAP_FILES
            .iter()
            .map(|(name, _)| *name)
            .collect();
        bootstrap::read_sections(&self.root, &names, caps)
    }
}

/// Where an agent's workspace lives: its configured `workspace` (with `~` expanded), else
/// `<base>` for the default agent and `<base>-<agentId>` for the others (OpenClaw's layout).
pub fn location(
    configured: Option<&str>,
    base: &Path,
    agent_id: &str,
    is_default: bool,
) -> PathBuf {
    if let Some(path) = configured.map(str::trim).filter(|p| !p.is_empty()) {
        return expand_home(path);
    }
    if is_default {
        base.to_path_buf()
    } else {
        let mut name = base.as_os_str().to_owned();
        name.push(format!("-{agent_id}"));
        PathBuf::from(name)
    }
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_workspace_gets_the_default_files_and_edits_survive_a_reopen() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Workspace::open(&dir.path().join("ws")).expect("open");
        for (name, _) in templates::BOOTSTRAP_FILES {
            assert!(ws.root().join(name).is_file(), "{name}");
        }
        std::fs::write(ws.root().join("SOUL.md"), "custom").expect("write");
        std::fs::remove_file(ws.root().join("USER.md")).expect("rm");
        let ws = Workspace::open(&dir.path().join("ws")).expect("reopen");
        assert_eq!(
            std::fs::read_to_string(ws.root().join("SOUL.md")).expect("read"),
            "custom"
        );
        assert!(ws.root().join("USER.md").is_file());
        let sections = ws.bootstrap(bootstrap::Caps::default());
        assert_eq!(sections.len(), templates::BOOTSTRAP_FILES.len());
    }

    #[test]
    fn locations_follow_config_then_the_per_agent_layout() {
        let base = Path::new("/data/workspace");
        assert_eq!(location(None, base, "main", true), base);
        assert_eq!(
            location(None, base, "work", false),
            Path::new("/data/workspace-work")
        );
        assert_eq!(
            location(Some("/srv/w"), base, "work", false),
            Path::new("/srv/w")
        );
    }
}
