//! The agent loop of one turn: call the model with the agent's tools, run the tool calls it makes,
//! feed the results back, until it answers, `maxIterations` is reached or the run's time is up.
//! Each of those ends says so to the user; a turn never ends in silence.
//!
//! One iteration: build the prompt, compact the history first if it no longer fits the model's
//! window ([`Run::fits`]), call the model ([`Run::call_model`], which compacts once more when the
//! provider says the window was overrun), then run the tool calls of the reply
//! ([`Run::run_tools`]) or finish with it.

use std::borrow::Cow;
use std::time::Instant;

use pincer_bus::messages::{ChatMessage, ClientTool, ErrorCode, Role, ToolCall, Usage};
use pincer_proto::llm::v1 as pb;

use crate::agents::Agent;
use crate::compaction::{self, Windows};
use crate::context_limit;
use crate::loop_guard::{LoopGuard, Verdict};
use crate::model_call::{self, Failure, LiveSink, Reply};
use crate::prompt;
use crate::router::RouterClient;
use crate::sessions::TurnOutcome;

/// A router timeout this close to the run's deadline is the run's time running out.
const DEADLINE_SLACK: std::time::Duration = std::time::Duration::from_millis(500);

/// What the loop needs beyond the agent.
pub struct LoopInput<'a> {
    /// The router.
    pub router: &'a RouterClient,
    /// Context windows, for compaction.
    pub windows: &'a Windows,
    /// Live deltas, when someone watches.
    pub live: Option<&'a LiveSink>,
    /// The session's history.
    pub history: &'a [ChatMessage],
    /// This turn's messages.
    pub new_messages: &'a [ChatMessage],
    /// The model to call first (the session's `/model`, else the agent's).
    pub model: &'a str,
    /// How hard the model thinks (the turn's, the session's `/think` or the agent's).
    pub thinking: Option<pincer_config::ThinkingLevel>,
    /// The caller's temperature and output cap.
    pub sampling: pincer_bus::messages::Sampling,
    /// Conversation id for the router's logs.
    pub session_key: &'a str,
    /// What tool calls know of the turn (the scheduler's store, the chat it came from).
    pub tools: crate::tools::CallContext<'a>,
    /// Functions the caller runs itself (an OpenAI client's `tools`).
    pub client_tools: &'a [ClientTool],
    /// This run's time limit, when the turn sets one (a hook's `timeoutSeconds`); else the
    /// agent's `timeoutSeconds`.
    pub timeout: Option<std::time::Duration>,
}

/// The loop's result: the outcome, and the history replaced by compaction if it happened.
#[derive(Debug)]
pub struct LoopResult {
    /// The outcome to record.
    pub outcome: TurnOutcome,
    /// The compacted history that replaces `LoopInput::history`.
    pub compacted: Option<Vec<ChatMessage>>,
}

impl LoopResult {
    /// A result that changed no history.
    pub fn of(outcome: TurnOutcome) -> Self {
        Self {
            outcome,
            compacted: None,
        }
    }
}

/// Runs the loop.
pub async fn run(agent: &Agent, input: LoopInput<'_>) -> LoopResult {
    if let Some(clash) = clashing_client_tool(agent, input.client_tools) {
        return LoopResult::of(TurnOutcome::failed(
            ErrorCode::BadRequest,
            format!(
                "the client's tool `{clash}` has the name of one of the agent's own tools; name it otherwise"
            ),
        ));
    }
    let mut run = Run::start(agent, input).await;
    while run.iteration < agent.resolved.max_iterations {
        let messages = prompt::build(
            &run.system,
            &run.history,
            (run.input.new_messages, &run.new_images),
            &run.steps,
        );
        let model_window = run
            .input
            .windows
            .of(run.input.router, run.input.model)
            .await;
        let window = effective_window(model_window, run.agent.resolved.context_tokens);
        match run.fits(&messages, window).await {
            Ok(true) => {}
            Ok(false) => continue,
            Err(end) => return end,
        }
        let mut reply = match run.call_model(messages, window).await {
            Ok(reply) => reply,
            Err(Next::Again) => continue,
            Err(Next::End(end)) => return end,
        };
        run.usage.add(&reply.usage);
        run.iteration += 1;
        if reply.tool_calls.is_empty() {
            return run.answered(reply);
        }
        let (theirs, ours): (Vec<ToolCall>, Vec<ToolCall>) =
            with_ids(std::mem::take(&mut reply.tool_calls))
                .into_iter()
                .partition(|call| run.is_client_tool(&call.name));
        if theirs.is_empty() {
            if let Some(stop) = run.run_tools(reply.content, reply.reasoning, ours).await {
                return run.stopped_looping(stop);
            }
            continue;
        }
        // The agent's own calls of the same reply run first (each call needs its result before
        // the caller's results follow), then the turn goes back to the caller with its calls.
        if !ours.is_empty()
            && let Some(stop) = run
                .run_tools(String::new(), std::mem::take(&mut reply.reasoning), ours)
                .await
        {
            return run.stopped_looping(stop);
        }
        return run.asks_the_client(reply, theirs);
    }
    run.out_of_iterations()
}

