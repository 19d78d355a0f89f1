//! Semantic checks on a well-typed config, limited to the sections in scope.

use crate::error::Error;
use crate::model_ref::parse_model_ref;
use crate::schema::Config;
use crate::schema::agents::ModelSelection;
use crate::scope::Scope;
use crate::secret::Secret;

/// Runs every check for the sections `scope` includes; the first failure is returned.
pub(crate) fn check(config: &Config, scope: Scope, origin: &str) -> Result<(), Error> {
    let fail = |path: String, message: String| Error::Semantic {
        origin: origin.to_owned(),
        path,
        message,
    };
    if scope.includes("gateway") {
        check_gateway(config).map_err(|(path, message)| fail(path, message))?;
    }
    if scope.includes("agents") {
        check_agents(config).map_err(|(path, message)| fail(path, message))?;
    }
    if scope.includes("mcp") {
        config
            .mcp
            .check()
            .map_err(|(path, message)| fail(path, message))?;
    }
    Ok(())
}

type Failure = (String, String);

fn check_gateway(config: &Config) -> Result<(), Failure> {
    let gateway = &config.gateway;
    if gateway.port == 0 {
        return Err((
            "gateway.port".into(),
            "port 0 is not allowed; use 1-65535 (default 18789)".into(),
        ));
    }
    let auth = &gateway.auth;
    let set = |secret: &Option<Secret>| secret.as_ref().is_some_and(|s| !s.is_empty());
    if auth.mode.is_none() && set(&auth.token) && set(&auth.password) {
        return Err((
            "gateway.auth.mode".into(),
            "both gateway.auth.token and gateway.auth.password are set; set gateway.auth.mode to \"token\" or \"password\"".into(),
        ));
    }
    Ok(())
}

fn check_agents(config: &Config) -> Result<(), Failure> {
    let agents = &config.agents;
    if let Some(model) = &agents.defaults.model {
        check_selection(model, "agents.defaults.model")?;
    }
    if let Some(memory) = &agents.defaults.memory_search {
        memory
            .check(&config.models)
            .map_err(|(key, message)| (format!("agents.defaults.memorySearch.{key}"), message))?;
    }
    let mut default_entry: Option<&str> = None;
    for (id, entry) in &agents.entries {
        if let Some(model) = &entry.model {
            check_selection(model, &format!("agents.entries.{id}.model"))?;
        }
        if entry.default {
            if let Some(first) = default_entry {
                return Err((
                    format!("agents.entries.{id}.default"),
                    format!("only one agent may be the default; `{first}` already is"),
                ));
            }
            default_entry = Some(id);
        }
    }
    Ok(())
}

fn check_selection(selection: &ModelSelection, path: &str) -> Result<(), Failure> {
    match selection {
        ModelSelection::Ref(primary) => check_ref(primary, path.to_owned()),
        ModelSelection::Chain { primary, fallbacks } => {
            check_ref(primary, format!("{path}.primary"))?;
            for (index, fallback) in fallbacks.iter().enumerate() {
                check_ref(fallback, format!("{path}.fallbacks[{index}]"))?;
            }
            Ok(())
        }
    }
}

fn check_ref(model_ref: &str, path: String) -> Result<(), Failure> {
    if parse_model_ref(model_ref).is_some() {
        return Ok(());
    }
    Err((
        path,
        format!(
            "invalid model ref `{model_ref}`: expected `provider/model` (e.g. `openrouter/google/gemma-3-4b-it:free`)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        serde_json::from_str(json).expect("well-typed")
    }

    fn error(json: &str, scope: Scope) -> Option<(String, String)> {
        match check(&config(json), scope, "t.json5") {
            Ok(()) => None,
            Err(Error::Semantic { path, message, .. }) => Some((path, message)),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_memory_search_provider_must_offer_embeddings() {
        let (path, message) = error(
            r#"{"agents": {"defaults": {"memorySearch": {"provider": "anthropic"}}}}"#,
            Scope::All,
        )
        .expect("no embeddings at anthropic");
        assert_eq!(path, "agents.defaults.memorySearch.provider");
        assert!(message.contains("embeddings"), "{message}");
        assert_eq!(
            error(
                r#"{"agents": {"defaults": {"memorySearch": {"provider": "ollama", "model": "nomic-embed-text"}}}}"#,
                Scope::All,
            ),
            None
        );
    }

    #[test]
    fn model_refs_need_provider_and_model() {
        let (path, message) = error(
            r#"{"agents": {"defaults": {"model": "gpt-4o"}}}"#,
            Scope::All,
        )
        .expect("bad ref");
        assert_eq!(path, "agents.defaults.model");
        assert!(message.contains("provider/model"), "{message}");
        let (path, _) = error(
            r#"{"agents": {"defaults": {"model": {"primary": "a/b", "fallbacks": ["c/d", "/x"]}}}}"#,
            Scope::All,
        )
        .expect("bad fallback");
        assert_eq!(path, "agents.defaults.model.fallbacks[1]");
        let (path, _) = error(
            r#"{"agents": {"entries": {"coder": {"model": {"primary": "nope/"}}}}}"#,
            Scope::All,
        )
        .expect("bad entry ref");
        assert_eq!(path, "agents.entries.coder.model.primary");
        assert_eq!(
            error(
                r#"{"agents": {"defaults": {"model": "custom-provider/m"}}}"#,
                Scope::All
            ),
            None,
            "undeclared providers are fine (built-ins exist)"
        );
    }

    #[test]
    fn auth_ambiguity_needs_mode() {
        let both = r#"{"gateway": {"auth": {"token": "t", "password": "p"}}}"#;
        let (path, message) = error(both, Scope::All).expect("ambiguous");
        assert_eq!(path, "gateway.auth.mode");
        assert!(message.contains("set gateway.auth.mode"), "{message}");
        assert_eq!(
            error(
                r#"{"gateway": {"auth": {"mode": "password", "token": "t", "password": "p"}}}"#,
                Scope::All
            ),
            None
        );
        assert_eq!(
            error(r#"{"gateway": {"auth": {"mode": "token"}}}"#, Scope::All),
            None
        );
    }

    #[test]
    fn port_zero_rejected() {
        let (path, _) = error(r#"{"gateway": {"port": 0}}"#, Scope::All).expect("port 0");
        assert_eq!(path, "gateway.port");
    }

    #[test]
    fn single_default_agent() {
        let json = r#"{"agents": {"entries": {"a": {"default": true}, "b": {"default": true}}}}"#;
        let (path, message) = error(json, Scope::All).expect("two defaults");
        assert_eq!(path, "agents.entries.b.default");
        assert!(message.contains("`a`"), "{message}");
    }

    #[test]
    fn checks_only_sections_in_scope() {
        let json = r#"{"gateway": {"port": 0}, "agents": {"defaults": {"model": "bad"}}}"#;
        assert_eq!(error(json, Scope::Sections(&["models"])), None);
        assert_eq!(
            error(json, Scope::Sections(&["agents"]))
                .map(|(p, _)| p)
                .as_deref(),
            Some("agents.defaults.model")
        );
    }
}
