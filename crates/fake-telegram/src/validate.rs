//! What Telegram checks before sending: length in UTF-16 code units after entity parsing, and
//! well-formed HTML or MarkdownV2. The error texts are Telegram's.

/// Longest message text, in UTF-16 code units, after entity parsing.
pub const MAX_TEXT_UTF16: usize = 4096;

/// Tags Telegram's HTML mode accepts.
const HTML_TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
];

/// Checks `text` under `parse_mode`; returns the visible text (entities removed) or Telegram's
/// error description.
pub fn check(text: &str, parse_mode: Option<&str>) -> Result<String, String> {
    let visible = match parse_mode {
        Some("HTML") => html(text)?,
        Some("MarkdownV2") => markdown_v2(text)?,
        Some(other) if !other.is_empty() => {
            return Err(format!("Bad Request: unsupported parse_mode {other}"));
        }
        _ => text.to_owned(),
    };
    if visible.trim().is_empty() {
        return Err("Bad Request: message text is empty".to_owned());
    }
    if visible.encode_utf16().count() > MAX_TEXT_UTF16 {
        return Err("Bad Request: message is too long".to_owned());
    }
    Ok(visible)
}

fn html(text: &str) -> Result<String, String> {
    let error = |what: &str, at: usize| {
        Err(format!(
            "Bad Request: can't parse entities: {what} at byte offset {at}"
        ))
    };
    let mut open: Vec<String> = Vec::new();
    let mut visible = String::new();
    let mut rest = text;
    let mut at = 0;
    while let Some(index) = rest.find(['<', '&']) {
        visible.push_str(&rest[..index]);
        at += index;
        rest = &rest[index..];
        if rest.starts_with('&') {
            let Some(end) = rest.find(';').filter(|end| *end <= 8) else {
                return error("unsupported start tag or entity", at);
            };
            let entity = &rest[..=end];
            match entity {
                "&lt;" => visible.push('<'),
                "&gt;" => visible.push('>'),
                "&amp;" => visible.push('&'),
                "&quot;" => visible.push('"'),
                _ if entity.starts_with("&#") => visible.push('?'),
                _ => return error("unsupported entity", at),
            }
            at += entity.len();
            rest = &rest[end + 1..];
            continue;
        }
        let Some(end) = rest.find('>') else {
            return error("unclosed start tag", at);
        };
        let tag = &rest[1..end];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(expected) if expected == name.trim() => {}
                _ => return error(&format!("unexpected end tag {name}"), at),
            }
        } else {
            let name = tag.split_whitespace().next().unwrap_or_default();
            if !HTML_TAGS.contains(&name) {
                return error(&format!("unsupported start tag \"{name}\""), at);
            }
            open.push(name.to_owned());
        }
        at += end + 1;
        rest = &rest[end + 1..];
    }
    visible.push_str(rest);
    if let Some(unclosed) = open.pop() {
        return error(
            &format!("can't find end tag corresponding to start tag {unclosed}"),
            text.len(),
        );
    }
    Ok(visible)
}

/// Characters that must be escaped outside entities in MarkdownV2.
const RESERVED: &str = "_*[]()~`>#+-=|{}.!\\";

fn markdown_v2(text: &str) -> Result<String, String> {
    let mut visible = String::new();
    let mut chars = text.chars().peekable();
    let mut in_code = false;
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some(escaped) => visible.push(escaped),
                None => return Err("Bad Request: can't parse entities: unfinished escape".into()),
            },
            '`' => in_code = !in_code,
            c if in_code => visible.push(c),
            '*' | '_' | '~' | '|' => {}
            c if RESERVED.contains(c) => {
                return Err(format!(
                    "Bad Request: can't parse entities: Character '{c}' is reserved and must be escaped with the preceding '\\'"
                ));
            }
            c => visible.push(c),
        }
    }
    if in_code {
        return Err("Bad Request: can't parse entities: unclosed code entity".into());
    }
    Ok(visible)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_checked_like_telegram() {
        assert_eq!(
            check("<b>hi</b> &amp; <a href=\"x\">y</a>", Some("HTML")).expect("ok"),
            "hi & y"
        );
        assert!(
            check("<b>hi", Some("HTML"))
                .expect_err("unclosed")
                .contains("can't parse entities")
        );
        assert!(check("a < b", Some("HTML")).is_err());
        assert!(check("<div>x</div>", Some("HTML")).is_err());
        assert!(check("<b>x</i>", Some("HTML")).is_err());
    }

    #[test]
    fn markdown_v2_needs_escapes() {
        assert!(check("Hello.", Some("MarkdownV2")).is_err());
        assert_eq!(
            check("Hello\\. *bold*", Some("MarkdownV2")).expect("ok"),
            "Hello. bold"
        );
        assert_eq!(check("`a.b`", Some("MarkdownV2")).expect("code"), "a.b");
    }

    #[test]
    fn length_counts_utf16_after_entities() {
        let emoji = "😀".repeat(2048);
        assert!(check(&emoji, None).is_ok());
        assert_eq!(
            check(&format!("{emoji}x"), None).expect_err("long"),
            "Bad Request: message is too long"
        );
        assert!(check(&format!("<b>{emoji}</b>"), Some("HTML")).is_ok());
        assert!(check("  ", None).is_err());
    }
}
