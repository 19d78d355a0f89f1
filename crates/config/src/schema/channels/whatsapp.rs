//! `channels.whatsapp`: WhatsApp Business numbers over Meta's Cloud API (OpenClaw's policy keys;
//! the Cloud API's credentials). Inbound through the gateway's `/whatsapp-webhook/<account>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{DmPolicy, GroupPolicy, GroupRule, StringList, enabled_by_default, strings_or_numbers};
use crate::secret::Secret;

/// The Graph API root messages are sent through.
pub const DEFAULT_WHATSAPP_API: &str = "https://graph.facebook.com/v23.0";

/// `channels.whatsapp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WhatsApp {
    /// Run the channel; a configured channel is on unless `enabled: false`.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// `cloud`, Meta's official Cloud API (the only transport Pincer speaks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<WhatsAppTransport>,
    /// The Cloud API access token (a system user's token; `WHATSAPP_ACCESS_TOKEN` for the default
    /// account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    /// The business phone number's id (not the number itself).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::string_or_number"
    )]
    pub phone_number_id: Option<String>,
    /// What Meta echoes when it verifies the webhook (`hub.verify_token`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<Secret>,
    /// The app secret that signs webhook calls (`X-Hub-Signature-256`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<Secret>,
    /// Graph API root (default [`DEFAULT_WHATSAPP_API`]); a proxy or a test fake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base_url: Option<String>,
    /// Who may message the number (default `pairing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_policy: Option<DmPolicy>,
    /// Allowed senders: phone numbers in E.164 (`+15551234567`, or digits only), or `*`.
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
    /// Per-group rules by group id, `"*"` for the rest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, GroupRule>,
    /// Words that count as a mention (case-insensitive), besides `@<the business number>` and a
    /// reply to the bot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_patterns: Vec<String>,
    /// Longest reply message in characters (default and most 4,096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_chunk_limit: Option<u32>,
    /// Largest inbound media handed to the agent, in MB (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_max_mb: Option<u32>,
    /// More numbers, by account name; each inherits the settings above unless it sets its own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub accounts: BTreeMap<String, WhatsAppAccount>,
}

/// `channels.whatsapp.transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WhatsAppTransport {
    /// Meta's Cloud API: a webhook in, the Graph API out.
    Cloud,
}

/// `channels.whatsapp.accounts.<name>`: one more business number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WhatsAppAccount {
    /// Run this number (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Overrides `transport`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<WhatsAppTransport>,
    /// Overrides `accessToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<Secret>,
    /// Its phone number id (not inherited: a number belongs to one account).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::string_or_number"
    )]
    pub phone_number_id: Option<String>,
    /// Overrides `verifyToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_token: Option<Secret>,
    /// Overrides `appSecret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<Secret>,
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
    /// Overrides `groupAllowFrom` (when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_allow_from: Option<StringList>,
    /// Overrides `groups` (when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<BTreeMap<String, GroupRule>>,
}

impl WhatsApp {
    /// Every number to run, by account name, each with its effective settings: the top-level one
    /// (`default`, when it has a phone number id) and each enabled entry of `accounts`.
    #[must_use]
    pub fn resolved_accounts(&self) -> Vec<(String, WhatsApp)> {
        let mut out = Vec::new();
        if self
            .phone_number_id
            .as_deref()
            .is_some_and(|id| !id.trim().is_empty())
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
            merged.transport = account.transport.or(self.transport);
            merged.phone_number_id.clone_from(&account.phone_number_id);
            let or_top =
                |own: &Option<Secret>, top: &Option<Secret>| own.clone().or_else(|| top.clone());
            merged.access_token = or_top(&account.access_token, &self.access_token);
            merged.verify_token = or_top(&account.verify_token, &self.verify_token);
            merged.app_secret = or_top(&account.app_secret, &self.app_secret);
            if let Some(url) = &account.api_base_url {
                merged.api_base_url = Some(url.clone());
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

    /// The Graph API root without a trailing slash.
    #[must_use]
    pub fn api_base(&self) -> String {
        self.api_base_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or(DEFAULT_WHATSAPP_API)
            .trim_end_matches('/')
            .to_owned()
    }
}

impl Default for WhatsApp {
    fn default() -> Self {
        Self {
            enabled: true,
            transport: None,
            access_token: None,
            phone_number_id: None,
            verify_token: None,
            app_secret: None,
            api_base_url: None,
            dm_policy: None,
            allow_from: Vec::new(),
            group_policy: None,
            group_allow_from: Vec::new(),
            groups: BTreeMap::new(),
            mention_patterns: Vec::new(),
            text_chunk_limit: None,
            media_max_mb: None,
            accounts: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_keys_parse_and_accounts_inherit_what_they_do_not_set() {
        let whatsapp: WhatsApp = serde_json::from_value(serde_json::json!({
            "transport": "cloud",
            "accessToken": "EAAG-top",
            "phoneNumberId": 106540352242922_u64,
            "verifyToken": "v",
            "appSecret": "s",
            "allowFrom": ["+15551234567", 15557654321_u64],
            "groups": {"*": {"requireMention": true}},
            "accounts": {
                "shop": {"phoneNumberId": "2222", "accessToken": "EAAG-shop", "dmPolicy": "open", "allowFrom": ["*"]},
                "off": {"phoneNumberId": "3333", "enabled": false}
            }
        }))
        .expect("whatsapp");
        let accounts = whatsapp.resolved_accounts();
        let names: Vec<_> = accounts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["default", "shop"]);
        assert_eq!(
            accounts[0].1.phone_number_id.as_deref(),
            Some("106540352242922")
        );
        assert_eq!(accounts[0].1.allow_from, ["+15551234567", "15557654321"]);
        let shop = &accounts[1].1;
        assert_eq!(
            shop.access_token.as_ref().map(Secret::expose),
            Some("EAAG-shop")
        );
        assert_eq!(
            shop.app_secret.as_ref().map(Secret::expose),
            Some("s"),
            "inherited"
        );
        assert_eq!(shop.dm_policy(), DmPolicy::Open);
        assert_eq!(shop.groups.len(), 1);
        assert_eq!(whatsapp.api_base(), DEFAULT_WHATSAPP_API);
    }

    #[test]
    fn unknown_keys_and_transports_are_refused() {
        assert!(
            serde_json::from_value::<WhatsApp>(serde_json::json!({"transport": "web"})).is_err()
        );
        assert!(
            serde_json::from_value::<WhatsApp>(serde_json::json!({"acessToken": "x"})).is_err()
        );
    }
}
