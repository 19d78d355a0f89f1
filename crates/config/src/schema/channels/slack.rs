//! `channels.slack`: Slack apps over Socket Mode or the HTTP Events API (OpenClaw's keys).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    DmPolicy, GroupPolicy, LegacyDm, StringList, effective_allow_from, effective_dm_policy,
    enabled_by_default, strings_or_numbers,
};
use crate::secret::Secret;

/// Slack's Web API root; the Socket Mode URL comes from `apps.connections.open` there.
pub const DEFAULT_SLACK_API: &str = "https://slack.com/api";

/// Where the gateway takes the Events API's calls when an account sets no `webhookPath`.
pub const DEFAULT_SLACK_WEBHOOK_PATH: &str = "/slack/events";

/// `channels.slack`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Slack {
    /// Run the channel; a configured channel is on unless `enabled: false`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// `socket` (default: no public URL needed) or `http` (the Events API through the gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SlackMode>,
    /// The bot token (`xoxb-`; `SLACK_BOT_TOKEN` stands in for the default account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<Secret>,
    /// The app-level token for Socket Mode (`xapp-`; `SLACK_APP_TOKEN` for the default account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_token: Option<Secret>,
    /// The signing secret that authenticates Events API calls (`mode: "http"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<Secret>,
    /// The gateway path of the Events API (default `/slack/events`; one per account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
    /// Web API root (default [`DEFAULT_SLACK_API`]); a test fake or a proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Who may DM the app (default `pairing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Allowed DM senders: user ids (`U…`), or `*` with `dmPolicy: open`.
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allow_from: Vec<String>,
    /// The legacy `dm` block (`dm.policy`, `dm.allowFrom`, `dm.enabled`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm: Option<LegacyDm>,
    /// Channels: `allowlist` (default: only the channels listed), `open`, `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<GroupPolicy>,
    /// Per-channel rules by channel id (`C…`), `"*"` for the rest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub channels: BTreeMap<String, SlackChannel>,
    /// Words that count as a mention of the app (case-insensitive), besides `<@botUserId>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_patterns: Vec<String>,
    /// Answer other bots' messages (default false: only bots `allowFrom` names by id, never
    /// through `"*"`; the app's own never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_bots: Option<bool>,
    /// Longest reply message in characters (default 4,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_chunk_limit: Option<u32>,
    /// Threading of replies: `off` (default: in a thread only when the message was in one),
    /// `first` or `all` (always in the thread of the message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_mode: Option<ReplyToMode>,
    /// More apps, by account name; each inherits the settings above unless it sets its own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: BTreeMap<String, SlackAccount>,
}

/// `channels.slack.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SlackMode {
    /// Socket Mode: the bridge opens a WebSocket to Slack.
    Socket,
    /// The Events API: Slack calls the gateway's `webhookPath`.
    Http,
}

/// `replyToMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplyToMode {
    /// Reply in a thread only when the message was in one.
    Off,
    /// Start a thread on the message (every chunk goes there).
    First,
    /// The same as `first` here: every reply in the message's thread.
    All,
}

/// `channels.slack.channels.<id>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlackChannel {
    /// `false`: never answer here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The legacy spelling of `enabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<bool>,
    /// Answer only when mentioned (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_mention: Option<bool>,
    /// Only these users may address the app here; anyone when empty.
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub users: Vec<String>,
}

/// `channels.slack.accounts.<name>`: one more app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SlackAccount {
    /// Run this app (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Overrides `mode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SlackMode>,
    /// Its bot token.
    pub bot_token: Secret,
    /// Its app-level token (Socket Mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_token: Option<Secret>,
    /// Its signing secret (HTTP mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<Secret>,
    /// Its Events API path on the gateway (HTTP mode; not inherited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
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
    /// Overrides `channels` (when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<BTreeMap<String, SlackChannel>>,
    /// Overrides `replyToMode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_mode: Option<ReplyToMode>,
    /// Overrides `allowBots`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_bots: Option<bool>,
}

impl Default for Slack {
    fn default() -> Self {
        Self {
            enabled: true,
            mode: None,
            bot_token: None,
            app_token: None,
            signing_secret: None,
            webhook_path: None,
            api_base_url: None,
            dm_policy: None,
            allow_from: Vec::new(),
            dm: None,
            group_policy: None,
            channels: BTreeMap::new(),
            mention_patterns: Vec::new(),
            allow_bots: None,
            text_chunk_limit: None,
            reply_to_mode: None,
            accounts: BTreeMap::new(),
        }
    }
}

/// The tokens the environment may give the default account (`SLACK_BOT_TOKEN`, `SLACK_APP_TOKEN`).
#[derive(Debug, Clone, Default)]
pub struct SlackEnvTokens {
    /// `SLACK_BOT_TOKEN`.
    pub bot: Option<Secret>,
    /// `SLACK_APP_TOKEN`.
    pub app: Option<Secret>,
}

