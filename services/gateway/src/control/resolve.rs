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

/// Resolves an agent id (default agent when absent).
pub fn agent_id(services: &Services, requested: Option<&str>) -> Result<String, ErrorShape> {
    let id = requested.unwrap_or_else(|| services.agents.default_id());
    services
        .agents
        .resolve(id)
        .map(|agent| agent.id)
        .map_err(|e| ErrorShape::new(Code::NotFound, e.to_string()))
}
