//! Telegram's HTML parse mode.

use super::Dialect;

/// Telegram HTML.
pub(super) struct Html;

impl Dialect for Html {
    fn block(&self, lang: &str, code: &str) -> String {
        if lang.is_empty() {
            format!("<pre>{code}</pre>")
        } else {
            format!("<pre><code class=\"language-{lang}\">{code}</code></pre>")
        }
    }

    fn heading(&self, text: &str) -> String {
        format!("<b>{text}</b>")
    }

    fn quote(&self, text: &str) -> String {
        format!("<blockquote>{text}</blockquote>")
    }

    fn code(&self, code: &str) -> String {
        format!("<code>{code}</code>")
    }

    fn link(&self, url: &str, label: &str) -> String {
        format!("<a href=\"{}\">{label}</a>", url.replace('"', "&quot;"))
    }

    fn bold(&self, text: &str) -> String {
        format!("<b>{text}</b>")
    }

    fn italic(&self, text: &str) -> String {
        format!("<i>{text}</i>")
    }

    fn strike(&self, text: &str) -> String {
        format!("<s>{text}</s>")
    }
}