/// `calls` of a reply, each with an id: the one the provider gave, else one made here, unique in
/// the session (a provider may refuse a history where two calls share one). A call's result, and a
/// client's answer to it, name the call by its id.
fn with_ids(calls: Vec<ToolCall>) -> Vec<ToolCall> {
    calls
        .into_iter()
        .map(|call| ToolCall {
            id: if call.id.is_empty() {
                format!("call_{}", uuid::Uuid::new_v4().simple())
            } else {
                call.id
            },
            ..call
        })
        .collect()
}

/// The first of `client_tools` named like one of the agent's tools, which the model could not
/// tell apart.
fn clashing_client_tool<'t>(agent: &Agent, client_tools: &'t [ClientTool]) -> Option<&'t str> {
    if client_tools.is_empty() {
        return None;
    }
    let own = agent.tools.specs();
    client_tools
        .iter()
        .map(|tool| tool.name.as_str())
        .find(|name| own.iter().any(|spec| spec.name == *name))
}

/// What follows a model call that gave no reply.
enum Next {
    /// The history was compacted: build the prompt again.
    Again,
    /// The turn ends here.
    End(LoopResult),
}

/// One turn's loop state.
struct Run<'a> {
    agent: &'a Agent,
    input: LoopInput<'a>,
    deadline: Instant,
    /// The tools offered, and their size in the prompt.
    tools: Vec<pb::ToolSpec>,
    tool_chars: usize,
    system: String,
    /// The history as the model sees it: the session's, or its compacted form.
    history: Cow<'a, [ChatMessage]>,
    compacted: Option<Vec<ChatMessage>>,
    /// This turn's tool steps: assistant messages with calls, and their results.
    steps: Vec<ChatMessage>,
    /// The images of this turn's messages (one list per message), read once.
    new_images: Vec<Vec<pb::Image>>,
    usage: Usage,
    /// Sub-agents started so far (`subagents.maxChildrenPerAgent`).
    children: std::sync::atomic::AtomicUsize,
    /// Whether the provider's "context overflow" already led to a compaction.
    overflow_compacted: bool,
    /// Model calls that answered.
    iteration: u32,
    /// Failed calls, so a repeated one is not run blindly.
    loops: LoopGuard,
}

impl<'a> Run<'a> {
    async fn start(agent: &'a Agent, input: LoopInput<'a>) -> Self {
        let mut tools = agent.tools.specs();
        tools.extend(input.client_tools.iter().map(|tool| pb::ToolSpec {
            name: tool.name.clone(),
            description: tool.description.clone(),
            parameters_json: tool.parameters_json.clone(),
        }));
        let tool_chars = tools
            .iter()
            .map(|t| t.description.len() + t.parameters_json.len())
            .sum();
        let parts = agent
            .prompt
            .parts(agent.tools.workspace(), agent.caps)
            .await;
        let system = prompt::system_prompt(
            &parts.0,
            &parts.1,
            &pincer_clock::Date::today().to_string(),
            &agent.tools.outages(),
        );
        let new_images =
            crate::attachments::load_images(Some(agent.tools.workspace()), input.new_messages)
                .await;
        Self {
            agent,
            new_images,
            deadline: {
                let now = Instant::now();
                // A limit too far away to add counts as the agent's own.
                input
                    .timeout
                    .and_then(|limit| now.checked_add(limit))
                    .unwrap_or_else(|| now + agent.resolved.timeout)
            },
            history: input.history.into(),
            input,
            tools,
            tool_chars,
            system,
            compacted: None,
            steps: Vec::new(),
            usage: Usage::default(),
            children: std::sync::atomic::AtomicUsize::new(0),
            overflow_compacted: false,
            iteration: 0,
            loops: LoopGuard::default(),
        }
    }

