//! Who may use the bus, and for what. Every service signs in with a user of its own and may
//! publish and subscribe only where its job needs it; an anonymous client is refused. The
//! NATS server's `authorization` block is generated from here ([`server_config`]), from the
//! same subject functions the services use, so a renamed subject cannot leave a permission
//! behind.
//!
//! Replies come to an inbox prefix of each user's own (`_INBOX_<user>.`), so no user can read the
//! answers meant for another (JetStream API replies carry KV values). JetStream rights are per
//! stream: creating and inspecting the shared streams is allowed, reading a stream's messages
//! (direct get, consumers) only where the service reads it.

use crate::Namespace;

/// A client of the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The gateway: submits turns, reads transcripts, usage and pairing, watches runs.
    Gateway,
    /// The channel-bridge: channel messages in and out, pairing, channel state, media.
    ChannelBridge,
    /// The agent-runner: takes turns, keeps transcripts, leases and usage, answers runs.
    AgentRunner,
    /// The llm-router: shares model health.
    LlmRouter,
}

impl Role {
    /// Every role.
    pub const ALL: [Self; 4] = [
        Self::Gateway,
        Self::ChannelBridge,
        Self::AgentRunner,
        Self::LlmRouter,
    ];

    /// The NATS user name.
    #[must_use]
    pub fn user(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::ChannelBridge => "channel-bridge",
            Self::AgentRunner => "agent-runner",
            Self::LlmRouter => "llm-router",
        }
    }

    /// The environment variable that holds this user's password (in `.env`, for compose).
    #[must_use]
    pub fn password_variable(self) -> &'static str {
        match self {
            Self::Gateway => "PINCER_NATS_PASSWORD_GATEWAY",
            Self::ChannelBridge => "PINCER_NATS_PASSWORD_CHANNEL_BRIDGE",
            Self::AgentRunner => "PINCER_NATS_PASSWORD_AGENT_RUNNER",
            Self::LlmRouter => "PINCER_NATS_PASSWORD_LLM_ROUTER",
        }
    }

    /// The role of the NATS user `user`.
    #[must_use]
    pub fn from_user(user: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.user() == user)
    }
}

/// The inbox prefix of `user`: replies to its requests arrive under it, and only it may
/// subscribe there.
#[must_use]
pub fn inbox_prefix(user: &str) -> String {
    format!("_INBOX_{}", user.replace(['.', '*', '>', ' '], "_"))
}

/// What one user may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    /// Subjects it may publish to (JetStream API calls are publishes).
    pub publish: Vec<String>,
    /// Subjects it may subscribe to.
    pub subscribe: Vec<String>,
    /// Whether it may answer requests it received (publish to their reply subjects).
    pub allow_responses: bool,
}

/// Rights on one JetStream stream.
struct Stream<'a> {
    name: String,
    publish: &'a mut Vec<String>,
}

impl Stream<'_> {
    /// Create, update and inspect it (every service makes sure the shared ones exist).
    fn admin(&mut self) -> &mut Self {
        let name = &self.name;
        for verb in ["CREATE", "UPDATE", "INFO"] {
            self.publish.push(format!("$JS.API.STREAM.{verb}.{name}"));
        }
        self
    }

    /// Read its messages: direct and message gets, consumers (KV watches and keys, pulls), acks
    /// and flow control.
    fn read(&mut self) -> &mut Self {
        let name = &self.name;
        self.publish.extend([
            format!("$JS.API.DIRECT.GET.{name}"),
            format!("$JS.API.DIRECT.GET.{name}.>"),
            format!("$JS.API.STREAM.MSG.GET.{name}"),
            format!("$JS.API.CONSUMER.CREATE.{name}"),
            format!("$JS.API.CONSUMER.CREATE.{name}.>"),
            format!("$JS.API.CONSUMER.DURABLE.CREATE.{name}.>"),
            format!("$JS.API.CONSUMER.INFO.{name}.>"),
            format!("$JS.API.CONSUMER.DELETE.{name}.>"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{name}.>"),
            format!("$JS.ACK.{name}.>"),
            format!("$JS.FC.{name}.>"),
        ]);
        self
    }

    /// See how its consumers are doing (pending, unacked), without reading messages.
    fn consumers_info(&mut self) -> &mut Self {
        let name = &self.name;
        self.publish.push(format!("$JS.API.CONSUMER.INFO.{name}.>"));
        self
    }

    /// Remove messages (object store chunks replaced by a new version).
    fn purge(&mut self) -> &mut Self {
        let name = &self.name;
        self.publish.push(format!("$JS.API.STREAM.PURGE.{name}"));
        self
    }
}

