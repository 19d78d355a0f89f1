//! Heartbeat turns (`source: "heartbeat"`, fired by the gateway's scheduler from
//! `agents.defaults.heartbeat`): not run while the agent's `HEARTBEAT.md` asks for nothing, and
//! an answer that only says `HEARTBEAT_OK` is not delivered.

use std::io::Read;
use std::path::Path;

use pincer_workspace::Workspace;

/// The turn source the scheduler gives heartbeats.
pub const SOURCE: &str = "heartbeat";

/// The token an agent answers when nothing needs attention.
pub const OK_TOKEN: &str = "HEARTBEAT_OK";

/// Characters besides the token an answer may have and still count as "nothing to report"
/// (OpenClaw's `ackMaxChars`).
const ACK_MAX_CHARS: usize = 300;

/// Bytes of `HEARTBEAT.md` looked at (the agent reads the file itself).
const MAX_READ: u64 = 64 * 1024;

/// The text of `HEARTBEAT.md` when it has anything beyond blank lines, headings and comments;
/// `None` when it is missing or asks for nothing.
pub fn tasks(workspace: &Workspace) -> Option<String> {
    let file =
        pincer_workspace::beneath::open_read(workspace.root(), Path::new("HEARTBEAT.md")).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_READ).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    text.lines()
        .any(|line| {
            let line = line.trim();
            let comment = line.starts_with("<!--") && line.ends_with("-->");
            !(line.is_empty() || line.starts_with('#') || comment)
        })
        .then_some(text)
}

/// The heartbeat's message with the tasks in it (so the model need not call `read` first).
pub fn message(prompt: &str, tasks: &str) -> String {
    format!("{prompt}\n\nHEARTBEAT.md:\n{}", tasks.trim_end())
}

/// Whether `answer` only acknowledges (the token at its start or end, little else).
pub fn is_ack(answer: &str) -> bool {
    let plain: String = answer
        .trim()
        .trim_matches(|c: char| matches!(c, '*' | '_' | '`' | '.' | '!') || c.is_whitespace())
        .to_owned();
    let rest = if let Some(rest) = plain.strip_prefix(OK_TOKEN) {
        rest
    } else if let Some(rest) = plain.strip_suffix(OK_TOKEN) {
        rest
    } else {
        return false;
    };
    rest.trim().chars().count() <= ACK_MAX_CHARS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_are_the_token_with_little_around_it() {
        assert!(is_ack("HEARTBEAT_OK"));
        assert!(is_ack("  **HEARTBEAT_OK**\n"));
        assert!(is_ack("Nothing new. HEARTBEAT_OK"));
        assert!(!is_ack("The backup failed last night: disk full."));
        assert!(!is_ack(&format!("HEARTBEAT_OK {}", "x".repeat(400))));
    }

    #[test]
    fn an_empty_or_heading_only_heartbeat_file_has_no_tasks() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Workspace::open(dir.path()).expect("ws");
        std::fs::remove_file(dir.path().join("HEARTBEAT.md")).ok();
        assert_eq!(tasks(&ws), None);
        std::fs::write(
            dir.path().join("HEARTBEAT.md"),
            "# Heartbeat\n\n<!-- add tasks -->\n",
        )
        .expect("write");
        assert_eq!(tasks(&ws), None);
        std::fs::write(
            dir.path().join("HEARTBEAT.md"),
            "# Heartbeat\n- check the backups\n",
        )
        .expect("write");
        assert!(tasks(&ws).is_some_and(|t| t.contains("check the backups")));
    }
}
