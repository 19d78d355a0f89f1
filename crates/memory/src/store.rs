//! The database: where it lives, its schema, and starting over.
//!
//! It lives in the workspace it indexes (`.pincer/memory.sqlite`), so it follows the files
//! wherever the workspace goes (the `agent-home` volume in compose: it survives restarts and is
//! shared by runner replicas, which SQLite's locking serialises), and a workspace copied
//! elsewhere brings its index. The directory is made beneath the root (no symlink leads it
//! out), SQLite is told never to follow a symlink in the path, and a `.gitignore` keeps it out
//! of a workspace kept in git. The agent's tools can reach the file; at worst they damage a
//! cache, which is then rebuilt from the files.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pincer_workspace::beneath;
use rusqlite::{Connection, OpenFlags};

use crate::Error;

/// The index's directory, relative to the workspace root.
pub const DIR: &str = ".pincer";
/// The database file in [`DIR`].
pub const FILE: &str = "memory.sqlite";

/// Bumped when the schema changes: an index of another version is dropped and rebuilt.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    hash TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_path ON chunks(path);
CREATE INDEX IF NOT EXISTS chunks_by_hash ON chunks(hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='id', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TABLE IF NOT EXISTS embeddings (
    hash TEXT NOT NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (hash, model)
) WITHOUT ROWID;
";

const TABLES: &[&str] = &["chunks_fts", "chunks", "files", "embeddings"];

/// The memory index of one workspace.
pub struct Index {
    pub(crate) conn: Connection,
    /// The directory holding the file (`None`: in memory).
    dir: Option<OwnedFd>,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("path", &self.path).finish()
    }
}

impl Index {
    /// Opens (creating it if needed) the index of the workspace at `root` (canonical). A file
    /// that is not a usable database is removed and started over.
    pub fn open(root: &Path) -> Result<Self, Error> {
        let dir = beneath::create_dir_all(root, Path::new(DIR))?;
        ignore_in_git(root);
        let path = root.join(DIR).join(FILE);
        let conn = match open_file(&path) {
            Err(error) if error.is_damaged() => {
                tracing::warn!(path = %path.display(), %error, "memory index damaged: rebuilding it");
                remove_files(&dir)?;
                open_file(&path)?
            }
            other => other?,
        };
        Ok(Self {
            conn,
            dir: Some(dir),
            path: Some(path),
        })
    }

    /// An index that lives in memory only (when the workspace cannot hold one).
    pub fn open_in_memory() -> Result<Self, Error> {
        let conn = Connection::open_in_memory()?;
        apply_schema(&conn)?;
        Ok(Self {
            conn,
            dir: None,
            path: None,
        })
    }

    /// The database file (`None` in memory).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Starts over with an empty index (the next [`Index::sync`] fills it from the files):
    /// for a database found damaged while in use.
    pub fn reset(self) -> Result<Self, Error> {
        let Self { conn, dir, path } = self;
        drop(conn);
        let (Some(dir), Some(path)) = (dir, path) else {
            return Self::open_in_memory();
        };
        remove_files(&dir)?;
        let conn = open_file(&path)?;
        Ok(Self {
            conn,
            dir: Some(dir),
            path: Some(path),
        })
    }
}

fn open_file(path: &Path) -> Result<Connection, Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NOFOLLOW
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    // Another runner replica may be writing: wait for it rather than fail.
    conn.busy_timeout(Duration::from_secs(5))?;
    // WAL: searches read while the background task writes vectors.
    let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    // A cache: losing the last transaction to a power cut is fine, an fsync per write is not.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    apply_schema(&conn)?;
    Ok(conn)
}

fn apply_schema(conn: &Connection) -> Result<(), Error> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version != SCHEMA_VERSION {
        for table in TABLES {
            conn.execute_batch(&format!("DROP TABLE IF EXISTS {table};"))?;
        }
    }
    conn.execute_batch(SCHEMA)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}

fn remove_files(dir: &OwnedFd) -> Result<(), Error> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        beneath::remove_file_at(dir, &format!("{FILE}{suffix}"))?;
    }
    Ok(())
}

/// Writes `.pincer/.gitignore` (ignore everything) unless it exists; failing is harmless.
fn ignore_in_git(root: &Path) {
    let relative = Path::new(DIR).join(".gitignore");
    if beneath::open_read(root, &relative).is_err()
        && let Err(error) = beneath::write_atomically(root, &relative, b"*\n")
    {
        tracing::debug!(%error, "cannot write .pincer/.gitignore");
    }
}
