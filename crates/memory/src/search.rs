//! A search: full-text candidates from FTS5 (BM25), vector candidates from a scan of every
//! stored vector of the model (a dot product per chunk: at 10,000 chunks of 768 values about
//! 15 ms on two cores, measured by `pincer-bench memory`; an approximate index would pay off
//! only far beyond a personal memory), fused, with a snippet of each.

use std::collections::HashMap;

use rusqlite::params;

use crate::fusion::{self, Fusion};
use crate::{Error, Index, fts_query, snippet, vector};

/// Candidates taken from each side per result asked for (OpenClaw's `candidateMultiplier`).
const CANDIDATES_PER_RESULT: usize = 4;
/// Candidates taken from each side at least.
const MIN_CANDIDATES: usize = 20;

/// What to search for.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    /// The question as the user or the model wrote it.
    pub text: &'a str,
    /// Its embedding, when a model is configured and answered in time.
    pub vector: Option<QueryVector<'a>>,
    /// Results wanted.
    pub limit: usize,
    /// How the two rankings are combined.
    pub fusion: Fusion,
}

/// A question's embedding and the model that made it (only vectors of that model compare).
#[derive(Debug, Clone, Copy)]
pub struct QueryVector<'a> {
    /// `provider/model`, as the vectors were stored.
    pub model: &'a str,
    /// The values.
    pub values: &'a [f32],
}

/// One result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// File relative to the workspace root.
    pub path: String,
    /// First line of the chunk (1-based).
    pub line: u32,
    /// Last line of the chunk.
    pub end_line: u32,
    /// The chunk, or the part of it around the question's words.
    pub snippet: String,
    /// Fused score, higher is better.
    pub score: f64,
}

impl Index {
    /// The best chunks for `query`, best first.
    pub fn search(&self, query: &Query<'_>) -> Result<Vec<Hit>, Error> {
        let limit = query.limit.max(1);
        let shortlist = (limit * CANDIDATES_PER_RESULT).max(MIN_CANDIDATES);
        let text = match fts_query::match_expression(query.text) {
            Some(expression) => self.text_candidates(&expression, shortlist)?,
            None => Vec::new(),
        };
        let unit = query
            .vector
            .and_then(|q| vector::normalised(q.values).map(|unit| (q.model, unit)));
        let (vector, cosines) = match &unit {
            Some((model, unit)) => {
                let wanted: Vec<i64> = text.iter().map(|(id, _)| *id).collect();
                self.vector_candidates(model, unit, shortlist, &wanted)?
            }
            None => (Vec::new(), HashMap::new()),
        };
        let fused = fusion::fuse(query.fusion, &text, &vector, |id| cosines.get(&id).copied());
        let terms = fts_query::terms(query.text);
        let mut hits = Vec::with_capacity(limit);
        for (id, score) in fused.into_iter().take(limit) {
            hits.push(self.hit(id, score, &terms)?);
        }
        Ok(hits)
    }

    /// Chunk ids matching the expression with their BM25 score (higher is better), best first.
    fn text_candidates(&self, expression: &str, limit: usize) -> Result<Vec<(i64, f64)>, Error> {
        let mut statement = self.conn.prepare(
            "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?1
             ORDER BY bm25(chunks_fts) LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = statement.query_map(params![expression, limit], |row| {
            // FTS5's bm25() is negated so that ORDER BY puts the best first.
            Ok((row.get::<_, i64>(0)?, -row.get::<_, f64>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?);
        }
        Ok(out)
    }

    /// The `limit` chunks nearest to `unit`, best first, and the cosine of each of them and of
    /// each `wanted` chunk that has a vector of `model`.
    #[allow(clippy::type_complexity)]
    fn vector_candidates(
        &self,
        model: &str,
        unit: &[f32],
        limit: usize,
        wanted: &[i64],
    ) -> Result<(Vec<(i64, f64)>, HashMap<i64, f64>), Error> {
        let mut statement = self.conn.prepare(
            "SELECT c.id, e.vector FROM chunks c
             JOIN embeddings e ON e.hash = c.hash AND e.model = ?1",
        )?;
        let mut rows = statement.query([model])?;
        let mut cosines = HashMap::new();
        let mut ranked: Vec<(i64, f64)> = Vec::new();
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let blob = row.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?;
            if let Some(cosine) = vector::dot_with_blob(unit, blob) {
                if wanted.contains(&id) {
                    cosines.insert(id, cosine);
                }
                ranked.push((id, cosine));
            }
        }
        let best_first = |a: &(i64, f64), b: &(i64, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if ranked.len() > limit {
            ranked.select_nth_unstable_by(limit, best_first);
            ranked.truncate(limit);
        }
        ranked.sort_by(best_first);
        cosines.extend(ranked.iter().copied());
        Ok((ranked, cosines))
    }

    fn hit(&self, id: i64, score: f64, terms: &[String]) -> Result<Hit, Error> {
        let (path, line, end_line, text): (String, u32, u32, String) = self.conn.query_row(
            "SELECT path, line, end_line, text FROM chunks WHERE id = ?1",
            [id],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )?;
        Ok(Hit {
            path,
            line,
            end_line,
            snippet: snippet::snippet(&text, terms),
            score,
        })
    }
}
