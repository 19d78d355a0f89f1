//! A Bot API client: JSON in, `{"ok":..}` envelopes out, every failure typed. The token is part of
//! every URL, so URLs are stripped from transport errors before anything is logged.

use std::time::Duration;

use serde_json::{Value, json};

/// Default Bot API root.
pub const DEFAULT_API_ROOT: &str = "https://api.telegram.org";

/// What went wrong with a Bot API call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 429: wait this long.
    #[error("rate limited by Telegram: retry after {0:?}")]
    RetryAfter(Duration),
    /// 409: another poller or a webhook uses this token.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 403: the user blocked the bot, or the bot was removed from the group.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 400: the request was wrong (entities, chat not found, too long...).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 400: the group became a supergroup with this new chat id.
    #[error("the group was upgraded to a supergroup ({0})")]
    Migrated(i64),
    /// 401: the token is wrong.
    #[error("the bot token was refused (401)")]
    Unauthorized,
    /// 5xx or an unreadable answer.
    #[error("telegram failed ({0}): {1}")]
    Server(u16, String),
    /// Connection, DNS, TLS or timeout.
    #[error("cannot reach telegram: {0}")]
    Transport(String),
}

impl ApiError {
    /// Whether retrying the same call later may work.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ApiError::RetryAfter(_) | ApiError::Server(..) | ApiError::Transport(_)
        )
    }
}

/// A client for one bot token.
#[derive(Clone)]
pub struct BotApi {
    http: reqwest::Client,
    /// `<root>/bot<token>`; never logged.
    base: String,
    /// `<root>/file/bot<token>`, where files are downloaded; never logged.
    files: String,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The base URL holds the token.
        f.debug_struct("BotApi")
            .field("base", &"<redacted>")
            .finish()
    }
}

/// Time allowed beyond a long poll's own timeout.
const POLL_SLACK: Duration = Duration::from_secs(10);
/// Timeout of every other call.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