    /// Whether `messages` fit the model's window; compacts the history once when they don't
    /// (`Ok(false)`: build the prompt again).
    async fn fits(
        &mut self,
        messages: &[pb::Message],
        window: Option<u32>,
    ) -> Result<bool, LoopResult> {
        let Some(window) = window else {
            return Ok(true);
        };
        if !compaction::needed(prompt::chars(messages) + self.tool_chars, window)
            || self.history.is_empty()
            || self.compacted.is_some()
        {
            return Ok(true);
        }
        if compaction::split_point(&self.history, window) == 0 {
            // Nothing older to summarise: what fills the window is the tools, the prompt or
            // the latest exchange. The estimate errs high on purpose; the provider decides,
            // and a real overflow comes back as one.
            tracing::info!(window, "prompt near the window, but nothing to compact");
            return Ok(true);
        }
        self.compact(window).await?;
        Ok(false)
    }

    /// Replaces the history by its compacted form, or ends the turn saying why it could not.
    async fn compact(&mut self, window: u32) -> Result<(), LoopResult> {
        let history = &self.history;
        let split = compaction::split_point(history, window);
        tracing::info!(
            messages = history.len(),
            summarised = split,
            window,
            "compacting the session"
        );
        let resolved = &self.agent.resolved;
        match compaction::compact(
            self.input.router,
            self.input.model,
            &resolved.fallbacks,
            history,
            split,
            window,
        )
        .await
        {
            Ok(new_history) => {
                self.history = new_history.clone().into();
                self.compacted = Some(new_history);
                Ok(())
            }
            Err(reason) => Err(self.fail(
                ErrorCode::ContextOverflow,
                format!(
                    "The conversation no longer fits the model's context window and compacting it failed ({reason}). \
                     Send /new to start a fresh session."
                ),
            )),
        }
    }

