//! Session commands typed as a message: `/new` and `/reset` (start over), `/status`, `/model [ref]`,
//! `/think [level]` and `/usage`. They are answered without calling the model and never enter the history.

use pincer_bus::messages::{ChatMessage, Role};
use pincer_config::{ResolvedAgent, ThinkingLevel};

use crate::sessions::Transcript;

/// A recognised command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `/new` or `/reset`.
    Reset,
    /// `/status`.
    Status,
    /// `/model` (show) or `/model <ref>` (switch; `default` goes back to the agent's).
    Model(Option<String>),
    /// `/usage`.
    Usage,
    /// `/think` (show) or `/think <level>` (set; `default` goes back to the agent's).
    Think(Option<String>),
}

/// The command in a turn: its only user message, when that is exactly a command.
pub fn parse(messages: &[ChatMessage]) -> Option<Command> {
    let mut users = messages.iter().filter(|m| m.role == Role::User);
    let text = users.next()?.content.trim();
    if users.next().is_some() {
        return None;
    }
    let mut words = text.split_whitespace();
    let head = words.next()?;
    let argument = words.next().map(str::to_owned);
    if words.next().is_some() {
        return None;
    }
    // `/status@MyBot` is how Telegram groups address a command to one bot.
    let name = head.split('@').next().unwrap_or(head);
    match (name, argument) {
        ("/new" | "/reset", None) => Some(Command::Reset),
        ("/status", None) => Some(Command::Status),
        ("/usage", None) => Some(Command::Usage),
        ("/model", argument) => Some(Command::Model(argument)),
        ("/think" | "/thinking", argument) => Some(Command::Think(argument)),
        _ => None,
    }
}

/// Carries out `command` on the session and returns the answer.
pub fn apply(command: &Command, transcript: &mut Transcript, agent: &ResolvedAgent) -> String {
    match command {
        Command::Reset => {
            let dropped = transcript.messages.len();
            transcript.messages.clear();
            transcript.totals = Default::default();
            transcript.model_override = None;
            transcript.thinking_override = None;
            transcript.compactions = 0;
            format!("Started a new session ({dropped} earlier messages cleared).")
        }
        Command::Status => {
            let model = current_model(transcript, agent);
            let fallbacks = if agent.fallbacks.is_empty() {
                "none".to_owned()
            } else {
                agent.fallbacks.join(", ")
            };
            format!(
                "Agent: {}\nModel: {model} (fallbacks: {fallbacks})\nThinking: {}\nMessages in session: {}\nCompactions: {}\nLimits: {} steps, {}s per run\n{}",
                agent.id,
                thinking_name(current_thinking(transcript, agent)),
                transcript.messages.len(),
                transcript.compactions,
                agent.max_iterations,
                agent.timeout.as_secs(),
                usage_line(transcript),
            )
        }
        Command::Usage => usage_line(transcript),
        Command::Think(None) => format!(
            "Thinking: {}. Set it with /think off|minimal|low|medium|high|xhigh, or /think default.",
            thinking_name(current_thinking(transcript, agent))
        ),
        Command::Think(Some(wanted)) if wanted == "default" => {
            transcript.thinking_override = None;
            format!(
                "Back to the agent's thinking level ({}).",
                thinking_name(agent.thinking)
            )
        }
        Command::Think(Some(wanted)) => match ThinkingLevel::parse(wanted) {
            Some(level) => {
                transcript.thinking_override = Some(level.as_str().to_owned());
                format!("This session now thinks at {}.", level.as_str())
            }
            None => format!(
                "Not a thinking level: {wanted:?}. Use off, minimal, low, medium, high or xhigh."
            ),
        },
        Command::Model(None) => format!(
            "Model: {}. Switch with /model provider/model, or /model default.",
            current_model(transcript, agent)
        ),
        Command::Model(Some(wanted)) if wanted == "default" => {
            transcript.model_override = None;
            format!("Back to the agent's model, {}.", agent.primary)
        }
        Command::Model(Some(wanted)) => match pincer_config::parse_model_ref(wanted) {
            Some(_) => {
                transcript.model_override = Some(wanted.clone());
                format!("This session now uses {wanted} (fallbacks: the agent's).")
            }
            None => {
                format!("Not a model ref: {wanted:?}. Use provider/model, e.g. ollama/llama3.2:3b.")
            }
        },
    }
}

/// The thinking level of this session: its `/think`, else the agent's `thinkingDefault`.
pub fn current_thinking(transcript: &Transcript, agent: &ResolvedAgent) -> Option<ThinkingLevel> {
    transcript
        .thinking_override
        .as_deref()
        .and_then(ThinkingLevel::parse)
        .or(agent.thinking)
}

fn thinking_name(level: Option<ThinkingLevel>) -> &'static str {
    level.map_or("the provider's default", ThinkingLevel::as_str)
}

