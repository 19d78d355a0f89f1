//! Who may reach the agent, decided before anything else happens, the same way on every channel:
//! the DM policy (pairing, allowlist, open, disabled), the group policy with its listed groups
//! (Telegram groups, Discord guilds and their channels, Slack channels), per-group user lists and
//! mention gating, and other bots (ignored unless allowed).

use std::collections::BTreeMap;

use pincer_config::{Discord, DmPolicy, GroupPolicy, GroupRule, GuildChannels, Slack, Telegram};

use super::inbound::Inbound;

/// The access keys of a channel whose people have addresses (see [`Rules::addressed`]).
pub struct Addressed<'a> {
    /// `dmPolicy`.
    pub dm: DmPolicy,
    /// `allowFrom`.
    pub allow_from: &'a [String],
    /// `groupPolicy` (default `allowlist`).
    pub group_policy: Option<GroupPolicy>,
    /// `groupAllowFrom`.
    pub group_allow_from: &'a [String],
    /// `groups`.
    pub groups: &'a BTreeMap<String, GroupRule>,
    /// `mentionPatterns`.
    pub mention_patterns: &'a [String],
}

/// A person's address as the access rules compare it: a phone number as `+` and its digits
/// (spaces, dashes, dots and brackets dropped), a Signal ACI without its `uuid:` prefix, anything
/// else (an email, `*`) trimmed and lowercased. Adapters give senders' ids the same form.
pub fn address(entry: &str) -> String {
    let entry = entry.trim();
    let entry = entry.strip_prefix("uuid:").unwrap_or(entry);
    let phone_like = entry.starts_with('+') || entry.starts_with(|c: char| c.is_ascii_digit());
    if phone_like
        && entry.chars().any(|c| c.is_ascii_digit())
        && entry
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')'))
    {
        let digits: String = entry.chars().filter(char::is_ascii_digit).collect();
        return format!("+{digits}");
    }
    entry.to_lowercase()
}

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

/// The rules of one group: a Telegram group, a Discord guild, a Slack channel.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Space {
    /// `false`: never answer here.
    pub enabled: bool,
    /// Overrides the account's `requireMention`.
    pub require_mention: Option<bool>,
    /// Only these senders (ids or names) may address the bot here; anyone when both lists are empty.
    pub users: Vec<String>,
    /// Or senders with one of these roles.
    pub roles: Vec<String>,
    /// Inside a Discord guild: rules by channel id (`*` for the rest); once present, an allowlist.
    pub rooms: Option<BTreeMap<String, Space>>,
}

/// The access rules of one bot account.
#[derive(Clone, Debug)]
pub struct Rules {
    dm: DmPolicy,
    allow_from: Vec<String>,
    allow_bots: bool,
    group_policy: GroupPolicy,
    /// Telegram's `groupAllowFrom`: when set, who may speak in groups (listed or not).
    group_allow_from: Vec<String>,
    spaces: BTreeMap<String, Space>,
    require_mention: bool,
    mention_patterns: Vec<String>,
}

impl Rules {
    /// The rules of a Telegram bot.
    pub fn telegram(config: &Telegram) -> Self {
        let spaces = config
            .groups
            .iter()
            .map(|(id, group)| {
                let space = Space {
                    enabled: group.get("enabled").and_then(serde_json::Value::as_bool)
                        != Some(false),
                    require_mention: group
                        .get("requireMention")
                        .and_then(serde_json::Value::as_bool),
                    ..Space::default()
                };
                (id.clone(), space)
            })
            .collect();
        Self::new(
            config.dm_policy(),
            &config.allow_from,
            false,
            parse_group_policy(config.group_policy.as_deref()),
            &config.group_allow_from,
            spaces,
            config.require_mention.unwrap_or(true),
            &config.mention_patterns,
        )
    }

    /// The rules of a Discord bot: guilds by id, their channels inside.
    pub fn discord(config: &Discord) -> Self {
        let spaces = config
            .guilds
            .iter()
            .map(|(id, guild)| {
                let rooms = guild.channels.as_ref().map(|channels| match channels {
                    GuildChannels::List(ids) => ids
                        .0
                        .iter()
                        .map(|id| (id.clone(), enabled_space()))
                        .collect(),
                    GuildChannels::Rules(rules) => rules
                        .iter()
                        .map(|(id, rule)| {
                            let switch = (rule.enabled, rule.allow);
                            (
                                id.clone(),
                                channel_space(switch, rule.require_mention, &rule.users),
                            )
                        })
                        .collect(),
                });
                let space = Space {
                    enabled: true,
                    require_mention: guild.require_mention,
                    users: normalised(&guild.users),
                    roles: guild.roles.clone(),
                    rooms,
                };
                (id.clone(), space)
            })
            .collect();
        Self::gated(
            config.dm_policy(),
            &config.allow_from(),
            config.allow_bots,
            config.group_policy,
            spaces,
            &config.mention_patterns,
        )
    }

