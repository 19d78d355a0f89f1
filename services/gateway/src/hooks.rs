//! `POST /hooks/agent` and `POST /hooks/wake`: external triggers (cron jobs, CI, home automation)
//! that start an agent run, with their own token (`hooks.token`, never the gateway's).
//!
//! The token travels in `Authorization: Bearer`, `x-pincer-token` or `x-openclaw-token`; a token in
//! the query string is refused (URLs end up in logs). The answer comes once a runner has picked the
//! run up (at most the pickup timeout); a run nobody picked up yet stays queued and runs later.

use pincer_bus::messages::RunEvent;
use serde::Deserialize;

use crate::turns::{Next, TurnSpec, Turns};

/// Token headers accepted besides `Authorization`.
pub const TOKEN_HEADERS: [&str; 2] = ["x-pincer-token", "x-openclaw-token"];

/// The hooks as configured.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Bearer token.
    pub token: pincer_config::Secret,
    /// URL prefix, e.g. `/hooks`.
    pub path: String,
}

/// The hooks section cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Enabled without a token.
    #[error("hooks.enabled is true but hooks.token is not set (e.g. `openssl rand -hex 32`)")]
    MissingToken,
    /// The same secret as the gateway's.
    #[error(
        "hooks.token must differ from gateway.auth.token: a leaked hook token must not open the whole gateway"
    )]
    SameAsGateway,
    /// A path that cannot be a prefix.
    #[error("hooks.path {0:?} must start with '/' and not be '/'")]
    BadPath(String),
}

impl Settings {
    /// `None` when hooks are disabled. `gateway_auth` is the resolved auth (its token may come from
    /// the environment, or be a password).
    pub fn from_config(
        hooks: &pincer_config::Hooks,
        gateway_auth: &crate::auth::Auth,
    ) -> Result<Option<Self>, SettingsError> {
        if !hooks.enabled {
            return Ok(None);
        }
        let token = hooks
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or(SettingsError::MissingToken)?;
        if let crate::auth::Auth::Token(secret) | crate::auth::Auth::Password(secret) = gateway_auth
            && secret.expose() == token.expose()
        {
            return Err(SettingsError::SameAsGateway);
        }
        let path = hooks.path.clone().unwrap_or_else(|| "/hooks".to_owned());
        let path = path.trim_end_matches('/').to_owned();
        if !path.starts_with('/') || path.is_empty() || path.contains(['{', '}', '*']) {
            return Err(SettingsError::BadPath(path));
        }
        Ok(Some(Self { token, path }))
    }

    /// Whether the request presents the hook token (constant time).
    pub fn presented_by(&self, headers: &http::HeaderMap) -> bool {
        let from_authorization = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::auth::bearer);
        let presented = from_authorization.or_else(|| {
            TOKEN_HEADERS
                .iter()
                .find_map(|name| headers.get(*name).and_then(|v| v.to_str().ok()))
        });
        presented.is_some_and(|p| {
            pincer_service_auth::same_secret(p.trim().as_bytes(), self.token.expose().as_bytes())
        })
    }
}

/// `POST /hooks/agent` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentHook {
    /// What the agent is asked.
    pub message: String,
    /// Which agent (default: the default agent).
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Continue this session (default: a new `hook:` session per call).
    #[serde(default)]
    pub session_key: Option<String>,
    /// A label for logs and the session key.
    #[serde(default)]
    pub name: Option<String>,
    /// Same key → same run, once.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

impl AgentHook {
    /// The session the run goes to: always under the agent's `hook:` namespace, so that the hooks
    /// token cannot reach into a channel's or the dashboard's sessions. Without a `sessionKey`,
    /// each call gets a new session.
    pub fn session_key(&self, agent: &str) -> String {
        match &self.session_key {
            Some(key) => format!("agent:{agent}:hook:{key}"),
            None => format!(
                "agent:{agent}:hook:{}:{}",
                self.name.as_deref().unwrap_or("hook"),
                uuid::Uuid::new_v4().simple()
            ),
        }
    }
}

/// `POST /hooks/wake` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WakeHook {
    /// The event text, put to the agent's main session.
    pub text: String,
    /// Which agent (default: the default agent).
    #[serde(default)]
    pub agent_id: Option<String>,
}

/// What happened to a hook's run.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// A runner started it.
    Started,
    /// Nobody picked it up in time; it stays queued.
    Queued,
    /// It already finished (a retried idempotency key, or a very fast run).
    Finished,
    /// It failed immediately.
    Failed(String),
}

/// Submits a run and waits until a runner admits it.
pub async fn start(
    turns: &Turns,
    spec: TurnSpec<'_>,
) -> Result<(String, Admission), crate::turns::Error> {
    let turn = turns.new_turn(spec);
    let mut submitted = turns.submit(&turn).await?;
    let admission = match submitted.next(std::time::Duration::from_secs(1)).await {
        Next::Event(RunEvent::Started | RunEvent::Delta { .. }) => Admission::Started,
        Next::Event(RunEvent::Done { .. }) => Admission::Finished,
        Next::Event(RunEvent::Error { message, .. }) => Admission::Failed(message),
        Next::NotPickedUp(_) | Next::Stalled(_) | Next::NoAnswer(_) => Admission::Queued,
    };
    Ok((turn.turn_id, admission))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pincer_config::Secret;

    fn hooks(enabled: bool, token: Option<&str>, path: Option<&str>) -> pincer_config::Hooks {
        pincer_config::Hooks {
            enabled,
            token: token.map(Secret::new),
            path: path.map(str::to_owned),
        }
    }

    #[test]
    fn settings_need_their_own_token_and_a_real_prefix() {
        let gateway = crate::auth::Auth::Token(Secret::new("gw"));
        assert!(
            Settings::from_config(&hooks(false, None, None), &gateway)
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            Settings::from_config(&hooks(true, None, None), &gateway),
            Err(SettingsError::MissingToken)
        ));
        assert!(matches!(
            Settings::from_config(&hooks(true, Some("gw"), None), &gateway),
            Err(SettingsError::SameAsGateway)
        ));
        assert!(matches!(
            Settings::from_config(&hooks(true, Some("h"), Some("/")), &gateway),
            Err(SettingsError::BadPath(_))
        ));
        let ok = Settings::from_config(&hooks(true, Some("h"), Some("/in/")), &gateway)
            .unwrap()
            .unwrap();
        assert_eq!(ok.path, "/in");
    }

    #[test]
    fn the_token_is_accepted_from_either_header() {
        let settings = Settings {
            token: Secret::new("hook-secret"),
            path: "/hooks".into(),
        };
        let with = |name: &str, value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
            settings.presented_by(&headers)
        };
        assert!(with("authorization", "Bearer hook-secret"));
        assert!(with("x-pincer-token", "hook-secret"));
        assert!(with("x-openclaw-token", "hook-secret"));
        assert!(!with("authorization", "Bearer hook-secre"));
        assert!(!with("x-other", "hook-secret"));
    }
}