/// Collects one user's rights.
struct Grants {
    ns: Namespace,
    publish: Vec<String>,
    subscribe: Vec<String>,
}

impl Grants {
    fn stream(&mut self, name: &str) -> Stream<'_> {
        Stream {
            name: name.to_owned(),
            publish: &mut self.publish,
        }
    }

    /// A KV bucket: inspect always; read, and with `write` put/create/update/delete.
    fn bucket(&mut self, bucket: &str, write: bool) {
        self.stream(&format!("KV_{bucket}")).admin().read();
        if write {
            self.publish.push(format!("$KV.{bucket}.>"));
        }
    }

    /// The object store `bucket`, read and written.
    fn objects(&mut self, bucket: &str) {
        self.stream(&format!("OBJ_{bucket}")).admin().read().purge();
        self.publish.push(format!("$O.{bucket}.>"));
    }

    /// The streams and buckets [`crate::setup::ensure_all`] creates, inspectable by everyone who
    /// calls it.
    fn shared_setup(&mut self) {
        let ns = self.ns.clone();
        for stream in [
            ns.turns_stream(),
            ns.channel_inbound_stream(),
            ns.channel_outbound_stream(),
            format!("KV_{}", ns.sessions_bucket()),
            format!("KV_{}", ns.leases_bucket()),
        ] {
            self.stream(&stream).admin();
        }
    }
}

/// The rights of `role` under `ns`.
#[must_use]
pub fn permissions(ns: &Namespace, role: Role) -> Permissions {
    let mut grants = Grants {
        ns: ns.clone(),
        // Account limits and API level, asked before a bucket is made: counts, no content.
        publish: vec!["$JS.API.INFO".to_owned()],
        subscribe: vec![format!("{}.>", inbox_prefix(role.user()))],
    };
    let prefix = ns.prefix().to_owned();
    let mut allow_responses = false;
    match role {
        Role::Gateway => {
            grants.shared_setup();
            grants.publish.extend([
                ns.turns_filter(),
                ns.channel_inbound_filter(),
                format!("{prefix}.abort.>"),
                ns.agent_runner_ping(),
                // `GET /metrics` asks every service for its figures.
                format!("{prefix}.metrics.>"),
            ]);
            grants.subscribe.push(format!("{prefix}.run.>"));
            grants.bucket(&ns.sessions_bucket(), false);
            grants.bucket(&ns.usage_bucket(), false);
            // Each channel account's connection state, for `channels.status`.
            grants.bucket(&ns.channel_state_bucket(), false);
            grants.bucket(&ns.pairing_bucket(), true);
            // The scheduler and `cron.*`.
            grants.bucket(&ns.cron_bucket(), true);
            // Pictures sent to the OpenAI API, handed to the agent-runner like a channel's.
            grants.objects(&ns.media_bucket());
            for stream in [
                ns.turns_stream(),
                ns.channel_inbound_stream(),
                ns.channel_outbound_stream(),
            ] {
                grants.stream(&stream).consumers_info();
            }
        }
        Role::ChannelBridge => {
            grants.shared_setup();
            // Replies of its own (pairing codes, refusals) go out like the agent's.
            grants.publish.extend([
                ns.channel_inbound_filter(),
                ns.channel_outbound_filter(),
                ns.turns_filter(),
            ]);
            grants.subscribe.push(format!("{prefix}.run.>"));
            for stream in [ns.channel_inbound_stream(), ns.channel_outbound_stream()] {
                grants.stream(&stream).read();
            }
            grants.bucket(&ns.pairing_bucket(), true);
            grants.bucket(&ns.channel_state_bucket(), true);
            grants.objects(&ns.media_bucket());
        }
        Role::AgentRunner => {
            grants.shared_setup();
            // Sub-agents: a parent publishes its child's turn, follows the child's events and
            // aborts it with the parent.
            grants.publish.extend([
                format!("{prefix}.run.>"),
                ns.channel_outbound_filter(),
                ns.subagent_turns_filter(),
                format!("{prefix}.abort.>"),
            ]);
            grants.subscribe.extend([
                format!("{prefix}.abort.>"),
                ns.agent_runner_ping(),
                format!("{prefix}.run.>"),
            ]);
            grants.stream(&ns.turns_stream()).read();
            grants.bucket(&ns.sessions_bucket(), true);
            grants.bucket(&ns.leases_bucket(), true);
            grants.bucket(&ns.usage_bucket(), true);
            // The agent's `cron` tool.
            grants.bucket(&ns.cron_bucket(), true);
            grants.objects(&ns.media_bucket());
            // Readiness pings are answered on the asker's inbox.
            allow_responses = true;
        }
        Role::LlmRouter => {
            grants.bucket(&ns.model_health_bucket(), true);
        }
    }
    // Every service but the gateway answers the gateway's metrics scrape on a subject of its own.
    if role != Role::Gateway {
        grants.subscribe.push(ns.metrics(role.user()));
        allow_responses = true;
    }
    grants.publish.sort();
    grants.publish.dedup();
    Permissions {
        publish: grants.publish,
        subscribe: grants.subscribe,
        allow_responses,
    }
}

