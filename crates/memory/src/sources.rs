//! The files memory is made of: `MEMORY.md`, then `memory/*.md` newest first, each read beneath
//! the workspace root (a symlink leading out is never followed), within a byte budget.

use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use pincer_workspace::beneath::{self, EntryKind};

/// A memory file larger than this is left out.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Bytes of memory files indexed at most (the oldest daily files beyond it are left out).
pub const MAX_TOTAL_BYTES: u64 = 64 * 1024 * 1024;

/// What the filesystem says about a memory file, before reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Modification time, in nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// Size in bytes.
    pub size: i64,
}

/// An open memory file.
pub struct Source {
    /// Its path relative to the root, as results name it (`memory/2026-11-29.md`).
    pub path: String,
    /// Its stamp.
    pub stamp: Stamp,
    file: std::fs::File,
}

impl Source {
    /// Its text (invalid UTF-8 replaced).
    pub fn read(self) -> std::io::Result<String> {
        let mut bytes = Vec::new();
        let limit = u64::try_from(self.stamp.size).unwrap_or(0);
        self.file.take(limit).read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// The memory files under `root` that fit the budget, opened.
pub fn open_all(root: &Path) -> Vec<Source> {
    let mut budget = MAX_TOTAL_BYTES;
    let mut out = Vec::new();
    for relative in candidates(root) {
        let Ok(file) = beneath::open_read(root, &relative) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        if !meta.is_file() || meta.len() > MAX_FILE_BYTES || meta.len() > budget {
            continue;
        }
        budget -= meta.len();
        out.push(Source {
            path: relative.to_string_lossy().into_owned(),
            stamp: Stamp {
                mtime_ns: meta.mtime().saturating_mul(1_000_000_000) + meta.mtime_nsec(),
                size: i64::try_from(meta.len()).unwrap_or(i64::MAX),
            },
            file,
        });
    }
    out
}

/// `MEMORY.md`, then the daily files newest first (relative to the root).
fn candidates(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![PathBuf::from("MEMORY.md")];
    let mut daily: Vec<PathBuf> = beneath::list(root, Path::new("memory"))
        .into_iter()
        .flatten()
        .filter(|(name, kind)| *kind == EntryKind::File && name.ends_with(".md"))
        .map(|(name, _)| Path::new("memory").join(name))
        .collect();
    daily.sort();
    daily.reverse();
    files.extend(daily);
    files
}