    /// Calls the model with the time the run has left.
    async fn call_model(
        &mut self,
        messages: Vec<pb::Message>,
        window: Option<u32>,
    ) -> Result<Reply, Next> {
        let Some(remaining) = self
            .deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return Err(Next::End(self.timed_out()));
        };
        let resolved = &self.agent.resolved;
        let sampling = &self.input.sampling;
        let request = pb::ChatRequest {
            model: self.input.model.to_owned(),
            fallbacks: resolved.fallbacks.clone(),
            messages,
            tools: self.tools.clone(),
            max_tokens: sampling.max_tokens.unwrap_or(0),
            session_key: self.input.session_key.to_owned(),
            timeout_ms: u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX),
            thinking: thinking_wire(self.input.thinking) as i32,
            temperature: sampling.temperature,
            top_p: sampling.top_p,
            stop: sampling.stop.clone(),
            seed: sampling.seed,
            presence_penalty: sampling.presence_penalty,
            frequency_penalty: sampling.frequency_penalty,
            response_format_json: sampling
                .response_format
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        };
        let call = model_call::call(self.input.router, request, self.input.live);
        match tokio::time::timeout(remaining, call).await {
            Ok(Ok(reply)) => {
                self.count_model_call("ok");
                Ok(reply)
            }
            Err(_) => {
                self.count_model_call(ErrorCode::Timeout.as_str());
                Err(Next::End(self.timed_out()))
            }
            Ok(Err(failure)) => {
                self.count_model_call(failure.code().as_str());
                Err(self.after_failure(failure, window).await)
            }
        }
    }

    /// The replica's metrics (`None` outside a turn, as in tests of the loop alone).
    fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        self.input.tools.turn.map(|(context, _)| &context.metrics)
    }

    fn count_model_call(&self, outcome: &str) {
        if let Some(metrics) = self.metrics() {
            metrics.model_call(&self.agent.resolved.id, outcome);
        }
    }

    /// Counts a tool call under its name when the agent was offered it, else as `unlisted`: a
    /// model can invent names, and each would be a series.
    fn count_tool_call(&self, name: &str, outcome: &str) {
        let Some(metrics) = self.metrics() else {
            return;
        };
        let offered = self.tools.iter().any(|spec| spec.name == name);
        metrics.tool_call(if offered { name } else { "unlisted" }, outcome);
    }

    /// A failed model call ends the turn, unless the provider said the window was overrun and the
    /// history can still be compacted (the window estimate was off, or unknown). The compaction
    /// aims at the window the provider states in its refusal when that is smaller than the
    /// configured one: a server can run a model with less context than its entry says.
    async fn after_failure(&mut self, failure: Failure, window: Option<u32>) -> Next {
        if failure.code() == ErrorCode::Timeout
            && self.deadline.saturating_duration_since(Instant::now()) < DEADLINE_SLACK
        {
            // The router's share of the run's deadline ran out: the run's time is up.
            return Next::End(self.timed_out());
        }
        if failure.kind() == Some(pb::ErrorKind::ContextOverflow)
            && !self.overflow_compacted
            && !self.history.is_empty()
        {
            self.overflow_compacted = true;
            let stated = context_limit::stated_window(failure.message());
            if let Some(stated) = stated {
                tracing::info!(stated, configured = ?window, "the provider states its context window");
            }
            let window = match (stated, window) {
                (Some(stated), Some(window)) => stated.min(window),
                (Some(known), None) | (None, Some(known)) => known,
                (None, None) => estimate_window(&self.history),
            };
            return match self.compact(window).await {
                Ok(()) => Next::Again,
                Err(end) => Next::End(end),
            };
        }
        Next::End(self.fail(failure.code(), failure.message().to_owned()))
    }

    /// Runs the reply's tool calls (with their ids: [`with_ids`]) in order; each result (or error,
    /// which the model can correct) becomes a step of the turn, the calls' step keeping the
    /// reply's `reasoning` blocks for the provider that wants them back. A call that repeats a
    /// failed one is not run (see [`LoopGuard`]); returns the message that ends the run when the
    /// model keeps repeating it.
    async fn run_tools(
        &mut self,
        content: String,
        reasoning: String,
        calls: Vec<ToolCall>,
    ) -> Option<String> {
        self.steps.push(ChatMessage {
            tool_calls: calls.clone(),
            reasoning,
            ..ChatMessage::text(Role::Assistant, content)
        });
        let mut stop = None;
        for call in calls {
            let content = match (&stop, self.loops.before(&call.name, &call.arguments)) {
                // Every call gets a result, even after the run was stopped.
                (Some(_), _) => "error: not run: the run stopped".to_owned(),
                (None, Verdict::Repeated(text)) => {
                    tracing::info!(tool = %call.name, "repeated failing call not run");
                    self.count_tool_call(&call.name, "not_run");
                    text
                }
                (None, Verdict::Stop(message)) => {
                    tracing::warn!(tool = %call.name, "the model keeps repeating a failing call; run stopped");
                    self.count_tool_call(&call.name, "not_run");
                    stop = Some(message);
                    "error: not run: the run stopped".to_owned()
                }
                (None, Verdict::Run) => {
                    let started = Instant::now();
                    let children_usage = std::sync::Mutex::new(Usage::default());
                    let context = crate::tools::CallContext {
                        children: Some(&self.children),
                        child_usage: Some(&children_usage),
                        ..self.input.tools
                    };
                    let result = self
                        .agent
                        .tools
                        .call_in(&call.name, &call.arguments, context)
                        .await;
                    // A sub-agent's tokens and cost count toward this run's.
                    if let Ok(children) = children_usage.into_inner() {
                        self.usage.add(&children);
                    }
                    tracing::info!(
                        tool = %call.name,
                        ok = result.is_ok(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "tool call"
                    );
                    self.count_tool_call(&call.name, tool_outcome(&result));
                    let result = result.map_err(|error| error.to_string());
                    match self.loops.after(&call.name, &call.arguments, result) {
                        Ok(content) => content,
                        Err(message) => {
                            tracing::warn!(tool = %call.name, "a call failed the same way again; run stopped");
                            let content = "error: failed again the same way".to_owned();
                            stop = Some(message);
                            content
                        }
                    }
                }
            };
            self.steps
                .push(ChatMessage::tool_result(call.id, call.name, content));
        }
        stop
    }

    /// Ends the run because the model kept repeating a failing call.
    fn stopped_looping(self, message: String) -> LoopResult {
        if let Some(metrics) = self.metrics() {
            metrics.loop_guard_stop(&self.agent.resolved.id);
        }
        LoopResult {
            outcome: TurnOutcome::Answered {
                content: message,
                tool_calls: Vec::new(),
                model: self.input.model.to_owned(),
                finish_reason: "tool_loop".to_owned(),
                usage: self.usage,
                steps: self.steps,
            },
            compacted: self.compacted,
        }
    }

    fn answered(self, reply: Reply) -> LoopResult {
        LoopResult {
            outcome: TurnOutcome::Answered {
                content: reply.content,
                tool_calls: Vec::new(),
                model: reply.model,
                finish_reason: reply.finish_reason,
                usage: self.usage,
                steps: self.steps,
            },
            compacted: self.compacted,
        }
    }

    fn is_client_tool(&self, name: &str) -> bool {
        self.input.client_tools.iter().any(|tool| tool.name == name)
    }

    /// Ends the turn with the caller's calls, for it to run and answer in its next request.
    fn asks_the_client(self, reply: Reply, calls: Vec<ToolCall>) -> LoopResult {
        LoopResult {
            outcome: TurnOutcome::Answered {
                content: reply.content,
                tool_calls: calls,
                model: reply.model,
                finish_reason: "tool_calls".to_owned(),
                usage: self.usage,
                steps: self.steps,
            },
            compacted: self.compacted,
        }
    }

    fn out_of_iterations(self) -> LoopResult {
        let limit = self.agent.resolved.max_iterations;
        LoopResult {
            outcome: TurnOutcome::Answered {
                content: format!(
                    "I stopped after {limit} steps without finishing (the limit is agents.defaults.maxIterations = {limit}). \
                     Say \"continue\" and I will pick up from here."
                ),
                tool_calls: Vec::new(),
                model: self.input.model.to_owned(),
                finish_reason: "max_iterations".to_owned(),
                usage: self.usage,
                steps: self.steps,
            },
            compacted: self.compacted,
        }
    }

    /// Ends the turn with a failure; the steps done so far are kept (their effects happened).
    fn fail(&mut self, code: ErrorCode, message: String) -> LoopResult {
        LoopResult {
            outcome: TurnOutcome::Failed {
                code,
                message,
                steps: std::mem::take(&mut self.steps),
            },
            compacted: self.compacted.take(),
        }
    }

    fn timed_out(&mut self) -> LoopResult {
        let (limit, key) = match self.input.timeout {
            Some(limit) => (limit, "the caller's timeoutSeconds"),
            None => (
                self.agent.resolved.timeout,
                "agents.defaults.timeoutSeconds",
            ),
        };
        let message = format!(
            "The run hit its time limit of {}s ({key}) after {} model calls. \
             What was done so far is kept; ask me to continue.",
            limit.as_secs(),
            self.iteration
        );
        self.fail(ErrorCode::Timeout, message)
    }
}

