//! `channels`: messaging platforms. Each platform's block is OpenClaw's shape; what the platforms
//! share (DM policy, id lists) lives here.

mod bluebubbles;
mod discord;
mod signal;
mod slack;
mod telegram;
mod whatsapp;

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

pub use bluebubbles::{BlueBubbles, BlueBubblesAccount};
pub use discord::{
    DEFAULT_DISCORD_API, Discord, DiscordAccount, DiscordChannel, DiscordGuild, GuildChannels,
};
pub use signal::{DEFAULT_SIGNAL_HTTP_URL, Signal, SignalAccount};
pub use slack::{
    DEFAULT_SLACK_API, DEFAULT_SLACK_WEBHOOK_PATH, ReplyToMode, Slack, SlackAccount, SlackChannel,
    SlackEnvTokens, SlackMode,
};
pub use telegram::{DEFAULT_TELEGRAM_ACCOUNT, Telegram, TelegramAccount};
pub use whatsapp::{DEFAULT_WHATSAPP_API, WhatsApp, WhatsAppAccount, WhatsAppTransport};

/// The account name of a platform's top-level credentials.
pub const DEFAULT_ACCOUNT: &str = "default";

/// `channels`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Channels {
    /// The Telegram bot channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<Telegram>,
    /// Discord bots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discord: Option<Discord>,
    /// Slack apps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack: Option<Slack>,
    /// WhatsApp Business numbers (Cloud API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsApp>,
    /// Signal numbers through signal-cli.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<Signal>,
    /// iMessage through BlueBubbles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bluebubbles: Option<BlueBubbles>,
}

/// One group's rules (`groups.<id>`) on WhatsApp, Signal and iMessage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GroupRule {
    /// `false`: never answer here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Answer only when mentioned (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
    /// Only these senders may address the bot here; anyone when empty.
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub users: Vec<String>,
}

fn enabled_by_default() -> bool {
    true
}

/// A list of ids or @usernames (integers kept as their decimal text).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct StringList(#[serde(deserialize_with = "strings_or_numbers")] pub Vec<String>);

/// `dmPolicy`: who may start a direct conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DmPolicy {
    /// Unknown senders get a one-time code the owner approves.
    Pairing,
    /// Only senders in `allowFrom`.
    Allowlist,
    /// Anyone.
    Open,
    /// No DMs.
    Disabled,
}

/// Deserializes a list whose items are strings or integers into strings.
pub(crate) fn strings_or_numbers<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    struct ListVisitor;
    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of user ids or names")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<StringOrNumber>()? {
                out.push(item.0);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_seq(ListVisitor)
}

/// Deserializes an optional id written as a string or an integer into its text.
pub(crate) fn string_or_number<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(Option::<StringOrNumber>::deserialize(deserializer)?.map(|id| id.0))
}

/// A string, or an integer kept as its decimal text.
struct StringOrNumber(String);

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl Visitor<'_> for ItemVisitor {
            type Value = StringOrNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a user id (integer or string) or a @name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringOrNumber, E> {
                Ok(StringOrNumber(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StringOrNumber, E> {
                Ok(StringOrNumber(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StringOrNumber, E> {
                Ok(StringOrNumber(v.to_string()))
            }
        }
        deserializer.deserialize_any(ItemVisitor)
    }
}

/// `groupPolicy`: whether the bot answers in groups, guild channels and Slack channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupPolicy {
    /// Only the groups (guilds, channels) the config lists.
    Allowlist,
    /// Any group the bot is in.
    Open,
    /// Never in groups.
    Disabled,
}

/// The legacy `dm` block OpenClaw still reads: `dm.policy` and `dm.allowFrom` stand in for
/// `dmPolicy` and `allowFrom`; `dm.enabled: false` turns DMs off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LegacyDm {
    /// `false`: no DMs at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Old spelling of `dmPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<DmPolicy>,
    /// Old spelling of `allowFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<StringList>,
}

/// The DM policy of a block with `dmPolicy`, the legacy `dm` block and a default of `pairing`.
#[must_use]
pub fn effective_dm_policy(dm_policy: Option<DmPolicy>, dm: Option<&LegacyDm>) -> DmPolicy {
    if dm.and_then(|d| d.enabled) == Some(false) {
        return DmPolicy::Disabled;
    }
    dm_policy
        .or_else(|| dm.and_then(|d| d.policy))
        .unwrap_or(DmPolicy::Pairing)
}

/// `allowFrom`, or the legacy `dm.allowFrom` when `allowFrom` is empty.
#[must_use]
pub fn effective_allow_from(allow_from: &[String], dm: Option<&LegacyDm>) -> Vec<String> {
    if !allow_from.is_empty() {
        return allow_from.to_vec();
    }
    dm.and_then(|d| d.allow_from.as_ref())
        .map(|list| list.0.clone())
        .unwrap_or_default()
}
