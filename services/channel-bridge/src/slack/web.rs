//! Slack's Web API for one app: who the bot is (`auth.test`), a Socket Mode URL
//! (`apps.connections.open`, with the app-level token), posting and updating messages (each reply
//! chunk carries its key in the message's metadata, so after a crash the bridge can find what it
//! already posted instead of posting again), and file downloads. Every failure is typed; tokens
//! only ever go in the `Authorization` header.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channel::body::{BodyError, read_capped};

/// The metadata event type of the bridge's replies.
pub const REPLY_EVENT: &str = "pincer_reply";

/// What went wrong with a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebError {
    /// HTTP 429: wait this long.
    #[error("rate limited by Slack: retry after {0:?}")]
    RetryAfter(Duration),
    /// The token is wrong, revoked, or of the wrong kind (never works again as it is).
    #[error("Slack refused the token: {0}")]
    Auth(String),
    /// The channel refuses the bot (not in it, archived, gone).
    #[error("no access to the channel: {0}")]
    NoAccess(String),
    /// The request itself was refused (`msg_too_long`, `invalid_blocks`...).
    #[error("Slack refused the call: {0}")]
    Refused(String),
    /// 5xx, an unreadable answer, `internal_error`, `fatal_error`.
    #[error("slack failed ({0}): {1}")]
    Server(u16, String),
    /// Connection, DNS, TLS or timeout.
    #[error("cannot reach slack: {0}")]
    Transport(String),
}

impl WebError {
    fn from_code(code: &str) -> Self {
        match code {
            "invalid_auth"
            | "not_authed"
            | "account_inactive"
            | "token_revoked"
            | "token_expired"
            | "not_allowed_token_type"
            | "no_permission"
            | "missing_scope" => Self::Auth(code.to_owned()),
            "channel_not_found" | "not_in_channel" | "is_archived" | "restricted_action" => {
                Self::NoAccess(code.to_owned())
            }
            "ratelimited" | "rate_limited" => Self::RetryAfter(Duration::from_secs(1)),
            "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                Self::Server(200, code.to_owned())
            }
            other => Self::Refused(other.to_owned()),
        }
    }
}

/// The bot's identity in its workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The bot user's id (`U…`): mentions of it address the bot.
    pub user_id: String,
    /// The bot id (`B…`): messages carrying it are the bot's own.
    pub bot_id: Option<String>,
    /// Its name.
    pub name: String,
}

