//! One turn, from a JetStream message to an answer.
//!
//! Order of effects, chosen so nothing is lost or done twice:
//! 1. take the session lease (another replica holding it → ask for redelivery later);
//! 2. load the transcript; if this turn id is already recorded, re-announce its outcome and ack;
//! 3. call the llm-router, relaying deltas live;
//! 4. store the outcome (answer or failure, with the user's messages either way);
//! 5. announce the outcome, release the lease; the caller acks the message only after this returns
//!    `Finished`.

use std::time::Duration;

use bytes::Bytes;
use pincer_bus::Namespace;
use pincer_bus::messages::{ChatMessage, ErrorCode, RunEvent, ToolCall, TurnRequest, Usage};
use pincer_proto::llm::v1 as pb;

use crate::router::RouterClient;
use crate::sessions::{Loaded, SessionStore, TurnOutcome};

/// Shared state of every turn in this replica.
#[derive(Clone, Debug)]
pub struct TurnContext {
    /// NATS client for live events.
    pub client: async_nats::Client,
    /// Subject names.
    pub namespace: Namespace,
    /// Agent definitions.
    pub agents: pincer_config::Agents,
    /// Transcripts and leases.
    pub sessions: SessionStore,
    /// llm-router client.
    pub router: RouterClient,
    /// This replica's identity, written into leases.
    pub runner_id: String,
}

/// What the consumer should do with the message.
#[derive(Debug, PartialEq, Eq)]
pub enum Disposition {
    /// The outcome is stored and announced: ack.
    Finished,
    /// Another replica works on the session, or storage is unavailable: redeliver after a while.
    RetryLater(Duration),
}

/// Attempts at storing an outcome when other writers race for the same transcript.
const SAVE_ATTEMPTS: usize = 5;

/// Runs `request` to completion.
pub async fn execute(context: &TurnContext, request: &TurnRequest) -> Disposition {
    if request.live_deltas {
        publish(context, &request.reply_subject, &RunEvent::Started).await;
    }
    if !request.persist {
        let outcome = call_model(context, request, &[]).await;
        announce(context, request, &outcome).await;
        return Disposition::Finished;
    }

    let mut lease = match context
        .sessions
        .acquire_lease(&request.session_key, &context.runner_id)
        .await
    {
        Ok(Some(lease)) => lease,
        Ok(None) => {
            tracing::debug!("session busy in another replica, retrying later");
            return Disposition::RetryLater(Duration::from_millis(250));
        }
        Err(error) => {
            tracing::warn!(%error, "cannot take the session lease");
            return Disposition::RetryLater(Duration::from_secs(1));
        }
    };

    let loaded = match context.sessions.load(&request.session_key).await {
        Ok(loaded) => loaded,
        Err(error) => {
            tracing::warn!(%error, "cannot load the transcript");
            context.sessions.release_lease(lease).await;
            return Disposition::RetryLater(Duration::from_secs(1));
        }
    };
    if let Some(outcome) = loaded.transcript.outcome_of(&request.turn_id).cloned() {
        tracing::info!("turn already completed, re-announcing its outcome");
        context.sessions.release_lease(lease).await;
        announce(context, request, &outcome).await;
        return Disposition::Finished;
    }

    let outcome = {
        let call = call_model(context, request, &loaded.transcript.messages);
        tokio::pin!(call);
        // Keep the lease alive for long model calls.
        let mut refresh = tokio::time::interval(context.sessions.lease_refresh_interval());
        refresh.tick().await;
        loop {
            tokio::select! {
                outcome = &mut call => break outcome,
                _ = refresh.tick() => {
                    if let Err(error) = context.sessions.refresh_lease(&mut lease, &context.runner_id).await {
                        tracing::warn!(%error, "lease refresh failed");
                    }
                }
            }
        }
    };

    let stored = store(context, request, loaded, outcome.clone()).await;
    if stored {
        // The outcome is durable: answer first, then give the lease back (off the client's path).
        announce(context, request, &outcome).await;
    }
    context.sessions.release_lease(lease).await;
    if stored {
        Disposition::Finished
    } else {
        Disposition::RetryLater(Duration::from_secs(1))
    }
}

