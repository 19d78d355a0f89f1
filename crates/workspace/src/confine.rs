//! Keeps every file tool inside the agent's workspace. A path is refused when it is absolute,
//! contains `..`, or crosses a symlink (existing or dangling) that leads outside the root.

use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Empty or NUL-containing path.
    #[error("path {0:?} is empty or contains a NUL byte")]
    Malformed(String),
    /// An absolute path or drive prefix.
    #[error("path {0:?} is absolute; give a path relative to the workspace")]
    Absolute(String),
    /// A `..` component.
    #[error("path {0:?} uses `..`; paths must stay inside the workspace")]
    Parent(String),
    /// A symlink on the way leads outside the workspace (or nowhere).
    #[error("path {0:?} leads outside the workspace through a symlink")]
    Escapes(String),
    /// The filesystem could not be read.
    #[error("cannot check path {path:?}: {reason}")]
    Io {
        /// The path asked for.
        path: String,
        /// What the OS said.
        reason: String,
    },
}

/// Resolves `requested` (relative to `root`, which must be canonical) to a path inside `root`.
/// The target itself need not exist (for writes), but every existing part of the path is checked.
pub fn confine(root: &Path, requested: &str) -> Result<PathBuf, PathError> {
    let trimmed = requested.trim();
    if trimmed.contains('\0') {
        return Err(PathError::Malformed(requested.to_owned()));
    }
    let relative = Path::new(trimmed);
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathError::Parent(requested.to_owned())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(PathError::Absolute(requested.to_owned()));
            }
        }
    }
    let mut current = root.to_path_buf();
    for part in parts {
        current.push(part);
        match std::fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                // Follow it: allowed only when its target exists and stays inside the root.
                let target = std::fs::canonicalize(&current)
                    .map_err(|_| PathError::Escapes(requested.to_owned()))?;
                if !target.starts_with(root) {
                    return Err(PathError::Escapes(requested.to_owned()));
                }
                current = target;
            }
            Ok(_) => {}
            // Nothing here yet: the rest of the path will be created inside `current`.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(PathError::Io {
                    path: requested.to_owned(),
                    reason: error.to_string(),
                });
            }
        }
    }
    Ok(current)
}

/// The path of `full` relative to `root`, with `/` separators, for messages to the model.
pub fn display(root: &Path, full: &Path) -> String {
    let relative = full.strip_prefix(root).unwrap_or(full);
    let text = relative.to_string_lossy().replace('\\', "/");
    if text.is_empty() {
        ".".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(dir.path()).expect("canonical");
        (dir, root)
    }

    #[test]
    fn relative_paths_inside_are_accepted_even_when_missing() {
        let (_dir, root) = root();
        assert_eq!(
            confine(&root, "notes/a.md").expect("ok"),
            root.join("notes/a.md")
        );
        assert_eq!(
            confine(&root, "./SOUL.md").expect("ok"),
            root.join("SOUL.md")
        );
        assert_eq!(confine(&root, ".").expect("ok"), root);
    }

    #[test]
    fn parent_absolute_and_nul_are_refused() {
        let (_dir, root) = root();
        assert!(matches!(confine(&root, "../x"), Err(PathError::Parent(_))));
        assert!(matches!(
            confine(&root, "a/../../x"),
            Err(PathError::Parent(_))
        ));
        assert!(matches!(
            confine(&root, "/etc/passwd"),
            Err(PathError::Absolute(_))
        ));
        assert!(matches!(
            confine(&root, "a\0b"),
            Err(PathError::Malformed(_))
        ));
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused_dangling_or_not() {
        let (_dir, root) = root();
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(outside.path().join("secret"), "x").expect("write");
        std::os::unix::fs::symlink(outside.path(), root.join("out")).expect("link");
        std::os::unix::fs::symlink("/nonexistent/place", root.join("dangling")).expect("link");
        std::fs::create_dir(root.join("in")).expect("dir");
        std::os::unix::fs::symlink(root.join("in"), root.join("alias")).expect("link");
        assert!(matches!(
            confine(&root, "out/secret"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(confine(&root, "out"), Err(PathError::Escapes(_))));
        assert!(matches!(
            confine(&root, "dangling"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(
            confine(&root, "dangling/new.txt"),
            Err(PathError::Escapes(_))
        ));
        assert_eq!(
            confine(&root, "alias/f").expect("inside"),
            root.join("in/f")
        );
    }
}
