//! One turn, from a JetStream message to an answer.
//!
//! Order of effects, chosen so nothing is lost or done twice:
//! 1. take the session lease (another replica holding it → ask for redelivery later);
//! 2. load the transcript; if this turn id is already recorded, re-announce its outcome and ack;
//! 3. run a session command, or the agent loop (model calls and tools), relaying deltas live;
//! 4. store the outcome (answer or failure, with the user's messages and tool steps either way);
//! 5. announce the outcome, release the lease; the caller acks the message only after this returns
//!    `Finished`.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use pincer_bus::Namespace;
use pincer_bus::messages::{ChatMessage, ErrorCode, RunEvent, TurnRequest};

use crate::agent_loop::{self, LoopInput, LoopResult};
use crate::agents::AgentSet;
use crate::commands;
use crate::compaction::Windows;
use crate::heartbeat;
use crate::model_call::LiveSink;
use crate::router::RouterClient;
use crate::sessions::{Lease, Loaded, SessionStore, TurnOutcome};

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
    pub usage: Option<crate::usage_recorder::UsageRecorder>,
    /// The aborts this runner hears (`chat.abort`).
    pub aborts: crate::aborts::Aborts,
    /// Scheduled jobs, for the `cron` tool (`None` when the bucket could not be opened).
    pub cron: Option<pincer_cron::JobStore>,
    /// This replica's metrics.
    pub metrics: crate::metrics::Metrics,
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
    let taken = std::time::Instant::now();
    let request = with_attachments_saved(context, request).await;
    let request = match with_heartbeat_tasks(context, request) {
        Ok(request) => request,
        Err(skipped) => return heartbeat_skipped(context, &skipped).await,
    };
    let request = request.as_ref();
    let live = request
        .live_deltas
        .then(|| LiveSink::new(context.client.clone(), request.reply_subject.clone()));
    if !request.persist {
        if let Some(live) = &live {
            live.publish(&RunEvent::Started).await;
        }
        return one_off(context, request, live.as_ref(), taken).await;
    }

    let mut lease = match take_lease(context, &request.session_key).await {
        Ok(lease) => lease,
        Err(later) => return later,
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
    // Announced once this replica holds the session and the turn is to run here: a replica that
    // finds the session busy says nothing, so a retry (the same Idempotency-Key) that joins a
    // run under way never hears a start it did not see from the beginning.
    if let Some(live) = &live {
        live.publish(&RunEvent::Started).await;
    }

    let result = if request.record_only {
        LoopResult::of(TurnOutcome::Command {
            reply: String::new(),
        })
    } else if let Some(command) = commands::parse(&request.messages) {
        let reply = match context.agents.get(&request.agent_id) {
            Ok(agent) => commands::apply(&command, &mut loaded.transcript, &agent.resolved),
            Err(error) => error.to_string(),
        };
        LoopResult::of(TurnOutcome::Command { reply })
    } else {
        let work = run_agent(
            context,
            request,
            loaded.transcript.history_before(&request.messages),
            SessionChoices {
                model: loaded.transcript.model_override.clone(),
                thinking: loaded.transcript.thinking_override.clone(),
            },
            live.as_ref(),
        );
        holding_lease(context, &mut lease, abortable(context, request, work)).await
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
        // The outcome is durable: count it (whoever sees the answer sees it counted), answer,
        // then give the lease back (off the client's path).
        record_metrics(context, request, &outcome, taken.elapsed());
        record_usage(context, &outcome).await;
        announce(context, request, &outcome).await;
    }
    context.sessions.release_lease(lease).await;
    if stored {
        delivered(context, request, &outcome).await
    } else {
        Disposition::RetryLater(Duration::from_secs(1))
    }
}

/// The request with its attachments saved in the agent's workspace (the model sees their paths),
/// or as it is when it carries none.
async fn with_attachments_saved<'r>(
    context: &TurnContext,
    request: &'r TurnRequest,
) -> Cow<'r, TurnRequest> {
    if request.messages.iter().all(|m| m.attachments.is_empty()) {
        return Cow::Borrowed(request);
    }
    let agent = context.agents.get(&request.agent_id).ok();
    let messages = crate::attachments::materialize(
        context.media.as_ref(),
        agent.as_ref().map(|a| a.tools.workspace()),
        &request.messages,
    )
    .await;
    Cow::Owned(TurnRequest {
        messages,
        ..request.clone()
    })
}

