//! Ranking full-text and vector candidates together.
//!
//! Two ways are offered, both with OpenClaw's weights (meaning 0.7, words 0.3):
//! - [`Fusion::Weighted`] (the default): `0.7 × cosine + 0.3 × bm25 / best bm25`. Scores keep
//!   their size, so a near-exact match in meaning beats a chunk that shares one rare word, and a
//!   chunk far from the question stays low however its words rank. A chunk that has no vector
//!   yet (its embedding is still being computed) counts its text score in place of the cosine,
//!   so it ranks as full-text alone would rank it.
//! - [`Fusion::Reciprocal`]: reciprocal rank fusion, `Σ weight / (k + rank)`. Scale-free, but a
//!   list's first place is worth the same whether it is a close match or the least bad one.
//!
//! `pincer-bench memory` measures both on the labelled set in `bench/data/memory`. With the fake
//! provider's embedding both find every note in the top 5 (full text alone: 40 %), so the set
//! does not decide between them; the weighted sum is the default because it is OpenClaw's and
//! because a chunk not embedded yet keeps a fair place by its words.

/// How text and vector rankings are combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Weighted sum of the cosine and the normalised BM25 score.
    Weighted {
        /// Weight of the cosine similarity.
        vector: f64,
        /// Weight of the BM25 score divided by the best one.
        text: f64,
    },
    /// Reciprocal rank fusion.
    Reciprocal {
        /// Rank offset (60 in the original paper).
        k: f64,
        /// Weight of the vector ranking.
        vector: f64,
        /// Weight of the text ranking.
        text: f64,
    },
}

impl Default for Fusion {
    fn default() -> Self {
        Self::Weighted {
            vector: 0.7,
            text: 0.3,
        }
    }
}

impl Fusion {
    /// Reciprocal rank fusion with k = 60 and the same weights as the default.
    pub const RECIPROCAL: Fusion = Fusion::Reciprocal {
        k: 60.0,
        vector: 0.7,
        text: 0.3,
    };
}

/// Combines `text` (chunk id and BM25 score, higher is better, best first) with `vector` (chunk
/// id and cosine, best first). `cosine_of` answers the cosine of any chunk that has a vector,
/// so a chunk found by its words gets its real similarity even outside the vector shortlist.
/// Best first; ties keep text order, then vector order.
pub fn fuse(
    fusion: Fusion,
    text: &[(i64, f64)],
    vector: &[(i64, f64)],
    cosine_of: impl Fn(i64) -> Option<f64>,
) -> Vec<(i64, f64)> {
    let mut ids: Vec<i64> = Vec::with_capacity(text.len() + vector.len());
    for (id, _) in text.iter().chain(vector) {
        if !ids.contains(id) {
            ids.push(*id);
        }
    }
    let rank_in = |list: &[(i64, f64)], id: i64| list.iter().position(|(other, _)| *other == id);
    let best_text = text.iter().map(|(_, s)| *s).fold(0.0, f64::max);
    let mut scored: Vec<(i64, f64)> = ids
        .into_iter()
        .map(|id| {
            let score = match fusion {
                Fusion::Weighted {
                    vector: vector_weight,
                    text: text_weight,
                } => {
                    let words = match rank_in(text, id) {
                        Some(rank) if best_text > 0.0 => text[rank].1 / best_text,
                        _ => 0.0,
                    };
                    let meaning = cosine_of(id).map_or(words, |cosine| cosine.clamp(0.0, 1.0));
                    vector_weight * meaning + text_weight * words
                }
                Fusion::Reciprocal {
                    k,
                    vector: vector_weight,
                    text: text_weight,
                } => {
                    let part = |list: &[(i64, f64)], weight: f64| {
                        rank_in(list, id).map_or(0.0, |rank| weight / (k + rank as f64 + 1.0))
                    };
                    part(text, text_weight) + part(vector, vector_weight)
                }
            };
            (id, score)
        })
        .collect();
    // A stable sort: equal scores keep the order above.
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosines(pairs: &[(i64, f64)]) -> impl Fn(i64) -> Option<f64> + '_ {
        move |id| {
            pairs
                .iter()
                .find(|(other, _)| *other == id)
                .map(|(_, c)| *c)
        }
    }

    #[test]
    fn weighted_fusion_lets_meaning_beat_a_shared_word() {
        // Chunk 1 shares a word with the question but means something else; chunk 2 says the
        // same thing in other words.
        let text = [(1, 4.0)];
        let all = [(2, 0.9), (1, 0.1), (3, 0.05)];
        let fused = fuse(Fusion::default(), &text, &all[..2], cosines(&all));
        assert_eq!(fused[0].0, 2);
        assert!((fused[0].1 - 0.63).abs() < 1e-9, "{fused:?}");
        assert!((fused[1].1 - (0.07 + 0.3)).abs() < 1e-9, "{fused:?}");
        // Both signals together beat either alone.
        let text = [(1, 4.0), (2, 2.0)];
        let fused = fuse(Fusion::default(), &text, &all[..2], cosines(&all));
        assert_eq!(fused[0].0, 2);
    }

    #[test]
    fn a_chunk_without_a_vector_ranks_by_its_words() {
        let text = [(7, 3.0), (8, 1.5)];
        let fused = fuse(Fusion::default(), &text, &[], |_| None);
        assert_eq!(fused.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [7, 8]);
        assert!((fused[0].1 - 1.0).abs() < 1e-9 && (fused[1].1 - 0.5).abs() < 1e-9);
        // Next to embedded chunks it keeps its text score in place of the cosine.
        let all = [(9, 0.2)];
        let fused = fuse(Fusion::default(), &text, &all, cosines(&all));
        assert_eq!(
            fused.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [7, 8, 9]
        );
    }

    #[test]
    fn reciprocal_rank_fusion_adds_weighted_inverse_ranks() {
        let text = [(1, 9.0), (2, 8.0)];
        let vector = [(2, 0.9), (3, 0.8)];
        let fused = fuse(Fusion::RECIPROCAL, &text, &vector, cosines(&vector));
        assert_eq!(fused[0].0, 2);
        let expected = 0.3 / 62.0 + 0.7 / 61.0;
        assert!((fused[0].1 - expected).abs() < 1e-12);
        // First in meaning only beats first in words only (0.7 > 0.3).
        assert_eq!(fused[1].0, 3);
        assert_eq!(fused[2].0, 1);
    }
}
