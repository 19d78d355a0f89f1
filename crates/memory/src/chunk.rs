//! Memory files cut into chunks that remember where they came from.
//!
//! A chunk is a paragraph (blank-line separated). A paragraph of headings only is kept with the
//! paragraph after it, so "## Car" travels with what is said about the car (for the words and
//! for the meaning). Paragraphs longer than [`CHUNK_CHARS`] are split between lines, and a single
//! line longer than that between characters.

/// Chunks hold this many characters at most.
pub const CHUNK_CHARS: usize = 800;

/// A piece of a memory file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// First line (1-based).
    pub line: u32,
    /// Last line (1-based, inclusive).
    pub end_line: u32,
    /// The text, trimmed.
    pub text: String,
}

/// Cuts `text` into chunks.
pub fn chunk(text: &str) -> Vec<Chunk> {
    let mut cutter = Cutter::default();
    for (index, line) in text.lines().enumerate() {
        let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        if line.trim().is_empty() {
            if !cutter.only_headings() {
                cutter.flush();
            }
            continue;
        }
        if line.chars().count() > CHUNK_CHARS {
            cutter.flush();
            cutter.split_long_line(line, number);
            continue;
        }
        if cutter.chars + line.chars().count() > CHUNK_CHARS {
            cutter.flush();
        }
        cutter.push(line, number);
    }
    cutter.flush();
    cutter.out
}

#[derive(Default)]
struct Cutter {
    out: Vec<Chunk>,
    text: String,
    chars: usize,
    start: u32,
    end: u32,
    headings_only: bool,
}

impl Cutter {
    fn only_headings(&self) -> bool {
        !self.text.is_empty() && self.headings_only
    }

    fn push(&mut self, line: &str, number: u32) {
        if self.text.is_empty() {
            self.start = number;
            self.headings_only = true;
        }
        self.headings_only &= line.trim_start().starts_with('#');
        self.text.push_str(line);
        self.text.push('\n');
        self.chars += line.chars().count() + 1;
        self.end = number;
    }

    fn flush(&mut self) {
        let text = self.text.trim();
        if !text.is_empty() {
            self.out.push(Chunk {
                line: self.start,
                end_line: self.end,
                text: text.to_owned(),
            });
        }
        self.text.clear();
        self.chars = 0;
    }

    fn split_long_line(&mut self, line: &str, number: u32) {
        let chars: Vec<char> = line.chars().collect();
        for piece in chars.chunks(CHUNK_CHARS) {
            let text: String = piece.iter().collect();
            if !text.trim().is_empty() {
                self.out.push(Chunk {
                    line: number,
                    end_line: number,
                    text: text.trim().to_owned(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_keep_their_lines_and_headings_stay_with_their_paragraph() {
        let text = "# Pets\n\nThe cat is Miso.\nShe likes tuna.\n\n\nDentist on Friday.\n";
        let chunks = chunk(text);
        assert_eq!(
            chunks,
            vec![
                Chunk {
                    line: 1,
                    end_line: 4,
                    text: "# Pets\nThe cat is Miso.\nShe likes tuna.".into()
                },
                Chunk {
                    line: 7,
                    end_line: 7,
                    text: "Dentist on Friday.".into()
                },
            ]
        );
    }

    #[test]
    fn long_paragraphs_and_long_lines_are_split() {
        let text = format!("first para\n\n{}", "word\n".repeat(400));
        let chunks = chunk(&text);
        assert_eq!((chunks[0].line, chunks[0].end_line), (1, 1));
        assert_eq!(chunks[1].line, 3);
        assert!(chunks.len() >= 4, "{}", chunks.len());
        assert!(chunks.iter().all(|c| c.text.chars().count() <= CHUNK_CHARS));
        // Lines stay consecutive across the split.
        assert_eq!(chunks[2].line, chunks[1].end_line + 1);

        let long = "é".repeat(CHUNK_CHARS * 2 + 5);
        let chunks = chunk(&format!("a\n{long}\nb"));
        assert_eq!(chunks.len(), 5);
        assert_eq!(
            chunks.iter().map(|c| c.line).collect::<Vec<_>>(),
            [1, 2, 2, 2, 3]
        );
    }

    #[test]
    fn nothing_but_blanks_is_no_chunk() {
        assert!(chunk("").is_empty());
        assert!(chunk("\n  \n\t\n").is_empty());
    }
}
