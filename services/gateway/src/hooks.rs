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

/// The longest run a hook may ask for: OpenClaw's default run limit, 48 hours.
const MAX_RUN_SECONDS: u64 = 172_800;

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
    /// Send the answer to `channel`/`to` (default true when they are given).
    #[serde(default)]
    pub deliver: Option<bool>,
    /// The channel the answer goes to (`telegram`, `discord`, `slack`, `whatsapp`, `signal`,
    /// `bluebubbles`).
    #[serde(default)]
    pub channel: Option<String>,
    /// The chat there (a Telegram chat id, a Discord or Slack channel id, a phone number...).
    #[serde(default)]
    pub to: Option<String>,
    /// The channel account that sends it (default `default`).
    #[serde(default)]
    pub account_id: Option<String>,
    /// This run's thinking level.
    #[serde(default)]
    pub thinking: Option<String>,
    /// Accepted for OpenClaw callers: Pincer runs every hook at once.
    #[serde(default)]
    pub wake_mode: Option<String>,
    /// The model to call first for this run (`provider/model`); the agent's fallbacks follow.
    #[serde(default)]
    pub model: Option<String>,
    /// This run's time limit in seconds, in place of the agent's `timeoutSeconds`.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
}

/// What an agent hook sets for its own run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunSettings {
    /// The model called first.
    pub model: Option<String>,
    /// The time limit in seconds.
    pub timeout_secs: Option<u64>,
    /// The thinking level.
    pub thinking: Option<String>,
}

/// Why a hook's delivery target was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// `channel: "last"` (OpenClaw's "wherever the main session last talked").
    #[error("channel \"last\" is not supported: name the channel and `to`")]
    Last,
    /// A channel without `to`, or `to` without a channel.
    #[error("`channel` and `to` go together")]
    Incomplete,
    /// No such channel account is configured.
    #[error("no {channel} account {account:?} is configured")]
    Unknown {
        /// The channel named.
        channel: String,
        /// The account named.
        account: String,
    },
}

impl AgentHook {
    /// Where the answer goes: `None` when not delivered; an error for a target that is not
    /// configured (the call is refused, nothing runs).
    pub fn delivery(
        &self,
        accounts: &[crate::control::ChannelAccount],
    ) -> Result<Option<pincer_bus::messages::Delivery>, TargetError> {
        if self.deliver == Some(false) {
            return Ok(None);
        }
        let (channel, to) = match (self.channel.as_deref(), self.to.as_deref()) {
            (None, None) => return Ok(None),
            (Some("last"), _) => return Err(TargetError::Last),
            (Some(channel), Some(to)) if !to.trim().is_empty() => (channel, to.trim()),
            _ => return Err(TargetError::Incomplete),
        };
        deliver_to(accounts, channel, to, self.account_id.as_deref()).map(Some)
    }

    /// The session the run goes to: always under the agent's `hook:` namespace, so that the hooks
    /// token cannot reach into a channel's or the dashboard's sessions. Without a `sessionKey`,
    /// each call gets a new session; a retried call (the same `idempotencyKey`) the same one, so
    /// that it finds its run.
    pub fn session_key(&self, agent: &str) -> String {
        let name = self.name.as_deref().unwrap_or("hook");
        match (&self.session_key, self.idempotency_key()) {
            (Some(key), _) => format!("agent:{agent}:hook:{key}"),
            (None, Some(retry)) => format!(
                "agent:{agent}:hook:{name}:{}",
                pincer_store::ids::derived(&format!("{name}\n{retry}"))
            ),
            (None, None) => format!(
                "agent:{agent}:hook:{name}:{}",
                uuid::Uuid::new_v4().simple()
            ),
        }
    }

    /// The `idempotencyKey`, when it says anything.
    pub fn idempotency_key(&self) -> Option<&str> {
        self.idempotency_key
            .as_deref()
            .map(str::trim)
            .filter(|key| !key.is_empty())
    }

