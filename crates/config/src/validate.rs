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
    if scope.includes("cron") {
        check_cron(config).map_err(|(path, message)| fail(path, message))?;
    }
    if scope.includes("hooks") {
        check_hooks(config).map_err(|(path, message)| fail(path, message))?;
    }
    if scope.includes("tools") {
        check_tools(&config.tools).map_err(|(path, message)| fail(path, message))?;
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

/// `tools.allow`/`tools.deny` may name only groups that exist.
fn check_tools(tools: &crate::Tools) -> Result<(), Failure> {
    for (list, patterns) in [("allow", &tools.allow), ("deny", &tools.deny)] {
        for (index, pattern) in patterns.iter().enumerate() {
            crate::schema::tool_groups::check(pattern)
                .map_err(|message| (format!("tools.{list}[{index}]"), message))?;
        }
    }
    Ok(())
}

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
    if let Some(mode) = gateway.mode.as_deref().filter(|mode| *mode != "local") {
        return Err((
            "gateway.mode".into(),
            format!(
                "{mode:?}: a Pincer gateway runs where it is started, so the only mode is \"local\"; to use a gateway on another machine, point the CLI at it with --url or PINCER_GATEWAY_URL"
            ),
        ));
    }
    if gateway.control_ui.dangerously_disable_device_auth {
        return Err((
            "gateway.controlUi.dangerouslyDisableDeviceAuth".into(),
            "Pincer's Control UI has no device pairing to turn off: a browser signs in with the gateway token or password (or a Tailscale identity) alone, so `true` would change nothing; remove the key".into(),
        ));
    }
    if let Some(base) = &gateway.control_ui.base_path {
        check_base_path(base)?;
    }
    check_tailscale(config)
}

/// `hooks`: on with a token of its own, under a real prefix (the gateway refuses to start
/// otherwise).
fn check_hooks(config: &Config) -> Result<(), Failure> {
    let hooks = &config.hooks;
    if !hooks.enabled {
        return Ok(());
    }
    let Some(token) = hooks.token.as_ref().filter(|t| !t.is_empty()) else {
        return Err((
            "hooks.token".into(),
            "hooks.enabled needs hooks.token (a secret of its own, not the gateway's)".into(),
        ));
    };
    if crate::exposure::gateway_secret(&config.gateway.auth)
        .is_some_and(|(_, secret)| secret.expose() == token.expose())
    {
        return Err((
            "hooks.token".into(),
            "must differ from the gateway's token or password: whoever holds the hooks token could otherwise use the whole API".into(),
        ));
    }
    if hooks
        .path
        .as_deref()
        .is_some_and(|path| path.trim_matches('/').is_empty())
    {
        return Err((
            "hooks.path".into(),
            "must be a prefix such as /hooks, not the root".into(),
        ));
    }
    Ok(())
}

/// URL prefixes the gateway serves itself, which the Control UI cannot take.
const RESERVED_PREFIXES: [&str; 10] = [
    "v1",
    "ws",
    "hooks",
    "health",
    "healthz",
    "ready",
    "readyz",
    "telegram-webhook",
    "whatsapp-webhook",
    "bluebubbles-webhook",
];

fn check_base_path(base: &str) -> Result<(), Failure> {
    let path = "gateway.controlUi.basePath".to_owned();
    let trimmed = base.trim_end_matches('/');
    if !base.starts_with('/') {
        return Err((
            path,
            format!("{base:?} must start with `/` (e.g. \"/pincer\")"),
        ));
    }
    if let Some(bad) = trimmed
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/-._~".contains(*c)))
    {
        return Err((
            path,
            format!("{base:?} contains {bad:?}; use letters, digits, `-`, `.`, `_`, `~` and `/`"),
        ));
    }
    let first = trimmed
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    if RESERVED_PREFIXES.contains(&first) || trimmed.contains("//") {
        return Err((
            path,
            format!(
                "{base:?} overlaps the gateway's own routes (/{first}); choose another prefix such as \"/pincer\""
            ),
        ));
    }
    Ok(())
}