async fn store(
    context: &TurnContext,
    request: &TurnRequest,
    mut loaded: Loaded,
    outcome: TurnOutcome,
) -> bool {
    for _ in 0..SAVE_ATTEMPTS {
        if loaded.transcript.outcome_of(&request.turn_id).is_some() {
            // A concurrent writer already stored this very turn.
            return true;
        }
        loaded
            .transcript
            .record(&request.turn_id, &request.messages, outcome.clone());
        match context
            .sessions
            .save(
                &request.session_key,
                &mut loaded.transcript,
                loaded.revision,
            )
            .await
        {
            Ok(_) => return true,
            Err(crate::sessions::Error::Conflict) => {
                tracing::info!("transcript changed underneath, merging");
                match context.sessions.load(&request.session_key).await {
                    Ok(fresh) => loaded = fresh,
                    Err(error) => {
                        tracing::warn!(%error, "reload after conflict failed");
                        return false;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot store the turn");
                return false;
            }
        }
    }
    tracing::warn!("giving up storing the turn after repeated conflicts");
    false
}

async fn call_model(
    context: &TurnContext,
    request: &TurnRequest,
    history: &[ChatMessage],
) -> TurnOutcome {
    let agent = match context.agents.resolve(&request.agent_id) {
        Ok(agent) => agent,
        Err(error) => {
            return TurnOutcome::Failed {
                code: ErrorCode::BadRequest,
                message: error.to_string(),
            };
        }
    };
    let chat = pb::ChatRequest {
        model: agent.primary.clone(),
        fallbacks: agent.fallbacks.clone(),
        messages: crate::prompt::build(history, &request.messages),
        tools: Vec::new(),
        max_tokens: 0,
        session_key: request.session_key.clone(),
        timeout_ms: u64::try_from(agent.timeout.as_millis()).unwrap_or(u64::MAX),
    };
    let stream = tokio::time::timeout(agent.timeout, relay(context, request, chat)).await;
    match stream {
        Ok(outcome) => outcome,
        Err(_) => TurnOutcome::Failed {
            code: ErrorCode::Timeout,
            message: format!(
                "the agent did not finish within {}s",
                agent.timeout.as_secs()
            ),
        },
    }
}

async fn relay(context: &TurnContext, request: &TurnRequest, chat: pb::ChatRequest) -> TurnOutcome {
    use pb::chat_event::Event;
    let mut stream = match context.router.chat(chat).await {
        Ok(stream) => stream,
        Err(status) => return failure_from_status(&status),
    };
    let mut content = String::new();
    let mut tool_calls = Vec::new();
    loop {
        match stream.message().await {
            Ok(Some(pb::ChatEvent {
                event: Some(Event::Delta(delta)),
            })) => {
                publish(
                    context,
                    &request.reply_subject,
                    &RunEvent::Delta {
                        text: delta.text.clone(),
                    },
                )
                .await;
                content.push_str(&delta.text);
            }
            Ok(Some(pb::ChatEvent {
                event: Some(Event::ToolCall(call)),
            })) => tool_calls.push(ToolCall {
                id: call.id,
                name: call.name,
                arguments: call.arguments_json,
            }),
            Ok(Some(pb::ChatEvent {
                event: Some(Event::Done(done)),
            })) => {
                for attempt in &done.failed_attempts {
                    tracing::info!(model = %attempt.model, reason = %attempt.reason, "fell back from model");
                }
                let usage = done.usage.unwrap_or_default();
                return TurnOutcome::Answered {
                    content,
                    tool_calls,
                    model: done.model,
                    finish_reason: done.finish_reason,
                    usage: Usage {
                        prompt_tokens: usage.prompt_tokens,
                        completion_tokens: usage.completion_tokens,
                    },
                };
            }
            Ok(Some(pb::ChatEvent { event: None })) => {}
            Ok(None) => {
                return TurnOutcome::Failed {
                    code: ErrorCode::ProviderUnavailable,
                    message: "the llm-router ended the stream without an answer".to_owned(),
                };
            }
            Err(status) => return failure_from_status(&status),
        }
    }
}

fn failure_from_status(status: &tonic::Status) -> TurnOutcome {
    use prost::Message as _;
    use tonic::Code;
    // The router puts a typed ChatFailure in the details; the status code is the fallback for
    // anything else that can fail a gRPC call (transport, router down).
    let failure = pb::ChatFailure::decode(status.details()).ok();
    let kind = failure
        .as_ref()
        .and_then(|f| pb::ErrorKind::try_from(f.kind).ok());
    let code = match (kind, status.code()) {
        (Some(pb::ErrorKind::ContextOverflow), _) => ErrorCode::ContextOverflow,
        (Some(pb::ErrorKind::BadRequest), _) => ErrorCode::BadRequest,
        (Some(pb::ErrorKind::Auth | pb::ErrorKind::QuotaExhausted), _) => {
            ErrorCode::ProviderRejected
        }
        (Some(pb::ErrorKind::Timeout), _) => ErrorCode::Timeout,
        (Some(_), _) => ErrorCode::ProviderUnavailable,
        (None, code) => match code {
            Code::InvalidArgument => ErrorCode::BadRequest,
            Code::PermissionDenied | Code::Unauthenticated | Code::ResourceExhausted => {
                ErrorCode::ProviderRejected
            }
            Code::DeadlineExceeded => ErrorCode::Timeout,
            _ => ErrorCode::ProviderUnavailable,
        },
    };
    let message = if status.message().is_empty() {
        format!("llm-router unavailable ({})", status.code())
    } else {
        status.message().to_owned()
    };
    tracing::warn!(?code, %message, "model call failed");
    TurnOutcome::Failed { code, message }
}

async fn announce(context: &TurnContext, request: &TurnRequest, outcome: &TurnOutcome) {
    let event = match outcome.clone() {
        TurnOutcome::Answered {
            content,
            tool_calls,
            model,
            finish_reason,
            usage,
        } => RunEvent::Done {
            content,
            tool_calls,
            model,
            finish_reason,
            usage,
        },
        TurnOutcome::Failed { code, message } => RunEvent::Error { code, message },
    };
    publish(context, &request.reply_subject, &event).await;
}

/// Live events are best effort (core NATS): the outcome is already stored when the final one goes out.
async fn publish(context: &TurnContext, subject: &str, event: &RunEvent) {
    let payload = match serde_json::to_vec(event) {
        Ok(payload) => Bytes::from(payload),
        Err(error) => {
            tracing::error!(%error, "cannot encode run event");
            return;
        }
    };
    if let Err(error) = context
        .client
        .publish_with_headers(
            subject.to_owned(),
            pincer_bus::headers::with_trace_context(),
            payload,
        )
        .await
    {
        tracing::warn!(%error, "cannot publish run event");
    }
}