    /// The rules of a Slack app: channels by id.
    pub fn slack(config: &Slack) -> Self {
        let spaces = config
            .channels
            .iter()
            .map(|(id, rule)| {
                let switch = (rule.enabled, rule.allow);
                (
                    id.clone(),
                    channel_space(switch, rule.require_mention, &rule.users),
                )
            })
            .collect();
        Self::gated(
            config.dm_policy(),
            &config.allow_from(),
            config.allow_bots,
            config.group_policy,
            spaces,
            &config.mention_patterns,
        )
    }

    /// The rules of a channel whose people are addressed by phone number, email or account id and
    /// whose groups are listed by id (WhatsApp, Signal, iMessage): no bots, groups listed and
    /// mention-gated by default. Entries are compared as [`address`]es, so `+1 555-123-4567`
    /// in the config matches `15551234567` from the platform.
    pub fn addressed(access: &Addressed<'_>) -> Self {
        let addresses =
            |list: &[String]| list.iter().map(|entry| address(entry)).collect::<Vec<_>>();
        let spaces = access
            .groups
            .iter()
            .map(|(id, rule)| {
                let space = Space {
                    enabled: rule.enabled != Some(false),
                    require_mention: rule.require_mention,
                    users: addresses(&rule.users),
                    ..Space::default()
                };
                (id.clone(), space)
            })
            .collect();
        Self::new(
            access.dm,
            &addresses(access.allow_from),
            false,
            access.group_policy.unwrap_or(GroupPolicy::Allowlist),
            &addresses(access.group_allow_from),
            spaces,
            true,
            access.mention_patterns,
        )
    }

