//! Subject, stream and bucket names. No other crate spells a subject: they call these functions.
//!
//! Grammar: `<prefix>.<domain>.<entity>[.<id>]`. Ids go last so filters and permissions can be per
//! domain. Stream and bucket names cannot contain dots, so they use the upper-cased prefix.

/// A set of names under one prefix (`pincer` in production, a random one per test).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Namespace {
    prefix: String,
}

impl Default for Namespace {
    fn default() -> Self {
        Self::new("pincer")
    }
}

impl Namespace {
    /// Creates a namespace. The prefix must be one subject token of `[A-Za-z0-9_-]`.
    pub fn new(prefix: &str) -> Self {
        debug_assert!(
            !prefix.is_empty()
                && prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "invalid namespace prefix {prefix:?}"
        );
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The prefix itself.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn upper(&self) -> String {
        self.prefix.to_ascii_uppercase().replace('-', "_")
    }

    /// JetStream work-queue stream holding turns waiting for an agent-runner.
    /// Published by the gateway and channel-bridge; consumed by agent-runner.
    pub fn turns_stream(&self) -> String {
        format!("{}_TURNS", self.upper())
    }

    /// Subject of a turn for `agent_id` (stored in [`Self::turns_stream`]).
    pub fn turn(&self, agent_id: &str) -> String {
        format!("{}.turn.{}", self.prefix, token(agent_id))
    }

    /// Filter matching every turn subject.
    pub fn turns_filter(&self) -> String {
        format!("{}.turn.>", self.prefix)
    }

    /// Durable consumer name the agent-runner replicas share on the turns stream.
    pub fn turns_consumer(&self) -> String {
        "agent-runner".to_owned()
    }

    /// Subject of a sub-agent's turn for `agent_id` (`sessions_spawn`), in [`Self::turns_stream`]
    /// but outside [`Self::turns_filter`]: children run in their own lane, so a parent waiting
    /// for its child never holds the slot the child needs.
    pub fn subagent_turn(&self, agent_id: &str) -> String {
        format!("{}.subturn.{}", self.prefix, token(agent_id))
    }

    /// Filter matching every sub-agent turn subject.
    pub fn subagent_turns_filter(&self) -> String {
        format!("{}.subturn.>", self.prefix)
    }

    /// Durable consumer the agent-runner replicas share for sub-agent turns.
    pub fn subagent_turns_consumer(&self) -> String {
        "agent-runner-subagents".to_owned()
    }

    /// Core-NATS subject carrying a run's live events (deltas, done, error) to whoever waits for it.
    /// Published by agent-runner; subscribed by the gateway (and channel-bridge for drafts).
    pub fn run_events(&self, turn_id: &str) -> String {
        format!("{}.run.{}", self.prefix, token(turn_id))
    }

    /// Like [`Self::run_events`], for a listener that hears all its turns on one subscription
    /// ([`Self::run_events_any_of`]): `listener` is that listener's own id (a gateway instance).
    pub fn run_events_of(&self, listener: &str, turn_id: &str) -> String {
        format!("{}.run.{}.{}", self.prefix, token(listener), token(turn_id))
    }

    /// Every turn's [`Self::run_events_of`] subject for `listener`.
    pub fn run_events_any_of(&self, listener: &str) -> String {
        format!("{}.run.{}.*", self.prefix, token(listener))
    }

    /// Where a scheduled job's run reports its outcome: every gateway's scheduler hears it
    /// ([`Self::cron_run_events_all`]), whichever gateway published the turn.
    pub fn cron_run_events(&self, job_id: &str, turn_id: &str) -> String {
        format!(
            "{}.run.cron.{}.{}",
            self.prefix,
            token(job_id),
            token(turn_id)
        )
    }

    /// Every [`Self::cron_run_events`] subject.
    pub fn cron_run_events_all(&self) -> String {
        format!("{}.run.cron.*.*", self.prefix)
    }

    /// Core-NATS subject asking the runner of a turn to stop it (`chat.abort`).
    pub fn run_abort(&self, turn_id: &str) -> String {
        format!("{}.abort.{}", self.prefix, token(turn_id))
    }

    /// Every turn's [`Self::run_abort`] subject (a runner hears them all on one subscription).
    pub fn run_abort_any(&self) -> String {
        format!("{}.abort.*", self.prefix)
    }

    /// Request/reply subject the agent-runner answers while its consumer loop is running (readiness).
    pub fn agent_runner_ping(&self) -> String {
        format!("{}.health.agent-runner", self.prefix)
    }

    /// Request/reply subject on which `service` (`agent-runner`, `llm-router`, ...) answers a
    /// metrics scrape with its Prometheus text. Asked by the gateway for `GET /metrics`.
    pub fn metrics(&self, service: &str) -> String {
        format!("{}.metrics.{}", self.prefix, token(service))
    }

    /// JetStream stream of inbound channel messages (Telegram updates), keyed by platform ids.
    pub fn channel_inbound_stream(&self) -> String {
        format!("{}_CHANNEL_IN", self.upper())
    }

    /// Subject of an inbound message from `channel` (e.g. `telegram`).
    pub fn channel_inbound(&self, channel: &str) -> String {
        format!("{}.channel.in.{}", self.prefix, token(channel))
    }

    /// JetStream stream of outbound replies waiting to be sent on a channel.
    pub fn channel_outbound_stream(&self) -> String {
        format!("{}_CHANNEL_OUT", self.upper())
    }

    /// Subject of an outbound reply for `channel`.
    pub fn channel_outbound(&self, channel: &str) -> String {
        format!("{}.channel.out.{}", self.prefix, token(channel))
    }

    /// Subject of an inbound message for one account of `channel` (webhook deliveries).
    pub fn channel_inbound_account(&self, channel: &str, account: &str) -> String {
        format!(
            "{}.channel.in.{}.{}",
            self.prefix,
            token(channel),
            token(account)
        )
    }

    /// Filter matching every inbound channel subject (and anything below one).
    pub fn channel_inbound_filter(&self) -> String {
        format!("{}.channel.in.>", self.prefix)
    }

    /// Filter matching every outbound channel subject (and anything below one).
    pub fn channel_outbound_filter(&self) -> String {
        format!("{}.channel.out.>", self.prefix)
    }

    /// KV bucket of session transcripts (agent-runner only).
    pub fn sessions_bucket(&self) -> String {
        format!("{}_sessions", self.prefix.replace('-', "_"))
    }

    /// KV bucket of short-lived session leases: one runner at a time per session, across replicas.
    /// In memory on a single server (`pincer_bus::setup::leases_bucket`); `_leases`, its name when
    /// it was always on disk, is left to an older deployment's NATS (a bucket keeps its storage).
    pub fn leases_bucket(&self) -> String {
        format!("{}_session_leases", self.prefix.replace('-', "_"))
    }

    /// KV bucket of channel state kept across restarts and replicas: poller leases, the last
    /// Telegram `update_id` handed to JetStream, and markers of reply chunks already sent.
    pub fn channel_state_bucket(&self) -> String {
        format!("{}_channel_state", self.prefix.replace('-', "_"))
    }

    /// Object store of media received on channels (photos, documents, voice) until the agent-runner
    /// copies them into the agent's workspace.
    pub fn media_bucket(&self) -> String {
        format!("{}_media", self.prefix.replace('-', "_"))
    }

    /// KV bucket of DM pairing: pending codes and approved senders, per channel account.
    pub fn pairing_bucket(&self) -> String {
        format!("{}_pairing", self.prefix.replace('-', "_"))
    }

    /// KV bucket of token and cost totals per day and model (written by agent-runner, read by the
    /// gateway's `usage.*` methods).
    pub fn usage_bucket(&self) -> String {
        format!("{}_usage", self.prefix.replace('-', "_"))
    }

    /// KV bucket of scheduled jobs and their run state (gateway's scheduler and `cron.*` methods,
    /// agent-runner's `cron` tool).
    pub fn cron_bucket(&self) -> String {
        format!("{}_cron", self.prefix.replace('-', "_"))
    }

    /// KV bucket of provider, key and model health (cooldowns, circuit breakers), shared by every
    /// llm-router replica and kept across restarts.
    pub fn model_health_bucket(&self) -> String {
        format!("{}_model_health", self.prefix.replace('-', "_"))
    }
}

/// Replaces characters that would split or wildcard a subject token.
fn token(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '.' | '*' | '>' | ' ' | '\t' | '\r' | '\n' => '_',
            other => other,
        })
        .collect()
}

