//! The Graph API calls of one WhatsApp Business number: who it is, sending text (to a person or a
//! group), the read receipt with a typing indicator, and media downloads. Every failure is typed
//! from Meta's error codes; the access token only ever goes in the `Authorization` header, and only
//! to Meta's hosts (or the configured API root's).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::channel::body::{BodyError, read_capped};

/// What went wrong with a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    /// Meta asks to slow down (codes 4, 80007, 130429, 131056): wait this long.
    #[error("rate limited by WhatsApp: retry after {0:?}")]
    RetryAfter(Duration),
    /// The token is wrong, expired or lacks a permission (never works again as it is).
    #[error("WhatsApp refused the access token: {0}")]
    Auth(String),
    /// More than 24 hours since the person last wrote: only a template may go out now.
    #[error(
        "outside WhatsApp's 24-hour customer service window: the person has not written in the last 24 hours, so WhatsApp only allows a template message ({0})"
    )]
    OutsideWindow(String),
    /// The recipient cannot get messages from this number (not on WhatsApp, not allowed for a
    /// test number, blocked the business).
    #[error("the recipient cannot be reached: {0}")]
    Unreachable(String),
    /// The request itself was refused (a bad parameter, an unsupported message).
    #[error("WhatsApp refused the call: {0}")]
    Refused(String),
    /// 5xx, an unreadable answer, Meta's "temporarily unavailable" codes.
    #[error("whatsapp failed ({0}): {1}")]
    Server(u16, String),
    /// Connection, DNS, TLS or timeout.
    #[error("cannot reach whatsapp: {0}")]
    Transport(String),
}

impl GraphError {
    /// The error a Graph error body describes.
    fn from_body(status: StatusCode, body: &Value) -> Self {
        let error = &body["error"];
        let code = error["code"].as_i64().unwrap_or_default();
        let details = error["error_data"]["details"]
            .as_str()
            .or_else(|| error["message"].as_str())
            .unwrap_or("no details")
            .to_owned();
        let described = format!("code {code}: {details}");
        match code {
            190 | 102 | 10 | 200 | 0 => Self::Auth(described),
            // Throughput and pair rate limits carry no Retry-After; Meta suggests backing off.
            4 | 80007 | 130429 => Self::RetryAfter(Duration::from_secs(5)),
            131056 => Self::RetryAfter(Duration::from_secs(30)),
            131047 => Self::OutsideWindow(described),
            131026 | 131030 | 131045 | 131031 => Self::Unreachable(described),
            1 | 2 | 131000 | 131016 => Self::Server(status.as_u16(), described),
            _ if status.is_server_error() => Self::Server(status.as_u16(), described),
            _ => Self::Refused(described),
        }
    }
}

/// The number as Meta describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberInfo {
    /// `+1 631-555-5555`.
    pub display_phone_number: String,
    /// The business name shown to people.
    pub verified_name: String,
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient<'a> {
    /// A person, by WhatsApp id (the phone number's digits).
    Person(&'a str),
    /// A group, by its group id.
    Group(&'a str),
}

/// A client for one number; cheap to clone.
#[derive(Clone)]
pub struct Graph {
    http: reqwest::Client,
    base: String,
    phone_number_id: String,
    /// `Bearer …`; never logged.
    auth: String,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("base", &self.base)
            .field("phone_number_id", &self.phone_number_id)
            .finish_non_exhaustive()
    }
}

/// Timeout of every call.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

