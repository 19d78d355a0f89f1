//! The model's Markdown as Telegram HTML (the parse mode that needs the least escaping). Only
//! balanced constructs become tags; anything else stays literal text, escaped, so a stray `*` or
//! `_` never makes Telegram reject the message. If Telegram still rejects it, the sender falls back
//! to plain text.

/// Renders `markdown` to Telegram HTML.
pub fn to_html(markdown: &str) -> String {
    let mut out = String::new();
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            // Until the closing fence, or the end (a message cut inside a block is still code).
            let code: Vec<String> = lines
                .by_ref()
                .take_while(|inner| !inner.trim_start().starts_with("```"))
                .map(escape)
                .collect();
            let lang = lang.trim();
            let named = !lang.is_empty()
                && lang
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-');
            if named {
                out.push_str(&format!("<pre><code class=\"language-{lang}\">"));
            } else {
                out.push_str("<pre>");
            }
            out.push_str(&code.join("\n"));
            out.push_str(if named { "</code></pre>\n" } else { "</pre>\n" });
            continue;
        }
        let trimmed = line.trim_start();
        let rendered = if let Some(heading) = heading(trimmed) {
            format!("<b>{}</b>", inline(heading))
        } else if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            format!("• {}", inline(item))
        } else if let Some(quote) = trimmed
            .strip_prefix("> ")
            .or_else(|| (trimmed == ">").then_some(""))
        {
            format!("<blockquote>{}</blockquote>", inline(quote))
        } else {
            inline(line)
        };
        out.push_str(&rendered);
        out.push('\n');
    }
    out.trim_end().to_owned()
}

fn heading(line: &str) -> Option<&str> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    (1..=6)
        .contains(&hashes)
        .then(|| line[hashes..].strip_prefix(' '))
        .flatten()
}

/// `&`, `<`, `>` escaped.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Inline spans on one line: `code`, **bold**, __bold__, *italic*, _italic_, ~~strike~~, [text](url).
fn inline(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        if rest[0] == '`'
            && let Some(end) = find(rest, 1, &['`'])
        {
            out.push_str(&format!("<code>{}</code>", escape(&collect(&rest[1..end]))));
            i += end + 1;
            continue;
        }
        if rest[0] == '['
            && let Some(close) = find(rest, 1, &[']'])
            && rest.get(close + 1) == Some(&'(')
            && let Some(paren) = find(rest, close + 2, &[')'])
        {
            let url = collect(&rest[close + 2..paren]);
            if url.starts_with("http://") || url.starts_with("https://") || url.starts_with("tg://")
            {
                let label = inline(&collect(&rest[1..close]));
                out.push_str(&format!(
                    "<a href=\"{}\">{label}</a>",
                    escape(&url).replace('"', "&quot;")
                ));
                i += paren + 1;
                continue;
            }
        }
        let mut matched = false;
        for (marker, tag) in [
            ("**", "b"),
            ("__", "b"),
            ("~~", "s"),
            ("*", "i"),
            ("_", "i"),
        ] {
            let m: Vec<char> = marker.chars().collect();
            if !rest.starts_with(&m) {
                continue;
            }
            // `_` inside a word (snake_case) is not emphasis.
            if marker.starts_with('_') && i > 0 && chars[i - 1].is_alphanumeric() {
                continue;
            }
            let body_start = m.len();
            if rest.get(body_start).is_none_or(|c| c.is_whitespace()) {
                continue;
            }
            if let Some(end) = find(rest, body_start, &m)
                && end > body_start
                && !rest[end - 1].is_whitespace()
            {
                out.push_str(&format!(
                    "<{tag}>{}</{tag}>",
                    inline(&collect(&rest[body_start..end]))
                ));
                i += end + m.len();
                matched = true;
                break;
            }
        }
        if matched {
            continue;
        }
        out.push_str(&escape(&rest[0].to_string()));
        i += 1;
    }
    out
}

/// Index (into `chars`) of the first occurrence of `marker` at or after `from`.
fn find(chars: &[char], from: usize, marker: &[char]) -> Option<usize> {
    (from..chars.len()).find(|&at| chars[at..].starts_with(marker))
}

fn collect(chars: &[char]) -> String {
    chars.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_balanced_telegram_html() {
        assert_eq!(
            to_html("**Bold** and *it* and `a<b`"),
            "<b>Bold</b> and <i>it</i> and <code>a&lt;b</code>"
        );
        assert_eq!(
            to_html("# Title\n- one\n- two"),
            "<b>Title</b>\n• one\n• two"
        );
        assert_eq!(
            to_html("[site](https://x.org/?a=1&b=2)"),
            "<a href=\"https://x.org/?a=1&amp;b=2\">site</a>"
        );
        assert_eq!(
            to_html("```rust\nfn a() {}\n```"),
            "<pre><code class=\"language-rust\">fn a() {}</code></pre>"
        );
    }

    #[test]
    fn stray_markers_stay_literal() {
        assert_eq!(
            to_html("2 * 3 = 6 and snake_case_name"),
            "2 * 3 = 6 and snake_case_name"
        );
        assert_eq!(to_html("**unclosed"), "**unclosed");
        assert_eq!(to_html("a < b && c > d"), "a &lt; b &amp;&amp; c &gt; d");
        assert_eq!(
            to_html("[link](javascript:alert(1))"),
            "[link](javascript:alert(1))"
        );
    }
}