/// `text` as a KV key or consumer-name token: ASCII letters, digits, `-` and `_` kept, anything
/// else `_`, plus a short hash of the original when something was replaced, so `a b` and `a_b`
/// never share a key.
pub fn key_token(text: &str) -> String {
    let safe: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe == text && !safe.is_empty() {
        return safe;
    }
    // FNV-1a: stable across processes and versions (unlike the std hasher).
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{safe}_{:08x}", hash & 0xffff_ffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_tokens_are_safe_and_distinct() {
        assert_eq!(key_token("default"), "default");
        assert_ne!(key_token("a b"), key_token("a_b"));
        assert!(
            key_token("büro")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        );
    }

    #[test]
    fn names_follow_the_grammar() {
        let ns = Namespace::default();
        assert_eq!(ns.turn("main"), "pincer.turn.main");
        assert_eq!(ns.turns_filter(), "pincer.turn.>");
        assert_eq!(ns.turns_stream(), "PINCER_TURNS");
        assert_eq!(ns.run_events("abc"), "pincer.run.abc");
        assert_eq!(ns.run_events_of("g1", "abc"), "pincer.run.g1.abc");
        assert_eq!(ns.run_events_any_of("g1"), "pincer.run.g1.*");
        assert_eq!(ns.sessions_bucket(), "pincer_sessions");
    }

    #[test]
    fn ids_cannot_inject_wildcards_or_tokens() {
        let ns = Namespace::new("t-1");
        assert_eq!(ns.turn("a.b>*"), "t-1.turn.a_b__");
        assert_eq!(ns.turns_stream(), "T_1_TURNS");
        assert_eq!(ns.leases_bucket(), "t_1_session_leases");
    }
}
