//! Who may reach the agent, decided before anything else happens: DM policy (pairing, allowlist,
//! open, disabled), group policy and mention gating, and bots (ignored unless allowed).

use pincer_config::{DmPolicy, Telegram};

use super::update::Inbound;

/// What to do with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Hand it to the agent.
    Accept,
    /// An unknown sender under `dmPolicy: pairing`: answer with a pairing code, process nothing.
    Pair,
    /// Drop it, for this reason (logged at debug, never answered).
    Ignore(&'static str),
}

/// The access rules of one bot account.
#[derive(Clone, Debug)]
pub struct Policy {
    dm: DmPolicy,
    allow_from: Vec<String>,
    group_policy: String,
    group_allow_from: Vec<String>,
    groups: Vec<String>,
    require_mention: bool,
    /// `groups.<id>.requireMention` where a group sets it.
    group_require_mention: std::collections::BTreeMap<String, bool>,
    mention_patterns: Vec<String>,
    bot_username: String,
}

impl Policy {
    /// Rules from the config, for the bot called `bot_username`.
    pub fn new(config: &Telegram, bot_username: &str) -> Self {
        let mut dm = config.dm_policy();
        if dm == DmPolicy::Open && !config.allow_from.iter().any(|entry| entry == "*") {
            // `open` must be confirmed with allowFrom ["*"]; without it, fail closed.
            dm = DmPolicy::Allowlist;
        }
        Self {
            dm,
            allow_from: config.allow_from.iter().map(|s| normalise(s)).collect(),
            group_policy: config
                .group_policy
                .clone()
                .unwrap_or_else(|| "allowlist".to_owned()),
            group_allow_from: config
                .group_allow_from
                .iter()
                .map(|s| normalise(s))
                .collect(),
            groups: config.groups.keys().cloned().collect(),
            require_mention: config.require_mention.unwrap_or(true),
            group_require_mention: config
                .groups
                .iter()
                .filter_map(|(id, group)| {
                    Some((id.clone(), group.get("requireMention")?.as_bool()?))
                })
                .collect(),
            mention_patterns: config
                .mention_patterns
                .iter()
                .map(|p| p.to_lowercase())
                .collect(),
            bot_username: bot_username.trim_start_matches('@').to_lowercase(),
        }
    }

    /// Decides; `approved` says whether the sender completed pairing.
    pub fn decide(&self, message: &Inbound, approved: bool) -> Decision {
        let listed = |list: &[String]| matches(list, message);
        if message.from_bot && !listed(&self.allow_from) {
            return Decision::Ignore("sent by a bot");
        }
        if message.private {
            return match self.dm {
                DmPolicy::Disabled => Decision::Ignore("direct messages are disabled"),
                DmPolicy::Open => Decision::Accept,
                _ if listed(&self.allow_from) || approved => Decision::Accept,
                DmPolicy::Allowlist => Decision::Ignore("sender not in allowFrom"),
                DmPolicy::Pairing => Decision::Pair,
            };
        }
        match self.group_policy.as_str() {
            "disabled" => return Decision::Ignore("groups are disabled"),
            "open" => {}
            _ => {
                let chat = message.chat_id.to_string();
                let group_listed = self.groups.iter().any(|g| g == &chat || g == "*");
                // groupAllowFrom, when set, narrows who may speak even in a listed group.
                let sender_ok = if self.group_allow_from.is_empty() {
                    group_listed
                } else {
                    listed(&self.group_allow_from)
                };
                if !sender_ok {
                    return Decision::Ignore("group or sender not allowed (groupPolicy allowlist)");
                }
            }
        }
        let chat = message.chat_id.to_string();
        let require_mention = self
            .group_require_mention
            .get(&chat)
            .or_else(|| self.group_require_mention.get("*"))
            .copied()
            .unwrap_or(self.require_mention);
        if require_mention && !self.mentioned(message) {
            return Decision::Ignore("not addressed to the bot (requireMention)");
        }
        Decision::Accept
    }

    fn mentioned(&self, message: &Inbound) -> bool {
        let text = message.text.to_lowercase();
        message.reply_to_bot
            || message.mentions.contains(&self.bot_username)
            // Raw `@botname` text, including commands addressed as `/cmd@botname`.
            || contains_word(&text, &format!("@{}", self.bot_username))
            || self.mention_patterns.iter().any(|p| !p.is_empty() && contains_word(&text, p))
    }
}