impl Graph {
    /// A client at `base` (`https://graph.facebook.com/v23.0` or a fake) for `phone_number_id`.
    pub fn new(base: &str, phone_number_id: &str, access_token: &str) -> Result<Self, GraphError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            // Credentials never follow a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| GraphError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            phone_number_id: phone_number_id.trim().to_owned(),
            auth: format!("Bearer {}", access_token.trim()),
        })
    }

    async fn answer(response: reqwest::Response) -> Result<Value, GraphError> {
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|e| GraphError::Server(status.as_u16(), format!("unreadable answer: {e}")))?;
        if status.is_success() && body.get("error").is_none() {
            return Ok(body);
        }
        if status == StatusCode::TOO_MANY_REQUESTS && body.get("error").is_none() {
            return Err(GraphError::RetryAfter(Duration::from_secs(5)));
        }
        Err(GraphError::from_body(status, &body))
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, GraphError> {
        let mut url = reqwest::Url::parse(&format!("{}/{path}", self.base))
            .map_err(|e| GraphError::Refused(e.to_string()))?;
        url.query_pairs_mut().extend_pairs(query);
        let response = self
            .http
            .get(url)
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| GraphError::Transport(e.without_url().to_string()))?;
        Self::answer(response).await
    }

    async fn post_message(&self, body: &Value) -> Result<Value, GraphError> {
        let response = self
            .http
            .post(format!("{}/{}/messages", self.base, self.phone_number_id))
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .json(body)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| GraphError::Transport(e.without_url().to_string()))?;
        Self::answer(response).await
    }

    /// The number's display number and name (also proves the token works).
    pub async fn number_info(&self) -> Result<NumberInfo, GraphError> {
        let body = self
            .get(
                &self.phone_number_id,
                &[("fields", "display_phone_number,verified_name")],
            )
            .await?;
        Ok(NumberInfo {
            display_phone_number: text(&body, "display_phone_number").unwrap_or_default(),
            verified_name: text(&body, "verified_name").unwrap_or_default(),
        })
    }

    /// Sends `text`, quoting `reply_to` when set; returns the message's `wamid`.
    pub async fn send_text(
        &self,
        to: Recipient<'_>,
        text: &str,
        reply_to: Option<&str>,
    ) -> Result<String, GraphError> {
        let (recipient_type, id) = match to {
            Recipient::Person(id) => ("individual", id),
            Recipient::Group(id) => ("group", id),
        };
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": recipient_type,
            "to": id,
            "type": "text",
            "text": {"preview_url": false, "body": text},
        });
        if let Some(message_id) = reply_to {
            body["context"] = json!({"message_id": message_id});
        }
        let answer = self.post_message(&body).await?;
        answer["messages"][0]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| GraphError::Server(200, "no message id in the answer".to_owned()))
    }

    /// Marks `message_id` read and shows the typing indicator (until the answer, at most 25 s).
    pub async fn read_and_typing(&self, message_id: &str) -> Result<(), GraphError> {
        self.post_message(&json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
            "typing_indicator": {"type": "text"},
        }))
        .await
        .map(|_| ())
    }

    /// Downloads media `media_id` of at most `max_bytes`: its URL from the Graph API, then the
    /// bytes (the URL wants the token too, and expires after a few minutes).
    pub async fn download(&self, media_id: &str, max_bytes: u64) -> Result<Vec<u8>, GraphError> {
        let meta = self
            .get(media_id, &[("phone_number_id", &self.phone_number_id)])
            .await?;
        let size = meta["file_size"]
            .as_u64()
            .or_else(|| meta["file_size"].as_str().and_then(|s| s.parse().ok()));
        if size.is_some_and(|size| size > max_bytes) {
            return Err(GraphError::Refused(format!(
                "media larger than {max_bytes} bytes"
            )));
        }
        let url = text(&meta, "url")
            .ok_or_else(|| GraphError::Server(200, "no media url in the answer".to_owned()))?;
        let target = reqwest::Url::parse(&url).map_err(|e| GraphError::Refused(e.to_string()))?;
        if !self.trusted(&target) {
            return Err(GraphError::Refused(format!(
                "media url on an unexpected host {:?}",
                target.host_str().unwrap_or_default()
            )));
        }
        let response = self
            .http
            .get(target)
            .header(reqwest::header::AUTHORIZATION, &self.auth)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(|e| GraphError::Transport(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(GraphError::Server(
                response.status().as_u16(),
                "media download refused".into(),
            ));
        }
        read_capped(response, max_bytes)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge(_) => GraphError::Refused(format!("media {error}")),
                BodyError::Transport(reason) => GraphError::Transport(reason),
            })
    }

    /// Whether the token may go to `url`: Meta's media hosts or the API root's own host.
    fn trusted(&self, url: &reqwest::Url) -> bool {
        let host = url.host_str().unwrap_or_default();
        let api_host = reqwest::Url::parse(&self.base)
            .ok()
            .and_then(|api| api.host_str().map(str::to_owned));
        api_host.as_deref() == Some(host)
            || ["facebook.com", "fbsbx.com", "whatsapp.net"]
                .iter()
                .any(|domain| host == *domain || host.ends_with(&format!(".{domain}")))
    }
}

fn text(value: &Value, field: &str) -> Option<String> {
    value.get(field).and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: i64) -> GraphError {
        GraphError::from_body(
            StatusCode::BAD_REQUEST,
            &json!({"error": {"message": "(#x) m", "type": "OAuthException", "code": code,
                    "error_data": {"messaging_product": "whatsapp", "details": "d"}, "fbtrace_id": "A"}}),
        )
    }

    #[test]
    fn meta_error_codes_become_what_the_sender_does_about_them() {
        assert!(matches!(error(190), GraphError::Auth(_)));
        assert!(matches!(error(130429), GraphError::RetryAfter(_)));
        assert!(matches!(error(131047), GraphError::OutsideWindow(_)));
        assert!(error(131047).to_string().contains("24-hour"));
        assert!(matches!(error(131030), GraphError::Unreachable(_)));
        assert!(matches!(error(100), GraphError::Refused(_)));
        assert!(matches!(error(131000), GraphError::Server(400, _)));
    }

    #[test]
    fn the_token_goes_only_to_meta_or_the_configured_root() {
        let graph = Graph::new("http://127.0.0.1:9/v23.0", "1", "t").expect("client");
        let url = |u: &str| reqwest::Url::parse(u).expect("url");
        assert!(graph.trusted(&url("http://127.0.0.1:9/media/1")));
        assert!(graph.trusted(&url(
            "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1"
        )));
        assert!(!graph.trusted(&url("https://evil.example/fbsbx.com")));
        assert!(!graph.trusted(&url("https://notfbsbx.com/x")));
    }
}