/// A client for one app; cheap to clone.
#[derive(Clone)]
pub struct Web {
    http: reqwest::Client,
    base: String,
    /// `Bearer xoxb-…`; never logged.
    bot: String,
    /// `Bearer xapp-…` for Socket Mode; never logged.
    app: Option<String>,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Web")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Timeout of every call.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

impl Web {
    /// A client at `base` (`https://slack.com/api` or a fake) with the bot token and, for Socket
    /// Mode, the app-level token.
    pub fn new(base: &str, bot_token: &str, app_token: Option<&str>) -> Result<Self, WebError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            // Credentials never follow a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| WebError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            bot: format!("Bearer {}", bot_token.trim()),
            app: app_token.map(|token| format!("Bearer {}", token.trim())),
        })
    }

    /// A write method, its arguments as JSON.
    async fn call(&self, method: &str, auth: &str, body: &Value) -> Result<Value, WebError> {
        self.answer(self.post(method, auth).json(body)).await
    }

    /// A read method, its arguments as a form: Slack takes JSON bodies for its write methods
    /// only, and a read method that ignores them answers about no channel at all.
    async fn call_form(
        &self,
        method: &str,
        auth: &str,
        form: &[(&str, String)],
    ) -> Result<Value, WebError> {
        // Url's query serializer is the form encoding (application/x-www-form-urlencoded).
        let mut encoder = reqwest::Url::parse("http://form.invalid/")
            .map_err(|e| WebError::Transport(e.to_string()))?;
        encoder.query_pairs_mut().extend_pairs(form);
        let body = encoder.query().unwrap_or_default().to_owned();
        let request = self
            .post(method, auth)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body);
        self.answer(request).await
    }

    fn post(&self, method: &str, auth: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/{method}", self.base))
            .header(reqwest::header::AUTHORIZATION, auth)
            .timeout(CALL_TIMEOUT)
    }

    /// Sends `request` and reads its answer: the fields of `ok: true`, else the error.
    async fn answer(&self, request: reqwest::RequestBuilder) -> Result<Value, WebError> {
        let response = request
            .send()
            .await
            .map_err(|e| WebError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Err(WebError::RetryAfter(Duration::from_secs(
                retry_after.unwrap_or(1).min(3600),
            )));
        }
        let answer: Value = response.json().await.map_err(|e| {
            WebError::Server(
                status.as_u16(),
                format!("unreadable answer: {}", e.without_url()),
            )
        })?;
        if answer.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(answer);
        }
        if status.is_server_error() {
            return Err(WebError::Server(status.as_u16(), status.to_string()));
        }
        let code = answer
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("unknown_error");
        Err(match WebError::from_code(code) {
            WebError::RetryAfter(_) => {
                WebError::RetryAfter(Duration::from_secs(retry_after.unwrap_or(1)))
            }
            other => other,
        })
    }

    /// `auth.test`.
    pub async fn auth_test(&self) -> Result<Identity, WebError> {
        let answer = self.call("auth.test", &self.bot, &json!({})).await?;
        let user_id = text(&answer, "user_id")
            .ok_or_else(|| WebError::Server(200, "auth.test without user_id".into()))?;
        Ok(Identity {
            name: text(&answer, "user").unwrap_or_else(|| user_id.clone()),
            bot_id: text(&answer, "bot_id"),
            user_id,
        })
    }

    /// `apps.connections.open`: a single-use Socket Mode URL.
    pub async fn connections_open(&self) -> Result<String, WebError> {
        let app = self.app.as_deref().ok_or_else(|| {
            WebError::Auth("Socket Mode needs the app-level token (appToken, xapp-…)".into())
        })?;
        let answer = self.call("apps.connections.open", app, &json!({})).await?;
        text(&answer, "url")
            .ok_or_else(|| WebError::Server(200, "apps.connections.open without a url".into()))
    }

    /// `chat.postMessage` of one reply chunk, in `thread_ts` if set, carrying `key` in its
    /// metadata. Returns the message's `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        text_: &str,
        thread_ts: Option<&str>,
        key: Option<&str>,
    ) -> Result<String, WebError> {
        let mut body = json!({
            "channel": channel,
            "text": text_,
            "mrkdwn": true,
            "unfurl_links": false,
        });
        if let Some(thread) = thread_ts {
            body["thread_ts"] = json!(thread);
        }
        if let Some(key) = key {
            body["metadata"] =
                json!({ "event_type": REPLY_EVENT, "event_payload": { "key": key } });
        }
        let answer = self.call("chat.postMessage", &self.bot, &body).await?;
        text(&answer, "ts")
            .or_else(|| {
                answer
                    .pointer("/message/ts")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .ok_or_else(|| WebError::Server(200, "chat.postMessage without ts".into()))
    }

    /// `chat.update`.
    pub async fn update(&self, channel: &str, ts: &str, text_: &str) -> Result<(), WebError> {
        let body = json!({ "channel": channel, "ts": ts, "text": text_ });
        self.call("chat.update", &self.bot, &body).await.map(|_| ())
    }

    /// The `ts` of a message in `channel` (or its thread) since `oldest` (Unix seconds) whose
    /// metadata carries `key`: a reply chunk posted before a crash.
    pub async fn find_reply(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        key: &str,
        oldest: u64,
    ) -> Result<Option<String>, WebError> {
        let mut form = vec![
            ("channel", channel.to_owned()),
            ("oldest", format!("{oldest}.000000")),
            ("limit", "200".to_owned()),
            ("include_all_metadata", "true".to_owned()),
        ];
        let method = match thread_ts {
            Some(thread) => {
                form.push(("ts", thread.to_owned()));
                "conversations.replies"
            }
            None => "conversations.history",
        };
        let answer = self.call_form(method, &self.bot, &form).await?;
        Ok(answer
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|message| {
                message
                    .pointer("/metadata/event_type")
                    .and_then(Value::as_str)
                    == Some(REPLY_EVENT)
                    && message
                        .pointer("/metadata/event_payload/key")
                        .and_then(Value::as_str)
                        == Some(key)
            })
            .and_then(|message| text(message, "ts")))
    }

    /// Downloads a file (`url_private`) with the bot token, at most `max_bytes`. The token goes
    /// only to Slack's own hosts or the configured API host.
    pub async fn download(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, WebError> {
        let target = reqwest::Url::parse(url).map_err(|e| WebError::Refused(e.to_string()))?;
        let api = reqwest::Url::parse(&self.base).map_err(|e| WebError::Refused(e.to_string()))?;
        let host = target.host_str().unwrap_or_default();
        let trusted = host == api.host_str().unwrap_or_default()
            || host == "slack.com"
            || host.ends_with(".slack.com");
        let mut request = self
            .http
            .get(target.clone())
            .timeout(Duration::from_secs(60));
        if trusted {
            request = request.header(reqwest::header::AUTHORIZATION, &self.bot);
        }
        let response = request
            .send()
            .await
            .map_err(|e| WebError::Transport(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(WebError::Server(
                response.status().as_u16(),
                "file download refused".into(),
            ));
        }
        read_capped(response, max_bytes)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge(_) => WebError::Refused(format!("file {error}")),
                BodyError::Transport(reason) => WebError::Transport(reason),
            })
    }
}

fn text(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_typed() {
        assert!(matches!(
            WebError::from_code("invalid_auth"),
            WebError::Auth(_)
        ));
        assert!(matches!(
            WebError::from_code("token_revoked"),
            WebError::Auth(_)
        ));
        assert!(matches!(
            WebError::from_code("not_in_channel"),
            WebError::NoAccess(_)
        ));
        assert!(matches!(
            WebError::from_code("msg_too_long"),
            WebError::Refused(_)
        ));
        assert!(matches!(
            WebError::from_code("ratelimited"),
            WebError::RetryAfter(_)
        ));
        let web = Web::new(
            "http://127.0.0.1:1/api/",
            "xoxb-secret",
            Some("xapp-secret"),
        )
        .expect("client");
        assert!(!format!("{web:?}").contains("secret"));
    }
}
