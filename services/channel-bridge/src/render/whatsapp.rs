//! WhatsApp's formatting: `*bold*`, `_italic_`, `~strike~`, `` `code` ``, ```` ``` ```` blocks,
//! `> ` quotes. Nothing is escaped (WhatsApp shows `&` and `<` as written); links are their label
//! followed by the URL, which WhatsApp makes clickable.

use super::Dialect;

/// WhatsApp text.
pub(super) struct WhatsApp;

impl Dialect for WhatsApp {
    fn escape(&self, text: &str) -> String {
        text.to_owned()
    }

    fn block(&self, _lang: &str, code: &str) -> String {
        format!("```{code}```")
    }

    fn heading(&self, text: &str) -> String {
        format!("*{text}*")
    }

    fn quote(&self, text: &str) -> String {
        format!("> {text}")
    }

    fn code(&self, code: &str) -> String {
        format!("`{code}`")
    }

    fn link(&self, url: &str, label: &str) -> String {
        if label == url {
            url.to_owned()
        } else {
            format!("{label} ({url})")
        }
    }

    fn bold(&self, text: &str) -> String {
        format!("*{text}*")
    }

    fn italic(&self, text: &str) -> String {
        format!("_{text}_")
    }

    fn strike(&self, text: &str) -> String {
        format!("~{text}~")
    }
}

/// Plain text, for platforms without markup (Signal's and iMessage's messages as sent here):
/// emphasis marks dropped, links as label and URL.
pub(super) struct Plain;

impl Dialect for Plain {
    fn escape(&self, text: &str) -> String {
        text.to_owned()
    }

    fn block(&self, _lang: &str, code: &str) -> String {
        code.to_owned()
    }

    fn heading(&self, text: &str) -> String {
        text.to_owned()
    }

    fn quote(&self, text: &str) -> String {
        format!("> {text}")
    }

    fn code(&self, code: &str) -> String {
        code.to_owned()
    }

    fn link(&self, url: &str, label: &str) -> String {
        WhatsApp.link(url, label)
    }

    fn bold(&self, text: &str) -> String {
        text.to_owned()
    }

    fn italic(&self, text: &str) -> String {
        text.to_owned()
    }

    fn strike(&self, text: &str) -> String {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use crate::render::{to_plain, to_whatsapp};

    #[test]
    fn markdown_becomes_whatsapp_text() {
        assert_eq!(
            to_whatsapp("**Bold** and *it* and ~~gone~~ and `a<b` & c"),
            "*Bold* and _it_ and ~gone~ and `a<b` & c"
        );
        assert_eq!(to_whatsapp("# Title\n- one"), "*Title*\n• one");
        assert_eq!(
            to_whatsapp("[site](https://x.org/?a=1&b=2)"),
            "site (https://x.org/?a=1&b=2)"
        );
        assert_eq!(to_whatsapp("```\nlet a = 1;\n```"), "```let a = 1;```");
    }

    #[test]
    fn plain_text_drops_the_marks() {
        assert_eq!(to_plain("**Bold** and `x` & <y>"), "Bold and x & <y>");
        assert_eq!(to_plain("[a](https://a.org)"), "a (https://a.org)");
    }
}
