//! One number's event stream: `GET /api/v1/events?account=<number>`, Server-Sent Events that
//! signal-cli writes as it receives messages (with `--receive-mode=on-connection` it receives
//! from Signal only while a stream is open, so nothing arrives between two streams; it waits on
//! Signal's servers). signal-cli writes a `:` keep-alive every 15 s, so a stream silent for much
//! longer is dead even if its socket looks open: [`Stream::next`] gives up after `silence`.

use std::collections::VecDeque;
use std::time::Duration;

use super::rpc::Rpc;
use super::sse::{Event, Parser, SseError};

/// Time allowed for the daemon to answer the stream's request with its headers. signal-cli
/// before 0.14.4 held them back until its first keep-alive, 15 s in: well past that.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the stream could not be opened or read on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// Connection refused, DNS, TLS, or a connection broken mid-stream.
    #[error("cannot reach signal-cli: {0}")]
    Transport(String),
    /// HTTP 400: a daemon serving several numbers has none by this one.
    #[error("signal-cli has no account {0}")]
    UnknownAccount(String),
    /// Another status.
    #[error("signal-cli answered HTTP {0}")]
    Http(u16),
    /// A 200 that is not an event stream (a proxy's page, a wrong URL).
    #[error("not an event stream (Content-Type {0:?})")]
    NotEvents(String),
    /// Nothing, not even a keep-alive, for this long.
    #[error("no event or keep-alive for {0:?}")]
    Silent(Duration),
    /// The daemon closed the stream (it stopped, or restarts).
    #[error("signal-cli closed the event stream")]
    Ended,
    /// The bytes are not a stream of events.
    #[error(transparent)]
    Frame(#[from] SseError),
}

/// An open stream.
#[derive(Debug)]
pub struct Stream {
    response: reqwest::Response,
    parser: Parser,
    ready: VecDeque<Event>,
}

/// Opens the event stream of `rpc`'s account.
pub async fn open(rpc: &Rpc) -> Result<Stream, StreamError> {
    let mut url = reqwest::Url::parse(&format!("{}/api/v1/events", rpc.base()))
        .map_err(|e| StreamError::Transport(format!("bad httpUrl: {e}")))?;
    // `+` goes as %2B: signal-cli reads either, a proxy might not.
    url.query_pairs_mut().append_pair("account", rpc.account());
    let request = rpc
        .http()
        .get(url)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send();
    let response = tokio::time::timeout(OPEN_TIMEOUT, request)
        .await
        .map_err(|_| StreamError::Transport(format!("no answer within {OPEN_TIMEOUT:?}")))?
        .map_err(|e| StreamError::Transport(e.without_url().to_string()))?;
    let status = response.status();
    if status == reqwest::StatusCode::BAD_REQUEST {
        return Err(StreamError::UnknownAccount(rpc.account().to_owned()));
    }
    if status != reqwest::StatusCode::OK {
        return Err(StreamError::Http(status.as_u16()));
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !content_type.starts_with("text/event-stream") {
        return Err(StreamError::NotEvents(content_type));
    }
    Ok(Stream {
        response,
        parser: Parser::default(),
        ready: VecDeque::new(),
    })
}

impl Stream {
    /// The next event; an error ends the stream (open a new one).
    pub async fn next(&mut self, silence: Duration) -> Result<Event, StreamError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(event);
            }
            let chunk = tokio::time::timeout(silence, self.response.chunk())
                .await
                .map_err(|_| StreamError::Silent(silence))?
                .map_err(|e| StreamError::Transport(e.without_url().to_string()))?;
            let Some(bytes) = chunk else {
                return Err(StreamError::Ended);
            };
            self.ready.extend(self.parser.push(&bytes)?);
        }
    }
}