fn check_tailscale(config: &Config) -> Result<(), Failure> {
    use crate::schema::TailscaleMode;
    if let Some(inner) = &config.gateway.tailscale
        && config.tailscale != crate::schema::Tailscale::default()
        && *inner != config.tailscale
    {
        return Err((
            "gateway.tailscale".into(),
            "set both here and in the top-level `tailscale` with different values; keep one".into(),
        ));
    }
    let mode = config.tailscale().effective_mode();
    let auth = &config.gateway.auth;
    if mode == TailscaleMode::Funnel
        && matches!(
            auth.mode,
            Some(
                crate::schema::gateway::AuthMode::None
                    | crate::schema::gateway::AuthMode::TrustedProxy
            )
        )
    {
        return Err((
            "tailscale.mode".into(),
            "\"funnel\" publishes the gateway on the internet; it needs gateway.auth.mode \"token\" or \"password\"".into(),
        ));
    }
    if auth.allow_tailscale && mode != TailscaleMode::Serve {
        return Err((
            "gateway.auth.allowTailscale".into(),
            "Tailscale identities only reach the gateway through `tailscale serve`; set tailscale.mode to \"serve\" or remove this key".into(),
        ));
    }
    Ok(())
}

fn check_cron(config: &Config) -> Result<(), Failure> {
    if let Some(grace) = &config.cron.missed_grace {
        crate::parse_duration(grace).map_err(|e| ("cron.missedGrace".into(), e.to_string()))?;
    }
    Ok(())
}

/// The channels a heartbeat can deliver to.
const HEARTBEAT_TARGETS: &[&str] = &[
    "none",
    "telegram",
    "discord",
    "slack",
    "whatsapp",
    "signal",
    "bluebubbles",
];

fn check_heartbeat(heartbeat: &crate::Heartbeat) -> Result<(), Failure> {
    let path = |key: &str| format!("agents.defaults.heartbeat.{key}");
    if let Some(every) = &heartbeat.every {
        let every_value =
            crate::parse_duration(every).map_err(|e| (path("every"), e.to_string()))?;
        if !every_value.is_zero() && every_value < std::time::Duration::from_secs(1) {
            return Err((
                path("every"),
                "a heartbeat needs at least 1s between turns".into(),
            ));
        }
    }
    if let Some(hours) = &heartbeat.active_hours {
        for (key, value) in [("start", &hours.start), ("end", &hours.end)] {
            if crate::minute_of_day(value).is_none() {
                return Err((
                    path(&format!("activeHours.{key}")),
                    format!("{value:?} is not a time of day \"HH:MM\" (00:00 to 24:00)"),
                ));
            }
        }
    }
    let target = heartbeat.target.as_deref().unwrap_or("none");
    if !HEARTBEAT_TARGETS.contains(&target) {
        return Err((
            path("target"),
            format!(
                "{target:?} is not one of: {} (\"last\" is not supported: name the channel and `to`)",
                HEARTBEAT_TARGETS.join(", ")
            ),
        ));
    }
    let has_to = heartbeat
        .to
        .as_deref()
        .is_some_and(|to| !to.trim().is_empty());
    if target != "none" && !has_to {
        return Err((
            path("to"),
            format!("target {target:?} needs `to` (the chat)"),
        ));
    }
    Ok(())
}

