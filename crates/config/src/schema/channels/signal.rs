//! `channels.signal`: Signal numbers through a signal-cli daemon's HTTP interface (OpenClaw's
//! keys): events from its SSE stream, sends and typing through JSON-RPC.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DmPolicy, GroupPolicy, GroupRule, StringList, enabled_by_default, strings_or_numbers};

/// Where `signal-cli daemon --http` listens by default.
pub const DEFAULT_SIGNAL_HTTP_URL: &str = "http://127.0.0.1:8080";

/// `channels.signal`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Signal {
    /// Run the channel; a configured channel is on unless `enabled: false`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The daemon's HTTP root (default [`DEFAULT_SIGNAL_HTTP_URL`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_url: Option<String>,
    /// The Signal account (its number in E.164, `+15551234567`) registered in signal-cli.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Who may message the number (default `pairing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Allowed senders: numbers in E.164, Signal ACIs (`uuid:…` or the bare UUID), or `*`.
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allow_from: Vec<String>,
    /// Groups: `allowlist` (default: only the groups listed), `open`, `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<GroupPolicy>,
    /// Who may address the bot in groups (when set, even in groups not listed).
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub group_allow_from: Vec<String>,
    /// Per-group rules by group id (base64, as signal-cli shows it), `"*"` for the rest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupRule>,
    /// Words that count as a mention (case-insensitive), besides an @mention of the account
    /// and a reply quoting the bot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_patterns: Vec<String>,
    /// Longest reply message in characters (default 4,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_chunk_limit: Option<u32>,
    /// Largest inbound attachment handed to the agent, in MB (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_max_mb: Option<u32>,
    /// More numbers, by account name; each inherits the settings above unless it sets its own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: BTreeMap<String, SignalAccount>,
}

/// `channels.signal.accounts.<name>`: one more Signal number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignalAccount {
    /// Run this number (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Its number in E.164.
    pub account: String,
    /// Overrides `httpUrl` (a daemon of its own; one daemon may also serve several numbers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_url: Option<String>,
    /// Overrides `dmPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Overrides `allowFrom` (when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from: Option<StringList>,
    /// Overrides `groupPolicy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<GroupPolicy>,
    /// Overrides `groupAllowFrom` (when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_allow_from: Option<StringList>,
    /// Overrides `groups` (when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<BTreeMap<String, GroupRule>>,
}

impl Signal {
    /// Every number to run, by account name, each with its effective settings: the top-level one
    /// (`default`, when it names an `account`) and each enabled entry of `accounts`.
    #[must_use]
    pub fn resolved_accounts(&self) -> Vec<(String, Signal)> {
        let mut out = Vec::new();
        if self
            .account
            .as_deref()
            .is_some_and(|a| !a.trim().is_empty())
        {
            let mut base = self.clone();
            base.accounts.clear();
            out.push((super::DEFAULT_ACCOUNT.to_owned(), base));
        }
        for (name, account) in &self.accounts {
            if account.enabled == Some(false) {
                continue;
            }
            let mut merged = self.clone();
            merged.accounts.clear();
            merged.account = Some(account.account.clone());
            if let Some(url) = &account.http_url {
                merged.http_url = Some(url.clone());
            }
            merged.dm_policy = account.dm_policy.or(self.dm_policy);
            if let Some(list) = &account.allow_from {
                merged.allow_from.clone_from(&list.0);
            }
            merged.group_policy = account.group_policy.or(self.group_policy);
            if let Some(list) = &account.group_allow_from {
                merged.group_allow_from.clone_from(&list.0);
            }
            if let Some(groups) = &account.groups {
                merged.groups.clone_from(groups);
            }
            out.push((name.clone(), merged));
        }
        out
    }

    /// The DM policy, `pairing` unless set.
    #[must_use]
    pub fn dm_policy(&self) -> DmPolicy {
        self.dm_policy.unwrap_or(DmPolicy::Pairing)
    }

    /// The daemon's HTTP root without a trailing slash.
    #[must_use]
    pub fn http_base(&self) -> String {
        self.http_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or(DEFAULT_SIGNAL_HTTP_URL)
            .trim_end_matches('/')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openclaw_keys_parse_and_accounts_inherit() {
        let signal: Signal = serde_json::from_value(serde_json::json!({
            "httpUrl": "http://signal-cli:8080/",
            "account": "+15550001111",
            "allowFrom": ["+15552223333", "uuid:cb3c2bd0-5c34-4d3e-9f5e-2b7c8a1f0e11"],
            "groups": {"R3JvdXBJZA==": {"requireMention": false}},
            "accounts": {"alt": {"account": "+15550004444", "dmPolicy": "allowlist"}}
        }))
        .expect("signal");
        let accounts = signal.resolved_accounts();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].1.http_base(), "http://signal-cli:8080");
        assert_eq!(accounts[1].1.account.as_deref(), Some("+15550004444"));
        assert_eq!(
            accounts[1].1.http_base(),
            "http://signal-cli:8080",
            "inherited"
        );
        assert_eq!(accounts[1].1.dm_policy(), DmPolicy::Allowlist);
        assert_eq!(accounts[0].1.dm_policy(), DmPolicy::Pairing);
        assert!(serde_json::from_value::<Signal>(serde_json::json!({"httpURL": "x"})).is_err());
    }
}
