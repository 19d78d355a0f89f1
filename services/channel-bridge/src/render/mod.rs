//! The model's Markdown in a platform's own markup: Telegram HTML ([`to_html`], the parse mode
//! that needs the least escaping) and Slack mrkdwn ([`to_mrkdwn`]). One walker reads the Markdown;
//! a [`Dialect`] says how each construct is written. WhatsApp's own marks ([`to_whatsapp`]) and
//! plain text ([`to_plain`]) for platforms without markup. Only balanced constructs become markup;
//! anything else stays literal text, escaped, so a stray `*` or `_` never breaks a message (and
//! model output cannot inject platform markup such as Slack's `<!channel>`).

mod html;
mod mrkdwn;
mod whatsapp;

/// How one platform writes each construct. Text handed to it is already escaped.
trait Dialect {
    /// `&`, `<`, `>` (and whatever else the platform needs) escaped.
    fn escape(&self, text: &str) -> String {
        escape(text)
    }
    /// A fenced code block; `lang` is a plain language name or empty.
    fn block(&self, lang: &str, code: &str) -> String;
    /// A heading line.
    fn heading(&self, text: &str) -> String;
    /// A list item.
    fn bullet(&self, text: &str) -> String {
        format!("• {text}")
    }
    /// A quoted line.
    fn quote(&self, text: &str) -> String;
    /// Inline code.
    fn code(&self, code: &str) -> String;
    /// A link to an `http(s)` URL (escaped) with its label.
    fn link(&self, url: &str, label: &str) -> String;
    /// Strong emphasis.
    fn bold(&self, text: &str) -> String;
    /// Emphasis.
    fn italic(&self, text: &str) -> String;
    /// Strikethrough.
    fn strike(&self, text: &str) -> String;
}

/// Renders `markdown` to Telegram HTML.
pub fn to_html(markdown: &str) -> String {
    render(&html::Html, markdown)
}

/// Renders `markdown` to Slack mrkdwn.
pub fn to_mrkdwn(markdown: &str) -> String {
    render(&mrkdwn::Mrkdwn, markdown)
}

/// Renders `markdown` as WhatsApp text.
pub fn to_whatsapp(markdown: &str) -> String {
    render(&whatsapp::WhatsApp, markdown)
}

/// Renders `markdown` as plain text (Signal, iMessage).
pub fn to_plain(markdown: &str) -> String {
    render(&whatsapp::Plain, markdown)
}

fn render(dialect: &impl Dialect, markdown: &str) -> String {
    let mut out = String::new();
    let mut lines = markdown.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            // Until the closing fence, or the end (a message cut inside a block is still code).
            let code: Vec<String> = lines
                .by_ref()
                .take_while(|inner| !inner.trim_start().starts_with("```"))
                .map(|inner| dialect.escape(inner))
                .collect();
            let lang = lang.trim();
            let named = !lang.is_empty()
                && lang
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-');
            out.push_str(&dialect.block(if named { lang } else { "" }, &code.join("\n")));
            out.push('\n');
            continue;
        }
        let trimmed = line.trim_start();
        let rendered = if let Some(heading) = heading(trimmed) {
            dialect.heading(&inline(dialect, heading))
        } else if let Some(item) = trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            dialect.bullet(&inline(dialect, item))
        } else if let Some(quote) = trimmed
            .strip_prefix("> ")
            .or_else(|| (trimmed == ">").then_some(""))
        {
            dialect.quote(&inline(dialect, quote))
        } else {
            inline(dialect, line)
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
fn inline(dialect: &impl Dialect, line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        if rest[0] == '`'
            && let Some(end) = find(rest, 1, &['`'])
        {
            out.push_str(&dialect.code(&dialect.escape(&collect(&rest[1..end]))));
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
                let label = inline(dialect, &collect(&rest[1..close]));
                out.push_str(&dialect.link(&dialect.escape(&url), &label));
                i += paren + 1;
                continue;
            }
        }
        let mut matched = false;
        for (marker, style) in [
            ("**", Style::Bold),
            ("__", Style::Bold),
            ("~~", Style::Strike),
            ("*", Style::Italic),
            ("_", Style::Italic),
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
                let body = inline(dialect, &collect(&rest[body_start..end]));
                out.push_str(&match style {
                    Style::Bold => dialect.bold(&body),
                    Style::Italic => dialect.italic(&body),
                    Style::Strike => dialect.strike(&body),
                });
                i += end + m.len();
                matched = true;
                break;
            }
        }
        if matched {
            continue;
        }
        out.push_str(&dialect.escape(&rest[0].to_string()));
        i += 1;
    }
    out
}

#[derive(Clone, Copy)]
enum Style {
    Bold,
    Italic,
    Strike,
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
