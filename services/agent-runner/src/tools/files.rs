//! File tools over the workspace: `read`, `write`, `edit`, `list`. Every path is checked by
//! [`Workspace::relative`] (no `..`, no absolute paths) and then opened by the kernel beneath the
//! root ([`pincer_workspace::beneath`]), so a symlink leading out is refused however and whenever
//! it appeared, and writes go through a fresh temporary file.

use std::io::Read as _;

use serde::Deserialize;

use super::{ToolError, args};
use pincer_workspace::Workspace;
use pincer_workspace::beneath::{self, EntryKind};

/// Characters of a file handed back by one `read`.
const READ_CAP: usize = 32_000;
/// Largest file `write` or `edit` will produce.
const WRITE_CAP: usize = 1024 * 1024;
/// Entries listed by one `list`.
const LIST_CAP: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadArgs {
    path: String,
    /// First line to return (1-based).
    #[serde(default)]
    offset: Option<usize>,
    /// Lines to return.
    #[serde(default)]
    limit: Option<usize>,
}

/// `read`: a text file, optionally a window of lines.
pub fn read(ws: &Workspace, arguments: &str) -> Result<String, ToolError> {
    let ReadArgs {
        path,
        offset,
        limit,
    } = args(arguments)?;
    let relative = ws.relative(&path)?;
    let file =
        beneath::open_read(ws.root(), &relative).map_err(|e| ToolError::beneath(&path, &e))?;
    if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(ToolError::Invalid(format!(
            "{path} is a directory; use list"
        )));
    }
    let mut bytes = Vec::new();
    // Bounded: a huge file costs at most this much memory.
    file.take(16 * 1024 * 1024)
        .read_to_end(&mut bytes)
        .map_err(|e| ToolError::io(&path, &e))?;
    if bytes.contains(&0) {
        return Err(ToolError::Invalid(format!(
            "{path} is a binary file; only text files can be read"
        )));
    }
    let text = String::from_utf8_lossy(&bytes);
    let first = offset.unwrap_or(1).max(1);
    let selected: String = match (offset, limit) {
        (None, None) => text.into_owned(),
        _ => text
            .lines()
            .skip(first - 1)
            .take(limit.unwrap_or(usize::MAX))
            .map(|line| format!("{line}\n"))
            .collect(),
    };
    let chars = selected.chars().count();
    if chars <= READ_CAP {
        return Ok(selected);
    }
    let kept: String = selected.chars().take(READ_CAP).collect();
    // Whole lines only, so that the offset to continue from starts where this stops; a first
    // line longer than the cap is shown in part, and the next offset is the line after it.
    let (kept, lines, part) = match kept.rfind('\n') {
        Some(end) => (&kept[..=end], kept[..=end].lines().count(), ""),
        None => (
            kept.as_str(),
            1,
            "; its first line is longer than that and shown in part",
        ),
    };
    Ok(format!(
        "{kept}\n[... truncated at {READ_CAP} of {chars} characters{part}; continue with offset={}]",
        first + lines
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteArgs {
    path: String,
    content: String,
}

/// `write`: creates or replaces a file (parents created), atomically.
pub fn write(ws: &Workspace, arguments: &str) -> Result<String, ToolError> {
    let WriteArgs { path, content } = args(arguments)?;
    if content.len() > WRITE_CAP {
        return Err(ToolError::Invalid(format!(
            "content is {} bytes; the limit is {WRITE_CAP}",
            content.len()
        )));
    }
    let relative = ws.relative(&path)?;
    let full = ws.root().join(&relative);
    if relative.as_os_str().is_empty() || full.is_dir() {
        return Err(ToolError::Invalid(format!("{path} is a directory")));
    }
    beneath::write_atomically(ws.root(), &relative, content.as_bytes())
        .map_err(|e| ToolError::beneath(&path, &e))?;
    Ok(format!(
        "wrote {} bytes to {}",
        content.len(),
        ws.display(&full)
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditArgs {
    path: String,
    old_text: String,
    new_text: String,
}

/// `edit`: replaces exactly one occurrence of `old_text`.
pub fn edit(ws: &Workspace, arguments: &str) -> Result<String, ToolError> {
    let EditArgs {
        path,
        old_text,
        new_text,
    } = args(arguments)?;
    if old_text.is_empty() {
        return Err(ToolError::Invalid("old_text must not be empty".into()));
    }
    let relative = ws.relative(&path)?;
    let full = ws.root().join(&relative);
    let mut text = String::new();
    beneath::open_read(ws.root(), &relative)
        .map_err(|e| ToolError::beneath(&path, &e))?
        .take(u64::try_from(WRITE_CAP).unwrap_or(u64::MAX) + 1)
        .read_to_string(&mut text)
        .map_err(|e| ToolError::io(&path, &e))?;
    let found = text.matches(&old_text).count();
    if found != 1 {
        return Err(ToolError::Invalid(format!(
            "old_text occurs {found} times in {path}; it must occur exactly once (add surrounding lines)"
        )));
    }
    let updated = text.replacen(&old_text, &new_text, 1);
    if updated.len() > WRITE_CAP {
        return Err(ToolError::Invalid(format!(
            "the edited file would be {} bytes; the limit is {WRITE_CAP}",
            updated.len()
        )));
    }
    beneath::write_atomically(ws.root(), &relative, updated.as_bytes())
        .map_err(|e| ToolError::beneath(&path, &e))?;
    Ok(format!("edited {}", ws.display(&full)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    #[serde(default)]
    path: Option<String>,
}

/// `list`: a directory's entries (`/` after directories), sorted.
pub fn list(ws: &Workspace, arguments: &str) -> Result<String, ToolError> {
    let ListArgs { path } = if arguments.trim().is_empty() {
        ListArgs::default()
    } else {
        args(arguments)?
    };
    let path = path.unwrap_or_else(|| ".".to_owned());
    let relative = ws.relative(&path)?;
    let full = ws.root().join(&relative);
    let entries = beneath::list(ws.root(), &relative).map_err(|e| ToolError::beneath(&path, &e))?;
    let mut names: Vec<String> = entries
        .into_iter()
        .filter(|(name, _)| !name.contains(".pincer-tmp-"))
        .map(|(name, kind)| match kind {
            EntryKind::Dir => format!("{name}/"),
            EntryKind::Symlink => format!("{name}@"),
            EntryKind::File => name,
        })
        .collect();
    names.sort();
    let total = names.len();
    if total == 0 {
        return Ok(format!("{} is empty", ws.display(&full)));
    }
    names.truncate(LIST_CAP);
    let mut out = names.join("\n");
    if total > LIST_CAP {
        out.push_str(&format!("\n[... {} more entries]", total - LIST_CAP));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::scratch_workspace as ws;

    #[test]
    fn write_read_edit_list_round_trip() {
        let (_dir, ws) = ws();
        write(
            &ws,
            r#"{"path":"notes/a.md","content":"one\ntwo\nthree\n"}"#,
        )
        .expect("write");
        assert_eq!(
            read(&ws, r#"{"path":"notes/a.md"}"#).expect("read"),
            "one\ntwo\nthree\n"
        );
        assert_eq!(
            read(&ws, r#"{"path":"notes/a.md","offset":2,"limit":1}"#).expect("window"),
            "two\n"
        );
        edit(
            &ws,
            r#"{"path":"notes/a.md","old_text":"two","new_text":"2"}"#,
        )
        .expect("edit");
        assert_eq!(
            read(&ws, r#"{"path":"notes/a.md"}"#).expect("read"),
            "one\n2\nthree\n"
        );
        let listing = list(&ws, "{}").expect("list");
        assert!(
            listing.contains("notes/") && listing.contains("SOUL.md"),
            "{listing}"
        );
        assert_eq!(list(&ws, r#"{"path":"notes"}"#).expect("list"), "a.md");
    }

    #[tokio::test]
    async fn links_planted_by_others_lead_nowhere() {
        let (_dir, ws) = ws();
        let outside = tempfile::tempdir().expect("outside");
        let secret = outside.path().join("config.json5");
        std::fs::write(&secret, "TOKEN").expect("secret");
        // What a `git clone`, a `tar` or an MCP server could leave behind.
        std::fs::hard_link(&secret, ws.root().join("copy.txt")).expect("hard link");
        std::os::unix::fs::symlink(&secret, ws.root().join("MEMORY.md.tmp")).expect("link");
        std::fs::create_dir_all(ws.root().join("memory")).expect("memory");
        std::os::unix::fs::symlink(&secret, ws.root().join("memory/stolen.md")).expect("link");
        let read_hard = read(&ws, r#"{"path":"copy.txt"}"#);
        assert!(
            matches!(read_hard, Err(ToolError::Invalid(ref m)) if m.contains("hard links")),
            "{read_hard:?}"
        );
        let memory = crate::memory::MemoryIndex::new(ws.root(), None);
        let found = crate::tools::memory::search(&memory, r#"{"query":"TOKEN"}"#)
            .await
            .expect("search");
        assert!(found.starts_with("no memory matches"), "{found}");
        // Writing through a link that leads out is refused; the file it points at is untouched.
        let through = write(&ws, r#"{"path":"MEMORY.md.tmp","content":"x"}"#);
        assert!(matches!(through, Err(ToolError::Path(_))), "{through:?}");
        assert_eq!(std::fs::read_to_string(&secret).expect("read"), "TOKEN");
    }

    #[test]
    fn every_file_tool_refuses_escapes() {
        let (_dir, ws) = ws();
        let outside = tempfile::tempdir().expect("outside");
        std::fs::write(outside.path().join("secret"), "s3cret").expect("write");
        std::os::unix::fs::symlink(outside.path(), ws.root().join("link")).expect("link");
        let attempts = [
            ("read", r#"{"path":"../etc/passwd"}"#),
            ("read", r#"{"path":"/etc/passwd"}"#),
            ("read", r#"{"path":"link/secret"}"#),
            ("write", r#"{"path":"../x","content":"x"}"#),
            ("write", r#"{"path":"/tmp/x","content":"x"}"#),
            ("write", r#"{"path":"link/new","content":"x"}"#),
            (
                "edit",
                r#"{"path":"link/secret","old_text":"s3cret","new_text":"x"}"#,
            ),
            (
                "edit",
                r#"{"path":"../secret","old_text":"a","new_text":"b"}"#,
            ),
            ("list", r#"{"path":"link"}"#),
            ("list", r#"{"path":".."}"#),
            ("list", r#"{"path":"/"}"#),
        ];
        for (tool, arguments) in attempts {
            let result = match tool {
                "read" => read(&ws, arguments),
                "write" => write(&ws, arguments),
                "edit" => edit(&ws, arguments),
                _ => list(&ws, arguments),
            };
            assert!(
                matches!(result, Err(ToolError::Path(_))),
                "{tool} {arguments}: {result:?}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(outside.path().join("secret")).expect("read"),
            "s3cret"
        );
        assert!(!outside.path().join("new").exists());
    }

    #[test]
    fn bad_input_gets_clear_errors() {
        let (_dir, ws) = ws();
        std::fs::write(ws.root().join("bin"), [1, 0, 2]).expect("write");
        assert!(
            matches!(read(&ws, r#"{"path":"bin"}"#), Err(ToolError::Invalid(m)) if m.contains("binary"))
        );
        assert!(
            matches!(read(&ws, r#"{"path":"nope.md"}"#), Err(ToolError::Io(m)) if m.contains("nope.md"))
        );
        assert!(matches!(
            read(&ws, r#"{"file":"x"}"#),
            Err(ToolError::Arguments(_))
        ));
        assert!(matches!(
            read(&ws, "not json"),
            Err(ToolError::Arguments(_))
        ));
        assert!(matches!(
            edit(&ws, r#"{"path":"SOUL.md","old_text":"zzz","new_text":"y"}"#),
            Err(ToolError::Invalid(m)) if m.contains("0 times")
        ));
    }

    #[test]
    fn a_huge_file_is_read_in_windows() {
        let (_dir, ws) = ws();
        let line = "x".repeat(99);
        std::fs::write(ws.root().join("big.txt"), format!("{line}\n").repeat(1000)).expect("write");
        let out = read(&ws, r#"{"path":"big.txt"}"#).expect("read");
        assert!(
            out.contains("truncated at 32000 of 100000 characters; continue with offset=321"),
            "{}",
            &out[out.len() - 120..]
        );
        // Lines that do not end at the cap: the window stops at the last whole line, and the
        // offset given starts with the one it left out.
        let line = "y".repeat(108);
        std::fs::write(ws.root().join("odd.txt"), format!("{line}\n").repeat(1000)).expect("write");
        let out = read(&ws, r#"{"path":"odd.txt"}"#).expect("read");
        let (shown, note) = out.split_once("\n[...").expect("truncated");
        assert_eq!(shown.lines().count(), 293);
        assert!(shown.lines().all(|l| l.len() == 108), "whole lines only");
        assert!(note.contains("continue with offset=294"), "{note}");
        let next = read(&ws, r#"{"path":"odd.txt","offset":294,"limit":1}"#).expect("read");
        assert_eq!(next.trim_end().len(), 108);
        // One line longer than the cap: shown in part, and the offset goes past it.
        std::fs::write(ws.root().join("one.txt"), "z".repeat(40_000)).expect("write");
        let out = read(&ws, r#"{"path":"one.txt"}"#).expect("read");
        assert!(
            out.contains("shown in part; continue with offset=2"),
            "{}",
            &out[32_000..]
        );
    }
}
