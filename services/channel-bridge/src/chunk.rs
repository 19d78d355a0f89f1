//! Splitting a long reply into messages of at most `limit` UTF-16 code units (Telegram counts
//! in those): at a paragraph break if one is in reach, else a line break, a sentence end, a space,
//! and only as a last resort inside a word. Works on chars, so a surrogate pair (emoji) is never
//! cut. A fenced code block cut in two is closed at the end of one chunk and reopened in the next.

/// Telegram's limit, minus headroom for the markup the renderer adds and a reopened fence.
pub const TELEGRAM_CHUNK: usize = 4000;

/// Room kept for closing and reopening a code fence.
const FENCE_ROOM: usize = 8;

/// The longest language name a reopened fence carries.
const LANGUAGE_CHARS: usize = 16;

/// Splits `text` (trimmed) into non-empty chunks.
pub fn split(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(FENCE_ROOM * 4);
    let mut chunks = Vec::new();
    let mut rest = text.trim().to_owned();
    // The fence to reopen the next chunk with (its language kept), when a cut fell in code.
    let mut reopen: Option<String> = None;
    while !rest.is_empty() {
        if let Some(fence) = reopen.take() {
            rest.insert_str(0, &format!("{fence}\n"));
        }
        if utf16_len(&rest) <= limit {
            chunks.push(rest);
            break;
        }
        let cut = cut_point(&rest, limit - FENCE_ROOM);
        let (head, tail) = rest.split_at(cut);
        let mut head = head.trim_end().to_owned();
        // A fence left open means the cut is inside a code block.
        reopen = open_fence(&head);
        if reopen.is_some() {
            head.push_str("\n```");
        }
        if !head.trim().is_empty() {
            chunks.push(head);
        }
        // Inside code, indentation is content: drop only the line break at the cut.
        rest = if reopen.is_some() {
            tail.trim_start_matches(['\n', '\r']).to_owned()
        } else {
            tail.trim_start().to_owned()
        };
    }
    chunks
}

/// The fence that reopens the code block `text` ends inside, if any: ```` ``` ```` and the
/// block's language (its first word, when it is a short name), never the rest of the opening
/// line, which could be longer than a chunk.
fn open_fence(text: &str) -> Option<String> {
    let mut open = None;
    for line in text.lines() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        open = match open {
            None => {
                let language: String = info
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || "+-#._".contains(*c))
                    .take(LANGUAGE_CHARS + 1)
                    .collect();
                let language = if language.chars().count() > LANGUAGE_CHARS {
                    ""
                } else {
                    language.as_str()
                };
                Some(format!("```{language}"))
            }
            Some(_) => None,
        };
    }
    open
}

/// UTF-16 length.
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Finds a boundary in a window: the byte index just after it.
type Boundary = dyn Fn(&str) -> Option<usize>;

/// Byte index to cut at: the best boundary within `limit` UTF-16 units.
fn cut_point(text: &str, limit: usize) -> usize {
    // The largest prefix (on a char boundary) within the limit.
    let mut units = 0;
    let mut end = 0;
    for (index, ch) in text.char_indices() {
        if units + ch.len_utf16() > limit {
            break;
        }
        units += ch.len_utf16();
        end = index + ch.len_utf8();
    }
    let window = &text[..end];
    // Prefer boundaries in the second half, so chunks are not tiny.
    let floor = end / 2;
    let candidates: [&Boundary; 4] = [
        &|w| w.rfind("\n\n").map(|i| i + 2),
        &|w| w.rfind('\n').map(|i| i + 1),
        &|w| {
            [". ", "! ", "? ", "。", "！", "？"]
                .iter()
                .filter_map(|p| w.rfind(p).map(|i| i + p.len()))
                .max()
        },
        &|w| w.rfind(char::is_whitespace).map(|i| i + 1),
    ];
    for find in candidates {
        if let Some(at) = find(window).filter(|at| *at > floor) {
            return at;
        }
    }
    end.max(text.chars().next().map_or(1, char::len_utf8))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines that open or close a code fence (``` at the start of a line, as the renderer reads
    /// them).
    fn fence_lines(text: &str) -> usize {
        text.lines()
            .filter(|line| line.trim_start().starts_with("```"))
            .count()
    }

    #[test]
    fn short_text_is_one_chunk() {
        assert_eq!(split("  hello  ", 100), ["hello"]);
        assert!(split("   ", 100).is_empty());
    }

    #[test]
    fn paragraphs_then_sentences_then_words() {
        let para = format!("{}\n\n{}", "a".repeat(60), "b".repeat(60));
        assert_eq!(split(&para, 100), ["a".repeat(60), "b".repeat(60)]);
        let sentences = format!("{}. {}. {}", "x".repeat(40), "y".repeat(40), "z".repeat(40));
        let chunks = split(&sentences, 100);
        assert!(chunks[0].ends_with('.'), "{chunks:?}");
        let words = "word ".repeat(60);
        assert!(
            split(&words, 100)
                .iter()
                .all(|c| !c.contains("wo rd") && c.ends_with("word"))
        );
    }

    fn squeezed(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    proptest::proptest! {
        #[test]
        fn chunks_fit_and_lose_nothing(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec!["word", "日本語の文章", "😀", "👩‍👩‍👧", "é", " ", "\n", "\n\n", ". ", "x"]),
                0..600,
            ),
            limit in 32usize..300,
        ) {
            let text: String = pieces.concat();
            let chunks = split(&text, limit);
            for chunk in &chunks {
                proptest::prop_assert!(utf16_len(chunk) <= limit, "{} > {limit}", utf16_len(chunk));
                proptest::prop_assert!(!chunk.trim().is_empty());
            }
            proptest::prop_assert_eq!(squeezed(&chunks.concat()), squeezed(&text));
        }
    }

    #[test]
    fn code_fences_are_closed_and_reopened() {
        let text = format!("```rust\n{}\n```", "let x = 1;\n".repeat(30));
        let chunks = split(&text, 120);
        assert!(chunks.len() > 2);
        for chunk in &chunks {
            assert_eq!(fence_lines(chunk) % 2, 0, "{chunk}");
            assert!(utf16_len(chunk) <= 120, "{}", utf16_len(chunk));
        }
        assert!(
            chunks.iter().all(|chunk| chunk.starts_with("```rust\n")),
            "every part keeps the block's language: {chunks:?}"
        );
        let python = format!("```\n{}```", "def f():\n    return 1\n".repeat(20));
        for chunk in split(&python, 100).iter().skip(1) {
            assert!(
                chunk.starts_with("```\n    return 1") || chunk.starts_with("```\ndef"),
                "{chunk}"
            );
        }
        // A fence line longer than a chunk (minified code after the backticks) still splits.
        let long = format!("```{}\n{}\n```", "x".repeat(300), "y".repeat(300));
        let pieces = split(&long, 100);
        assert!(pieces.iter().all(|p| utf16_len(p) <= 100), "{pieces:?}");
        assert!(pieces.len() < 20, "{} pieces", pieces.len());
        // Backticks inside prose are not fences.
        let prose = format!("type ``` to open a block. {}", "word ".repeat(60));
        assert!(split(&prose, 100).iter().all(|c| !c.ends_with("\n```")));
    }
}
