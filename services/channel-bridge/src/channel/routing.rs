//! Which agent answers a message (`bindings`) and which conversation it belongs to (the session
//! key), the same way on every channel.

use pincer_config::{Binding, PeerKind};

use super::inbound::Inbound;

/// Where an accepted message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The agent that answers.
    pub agent_id: String,
    /// The conversation.
    pub session_key: String,
}

/// Routes `message`, received by `account` of `channel`. `shared_dm_session` is
/// `session.dmScope: main`: every DM in one session (OpenClaw's default); otherwise one session
/// per sender, so people never see each other's context. A group or channel is one session; a
/// thread inside it (Slack) is a session of its own.
pub fn route(
    bindings: &[Binding],
    channel: &str,
    account: &str,
    message: &Inbound,
    shared_dm_session: bool,
) -> Route {
    let peer = if message.direct {
        (PeerKind::Direct, message.sender.id.as_str())
    } else {
        (PeerKind::Group, message.chat.as_str())
    };
    let agent_id = pincer_config::schema::bindings::route(bindings, channel, account, peer)
        .unwrap_or("default")
        .to_owned();
    let session_key = if message.direct && shared_dm_session {
        format!("agent:{agent_id}:main")
    } else if message.direct {
        format!(
            "agent:{agent_id}:{channel}:{account}:direct:{}",
            message.sender.id
        )
    } else {
        let kind = if channel == "telegram" {
            "group"
        } else {
            "channel"
        };
        let mut key = format!(
            "agent:{agent_id}:{channel}:{account}:{kind}:{}",
            message.chat
        );
        if let Some(thread) = &message.thread {
            key.push_str(&format!(":thread:{thread}"));
        }
        key
    };
    Route {
        agent_id,
        session_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::inbound::Sender;

    fn message(direct: bool, chat: &str, thread: Option<&str>) -> Inbound {
        Inbound {
            chat: chat.into(),
            direct,
            thread: thread.map(str::to_owned),
            sender: Sender {
                id: "U1".into(),
                ..Sender::default()
            },
            ..Inbound::default()
        }
    }

    #[test]
    fn sessions_per_sender_channel_and_thread() {
        let none = [];
        assert_eq!(
            route(
                &none,
                "discord",
                "default",
                &message(true, "D9", None),
                false
            )
            .session_key,
            "agent:default:discord:default:direct:U1"
        );
        assert_eq!(
            route(
                &none,
                "discord",
                "default",
                &message(true, "D9", None),
                true
            )
            .session_key,
            "agent:default:main"
        );
        assert_eq!(
            route(
                &none,
                "slack",
                "ops",
                &message(false, "C1", Some("17.5")),
                false
            )
            .session_key,
            "agent:default:slack:ops:channel:C1:thread:17.5"
        );
        assert_eq!(
            route(
                &none,
                "telegram",
                "default",
                &message(false, "-100", None),
                false
            )
            .session_key,
            "agent:default:telegram:default:group:-100"
        );
    }

    #[test]
    fn a_binding_routes_a_channel_to_its_agent() {
        let bindings: Vec<Binding> = serde_json::from_value(serde_json::json!([
            {"agentId": "work", "match": {"channel": "discord", "peer": {"kind": "channel", "id": "C7"}}},
            {"agentId": "home", "match": {"channel": "slack", "accountId": "family"}},
        ]))
        .expect("bindings");
        let routed = route(
            &bindings,
            "discord",
            "default",
            &message(false, "C7", None),
            false,
        );
        assert_eq!(routed.agent_id, "work");
        assert_eq!(routed.session_key, "agent:work:discord:default:channel:C7");
        assert_eq!(
            route(
                &bindings,
                "slack",
                "family",
                &message(true, "D1", None),
                false
            )
            .agent_id,
            "home"
        );
        assert_eq!(
            route(
                &bindings,
                "discord",
                "default",
                &message(false, "C8", None),
                false
            )
            .agent_id,
            "default"
        );
    }
}
