//! `channels.bluebubbles`: iMessage through a BlueBubbles server on the user's Mac (OpenClaw's
//! keys): its webhook to the gateway's `/bluebubbles-webhook/<account>` in, its REST API out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DmPolicy, GroupPolicy, GroupRule, StringList, enabled_by_default, strings_or_numbers};
use crate::secret::Secret;

/// `channels.bluebubbles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BlueBubbles {
    /// Run the channel; a configured channel is on unless `enabled: false`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// The BlueBubbles server's URL (`http://mac.local:1234`, a Tailscale or ngrok URL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// The server password: sent with every API call, and what its webhook calls must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Who may message the Mac's Apple ID (default `pairing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Allowed senders: phone numbers in E.164 or Apple ID emails, or `*`.
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub allow_from: Vec<String>,
    /// Group chats: `allowlist` (default: only the chats listed), `open`, `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_policy: Option<GroupPolicy>,
    /// Who may address the bot in group chats (when set, even in chats not listed).
    #[serde(
        default,
        deserialize_with = "strings_or_numbers",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub group_allow_from: Vec<String>,
    /// Per-chat rules by chat guid (`iMessage;+;chat123…`), `"*"` for the rest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupRule>,
    /// Words that count as a mention in a group chat (case-insensitive; iMessage has no bot
    /// mentions, so a group chat that requires one needs these).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_patterns: Vec<String>,
    /// Longest reply message in characters (default 4,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_chunk_limit: Option<u32>,
    /// Largest inbound attachment handed to the agent, in MB (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_max_mb: Option<u32>,
    /// More servers, by account name; each inherits the settings above unless it sets its own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: BTreeMap<String, BlueBubblesAccount>,
}

/// `channels.bluebubbles.accounts.<name>`: one more BlueBubbles server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BlueBubblesAccount {
    /// Run this server (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Its URL.
    pub server_url: String,
    /// Its password.
    pub password: Secret,
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

impl BlueBubbles {
    /// Every server to use, by account name, each with its effective settings: the top-level one
    /// (`default`, when it has a `serverUrl`) and each enabled entry of `accounts`.
    #[must_use]
    pub fn resolved_accounts(&self) -> Vec<(String, BlueBubbles)> {
        let mut out = Vec::new();
        if self
            .server_url
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty())
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
            merged.server_url = Some(account.server_url.clone());
            merged.password = Some(account.password.clone());
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

    /// The server URL without a trailing slash (empty when unset).
    #[must_use]
    pub fn server_base(&self) -> String {
        self.server_url
            .as_deref()
            .unwrap_or_default()
            .trim()
            .trim_end_matches('/')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openclaw_keys_parse_and_accounts_bring_their_own_server() {
        let bb: BlueBubbles = serde_json::from_value(serde_json::json!({
            "serverUrl": "http://mac.local:1234/",
            "password": "pw",
            "dmPolicy": "allowlist",
            "allowFrom": ["+15551234567", "ana@example.com"],
            "accounts": {"studio": {"serverUrl": "http://studio:1234", "password": "pw2"}}
        }))
        .expect("bluebubbles");
        let accounts = bb.resolved_accounts();
        assert_eq!(accounts.len(), 2);
        assert_eq!(accounts[0].1.server_base(), "http://mac.local:1234");
        assert_eq!(
            accounts[1].1.password.as_ref().map(Secret::expose),
            Some("pw2")
        );
        assert_eq!(accounts[1].1.dm_policy(), DmPolicy::Allowlist, "inherited");
        assert!(
            serde_json::from_value::<BlueBubbles>(serde_json::json!({"serverURL": "x"})).is_err()
        );
    }
}