/// Whether `needle` occurs in `haystack` as whole words (not inside a longer word).
fn contains_word(haystack: &str, needle: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    haystack.match_indices(needle).any(|(at, found)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + found.len()..].chars().next();
        before.is_none_or(|c| !is_word(c) || found.starts_with('@'))
            && after.is_none_or(|c| !is_word(c))
    })
}

/// `@Name` and `name` compare equal; ids stay as they are.
fn normalise(entry: &str) -> String {
    entry.trim().trim_start_matches('@').to_lowercase()
}

fn matches(list: &[String], message: &Inbound) -> bool {
    let id = message.sender_id.to_string();
    let username = message.username.as_deref().map(str::to_lowercase);
    list.iter()
        .any(|entry| entry == "*" || *entry == id || Some(entry) == username.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Telegram {
        serde_json::from_str(json).expect("telegram config")
    }

    fn dm(sender: i64, username: &str) -> Inbound {
        Inbound {
            update_id: 1,
            message_id: 1,
            chat_id: sender,
            private: true,
            sender_id: sender,
            username: Some(username.to_owned()),
            first_name: "T".into(),
            from_bot: false,
            text: "hi".into(),
            mentions: vec![],
            reply_to_bot: false,
            quoted: None,
            forwarded_from: None,
            media: None,
        }
    }

    fn group(text: &str, mentions: &[&str], reply_to_bot: bool) -> Inbound {
        Inbound {
            chat_id: -100,
            private: false,
            text: text.into(),
            mentions: mentions.iter().map(|m| (*m).to_owned()).collect(),
            reply_to_bot,
            ..dm(5, "sam")
        }
    }

    #[test]
    fn dm_policies() {
        let pairing = Policy::new(&config(r#"{"allowFrom": [1, "@Ana"]}"#), "bot");
        assert_eq!(pairing.decide(&dm(1, "x"), false), Decision::Accept);
        assert_eq!(pairing.decide(&dm(2, "ana"), false), Decision::Accept);
        assert_eq!(pairing.decide(&dm(3, "eve"), false), Decision::Pair);
        assert_eq!(pairing.decide(&dm(3, "eve"), true), Decision::Accept);
        let allowlist = Policy::new(
            &config(r#"{"dmPolicy": "allowlist", "allowFrom": [1]}"#),
            "bot",
        );
        assert!(matches!(
            allowlist.decide(&dm(3, "eve"), false),
            Decision::Ignore(_)
        ));
        assert_eq!(allowlist.decide(&dm(3, "eve"), true), Decision::Accept);
        let open = Policy::new(
            &config(r#"{"dmPolicy": "open", "allowFrom": ["*"]}"#),
            "bot",
        );
        assert_eq!(open.decide(&dm(3, "eve"), false), Decision::Accept);
        let disabled = Policy::new(
            &config(r#"{"dmPolicy": "disabled", "allowFrom": [1]}"#),
            "bot",
        );
        assert!(matches!(
            disabled.decide(&dm(1, "x"), false),
            Decision::Ignore(_)
        ));
        let mut bot = dm(9, "other_bot");
        bot.from_bot = true;
        assert_eq!(
            open.decide(&bot, false),
            Decision::Accept,
            "'*' allows bots too"
        );
        assert!(matches!(
            pairing.decide(&bot, false),
            Decision::Ignore("sent by a bot")
        ));
    }

    #[test]
    fn groups_need_a_listed_group_and_a_mention() {
        let policy = Policy::new(
            &config(r#"{"groups": {"-100": {}}, "mentionPatterns": ["hey pincer"]}"#),
            "Pincer_Bot",
        );
        assert!(matches!(
            policy.decide(&group("hello all", &[], false), false),
            Decision::Ignore(_)
        ));
        assert_eq!(
            policy.decide(&group("@pincer_bot hi", &["pincer_bot"], false), false),
            Decision::Accept
        );
        assert_eq!(
            policy.decide(&group("thanks", &[], true), false),
            Decision::Accept
        );
        assert_eq!(
            policy.decide(&group("Hey Pincer, what's up", &[], false), false),
            Decision::Accept
        );
        let unlisted = Policy::new(&config("{}"), "pincer_bot");
        assert!(matches!(
            unlisted.decide(&group("@pincer_bot hi", &["pincer_bot"], false), false),
            Decision::Ignore(_)
        ));
        let open = Policy::new(
            &config(r#"{"groupPolicy": "open", "requireMention": false}"#),
            "pincer_bot",
        );
        assert_eq!(
            open.decide(&group("anything", &[], false), false),
            Decision::Accept
        );
    }
}
