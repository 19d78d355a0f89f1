//! HTML to readable text: the title, headings, paragraphs, list items and links of a page,
//! without its scripts, styles and markup. Tolerant of any input (garbage in, some text out).

/// Elements whose content is never text for a reader.
const SKIPPED: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "head", "iframe", "object", "canvas",
];
/// Elements that start a new line.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "tr",
    "table",
    "section",
    "article",
    "main",
    "header",
    "footer",
    "nav",
    "aside",
    "blockquote",
    "pre",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "dt",
    "dd",
    "dl",
    "form",
    "figure",
    "figcaption",
    "address",
    "details",
    "summary",
];

/// The page's `<title>`, if any.
#[must_use]
pub fn title(html: &str) -> Option<String> {
    let lower = html.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = start + lower[start..].find('>')? + 1;
    let end = open_end + lower[open_end..].find("</title")?;
    let text = collapse(&decode_entities(&html[open_end..end]));
    (!text.is_empty()).then_some(text)
}

/// The part worth reading: with `readability`, the first `<main>`, else the first `<article>`,
/// else the `<body>`; otherwise the whole document.
#[must_use]
pub fn main_part(html: &str, readability: bool) -> &str {
    let lower = html.to_ascii_lowercase();
    let candidates: &[&str] = if readability {
        &["main", "article", "body"]
    } else {
        &["body"]
    };
    for tag in candidates {
        if let Some(inner) = element_inner(html, &lower, tag) {
            return inner;
        }
    }
    html
}

/// The inside of the first `<tag ...>...</tag>` (or up to the end when it never closes).
fn element_inner<'a>(html: &'a str, lower: &str, tag: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(found) = lower[from..].find(&format!("<{tag}")) {
        let start = from + found;
        let after = lower.as_bytes().get(start + 1 + tag.len()).copied();
        if matches!(after, Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')) {
            let open_end = start + lower[start..].find('>')? + 1;
            let end = lower[open_end..]
                .find(&format!("</{tag}"))
                .map_or(html.len(), |end| open_end + end);
            return Some(&html[open_end..end]);
        }
        from = start + 1;
    }
    None
}

/// The text of `html`: blocks on their own lines, list items as `- `, headings as `#`, links as
/// `text (url)` when the URL is absolute, entities decoded, whitespace collapsed.
#[must_use]
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    let mut skipping: Option<String> = None;
    let mut pre = 0usize;
    let mut link: Option<String> = None;
    while !rest.is_empty() {
        let Some(open) = rest.find('<') else {
            push_text(&mut out, rest, pre > 0, skipping.is_some());
            break;
        };
        push_text(&mut out, &rest[..open], pre > 0, skipping.is_some());
        rest = &rest[open..];
        if rest.starts_with("<!--") {
            rest = rest.find("-->").map_or("", |end| &rest[end + 3..]);
            continue;
        }
        let Some(close) = rest.find('>') else {
            break;
        };
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if let Some(skipped) = &skipping {
            if closing && *skipped == name {
                skipping = None;
            }
            continue;
        }
        if !closing && SKIPPED.contains(&name.as_str()) && !tag.ends_with('/') {
            skipping = Some(name);
            continue;
        }
        match (closing, name.as_str()) {
            (false, "pre") => pre += 1,
            (true, "pre") => pre = pre.saturating_sub(1),
            (false, "a") => link = attribute(tag, "href").filter(|h| h.starts_with("http")),
            (true, "a") => {
                if let Some(href) = link.take()
                    && !out.trim_end().ends_with(href.as_str())
                {
                    out.push_str(&format!(" ({href})"));
                }
            }
            _ => {}
        }
        if BLOCKS.contains(&name.as_str()) {
            newline(&mut out);
            if !closing {
                match name.as_str() {
                    "li" => out.push_str("- "),
                    "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                        let level = usize::from(name.as_bytes()[1] - b'0');
                        out.push_str(&"#".repeat(level));
                        out.push(' ');
                    }
                    _ => {}
                }
            }
        }
    }
    tidy(&out)
}

/// Appends text content (decoded; whitespace collapsed outside `<pre>`).
fn push_text(out: &mut String, text: &str, preformatted: bool, skipping: bool) {
    if skipping || text.is_empty() {
        return;
    }
    let decoded = decode_entities(text);
    if preformatted {
        out.push_str(&decoded);
        return;
    }
    let collapsed = collapse(&decoded);
    if collapsed.is_empty() {
        if decoded.chars().next().is_some_and(char::is_whitespace)
            && !out.ends_with([' ', '\n'])
            && !out.is_empty()
        {
            out.push(' ');
        }
        return;
    }
    if decoded.starts_with(char::is_whitespace) && !out.ends_with([' ', '\n']) && !out.is_empty() {
        out.push(' ');
    }
    out.push_str(&collapsed);
    if decoded.ends_with(char::is_whitespace) {
        out.push(' ');
    }
}

fn newline(out: &mut String) {
    let trimmed = out.trim_end_matches(' ').len();
    out.truncate(trimmed);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

/// Lines trimmed, at most one empty line in a row.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_owned()
}

fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The value of attribute `name` in a tag's text (`a href="x" class=y`).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find(name) {
        let start = from + found;
        from = start + name.len();
        let before_ok = start == 0 || lower.as_bytes()[start - 1].is_ascii_whitespace();
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - rest.len() + 1;
        let value = tag[value_start..].trim_start();
        let parsed = match value.chars().next() {
            Some(quote @ ('"' | '\'')) => value[1..].split(quote).next().unwrap_or_default(),
            Some(_) => value.split_whitespace().next().unwrap_or_default(),
            None => "",
        };
        return Some(decode_entities(parsed));
    }
    None
}

/// `&amp;`, `&lt;`, `&#39;`, `&#x27;` and the other common entities.
#[must_use]
pub fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..].find(';').map(|i| i + 1).filter(|i| *i <= 10);
        let decoded = end.and_then(|end| entity(&rest[1..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse().ok()?,
        };
        return char::from_u32(code);
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "copy" => '©',
        "rsquo" => '’',
        "lsquo" => '‘',
        "rdquo" => '”',
        "ldquo" => '“',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html><head><title>The &amp; Page</title>
<style>body { color: red }</style><script>alert("no")</script></head>
<body><nav>menu</nav><main><h1>Hello</h1><p>First   para with <a href="https://ex.org/x">a link</a>.</p>
<!-- hidden --><ul><li>one</li><li>two &lt;b&gt;</li></ul><pre>  keep
  this</pre></main><footer>foot</footer></body></html>"#;

    #[test]
    fn a_page_becomes_readable_text() {
        assert_eq!(title(PAGE).as_deref(), Some("The & Page"));
        let text = to_text(main_part(PAGE, true));
        assert_eq!(
            text,
            "# Hello\nFirst para with a link (https://ex.org/x).\n- one\n- two <b>\n  keep\n  this"
        );
        let whole = to_text(main_part(PAGE, false));
        assert!(whole.contains("menu") && whole.contains("foot") && !whole.contains("alert"));
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            "<",
            "<<<>>>",
            "&#xZZ;",
            "&#99999999;",
            "<a href=",
            "<script>never closed",
            "text <b>bold",
            "é<é>é",
            "&",
            "<!-- open",
            "<h7>x</h7>",
            "<a href='https://x'>",
        ] {
            let _ = to_text(main_part(input, true));
            let _ = title(input);
        }
        assert_eq!(decode_entities("a &amp b &#65; &#x42;"), "a &amp b A B");
    }
}