impl BotApi {
    /// A client for `token` at `api_root`.
    pub fn new(api_root: &str, token: &str) -> Result<Self, ApiError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        let root = api_root.trim_end_matches('/');
        Ok(Self {
            http,
            base: format!("{root}/bot{token}"),
            files: format!("{root}/file/bot{token}"),
        })
    }

    /// Calls `method` with JSON `params`, waiting at most `timeout`.
    pub async fn call(
        &self,
        method: &str,
        params: &Value,
        timeout: Duration,
    ) -> Result<Value, ApiError> {
        let response = self
            .http
            .post(format!("{}/{method}", self.base))
            .json(params)
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.map_err(|e| {
            ApiError::Server(status, format!("unreadable answer: {}", e.without_url()))
        })?;
        if body.get("ok").and_then(Value::as_bool) == Some(true) {
            return Ok(body.get("result").cloned().unwrap_or(Value::Null));
        }
        let description = body
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("no description")
            .to_owned();
        let code = body
            .get("error_code")
            .and_then(Value::as_u64)
            .map_or(status, |c| c as u16);
        if let Some(new_chat) = body
            .pointer("/parameters/migrate_to_chat_id")
            .and_then(Value::as_i64)
        {
            return Err(ApiError::Migrated(new_chat));
        }
        Err(match code {
            429 => ApiError::RetryAfter(Duration::from_secs(
                body.pointer("/parameters/retry_after")
                    .and_then(Value::as_u64)
                    .unwrap_or(1),
            )),
            409 => ApiError::Conflict(description),
            403 => ApiError::Forbidden(description),
            401 | 404 if description.contains("Unauthorized") || code == 401 => {
                ApiError::Unauthorized
            }
            400..=499 => ApiError::BadRequest(description),
            other => ApiError::Server(other, description),
        })
    }

    /// `getMe`: the bot's id and username.
    pub async fn get_me(&self) -> Result<(i64, String), ApiError> {
        let me = self.call("getMe", &json!({}), CALL_TIMEOUT).await?;
        let id = me.get("id").and_then(Value::as_i64).unwrap_or(0);
        let username = me
            .get("username")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        Ok((id, username))
    }

    /// `getUpdates` long poll: updates from `offset` on, waiting up to `wait`.
    pub async fn get_updates(
        &self,
        offset: Option<i64>,
        wait: Duration,
    ) -> Result<Vec<Value>, ApiError> {
        // Edits are not followed: an edited message would otherwise be answered a second time.
        let mut params = json!({ "timeout": wait.as_secs(), "limit": 100,
                                 "allowed_updates": ["message"] });
        if let Some(offset) = offset {
            params["offset"] = json!(offset);
        }
        match self.call("getUpdates", &params, wait + POLL_SLACK).await? {
            Value::Array(updates) => Ok(updates),
            other => Err(ApiError::Server(
                200,
                format!("getUpdates returned {other}"),
            )),
        }
    }

    /// `sendMessage` to `chat_id`, in forum topic `topic` if any; returns the new message's id.
    pub async fn send_message(
        &self,
        chat_id: i64,
        topic: Option<i64>,
        text: &str,
        parse_mode: Option<&str>,
        reply_to: Option<i64>,
    ) -> Result<i64, ApiError> {
        let mut params = json!({ "chat_id": chat_id, "text": text,
                                 "link_preview_options": { "is_disabled": true } });
        if let Some(topic) = topic {
            params["message_thread_id"] = json!(topic);
        }
        if let Some(mode) = parse_mode {
            params["parse_mode"] = json!(mode);
        }
        if let Some(reply_to) = reply_to {
            params["reply_parameters"] =
                json!({ "message_id": reply_to, "allow_sending_without_reply": true });
        }
        let sent = self.call("sendMessage", &params, CALL_TIMEOUT).await?;
        Ok(sent.get("message_id").and_then(Value::as_i64).unwrap_or(0))
    }

    /// `editMessageText`. "message is not modified" counts as done.
    pub async fn edit_message(
        &self,
        chat_id: i64,
        message_id: i64,
        text: &str,
        parse_mode: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut params = json!({ "chat_id": chat_id, "message_id": message_id, "text": text,
                                 "link_preview_options": { "is_disabled": true } });
        if let Some(mode) = parse_mode {
            params["parse_mode"] = json!(mode);
        }
        match self.call("editMessageText", &params, CALL_TIMEOUT).await {
            Err(ApiError::BadRequest(reason)) if reason.contains("message is not modified") => {
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Downloads the file `file_id` (via `getFile`), refusing more than `max_bytes`.
    pub async fn download(&self, file_id: &str, max_bytes: u64) -> Result<Vec<u8>, ApiError> {
        let file = self
            .call("getFile", &json!({ "file_id": file_id }), CALL_TIMEOUT)
            .await?;
        let path = file
            .get("file_path")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::BadRequest("getFile gave no file_path".to_owned()))?;
        let response = self
            .http
            .get(format!("{}/{path}", self.files))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return Err(ApiError::Server(status, "file download failed".to_owned()));
        }
        crate::channel::body::read_capped(response, max_bytes)
            .await
            .map_err(|error| match error {
                crate::channel::body::BodyError::TooLarge(_) => {
                    ApiError::BadRequest(format!("file {error}"))
                }
                crate::channel::body::BodyError::Transport(reason) => ApiError::Transport(reason),
            })
    }

    /// `sendChatAction` typing in `chat_id` (forum topic `topic` if any); best effort, errors
    /// ignored by callers.
    pub async fn typing(&self, chat_id: i64, topic: Option<i64>) -> Result<(), ApiError> {
        let mut params = json!({ "chat_id": chat_id, "action": "typing" });
        if let Some(topic) = topic {
            params["message_thread_id"] = json!(topic);
        }
        self.call("sendChatAction", &params, CALL_TIMEOUT)
            .await
            .map(|_| ())
    }

    /// `setWebhook`: Telegram pushes updates to `url` with `secret` in the secret-token header.
    pub async fn set_webhook(&self, url: &str, secret: &str) -> Result<(), ApiError> {
        let params = json!({ "url": url, "secret_token": secret, "allowed_updates": ["message"] });
        self.call("setWebhook", &params, CALL_TIMEOUT)
            .await
            .map(|_| ())
    }

    /// `deleteWebhook` (keeps pending updates), so long polling can run.
    pub async fn delete_webhook(&self) -> Result<(), ApiError> {
        self.call(
            "deleteWebhook",
            &json!({ "drop_pending_updates": false }),
            CALL_TIMEOUT,
        )
        .await
        .map(|_| ())
    }
}
