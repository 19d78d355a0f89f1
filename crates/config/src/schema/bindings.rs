//! `bindings`: route a channel, account or peer to an agent (OpenClaw's shape).

use serde::{Deserialize, Serialize};

/// One routing rule; the first that matches wins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Binding {
    /// The agent that answers.
    pub agent_id: String,
    /// What the rule matches.
    #[serde(rename = "match")]
    pub matches: BindingMatch,
}

/// `bindings[].match`: every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BindingMatch {
    /// `telegram`, ...
    pub channel: String,
    /// The channel account (bot); any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// A chat; any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Peer>,
}

/// `match.peer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Peer {
    /// `direct` (a private chat, id = the sender), `group` or `channel` (id = the chat).
    pub kind: PeerKind,
    /// The id, as text.
    pub id: String,
}

/// `match.peer.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PeerKind {
    /// A private chat.
    Direct,
    /// A group or supergroup.
    Group,
    /// A channel (a Discord guild channel or a Slack channel); the same as `group` for matching.
    Channel,
}

impl PeerKind {
    /// Whether a rule's kind covers a message's: `group` and `channel` name the same thing,
    /// a conversation with more than the bot and one person.
    #[must_use]
    pub fn covers(self, other: PeerKind) -> bool {
        (self == PeerKind::Direct) == (other == PeerKind::Direct)
    }
}

/// The agent for a message on `channel`/`account` from `peer`, if a binding names one.
#[must_use]
pub fn route<'a>(
    bindings: &'a [Binding],
    channel: &str,
    account: &str,
    peer: (PeerKind, &str),
) -> Option<&'a str> {
    bindings
        .iter()
        .find(|binding| {
            let m = &binding.matches;
            m.channel == channel
                && m.account_id.as_deref().is_none_or(|a| a == account)
                && m.peer
                    .as_ref()
                    .is_none_or(|p| p.kind.covers(peer.0) && p.id == peer.1)
        })
        .map(|binding| binding.agent_id.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_binding_wins() {
        let bindings: Vec<Binding> = serde_json::from_str(
            r#"[{"agentId": "family", "match": {"channel": "telegram", "peer": {"kind": "group", "id": "-100"}}},
                {"agentId": "work", "match": {"channel": "telegram", "accountId": "work"}},
                {"agentId": "home", "match": {"channel": "telegram"}}]"#,
        )
        .expect("bindings");
        assert_eq!(
            route(&bindings, "telegram", "default", (PeerKind::Group, "-100")),
            Some("family")
        );
        assert_eq!(
            route(&bindings, "telegram", "work", (PeerKind::Direct, "5")),
            Some("work")
        );
        assert_eq!(
            route(&bindings, "telegram", "default", (PeerKind::Direct, "5")),
            Some("home")
        );
        assert_eq!(
            route(&bindings, "slack", "default", (PeerKind::Direct, "5")),
            None
        );
        assert!(
            serde_json::from_str::<Vec<Binding>>(r#"[{"agentId": "x", "match": {"chanel": "t"}}]"#)
                .is_err()
        );
    }
}
