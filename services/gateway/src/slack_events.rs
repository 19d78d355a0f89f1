//! Slack's Events API ingress (`channels.slack.mode: "http"`): `POST <webhookPath>` (default
//! `/slack/events`, one path per app). A call must carry a fresh `X-Slack-Request-Timestamp`
//! (within five minutes, checked before the body is read) and `X-Slack-Signature`, the HMAC-SHA256
//! of `v0:<timestamp>:<body>` with the app's signing secret (compared in constant time). The
//! `url_verification` challenge is answered; an `event_callback` is put on JetStream (message id
//! from its `event_id`, so Slack's retries are harmless) and only then answered 200, within Slack's
//! three seconds. Slack retries anything else, so nothing accepted is lost.

use std::collections::BTreeMap;

use crate::pushed::PushedEvents;
use serde_json::Value;

/// The header with the request's Unix time.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// The header with the signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// Oldest (and furthest ahead) timestamp accepted, in seconds: Slack's replay window.
const MAX_SKEW_SECS: i64 = 300;

/// One app that takes its events over HTTP.
#[derive(Clone, Debug)]
pub struct App {
    /// Its account name.
    pub account: String,
    /// Its signing secret.
    pub signing_secret: pincer_config::Secret,
}

/// The apps by webhook path, and where their events go.
#[derive(Clone, Default)]
pub struct SlackEvents {
    apps: BTreeMap<String, App>,
    pushed: PushedEvents,
}

/// Why a call was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlackEventsError {
    /// No app takes events on this path.
    #[error("no slack app takes events on {0}")]
    UnknownPath(String),
    /// The timestamp is missing, unreadable or outside the replay window.
    #[error("missing or stale {TIMESTAMP_HEADER}")]
    Stale,
    /// The signature is missing or wrong.
    #[error("bad or missing {SIGNATURE_HEADER}")]
    BadSignature,
    /// The body is not an Events API call.
    #[error("the body is not a slack event: {0}")]
    NotAnEvent(String),
    /// JetStream did not take it (Slack will retry).
    #[error("message bus unavailable: {0}")]
    Bus(String),
}

/// What to answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// `url_verification`: the challenge, as text.
    Challenge(String),
    /// The event is stored (or needs nothing): 200.
    Accepted,
}

impl SlackEvents {
    /// `apps` by path; nothing is accepted on a path without one.
    pub fn new(apps: BTreeMap<String, App>, pushed: PushedEvents) -> Self {
        Self { apps, pushed }
    }

    /// The paths that take events.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.apps.keys()
    }

    /// Checks what can be checked from the headers alone, before the body is read: the path has
    /// an app, and the timestamp is fresh and a signature is present.
    pub fn check_headers(
        &self,
        path: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        now_secs: i64,
    ) -> Result<&App, SlackEventsError> {
        let app = self
            .apps
            .get(path)
            .ok_or_else(|| SlackEventsError::UnknownPath(path.to_owned()))?;
        let sent: i64 = timestamp
            .and_then(|t| t.trim().parse().ok())
            .ok_or(SlackEventsError::Stale)?;
        if (now_secs - sent).abs() > MAX_SKEW_SECS {
            return Err(SlackEventsError::Stale);
        }
        if signature.is_none_or(|s| !s.starts_with("v0=")) {
            return Err(SlackEventsError::BadSignature);
        }
        Ok(app)
    }

    /// Checks and stores one call.
    pub async fn receive(
        &self,
        path: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<Answer, SlackEventsError> {
        let now = i64::try_from(pincer_clock::now_secs()).unwrap_or(i64::MAX);
        let app = self.check_headers(path, timestamp, signature, now)?;
        let timestamp = timestamp.unwrap_or_default().trim();
        if !signature_matches(
            &app.signing_secret,
            timestamp,
            body,
            signature.unwrap_or_default(),
        ) {
            tracing::warn!(account = %app.account, "slack event with a bad signature refused");
            return Err(SlackEventsError::BadSignature);
        }
        let event: Value = serde_json::from_slice(body)
            .map_err(|e| SlackEventsError::NotAnEvent(e.to_string()))?;
        match event.get("type").and_then(Value::as_str) {
            Some("url_verification") => {
                let challenge = event
                    .get("challenge")
                    .and_then(Value::as_str)
                    .ok_or_else(|| SlackEventsError::NotAnEvent("no challenge".into()))?;
                Ok(Answer::Challenge(challenge.to_owned()))
            }
            Some("event_callback") => {
                let event_id = event
                    .get("event_id")
                    .and_then(Value::as_str)
                    .ok_or_else(|| SlackEventsError::NotAnEvent("no event_id".into()))?;
                let id = format!("slack-{}-{event_id}", app.account);
                self.pushed
                    .store("slack", &app.account, &id, body)
                    .await
                    .map(|()| Answer::Accepted)
                    .map_err(SlackEventsError::Bus)
            }
            // `app_rate_limited` and the like: nothing to do, and nothing to retry.
            _ => Ok(Answer::Accepted),
        }
    }
}

/// Whether `signature` (`v0=<hex>`) is the HMAC-SHA256 of `v0:<timestamp>:<body>`.
pub fn signature_matches(
    secret: &pincer_config::Secret,
    timestamp: &str,
    body: &[u8],
    signature: &str,
) -> bool {
    let Some(hex) = signature.strip_prefix("v0=") else {
        return false;
    };
    let mut message = format!("v0:{timestamp}:").into_bytes();
    message.extend_from_slice(body);
    crate::signature::hmac_sha256_hex_matches(secret.expose().as_bytes(), &message, hex)
}

