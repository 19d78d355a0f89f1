//! Discord's REST API (v10) for one bot: who it is, where the gateway is, sending messages (with a
//! nonce Discord enforces, so a send repeated after a crash posts nothing new), the typing
//! indicator, channel lookups for threads, attachment downloads. Every failure is typed; the
//! token only ever goes in the `Authorization` header to `apiBaseUrl`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channel::body::{BodyError, read_capped};

/// What went wrong with a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// 429: wait this long.
    #[error("rate limited by Discord: retry after {0:?}")]
    RetryAfter(Duration),
    /// 401: the token is wrong or revoked.
    #[error("the bot token was refused (401)")]
    Unauthorized,
    /// 403 or 404 on a channel: no access, or it is gone.
    #[error("no access ({0})")]
    NoAccess(String),
    /// 400: the request was wrong (too long, bad reference...).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 5xx or an unreadable answer.
    #[error("discord failed ({0}): {1}")]
    Server(u16, String),
    /// Connection, DNS, TLS or timeout.
    #[error("cannot reach discord: {0}")]
    Transport(String),
}

impl RestError {
    /// Whether the same call may work later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RetryAfter(_) | Self::Server(..) | Self::Transport(_)
        )
    }
}

/// The bot's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// Its user id.
    pub id: String,
    /// Its username.
    pub username: String,
}

/// A channel as far as the bridge needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// Its type (11/12/10: a thread).
    pub kind: u64,
    /// A thread's parent channel.
    pub parent_id: Option<String>,
    /// Its guild.
    pub guild_id: Option<String>,
}

/// A client for one bot token; cheap to clone.
#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
    /// `Bot <token>`; never logged.
    authorization: String,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Timeout of every call.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Sent with every call, as Discord asks.
const USER_AGENT: &str = concat!(
    "DiscordBot (https://github.com/pincer, ",
    env!("CARGO_PKG_VERSION"),
    ")"
);

