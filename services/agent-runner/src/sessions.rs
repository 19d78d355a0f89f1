//! Session transcripts and leases in JetStream KV.
//!
//! A transcript is one KV value per session, written with optimistic concurrency (`update` with the
//! revision that was read), so a lost race is detected instead of silently overwriting. A lease is
//! a KV key created atomically by the runner that works on the session; it carries an expiry so a
//! crashed holder blocks its session only briefly.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use pincer_bus::messages::{ChatMessage, ErrorCode, ToolCall, Usage};
use serde::{Deserialize, Serialize};

/// Completed turns remembered per session, so a redelivered turn is answered from the record instead
/// of being run twice.
const REMEMBERED_TURNS: usize = 64;

/// Upper bound of a stored transcript; the oldest messages are dropped beyond it (NATS max_payload
/// is 1 MiB; compaction proper keeps real sessions far below this).
const MAX_TRANSCRIPT_BYTES: usize = 768 * 1024;

/// What happened to a turn, as remembered in the transcript.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TurnOutcome {
    /// The model answered.
    Answered {
        /// Full reply.
        content: String,
        /// Tool calls of the reply.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
        /// Model that served.
        model: String,
        /// Finish reason (`stop`, `length`, or `max_iterations` when the loop was cut off).
        finish_reason: String,
        /// Token counts, summed over the turn's model calls.
        #[serde(default)]
        usage: Usage,
        /// The tool steps before the answer: assistant messages with calls, and tool results.
        /// Moved into the history when recorded (never kept in the turn record).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        steps: Vec<ChatMessage>,
    },
    /// The turn failed; its user messages (and the tool steps it made) are still in the history.
    Failed {
        /// Category.
        code: ErrorCode,
        /// Reason shown to the client.
        message: String,
        /// Tool steps done before the failure (their effects happened).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        steps: Vec<ChatMessage>,
    },
    /// A session command (`/status`, `/new`, ...) answered without the model; not part of the history.
    Command {
        /// The answer.
        reply: String,
    },
}

impl TurnOutcome {
    /// A failure without steps.
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Failed {
            code,
            message: message.into(),
            steps: Vec::new(),
        }
    }
}

/// A remembered turn.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnRecord {
    /// The turn's id.
    pub turn_id: String,
    /// Its outcome.
    pub outcome: TurnOutcome,
}

/// A session's stored state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// Conversation, oldest first.
    pub messages: Vec<ChatMessage>,
    /// The most recent turns and their outcomes.
    #[serde(default)]
    pub turns: Vec<TurnRecord>,
    /// Model chosen for this session with `/model`, instead of the agent's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_override: Option<String>,
    /// Tokens and cost of every turn since the session started (or was reset).
    #[serde(default)]
    pub totals: Usage,
    /// How often older turns were summarised to fit the model's window.
    #[serde(default)]
    pub compactions: u32,
}

impl Transcript {
    /// The recorded outcome of `turn_id`, if it already ran.
    pub fn outcome_of(&self, turn_id: &str) -> Option<&TurnOutcome> {
        self.turns
            .iter()
            .find(|t| t.turn_id == turn_id)
            .map(|t| &t.outcome)
    }

    /// Appends a finished turn: its input messages, its tool steps, the reply (if any) and the
    /// record. Commands leave the history alone.
    pub fn record(&mut self, turn_id: &str, input: &[ChatMessage], mut outcome: TurnOutcome) {
        match &mut outcome {
            TurnOutcome::Answered {
                content,
                tool_calls,
                steps,
                usage,
                ..
            } => {
                self.messages.extend_from_slice(input);
                self.messages.append(steps);
                self.messages.push(ChatMessage {
                    role: pincer_bus::messages::Role::Assistant,
                    content: content.clone(),
                    tool_calls: tool_calls.clone(),
                    tool_call_id: None,
                    name: None,
                    attachments: Vec::new(),
                });
                self.totals.add(usage);
            }
            TurnOutcome::Failed { steps, .. } => {
                self.messages.extend_from_slice(input);
                self.messages.append(steps);
            }
            TurnOutcome::Command { .. } => {}
        }
        self.turns.push(TurnRecord {
            turn_id: turn_id.to_owned(),
            outcome,
        });
        if self.turns.len() > REMEMBERED_TURNS {
            let excess = self.turns.len() - REMEMBERED_TURNS;
            self.turns.drain(..excess);
        }
    }

