//! signal-cli's JSON-RPC over HTTP for one number (`POST /api/v1/rpc`, its health at
//! `GET /api/v1/check`): every request names the account (a daemon serving several numbers needs
//! it; one started with `-a` ignores it), every call has a timeout, and every failure is typed,
//! signal-cli's own codes (-1 user error, -3 I/O, -4 untrusted identity, -5 rate limit) beside
//! JSON-RPC's. The body of a failed send (`data.response.results`) says why per recipient.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::channel::body::{BodyError, read_capped};

/// signal-cli: the request was wrong or cannot be done (no such group, unregistered user...).
pub const USER_ERROR: i64 = -1;
/// signal-cli: the recipient's safety number changed and is not trusted yet.
pub const UNTRUSTED_IDENTITY: i64 = -4;
/// signal-cli: Signal's servers rate-limit this account.
pub const RATE_LIMIT: i64 = -5;
/// JSON-RPC: no such method (an older signal-cli).
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC: wrong params; signal-cli also says so for an account it does not have.
pub const INVALID_PARAMS: i64 = -32602;

/// Timeout of a `send`: signal-cli encrypts for every device of every recipient, and a group
/// send fans out; a timeout there may still have sent, so it is generous.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout of the other calls.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// Timeout of an attachment download (read from signal-cli's disk, base64 in JSON).
const ATTACHMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong with a call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RpcError {
    /// Connection refused, DNS, TLS or timeout.
    #[error("cannot reach signal-cli: {0}")]
    Transport(String),
    /// An HTTP status other than signal-cli's 200 (a proxy, a wrong URL, a daemon failing).
    #[error("signal-cli answered HTTP {0}")]
    Http(u16),
    /// Not JSON-RPC.
    #[error("unreadable answer from signal-cli: {0}")]
    Unreadable(String),
    /// signal-cli's error object.
    #[error("signal-cli error {code}: {message}")]
    Remote {
        /// Its code.
        code: i64,
        /// Its message.
        message: String,
        /// Its data: for a failed send, `{"response": {"timestamp", "results": [...]}}`.
        data: Option<Value>,
    },
}

impl RpcError {
    /// The per-recipient results of a failed send.
    pub fn results(&self) -> Vec<&Value> {
        match self {
            RpcError::Remote {
                data: Some(data), ..
            } => data
                .pointer("/response/results")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Whether any recipient failed with this `type` (`RATE_LIMIT_FAILURE`, ...).
    pub fn has_result(&self, kind: &str) -> bool {
        self.results()
            .iter()
            .any(|result| result.get("type").and_then(Value::as_str) == Some(kind))
    }

    /// The challenge token of a rate limit that waiting does not lift (Signal's "proof required":
    /// a captcha must be solved for the number before it may send again).
    pub fn challenge(&self) -> Option<String> {
        self.results().iter().find_map(|result| {
            result
                .get("token")
                .and_then(Value::as_str)
                .filter(|token| !token.is_empty())
                .map(str::to_owned)
        })
    }

    /// The longest `retryAfterSeconds` among the results of a rate-limited send.
    pub fn retry_after(&self) -> Option<Duration> {
        self.results()
            .iter()
            .filter_map(|result| result.get("retryAfterSeconds").and_then(Value::as_u64))
            .max()
            .map(Duration::from_secs)
    }
}

/// Where a message goes: a person (an E.164 number or an ACI) or a group (its base64 id). A chat
/// id says which by its shape: a group id is base64 of 16 or 32 bytes, so it is never a `+` and
/// digits only, nor a UUID with its dashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// `recipient`.
    Person(&'a str),
    /// `groupId`.
    Group(&'a str),
}

impl<'a> Target<'a> {
    /// The target of a chat id as the bridge makes them (see [`super::envelope`]).
    pub fn of(chat: &'a str) -> Self {
        let number = chat.len() > 1
            && chat.starts_with('+')
            && chat[1..].chars().all(|c| c.is_ascii_digit());
        if number || is_uuid(chat) {
            Target::Person(chat)
        } else {
            Target::Group(chat)
        }
    }

    fn put(self, params: &mut Map<String, Value>) {
        match self {
            Target::Person(who) => params.insert("recipient".into(), json!([who])),
            Target::Group(group) => params.insert("groupId".into(), json!(group)),
        };
    }
}

/// Whether `text` is a UUID in its 8-4-4-4-12 form (a Signal ACI).
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A client for one number of a daemon; cheap to clone.
#[derive(Clone, Debug)]
pub struct Rpc {
    http: reqwest::Client,
    base: String,
    account: String,
    next_id: Arc<AtomicU64>,
}

impl Rpc {
    /// A client for `account` (its E.164 number) at the daemon's `base` (`http://host:8080`).
    pub fn new(base: &str, account: &str) -> Result<Self, RpcError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| RpcError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            account: account.to_owned(),
            next_id: Arc::new(AtomicU64::new(1)),
        })
    }

