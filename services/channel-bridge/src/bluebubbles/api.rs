//! A BlueBubbles server's REST API (`/api/v1/…`, the server password as the `password` query
//! parameter on every call, as the server requires): server info, sending text to a chat (a reply
//! names the message it answers, through the Private API), attachments, typing and read marks
//! (Private API), and the messages since a time, to catch up on webhooks the gateway missed.
//! Every failure is typed; the password is never logged (errors drop the URL).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channel::body::{BodyError, read_capped};

/// What went wrong with a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The password was refused.
    #[error("BlueBubbles refused the password")]
    Auth,
    /// The server refused the request itself (a chat that does not exist, a bad parameter).
    #[error("BlueBubbles refused the call: {0}")]
    Refused(String),
    /// 5xx, an unreadable answer, the Mac's Messages app failing.
    #[error("bluebubbles failed ({0}): {1}")]
    Server(u16, String),
    /// Connection, DNS, TLS or timeout: the Mac may be asleep or offline.
    #[error("cannot reach the BlueBubbles server: {0}")]
    Transport(String),
}

/// What the server says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// Its version.
    pub server_version: String,
    /// The Private API helper is on (replies, typing, read marks need it).
    pub private_api: bool,
    /// The Apple ID signed in to Messages.
    pub account: String,
}

/// A client for one server; cheap to clone.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    /// Never logged.
    password: String,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Timeout of every call (a Mac answers slowly when Messages is busy).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

impl Api {
    /// A client for the server at `base` with `password`.
    pub fn new(base: &str, password: &str) -> Result<Self, ApiError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            // The password rides in the URL: it never follows a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            password: password.to_owned(),
        })
    }

    fn url(&self, path: &str) -> Result<reqwest::Url, ApiError> {
        let mut url = reqwest::Url::parse(&format!("{}/api/v1/{path}", self.base))
            .map_err(|e| ApiError::Refused(format!("bad serverUrl: {e}")))?;
        url.query_pairs_mut()
            .append_pair("password", &self.password);
        Ok(url)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let mut request = self
            .http
            .request(method, self.url(path)?)
            .timeout(CALL_TIMEOUT);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let message = || {
            answer["error"]["message"]
                .as_str()
                .or_else(|| answer["message"].as_str())
                .unwrap_or("no details")
                .to_owned()
        };
        match status {
            StatusCode::UNAUTHORIZED => Err(ApiError::Auth),
            status if status.is_success() => Ok(answer),
            status if status.is_server_error() => Err(ApiError::Server(status.as_u16(), message())),
            _ => Err(ApiError::Refused(message())),
        }
    }

    /// The server's version, Private API state and Apple ID (also proves the password works).
    pub async fn server_info(&self) -> Result<ServerInfo, ApiError> {
        let answer = self.call(reqwest::Method::GET, "server/info", None).await?;
        let data = &answer["data"];
        Ok(ServerInfo {
            server_version: data["server_version"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            private_api: data["private_api"].as_bool().unwrap_or(false),
            account: data["detected_imessage"]
                .as_str()
                .or_else(|| data["detected_icloud"].as_str())
                .unwrap_or_default()
                .to_owned(),
        })
    }

    /// Sends `text` to `chat_guid`; `temp_guid` names the send (the server echoes it), `reply_to`
    /// the message answered (Private API only). Returns the message's guid.
    pub async fn send_text(
        &self,
        chat_guid: &str,
        text: &str,
        temp_guid: &str,
        reply_to: Option<&str>,
        private_api: bool,
    ) -> Result<String, ApiError> {
        let mut body = json!({
            "chatGuid": chat_guid,
            "tempGuid": temp_guid,
            "message": text,
            "method": if private_api { "private-api" } else { "apple-script" },
        });
        if let (Some(guid), true) = (reply_to, private_api) {
            body["selectedMessageGuid"] = json!(guid);
            body["partIndex"] = json!(0);
        }
        let answer = self
            .call(reqwest::Method::POST, "message/text", Some(&body))
            .await?;
        answer["data"]["guid"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ApiError::Server(200, "no message guid in the answer".to_owned()))
    }

    /// Shows (or stops showing) the typing bubble in `chat_guid` (Private API).
    pub async fn typing(&self, chat_guid: &str, on: bool) -> Result<(), ApiError> {
        let method = if on {
            reqwest::Method::POST
        } else {
            reqwest::Method::DELETE
        };
        let path = format!("chat/{}/typing", encode(chat_guid));
        self.call(method, &path, None).await.map(|_| ())
    }

    /// Marks `chat_guid` read (Private API).
    pub async fn mark_read(&self, chat_guid: &str) -> Result<(), ApiError> {
        let path = format!("chat/{}/read", encode(chat_guid));
        self.call(reqwest::Method::POST, &path, None)
            .await
            .map(|_| ())
    }

    /// Messages created after `after_ms` (Unix ms), oldest first, with their chats, handles and
    /// attachments: what webhooks should have brought.
    pub async fn messages_since(&self, after_ms: u64, limit: u32) -> Result<Vec<Value>, ApiError> {
        let body = json!({
            "after": after_ms,
            "limit": limit,
            "sort": "ASC",
            "with": ["chat", "chat.participants", "handle", "attachment"],
        });
        let answer = self
            .call(reqwest::Method::POST, "message/query", Some(&body))
            .await?;
        Ok(answer["data"].as_array().cloned().unwrap_or_default())
    }

    /// Downloads attachment `guid` of at most `max_bytes`.
    pub async fn download(&self, guid: &str, max_bytes: u64) -> Result<Vec<u8>, ApiError> {
        let url = self.url(&format!("attachment/{}/download", encode(guid)))?;
        let response = self
            .http
            .get(url)
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(|e| ApiError::Transport(e.without_url().to_string()))?;
        match response.status() {
            StatusCode::UNAUTHORIZED => return Err(ApiError::Auth),
            status if !status.is_success() => {
                return Err(ApiError::Server(status.as_u16(), "download refused".into()));
            }
            _ => {}
        }
        read_capped(response, max_bytes)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge(_) => ApiError::Refused(format!("attachment {error}")),
                BodyError::Transport(reason) => ApiError::Transport(reason),
            })
    }
}

/// `value` as one URL path segment (chat guids hold `;` and `+`).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_guids_are_one_path_segment() {
        assert_eq!(encode("iMessage;+;chat1234"), "iMessage%3B%2B%3Bchat1234");
        assert_eq!(encode("SMS;-;+15551234567"), "SMS%3B-%3B%2B15551234567");
    }

    #[test]
    fn the_password_goes_in_the_query() {
        let api = Api::new("http://mac.local:1234/", "p&w").expect("client");
        let url = api.url("server/info").expect("url");
        assert_eq!(url.path(), "/api/v1/server/info");
        assert_eq!(url.query(), Some("password=p%26w"));
        assert!(!format!("{api:?}").contains("p&w"));
    }
}
