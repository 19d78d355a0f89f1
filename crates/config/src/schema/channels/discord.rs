//! `channels.discord`: bots on Discord's gateway (OpenClaw's keys).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    DmPolicy, GroupPolicy, LegacyDm, StringList, effective_allow_from, effective_dm_policy,
    enabled_by_default, strings_or_numbers,
};
use crate::secret::Secret;

/// Discord's REST API root; the gateway URL comes from `GET <root>/gateway/bot`.
pub const DEFAULT_DISCORD_API: &str = "https://discord.com/api/v10";

/// `channels.discord`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Discord {
    /// Run the channel; a configured channel is on unless `enabled: false`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The bot token (`DISCORD_BOT_TOKEN` stands in for the default account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    /// REST root (default [`DEFAULT_DISCORD_API`]); a test fake or a proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Who may DM the bot (default `pairing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Allowed DM senders: user ids (or `*` with `dmPolicy: open`).
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allow_from: Vec<String>,
    /// The legacy `dm` block (`dm.policy`, `dm.allowFrom`, `dm.enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm: Option<LegacyDm>,
    /// Guild channels: `allowlist` (default: only the guilds listed), `open`, `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<GroupPolicy>,
    /// Per-guild rules by guild id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub guilds: BTreeMap<String, DiscordGuild>,
    /// Words that count as a mention of the bot (case-insensitive), besides `<@botId>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_patterns: Vec<String>,
    /// Answer other bots' messages (default false: only bots `allowFrom` names by id, never
    /// through `"*"`; the bot's own never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_bots: Option<bool>,
    /// Longest reply message in characters (at most Discord's 2,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_chunk_limit: Option<u32>,
    /// Largest inbound attachment handed to the agent, in MB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_max_mb: Option<u32>,
    /// More bots, by account name; each inherits the settings above unless it sets its own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: BTreeMap<String, DiscordAccount>,
}

/// `channels.discord.guilds.<id>`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiscordGuild {
    /// A readable name (not used for matching).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Answer only when mentioned (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
    /// Only these users (ids) may address the bot here; anyone when empty.
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub users: Vec<String>,
    /// Members with one of these role ids may address the bot too (with `users`: either).
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub roles: Vec<String>,
    /// The channels the bot answers in; every channel when absent. Once given it is an
    /// allowlist (`"*"` keeps the rest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<GuildChannels>,
}

/// `guilds.<id>.channels`: a list of channel ids, or rules by channel id (`"*"` for the rest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum GuildChannels {
    /// Channel ids.
    List(StringList),
    /// Rules by channel id.
    Rules(BTreeMap<String, DiscordChannel>),
}

/// `guilds.<id>.channels.<id>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiscordChannel {
    /// `false`: never answer here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The legacy spelling of `enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<bool>,
    /// Overrides the guild's `requireMention`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
    /// Overrides the guild's `users`.
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub users: Vec<String>,
}

/// `channels.discord.accounts.<name>`: one more bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiscordAccount {
    /// Run this bot (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Its token.
    pub token: Secret,
    /// Overrides `apiBaseUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Overrides `dmPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Overrides `allowFrom` (when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<StringList>,
    /// Overrides `groupPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<GroupPolicy>,
    /// Overrides `guilds` (when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guilds: Option<BTreeMap<String, DiscordGuild>>,
    /// Overrides `allowBots`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_bots: Option<bool>,
}

impl Default for Discord {
    fn default() -> Self {
        Self {
            enabled: true,
            token: None,
            api_base_url: None,
            dm_policy: None,
            allow_from: Vec::new(),
            dm: None,
            group_policy: None,
            guilds: BTreeMap::new(),
            mention_patterns: Vec::new(),
            allow_bots: None,
            text_chunk_limit: None,
            media_max_mb: None,
            accounts: BTreeMap::new(),
        }
    }
}

