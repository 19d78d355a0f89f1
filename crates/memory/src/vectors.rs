//! Which chunks still need a vector of a model, and storing the vectors once computed.

use rusqlite::params;

use crate::{Error, Index, vector};

/// A chunk text that has no vector of the model yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The text's hash (the vector's key).
    pub hash: String,
    /// The text to embed.
    pub text: String,
}

/// How much of the index has vectors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Chunks in the index.
    pub chunks: usize,
    /// Chunks with a vector of the model asked about.
    pub embedded: usize,
}

impl Index {
    /// Up to `limit` distinct chunk texts without a vector of `model`, newest first (what was
    /// just written is what is most likely searched for next).
    pub fn missing_vectors(&self, model: &str, limit: usize) -> Result<Vec<Pending>, Error> {
        let mut statement = self.conn.prepare(
            "SELECT c.hash, MIN(c.text) FROM chunks c
             WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.hash = c.hash AND e.model = ?1)
             GROUP BY c.hash ORDER BY MAX(c.id) DESC LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement.query_map(params![model, limit], |row| {
            Ok(Pending {
                hash: row.get(0)?,
                text: row.get(1)?,
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?);
        }
        Ok(out)
    }

    /// Stores vectors of `model` by chunk hash, normalised; one whose chunk is gone meanwhile is
    /// skipped. A vector that cannot be normalised (all zeros, not finite) is stored as zeros:
    /// it matches nothing, and the chunk is not asked for again. Returns how many were stored.
    pub fn store_vectors(
        &mut self,
        model: &str,
        vectors: &[(String, Vec<f32>)],
    ) -> Result<usize, Error> {
        let tx = self.conn.transaction()?;
        let mut stored = 0;
        {
            let mut statement = tx.prepare(
                "INSERT OR REPLACE INTO embeddings (hash, model, vector)
                 SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM chunks WHERE hash = ?1)",
            )?;
            for (hash, values) in vectors {
                let unit = vector::normalised(values).unwrap_or_else(|| vec![0.0; values.len()]);
                stored += statement.execute(params![hash, model, vector::to_blob(&unit)])?;
            }
        }
        tx.commit()?;
        Ok(stored)
    }

    /// How many chunks there are and how many have a vector of `model`.
    pub fn counts(&self, model: &str) -> Result<Counts, Error> {
        let count = |sql: &str| -> Result<usize, Error> {
            let n: i64 = if sql.contains("?1") {
                self.conn.query_row(sql, [model], |row| row.get(0))?
            } else {
                self.conn.query_row(sql, [], |row| row.get(0))?
            };
            Ok(usize::try_from(n).unwrap_or(0))
        };
        Ok(Counts {
            chunks: count("SELECT COUNT(*) FROM chunks")?,
            embedded: count(
                "SELECT COUNT(*) FROM chunks c
                 WHERE EXISTS (SELECT 1 FROM embeddings e WHERE e.hash = c.hash AND e.model = ?1)",
            )?,
        })
    }
}