impl Rest {
    /// A client for `token` at `base` (`https://discord.com/api/v10` or a fake).
    pub fn new(base: &str, token: &str) -> Result<Self, RestError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            // Credentials never follow a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| RestError::Transport(e.to_string()))?;
        let token = token.trim();
        let token = token.strip_prefix("Bot ").unwrap_or(token);
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            authorization: format!("Bot {token}"),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, RestError> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .timeout(CALL_TIMEOUT);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| RestError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let retry_header = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let bytes = response
            .bytes()
            .await
            .map_err(|e| RestError::Transport(e.without_url().to_string()))?;
        if status == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| status.to_string(), str::to_owned);
        Err(match status.as_u16() {
            429 => {
                let seconds = body
                    .get("retry_after")
                    .and_then(Value::as_f64)
                    .or(retry_header)
                    .unwrap_or(1.0)
                    .clamp(0.0, 3600.0);
                RestError::RetryAfter(Duration::from_secs_f64(seconds))
            }
            401 => RestError::Unauthorized,
            403 | 404 => RestError::NoAccess(message),
            400..=499 => RestError::BadRequest(describe_form_errors(&body, message)),
            code => RestError::Server(code, message),
        })
    }

    /// `GET /users/@me`.
    pub async fn me(&self) -> Result<Me, RestError> {
        let user = self.call(reqwest::Method::GET, "/users/@me", None).await?;
        let field = |name: &str| user.get(name).and_then(Value::as_str).map(str::to_owned);
        match (field("id"), field("username")) {
            (Some(id), Some(username)) => Ok(Me { id, username }),
            _ => Err(RestError::Server(
                200,
                "users/@me without id or username".into(),
            )),
        }
    }

    /// `GET /gateway/bot`: the gateway's URL.
    pub async fn gateway_url(&self) -> Result<String, RestError> {
        let answer = self
            .call(reqwest::Method::GET, "/gateway/bot", None)
            .await?;
        answer
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| RestError::Server(200, "gateway/bot without a url".into()))
    }

    /// `GET /channels/{id}`.
    pub async fn channel(&self, id: &str) -> Result<ChannelInfo, RestError> {
        let channel = self
            .call(reqwest::Method::GET, &format!("/channels/{id}"), None)
            .await?;
        Ok(ChannelInfo {
            kind: channel.get("type").and_then(Value::as_u64).unwrap_or(0),
            parent_id: text(&channel, "parent_id"),
            guild_id: text(&channel, "guild_id"),
        })
    }

    /// `POST /channels/{id}/messages` with `nonce` enforced (Discord answers a repeat with the
    /// first message instead of posting again). Mentions in the text ping nobody. Returns the
    /// message id.
    pub async fn create_message(
        &self,
        channel: &str,
        content: &str,
        nonce: &str,
        reply_to: Option<&str>,
    ) -> Result<String, RestError> {
        let mut body = json!({
            "content": content,
            "nonce": nonce,
            "enforce_nonce": true,
            "allowed_mentions": { "parse": [], "replied_user": false },
        });
        if let Some(message_id) = reply_to {
            body["message_reference"] =
                json!({ "message_id": message_id, "fail_if_not_exists": false });
        }
        let message = self
            .call(
                reqwest::Method::POST,
                &format!("/channels/{channel}/messages"),
                Some(&body),
            )
            .await?;
        text(&message, "id").ok_or_else(|| RestError::Server(200, "a message without an id".into()))
    }

    /// `PATCH /channels/{id}/messages/{message}`.
    pub async fn edit_message(
        &self,
        channel: &str,
        message_id: &str,
        content: &str,
    ) -> Result<(), RestError> {
        let body = json!({ "content": content, "allowed_mentions": { "parse": [] } });
        self.call(
            reqwest::Method::PATCH,
            &format!("/channels/{channel}/messages/{message_id}"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// `POST /channels/{id}/typing` (shown for about ten seconds).
    pub async fn typing(&self, channel: &str) -> Result<(), RestError> {
        self.call(
            reqwest::Method::POST,
            &format!("/channels/{channel}/typing"),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Downloads an attachment from its (signed) CDN URL, without the token, at most `max_bytes`.
    pub async fn download(&self, url: &str, max_bytes: u64) -> Result<Vec<u8>, RestError> {
        let response = self
            .http
            .get(url)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| RestError::Transport(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(RestError::Server(
                response.status().as_u16(),
                "attachment download refused".into(),
            ));
        }
        read_capped(response, max_bytes)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge(_) => RestError::BadRequest(format!("attachment {error}")),
                BodyError::Transport(reason) => RestError::Transport(reason),
            })
    }
}

fn text(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_owned)
}

/// Discord's `Invalid Form Body` names each bad field under `errors`: say which.
fn describe_form_errors(body: &Value, message: String) -> String {
    let Some(errors) = body.get("errors").and_then(Value::as_object) else {
        return message;
    };
    let fields: Vec<String> = errors
        .iter()
        .map(|(field, detail)| {
            let why = detail
                .pointer("/_errors/0/message")
                .and_then(Value::as_str)
                .unwrap_or("invalid");
            format!("{field}: {why}")
        })
        .collect();
    format!("{message} ({})", fields.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_errors_name_the_field() {
        let body = json!({"code": 50035, "message": "Invalid Form Body",
            "errors": {"content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}});
        assert_eq!(
            describe_form_errors(&body, "Invalid Form Body".into()),
            "Invalid Form Body (content: Must be 2000 or fewer in length.)"
        );
    }

    #[test]
    fn the_token_is_sent_with_one_bot_prefix() {
        let rest = Rest::new("http://127.0.0.1:1/api/v10/", "Bot abc").expect("client");
        assert_eq!(rest.authorization, "Bot abc");
        assert_eq!(rest.base, "http://127.0.0.1:1/api/v10");
        assert!(!format!("{rest:?}").contains("abc"));
    }
}
