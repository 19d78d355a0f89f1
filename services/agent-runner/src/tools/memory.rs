//! `memory_search` and `memory_write` over `MEMORY.md` and `memory/*.md`.
//!
//! Search goes through the agent's memory index ([`crate::memory`]): full text (BM25), and
//! meaning too when `agents.defaults.memorySearch` names an embedding provider. Each result is
//! `file:line (score)` and a snippet of the chunk, so the model can `read` around it.

use serde::Deserialize;

use super::{ToolError, args};
use crate::memory::MemoryIndex;
use pincer_workspace::Workspace;

/// Results returned unless the model asks for fewer.
const DEFAULT_RESULTS: usize = 5;
/// Largest single note accepted by `memory_write`.
const MAX_NOTE: usize = 16 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    #[serde(default)]
    limit: Option<usize>,
}

/// `memory_search`.
pub async fn search(memory: &MemoryIndex, arguments: &str) -> Result<String, ToolError> {
    let SearchArgs { query, limit } = args(arguments)?;
    if pincer_memory::fts_query::terms(&query).is_empty() {
        return Err(ToolError::Invalid("query has no searchable words".into()));
    }
    let limit = limit.unwrap_or(DEFAULT_RESULTS).clamp(1, 20);
    let found = memory
        .search(&query, limit)
        .await
        .map_err(|error| ToolError::Io(format!("memory search failed: {error}")))?;
    if found.hits.is_empty() {
        return Ok(format!("no memory matches {query:?}"));
    }
    let mut sections: Vec<String> = found
        .hits
        .iter()
        .map(|hit| {
            format!(
                "{}:{} (score {:.2})\n{}",
                hit.path, hit.line, hit.score, hit.snippet
            )
        })
        .collect();
    if let Some(reason) = found.words_only {
        sections.push(format!(
            "(searched by words only: the embedding provider did not answer: {reason})"
        ));
    }
    Ok(sections.join("\n---\n"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    text: String,
    /// `daily` (default: memory/YYYY-MM-DD.md) or `long_term` (MEMORY.md).
    #[serde(default)]
    target: Option<String>,
}

/// `memory_write`: appends a note to today's daily file or to `MEMORY.md`.
pub fn write(ws: &Workspace, arguments: &str, today: &str) -> Result<String, ToolError> {
    let WriteArgs { text, target } = args(arguments)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(ToolError::Invalid("text is empty".into()));
    }
    if text.len() > MAX_NOTE {
        return Err(ToolError::Invalid(format!(
            "a note is limited to {MAX_NOTE} bytes"
        )));
    }
    let relative = match target.as_deref().unwrap_or("daily") {
        "daily" => format!("memory/{today}.md"),
        "long_term" | "MEMORY.md" => "MEMORY.md".to_owned(),
        other => {
            return Err(ToolError::Invalid(format!(
                "target {other:?} is not one of: daily, long_term"
            )));
        }
    };
    let path = ws.relative(&relative)?;
    pincer_workspace::beneath::append(ws.root(), &path, format!("\n{text}\n").as_bytes())
        .map_err(|e| ToolError::beneath(&relative, &e))?;
    Ok(format!("saved to {relative}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    use crate::memory::{Embedder, MemoryIndex, indexer};
    use crate::scratch_workspace as ws;
    use crate::scripted_router::ScriptedRouter;

    fn words_only(ws: &Workspace) -> MemoryIndex {
        MemoryIndex::new(ws.root(), None)
    }

    /// Runs the background task until every chunk has a vector of `model`.
    async fn embedded(memory: &MemoryIndex, model: &str) -> tokio_util::sync::CancellationToken {
        let stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(indexer::run(memory.clone(), stop.clone()));
        let model = model.to_owned();
        pincer_test_support::eventually("every chunk embedded", Duration::from_secs(10), || {
            let (memory, model) = (memory.clone(), model.clone());
            async move {
                let counts = memory
                    .run(move |index, _| index.counts(&model))
                    .await
                    .ok()?;
                (counts.chunks > 0 && counts.embedded == counts.chunks).then_some(())
            }
        })
        .await;
        stop
    }

    #[tokio::test]
    async fn written_notes_are_found_best_match_first() {
        let (_dir, ws) = ws();
        let memory = words_only(&ws);
        for (note, day) in [
            (
                r#"{"text":"The user's cat is called Miso and likes tuna."}"#,
                "2026-11-29",
            ),
            (
                r#"{"text":"Dentist appointment on Friday.","target":"long_term"}"#,
                "2026-11-29",
            ),
            (
                r#"{"text":"Bought cat food; the cat Miso refused it."}"#,
                "2026-11-30",
            ),
        ] {
            write(&ws, note, day).expect("write");
        }
        let out = search(&memory, r#"{"query":"what is the cat called? Miso"}"#)
            .await
            .expect("search");
        let first = out.split("\n---\n").next().expect("a result");
        assert!(first.contains("Miso"), "{out}");
        assert!(!out.contains("Dentist"), "{out}");
        assert!(out.contains("memory/2026-11-29.md:2 (score "), "{out}");
        let out = search(&memory, r#"{"query":"dentist"}"#)
            .await
            .expect("search");
        assert!(out.starts_with("MEMORY.md:"), "{out}");
        let out = search(&memory, r#"{"query":"zebra"}"#)
            .await
            .expect("search");
        assert!(out.starts_with("no memory"), "{out}");
    }

    #[tokio::test]
    async fn bad_input_is_explained() {
        let (_dir, ws) = ws();
        assert!(matches!(
            search(&words_only(&ws), r#"{"query":"!!!"}"#).await,
            Err(ToolError::Invalid(_))
        ));
        assert!(matches!(
            write(&ws, r#"{"text":"x","target":"/etc"}"#, "d"),
            Err(ToolError::Invalid(_))
        ));
        assert!(matches!(
            write(&ws, r#"{"text":"  "}"#, "d"),
            Err(ToolError::Invalid(_))
        ));
    }

    const NOTES: &str = "The Peugeot 208 failed its contrôle technique: the rear brake pads are worn.\n\n\
        Léa started piano lessons on Wednesdays.\n\n\
        The bakery ran out of bread.\n";
    const PARAPHRASE: &str = r#"{"query":"what happened with the automobile inspection?"}"#;

    #[tokio::test]
    async fn with_a_provider_a_paraphrase_finds_the_note_that_full_text_misses() {
        let (_dir, ws) = ws();
        std::fs::write(ws.root().join("memory/2026-10-05.md"), NOTES).expect("notes");
        let out = search(&words_only(&ws), PARAPHRASE).await.expect("search");
        assert!(
            !out.contains("Peugeot"),
            "full text has no word in common: {out}"
        );

        let router = ScriptedRouter::start(Vec::new(), 0).await;
        let embedder = Embedder::new(router.client.clone(), "fake/embed".into());
        let memory = MemoryIndex::new(ws.root(), Some(embedder));
        let _stop = embedded(&memory, "fake/embed").await;
        let out = search(&memory, PARAPHRASE).await.expect("search");
        assert!(out.starts_with("memory/2026-10-05.md:1 (score "), "{out}");
        assert!(out.contains("Peugeot 208 failed"), "{out}");
        assert!(!out.contains("searched by words only"), "{out}");

        // A note written later is embedded in the background and found by meaning.
        let before = router.embedded();
        write(
            &ws,
            r#"{"text":"Pixel the kitten had her vaccines at the vet."}"#,
            "2026-10-06",
        )
        .expect("write");
        memory.changed();
        pincer_test_support::eventually("the new note embedded", Duration::from_secs(10), || {
            let router = &router;
            async move { (router.embedded() > before).then_some(()) }
        })
        .await;
        let out = search(&memory, r#"{"query":"how is my pet cat?","limit":1}"#)
            .await
            .expect("search");
        assert!(out.starts_with("memory/2026-10-06.md:2"), "{out}");
    }

    #[tokio::test]
    async fn an_unreachable_provider_leaves_full_text_and_says_so() {
        let (_dir, ws) = ws();
        std::fs::write(ws.root().join("MEMORY.md"), NOTES).expect("notes");
        let router = ScriptedRouter::start(Vec::new(), 0).await;
        let embedder = Embedder::new(router.client.clone(), "fake/down".into());
        let memory = MemoryIndex::new(ws.root(), Some(embedder));
        let out = search(&memory, r#"{"query":"piano"}"#)
            .await
            .expect("search");
        assert!(out.starts_with("MEMORY.md:3 (score "), "{out}");
        assert!(
            out.contains("searched by words only") && out.contains("connection refused"),
            "{out}"
        );
    }
}
