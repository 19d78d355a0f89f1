//! Reading the workspace files that go into every prompt, with a cap per file and in total. Text
//! over a cap is cut with a visible marker (the model and the user can tell); a binary file is
//! named and skipped, never sent as noise.

use std::io::Read as _;
use std::path::Path;

/// OpenClaw's default caps (`bootstrapMaxChars`, `bootstrapTotalMaxChars`).
pub const DEFAULT_FILE_CAP: usize = 20_000;
/// Total over all files.
pub const DEFAULT_TOTAL_CAP: usize = 60_000;

/// Caps in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// One file.
    pub file: usize,
    /// All files together.
    pub total: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            file: DEFAULT_FILE_CAP,
            total: DEFAULT_TOTAL_CAP,
        }
    }
}

/// One file as it goes into the prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// File name.
    pub name: String,
    /// Text (possibly cut, with the marker appended).
    pub text: String,
}

/// Reads `names` from `root` in order. Missing files are left out.
pub fn read_sections(root: &Path, names: &[&str], caps: Caps) -> Vec<Section> {
    let mut left = caps.total;
    let mut sections = Vec::new();
    for name in names {
        let Some((text, used)) = read_capped(root, name, caps.file.min(left)) else {
            continue;
        };
        left = left.saturating_sub(used);
        sections.push(Section {
            name: (*name).to_owned(),
            text,
        });
    }
    sections
}

/// The text of `path` cut to `cap` characters with a marker, and how many of the file's characters
/// it holds (markers do not count against the caps); `None` when it does not exist.
fn read_capped(root: &Path, name: &str, cap: usize) -> Option<(String, usize)> {
    let file = match crate::beneath::open_read(root, Path::new(name)) {
        Ok(file) => file,
        Err(crate::beneath::BeneathError::Io(error))
            if error.kind() == std::io::ErrorKind::NotFound =>
        {
            return None;
        }
        Err(error) => return Some((format!("[{name} skipped: it {error}]"), 0)),
    };
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    // Never read more than a UTF-8 worst case of the cap (plus one char to know it was cut).
    let limit = u64::try_from(cap.saturating_add(1).saturating_mul(4)).unwrap_or(u64::MAX);
    let mut bytes = Vec::new();
    if let Err(error) = file.take(limit).read_to_end(&mut bytes) {
        return Some((format!("[{name} could not be read: {error}]"), 0));
    }
    if bytes.contains(&0) {
        return Some((format!("[{name} skipped: it is not a text file]"), 0));
    }
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text.to_owned(),
        // Only the last char is incomplete: the read limit cut it, the file is fine.
        Err(error) if error.error_len().is_none() => {
            String::from_utf8_lossy(&bytes[..error.valid_up_to()]).into_owned()
        }
        Err(_) => return Some((format!("[{name} skipped: it is not UTF-8 text]"), 0)),
    };
    let read_all = u64::try_from(bytes.len()).unwrap_or(u64::MAX) >= size;
    let chars = text.chars().count();
    if read_all && chars <= cap {
        return Some((text, chars));
    }
    let kept: String = text.chars().take(cap).collect();
    Some((
        format!(
            "{kept}\n[... {name} truncated: {size} bytes, only the first {cap} characters are shown; read the file for the rest]"
        ),
        cap,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_over_the_cap_are_cut_with_a_marker_and_the_total_is_bounded() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("A.md"), "a".repeat(50)).expect("write");
        std::fs::write(dir.path().join("B.md"), "b".repeat(50)).expect("write");
        std::fs::write(dir.path().join("C.md"), "c".repeat(50)).expect("write");
        let sections = read_sections(
            dir.path(),
            &["A.md", "missing.md", "B.md", "C.md"],
            Caps {
                file: 40,
                total: 70,
            },
        );
        assert_eq!(sections.len(), 3);
        assert!(sections[0].text.starts_with(&"a".repeat(40)));
        assert!(sections[0].text.contains("A.md truncated"));
        assert!(sections[1].text.starts_with(&"b".repeat(30)));
        assert!(sections[1].text.contains("B.md truncated"));
        assert!(sections[2].text.contains("C.md truncated"));
    }

    #[test]
    fn binary_and_non_utf8_files_are_named_and_skipped() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("bin.md"), [0x7f, b'E', b'L', b'F', 0, 1]).expect("write");
        std::fs::write(dir.path().join("latin1.md"), [b'c', b'a', b'f', 0xe9, b'!'])
            .expect("write");
        let sections = read_sections(dir.path(), &["bin.md", "latin1.md"], Caps::default());
        assert!(sections[0].text.contains("not a text file"));
        assert!(sections[1].text.contains("not UTF-8"));
    }

    #[test]
    fn a_huge_file_is_not_read_whole() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("big.md"), "é".repeat(200_000)).expect("write");
        let sections = read_sections(
            dir.path(),
            &["big.md"],
            Caps {
                file: 100,
                total: 100,
            },
        );
        assert!(sections[0].text.starts_with(&"é".repeat(100)));
        assert!(sections[0].text.contains("truncated: 400000 bytes"));
    }
}
