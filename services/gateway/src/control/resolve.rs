//! Which agent and which session a control method's parameters name (`agentId`, `sessionKey`).

use super::Services;
use super::frame::{Code, ErrorShape};

/// The session a control-plane chat runs in: a full `agent:...` key is used as it is (to continue a
/// channel or API session from the dashboard); anything else is a dashboard session of the agent.
pub fn session_key(agent_id: &str, requested: Option<&str>) -> Result<String, ErrorShape> {
    let requested = requested
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .unwrap_or("main");
    if requested.len() > 256 || requested.chars().any(char::is_control) {
        return Err(ErrorShape::invalid(
            "sessionKey must be at most 256 printable characters",
        ));
    }
    if let Some(rest) = requested.strip_prefix("agent:") {
        // A full key names its agent: it must be the one the run is for, or the turn would run
        // one agent's prompt and tools over another agent's conversation.
        let owner = rest.split(':').next().unwrap_or_default();
        if owner != agent_id {
            return Err(ErrorShape::invalid(format!(
                "sessionKey {requested:?} belongs to agent {owner:?}, not {agent_id:?}: pass agentId {owner:?} or a key of agent {agent_id:?}"
            )));
        }
        return Ok(requested.to_owned());
    }
    Ok(format!("agent:{agent_id}:control:{requested}"))
}

/// The agent and the session a method's `agentId` and `sessionKey` name: without an `agentId`, a
/// full key's own agent (else the default agent); the session as [`session_key`] makes it.
pub fn agent_and_session(
    services: &Services,
    agent: Option<&str>,
    session: Option<&str>,
) -> Result<(String, String), ErrorShape> {
    let named = session
        .and_then(|key| key.trim().strip_prefix("agent:"))
        .and_then(|rest| rest.split(':').next());
    let agent = agent_id(services, agent.or(named))?;
    let session = session_key(&agent, session)?;
    Ok((agent, session))
}

/// Resolves an agent id (default agent when absent).
pub fn agent_id(services: &Services, requested: Option<&str>) -> Result<String, ErrorShape> {
    let id = requested.unwrap_or_else(|| services.agents.default_id());
    services
        .agents
        .resolve(id)
        .map(|agent| agent.id)
        .map_err(|e| ErrorShape::new(Code::NotFound, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_sessions_are_namespaced_and_full_keys_pass() {
        assert_eq!(
            session_key("main", None).unwrap(),
            "agent:main:control:main"
        );
        assert_eq!(
            session_key("main", Some(" ui ")).unwrap(),
            "agent:main:control:ui"
        );
        assert_eq!(
            session_key("main", Some("agent:main:telegram:dm:42")).unwrap(),
            "agent:main:telegram:dm:42"
        );
        assert!(
            session_key("work", Some("agent:main:telegram:dm:42")).is_err(),
            "another agent's session"
        );
        assert!(session_key("main", Some("a\nb")).is_err());
        assert!(session_key("main", Some(&"x".repeat(300))).is_err());
    }
}
