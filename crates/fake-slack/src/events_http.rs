//! The Events API over HTTP, Slack's side: signed POSTs of `event_callback` payloads to the app's
//! request URL, retried like Slack (`X-Slack-Retry-Num`, `X-Slack-Retry-Reason`) when the answer
//! is not a 2xx within the timeout; `url_verification`; and deliberately bad requests (wrong
//! signature, stale timestamp, none) to check the receiver refuses them.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::events::VERIFICATION_TOKEN;
use crate::ids::now_secs;
use crate::knobs::HttpRetryPolicy;
use crate::signing::signature;

/// A failure to reach the receiver at all.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The HTTP client could not be built.
    #[error("no http client: {0}")]
    Client(#[source] reqwest::Error),
    /// The request failed (connection refused, timeout, ...).
    #[error("request to {url} failed: {source}")]
    Request {
        /// Where.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
}

/// What is wrong with a request sent by [`post_signed`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SigningFault {
    /// Nothing: a valid request.
    #[default]
    None,
    /// Signed with another secret.
    BadSignature,
    /// Correctly signed, but 10 minutes old (Slack's receivers reject > 5 minutes).
    Stale,
    /// No `X-Slack-Signature` header.
    Unsigned,
}

/// One try of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpAttempt {
    /// 0 for the first try, then `X-Slack-Retry-Num`.
    pub retry_num: u32,
    /// The answer's status (none on timeout or connection failure).
    pub status: Option<u16>,
    /// No answer within the timeout.
    pub timed_out: bool,
    /// The answer's body.
    pub body: String,
}

/// A delivery and its retries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpDelivery {
    /// Every try, in order.
    pub attempts: Vec<HttpAttempt>,
    /// A try got a 2xx in time.
    pub delivered: bool,
}

/// The outcome of a `url_verification` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlVerification {
    /// The challenge sent.
    pub challenge: String,
    /// The answer's status.
    pub status: u16,
    /// The answer's body.
    pub body: String,
    /// The answer was a 200 carrying the challenge (as plain text, JSON `{"challenge"}` or a
    /// form), as Slack requires.
    pub verified: bool,
}

/// An HTTP client for deliveries (no TLS provider is compiled into reqwest: install ring's).
pub fn client() -> Result<reqwest::Client, HttpError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .build()
        .map_err(HttpError::Client)
}

/// A POST of `body` with Slack's signing headers (spoiled as `fault` says).
fn signed_request(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    body: &[u8],
    fault: SigningFault,
) -> reqwest::RequestBuilder {
    let sent_at = match fault {
        SigningFault::Stale => now_secs().saturating_sub(600),
        _ => now_secs(),
    }
    .to_string();
    let mut request = client
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
        .header("X-Slack-Request-Timestamp", &sent_at)
        .body(body.to_vec());
    match fault {
        SigningFault::Unsigned => {}
        SigningFault::BadSignature => {
            request = request.header(
                "X-Slack-Signature",
                signature(&format!("not-{secret}"), &sent_at, body),
            );
        }
        SigningFault::None | SigningFault::Stale => {
            request = request.header("X-Slack-Signature", signature(secret, &sent_at, body));
        }
    }
    request
}

/// Delivers `payload` to `url` like Slack: signed, retried per `policy` while the answer is not
/// a 2xx in time (unless the receiver answers `X-Slack-No-Retry: 1`).
pub async fn deliver(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    payload: &Value,
    policy: &HttpRetryPolicy,
) -> HttpDelivery {
    let body = payload.to_string().into_bytes();
    let timeout = Duration::from_millis(policy.timeout_ms);
    let mut delivery = HttpDelivery::default();
    let mut last_reason = "";
    for retry_num in 0..=policy.retry_delays_ms.len() as u32 {
        if retry_num > 0 {
            let delay = policy.retry_delays_ms[retry_num as usize - 1];
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let mut request = signed_request(client, url, secret, &body, SigningFault::None);
        if retry_num > 0 {
            request = request
                .header("X-Slack-Retry-Num", retry_num.to_string())
                .header("X-Slack-Retry-Reason", last_reason);
        }
        let answer = tokio::time::timeout(timeout, async {
            let response = request.send().await?;
            let status = response.status();
            let no_retry = response
                .headers()
                .get("x-slack-no-retry")
                .is_some_and(|v| v == "1");
            let text = response.text().await.unwrap_or_default();
            Ok::<_, reqwest::Error>((status, no_retry, text))
        })
        .await;
        let mut attempt = HttpAttempt {
            retry_num,
            status: None,
            timed_out: false,
            body: String::new(),
        };
        let mut stop = false;
        match answer {
            Err(_) => {
                attempt.timed_out = true;
                last_reason = "http_timeout";
            }
            Ok(Err(_)) => last_reason = "connection_failed",
            Ok(Ok((status, no_retry, text))) => {
                attempt.status = Some(status.as_u16());
                attempt.body = text;
                delivery.delivered = status.is_success();
                stop = delivery.delivered || no_retry;
                last_reason = "http_error";
            }
        }
        delivery.attempts.push(attempt);
        if stop {
            break;
        }
    }
    delivery
}

/// Sends one request with `payload`, signed or spoiled as `fault` says; returns the status and
/// body, no retries.
pub async fn post_signed(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    payload: &Value,
    fault: SigningFault,
) -> Result<(u16, String), HttpError> {
    let body = payload.to_string().into_bytes();
    let failed = |source| HttpError::Request {
        url: url.to_owned(),
        source,
    };
    let response = signed_request(client, url, secret, &body, fault)
        .send()
        .await
        .map_err(failed)?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

/// Sends Slack's `url_verification` and checks the challenge comes back.
pub async fn url_verification(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
) -> Result<UrlVerification, HttpError> {
    let challenge = uuid::Uuid::new_v4().simple().to_string();
    let payload =
        json!({ "token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification" });
    let (status, body) = post_signed(client, url, secret, &payload, SigningFault::None).await?;
    let echoed = body.trim() == challenge
        || serde_json::from_str::<Value>(&body).is_ok_and(|v| v["challenge"] == challenge.as_str())
        || crate::params::form_pairs(body.trim())
            .iter()
            .any(|(k, v)| k == "challenge" && *v == challenge);
    Ok(UrlVerification {
        verified: status == 200 && echoed,
        challenge,
        status,
        body,
    })
}
