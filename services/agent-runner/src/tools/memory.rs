//! `memory_search` and `memory_write` over `MEMORY.md` and `memory/*.md`.
//!
//! Search is ranked full-text (BM25 over paragraph chunks), computed on the files as they are at
//! the time of the call: no index to go stale, and for a personal memory of a few hundred KiB it
//! is a millisecond of work. Embeddings can be layered on later where a provider offers them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ToolError, args};
use pincer_workspace::Workspace;

/// Chunks of this many characters at most (long paragraphs are split).
const CHUNK_CHARS: usize = 800;
/// Results returned unless the model asks for fewer.
const DEFAULT_RESULTS: usize = 5;
/// Bytes of memory files read at most (the oldest daily files beyond it are skipped).
const MAX_MEMORY_BYTES: u64 = 8 * 1024 * 1024;
/// Largest single note accepted by `memory_write`.
const MAX_NOTE: usize = 16 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchArgs {
    query: String,
    #[serde(default)]
    limit: Option<usize>,
}

/// A piece of a memory file.
#[derive(Debug, Clone, PartialEq)]
struct Chunk {
    file: String,
    line: usize,
    text: String,
}

/// `memory_search`.
pub fn search(ws: &Workspace, arguments: &str) -> Result<String, ToolError> {
    let SearchArgs { query, limit } = args(arguments)?;
    let terms = tokens(&query);
    if terms.is_empty() {
        return Err(ToolError::Invalid("query has no searchable words".into()));
    }
    let chunks = load_chunks(ws);
    let ranked = rank(&chunks, &terms);
    if ranked.is_empty() {
        return Ok(format!("no memory matches {query:?}"));
    }
    let limit = limit.unwrap_or(DEFAULT_RESULTS).clamp(1, 20);
    Ok(ranked
        .into_iter()
        .take(limit)
        .map(|(score, chunk)| {
            format!(
                "{}:{} (score {score:.2})\n{}",
                chunk.file, chunk.line, chunk.text
            )
        })
        .collect::<Vec<_>>()
        .join("\n---\n"))
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

/// `MEMORY.md`, then the daily files newest first (relative to the root).
fn memory_files(root: &Path) -> Vec<PathBuf> {
    use pincer_workspace::beneath::{EntryKind, list};
    let mut files = vec![PathBuf::from("MEMORY.md")];
    let mut daily: Vec<PathBuf> = list(root, Path::new("memory"))
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

/// The memory files' paragraphs, within [`MAX_MEMORY_BYTES`]; read beneath the root like every
/// file tool (a symlink in `memory/` leads nowhere).
fn load_chunks(ws: &Workspace) -> Vec<Chunk> {
    use std::io::Read as _;
    let mut budget = MAX_MEMORY_BYTES;
    let mut chunks = Vec::new();
    for relative in memory_files(ws.root()) {
        let Ok(file) = pincer_workspace::beneath::open_read(ws.root(), &relative) else {
            continue;
        };
        let Ok(meta) = file.metadata() else {
            continue;
        };
        if !meta.is_file() || meta.len() > budget {
            continue;
        }
        budget -= meta.len();
        let mut text = String::new();
        if file.take(meta.len()).read_to_string(&mut text).is_err() {
            continue;
        }
        chunks.extend(chunk(&ws.display(&ws.root().join(&relative)), &text));
    }
    chunks
}

/// Paragraphs (blank-line separated), long ones split at [`CHUNK_CHARS`].
fn chunk(file: &str, text: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() || current.chars().count() + line.chars().count() > CHUNK_CHARS {
            if !current.trim().is_empty() {
                out.push(Chunk {
                    file: file.to_owned(),
                    line: start,
                    text: current.trim().to_owned(),
                });
            }
            current.clear();
            start = index + 1;
            if line.trim().is_empty() {
                start = index + 2;
                continue;
            }
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        out.push(Chunk {
            file: file.to_owned(),
            line: start,
            text: current.trim().to_owned(),
        });
    }
    out
}

/// Lowercased words of letters and digits (any script).
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// BM25 (k1 = 1.2, b = 0.75), best first; chunks matching no term are left out.
fn rank<'a>(chunks: &'a [Chunk], terms: &[String]) -> Vec<(f64, &'a Chunk)> {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;
    let docs: Vec<Vec<String>> = chunks.iter().map(|c| tokens(&c.text)).collect();
    let n = docs.len() as f64;
    if docs.is_empty() {
        return Vec::new();
    }
    let average = docs.iter().map(Vec::len).sum::<usize>() as f64 / n;
    let mut frequency: HashMap<&str, usize> = HashMap::new();
    for term in terms {
        let containing = docs.iter().filter(|d| d.contains(term)).count();
        frequency.insert(term, containing);
    }
    let mut scored: Vec<(f64, &Chunk)> = docs
        .iter()
        .zip(chunks)
        .filter_map(|(doc, chunk)| {
            let length = doc.len() as f64;
            let score: f64 = terms
                .iter()
                .map(|term| {
                    let tf = doc.iter().filter(|w| *w == term).count() as f64;
                    if tf == 0.0 {
                        return 0.0;
                    }
                    let df = frequency.get(term.as_str()).copied().unwrap_or(0) as f64;
                    let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                    idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * length / average.max(1.0)))
                })
                .sum();
            (score > 0.0).then_some((score, chunk))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::scratch_workspace as ws;

    #[test]
    fn written_notes_are_found_best_match_first() {
        let (_dir, ws) = ws();
        write(
            &ws,
            r#"{"text":"The user's cat is called Miso and likes tuna."}"#,
            "2026-11-29",
        )
        .expect("write");
        write(
            &ws,
            r#"{"text":"Dentist appointment on Friday.","target":"long_term"}"#,
            "2026-11-29",
        )
        .expect("write");
        write(
            &ws,
            r#"{"text":"Bought cat food; the cat Miso refused it."}"#,
            "2026-11-30",
        )
        .expect("write");
        let out = search(&ws, r#"{"query":"what is the cat called? Miso"}"#).expect("search");
        let first = out.split("\n---\n").next().expect("a result");
        assert!(first.contains("Miso"), "{out}");
        assert!(!out.contains("Dentist"), "{out}");
        assert!(out.contains("memory/2026-11-29.md:"), "{out}");
        let out = search(&ws, r#"{"query":"dentist"}"#).expect("search");
        assert!(out.starts_with("MEMORY.md:"), "{out}");
        assert!(
            search(&ws, r#"{"query":"zebra"}"#)
                .expect("search")
                .starts_with("no memory")
        );
    }

    #[test]
    fn bad_input_is_explained() {
        let (_dir, ws) = ws();
        assert!(matches!(
            search(&ws, r#"{"query":"!!!"}"#),
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

    #[test]
    fn long_paragraphs_are_split_and_lines_are_counted() {
        let text = format!("# T\n\nfirst para\n\n{}", "word\n".repeat(400));
        let chunks = chunk("f.md", &text);
        assert_eq!(chunks[0].line, 1);
        assert_eq!(chunks[1].line, 3);
        assert!(chunks.len() >= 4, "{}", chunks.len());
    }
}
