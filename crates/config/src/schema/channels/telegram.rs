//! `channels.telegram`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DmPolicy, StringList, enabled_by_default, strings_or_numbers};
use crate::secret::Secret;

/// `channels.telegram`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// Bot API root (default `https://api.telegram.org`); a local Bot API server or a test fake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_root: Option<String>,
    /// Senders (ids or @usernames) allowed to address the bot in groups (`groupPolicy: allowlist`).
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub group_allow_from: Vec<String>,
    /// Regexes-free mention words: a group message containing one (case-insensitive) counts as a
    /// mention of the bot, besides `@botname` and replies to the bot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_patterns: Vec<String>,
    /// More bots, by account name; each inherits the settings above unless it sets its own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: BTreeMap<String, TelegramAccount>,
}

/// `channels.telegram.accounts.<name>`: one more bot with its own token and, optionally, policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TelegramAccount {
    /// Run this bot (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Its Bot API token.
    pub bot_token: Secret,
    /// Overrides `dmPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Overrides `allowFrom` (when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<StringList>,
    /// Overrides `groupPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<String>,
    /// Overrides `groupAllowFrom` (when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_allow_from: Option<StringList>,
    /// Overrides `groups` (when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<BTreeMap<String, serde_json::Value>>,
    /// Overrides `requireMention`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
    /// This bot's public webhook URL (webhook mode); not inherited, a URL belongs to one bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    /// This bot's webhook secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<Secret>,
}

/// The account name of the top-level `botToken`.
pub const DEFAULT_TELEGRAM_ACCOUNT: &str = super::DEFAULT_ACCOUNT;

impl Telegram {
    /// Every bot to run, by account name, each with its effective settings: the top-level bot
    /// (`default`, when it has a token) and each enabled entry of `accounts`. `env_token`
    /// (`TELEGRAM_BOT_TOKEN`) stands in for a missing top-level `botToken`.
    #[must_use]
    pub fn resolved_accounts(&self, env_token: Option<&Secret>) -> Vec<(String, Telegram)> {
        let mut out = Vec::new();
        let top_token = self
            .bot_token
            .clone()
            .filter(|t| !t.is_empty())
            .or_else(|| env_token.cloned().filter(|t| !t.is_empty()));
        if let Some(token) = top_token {
            let mut base = self.clone();
            base.accounts.clear();
            base.bot_token = Some(token);
            out.push((DEFAULT_TELEGRAM_ACCOUNT.to_owned(), base));
        }
        for (name, account) in &self.accounts {
            if account.enabled == Some(false) {
                continue;
            }
            let mut merged = self.clone();
            merged.accounts.clear();
            merged.bot_token = Some(account.bot_token.clone());
            merged.dm_policy = account.dm_policy.or(self.dm_policy);
            if let Some(list) = &account.allow_from {
                merged.allow_from.clone_from(&list.0);
            }
            if let Some(policy) = &account.group_policy {
                merged.group_policy = Some(policy.clone());
            }
            if let Some(list) = &account.group_allow_from {
                merged.group_allow_from.clone_from(&list.0);
            }
            if let Some(groups) = &account.groups {
                merged.groups.clone_from(groups);
            }
            merged.require_mention = account.require_mention.or(self.require_mention);
            merged.webhook_url.clone_from(&account.webhook_url);
            merged.webhook_secret.clone_from(&account.webhook_secret);
            out.push((name.clone(), merged));
        }
        out
    }
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
            api_root: None,
            group_allow_from: Vec::new(),
            mention_patterns: Vec::new(),
            accounts: BTreeMap::new(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::channels::DmPolicy;

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
    fn accounts_inherit_and_override() {
        let t: Telegram = serde_json::from_str(
            r#"{"botToken": "1:a", "dmPolicy": "allowlist", "allowFrom": [7],
                "accounts": {"work": {"botToken": "2:b", "allowFrom": [8, "@x"]},
                             "off": {"botToken": "3:c", "enabled": false},
                             "family": {"botToken": "4:d", "dmPolicy": "pairing"}}}"#,
        )
        .expect("accounts");
        let accounts = t.resolved_accounts(None);
        let names: Vec<&str> = accounts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["default", "family", "work"]);
        assert_eq!(accounts[2].1.allow_from, ["8", "@x"]);
        assert_eq!(accounts[2].1.dm_policy(), DmPolicy::Allowlist);
        assert_eq!(accounts[1].1.dm_policy(), DmPolicy::Pairing);
        assert_eq!(accounts[1].1.allow_from, ["7"]);
        assert!(
            serde_json::from_str::<Telegram>(r#"{"accounts": {"x": {}}}"#).is_err(),
            "a token is required"
        );
        let env = Secret::new("9:z");
        let bare: Telegram = serde_json::from_str("{}").expect("bare");
        assert_eq!(bare.resolved_accounts(Some(&env)).len(), 1);
        assert!(bare.resolved_accounts(None).is_empty());
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
