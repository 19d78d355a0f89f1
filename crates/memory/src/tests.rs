//! The index end to end on a real workspace directory: incremental updates, rebuilds, queries
//! that are not FTS5 syntax, vectors.

use std::path::Path;

use crate::{Fusion, Index, Query, QueryVector};

fn workspace() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    std::fs::create_dir_all(root.join("memory")).expect("memory dir");
    (dir, root)
}

fn write(root: &Path, relative: &str, text: &str) {
    std::fs::write(root.join(relative), text).expect("write");
}

fn search(index: &Index, text: &str) -> Vec<String> {
    index
        .search(&Query {
            text,
            vector: None,
            limit: 5,
            fusion: Fusion::default(),
        })
        .expect("search")
        .into_iter()
        .map(|hit| format!("{}:{}", hit.path, hit.line))
        .collect()
}

#[test]
fn changes_and_deletions_reach_the_index_and_unchanged_files_are_not_read_again() {
    let (_dir, root) = workspace();
    write(&root, "MEMORY.md", "# Me\n\nThe cat is called Miso.\n");
    write(
        &root,
        "memory/2026-11-29.md",
        "Dentist appointment on Friday.\n\nBought tuna.\n",
    );
    let mut index = Index::open(&root).expect("open");
    let first = index.sync(&root).expect("sync");
    assert_eq!((first.files_changed, first.chunks_added), (2, 3));
    assert_eq!(search(&index, "dentist"), ["memory/2026-11-29.md:1"]);
    assert_eq!(search(&index, "cats"), ["MEMORY.md:1"], "porter stemming");

    // An edit replaces that file's chunks only; the next line numbers follow.
    write(
        &root,
        "memory/2026-11-29.md",
        "Moved:\n\nDentist appointment on Monday.\n",
    );
    let report = index.sync(&root).expect("sync");
    assert_eq!((report.files_changed, report.files_removed), (1, 0));
    assert_eq!(search(&index, "dentist monday"), ["memory/2026-11-29.md:3"]);
    assert!(search(&index, "tuna").is_empty());

    // A file rewritten within the same second with the same size is still seen.
    write(
        &root,
        "memory/2026-11-29.md",
        "Moved:\n\nDentist appointment on Sunday.\n",
    );
    assert_eq!(index.sync(&root).expect("sync").files_changed, 1);
    assert_eq!(search(&index, "sunday"), ["memory/2026-11-29.md:3"]);

    std::fs::remove_file(root.join("memory/2026-11-29.md")).expect("rm");
    let report = index.sync(&root).expect("sync");
    assert_eq!(report.files_removed, 1);
    assert!(search(&index, "dentist").is_empty());
    assert!(!index.sync(&root).expect("sync").changed());
}

#[test]
fn the_index_survives_a_reopen_and_is_rebuilt_when_deleted_or_damaged() {
    let (_dir, root) = workspace();
    write(&root, "MEMORY.md", "The cat is called Miso.\n");
    let mut index = Index::open(&root).expect("open");
    index.sync(&root).expect("sync");
    let path = index.path().expect("on disk").to_path_buf();
    assert_eq!(path, root.join(".pincer/memory.sqlite"));
    drop(index);

    let mut index = Index::open(&root).expect("reopen");
    assert!(!index.sync(&root).expect("sync").changed(), "kept");
    drop(index);

    std::fs::remove_file(&path).expect("delete the db");
    let mut index = Index::open(&root).expect("open");
    assert_eq!(index.sync(&root).expect("sync").files_changed, 1);
    assert_eq!(search(&index, "miso"), ["MEMORY.md:1"]);
    drop(index);

    std::fs::write(&path, b"this is not a database, it is a cat").expect("damage");
    let _ = std::fs::remove_file(root.join(".pincer/memory.sqlite-wal"));
    let mut index = Index::open(&root).expect("open rebuilds");
    assert_eq!(index.sync(&root).expect("sync").files_changed, 1);
    assert_eq!(search(&index, "miso"), ["MEMORY.md:1"]);
    assert_eq!(
        std::fs::read_to_string(root.join(".pincer/.gitignore")).expect("gitignore"),
        "*\n"
    );
}

#[test]
fn a_symlinked_index_directory_is_refused() {
    let (_dir, root) = workspace();
    let elsewhere = tempfile::tempdir().expect("elsewhere");
    std::os::unix::fs::symlink(elsewhere.path(), root.join(".pincer")).expect("link");
    assert!(Index::open(&root).is_err());
    assert!(
        std::fs::read_dir(elsewhere.path())
            .expect("ls")
            .next()
            .is_none()
    );
}

#[test]
fn questions_in_any_syntax_never_fail_the_query() {
    let (_dir, root) = workspace();
    write(
        &root,
        "MEMORY.md",
        "Near the AND gate: x-ray \"quoted\" notes*.\n",
    );
    let mut index = Index::open_in_memory().expect("open");
    index.sync(&root).expect("sync");
    for question in [
        r#"what did I "quote"#,
        "notes*",
        "-x ray",
        "gate AND",
        "NEAR(gate",
        "OR OR NOT",
        "a:b c^d",
        "(((",
        "!!!",
        "",
    ] {
        let hits = index
            .search(&Query {
                text: question,
                vector: None,
                limit: 3,
                fusion: Fusion::default(),
            })
            .unwrap_or_else(|error| panic!("{question:?}: {error}"));
        assert!(hits.len() <= 1, "{question:?}");
    }
    assert_eq!(search(&index, "NEAR(gate"), ["MEMORY.md:1"]);
}

#[test]
fn vectors_are_computed_once_per_text_and_rank_by_meaning() {
    let (_dir, root) = workspace();
    write(&root, "MEMORY.md", "alpha one\n\nbeta two\n\nalpha one\n");
    let mut index = Index::open_in_memory().expect("open");
    index.sync(&root).expect("sync");
    let model = "fake/m";
    let pending = index.missing_vectors(model, 10).expect("pending");
    assert_eq!(pending.len(), 2, "one per distinct text: {pending:?}");
    let vectors: Vec<(String, Vec<f32>)> = pending
        .iter()
        .map(|p| {
            let v = if p.text.starts_with("alpha") {
                vec![1.0, 0.0]
            } else {
                vec![0.0, 2.0]
            };
            (p.hash.clone(), v)
        })
        .collect();
    assert_eq!(index.store_vectors(model, &vectors).expect("store"), 2);
    assert!(index.missing_vectors(model, 10).expect("none").is_empty());
    assert_eq!(
        index.missing_vectors("other/m", 10).expect("other").len(),
        2
    );
    let counts = index.counts(model).expect("counts");
    assert_eq!((counts.chunks, counts.embedded), (3, 3));

    // No shared word, but the vector points at "beta two".
    let hits = index
        .search(&Query {
            text: "second letter",
            vector: Some(QueryVector {
                model,
                values: &[0.1, 0.9],
            }),
            limit: 1,
            fusion: Fusion::default(),
        })
        .expect("search");
    assert_eq!((hits[0].path.as_str(), hits[0].line), ("MEMORY.md", 3));

    // A changed file keeps the vectors of the texts it still has.
    write(&root, "MEMORY.md", "beta two\n\ngamma three\n");
    index.sync(&root).expect("sync");
    let pending = index.missing_vectors(model, 10).expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].text, "gamma three");
    assert_eq!(index.counts(model).expect("counts").embedded, 1);
}
