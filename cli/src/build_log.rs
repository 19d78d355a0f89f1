//! A long child process (an image build) under a spinner: its output goes to a log file, the
//! spinner shows the latest line, and a failure prints the end of the log. Without a spinner (not
//! a terminal) the output streams through as it comes.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::progress::Progress;

/// Lines of the log shown when the command fails.
const TAIL_LINES: usize = 30;

/// Runs `command` to the end; `Err` says how it failed.
pub fn run(command: &mut Command, progress: &Progress) -> Result<(), String> {
    if !progress.is_spinner() {
        let status = command
            .status()
            .map_err(|e| format!("cannot start it: {e}"))?;
        return if status.success() {
            Ok(())
        } else {
            Err(format!("{status} (its output is above)"))
        };
    }
    let mut log = tempfile_in_tmp().map_err(|e| format!("cannot create a log file: {e}"))?;
    let out = log.try_clone().map_err(|e| e.to_string())?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let mut child = command
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .map_err(|e| format!("cannot start it: {e}"))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {
                if let Some(line) = last_lines(&mut log, 1).pop() {
                    progress.update(&line);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(error) => return Err(error.to_string()),
        }
    };
    if status.success() {
        return Ok(());
    }
    Err(format!(
        "{status}; the end of its output:\n{}",
        last_lines(&mut log, TAIL_LINES).join("\n")
    ))
}

/// An unnamed file for the log (gone when closed).
fn tempfile_in_tmp() -> std::io::Result<std::fs::File> {
    let path = std::env::temp_dir().join(format!("pincer-build-{}.log", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)?;
    // Nobody else needs the name: the log disappears with the last handle.
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// The last `count` non-empty lines written so far (progress bars' `\r` count as line breaks).
fn last_lines(log: &mut std::fs::File, count: usize) -> Vec<String> {
    const WINDOW: u64 = 16 * 1024;
    let end = log.seek(SeekFrom::End(0)).unwrap_or(0);
    let _ = log.seek(SeekFrom::Start(end.saturating_sub(WINDOW)));
    let mut bytes = Vec::new();
    let _ = log.take(WINDOW).read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<String> = text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| line.chars().take(160).collect())
        .collect();
    lines[lines.len().saturating_sub(count)..].to_vec()
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn the_last_lines_skip_blanks_and_carriage_returns() {
        let mut log = tempfile_in_tmp().expect("log");
        log.write_all(b"one\n\ntwo\rthree\n").expect("write");
        assert_eq!(last_lines(&mut log, 2), ["two", "three"]);
        assert_eq!(last_lines(&mut log, 9), ["one", "two", "three"]);
    }
}
