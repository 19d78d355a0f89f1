//! A deterministic embedding that carries some meaning, for tests and benchmarks of memory
//! search without a model: a hashed bag of words over concepts. Each word is lowercased, common
//! function words are dropped, a plural `s` is cut, and words of one everyday synonym group
//! ("car", "automobile", "vehicle", "peugeot") count as one concept; each concept adds ±1 to
//! one of `dims` coordinates chosen by its hash, and the vector is scaled to unit length.
//!
//! So texts that say the same thing in different words come out close, as they would with a
//! real embedding model, while texts about different things stay near orthogonal. It knows
//! only the groups below: it is a stand-in that makes tests deterministic, not a model.

/// Vector length when the request asks for none.
pub const DEFAULT_DIMS: usize = 256;

/// Words that carry no meaning of their own here.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "anything",
    "are",
    "as",
    "at",
    "be",
    "been",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "for",
    "from",
    "go",
    "going",
    "had",
    "has",
    "have",
    "he",
    "her",
    "his",
    "how",
    "i",
    "in",
    "is",
    "it",
    "its",
    "me",
    "must",
    "my",
    "no",
    "not",
    "of",
    "on",
    "or",
    "our",
    "s",
    "she",
    "should",
    "so",
    "someone",
    "something",
    "that",
    "the",
    "their",
    "them",
    "there",
    "they",
    "this",
    "to",
    "us",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "who",
    "will",
    "with",
    "would",
    "you",
    "your",
];

/// Synonym groups; the first word names the concept.
const GROUPS: &[&[&str]] = &[
    &["car", "automobile", "vehicle", "peugeot", "renault", "auto"],
    &[
        "inspection",
        "contrôle",
        "controle",
        "technique",
        "mot",
        "checkup",
    ],
    &["doctor", "physician", "gp", "medic"],
    &["tooth", "teeth", "molar", "dentist", "dental"],
    &["broken", "cracked", "damaged", "fractured"],
    &[
        "medication",
        "medicine",
        "pill",
        "tablet",
        "drug",
        "sertraline",
        "mg",
        "dose",
    ],
    &["antibiotic", "penicillin", "amoxicillin"],
    &["allergy", "allergic", "hive", "reaction"],
    &["spouse", "partner", "husband", "wife"],
    &["wedding", "married", "marry", "marriage"],
    &["child", "kid", "daughter", "son", "children"],
    &["age", "old", "born", "birth"],
    &["mother", "mum", "mom", "mama"],
    &["friend", "mate", "buddy", "pal"],
    &["best", "closest", "dearest"],
    &["run", "ran", "jog", "jogging", "running", "jogged"],
    &["gift", "present", "giving"],
    &["birthday", "anniversary", "70th"],
    &["computer", "laptop", "thinkpad", "pc", "notebook"],
    &["holiday", "vacation", "getaway"],
    &["flight", "fly", "plane", "airline", "transavia"],
    &["leak", "drip", "dripping", "leaking"],
    &["sink", "basin", "washbasin"],
    &[
        "repair",
        "fix",
        "fixing",
        "repairing",
        "mend",
        "plumber",
        "technician",
        "maintain",
        "service",
    ],
    &["plant", "houseplant", "fig", "ficus"],
    &["coffee", "espresso", "latte", "caffeine"],
    &["vegetarian", "vegan", "meat", "carnivore"],
    &["writer", "author", "novelist"],
    &["love", "favourite", "favorite", "like"],
    &["call", "ring", "phone", "telephone"],
    &["message", "text", "sms", "written"],
    &["wifi", "wi", "fi", "wireless", "internet", "network"],
    &["heating", "boiler", "heater"],
    &[
        "job",
        "work",
        "career",
        "occupation",
        "profession",
        "engineer",
    ],
    &["sleep", "slept", "rest", "resting", "asleep"],
    &["night", "bed", "bedtime", "evening"],
    &["neighbour", "neighbor", "downstairs", "below"],
    &["complain", "complained", "grumble", "moan"],
    &["noise", "racket", "loud", "din"],
    &["promotion", "raise", "advancement", "title"],
    &["gym", "fitness", "workout"],
    &["quit", "cancel", "cancelled", "canceled", "stop", "stopped"],
    &["bicycle", "bike", "cycle"],
    &["buy", "bought", "purchase", "purchased", "get", "got"],
    &["school", "class", "classroom"],
    &["tax", "revenue", "fiscal", "income"],
    &["declaration", "return", "filing", "paperwork"],
    &["deadline", "due", "filed"],
    &["money", "euro", "cost", "price", "paid", "pay"],
    &["home", "flat", "apartment", "house"],
    &["glasses", "spectacles", "optician", "eye"],
    &["concert", "gig", "show"],
    &["cat", "kitten", "pet"],
    &["vet", "veterinary", "vaccine", "booster"],
    &["book", "novel"],
    &["recipe", "cook", "dish", "risotto"],
    &["meeting", "planning", "appointment"],
];

/// The unit embedding of `text` in `dims` coordinates (at least 1). A text without a meaningful
/// word gets a fixed vector of its own, never zeros.
pub fn embed(text: &str, dims: usize) -> Vec<f32> {
    let dims = dims.max(1);
    let mut values = vec![0.0f32; dims];
    let mut any = false;
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        let Some(concept) = concept(word) else {
            continue;
        };
        let hash = fnv1a(concept.as_bytes());
        let index = usize::try_from(hash % dims as u64).unwrap_or(0);
        let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
        values[index] += sign;
        any = true;
    }
    if !any {
        values[usize::try_from(fnv1a(b"<nothing>") % dims as u64).unwrap_or(0)] = 1.0;
    }
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    values.iter().map(|v| v / norm).collect()
}

/// The concept a word stands for: its group's name, or the word itself (plural cut).
fn concept(word: &str) -> Option<String> {
    let word = word.to_lowercase();
    if word.is_empty() || STOPWORDS.contains(&word.as_str()) {
        return None;
    }
    let singular = match word.strip_suffix('s') {
        Some(stem) if stem.chars().count() >= 3 && !stem.ends_with('s') => stem.to_owned(),
        _ => word.clone(),
    };
    for candidate in [&word, &singular] {
        if let Some(group) = GROUPS
            .iter()
            .find(|group| group.contains(&candidate.as_str()))
        {
            return Some(group[0].to_owned());
        }
    }
    Some(singular)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &str, b: &str) -> f32 {
        let (a, b) = (embed(a, DEFAULT_DIMS), embed(b, DEFAULT_DIMS));
        a.iter().zip(&b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn paraphrases_are_close_and_unrelated_texts_are_not() {
        let paraphrase = cosine(
            "What happened with the automobile inspection?",
            "The Peugeot failed its contrôle technique.",
        );
        let unrelated = cosine(
            "What happened with the automobile inspection?",
            "Léa started piano lessons on Wednesdays.",
        );
        assert!(paraphrase > 0.5, "{paraphrase}");
        assert!(unrelated.abs() < 0.2, "{unrelated}");
        assert!((cosine("cats", "cat") - 1.0).abs() < 1e-6, "plurals");
    }

    #[test]
    fn vectors_are_deterministic_unit_length_and_never_zero() {
        assert_eq!(embed("the same text", 64), embed("the same text", 64));
        for text in ["", "the of and", "Miso the cat"] {
            let v = embed(text, 32);
            let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-5, "{text:?}");
        }
        assert_eq!(embed("x", 0).len(), 1);
    }
}
