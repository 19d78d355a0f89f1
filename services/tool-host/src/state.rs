//! The directories children may write, under the tool host's state directory
//! (`PINCER_TOOL_STATE`, a volume in compose):
//!
//! - `mcp/<server>/`: an MCP server's `HOME` (npm and uv caches, its own files) and `tmp/`; kept
//!   across restarts, so `npx -y` and `uvx` download a package once.
//! - `runs/<id>/`: one exec run's empty `home/` and `tmp/`, removed when the run ends.

use std::path::{Path, PathBuf};

use crate::Error;

/// The state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
    ca_bundle: Option<PathBuf>,
}

/// One exec run's private directories; removed on drop.
#[derive(Debug)]
pub struct RunDirs {
    /// The run's directory.
    pub root: PathBuf,
    /// Its `HOME`: empty, so no dotfile (`.gitconfig`, `.npmrc`) the model wrote applies.
    pub home: PathBuf,
    /// Its `TMPDIR`.
    pub tmp: PathBuf,
}

impl Drop for RunDirs {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.root)
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.root.display(), %error, "cannot remove an exec run's directory");
        }
    }
}

/// An MCP server's directories.
#[derive(Debug, Clone)]
pub struct ServerDirs {
    /// Its `HOME` and working directory.
    pub home: PathBuf,
    /// Its `TMPDIR`.
    pub tmp: PathBuf,
}

impl StateDir {
    /// Opens (creating) `root`; leftovers of runs that a crash interrupted are removed.
    /// `ca_bundle` is handed to children as their TLS trust store when set.
    pub fn open(root: &Path, ca_bundle: Option<PathBuf>) -> Result<Self, Error> {
        let unusable = |error: std::io::Error| Error::State {
            path: root.display().to_string(),
            reason: error.to_string(),
        };
        std::fs::create_dir_all(root.join("mcp")).map_err(unusable)?;
        let runs = root.join("runs");
        if runs.exists() {
            std::fs::remove_dir_all(&runs).map_err(unusable)?;
        }
        std::fs::create_dir_all(&runs).map_err(unusable)?;
        let root = std::fs::canonicalize(root).map_err(unusable)?;
        Ok(Self { root, ca_bundle })
    }

    /// The state directory.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The TLS trust store for children, if one exists.
    #[must_use]
    pub fn ca_bundle(&self) -> Option<&Path> {
        self.ca_bundle.as_deref().filter(|path| path.is_file())
    }

    /// Fresh directories for one exec run.
    pub fn run(&self) -> std::io::Result<RunDirs> {
        let root = self
            .root
            .join("runs")
            .join(uuid::Uuid::new_v4().simple().to_string());
        let dirs = RunDirs {
            home: root.join("home"),
            tmp: root.join("tmp"),
            root,
        };
        std::fs::create_dir_all(&dirs.home)?;
        std::fs::create_dir_all(&dirs.tmp)?;
        Ok(dirs)
    }

    /// The directories of the MCP server `name` (a valid server name: no `/` or `..`).
    pub fn server(&self, name: &str) -> std::io::Result<ServerDirs> {
        let home = self.root.join("mcp").join(name);
        let dirs = ServerDirs {
            tmp: home.join("tmp"),
            home,
        };
        std::fs::create_dir_all(&dirs.tmp)?;
        Ok(dirs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_private_and_removed_and_leftovers_cleaned() {
        let dir = tempfile::tempdir().expect("dir");
        let state = StateDir::open(dir.path(), None).expect("open");
        let run = state.run().expect("run");
        assert!(run.home.is_dir() && run.tmp.is_dir());
        let other = state.run().expect("another");
        assert_ne!(run.root, other.root);
        let root = run.root.clone();
        drop(run);
        assert!(!root.exists());
        std::mem::forget(other);
        let state = StateDir::open(dir.path(), None).expect("reopen");
        assert_eq!(
            std::fs::read_dir(state.root().join("runs"))
                .expect("runs")
                .count(),
            0,
            "a crashed run's directory is gone"
        );
        let server = state.server("time").expect("server");
        assert!(server.tmp.starts_with(&server.home) && server.tmp.is_dir());
    }
}