impl Slack {
    /// Every app to run, by account name, each with its effective settings: the top-level app
    /// (`default`, when it has a bot token, the environment's standing in for missing ones) and
    /// each enabled entry of `accounts`.
    #[must_use]
    pub fn resolved_accounts(&self, env: &SlackEnvTokens) -> Vec<(String, Slack)> {
        let present = |secret: &Option<Secret>| secret.clone().filter(|t| !t.is_empty());
        let mut out = Vec::new();
        if let Some(bot) = present(&self.bot_token).or_else(|| present(&env.bot)) {
            let mut base = self.clone();
            base.accounts.clear();
            base.bot_token = Some(bot);
            base.app_token = present(&self.app_token).or_else(|| present(&env.app));
            out.push((super::DEFAULT_ACCOUNT.to_owned(), base));
        }
        for (name, account) in &self.accounts {
            if account.enabled == Some(false) {
                continue;
            }
            let mut merged = self.clone();
            merged.accounts.clear();
            merged.mode = account.mode.or(self.mode);
            merged.bot_token = Some(account.bot_token.clone());
            merged.app_token.clone_from(&account.app_token);
            merged.signing_secret = account
                .signing_secret
                .clone()
                .or_else(|| self.signing_secret.clone());
            merged.webhook_path.clone_from(&account.webhook_path);
            if let Some(url) = &account.api_base_url {
                merged.api_base_url = Some(url.clone());
            }
            merged.dm_policy = account.dm_policy.or(self.dm_policy);
            if let Some(list) = &account.allow_from {
                merged.allow_from.clone_from(&list.0);
            }
            merged.group_policy = account.group_policy.or(self.group_policy);
            if let Some(channels) = &account.channels {
                merged.channels.clone_from(channels);
            }
            merged.reply_to_mode = account.reply_to_mode.or(self.reply_to_mode);
            merged.allow_bots = account.allow_bots.or(self.allow_bots);
            out.push((name.clone(), merged));
        }
        out
    }

    /// `socket` unless set.
    #[must_use]
    pub fn mode(&self) -> SlackMode {
        self.mode.unwrap_or(SlackMode::Socket)
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

    /// The Web API root without a trailing slash.
    #[must_use]
    pub fn api_base(&self) -> String {
        self.api_base_url
            .as_deref()
            .unwrap_or(DEFAULT_SLACK_API)
            .trim_end_matches('/')
            .to_owned()
    }

    /// The gateway path of this account's Events API, `/slack/events` unless set.
    #[must_use]
    pub fn webhook_path(&self) -> String {
        let path = self
            .webhook_path
            .as_deref()
            .filter(|p| !p.trim().is_empty())
            .unwrap_or(DEFAULT_SLACK_WEBHOOK_PATH);
        format!("/{}", path.trim().trim_start_matches('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openclaw_keys_parse_and_accounts_inherit() {
        let slack: Slack = serde_json::from_value(serde_json::json!({
            "botToken": "xoxb-1",
            "appToken": "xapp-1",
            "dmPolicy": "pairing",
            "groupPolicy": "allowlist",
            "channels": {"C123": {"requireMention": false}, "*": {"enabled": false}},
            "replyToMode": "all",
            "accounts": {
                "ops": {"botToken": "xoxb-2", "mode": "http", "signingSecret": "s", "webhookPath": "/slack/ops"},
                "off": {"botToken": "xoxb-3", "enabled": false}
            }
        }))
        .expect("slack");
        let accounts = slack.resolved_accounts(&SlackEnvTokens::default());
        let names: Vec<_> = accounts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["default", "ops"]);
        assert_eq!(accounts[0].1.mode(), SlackMode::Socket);
        assert_eq!(accounts[1].1.mode(), SlackMode::Http);
        assert_eq!(accounts[1].1.webhook_path(), "/slack/ops");
        assert_eq!(accounts[0].1.webhook_path(), "/slack/events");
        assert!(accounts[1].1.app_token.is_none(), "app tokens are per app");
        assert_eq!(accounts[1].1.channels.len(), 2, "channels are inherited");
        assert_eq!(accounts[1].1.reply_to_mode, Some(ReplyToMode::All));
        assert_eq!(slack.api_base(), DEFAULT_SLACK_API);
    }

    #[test]
    fn the_environment_gives_the_default_app_its_tokens() {
        let bare: Slack = serde_json::from_value(serde_json::json!({})).expect("slack");
        let env = SlackEnvTokens {
            bot: Some(Secret::new("xoxb-env")),
            app: Some(Secret::new("xapp-env")),
        };
        let accounts = bare.resolved_accounts(&env);
        assert_eq!(accounts.len(), 1);
        assert_eq!(
            accounts[0].1.app_token.as_ref().map(Secret::expose),
            Some("xapp-env")
        );
        assert!(
            bare.resolved_accounts(&SlackEnvTokens::default())
                .is_empty()
        );
    }

    #[test]
    fn unknown_keys_and_modes_are_refused() {
        assert!(serde_json::from_value::<Slack>(serde_json::json!({"mode": "relay"})).is_err());
        assert!(serde_json::from_value::<Slack>(serde_json::json!({"botTokn": "x"})).is_err());
    }
}