/// The apps in `mode: "http"` by their path. A signing secret that is missing, or whose variable
/// the gateway's environment does not set, is a configuration error (an unauthenticated ingress
/// would let anyone talk to the agent), and so are two apps on one path.
pub fn apps_from_config(
    channels: &pincer_config::Channels,
) -> Result<BTreeMap<String, App>, String> {
    let mut out = BTreeMap::new();
    let Some(slack) = channels.slack.as_ref().filter(|s| s.enabled) else {
        return Ok(out);
    };
    // The gateway never needs the bot tokens: any placeholder makes the accounts resolve.
    let placeholder = pincer_config::SlackEnvTokens {
        bot: Some(pincer_config::Secret::new("xoxb-gateway")),
        app: None,
    };
    for (account, settings) in slack.resolved_accounts(&placeholder) {
        if settings.mode() != pincer_config::SlackMode::Http {
            continue;
        }
        let Some(secret) = settings
            .signing_secret
            .clone()
            .filter(|s| !s.is_empty() && !s.expose().contains("${"))
        else {
            return Err(format!(
                "channels.slack ({account}) uses mode \"http\" but has no usable signingSecret for the gateway (set it, e.g. \"${{SLACK_SIGNING_SECRET}}\", and pass that variable to the gateway)"
            ));
        };
        let path = settings.webhook_path();
        if let Some(other) = out.get(&path) {
            let other: &App = other;
            return Err(format!(
                "channels.slack: accounts {} and {account} both take events on {path}; give each its own webhookPath",
                other.account
            ));
        }
        out.insert(
            path,
            App {
                account,
                signing_secret: secret,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let mut message = format!("v0:{timestamp}:").into_bytes();
        message.extend_from_slice(body);
        let tag = ring::hmac::sign(&key, &message);
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("v0={hex}")
    }

    fn events() -> SlackEvents {
        let mut apps = BTreeMap::new();
        apps.insert(
            "/slack/events".to_owned(),
            App {
                account: "default".into(),
                signing_secret: pincer_config::Secret::new("8f742231b10e8888abcd99yyyzzz85a5"),
            },
        );
        SlackEvents::new(apps, PushedEvents::new(pincer_bus::Namespace::default()))
    }

    #[tokio::test]
    async fn the_url_verification_challenge_is_answered_when_signed() {
        let body = br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
        let now = pincer_clock::now_secs().to_string();
        let signature = sign("8f742231b10e8888abcd99yyyzzz85a5", &now, body);
        let answer = events()
            .receive("/slack/events", Some(&now), Some(&signature), body)
            .await
            .expect("verified");
        assert_eq!(
            answer,
            Answer::Challenge("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".into())
        );
    }

    #[tokio::test]
    async fn bad_signatures_stale_timestamps_and_unknown_paths_are_refused() {
        let body = br#"{"type":"url_verification","challenge":"c"}"#;
        let now = pincer_clock::now_secs().to_string();
        let wrong = sign("another-secret", &now, body);
        let refused = events()
            .receive("/slack/events", Some(&now), Some(&wrong), body)
            .await;
        assert_eq!(refused, Err(SlackEventsError::BadSignature));
        let old = (pincer_clock::now_secs() - 600).to_string();
        let stale = sign("8f742231b10e8888abcd99yyyzzz85a5", &old, body);
        let refused = events()
            .receive("/slack/events", Some(&old), Some(&stale), body)
            .await;
        assert_eq!(refused, Err(SlackEventsError::Stale));
        let refused = events()
            .receive("/other", Some(&now), Some(&wrong), body)
            .await;
        assert!(matches!(refused, Err(SlackEventsError::UnknownPath(_))));
        assert!(matches!(
            events()
                .receive("/slack/events", None, Some(&wrong), body)
                .await,
            Err(SlackEventsError::Stale)
        ));
    }

    #[test]
    fn http_apps_need_a_secret_and_a_path_of_their_own() {
        let channels = |json: serde_json::Value| -> pincer_config::Channels {
            serde_json::from_value(json).expect("channels")
        };
        let apps = apps_from_config(&channels(serde_json::json!({"slack": {
            "botToken": "xoxb-1", "mode": "http", "signingSecret": "s1",
            "accounts": {"ops": {"botToken": "xoxb-2", "mode": "http", "signingSecret": "s2", "webhookPath": "/slack/ops"},
                         "sock": {"botToken": "xoxb-3", "appToken": "xapp-3", "mode": "socket"}}
        }})))
        .expect("apps");
        assert_eq!(
            apps.keys().collect::<Vec<_>>(),
            ["/slack/events", "/slack/ops"]
        );
        assert!(
            apps_from_config(&channels(
                serde_json::json!({"slack": {"botToken": "x", "mode": "http"}})
            ))
            .is_err()
        );
        assert!(
            apps_from_config(&channels(serde_json::json!({"slack": {
                "botToken": "x", "mode": "http", "signingSecret": "s",
                "accounts": {"b": {"botToken": "y", "mode": "http", "signingSecret": "t"}}
            }})))
            .is_err(),
            "two apps on /slack/events"
        );
    }
}
