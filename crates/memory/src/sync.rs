//! Bringing the index in step with the files. A file whose size and modification time are as
//! recorded is not read; one that changed is read and hashed, and only a different text is cut
//! into chunks again. Files gone (or now over the budget) leave the index, and so do vectors no
//! chunk uses any more.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use rusqlite::{Transaction, params};

use crate::sources::{self, Stamp};
use crate::{Error, Index, chunk, digest};

/// A file changed this recently (ns) may change again within the same timestamp tick with the
/// same size; its stamp is recorded as unknown so the next sync reads it again.
const RECENT_NS: i64 = 2_000_000_000;

/// The stamp recorded for a file that must be read again next time.
const UNKNOWN: Stamp = Stamp {
    mtime_ns: 0,
    size: -1,
};

/// What a sync changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Files whose chunks were replaced (new files included).
    pub files_changed: usize,
    /// Files dropped from the index.
    pub files_removed: usize,
    /// Chunks inserted.
    pub chunks_added: usize,
}

impl SyncReport {
    /// Whether anything changed (then new chunks may need vectors).
    pub fn changed(&self) -> bool {
        self.files_changed + self.files_removed > 0
    }
}

impl Index {
    /// Brings the index in step with the memory files under `root`.
    pub fn sync(&mut self, root: &Path) -> Result<SyncReport, Error> {
        let known = self.known_files()?;
        let now_ns = pincer_now_ns();
        let tx = self.conn.transaction()?;
        let mut report = SyncReport::default();
        let mut present = HashSet::new();
        for source in sources::open_all(root) {
            present.insert(source.path.clone());
            let previous = known.get(&source.path);
            if previous.is_some_and(|(stamp, _)| *stamp == source.stamp) {
                continue;
            }
            let path = source.path.clone();
            let stamp = source.stamp;
            let Ok(text) = source.read() else {
                // Unreadable right now: keep what the index has.
                continue;
            };
            let hash = digest(&text);
            let recorded = if now_ns.saturating_sub(stamp.mtime_ns) < RECENT_NS {
                UNKNOWN
            } else {
                stamp
            };
            if previous.is_some_and(|(_, known_hash)| *known_hash == hash) {
                record_file(&tx, &path, recorded, &hash)?;
                continue;
            }
            tx.execute("DELETE FROM chunks WHERE path = ?1", [&path])?;
            report.chunks_added += insert_chunks(&tx, &path, &text)?;
            record_file(&tx, &path, recorded, &hash)?;
            report.files_changed += 1;
        }
        for path in known.keys().filter(|path| !present.contains(*path)) {
            tx.execute("DELETE FROM chunks WHERE path = ?1", [path])?;
            tx.execute("DELETE FROM files WHERE path = ?1", [path])?;
            report.files_removed += 1;
        }
        if report.changed() {
            tx.execute(
                "DELETE FROM embeddings WHERE hash NOT IN (SELECT hash FROM chunks)",
                [],
            )?;
        }
        tx.commit()?;
        if report.changed() {
            tracing::debug!(?report, "memory index updated");
        }
        Ok(report)
    }

    fn known_files(&self) -> Result<HashMap<String, (Stamp, String)>, Error> {
        let mut statement = self
            .conn
            .prepare("SELECT path, mtime_ns, size, hash FROM files")?;
        let rows = statement.query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                (
                    Stamp {
                        mtime_ns: row.get(1)?,
                        size: row.get(2)?,
                    },
                    row.get::<_, String>(3)?,
                ),
            ))
        })?;
        let mut known = HashMap::new();
        for row in rows {
            let (path, value) = row?;
            known.insert(path, value);
        }
        Ok(known)
    }
}

fn insert_chunks(tx: &Transaction<'_>, path: &str, text: &str) -> Result<usize, Error> {
    let mut statement = tx.prepare(
        "INSERT INTO chunks (path, line, end_line, hash, text) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let chunks = chunk::chunk(text);
    for piece in &chunks {
        statement.execute(params![
            path,
            piece.line,
            piece.end_line,
            digest(&piece.text),
            piece.text
        ])?;
    }
    Ok(chunks.len())
}

fn record_file(tx: &Transaction<'_>, path: &str, stamp: Stamp, hash: &str) -> Result<(), Error> {
    tx.execute(
        "INSERT INTO files (path, mtime_ns, size, hash) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(path) DO UPDATE SET mtime_ns = ?2, size = ?3, hash = ?4",
        params![path, stamp.mtime_ns, stamp.size, hash],
    )?;
    Ok(())
}

fn pincer_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