    /// Discord's and Slack's rules: bots off unless allowed, groups listed and mention-gated by
    /// default.
    fn gated(
        dm: DmPolicy,
        allow_from: &[String],
        allow_bots: Option<bool>,
        group_policy: Option<GroupPolicy>,
        spaces: BTreeMap<String, Space>,
        mention_patterns: &[String],
    ) -> Self {
        Self::new(
            dm,
            allow_from,
            allow_bots.unwrap_or(false),
            group_policy.unwrap_or(GroupPolicy::Allowlist),
            &[],
            spaces,
            true,
            mention_patterns,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        dm: DmPolicy,
        allow_from: &[String],
        allow_bots: bool,
        group_policy: GroupPolicy,
        group_allow_from: &[String],
        spaces: BTreeMap<String, Space>,
        require_mention: bool,
        mention_patterns: &[String],
    ) -> Self {
        let allow_from = normalised(allow_from);
        let dm = if dm == DmPolicy::Open && !allow_from.iter().any(|entry| entry == "*") {
            // `open` must be confirmed with allowFrom ["*"]; without it, fail closed.
            DmPolicy::Allowlist
        } else {
            dm
        };
        Self {
            dm,
            allow_from,
            allow_bots,
            group_policy,
            group_allow_from: normalised(group_allow_from),
            spaces,
            require_mention,
            mention_patterns: mention_patterns
                .iter()
                .map(|p| p.trim().to_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    /// Decides; `approved` says whether the sender completed pairing.
    pub fn decide(&self, message: &Inbound, approved: bool) -> Decision {
        let listed = |list: &[String]| matches(list, message);
        // A bot is answered when `allowBots` says so or `allowFrom` names it; the `"*"` that
        // opens direct messages to people does not let every bot in (two bots would answer each
        // other forever).
        if message.sender.bot && !self.allow_bots && !names(&self.allow_from, message) {
            return Decision::Ignore("sent by a bot");
        }
        if message.direct {
            return match self.dm {
                DmPolicy::Disabled => Decision::Ignore("direct messages are disabled"),
                DmPolicy::Open => Decision::Accept,
                _ if listed(&self.allow_from) || approved => Decision::Accept,
                DmPolicy::Allowlist => Decision::Ignore("sender not in allowFrom"),
                DmPolicy::Pairing => Decision::Pair,
            };
        }
        let space_id = message.space.as_deref().unwrap_or(&message.chat);
        let space = self.spaces.get(space_id);
        let fallback = self.spaces.get("*");
        match self.group_policy {
            GroupPolicy::Disabled => return Decision::Ignore("groups are disabled"),
            GroupPolicy::Open => {}
            GroupPolicy::Allowlist => {
                let group_listed = space.or(fallback).is_some();
                // groupAllowFrom, when set, decides who may speak even in an unlisted group.
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
        let space = space.or(fallback);
        if space.is_some_and(|s| !s.enabled) {
            return Decision::Ignore("the group is disabled (enabled: false)");
        }
        let room = match space.and_then(|s| s.rooms.as_ref()) {
            Some(rooms) => {
                let room = message
                    .room
                    .as_deref()
                    .and_then(|id| rooms.get(id))
                    .or_else(|| rooms.get("*"));
                match room {
                    Some(room) if room.enabled => Some(room),
                    Some(_) => return Decision::Ignore("the channel is disabled"),
                    None => return Decision::Ignore("channel not listed in the guild's channels"),
                }
            }
            None => None,
        };
        let users = room
            .filter(|r| !r.users.is_empty())
            .or(space)
            .map(|s| (&s.users, &s.roles));
        if let Some((users, roles)) = users
            && (!users.is_empty() || !roles.is_empty())
            && !listed(users)
            && !message.sender.roles.iter().any(|role| roles.contains(role))
        {
            return Decision::Ignore("sender not among the group's users");
        }
        let require_mention = room
            .and_then(|r| r.require_mention)
            .or_else(|| space.and_then(|s| s.require_mention))
            .or_else(|| fallback.and_then(|s| s.require_mention))
            .unwrap_or(self.require_mention);
        if require_mention && !self.mentioned(message) {
            return Decision::Ignore("not addressed to the bot (requireMention)");
        }
        Decision::Accept
    }

    fn mentioned(&self, message: &Inbound) -> bool {
        if message.mentioned {
            return true;
        }
        let text = message.text.to_lowercase();
        self.mention_patterns
            .iter()
            .any(|pattern| contains_word(&text, pattern))
    }
}

/// A Discord guild channel's or a Slack channel's rule: `enabled` (or the legacy `allow`),
/// `requireMention`, `users`.
fn channel_space(
    (enabled, allow): (Option<bool>, Option<bool>),
    require_mention: Option<bool>,
    users: &[String],
) -> Space {
    Space {
        enabled: enabled.or(allow) != Some(false),
        require_mention,
        users: normalised(users),
        ..Space::default()
    }
}

fn enabled_space() -> Space {
    Space {
        enabled: true,
        ..Space::default()
    }
}

/// `allowlist` unless the text says otherwise (Telegram keeps the policy as free text).
fn parse_group_policy(text: Option<&str>) -> GroupPolicy {
    match text {
        Some("open") => GroupPolicy::Open,
        Some("disabled") => GroupPolicy::Disabled,
        _ => GroupPolicy::Allowlist,
    }
}

/// Whether `needle` occurs in `haystack` as whole words (not inside a longer word).
pub fn contains_word(haystack: &str, needle: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    haystack.match_indices(needle).any(|(at, found)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + found.len()..].chars().next();
        before.is_none_or(|c| !is_word(c) || found.starts_with('@'))
            && after.is_none_or(|c| !is_word(c))
    })
}

/// `@Name` and `name` compare equal; ids stay as they are.
fn normalised(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|entry| entry.trim().trim_start_matches('@').to_lowercase())
        .collect()
}

fn matches(list: &[String], message: &Inbound) -> bool {
    list.iter().any(|entry| entry == "*") || names(list, message)
}

/// Whether `list` names the sender itself, by id or username (`"*"` names nobody).
fn names(list: &[String], message: &Inbound) -> bool {
    let id = message.sender.id.to_lowercase();
    let username = message.sender.username.as_deref().map(str::to_lowercase);
    list.iter()
        .any(|entry| *entry == id || Some(entry) == username.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::inbound::Sender;

    fn telegram(json: &str) -> Rules {
        Rules::telegram(&serde_json::from_str(json).expect("telegram config"))
    }

    fn discord(json: serde_json::Value) -> Rules {
        Rules::discord(&serde_json::from_value(json).expect("discord config"))
    }

    fn slack(json: serde_json::Value) -> Rules {
        Rules::slack(&serde_json::from_value(json).expect("slack config"))
    }

    fn dm(sender: &str, username: &str) -> Inbound {
        Inbound {
            id: "1".into(),
            message_id: "1".into(),
            chat: sender.into(),
            direct: true,
            sender: Sender {
                id: sender.into(),
                username: Some(username.into()),
                name: "T".into(),
                ..Sender::default()
            },
            text: "hi".into(),
            ..Inbound::default()
        }
    }

    fn group(space: &str, text: &str, mentioned: bool) -> Inbound {
        Inbound {
            chat: space.into(),
            direct: false,
            space: Some(space.into()),
            text: text.into(),
            mentioned,
            ..dm("5", "sam")
        }
    }

    fn guild(guild: &str, channel: &str, mentioned: bool) -> Inbound {
        Inbound {
            chat: channel.into(),
            room: Some(channel.into()),
            ..group(guild, "hello", mentioned)
        }
    }

    #[test]
    fn addresses_compare_phone_numbers_by_their_digits() {
        assert_eq!(address("+1 (555) 123-4567"), "+15551234567");
        assert_eq!(address("15551234567"), "+15551234567");
        assert_eq!(address("uuid:CB3C2BD0-5C34"), "cb3c2bd0-5c34");
        assert_eq!(address(" Ana@Example.com "), "ana@example.com");
        assert_eq!(address("*"), "*");
        let groups = BTreeMap::from([(
            "G1".to_owned(),
            GroupRule {
                require_mention: Some(false),
                ..GroupRule::default()
            },
        )]);
        let rules = Rules::addressed(&Addressed {
            dm: DmPolicy::Allowlist,
            allow_from: &["+1 555 000 1111".to_owned()],
            group_policy: None,
            group_allow_from: &[],
            groups: &groups,
            mention_patterns: &[],
        });
        let mut message = dm(&address("15550001111"), "x");
        assert_eq!(rules.decide(&message, false), Decision::Accept);
        message.sender.id = address("+15550002222");
        assert_eq!(
            rules.decide(&message, false),
            Decision::Ignore("sender not in allowFrom")
        );
        assert_eq!(
            rules.decide(&group("G1", "hi", false), false),
            Decision::Accept
        );
        assert!(matches!(
            rules.decide(&group("G2", "hi", true), false),
            Decision::Ignore(_)
        ));
    }

    #[test]
    fn dm_policies() {
        let pairing = telegram(r#"{"allowFrom": [1, "@Ana"]}"#);
        assert_eq!(pairing.decide(&dm("1", "x"), false), Decision::Accept);
        assert_eq!(pairing.decide(&dm("2", "ana"), false), Decision::Accept);
        assert_eq!(pairing.decide(&dm("3", "eve"), false), Decision::Pair);
        assert_eq!(pairing.decide(&dm("3", "eve"), true), Decision::Accept);
        let allowlist = telegram(r#"{"dmPolicy": "allowlist", "allowFrom": [1]}"#);
        assert!(matches!(
            allowlist.decide(&dm("3", "eve"), false),
            Decision::Ignore(_)
        ));
        assert_eq!(allowlist.decide(&dm("3", "eve"), true), Decision::Accept);
        let open = telegram(r#"{"dmPolicy": "open", "allowFrom": ["*"]}"#);
        assert_eq!(open.decide(&dm("3", "eve"), false), Decision::Accept);
        let unconfirmed = telegram(r#"{"dmPolicy": "open"}"#);
        assert!(
            matches!(
                unconfirmed.decide(&dm("3", "eve"), false),
                Decision::Ignore(_)
            ),
            "open without allowFrom [\"*\"] fails closed"
        );
        let disabled = telegram(r#"{"dmPolicy": "disabled", "allowFrom": [1]}"#);
        assert!(matches!(
            disabled.decide(&dm("1", "x"), false),
            Decision::Ignore(_)
        ));
        let mut bot = dm("9", "other_bot");
        bot.sender.bot = true;
        assert_eq!(
            open.decide(&bot, false),
            Decision::Ignore("sent by a bot"),
            "'*' opens direct messages to people, not to every bot"
        );
        assert_eq!(
            pairing.decide(&bot, false),
            Decision::Ignore("sent by a bot")
        );
    }

    #[test]
    fn telegram_groups_need_a_listed_group_and_a_mention() {
        let rules = telegram(r#"{"groups": {"-100": {}}, "mentionPatterns": ["hey pincer"]}"#);
        assert!(matches!(
            rules.decide(&group("-100", "hello all", false), false),
            Decision::Ignore(_)
        ));
        assert_eq!(
            rules.decide(&group("-100", "@bot hi", true), false),
            Decision::Accept
        );
        assert_eq!(
            rules.decide(&group("-100", "Hey Pincer, what's up", false), false),
            Decision::Accept
        );
        let unlisted = telegram("{}");
        assert!(matches!(
            unlisted.decide(&group("-100", "hi", true), false),
            Decision::Ignore(_)
        ));
        let open = telegram(r#"{"groupPolicy": "open", "requireMention": false}"#);
        assert_eq!(
            open.decide(&group("-100", "anything", false), false),
            Decision::Accept
        );
        let senders = telegram(r#"{"groupAllowFrom": ["@sam"], "requireMention": false}"#);
        assert_eq!(
            senders.decide(&group("-200", "hi", false), false),
            Decision::Accept,
            "groupAllowFrom admits its senders in any group"
        );
    }

    #[test]
    fn discord_guilds_gate_on_listed_channels_users_roles_and_mentions() {
        let rules = discord(serde_json::json!({
            "guilds": {
                "g1": {"channels": ["c1"], "users": ["42"]},
                "g2": {"requireMention": false, "roles": ["mods"],
                       "channels": {"c2": {}, "c3": {"enabled": false}, "*": {"requireMention": true}}},
            }
        }));
        let mut from_42 = guild("g1", "c1", true);
        from_42.sender.id = "42".into();
        assert_eq!(rules.decide(&from_42, false), Decision::Accept);
        assert!(
            matches!(
                rules.decide(&guild("g1", "c1", true), false),
                Decision::Ignore(_)
            ),
            "user 5 is not listed"
        );
        let mut unlisted_channel = from_42.clone();
        unlisted_channel.room = Some("c9".into());
        assert!(matches!(
            rules.decide(&unlisted_channel, false),
            Decision::Ignore(_)
        ));
        let mut moderator = guild("g2", "c2", false);
        moderator.sender.roles = vec!["mods".into()];
        assert_eq!(
            rules.decide(&moderator, false),
            Decision::Accept,
            "no mention needed in g2/c2"
        );
        moderator.room = Some("c3".into());
        assert!(
            matches!(rules.decide(&moderator, false), Decision::Ignore(_)),
            "c3 is disabled"
        );
        moderator.room = Some("c4".into());
        assert!(
            matches!(rules.decide(&moderator, false), Decision::Ignore(_)),
            "'*' requires a mention"
        );
        moderator.mentioned = true;
        assert_eq!(rules.decide(&moderator, false), Decision::Accept);
        assert!(
            matches!(
                rules.decide(&guild("g3", "c1", true), false),
                Decision::Ignore(_)
            ),
            "unlisted guild under the default allowlist"
        );
        let mut bot = from_42;
        bot.sender.bot = true;
        assert!(matches!(rules.decide(&bot, false), Decision::Ignore(_)));
        let bots = discord(serde_json::json!({"allowBots": true, "groupPolicy": "open"}));
        assert_eq!(bots.decide(&bot, false), Decision::Accept);
        // Open DMs (`allowFrom: ["*"]`) let people in, not every bot.
        let open = discord(
            serde_json::json!({"dmPolicy": "open", "allowFrom": ["*"], "groupPolicy": "open"}),
        );
        assert!(matches!(open.decide(&bot, false), Decision::Ignore(_)));
        bot.direct = true;
        assert!(matches!(open.decide(&bot, false), Decision::Ignore(_)));
        let named =
            discord(serde_json::json!({"allowFrom": [bot.sender.id], "groupPolicy": "open"}));
        assert_eq!(
            named.decide(&bot, false),
            Decision::Accept,
            "a bot named in allowFrom"
        );
    }

    #[test]
    fn slack_channels_are_mention_gated_by_default() {
        let rules = slack(serde_json::json!({
            "channels": {"C1": {}, "C2": {"requireMention": false}, "C3": {"allow": false}}
        }));
        assert!(matches!(
            rules.decide(&group("C1", "hi", false), false),
            Decision::Ignore(_)
        ));
        assert_eq!(
            rules.decide(&group("C1", "hi", true), false),
            Decision::Accept
        );
        assert_eq!(
            rules.decide(&group("C2", "hi", false), false),
            Decision::Accept
        );
        assert!(matches!(
            rules.decide(&group("C3", "hi", true), false),
            Decision::Ignore(_)
        ));
        assert!(matches!(
            rules.decide(&group("C4", "hi", true), false),
            Decision::Ignore(_)
        ));
        let disabled =
            slack(serde_json::json!({"groupPolicy": "disabled", "channels": {"C1": {}}}));
        assert!(matches!(
            disabled.decide(&group("C1", "hi", true), false),
            Decision::Ignore(_)
        ));
    }

    #[test]
    fn mention_words_match_whole_words_only() {
        assert!(contains_word("hey pincer!", "pincer"));
        assert!(!contains_word("pincers", "pincer"));
        assert!(contains_word("/start@pincer_bot", "@pincer_bot"));
    }
}