/// The NATS server's `authorization` block: one user per role, its password from the server's
/// environment variable [`Role::password_variable`] (`$VAR`, never written into the file), its
/// permissions from [`permissions`]. No `no_auth_user`: anonymous clients are refused.
#[must_use]
pub fn server_config(ns: &Namespace) -> String {
    let list = |subjects: &[String]| {
        subjects
            .iter()
            .map(|subject| format!("\"{subject}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::from(
        "# Generated by `pincer bus config` from pincer-bus (crates/bus/src/access.rs): one user per\n\
         # service, each limited to its subjects; passwords come from the environment.\n\
         authorization {\n  users = [\n",
    );
    for role in Role::ALL {
        let rights = permissions(ns, role);
        out.push_str(&format!(
            "    {{\n      user: \"{}\"\n      password: ${}\n      permissions: {{\n        publish: {{ allow: [{}] }}\n        subscribe: {{ allow: [{}] }}\n",
            role.user(),
            role.password_variable(),
            list(&rights.publish),
            list(&rights.subscribe),
        ));
        if rights.allow_responses {
            out.push_str("        allow_responses: true\n");
        }
        out.push_str("      }\n    }\n");
    }
    out.push_str("  ]\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_its_own_inbox_and_only_its_streams() {
        let ns = Namespace::default();
        let runner = permissions(&ns, Role::AgentRunner);
        assert!(
            runner
                .subscribe
                .contains(&"_INBOX_agent-runner.>".to_owned())
        );
        assert!(runner.publish.contains(&"$KV.pincer_sessions.>".to_owned()));
        assert!(runner.allow_responses);
        let bridge = permissions(&ns, Role::ChannelBridge);
        assert!(
            !bridge
                .publish
                .iter()
                .any(|s| s.contains("KV_pincer_sessions.")
                    || s == "$JS.API.DIRECT.GET.KV_pincer_sessions")
        );
        assert!(
            !bridge
                .subscribe
                .iter()
                .any(|s| s.starts_with("_INBOX.") || s == ">")
        );
        let router = permissions(&ns, Role::LlmRouter);
        assert!(
            router
                .publish
                .iter()
                .all(|s| s.contains("model_health") || s == "$JS.API.INFO"),
            "{router:?}"
        );
        let gateway = permissions(&ns, Role::Gateway);
        assert!(
            !gateway
                .publish
                .contains(&"$KV.pincer_sessions.>".to_owned()),
            "reads only"
        );
        for role in Role::ALL {
            let rights = permissions(&ns, role);
            assert!(
                !rights
                    .publish
                    .iter()
                    .chain(&rights.subscribe)
                    .any(|s| s == ">" || s == "$JS.API.>"),
                "{role:?}"
            );
            assert_eq!(Role::from_user(role.user()), Some(role));
        }
    }

    #[test]
    fn the_gateway_asks_for_metrics_and_each_service_answers_only_its_own() {
        let ns = Namespace::default();
        let gateway = permissions(&ns, Role::Gateway);
        assert!(gateway.publish.contains(&"pincer.metrics.>".to_owned()));
        assert!(!gateway.subscribe.iter().any(|s| s.contains(".metrics.")));
        for role in [Role::AgentRunner, Role::LlmRouter, Role::ChannelBridge] {
            let rights = permissions(&ns, role);
            let metrics: Vec<_> = rights
                .subscribe
                .iter()
                .filter(|s| s.contains(".metrics."))
                .collect();
            assert_eq!(
                metrics,
                [&format!("pincer.metrics.{}", role.user())],
                "{role:?}"
            );
            assert!(rights.allow_responses, "{role:?}");
        }
    }

    #[test]
    fn the_server_config_names_variables_not_passwords() {
        let config = server_config(&Namespace::default());
        assert!(config.contains("password: $PINCER_NATS_PASSWORD_GATEWAY\n"));
        assert!(!config.contains("no_auth_user"));
        assert_eq!(config.matches("user: ").count(), Role::ALL.len());
    }
}
