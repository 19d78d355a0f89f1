//! Slack's mrkdwn: `*bold*`, `_italic_`, `~strike~`, `` `code` ``, fenced blocks without a
//! language, `<url|label>` links, `>` quotes. Slack wants only `&`, `<` and `>` escaped, which also
//! keeps model output from writing `<!channel>` or `<@U…>` pings.

use super::Dialect;

/// Slack mrkdwn.
pub(super) struct Mrkdwn;

impl Dialect for Mrkdwn {
    fn block(&self, _lang: &str, code: &str) -> String {
        format!("```\n{code}\n```")
    }

    fn heading(&self, text: &str) -> String {
        format!("*{text}*")
    }

    fn quote(&self, text: &str) -> String {
        format!("&gt; {text}")
    }

    fn code(&self, code: &str) -> String {
        format!("`{code}`")
    }

    fn link(&self, url: &str, label: &str) -> String {
        // `|` and `>` would end the link early.
        let url = url.replace('|', "%7C");
        let label = label.replace('|', "¦");
        format!("<{url}|{label}>")
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

#[cfg(test)]
mod tests {
    use crate::render::to_mrkdwn;

    #[test]
    fn markdown_becomes_mrkdwn() {
        assert_eq!(
            to_mrkdwn("**Bold** and *it* and ~~gone~~ and `a<b`"),
            "*Bold* and _it_ and ~gone~ and `a&lt;b`"
        );
        assert_eq!(to_mrkdwn("# Title\n- one\n- two"), "*Title*\n• one\n• two");
        assert_eq!(
            to_mrkdwn("[site](https://x.org/?a=1&b=2)"),
            "<https://x.org/?a=1&amp;b=2|site>"
        );
        assert_eq!(
            to_mrkdwn("```rust\nlet a = b < c;\n```"),
            "```\nlet a = b &lt; c;\n```"
        );
        assert_eq!(to_mrkdwn("> quoted"), "&gt; quoted");
    }

    #[test]
    fn platform_markup_in_the_text_stays_literal() {
        assert_eq!(
            to_mrkdwn("<!channel> hi <@U123>"),
            "&lt;!channel&gt; hi &lt;@U123&gt;"
        );
        assert_eq!(to_mrkdwn("2 * 3 and snake_case"), "2 * 3 and snake_case");
    }
}
