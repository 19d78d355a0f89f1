//! The part of a chunk shown in a search result: all of it when it is short, else a window of
//! [`SNIPPET_CHARS`] around the first word of the question it contains (the start of the chunk
//! when it was found by meaning alone), cut at spaces and marked with `…`.

/// Characters of a chunk shown at most.
pub const SNIPPET_CHARS: usize = 700;

/// The snippet of `text` for the query words `terms` (lowercased, as [`crate::fts_query::terms`]
/// gives them).
pub fn snippet(text: &str, terms: &[String]) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= SNIPPET_CHARS {
        return text.to_owned();
    }
    let hit = first_term_at(&chars, terms).unwrap_or(0);
    // Some context before the word, most of the window after it.
    let mut start = hit.saturating_sub(SNIPPET_CHARS / 4);
    let end = (start + SNIPPET_CHARS).min(chars.len());
    start = end.saturating_sub(SNIPPET_CHARS);
    let start = if start == 0 {
        0
    } else {
        next_space(&chars, start).unwrap_or(start)
    };
    let end = if end == chars.len() {
        end
    } else {
        previous_space(&chars, end)
            .filter(|e| *e > start)
            .unwrap_or(end)
    };
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(chars[start..end].iter());
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    if end < chars.len() {
        out.push('…');
    }
    out
}

/// The character index of the first word of `chars` that is one of `terms`.
fn first_term_at(chars: &[char], terms: &[String]) -> Option<usize> {
    let mut index = 0;
    while index < chars.len() {
        if !chars[index].is_alphanumeric() {
            index += 1;
            continue;
        }
        let start = index;
        while index < chars.len() && chars[index].is_alphanumeric() {
            index += 1;
        }
        let word: String = chars[start..index]
            .iter()
            .collect::<String>()
            .to_lowercase();
        if terms.contains(&word) {
            return Some(start);
        }
    }
    None
}

fn next_space(chars: &[char], from: usize) -> Option<usize> {
    (from..chars.len())
        .find(|i| chars[*i].is_whitespace())
        .map(|i| i + 1)
}

fn previous_space(chars: &[char], before: usize) -> Option<usize> {
    (0..before).rev().find(|i| chars[*i].is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_chunks_are_shown_whole_and_long_ones_around_the_match() {
        assert_eq!(
            snippet("The cat is Miso.", &["cat".into()]),
            "The cat is Miso."
        );
        let text = format!(
            "{} Miso likes tuna. {}",
            "filler ".repeat(150),
            "more ".repeat(150)
        );
        let shown = snippet(&text, &["miso".into()]);
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert!(shown.contains("Miso likes tuna."), "{shown}");
        assert!(shown.chars().count() <= SNIPPET_CHARS + 2);
        assert!(
            !shown.contains("fil…") && !shown.contains("mor…"),
            "cut at spaces"
        );
        // Nothing matched: the start.
        let shown = snippet(&text, &["zebra".into()]);
        assert!(
            shown.starts_with("filler") && shown.ends_with('…'),
            "{shown}"
        );
    }
}