    /// Serialises, dropping the oldest messages while the value is over the size bound.
    fn encode(&mut self) -> Result<Vec<u8>, serde_json::Error> {
        loop {
            let bytes = serde_json::to_vec(self)?;
            if bytes.len() <= MAX_TRANSCRIPT_BYTES || self.messages.len() <= 1 {
                return Ok(bytes);
            }
            let drop = (self.messages.len() / 4).max(1);
            tracing::warn!(
                dropped = drop,
                bytes = bytes.len(),
                "transcript over size bound, dropping oldest messages"
            );
            self.messages.drain(..drop);
        }
    }
}

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A KV operation failed.
    #[error("session store {op} failed: {reason}")]
    Kv {
        /// Operation.
        op: &'static str,
        /// Server or client answer.
        reason: String,
    },
    /// Another writer updated the transcript since it was read.
    #[error("transcript changed concurrently")]
    Conflict,
    /// A stored value is not a transcript.
    #[error("stored transcript is corrupt: {0}")]
    Corrupt(String),
    /// The session lease could not be taken or kept.
    #[error(transparent)]
    Lease(#[from] pincer_bus::lease::LeaseError),
}

/// Transcripts and leases.
#[derive(Clone, Debug)]
pub struct SessionStore {
    transcripts: kv::Store,
    leases: kv::Store,
    lease_ttl: Duration,
}

/// A transcript with the revision it was read at (0 = not stored yet).
#[derive(Debug)]
pub struct Loaded {
    /// The transcript.
    pub transcript: Transcript,
    /// KV revision.
    pub revision: u64,
    /// Set when the stored value could not be read: it was set aside and the session starts over;
    /// the reason is told to the user.
    pub damaged: Option<String>,
}

impl SessionStore {
    /// Opens the buckets (created by `pincer_bus::setup`). A lease not refreshed for `lease_ttl`
    /// is considered abandoned by a crashed holder and may be taken over.
    pub async fn open(
        js: &jetstream::Context,
        ns: &pincer_bus::Namespace,
        lease_ttl: Duration,
    ) -> Result<Self, pincer_bus::Error> {
        Ok(Self {
            transcripts: pincer_bus::setup::sessions_bucket(js, ns).await?,
            leases: pincer_bus::setup::leases_bucket(js, ns).await?,
            lease_ttl,
        })
    }

    /// How often a holder must refresh its lease.
    pub fn lease_refresh_interval(&self) -> Duration {
        self.lease_ttl / 3
    }

    /// Reads a session's transcript.
    pub async fn load(&self, session_key: &str) -> Result<Loaded, Error> {
        let key = kv_key(session_key);
        let entry = self.transcripts.entry(&key).await.map_err(|e| Error::Kv {
            op: "get",
            reason: e.to_string(),
        })?;
        match entry {
            Some(entry) if entry.operation == kv::Operation::Put => {
                match serde_json::from_slice(&entry.value) {
                    Ok(transcript) => Ok(Loaded {
                        transcript,
                        revision: entry.revision,
                        damaged: None,
                    }),
                    Err(error) => {
                        // Keep the unreadable value for inspection instead of losing it, and let
                        // the session go on from an empty history rather than fail forever.
                        let aside = format!("{key}.unreadable");
                        if let Err(put) = self.transcripts.put(&aside, entry.value.clone()).await {
                            tracing::warn!(error = %put, "cannot set the unreadable transcript aside");
                        }
                        tracing::warn!(%error, "stored transcript is unreadable, starting over");
                        Ok(Loaded {
                            transcript: Transcript::default(),
                            revision: entry.revision,
                            damaged: Some(error.to_string()),
                        })
                    }
                }
            }
            Some(entry) => Ok(Loaded {
                transcript: Transcript::default(),
                revision: entry.revision,
                damaged: None,
            }),
            None => Ok(Loaded {
                transcript: Transcript::default(),
                revision: 0,
                damaged: None,
            }),
        }
    }

