//! One turn, from a JetStream message to an answer.
//!
//! Order of effects, chosen so nothing is lost or done twice:
//! 1. take the session lease (another replica holding it → ask for redelivery later);
//! 2. load the transcript; if this turn id is already recorded, re-announce its outcome and ack;
//! 3. run a session command, or the agent loop (model calls and tools), relaying deltas live;
//! 4. store the outcome (answer or failure, with the user's messages and tool steps either way);
//! 5. announce the outcome, release the lease; the caller acks the message only after this returns
//!    `Finished`.

use std::sync::Arc;
use std::time::Duration;

use pincer_bus::Namespace;
use pincer_bus::messages::{ChatMessage, ErrorCode, RunEvent, TurnRequest};

use crate::agent_loop::{self, LoopInput, LoopResult};
use crate::agents::AgentSet;
use crate::commands;
use crate::compaction::Windows;
use crate::model_call::LiveSink;
use crate::router::RouterClient;
use crate::sessions::{Loaded, SessionStore, TurnOutcome};

/// Shared state of every turn in this replica.
#[derive(Clone, Debug)]
pub struct TurnContext {
    /// NATS client for live events.
    pub client: async_nats::Client,
    /// Subject names.
    pub namespace: Namespace,
    /// The agents, with their workspaces and tools.
    pub agents: Arc<AgentSet>,
    /// Transcripts and leases.
    pub sessions: SessionStore,
    /// llm-router client.
    pub router: RouterClient,
    /// Context windows from the router's catalogue.
    pub windows: Arc<Windows>,
    /// Attachments waiting to be saved in a workspace.
    pub media: Option<crate::attachments::Media>,
    /// This replica's identity, written into leases.
    pub runner_id: String,
    /// Daily usage totals (`None` when the bucket could not be opened: turns still run).
    pub usage: Option<async_nats::jetstream::kv::Store>,
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
    // Attachments are saved in the agent's workspace first: the model sees their paths.
    let prepared;
    let request = if request.messages.iter().any(|m| !m.attachments.is_empty()) {
        let agent = context.agents.get(&request.agent_id).ok();
        prepared = TurnRequest {
            messages: crate::attachments::materialize(
                context.media.as_ref(),
                agent.as_ref().map(|a| a.tools.workspace()),
                &request.messages,
            )
            .await,
            ..request.clone()
        };
        &prepared
    } else {
        request
    };
    let live = request.live_deltas.then(|| LiveSink {
        client: context.client.clone(),
        subject: request.reply_subject.clone(),
    });
    if let Some(live) = &live {
        live.publish(&RunEvent::Started).await;
    }
    if !request.persist {
        let result = abortable(
            context,
            request,
            run_agent(context, request, &[], None, live.as_ref()),
        )
        .await;
        record_usage(context, &result.outcome).await;
        announce(context, request, &result.outcome).await;
        return delivered(context, request, &result.outcome).await;
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

    let mut loaded = match context.sessions.load(&request.session_key).await {
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
        return delivered(context, request, &outcome).await;
    }

    let result = if let Some(command) = commands::parse(&request.messages) {
        let reply = match context.agents.get(&request.agent_id) {
            Ok(agent) => commands::apply(&command, &mut loaded.transcript, &agent.resolved),
            Err(error) => error.to_string(),
        };
        LoopResult {
            outcome: TurnOutcome::Command { reply },
            compacted: None,
        }
    } else {
        let work = abortable(
            context,
            request,
            run_agent(
                context,
                request,
                &loaded.transcript.messages,
                loaded.transcript.model_override.clone(),
                live.as_ref(),
            ),
        );
        tokio::pin!(work);
        // Keep the lease alive for long runs.
        let mut refresh = tokio::time::interval(context.sessions.lease_refresh_interval());
        refresh.tick().await;
        loop {
            tokio::select! {
                result = &mut work => break result,
                _ = refresh.tick() => {
                    if let Err(error) = context.sessions.refresh_lease(&mut lease, &context.runner_id).await {
                        tracing::warn!(%error, "lease refresh failed");
                    }
                }
            }
        }
    };
    let mut outcome = result.outcome;
    if let Some(reason) = &loaded.damaged {
        prepend_notice(
            &mut outcome,
            &format!(
                "(The earlier history of this conversation could not be read and was set aside: {reason}. Starting fresh.)\n\n"
            ),
        );
    }

    let stored = store(context, request, loaded, outcome.clone(), result.compacted).await;
    if stored {
        // The outcome is durable: answer first, then give the lease back (off the client's path).
        announce(context, request, &outcome).await;
        record_usage(context, &outcome).await;
    }
    context.sessions.release_lease(lease).await;
    if stored {
        delivered(context, request, &outcome).await
    } else {
        Disposition::RetryLater(Duration::from_secs(1))
    }
}

/// Puts the answer of a channel turn on the channel's outbound stream (idempotent by turn id), so
/// it reaches the chat even if nobody watches the live events. Not done → the turn comes back and
/// is answered from its record.
async fn delivered(
    context: &TurnContext,
    request: &TurnRequest,
    outcome: &TurnOutcome,
) -> Disposition {
    let Some(to) = &request.deliver else {
        return Disposition::Finished;
    };
    let (text, failed) = match outcome {
        TurnOutcome::Answered { content, .. } => (content.clone(), false),
        TurnOutcome::Command { reply } => (reply.clone(), false),
        TurnOutcome::Failed { message, .. } => {
            (format!("Sorry, I could not answer: {message}"), true)
        }
    };
    let message = pincer_bus::messages::OutboundMessage {
        turn_id: request.turn_id.clone(),
        to: to.clone(),
        text,
        failed,
    };
    let js = async_nats::jetstream::new(context.client.clone());
    let subject = context.namespace.channel_outbound(&to.channel);
    let id = format!("reply-{}", request.turn_id);
    match pincer_bus::publish::durable_json(&js, subject, &id, &message).await {
        Ok(_) => Disposition::Finished,
        // Cannot happen for this plain struct; retrying would not help either.
        Err(error @ pincer_bus::Error::Payload { .. }) => {
            tracing::error!(%error, "channel reply cannot be encoded");
            Disposition::Finished
        }
        Err(error) => {
            tracing::warn!(%error, "channel reply not stored; the turn comes back");
            Disposition::RetryLater(Duration::from_secs(1))
        }
    }
}

/// Runs `work` unless an abort for this turn arrives first (`chat.abort`, published on the turn's
/// abort subject); an aborted run keeps the user's message in the history, like a failed one.
async fn abortable(
    context: &TurnContext,
    request: &TurnRequest,
    work: impl std::future::Future<Output = LoopResult>,
) -> LoopResult {
    let subject = context.namespace.run_abort(&request.turn_id);
    let mut aborts = match context.client.subscribe(subject).await {
        Ok(subscriber) => subscriber,
        Err(error) => {
            tracing::warn!(%error, "cannot listen for aborts; the run cannot be stopped");
            return work.await;
        }
    };
    tokio::select! {
        result = work => result,
        Some(_) = futures::StreamExt::next(&mut aborts) => {
            tracing::info!("run aborted by an operator");
            LoopResult {
                outcome: TurnOutcome::failed(ErrorCode::Aborted, "the run was aborted"),
                compacted: None,
            }
        }
    }
}

/// Adds an answered turn to the day's usage totals (best effort: a failure is logged).
async fn record_usage(context: &TurnContext, outcome: &TurnOutcome) {
    let (Some(store), TurnOutcome::Answered { model, usage, .. }) = (&context.usage, outcome)
    else {
        return;
    };
    let now = pincer_clock::now_ms();
    if let Err(error) = pincer_store::usage::record(store, now, model, usage).await {
        tracing::warn!(%error, "usage not recorded");
    }
}

async fn run_agent(
    context: &TurnContext,
    request: &TurnRequest,
    history: &[ChatMessage],
    model_override: Option<String>,
    live: Option<&LiveSink>,
) -> LoopResult {
    let agent = match context.agents.get(&request.agent_id) {
        Ok(agent) => agent,
        Err(error) => {
            return LoopResult {
                outcome: TurnOutcome::failed(ErrorCode::BadRequest, error.to_string()),
                compacted: None,
            };
        }
    };
    let model = model_override.unwrap_or_else(|| agent.resolved.primary.clone());
    agent_loop::run(
        &agent,
        LoopInput {
            router: &context.router,
            windows: &context.windows,
            live,
            history,
            new_messages: &request.messages,
            model: &model,
            session_key: &request.session_key,
        },
    )
    .await
}

fn prepend_notice(outcome: &mut TurnOutcome, notice: &str) {
    match outcome {
        TurnOutcome::Answered { content, .. } => content.insert_str(0, notice),
        TurnOutcome::Failed { message, .. } => message.insert_str(0, notice),
        TurnOutcome::Command { reply } => reply.insert_str(0, notice),
    }
}

async fn store(
    context: &TurnContext,
    request: &TurnRequest,
    mut loaded: Loaded,
    outcome: TurnOutcome,
    compacted: Option<Vec<ChatMessage>>,
) -> bool {
    let summarised_len = loaded.transcript.messages.len();
    for _ in 0..SAVE_ATTEMPTS {
        if loaded.transcript.outcome_of(&request.turn_id).is_some() {
            // A concurrent writer already stored this very turn.
            return true;
        }
        if let Some(history) = &compacted
            && loaded.transcript.messages.len() >= summarised_len
        {
            // Replace what was summarised; keep anything appended since it was read.
            let newer = loaded.transcript.messages.split_off(summarised_len);
            loaded.transcript.messages = history.clone();
            loaded.transcript.messages.extend(newer);
            loaded.transcript.compactions += 1;
        }
        loaded
            .transcript
            .record(&request.turn_id, &request.messages, outcome.clone());
        loaded
            .transcript
            .session_key
            .clone_from(&request.session_key);
        loaded.transcript.agent_id.clone_from(&request.agent_id);
        loaded.transcript.updated_ms = pincer_clock::now_ms();
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

async fn announce(context: &TurnContext, request: &TurnRequest, outcome: &TurnOutcome) {
    let event = match outcome.clone() {
        TurnOutcome::Answered {
            content,
            tool_calls,
            model,
            finish_reason,
            usage,
            ..
        } => RunEvent::Done {
            content,
            tool_calls,
            model,
            finish_reason,
            usage,
        },
        TurnOutcome::Command { reply } => RunEvent::Done {
            content: reply,
            tool_calls: Vec::new(),
            model: "pincer/command".to_owned(),
            finish_reason: "stop".to_owned(),
            usage: Default::default(),
        },
        TurnOutcome::Failed { code, message, .. } => RunEvent::Error { code, message },
    };
    LiveSink {
        client: context.client.clone(),
        subject: request.reply_subject.clone(),
    }
    .publish(&event)
    .await;
}