/// A heartbeat with the agent's `HEARTBEAT.md` in its message; `Err` (the request back) when the
/// file asks for nothing and the turn is not run. Other turns as they are.
#[allow(clippy::result_large_err)]
fn with_heartbeat_tasks<'r>(
    context: &TurnContext,
    request: Cow<'r, TurnRequest>,
) -> Result<Cow<'r, TurnRequest>, Cow<'r, TurnRequest>> {
    if request.source != heartbeat::SOURCE {
        return Ok(request);
    }
    // An unknown agent is run as usual, to fail with the reason.
    let Ok(agent) = context.agents.get(&request.agent_id) else {
        return Ok(request);
    };
    let Some(tasks) = heartbeat::tasks(agent.tools.workspace()) else {
        return Err(request);
    };
    let mut with_tasks = request.into_owned();
    for message in &mut with_tasks.messages {
        message.content = heartbeat::message(&message.content, &tasks);
    }
    Ok(Cow::Owned(with_tasks))
}

/// A heartbeat not run: the scheduler hears why; nothing is stored or delivered.
async fn heartbeat_skipped(context: &TurnContext, request: &TurnRequest) -> Disposition {
    tracing::info!(agent = %request.agent_id, "heartbeat skipped: HEARTBEAT.md asks for nothing");
    LiveSink::new(context.client.clone(), request.reply_subject.clone())
        .publish(&RunEvent::Done {
            content: String::new(),
            tool_calls: Vec::new(),
            model: "pincer/heartbeat".to_owned(),
            finish_reason: pincer_bus::messages::HEARTBEAT_SKIPPED.to_owned(),
            usage: Default::default(),
        })
        .await;
    Disposition::Finished
}

/// A turn that keeps no history (an OpenAI request without a session): run, count, answer.
async fn one_off(
    context: &TurnContext,
    request: &TurnRequest,
    live: Option<&LiveSink>,
    taken: std::time::Instant,
) -> Disposition {
    let work = run_agent(context, request, &[], SessionChoices::default(), live);
    let result = abortable(context, request, work).await;
    record_metrics(context, request, &result.outcome, taken.elapsed());
    record_usage(context, &result.outcome).await;
    announce(context, request, &result.outcome).await;
    delivered(context, request, &result.outcome).await
}

/// The session's lease, or when to try again: another replica runs a turn of this session, or the
/// lease bucket cannot be reached.
async fn take_lease(context: &TurnContext, session_key: &str) -> Result<Lease, Disposition> {
    match context
        .sessions
        .acquire_lease(session_key, &context.runner_id)
        .await
    {
        Ok(Some(lease)) => Ok(lease),
        Ok(None) => {
            tracing::debug!("session busy in another replica, retrying later");
            Err(Disposition::RetryLater(Duration::from_millis(250)))
        }
        Err(error) => {
            tracing::warn!(%error, "cannot take the session lease");
            Err(Disposition::RetryLater(Duration::from_secs(1)))
        }
    }
}

/// Runs `work` while refreshing `lease`, so a long run keeps its session.
async fn holding_lease(
    context: &TurnContext,
    lease: &mut Lease,
    work: impl std::future::Future<Output = LoopResult>,
) -> LoopResult {
    tokio::pin!(work);
    // The first refresh is one period away. (`interval`'s immediate first tick is not immediate:
    // it waits for the timer's next millisecond, which was a third of a turn's overhead.)
    let every = context.sessions.lease_refresh_interval();
    let mut refresh = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            result = &mut work => return result,
            _ = refresh.tick() => {
                if let Err(error) = context.sessions.refresh_lease(lease, &context.runner_id).await {
                    tracing::warn!(%error, "lease refresh failed");
                }
            }
        }
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
    // A heartbeat speaks up only when something needs attention.
    if request.source == heartbeat::SOURCE
        && match outcome {
            TurnOutcome::Answered { content, .. } => heartbeat::is_ack(content),
            TurnOutcome::Failed { .. } => true,
            TurnOutcome::Command { .. } => false,
        }
    {
        return Disposition::Finished;
    }
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
    let mut watch = context
        .aborts
        .watch(&context.namespace.run_abort(&request.turn_id));
    tokio::select! {
        result = work => result,
        () = watch.aborted() => {
            tracing::info!("run aborted by an operator");
            LoopResult::of(TurnOutcome::failed(ErrorCode::Aborted, "the run was aborted"))
        }
    }
}

