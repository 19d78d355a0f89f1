//! An agent's memory index: `MEMORY.md` and `memory/*.md` cut into chunks that remember their
//! file and lines, kept in SQLite beside the files (`<workspace>/.pincer/memory.sqlite`) with an
//! FTS5 full-text index and, when an embedding model is configured, one vector per chunk.
//!
//! The files are the truth; the index is a cache of them. [`Index::sync`] brings it in step
//! (only files whose size, time or content changed are cut again, deleted files are dropped),
//! and a deleted or damaged database is rebuilt from the files. Vectors are cached by the hash
//! of a chunk's text and the model, so an edit re-embeds only the chunks it changed; computing
//! them is the caller's business (a background task: a search never waits for one) through
//! [`Index::missing_vectors`] and [`Index::store_vectors`].
//!
//! - [`chunk`]: paragraphs with their line numbers.
//! - `sources`: which files, read beneath the workspace root.
//! - `store`: the database file, its schema, and what happens when it is damaged.
//! - `sync`: the incremental update; `vectors`: missing and stored embeddings.
//! - `search`: full-text and vector candidates, [`fusion`] of the two, [`snippet`]s.
//! - [`fts_query`]: user text made safe for FTS5's query language.
//!
//! rusqlite is synchronous: async callers run these methods on a blocking thread.

pub mod chunk;
pub mod fts_query;
pub mod fusion;
mod search;
pub mod snippet;
mod sources;
mod store;
mod sync;
#[cfg(test)]
mod tests;
mod vector;
mod vectors;

pub use fusion::Fusion;
pub use search::{Hit, Query, QueryVector};
pub use store::{DIR, FILE, Index};
pub use sync::SyncReport;
pub use vectors::{Counts, Pending};

/// Why the index could not do something.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite failed.
    #[error("memory index: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The index's directory in the workspace could not be made or used.
    #[error("memory index directory: {0}")]
    Dir(#[from] pincer_workspace::beneath::BeneathError),
}

impl Error {
    /// Whether the database file itself is damaged (then [`Index::reset`] starts it over).
    pub fn is_damaged(&self) -> bool {
        use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
        matches!(
            self,
            Error::Sqlite(rusqlite::Error::SqliteFailure(failure, _))
                if matches!(failure.code, DatabaseCorrupt | NotADatabase)
        )
    }
}

/// The hex SHA-256 (first 128 bits) of `text`: the key of a chunk's vector and of a file's
/// content.
pub(crate) fn digest(text: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