    /// Writes `transcript` if the stored revision is still `revision`.
    pub async fn save(
        &self,
        session_key: &str,
        transcript: &mut Transcript,
        revision: u64,
    ) -> Result<u64, Error> {
        let key = kv_key(session_key);
        let bytes = transcript
            .encode()
            .map_err(|e| Error::Corrupt(e.to_string()))?;
        if revision == 0 {
            self.transcripts
                .create(&key, bytes.into())
                .await
                .map_err(|e| match e.kind() {
                    kv::CreateErrorKind::AlreadyExists => Error::Conflict,
                    _ => Error::Kv {
                        op: "create",
                        reason: e.to_string(),
                    },
                })
        } else {
            self.transcripts
                .update(&key, bytes.into(), revision)
                .await
                .map_err(|e| match e.kind() {
                    kv::UpdateErrorKind::WrongLastRevision => Error::Conflict,
                    _ => Error::Kv {
                        op: "update",
                        reason: e.to_string(),
                    },
                })
        }
    }

    /// Tries to take the session's lease for `holder` (`None` while another live holder has it;
    /// a lease whose holder died is taken over once it expired).
    pub async fn acquire_lease(
        &self,
        session_key: &str,
        holder: &str,
    ) -> Result<Option<Lease>, Error> {
        Ok(
            pincer_bus::lease::acquire(&self.leases, &kv_key(session_key), holder, self.lease_ttl)
                .await?,
        )
    }

    /// Extends a held lease.
    pub async fn refresh_lease(&self, lease: &mut Lease, holder: &str) -> Result<(), Error> {
        Ok(lease.refresh(&self.leases, holder, self.lease_ttl).await?)
    }

    /// Gives a lease back (harmless if it fails: the lease expires on its own).
    pub async fn release_lease(&self, lease: Lease) {
        lease.release(&self.leases).await;
    }
}

/// A held session lease.
pub use pincer_bus::lease::Lease;

/// KV keys allow only `[-/_=.A-Za-z0-9]`; session keys are user-controlled, so they are hashed.
pub fn kv_key(session_key: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, session_key.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest.as_ref() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pincer_bus::messages::Role;

    #[test]
    fn kv_keys_are_safe_and_distinct() {
        let a = kv_key("agent:main:openai-user:alice");
        let b = kv_key("agent:main:openai-user:alice ");
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn records_answers_and_remembers_turn_ids() {
        let mut transcript = Transcript::default();
        let input = [ChatMessage::text(Role::User, "hi")];
        transcript.record(
            "t1",
            &input,
            TurnOutcome::Answered {
                content: "hello".into(),
                tool_calls: vec![],
                model: "p/m".into(),
                finish_reason: "stop".into(),
                usage: Usage::default(),
                steps: vec![],
            },
        );
        transcript.record(
            "t2",
            &[ChatMessage::text(Role::User, "again")],
            TurnOutcome::failed(ErrorCode::ProviderUnavailable, "down"),
        );
        let contents: Vec<&str> = transcript
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(contents, ["hi", "hello", "again"]);
        assert!(transcript.outcome_of("t1").is_some());
        assert!(matches!(
            transcript.outcome_of("t2"),
            Some(TurnOutcome::Failed { .. })
        ));
        assert!(transcript.outcome_of("t3").is_none());
    }

    #[test]
    fn keeps_a_bounded_number_of_turn_records() {
        let mut transcript = Transcript::default();
        for i in 0..(REMEMBERED_TURNS + 10) {
            transcript.record(
                &format!("t{i}"),
                &[],
                TurnOutcome::failed(ErrorCode::Timeout, ""),
            );
        }
        assert_eq!(transcript.turns.len(), REMEMBERED_TURNS);
        assert!(transcript.outcome_of("t0").is_none());
        assert!(
            transcript
                .outcome_of(&format!("t{}", REMEMBERED_TURNS + 9))
                .is_some()
        );
    }

    #[test]
    fn oversized_transcripts_drop_oldest_messages() {
        let mut transcript = Transcript::default();
        let big = "x".repeat(100 * 1024);
        for _ in 0..12 {
            transcript
                .messages
                .push(ChatMessage::text(Role::User, big.clone()));
        }
        let bytes = transcript.encode().unwrap();
        assert!(bytes.len() <= MAX_TRANSCRIPT_BYTES);
        assert!(transcript.messages.len() < 12);
    }
}