/// How long an answer waits for its usage to be written (best effort: it is answered anyway).
const USAGE_PATIENCE: Duration = Duration::from_secs(1);

/// Adds an answered turn to the day's usage totals and waits for the write that carries it (shared
/// with the turns answered meanwhile), so a client that asks for usage once answered sees the turn.
async fn record_usage(context: &TurnContext, outcome: &TurnOutcome) {
    if let (Some(recorder), TurnOutcome::Answered { model, usage, .. }) = (&context.usage, outcome)
    {
        recorder
            .add(pincer_clock::now_ms(), model, usage)
            .written(USAGE_PATIENCE)
            .await;
    }
}

/// What a session chose for itself (`/model`, `/think`).
#[derive(Default)]
struct SessionChoices {
    model: Option<String>,
    thinking: Option<String>,
}

async fn run_agent(
    context: &TurnContext,
    request: &TurnRequest,
    history: &[ChatMessage],
    session: SessionChoices,
    live: Option<&LiveSink>,
) -> LoopResult {
    let agent = match context.agents.get(&request.agent_id) {
        Ok(agent) => agent,
        Err(error) => {
            return LoopResult::of(TurnOutcome::failed(
                ErrorCode::BadRequest,
                error.to_string(),
            ));
        }
    };
    let model = request
        .model
        .clone()
        .or(session.model)
        .unwrap_or_else(|| agent.resolved.primary.clone());
    // The message's own level, then the session's `/think`, then the agent's default.
    let thinking = [request.thinking.as_deref(), session.thinking.as_deref()]
        .into_iter()
        .flatten()
        .find_map(pincer_config::ThinkingLevel::parse)
        .or(agent.resolved.thinking);
    agent_loop::run(
        &agent,
        LoopInput {
            router: &context.router,
            windows: &context.windows,
            live,
            history,
            new_messages: &request.messages,
            model: &model,
            thinking,
            sampling: request.sampling.clone(),
            session_key: &request.session_key,
            tools: crate::tools::CallContext {
                turn: Some((context, request)),
                ..Default::default()
            },
            client_tools: &request.client_tools,
            timeout: request.timeout_secs.map(Duration::from_secs),
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
        if request.record_only {
            loaded.transcript.note(&request.turn_id, &request.messages);
        } else {
            loaded
                .transcript
                .record(&request.turn_id, &request.messages, outcome.clone());
        }
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

/// Counts an outcome once it is stored or announced (a redelivered turn answered from its record
/// is not counted again).
fn record_metrics(
    context: &TurnContext,
    request: &TurnRequest,
    outcome: &TurnOutcome,
    took: Duration,
) {
    // Only configured agents become label values: a turn for an unknown one is still counted.
    let agent = if context.agents.get(&request.agent_id).is_ok() {
        request.agent_id.as_str()
    } else {
        "unknown"
    };
    let label = match outcome {
        TurnOutcome::Answered { .. } => "answered",
        TurnOutcome::Command { .. } => "command",
        TurnOutcome::Failed { code, .. } => code.as_str(),
    };
    context.metrics.turn(agent, label, took);
}

/// The final event's text: what every model call of the turn said, in order, as a streaming
/// client received it (each call's text a paragraph of its own), so that a client that does not
/// stream reads the same answer.
fn spoken(steps: &[ChatMessage], content: &str) -> String {
    steps
        .iter()
        .filter(|step| step.role == pincer_bus::messages::Role::Assistant)
        .map(|step| step.content.as_str())
        .chain(std::iter::once(content))
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join(crate::model_call::STEP_SEPARATOR)
}

async fn announce(context: &TurnContext, request: &TurnRequest, outcome: &TurnOutcome) {
    let event = match outcome.clone() {
        TurnOutcome::Answered {
            content,
            tool_calls,
            model,
            finish_reason,
            usage,
            steps,
        } => RunEvent::Done {
            // The answer alone where it must stand alone: JSON a caller asked for, and a
            // sub-agent's result, which its parent reads as a tool result.
            content: if request.sampling.response_format.is_some() || request.spawn_depth > 0 {
                content
            } else {
                spoken(&steps, &content)
            },
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
    LiveSink::new(context.client.clone(), request.reply_subject.clone())
        .publish(&event)
        .await;
}

#[cfg(test)]
mod tests {
    use pincer_bus::messages::{Delivery, OutboundMessage};

    use super::*;
    use crate::scripted_router::Answer;
    use crate::test_bus::{TestBus, next_event};

    fn done_content(event: RunEvent) -> String {
        match event {
            RunEvent::Done { content, .. } => content,
            other => panic!("expected done, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_turn_is_stored_then_announced_and_a_redelivery_is_answered_from_the_record() {
        let bus = TestBus::start(vec![Answer::text("Hello!")]).await;
        let turn = bus.turn("turn-1", "agent:main:test:a", "hi");
        let mut events = bus.events(&turn).await;

        assert_eq!(execute(&bus.context, &turn).await, Disposition::Finished);
        assert_eq!(done_content(next_event(&mut events).await), "Hello!");
        let transcript = bus.transcript(&turn.session_key).await;
        let contents: Vec<_> = transcript
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(contents, ["hi", "Hello!"]);
        assert_eq!(transcript.agent_id, "main");

        // The same turn again (a redelivery after a lost ack): the record answers, not the model.
        assert_eq!(execute(&bus.context, &turn).await, Disposition::Finished);
        assert_eq!(done_content(next_event(&mut events).await), "Hello!");
        assert_eq!(bus.router.requests().len(), 1, "the model was called once");
        assert_eq!(bus.transcript(&turn.session_key).await.messages.len(), 2);
    }

    /// A client that does not stream reads what a streaming one did: each step's text, also
    /// when the turn is answered again from its record (a retry, a redelivery).
    #[tokio::test]
    async fn the_final_event_says_what_every_step_said() {
        let bus = TestBus::start(vec![
            Answer::Reply {
                text: "Let me look.".to_owned(),
                calls: vec![("no_such_tool".to_owned(), "{}".to_owned())],
            },
            Answer::call("no_such_tool", "{}"),
            Answer::text("Nothing there."),
        ])
        .await;
        let mut turn = bus.turn("steps-1", "agent:main:test:steps", "look around");
        turn.live_deltas = true;
        let mut events = bus.events(&turn).await;

        execute(&bus.context, &turn).await;

        let mut streamed = String::new();
        let done = loop {
            match next_event(&mut events).await {
                RunEvent::Delta { text } => streamed.push_str(&text),
                RunEvent::Started => {}
                other => break done_content(other),
            }
        };
        assert_eq!(done, "Let me look.\n\nNothing there.");
        assert_eq!(done, streamed);
        execute(&bus.context, &turn).await;
        let replayed = loop {
            if let RunEvent::Done { content, .. } = next_event(&mut events).await {
                break content;
            }
        };
        assert_eq!(replayed, done, "the record says it all again");
        assert_eq!(bus.router.requests().len(), 3, "answered from the record");
        let transcript = bus.transcript(&turn.session_key).await;
        assert_eq!(
            transcript.messages.last().map(|m| m.content.as_str()),
            Some("Nothing there."),
            "the history keeps each step apart"
        );
    }

    #[tokio::test]
    async fn the_next_turn_sees_the_history_of_the_session() {
        let bus = TestBus::start(vec![Answer::text("one"), Answer::text("two")]).await;
        let session = "agent:main:test:history";

        execute(&bus.context, &bus.turn("t1", session, "first")).await;
        execute(&bus.context, &bus.turn("t2", session, "second")).await;

        let second = &bus.router.requests()[1];
        let contents: Vec<_> = second.messages[1..]
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(contents, ["first", "one", "second"]);
    }

    #[tokio::test]
    async fn a_command_is_answered_without_the_model_and_kept_out_of_the_history() {
        let bus = TestBus::start(vec![]).await;
        let turn = bus.turn("cmd-1", "agent:main:test:cmd", "/status");
        let mut events = bus.events(&turn).await;

        assert_eq!(execute(&bus.context, &turn).await, Disposition::Finished);

        assert!(!done_content(next_event(&mut events).await).is_empty());
        assert!(bus.router.requests().is_empty());
        assert!(bus.transcript(&turn.session_key).await.messages.is_empty());
    }

    #[tokio::test]
    async fn a_session_leased_by_another_replica_is_tried_again_later() {
        let bus = TestBus::start(vec![Answer::text("late")]).await;
        let turn = bus.turn("busy-1", "agent:main:test:busy", "hi");
        let other = bus
            .context
            .sessions
            .acquire_lease(&turn.session_key, "another-replica")
            .await
            .expect("kv")
            .expect("free lease");

        assert!(matches!(
            execute(&bus.context, &turn).await,
            Disposition::RetryLater(_)
        ));
        assert!(bus.router.requests().is_empty(), "nothing ran");

        bus.context.sessions.release_lease(other).await;
        assert_eq!(execute(&bus.context, &turn).await, Disposition::Finished);
    }

    #[tokio::test]
    async fn a_failed_turn_keeps_the_users_message_and_says_why() {
        let bus = TestBus::start(vec![Answer::Fail(pincer_proto::llm::v1::ErrorKind::Auth)]).await;
        let turn = bus.turn("fail-1", "agent:main:test:fail", "are you there?");
        let mut events = bus.events(&turn).await;

        assert_eq!(execute(&bus.context, &turn).await, Disposition::Finished);

        assert!(matches!(
            next_event(&mut events).await,
            RunEvent::Error {
                code: ErrorCode::ProviderRejected,
                ..
            }
        ));
        let transcript = bus.transcript(&turn.session_key).await;
        assert_eq!(transcript.messages[0].content, "are you there?");
        assert!(matches!(
            transcript.outcome_of("fail-1"),
            Some(TurnOutcome::Failed { .. })
        ));
    }

    /// An OpenAI SDK retries a 502 by itself, with the same message: the session asks it once.
    #[tokio::test]
    async fn a_failed_message_sent_again_is_asked_and_kept_once() {
        let bus = TestBus::start(vec![
            Answer::Fail(pincer_proto::llm::v1::ErrorKind::Upstream),
            Answer::text("here"),
        ])
        .await;
        let session = "agent:main:test:retry";

        execute(&bus.context, &bus.turn("try-1", session, "are you there?")).await;
        execute(&bus.context, &bus.turn("try-2", session, "are you there?")).await;

        let asked: Vec<_> = bus.router.requests()[1].messages[1..]
            .iter()
            .map(|m| m.content.clone())
            .collect();
        assert_eq!(asked, ["are you there?"]);
        let transcript = bus.transcript(session).await;
        let kept: Vec<_> = transcript
            .messages
            .iter()
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(kept, ["are you there?", "here"]);
    }

    /// A wake event for the next heartbeat: kept in the session, read by its next run.
    #[tokio::test]
    async fn a_record_only_turn_calls_no_model_and_the_next_run_reads_it() {
        let bus = TestBus::start(vec![Answer::text("noted the deploy")]).await;
        let session = "agent:main:main";
        let mut note = bus.turn("wake-1", session, "[wake] the deploy finished");
        note.record_only = true;
        let mut events = bus.events(&note).await;

        assert_eq!(execute(&bus.context, &note).await, Disposition::Finished);
        assert_eq!(done_content(next_event(&mut events).await), "");
        assert!(bus.router.requests().is_empty(), "no model call");
        // Redelivered: answered from the record, not kept twice.
        assert_eq!(execute(&bus.context, &note).await, Disposition::Finished);
        assert_eq!(bus.transcript(session).await.messages.len(), 1);

        execute(&bus.context, &bus.turn("t-2", session, "anything new?")).await;
        let asked: Vec<_> = bus.router.requests()[0].messages[1..]
            .iter()
            .map(|m| m.content.clone())
            .collect();
        assert_eq!(asked, ["[wake] the deploy finished", "anything new?"]);
    }

    /// A hook's `timeoutSeconds` is the run's limit instead of the agent's.
    #[tokio::test]
    async fn a_turns_own_time_limit_ends_its_run() {
        let bus = TestBus::start(vec![Answer::Slow {
            after: Duration::from_secs(30),
            text: "too late".to_owned(),
        }])
        .await;
        let mut turn = bus.turn("slow-1", "agent:main:hook:slow", "take your time");
        turn.timeout_secs = Some(1);
        let mut events = bus.events(&turn).await;

        let ran = tokio::time::timeout(Duration::from_secs(20), execute(&bus.context, &turn))
            .await
            .expect("the run ends at its own limit, long before the agent's");
        assert_eq!(ran, Disposition::Finished);
        match next_event(&mut events).await {
            RunEvent::Error { code, message } => {
                assert_eq!(code, ErrorCode::Timeout);
                assert!(
                    message.contains("1s (the caller's timeoutSeconds)"),
                    "{message}"
                );
            }
            other => panic!("expected the time limit, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_channel_turns_answer_is_put_on_the_outbound_stream_once() {
        let bus = TestBus::start(vec![Answer::text("Hi from the bot")]).await;
        let mut turn = bus.turn("chan-1", "agent:main:telegram:dm:42", "hi");
        turn.deliver = Some(Delivery {
            channel: "telegram".to_owned(),
            account: "default".to_owned(),
            chat_id: "42".to_owned(),
            thread_id: None,
            reply_to_message_id: Some("7".to_owned()),
        });

        assert_eq!(execute(&bus.context, &turn).await, Disposition::Finished);
        // A redelivery publishes the reply again, under the same message id.
        assert_eq!(execute(&bus.context, &turn).await, Disposition::Finished);

        let mut stream = bus
            .js
            .get_stream(bus.context.namespace.channel_outbound_stream())
            .await
            .expect("outbound stream");
        assert_eq!(
            stream.info().await.expect("info").state.messages,
            1,
            "deduplicated"
        );
        let stored = stream
            .get_last_raw_message_by_subject(&bus.context.namespace.channel_outbound("telegram"))
            .await
            .expect("the reply");
        let reply: OutboundMessage = serde_json::from_slice(&stored.payload).expect("outbound");
        assert_eq!(reply.text, "Hi from the bot");
        assert_eq!(reply.to.chat_id, "42");
        assert!(!reply.failed);
    }

    #[tokio::test]
    async fn an_abort_ends_a_running_turn_and_the_message_stays() {
        let bus = TestBus::start(vec![Answer::Hang]).await;
        let turn = bus.turn("abort-1", "agent:main:test:abort", "think long");
        let mut events = bus.events(&turn).await;
        let running = tokio::spawn({
            let context = bus.context.clone();
            let turn = turn.clone();
            async move { execute(&context, &turn).await }
        });
        pincer_test_support::eventually("the model call", Duration::from_secs(10), || async {
            (!bus.router.requests().is_empty()).then_some(())
        })
        .await;

        bus.context
            .client
            .publish(
                bus.context.namespace.run_abort(&turn.turn_id),
                "stop".into(),
            )
            .await
            .expect("publish");

        assert_eq!(running.await.expect("task"), Disposition::Finished);
        assert!(matches!(
            next_event(&mut events).await,
            RunEvent::Error {
                code: ErrorCode::Aborted,
                ..
            }
        ));
        let transcript = bus.transcript(&turn.session_key).await;
        assert_eq!(transcript.messages[0].content, "think long");
    }

    #[tokio::test]
    async fn a_one_off_turn_answers_and_stores_nothing() {
        let bus = TestBus::start(vec![Answer::text("once")]).await;
        let mut turn = bus.turn("oneoff-1", "agent:main:test:oneoff", "hi");
        turn.persist = false;
        turn.live_deltas = true;
        let mut events = bus.events(&turn).await;

        assert_eq!(execute(&bus.context, &turn).await, Disposition::Finished);

        assert!(matches!(next_event(&mut events).await, RunEvent::Started));
        let mut text = String::new();
        let content = loop {
            match next_event(&mut events).await {
                RunEvent::Delta { text: delta } => text.push_str(&delta),
                other => break done_content(other),
            }
        };
        assert_eq!((text.as_str(), content.as_str()), ("once", "once"));
        assert!(bus.transcript(&turn.session_key).await.messages.is_empty());
    }
}
