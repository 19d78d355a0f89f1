//! Turns a serde error (with its key path) into [`Error::Invalid`]: "did you mean" suggestions
//! for unknown keys and values, and scrubbing of anything that could be a secret.

use crate::env::Substitution;
use crate::error::{Error, UNKNOWN_KEY};

/// Quoted values longer than this are not echoed in error messages (they may be tokens).
const MAX_ECHOED_CHARS: usize = 16;

/// Builds the [`Error::Invalid`] for a failed typed deserialization.
pub(crate) fn invalid(
    err: &serde_path_to_error::Error<serde_json::Error>,
    origin: &str,
    substitution: &Substitution,
) -> Error {
    let path = err.path().to_string();
    let raw = err.inner().to_string();
    let suggestion = suggest(&raw);
    let mut message = if raw.starts_with("unknown field `") {
        match (&suggestion, expected_list(&raw)) {
            (None, list) if !list.is_empty() => {
                format!("{UNKNOWN_KEY}; valid keys: {}", quote_all(&list))
            }
            _ => UNKNOWN_KEY.to_owned(),
        }
    } else {
        scrub(&raw, &substitution.sensitive)
    };
    if let Some((_, vars)) = substitution.unresolved.iter().find(|(p, _)| *p == path) {
        message.push_str(&format!(
            " (contains unresolved {}: not set in this environment)",
            vars.iter()
                .map(|v| format!("${{{v}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Error::Invalid {
        origin: origin.to_owned(),
        path,
        message,
        suggestion,
    }
}

fn quote_all(items: &[&str]) -> String {
    items
        .iter()
        .map(|item| format!("`{item}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The nearest valid key or value for an "unknown field/variant" or "invalid value" message
/// whose valid choices are listed as `` expected one of `a`, `b` ``.
pub(crate) fn suggest(message: &str) -> Option<String> {
    let word = offending_word(message)?;
    nearest(&word, &expected_list(message)).map(str::to_owned)
}

/// The key or value serde complained about.
fn offending_word(message: &str) -> Option<String> {
    for prefix in ["unknown field `", "unknown variant `"] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.split_once('`').map(|(word, _)| word.to_owned());
        }
    }
    let rest = message.strip_prefix("invalid value: string \"")?;
    rest.split_once('"').map(|(word, _)| word.to_owned())
}

/// The backquoted choices after "expected".
fn expected_list(message: &str) -> Vec<&str> {
    let Some((_, expected)) = message.split_once("expected ") else {
        return Vec::new();
    };
    expected.split('`').skip(1).step_by(2).collect()
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
fn nearest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let normalized = normalize(word);
    let limit = match normalized.chars().count() {
        0..=3 => 1,
        4..=6 => 2,
        _ => 3,
    };
    candidates
        .iter()
        .map(|candidate| {
            let distance = strsim::osa_distance(&normalized, &normalize(candidate));
            let similarity = strsim::jaro_winkler(word, candidate);
            (distance, similarity, *candidate)
        })
        .filter(|(distance, _, _)| *distance <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)))
        .map(|(_, _, candidate)| candidate)
}

/// Lowercase without `_`/`-`, so `api_key`, `apikey` and `API-KEY` all match `apiKey`.
fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Removes secrets from a serde message: every known sensitive value becomes `***`, and quoted
/// values longer than [`MAX_ECHOED_CHARS`] are replaced by their length.
pub(crate) fn scrub(message: &str, sensitive: &[String]) -> String {
    let mut out = message.to_owned();
    let mut sensitive: Vec<&String> = sensitive
        .iter()
        .filter(|s| s.chars().count() >= 3)
        .collect();
    sensitive.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for secret in sensitive {
        out = out.replace(secret.as_str(), crate::secret::REDACTED);
    }
    let out = hide_long(&out, "string \"", '"');
    hide_long(&out, "variant `", '`')
}

/// Replaces `<opener>value<closer>` by `<kind> (N characters, not shown)` when `value` is long.
fn hide_long(message: &str, opener: &str, closer: char) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find(opener) {
        let value_start = start + opener.len();
        let Some(len) = quoted_len(&rest[value_start..], closer) else {
            break;
        };
        let value = &rest[value_start..value_start + len];
        let chars = value.chars().count();
        if chars > MAX_ECHOED_CHARS {
            out.push_str(&rest[..start]);
            out.push_str(opener.trim_end_matches(['"', '`']));
            out.push_str(&format!("({chars} characters, not shown)"));
        } else {
            out.push_str(&rest[..value_start + len + closer.len_utf8()]);
        }
        rest = &rest[value_start + len + closer.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// Byte length of a quoted value up to its (unescaped) closing quote.
fn quoted_len(s: &str, closer: char) -> Option<usize> {
    let mut escaped = false;
    for (index, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if closer == '"' => escaped = true,
            c if c == closer => return Some(index),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_nearest_field() {
        let msg = "unknown field `mdoe`, expected one of `mode`, `token`, `password`, `rateLimit`";
        assert_eq!(suggest(msg).as_deref(), Some("mode"));
        let msg = "unknown field `auht`, expected one of `mode`, `port`, `bind`, `auth`";
        assert_eq!(suggest(msg).as_deref(), Some("auth"));
        let msg = "unknown field `api_key`, expected one of `baseUrl`, `apiKey`, `api`";
        assert_eq!(suggest(msg).as_deref(), Some("apiKey"));
        let msg = "unknown field `x`, expected `primary`";
        assert_eq!(suggest(msg), None);
        assert_eq!(suggest("unknown field `zzz`, there are no fields"), None);
    }

    #[test]
    fn suggests_nearest_value() {
        let msg =
            "unknown variant `tokne`, expected one of `none`, `token`, `password`, `trusted-proxy`";
        assert_eq!(suggest(msg).as_deref(), Some("token"));
        let msg = "invalid value: string \"lna\", expected one of `loopback`, `lan`, `tailnet`";
        assert_eq!(suggest(msg).as_deref(), Some("lan"));
        assert_eq!(suggest("invalid type: string \"abc\", expected u16"), None);
    }

    #[test]
    fn scrub_hides_sensitive_and_long_values() {
        let msg = "invalid type: string \"short\", expected u16";
        assert_eq!(scrub(msg, &[]), msg);
        let long = "0123456789abcdef0123456789abcdef";
        let msg = format!("invalid type: string \"{long}\", expected u16");
        let scrubbed = scrub(&msg, &[]);
        assert!(!scrubbed.contains(long), "{scrubbed}");
        assert_eq!(
            scrubbed,
            "invalid type: string (32 characters, not shown), expected u16"
        );
        let msg = format!("unknown variant `{long}`, expected `a`");
        assert!(!scrub(&msg, &[]).contains(long));
        let msg = "invalid value: string \"hunter2\", expected a bind";
        assert_eq!(
            scrub(msg, &["hunter2".to_owned()]),
            "invalid value: string \"***\", expected a bind"
        );
    }

    #[test]
    fn scrub_handles_escaped_quotes() {
        let msg = r#"invalid type: string "a\"b", expected u16"#;
        assert_eq!(scrub(msg, &[]), msg);
    }
}