    /// The run's own settings (model, time limit, thinking level), checked; a refusal names the
    /// field.
    pub fn run_settings(&self) -> Result<RunSettings, (&'static str, String)> {
        let model = match self.model.as_deref() {
            None => None,
            Some(model) => Some(
                crate::turns::model_choice("model", model).map_err(|message| ("model", message))?,
            ),
        };
        let timeout = match self.timeout_seconds {
            Some(secs) if !(1..=MAX_RUN_SECONDS).contains(&secs) => {
                return Err((
                    "timeoutSeconds",
                    format!("timeoutSeconds must be between 1 and {MAX_RUN_SECONDS} (48 hours)"),
                ));
            }
            other => other,
        };
        let thinking = match self.thinking.as_deref() {
            None => None,
            Some(name) => match pincer_config::ThinkingLevel::parse(name) {
                Some(level) => Some(level.as_str().to_owned()),
                None => {
                    return Err((
                        "thinking",
                        "thinking must be one of off, minimal, low, medium, high, xhigh".to_owned(),
                    ));
                }
            },
        };
        Ok(RunSettings {
            model,
            timeout_secs: timeout,
            thinking,
        })
    }
}

/// The delivery of an answer to `to` on `channel` through `account` (default `default`), when
/// that channel account is configured (hooks, cron jobs and heartbeats).
pub fn deliver_to(
    accounts: &[crate::control::ChannelAccount],
    channel: &str,
    to: &str,
    account: Option<&str>,
) -> Result<pincer_bus::messages::Delivery, TargetError> {
    let channel = channel.trim().to_ascii_lowercase();
    let account = account
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .unwrap_or(pincer_config::DEFAULT_ACCOUNT)
        .to_owned();
    if !accounts
        .iter()
        .any(|a| a.channel == channel && a.account == account)
    {
        return Err(TargetError::Unknown { channel, account });
    }
    Ok(pincer_bus::messages::Delivery {
        channel,
        account,
        chat_id: to.trim().to_owned(),
        thread_id: None,
        reply_to_message_id: None,
    })
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
    /// `now` (the default): the main session runs at once with the event; `next-heartbeat`: the
    /// event waits in the session for its next run (the heartbeat's, or a person's message).
    #[serde(default)]
    pub mode: Option<WakeMode>,
}

/// When a wake event is read (OpenClaw's `mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WakeMode {
    /// Run the main session now.
    #[default]
    Now,
    /// Leave the event for the session's next run.
    NextHeartbeat,
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

/// What a hook adds to its run.
#[derive(Debug, Default)]
pub struct Extras {
    /// Where the answer is sent.
    pub deliver: Option<pincer_bus::messages::Delivery>,
    /// The thinking level.
    pub thinking: Option<String>,
    /// The model called first.
    pub model: Option<String>,
    /// The run's time limit in seconds.
    pub timeout_secs: Option<u64>,
    /// Only keep the message in the session for its next run.
    pub record_only: bool,
}

/// Submits a run and waits until a runner admits it.
pub async fn start(
    turns: &Turns,
    spec: TurnSpec<'_>,
    extras: Extras,
) -> Result<(String, Admission), crate::turns::Error> {
    let mut turn = turns.new_turn(spec);
    turn.deliver = extras.deliver;
    turn.thinking = extras.thinking;
    turn.model = extras.model;
    turn.timeout_secs = extras.timeout_secs;
    turn.record_only = extras.record_only;
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
    fn a_hook_delivers_only_to_a_configured_channel_account() {
        let accounts = vec![crate::control::ChannelAccount {
            channel: "telegram".into(),
            account: "default".into(),
            mode: "polling",
        }];
        let hook =
            |json: serde_json::Value| -> AgentHook { serde_json::from_value(json).expect("hook") };
        let to_telegram =
            hook(serde_json::json!({"message": "m", "channel": "telegram", "to": "42"}));
        let target = to_telegram
            .delivery(&accounts)
            .expect("ok")
            .expect("delivered");
        assert_eq!(
            (target.channel.as_str(), target.chat_id.as_str()),
            ("telegram", "42")
        );
        let off = hook(
            serde_json::json!({"message": "m", "channel": "telegram", "to": "42", "deliver": false}),
        );
        assert_eq!(off.delivery(&accounts), Ok(None));
        assert_eq!(
            hook(serde_json::json!({"message": "m"})).delivery(&accounts),
            Ok(None)
        );
        let last = hook(serde_json::json!({"message": "m", "channel": "last"}));
        assert_eq!(last.delivery(&accounts), Err(TargetError::Last));
        let half = hook(serde_json::json!({"message": "m", "channel": "telegram"}));
        assert_eq!(half.delivery(&accounts), Err(TargetError::Incomplete));
        let other = hook(serde_json::json!({"message": "m", "channel": "slack", "to": "C1"}));
        assert!(matches!(
            other.delivery(&accounts),
            Err(TargetError::Unknown { .. })
        ));
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