fn check_agents(config: &Config) -> Result<(), Failure> {
    let agents = &config.agents;
    if agents.defaults.max_concurrent == Some(0) {
        return Err((
            "agents.defaults.maxConcurrent".into(),
            "0 would run no turn at all; use 1 or more (a replica for sub-agents only is started with PINCER_AGENT_RUNNER_LANES=subagents)".into(),
        ));
    }
    if agents
        .defaults
        .subagents
        .as_ref()
        .is_some_and(|s| s.max_concurrent == Some(0))
    {
        return Err((
            "agents.defaults.subagents.maxConcurrent".into(),
            "0 would leave every sub-agent waiting forever; use 1 or more (or deny sessions_spawn in tools.deny)".into(),
        ));
    }
    if let Some(heartbeat) = &agents.defaults.heartbeat {
        check_heartbeat(heartbeat)?;
    }
    if let Some(model) = agents
        .defaults
        .subagents
        .as_ref()
        .and_then(|s| s.model.as_deref())
    {
        check_ref(model, "agents.defaults.subagents.model".into())?;
    }
    if let Some(model) = &agents.defaults.model {
        check_selection(model, "agents.defaults.model")?;
        check_declared(config, model, "agents.defaults.model")?;
    }
    if let Some(tokens) = agents.defaults.context_tokens
        && tokens < MIN_CONTEXT_TOKENS
    {
        return Err((
            "agents.defaults.contextTokens".into(),
            format!(
                "{tokens} tokens cannot hold the system prompt and a question; use {MIN_CONTEXT_TOKENS} or more (it caps the model's own window)"
            ),
        ));
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
            check_declared(config, model, &format!("agents.entries.{id}.model"))?;
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

/// Smallest `contextTokens` accepted.
const MIN_CONTEXT_TOKENS: u32 = 2_048;

/// Under `models.mode: "replace"`, every model of `selection` must name a declared provider.
fn check_declared(config: &Config, selection: &ModelSelection, path: &str) -> Result<(), Failure> {
    let refs = std::iter::once(selection.primary())
        .chain(selection.fallbacks().iter().map(String::as_str));
    for model_ref in refs {
        if let Some((provider, _)) = parse_model_ref(model_ref)
            && !config.models.allows_provider(provider)
        {
            return Err((
                path.to_owned(),
                format!(
                    "`{model_ref}` uses provider `{provider}`, which models.providers does not declare, and models.mode is \"replace\" (only declared providers); declare it or use \"merge\""
                ),
            ));
        }
    }
    Ok(())
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
    fn keys_that_used_to_be_ignored_are_checked() {
        let refused = |json: &str, scope: Scope| error(json, scope).expect(json);
        assert_eq!(error(r#"{"gateway": {"mode": "local"}}"#, Scope::All), None);
        let (path, message) = refused(r#"{"gateway": {"mode": "remote"}}"#, Scope::All);
        assert_eq!(path, "gateway.mode");
        assert!(message.contains("PINCER_GATEWAY_URL"), "{message}");

        assert_eq!(
            error(
                r#"{"gateway": {"controlUi": {"basePath": "/pincer/"}}}"#,
                Scope::All
            ),
            None
        );
        for bad in ["pincer", "/v1", "/ws/ui", "/a b", "/a//b"] {
            let json = format!(r#"{{"gateway": {{"controlUi": {{"basePath": "{bad}"}}}}}}"#);
            assert_eq!(
                refused(&json, Scope::All).0,
                "gateway.controlUi.basePath",
                "{bad}"
            );
        }

        let (path, _) = refused(
            r#"{"tailscale": {"mode": "funnel"}, "gateway": {"auth": {"mode": "none"}}}"#,
            Scope::All,
        );
        assert_eq!(path, "tailscale.mode");
        assert_eq!(
            error(
                r#"{"gateway": {"tailscale": {"mode": "funnel"}, "auth": {"mode": "password", "password": "long enough"}}}"#,
                Scope::All
            ),
            None
        );
        let (path, _) = refused(
            r#"{"gateway": {"controlUi": {"dangerouslyDisableDeviceAuth": true}}}"#,
            Scope::All,
        );
        assert_eq!(path, "gateway.controlUi.dangerouslyDisableDeviceAuth");
        assert_eq!(
            error(
                r#"{"gateway": {"controlUi": {"dangerouslyDisableDeviceAuth": false}}}"#,
                Scope::All
            ),
            None,
            "the seed's false is what Pincer does"
        );
        let (path, _) = refused(
            r#"{"gateway": {"auth": {"allowTailscale": true}}}"#,
            Scope::All,
        );
        assert_eq!(path, "gateway.auth.allowTailscale");
        assert_eq!(
            error(
                r#"{"tailscale": {"mode": "on"}, "gateway": {"auth": {"allowTailscale": true}}}"#,
                Scope::All
            ),
            None,
            "the seed's `on` is serve"
        );
        let (path, _) = refused(
            r#"{"tailscale": {"mode": "serve"}, "gateway": {"tailscale": {"mode": "funnel"}}}"#,
            Scope::All,
        );
        assert_eq!(path, "gateway.tailscale");

        let (path, _) = refused(
            r#"{"agents": {"defaults": {"contextTokens": 100}}}"#,
            Scope::All,
        );
        assert_eq!(path, "agents.defaults.contextTokens");

        let replace = r#"{"models": {"mode": "replace", "providers": {"ollama": {}}},
            "agents": {"defaults": {"model": {"primary": "ollama/m", "fallbacks": ["openai/gpt-x"]}}}}"#;
        let (path, message) = refused(replace, Scope::All);
        assert_eq!(path, "agents.defaults.model");
        assert!(message.contains("`openai`"), "{message}");
        let merge = replace.replace("replace", "merge");
        assert_eq!(error(&merge, Scope::All), None);
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
    fn heartbeats_and_cron_are_checked_by_key() {
        let bad = [
            (
                r#"{"agents": {"defaults": {"heartbeat": {"every": "10x"}}}}"#,
                "agents.defaults.heartbeat.every",
            ),
            (
                r#"{"agents": {"defaults": {"heartbeat": {"every": "30m", "activeHours": {"start": "8", "end": "22:00"}}}}}"#,
                "agents.defaults.heartbeat.activeHours.start",
            ),
            (
                r#"{"agents": {"defaults": {"heartbeat": {"every": "30m", "target": "last"}}}}"#,
                "agents.defaults.heartbeat.target",
            ),
            (
                r#"{"agents": {"defaults": {"heartbeat": {"every": "30m", "target": "telegram"}}}}"#,
                "agents.defaults.heartbeat.to",
            ),
            (r#"{"cron": {"missedGrace": "soon"}}"#, "cron.missedGrace"),
        ];
        for (json, path) in bad {
            assert_eq!(
                error(json, Scope::All).map(|e| e.0),
                Some(path.to_owned()),
                "{json}"
            );
        }
        assert_eq!(
            error(
                r#"{"agents": {"defaults": {"maxConcurrent": 0}}}"#,
                Scope::All
            )
            .map(|e| e.0),
            Some("agents.defaults.maxConcurrent".to_owned())
        );
        let good = r#"{"cron": {"missedGrace": "2h"}, "agents": {"defaults": {"heartbeat": {"every": "30m", "activeHours": {"start": "08:00", "end": "24:00", "timezone": "Europe/Berlin"}, "target": "telegram", "to": "42"}}}}"#;
        assert_eq!(error(good, Scope::All), None);
        let parsed = config(good);
        assert_eq!(
            parsed.cron.missed_grace(),
            std::time::Duration::from_secs(7200)
        );
        let heartbeat = parsed.agents.defaults.heartbeat.expect("heartbeat");
        assert_eq!(
            heartbeat.every(),
            Some(std::time::Duration::from_secs(1800))
        );
        assert_eq!(crate::minute_of_day("24:00"), Some(1440));
        assert_eq!(crate::minute_of_day("24:01"), None);
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
    fn what_the_gateway_would_refuse_at_start_is_refused_here_first() {
        let same = r#"{"gateway": {"auth": {"token": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"}},
            "hooks": {"enabled": true, "token": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"}}"#;
        assert_eq!(
            error(same, Scope::All).map(|(p, _)| p).as_deref(),
            Some("hooks.token")
        );
        let tokenless = r#"{"hooks": {"enabled": true}}"#;
        assert_eq!(
            error(tokenless, Scope::All).map(|(p, _)| p).as_deref(),
            Some("hooks.token")
        );
        let root = r#"{"hooks": {"enabled": true, "token": "z9Y8x7W6v5U4t3S2r1Q0p9O8n7M6l5K4", "path": "/"}}"#;
        assert_eq!(
            error(root, Scope::All).map(|(p, _)| p).as_deref(),
            Some("hooks.path")
        );
        // A gateway secret that is not in use (the mode is the password) is no clash.
        let unused = r#"{"gateway": {"auth": {"mode": "password", "password": "Zx9-long-password-Qw8-Er7-Ty6-Ui5",
            "token": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"}},
            "hooks": {"enabled": true, "token": "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6"}}"#;
        assert_eq!(error(unused, Scope::All), None);
    }

    #[test]
    fn a_tool_group_that_does_not_exist_is_named() {
        let json = r#"{"tools": {"deny": ["group:runtime", "group:filesystem"]}}"#;
        let (path, message) = error(json, Scope::All).expect("unknown group");
        assert_eq!(path, "tools.deny[1]");
        assert!(message.contains("group:fs"), "{message}");
        assert_eq!(
            error(
                r#"{"tools": {"allow": ["group:fs", "bash", "*_search"]}}"#,
                Scope::All
            ),
            None
        );
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
