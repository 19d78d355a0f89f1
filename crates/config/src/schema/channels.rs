//! `channels`: messaging platforms (Telegram for now).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// `channels`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Channels {
    /// The Telegram bot channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<Telegram>,
}

/// `channels.telegram`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Telegram {
    /// Run the channel; as in OpenClaw, a configured channel is on unless `enabled: false`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Bot API token from BotFather.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<Secret>,
    /// Who may DM the bot (default pairing, see [`Telegram::dm_policy`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Allowed senders: numeric Telegram ids or `@username`s, kept as strings.
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allow_from: Vec<String>,
    /// Group policy (`allowlist`, `open`, `disabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<String>,
    /// Per-group settings by chat id (kept loosely typed).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, serde_json::Value>,
    /// Only answer in groups when mentioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
    /// Split outgoing text into chunks of at most this many characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_chunk_limit: Option<u32>,
    /// Stream replies by editing a draft message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streaming: Option<bool>,
    /// Public webhook URL (long polling when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// Secret Telegram sends with every webhook call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<Secret>,
    /// Largest inbound media accepted, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_max_mb: Option<u32>,
}

fn enabled_by_default() -> bool {
    true
}

impl Default for Telegram {
    fn default() -> Self {
        Self {
            enabled: true,
            bot_token: None,
            dm_policy: None,
            allow_from: Vec::new(),
            group_policy: None,
            groups: BTreeMap::new(),
            require_mention: None,
            text_chunk_limit: None,
            streaming: None,
            webhook_url: None,
            webhook_secret: None,
            media_max_mb: None,
        }
    }
}

impl Telegram {
    /// The DM policy, `pairing` when unset (OpenClaw's default).
    #[must_use]
    pub fn dm_policy(&self) -> DmPolicy {
        self.dm_policy.unwrap_or(DmPolicy::Pairing)
    }
}

/// `dmPolicy`: who may start a direct conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
fn strings_or_numbers<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct ListVisitor;
    impl<'de> Visitor<'de> for ListVisitor {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of Telegram user ids or @usernames")
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

/// A string, or an integer kept as its decimal text.
struct StringOrNumber(String);

impl<'de> Deserialize<'de> for StringOrNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl Visitor<'_> for ItemVisitor {
            type Value = StringOrNumber;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Telegram user id (integer) or an @username (string)")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enabled_by_default_with_pairing() {
        let t: Telegram = serde_json::from_str("{}").expect("empty telegram");
        assert!(t.enabled);
        assert_eq!(t.dm_policy(), DmPolicy::Pairing);
        assert_eq!(t, Telegram::default());
        let t: Telegram = serde_json::from_str(r#"{"enabled": false}"#).expect("disabled");
        assert!(!t.enabled);
    }

    #[test]
    fn allow_from_mixes_ids_and_usernames() {
        let t: Telegram =
            serde_json::from_str(r#"{"allowFrom": [123456789, "@alice", -1001234567890, "*"]}"#)
                .expect("mixed list");
        assert_eq!(t.allow_from, ["123456789", "@alice", "-1001234567890", "*"]);
        let err = serde_json::from_str::<Telegram>(r#"{"allowFrom": [1.5]}"#).expect_err("float");
        assert!(err.to_string().contains("user id"), "{err}");
    }

    #[test]
    fn dm_policy_values() {
        for (text, policy) in [
            ("pairing", DmPolicy::Pairing),
            ("allowlist", DmPolicy::Allowlist),
            ("open", DmPolicy::Open),
            ("disabled", DmPolicy::Disabled),
        ] {
            let t: Telegram =
                serde_json::from_str(&format!(r#"{{"dmPolicy": "{text}"}}"#)).expect("policy");
            assert_eq!(t.dm_policy(), policy);
        }
    }
}