impl Discord {
    /// Every bot to run, by account name, each with its effective settings: the top-level bot
    /// (`default`, when it has a token, `env_token` = `DISCORD_BOT_TOKEN` standing in for a
    /// missing one) and each enabled entry of `accounts`.
    #[must_use]
    pub fn resolved_accounts(&self, env_token: Option<&Secret>) -> Vec<(String, Discord)> {
        let mut out = Vec::new();
        let top_token = self
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .or_else(|| env_token.cloned().filter(|t| !t.is_empty()));
        if let Some(token) = top_token {
            let mut base = self.clone();
            base.accounts.clear();
            base.token = Some(token);
            out.push((super::DEFAULT_ACCOUNT.to_owned(), base));
        }
        for (name, account) in &self.accounts {
            if account.enabled == Some(false) {
                continue;
            }
            let mut merged = self.clone();
            merged.accounts.clear();
            merged.token = Some(account.token.clone());
            if let Some(url) = &account.api_base_url {
                merged.api_base_url = Some(url.clone());
            }
            merged.dm_policy = account.dm_policy.or(self.dm_policy);
            if let Some(list) = &account.allow_from {
                merged.allow_from.clone_from(&list.0);
            }
            merged.group_policy = account.group_policy.or(self.group_policy);
            if let Some(guilds) = &account.guilds {
                merged.guilds.clone_from(guilds);
            }
            merged.allow_bots = account.allow_bots.or(self.allow_bots);
            out.push((name.clone(), merged));
        }
        out
    }

    /// The DM policy: `dmPolicy`, else the legacy `dm.policy`, else `pairing`.
    #[must_use]
    pub fn dm_policy(&self) -> DmPolicy {
        effective_dm_policy(self.dm_policy, self.dm.as_ref())
    }

    /// The DM allowlist: `allowFrom`, else the legacy `dm.allowFrom`.
    #[must_use]
    pub fn allow_from(&self) -> Vec<String> {
        effective_allow_from(&self.allow_from, self.dm.as_ref())
    }

    /// The REST root without a trailing slash.
    #[must_use]
    pub fn api_base(&self) -> String {
        self.api_base_url
            .as_deref()
            .unwrap_or(DEFAULT_DISCORD_API)
            .trim_end_matches('/')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openclaw_keys_parse_and_accounts_inherit() {
        let discord: Discord = serde_json::from_value(serde_json::json!({
            "token": "main-token",
            "dmPolicy": "allowlist",
            "allowFrom": [123456789012345678_u64, "42"],
            "groupPolicy": "allowlist",
            "guilds": {
                "111": {"requireMention": false, "users": ["7"], "channels": ["222", "333"]},
                "444": {"channels": {"555": {"requireMention": true}, "*": {"allow": false}}}
            },
            "accounts": {"work": {"token": "work-token", "allowFrom": ["9"]},
                         "off": {"token": "x", "enabled": false}}
        }))
        .expect("discord");
        let accounts = discord.resolved_accounts(None);
        let names: Vec<_> = accounts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["default", "work"]);
        assert_eq!(discord.allow_from(), ["123456789012345678", "42"]);
        assert_eq!(accounts[1].1.allow_from(), ["9"]);
        assert_eq!(accounts[1].1.dm_policy(), DmPolicy::Allowlist);
        assert_eq!(accounts[1].1.guilds.len(), 2, "guilds are inherited");
        assert!(matches!(
            discord.guilds["111"].channels,
            Some(GuildChannels::List(_))
        ));
        assert!(matches!(
            discord.guilds["444"].channels,
            Some(GuildChannels::Rules(_))
        ));
        assert_eq!(discord.api_base(), DEFAULT_DISCORD_API);
    }

    #[test]
    fn the_env_token_stands_in_for_the_default_account_and_legacy_dm_keys_work() {
        let bare: Discord = serde_json::from_value(serde_json::json!({
            "dm": {"policy": "open", "allowFrom": ["*"]}
        }))
        .expect("discord");
        assert!(bare.resolved_accounts(None).is_empty());
        let env = Secret::new("env-token");
        assert_eq!(bare.resolved_accounts(Some(&env)).len(), 1);
        assert_eq!(bare.dm_policy(), DmPolicy::Open);
        assert_eq!(bare.allow_from(), ["*"]);
        let off: Discord =
            serde_json::from_value(serde_json::json!({"dm": {"enabled": false}})).expect("off");
        assert_eq!(off.dm_policy(), DmPolicy::Disabled);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = serde_json::from_value::<Discord>(serde_json::json!({"tokn": "x"}))
            .expect_err("unknown key");
        assert!(error.to_string().contains("tokn"), "{error}");
        assert!(
            serde_json::from_value::<Discord>(
                serde_json::json!({"guilds": {"1": {"requireMenton": true}}})
            )
            .is_err()
        );
    }
}