/// The model this session calls first.
pub fn current_model<'a>(transcript: &'a Transcript, agent: &'a ResolvedAgent) -> &'a str {
    transcript
        .model_override
        .as_deref()
        .unwrap_or(&agent.primary)
}

fn usage_line(transcript: &Transcript) -> String {
    let totals = &transcript.totals;
    let cost = totals.cost_micro_usd.map_or_else(
        || "no prices configured".to_owned(),
        |micro| format!("${:.4}", micro as f64 / 1e6),
    );
    format!(
        "Usage this session: {} prompt tokens, {} completion tokens, {cost}.",
        totals.prompt_tokens.unwrap_or(0),
        totals.completion_tokens.unwrap_or(0)
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn agent() -> ResolvedAgent {
        ResolvedAgent {
            id: "main".into(),
            primary: "ollama/a".into(),
            fallbacks: vec!["openrouter/b".into()],
            max_iterations: 20,
            timeout: Duration::from_secs(600),
            workspace: None,
            thinking: None,
            context_tokens: None,
        }
    }

    fn user(text: &str) -> Vec<ChatMessage> {
        vec![ChatMessage::text(Role::User, text)]
    }

    #[test]
    fn only_exact_commands_are_recognised() {
        assert_eq!(parse(&user("/new")), Some(Command::Reset));
        assert_eq!(parse(&user(" /reset ")), Some(Command::Reset));
        assert_eq!(parse(&user("/status@PincerBot")), Some(Command::Status));
        assert_eq!(
            parse(&user("/model openrouter/google/gemma-3-4b-it:free")),
            Some(Command::Model(Some(
                "openrouter/google/gemma-3-4b-it:free".into()
            )))
        );
        assert_eq!(parse(&user("/new please")), None);
        assert_eq!(parse(&user("what does /new do?")), None);
        assert_eq!(parse(&user("/unknown")), None);
    }

    #[test]
    fn model_reset_status_and_usage_change_and_describe_the_session() {
        let agent = agent();
        let mut transcript = Transcript {
            messages: user("hello"),
            totals: pincer_bus::messages::Usage {
                prompt_tokens: Some(120),
                completion_tokens: None,
                cost_micro_usd: Some(2_500),
            },
            ..Transcript::default()
        };
        let reply = apply(
            &Command::Model(Some("openrouter/c".into())),
            &mut transcript,
            &agent,
        );
        assert!(reply.contains("openrouter/c"));
        assert_eq!(current_model(&transcript, &agent), "openrouter/c");
        assert!(
            apply(
                &Command::Model(Some("nonsense".into())),
                &mut transcript,
                &agent
            )
            .starts_with("Not a model ref")
        );
        let status = apply(&Command::Status, &mut transcript, &agent);
        assert!(
            status.contains("Model: openrouter/c") && status.contains("Messages in session: 1"),
            "{status}"
        );
        assert!(
            apply(&Command::Usage, &mut transcript, &agent)
                .contains("120 prompt tokens, 0 completion tokens, $0.0025")
        );
        let reply = apply(&Command::Reset, &mut transcript, &agent);
        assert!(reply.contains("1 earlier messages"));
        assert!(transcript.messages.is_empty() && transcript.model_override.is_none());
        assert_eq!(transcript.totals, Default::default());
    }

    #[test]
    fn think_sets_shows_and_resets_the_sessions_level() {
        let agent = ResolvedAgent {
            thinking: Some(ThinkingLevel::Low),
            context_tokens: None,
            ..agent()
        };
        let mut transcript = Transcript::default();
        assert_eq!(
            parse(&user("/think high")),
            Some(Command::Think(Some("high".into())))
        );
        assert!(apply(&Command::Think(None), &mut transcript, &agent).contains("Thinking: low"));
        let reply = apply(
            &Command::Think(Some("High".into())),
            &mut transcript,
            &agent,
        );
        assert!(reply.contains("high"), "{reply}");
        assert_eq!(
            current_thinking(&transcript, &agent),
            Some(ThinkingLevel::High)
        );
        assert!(
            apply(
                &Command::Think(Some("very".into())),
                &mut transcript,
                &agent
            )
            .starts_with("Not a thinking level")
        );
        assert!(apply(&Command::Status, &mut transcript, &agent).contains("Thinking: high"));
        apply(
            &Command::Think(Some("default".into())),
            &mut transcript,
            &agent,
        );
        assert_eq!(
            current_thinking(&transcript, &agent),
            Some(ThinkingLevel::Low)
        );
        apply(&Command::Think(Some("off".into())), &mut transcript, &agent);
        apply(&Command::Reset, &mut transcript, &agent);
        assert_eq!(
            transcript.thinking_override, None,
            "a new session starts from the default"
        );
    }
}