    /// The daemon's root URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The account's number.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The HTTP client (the event stream uses it too).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `GET /api/v1/check`: whether the daemon is up.
    pub async fn check(&self) -> Result<(), RpcError> {
        let response = self
            .http
            .get(format!("{}/api/v1/check", self.base))
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(RpcError::Http(response.status().as_u16()))
        }
    }

    /// Calls `method` with `params` (an object; the account is added) and returns its `result`.
    pub async fn call(
        &self,
        method: &str,
        params: Map<String, Value>,
        timeout: Duration,
        max_bytes: u64,
    ) -> Result<Value, RpcError> {
        let mut params = params;
        params.insert("account".into(), json!(self.account));
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = json!({ "jsonrpc": "2.0", "method": method, "params": params, "id": id });
        let response = self
            .http
            .post(format!("{}/api/v1/rpc", self.base))
            .json(&request)
            .timeout(timeout)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(RpcError::Http(status.as_u16()));
        }
        let body = read_capped(response, max_bytes)
            .await
            .map_err(|error| match error {
                BodyError::Transport(reason) => RpcError::Transport(reason),
                BodyError::TooLarge(_) => RpcError::Unreadable(error.to_string()),
            })?;
        let answer: Value =
            serde_json::from_slice(&body).map_err(|e| RpcError::Unreadable(e.to_string()))?;
        if let Some(error) = answer.get("error").filter(|e| !e.is_null()) {
            return Err(RpcError::Remote {
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                data: error.get("data").filter(|d| !d.is_null()).cloned(),
            });
        }
        answer
            .get("result")
            .cloned()
            .ok_or_else(|| RpcError::Unreadable("neither result nor error".into()))
    }

    /// `send`: `text` to `target`, quoting the message `author` sent at `timestamp` if given.
    /// Returns the sent message's timestamp (its id in the conversation).
    pub async fn send(
        &self,
        target: Target<'_>,
        text: &str,
        quote: Option<(&str, u64)>,
    ) -> Result<u64, RpcError> {
        let mut params = Map::new();
        target.put(&mut params);
        params.insert("message".into(), json!(text));
        if let Some((author, timestamp)) = quote {
            params.insert("quoteTimestamp".into(), json!(timestamp));
            params.insert("quoteAuthor".into(), json!(author));
        }
        let result = self.call("send", params, SEND_TIMEOUT, 1024 * 1024).await?;
        result
            .get("timestamp")
            .and_then(Value::as_u64)
            .ok_or_else(|| RpcError::Unreadable("send answered without a timestamp".into()))
    }

    /// `sendTyping`: shows (or with `stop`, clears) "typing" in `target`.
    pub async fn typing(&self, target: Target<'_>, stop: bool) -> Result<(), RpcError> {
        let mut params = Map::new();
        target.put(&mut params);
        if stop {
            params.insert("stop".into(), json!(true));
        }
        self.call("sendTyping", params, CALL_TIMEOUT, 1024 * 1024)
            .await
            .map(|_| ())
    }

    /// `getAttachment`: the bytes of attachment `id`, received in `target`, at most `max_bytes`.
    pub async fn attachment(
        &self,
        id: &str,
        target: Target<'_>,
        max_bytes: u64,
    ) -> Result<Vec<u8>, RpcError> {
        let mut params = Map::new();
        params.insert("id".into(), json!(id));
        // signal-cli looks the file up by id; it takes the conversation too.
        match target {
            Target::Person(who) => params.insert("recipient".into(), json!(who)),
            Target::Group(group) => params.insert("groupId".into(), json!(group)),
        };
        // Base64 is 4 bytes for every 3, plus the JSON around it.
        let answer_cap = max_bytes.saturating_mul(4) / 3 + 4096;
        let result = self
            .call("getAttachment", params, ATTACHMENT_TIMEOUT, answer_cap)
            .await?;
        let data = result
            .get("data")
            .and_then(Value::as_str)
            .ok_or_else(|| RpcError::Unreadable("getAttachment answered without data".into()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| RpcError::Unreadable(format!("attachment data: {e}")))?;
        if bytes.len() as u64 > max_bytes {
            return Err(RpcError::Unreadable(format!(
                "attachment larger than {max_bytes} bytes"
            )));
        }
        Ok(bytes)
    }
}

fn transport(error: reqwest::Error) -> RpcError {
    RpcError::Transport(error.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chats_say_whether_they_are_people_or_groups() {
        assert_eq!(Target::of("+15550001111"), Target::Person("+15550001111"));
        let aci = "cb3c2bd0-5c34-4d3e-9f5e-2b7c8a1f0e11";
        assert_eq!(Target::of(aci), Target::Person(aci));
        for group in [
            "R3JvdXBJZA==",
            "+2mAbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcde=",
            "+123456789012345678901234567890123456789012=",
        ] {
            assert_eq!(Target::of(group), Target::Group(group), "{group}");
        }
        assert!(!is_uuid("cb3c2bd0-5c34-4d3e-9f5e"));
        assert!(!is_uuid("zb3c2bd0-5c34-4d3e-9f5e-2b7c8a1f0e11"));
    }

    #[test]
    fn failed_sends_say_why_per_recipient() {
        let error = RpcError::Remote {
            code: RATE_LIMIT,
            message: "Failed to send message due to rate limiting".into(),
            data: Some(json!({"response": {"timestamp": 5, "results": [
                {"recipientAddress": {"number": "+1"}, "type": "RATE_LIMIT_FAILURE", "retryAfterSeconds": 3},
                {"recipientAddress": {"number": "+2"}, "type": "RATE_LIMIT_FAILURE", "retryAfterSeconds": 9}
            ]}})),
        };
        assert!(error.has_result("RATE_LIMIT_FAILURE"));
        assert_eq!(
            error.challenge(),
            None,
            "a plain rate limit asks for no captcha"
        );
        assert!(!error.has_result("SUCCESS"));
        assert_eq!(error.retry_after(), Some(Duration::from_secs(9)));
        assert_eq!(RpcError::Http(500).retry_after(), None);
        let proof = RpcError::Remote {
            code: RATE_LIMIT,
            message: "Failed to send message due to rate limiting".into(),
            data: Some(json!({"response": {"timestamp": 6, "results": [
                {"recipientAddress": {"number": "+1"}, "type": "RATE_LIMIT_FAILURE",
                 "retryAfterSeconds": 86400, "token": "5c2a3d9e-challenge"}
            ]}})),
        };
        assert_eq!(proof.challenge().as_deref(), Some("5c2a3d9e-challenge"));
    }
}