/// A tool call's outcome as a metric label.
fn tool_outcome(result: &Result<String, crate::tools::ToolError>) -> &'static str {
    use crate::tools::ToolError;
    match result {
        Ok(_) => "ok",
        Err(ToolError::Denied(_)) => "denied",
        Err(ToolError::TimedOut(_)) => "timeout",
        Err(_) => "error",
    }
}

/// A thinking level as the router's request carries it.
fn thinking_wire(level: Option<pincer_config::ThinkingLevel>) -> pb::Thinking {
    use pincer_config::ThinkingLevel as Level;
    match level {
        None => pb::Thinking::Unspecified,
        Some(Level::Off) => pb::Thinking::Off,
        Some(Level::Minimal) => pb::Thinking::Minimal,
        Some(Level::Low) => pb::Thinking::Low,
        Some(Level::Medium) => pb::Thinking::Medium,
        Some(Level::High) => pb::Thinking::High,
        Some(Level::Xhigh) => pb::Thinking::Xhigh,
    }
}

/// The window the history may fill: the model's, capped by the agent's `contextTokens`.
fn effective_window(model_window: Option<u32>, context_tokens: Option<u32>) -> Option<u32> {
    match (model_window, context_tokens) {
        (Some(model), Some(cap)) => Some(model.min(cap)),
        (model, cap) => model.or(cap),
    }
}

