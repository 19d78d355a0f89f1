//! User text as an FTS5 query. FTS5 has its own query language (`AND`, `OR`, `NOT`, `NEAR(...)`,
//! `"phrases"`, `prefix*`, `-column` filters), and a question typed by a person or a model is not
//! written in it: a stray quote or `NEAR(` would be a syntax error, and `AND` an operator. So
//! every word becomes a quoted string, and the strings are joined with `OR`; BM25 then ranks
//! chunks that contain more (and rarer) of the words first. Common English function words
//! ("what", "the", "is") are left out unless the question has nothing else: with `OR` they
//! would match nearly every chunk.

/// Words used at most, so a pasted page cannot make a query of thousands of terms.
const MAX_TERMS: usize = 32;

/// Words that say nothing about what is searched for.
const STOPWORDS: &[&str] = &[
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by", "can",
    "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our",
    "she", "should", "so", "than", "that", "the", "their", "them", "then", "there", "these",
    "they", "this", "to", "too", "us", "was", "we", "were", "what", "when", "where", "which",
    "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// The lowercased words of `text` (letters and digits of any script) that carry meaning, first
/// occurrence order, without repeats; all of its words when none does.
pub fn terms(text: &str) -> Vec<String> {
    let words = words(text);
    let meaningful: Vec<String> = words
        .iter()
        .filter(|word| !STOPWORDS.contains(&word.as_str()))
        .cloned()
        .collect();
    if meaningful.is_empty() {
        words
    } else {
        meaningful
    }
}

fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        let word = word.to_lowercase();
        if !out.contains(&word) {
            out.push(word);
        }
        if out.len() == MAX_TERMS {
            break;
        }
    }
    out
}

/// The `MATCH` expression for `text`: `"w1" OR "w2" ...`; `None` when it has no word.
pub fn match_expression(text: &str) -> Option<String> {
    let terms = terms(text);
    if terms.is_empty() {
        return None;
    }
    let quoted: Vec<String> = terms
        .iter()
        // Words hold no quote today; doubling keeps the string closed if that ever changes.
        .map(|term| format!("\"{}\"", term.replace('"', "\"\"")))
        .collect();
    Some(quoted.join(" OR "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_and_punctuation_become_plain_words() {
        assert_eq!(
            match_expression(r#"cat AND "dog" NEAR(x -y* z)"#).as_deref(),
            Some(r#""cat" OR "dog" OR "near" OR "x" OR "y" OR "z""#)
        );
        assert_eq!(terms("What is the cat called?"), ["cat", "called"]);
        assert_eq!(
            terms("who am I"),
            ["who", "am", "i"],
            "nothing else to search for"
        );
        assert_eq!(match_expression("!!! *** --"), None);
        assert_eq!(terms("Café café CAFÉ über"), ["café", "über"]);
        assert_eq!(terms(&"w ".repeat(100)).len(), 1);
        let many: String = (0..100).map(|i| format!("w{i} ")).collect();
        assert_eq!(terms(&many).len(), MAX_TERMS);
    }
}