/// A window guess from a history the provider said is too long for it.
fn estimate_window(history: &[ChatMessage]) -> u32 {
    let chars: usize = history.iter().map(|m| m.content.len()).sum();
    u32::try_from(chars / compaction::CHARS_PER_TOKEN / 2)
        .unwrap_or(u32::MAX)
        .max(1024)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::agents::AgentSet;
    use crate::scripted_router::{Answer, ScriptedRouter};

    fn agent(dir: &Path, defaults: serde_json::Value) -> Arc<Agent> {
        let mut defaults = defaults;
        defaults["model"] = "fake/m".into();
        let config: pincer_config::Agents =
            serde_json::from_value(serde_json::json!({ "defaults": defaults })).expect("agents");
        let set = AgentSet::open(&config, &pincer_config::Tools::default(), None, dir, None)
            .expect("workspace");
        set.get("main").expect("the default agent")
    }

    async fn run_turn(
        router: &ScriptedRouter,
        agent: &Agent,
        history: &[ChatMessage],
    ) -> LoopResult {
        let windows = Windows::default();
        let new_messages = [ChatMessage::text(Role::User, "hello")];
        run(
            agent,
            LoopInput {
                router: &router.client,
                windows: &windows,
                live: None,
                history,
                new_messages: &new_messages,
                model: "fake/m",
                thinking: None,
                sampling: Default::default(),
                session_key: "agent:main:test",
                tools: crate::tools::CallContext::default(),
                client_tools: &[],
                timeout: None,
            },
        )
        .await
    }

    fn past_conversation(turns: usize) -> Vec<ChatMessage> {
        (0..turns)
            .flat_map(|i| {
                [
                    ChatMessage::text(Role::User, format!("question {i} {}", "x".repeat(400))),
                    ChatMessage::text(Role::Assistant, format!("answer {i} {}", "y".repeat(400))),
                ]
            })
            .collect()
    }

    fn answered(result: &LoopResult) -> (&str, &str, &[ChatMessage], &Usage) {
        match &result.outcome {
            TurnOutcome::Answered {
                content,
                finish_reason,
                steps,
                usage,
                ..
            } => (content, finish_reason, steps, usage),
            other => panic!("not answered: {other:?}"),
        }
    }

    fn failed(result: &LoopResult) -> (ErrorCode, &str) {
        match &result.outcome {
            TurnOutcome::Failed { code, message, .. } => (*code, message),
            other => panic!("not failed: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_reply_without_tool_calls_is_the_answer() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({}));
        let router = ScriptedRouter::start(vec![Answer::text("hi there")], 0).await;

        let result = run_turn(&router, &agent, &[]).await;

        let (content, finish, steps, usage) = answered(&result);
        assert_eq!((content, finish), ("hi there", "stop"));
        assert!(steps.is_empty());
        assert_eq!(usage.prompt_tokens, Some(10));
        assert!(result.compacted.is_none());
        let requests = router.requests();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        assert_eq!(request.model, "fake/m");
        assert_eq!(request.messages[0].role, pb::Role::System as i32);
        assert_eq!(
            request.messages.last().map(|m| m.content.as_str()),
            Some("hello")
        );
        assert!(
            request.tools.iter().any(|t| t.name == "read"),
            "{:?}",
            request.tools
        );
        assert!(
            request.timeout_ms > 0,
            "the router is told the run's deadline"
        );
    }

    #[tokio::test]
    async fn tool_results_go_back_to_the_model_until_it_answers() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({}));
        std::fs::write(
            agent.tools.workspace().root().join("notes.txt"),
            "the code is 7431",
        )
        .expect("write");
        let router = ScriptedRouter::start(
            vec![
                Answer::call("read", r#"{"path":"notes.txt"}"#),
                Answer::text("It is 7431."),
            ],
            0,
        )
        .await;

        let result = run_turn(&router, &agent, &[]).await;

        let (content, _, steps, usage) = answered(&result);
        assert_eq!(content, "It is 7431.");
        assert_eq!(
            steps.len(),
            2,
            "the call and its result are kept: {steps:?}"
        );
        assert_eq!(steps[0].tool_calls[0].name, "read");
        assert_eq!(steps[1].role, Role::Tool);
        assert_eq!(usage.prompt_tokens, Some(20), "usage of both calls");
        let second = &router.requests()[1];
        let result_message = second.messages.last().expect("messages");
        assert_eq!(result_message.role, pb::Role::Tool as i32);
        assert_eq!(result_message.tool_call_id, "call-0");
        assert!(
            result_message.content.contains("7431"),
            "{result_message:?}"
        );
    }

    #[tokio::test]
    async fn a_failing_tool_is_told_to_the_model_which_can_correct_itself() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({}));
        let router = ScriptedRouter::start(
            vec![Answer::call("no_such_tool", "{}"), Answer::text("Sorry.")],
            0,
        )
        .await;

        let result = run_turn(&router, &agent, &[]).await;

        assert_eq!(answered(&result).0, "Sorry.");
        let told = router.requests()[1]
            .messages
            .last()
            .expect("result")
            .content
            .clone();
        assert!(told.starts_with("error: "), "{told}");
        assert!(told.contains("no_such_tool"), "{told}");
    }

    #[tokio::test]
    async fn the_iteration_limit_ends_the_turn_with_a_message_that_says_so() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({"maxIterations": 2}));
        let router = ScriptedRouter::start(
            vec![
                Answer::call("list", "{}"),
                Answer::call("list", "{}"),
                Answer::text("never asked"),
            ],
            0,
        )
        .await;

        let result = run_turn(&router, &agent, &[]).await;

        let (content, finish, steps, _) = answered(&result);
        assert_eq!(finish, "max_iterations");
        assert!(content.contains("maxIterations = 2"), "{content}");
        assert_eq!(steps.len(), 4);
        assert_eq!(router.requests().len(), 2);
    }

    #[tokio::test]
    async fn a_model_repeating_a_failing_call_is_warned_then_stopped_with_the_error() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({"maxIterations": 10}));
        let missing = r#"{"path":"missing.txt"}"#;
        let router = ScriptedRouter::start(
            vec![
                Answer::call("read", missing),
                Answer::call("read", missing),
                Answer::call("read", missing),
                Answer::text("never asked"),
            ],
            0,
        )
        .await;

        let result = run_turn(&router, &agent, &[]).await;

        let (content, finish, steps, _) = answered(&result);
        assert_eq!(finish, "tool_loop");
        assert!(content.contains("`read`"), "{content}");
        assert!(
            content.contains("missing.txt"),
            "names the error: {content}"
        );
        assert_eq!(
            router.requests().len(),
            3,
            "the third repeat never goes back to the model"
        );
        let requests = router.requests();
        let warned = &requests[2].messages.last().expect("result").content;
        assert!(warned.contains("not run again"), "{warned}");
        assert_eq!(steps.len(), 6, "every call has its result");
    }

    #[tokio::test]
    async fn a_context_overflow_compacts_the_history_once_and_calls_again() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({}));
        let router = ScriptedRouter::start(
            vec![
                Answer::Fail(pb::ErrorKind::ContextOverflow),
                Answer::text("They asked six questions."),
                Answer::text("Here you are."),
            ],
            0,
        )
        .await;
        let history = past_conversation(6);

        let result = run_turn(&router, &agent, &history).await;

        assert_eq!(answered(&result).0, "Here you are.");
        let compacted = result
            .compacted
            .as_ref()
            .expect("the history was compacted");
        assert!(compacted[0].content.starts_with(compaction::SUMMARY_PREFIX));
        assert!(compacted.len() < history.len());
        let requests = router.requests();
        assert_eq!(requests.len(), 3);
        assert!(
            requests[1].tools.is_empty(),
            "the summary call offers no tools"
        );
        assert!(
            requests[2]
                .messages
                .iter()
                .any(|m| m.content.contains("They asked six questions.")),
            "the call after compaction carries the summary"
        );
    }

    #[tokio::test]
    async fn an_overflow_compacts_for_the_window_the_provider_states() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({}));
        // The catalogue says a million tokens, the server runs the model with 2,048: for the
        // catalogue's window the whole history is recent and nothing could be summarised.
        let router = ScriptedRouter::start(
            vec![
                Answer::FailSaying(
                    pb::ErrorKind::ContextOverflow,
                    "ollama/m: HTTP 400: This model's maximum context length is 2048 tokens. \
                     However, your messages resulted in 2600 tokens."
                        .to_owned(),
                ),
                Answer::text("They asked six questions."),
                Answer::text("Here you are."),
            ],
            1_000_000,
        )
        .await;
        let history = past_conversation(6);

        let result = run_turn(&router, &agent, &history).await;

        assert_eq!(answered(&result).0, "Here you are.");
        let compacted = result.compacted.as_ref().expect("compacted");
        assert!(compacted[0].content.starts_with(compaction::SUMMARY_PREFIX));
        assert!(
            compacted.len() < history.len() / 2,
            "the tail fits a quarter of 2,048 tokens: {} messages kept",
            compacted.len()
        );
    }

    #[tokio::test]
    async fn a_second_overflow_after_compaction_is_the_turns_failure() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({}));
        let router = ScriptedRouter::start(
            vec![
                Answer::Fail(pb::ErrorKind::ContextOverflow),
                Answer::text("summary"),
                Answer::Fail(pb::ErrorKind::ContextOverflow),
            ],
            0,
        )
        .await;

        let result = run_turn(&router, &agent, &past_conversation(6)).await;

        assert_eq!(failed(&result).0, ErrorCode::ContextOverflow);
        assert!(
            result.compacted.is_some(),
            "the compaction that happened is kept"
        );
        assert_eq!(router.requests().len(), 3);
    }

    #[tokio::test]
    async fn a_history_that_fills_the_known_window_is_compacted_before_the_call() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({}));
        // 2,048 tokens: the prompt (workspace files, tools, ~5 KB of history) passes 80 % of it.
        let router = ScriptedRouter::start(
            vec![Answer::text("summary"), Answer::text("fresh answer")],
            2048,
        )
        .await;

        let result = run_turn(&router, &agent, &past_conversation(6)).await;

        assert_eq!(answered(&result).0, "fresh answer");
        assert!(result.compacted.is_some());
        let requests = router.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(
            requests[0].max_tokens, 1024,
            "the first call is the summary"
        );
    }

    #[tokio::test]
    async fn a_prompt_near_the_window_with_nothing_to_summarise_is_sent_as_it_is() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({}));
        // One earlier message fills the 2,048-token estimate by itself: there is nothing older
        // to summarise, and the call goes out (the provider decides) instead of failing.
        let router = ScriptedRouter::start(vec![Answer::text("fine")], 2048).await;
        let history = vec![ChatMessage::text(Role::User, "z".repeat(6_000))];

        let result = run_turn(&router, &agent, &history).await;

        assert_eq!(answered(&result).0, "fine");
        assert!(result.compacted.is_none());
        assert_eq!(router.requests().len(), 1, "no summary call");
    }

    #[tokio::test]
    async fn context_tokens_caps_a_big_models_window() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({ "contextTokens": 2048 }));
        // The model takes a million tokens; the agent's budget is 2,048, so the same history as
        // above is compacted.
        let router = ScriptedRouter::start(
            vec![Answer::text("summary"), Answer::text("fresh answer")],
            1_000_000,
        )
        .await;

        let result = run_turn(&router, &agent, &past_conversation(6)).await;

        assert_eq!(answered(&result).0, "fresh answer");
        assert!(result.compacted.is_some(), "compacted under contextTokens");
        assert_eq!(effective_window(None, Some(4096)), Some(4096));
        assert_eq!(effective_window(Some(8192), None), Some(8192));
    }

    #[tokio::test]
    async fn a_failed_compaction_ends_the_turn_and_says_to_start_over() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({}));
        let router = ScriptedRouter::start(
            vec![
                Answer::Fail(pb::ErrorKind::ContextOverflow),
                Answer::Fail(pb::ErrorKind::Overloaded),
            ],
            0,
        )
        .await;

        let result = run_turn(&router, &agent, &past_conversation(6)).await;

        let (code, message) = failed(&result);
        assert_eq!(code, ErrorCode::ContextOverflow);
        assert!(message.contains("/new"), "{message}");
        assert!(result.compacted.is_none());
    }

    #[tokio::test]
    async fn a_provider_failure_ends_the_turn_with_its_code_and_keeps_the_steps() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({}));
        let router = ScriptedRouter::start(
            vec![
                Answer::call("list", "{}"),
                Answer::Fail(pb::ErrorKind::Auth),
            ],
            0,
        )
        .await;

        let result = run_turn(&router, &agent, &[]).await;

        assert_eq!(failed(&result).0, ErrorCode::ProviderRejected);
        let TurnOutcome::Failed { steps, .. } = &result.outcome else {
            unreachable!("checked above")
        };
        assert_eq!(steps.len(), 2, "the tool step happened and is kept");
    }

    #[tokio::test]
    async fn a_model_that_never_answers_meets_the_runs_deadline() {
        let dir = tempfile::tempdir().expect("dir");
        let agent = agent(dir.path(), serde_json::json!({"timeoutSeconds": 1}));
        let router = ScriptedRouter::start(vec![Answer::Hang], 0).await;

        let result = run_turn(&router, &agent, &[]).await;

        let (code, message) = failed(&result);
        assert_eq!(code, ErrorCode::Timeout);
        assert!(message.contains("timeoutSeconds"), "{message}");
    }
}
