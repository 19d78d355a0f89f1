//! The two ways to reach a server: a stdio child process (stderr to our logs, never inherited) or
//! a streamable HTTP endpoint.

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use pincer_config::Secret;
use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::transport::common::client_side_sse::ExponentialBackoff;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use tokio::io::AsyncBufReadExt as _;
use tracing::Instrument as _;

use crate::session_client::SessionClient;

/// TCP (and TLS) connection set-up to an HTTP server.
const HTTP_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts to resume a broken SSE stream (250 ms, 500 ms, 1 s apart).
const SSE_RETRIES: usize = 3;

/// What a stdio server inherits from the runner's environment; the rest (NATS credentials, API
/// keys) is not its business. The same idea as the MCP SDKs' default environment.
pub const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "TERM",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
];

/// Headers the transport sets itself.
const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "content-type",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

/// Why a transport could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The program could not be started.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// Program.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The launcher could not prepare the process (its state directory, its confinement).
    #[error("cannot prepare `{command}`: {reason}")]
    Launch {
        /// Program.
        command: String,
        /// Why.
        reason: String,
    },
    /// A configured header cannot be sent.
    #[error("header `{name}`: {reason}")]
    Header {
        /// Header name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(#[from] reqwest::Error),
}

impl TransportError {
    /// Whether retrying cannot help (a configuration mistake).
    pub(crate) fn is_permanent(&self) -> bool {
        matches!(self, Self::Header { .. })
    }
}

/// A stdio server's command line as configured.
#[derive(Debug, Clone, Copy)]
pub struct StdioCommand<'a> {
    /// Its name in `mcp.servers`.
    pub server: &'a str,
    /// Program.
    pub command: &'a str,
    /// Arguments.
    pub args: &'a [String],
    /// Its own environment variables (secrets included).
    pub env: &'a BTreeMap<String, Secret>,
    /// Working directory, if configured.
    pub cwd: Option<&'a str>,
}

/// Makes the process of a stdio server; the transport sets its pipes and process group.
pub trait Launcher: Send + Sync + std::fmt::Debug {
    /// The command that starts `server`.
    fn command(&self, server: &StdioCommand<'_>) -> Result<tokio::process::Command, String>;
}

/// Runs servers as plain children of this process with [`INHERITED_ENV`] plus their own `env`
/// (the CLI's `pincer mcp`). The tool host confines them instead.
#[derive(Debug, Default, Clone, Copy)]
pub struct DirectLauncher;

impl Launcher for DirectLauncher {
    fn command(&self, server: &StdioCommand<'_>) -> Result<tokio::process::Command, String> {
        let mut cmd = tokio::process::Command::new(server.command);
        cmd.args(server.args)
            .env_clear()
            .envs(
                INHERITED_ENV
                    .iter()
                    .filter_map(|key| Some((key, std::env::var_os(key)?))),
            )
            .envs(server.env.iter().map(|(key, value)| (key, value.expose())));
        if let Some(cwd) = server.cwd {
            cmd.current_dir(cwd);
        }
        Ok(cmd)
    }
}

/// The last lines a stdio server wrote to stderr: why it failed, in its own words (a missing
/// package, a TLS error, a refused confinement), for the error the model and the operator see.
#[derive(Debug, Default)]
pub(crate) struct StderrTail {
    lines: Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

/// Lines of stderr kept for errors.
const TAIL_LINES: usize = 4;
/// Characters of one kept line.
const TAIL_LINE_CHARS: usize = 300;

impl StderrTail {
    /// The kept lines, after giving the reader `patience` to reach the end of a dead child's
    /// output.
    pub(crate) async fn last_words(mut self, patience: Duration) -> Option<String> {
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(patience, reader).await;
        }
        let lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (!lines.is_empty()).then(|| lines.iter().cloned().collect::<Vec<_>>().join(" | "))
    }
}

/// Starts the server in its own process group (so killing it kills what it started too), with
/// stdin/stdout as the transport and stderr forwarded to debug logs line by line (the last few
/// kept for errors).
pub(crate) fn stdio(
    launcher: &dyn Launcher,
    server: &StdioCommand<'_>,
) -> Result<(TokioChildProcess, StderrTail), TransportError> {
    let command = server.command;
    let cmd = launcher
        .command(server)
        .map_err(|reason| TransportError::Launch {
            command: command.to_owned(),
            reason,
        })?;
    let mut wrapped = CommandWrap::from(cmd);
    wrapped.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let (child, stderr) = TokioChildProcess::builder(wrapped)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| TransportError::Spawn {
            command: command.to_owned(),
            source,
        })?;
    tracing::debug!(pid = ?child.id(), %command, "mcp server process started");
    let mut tail = StderrTail::default();
    if let Some(stderr) = stderr {
        tail.reader = Some(tokio::spawn(
            forward_stderr(stderr, tail.lines.clone())
                .instrument(tracing::debug_span!("mcp_stderr", server = %server.server)),
        ));
    }
    Ok((child, tail))
}

/// Logs the child's stderr until it closes, keeping the last lines; a long line is cut.
async fn forward_stderr(
    stderr: tokio::process::ChildStderr,
    tail: Arc<std::sync::Mutex<std::collections::VecDeque<String>>>,
) {
    const MAX_LINE: usize = 4_096;
    let mut lines = tokio::io::BufReader::new(stderr);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match lines.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let end = buf.len().min(MAX_LINE);
                let line = String::from_utf8_lossy(&buf[..end]);
                let line = line.trim_end();
                if !line.is_empty() {
                    tracing::debug!(line, "mcp server stderr");
                    let mut kept = tail
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    if kept.len() == TAIL_LINES {
                        kept.pop_front();
                    }
                    kept.push_back(line.chars().take(TAIL_LINE_CHARS).collect());
                }
            }
        }
    }
}

/// A streamable HTTP transport to `url` sending `headers` (marked sensitive, so never logged).
pub(crate) fn http(
    url: &str,
    headers: &BTreeMap<String, Secret>,
) -> Result<StreamableHttpClientTransport<SessionClient>, TransportError> {
    let custom = header_map(headers)?;
    // Several services may race to install; the first wins and the rest are fine with it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // No pooling: rmcp's own default, it avoids stalls on reused connections whose last body was not
    // read to the end. No redirects: they would carry the headers elsewhere.
    let client = reqwest::Client::builder()
        .connect_timeout(HTTP_CONNECT_TIMEOUT)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut config = StreamableHttpClientTransportConfig::with_uri(url).custom_headers(custom);
    config.retry_config = Arc::new(sse_retry());
    Ok(StreamableHttpClientTransport::with_client(
        SessionClient(client),
        config,
    ))
}

/// rmcp re-opens a broken SSE stream forever by default; a server that is gone should fail the
/// call (and, repeated, restart the connection) in seconds instead.
fn sse_retry() -> ExponentialBackoff {
    let mut retry = ExponentialBackoff::default();
    retry.max_times = Some(SSE_RETRIES);
    retry.base_duration = Duration::from_millis(250);
    retry.max_delay = Some(Duration::from_secs(2));
    retry
}

/// The configured headers, checked.
fn header_map(
    headers: &BTreeMap<String, Secret>,
) -> Result<HashMap<HeaderName, HeaderValue>, TransportError> {
    let mut custom = HashMap::new();
    for (name, value) in headers {
        let header = |reason| TransportError::Header {
            name: name.clone(),
            reason,
        };
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(header("set by the MCP transport itself"));
        }
        let key = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| header("not a valid header name"))?;
        let mut value = HeaderValue::from_str(value.expose())
            .map_err(|_| header("not a valid header value"))?;
        value.set_sensitive(true);
        custom.insert(key, value);
    }
    Ok(custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_and_malformed_headers_are_refused() {
        let headers =
            |name: &str, value: &str| BTreeMap::from([(name.to_owned(), Secret::new(value))]);
        let error = header_map(&headers("Accept", "x")).expect_err("reserved");
        assert!(
            error.is_permanent() && error.to_string().contains("`Accept`"),
            "{error}"
        );
        let error = header_map(&headers("X-Token", "a\nb")).expect_err("newline");
        assert!(error.to_string().contains("value"), "{error}");
        let map = header_map(&headers("Authorization", "Bearer t")).expect("valid");
        let value = map.values().next().expect("one header");
        assert!(value.is_sensitive());
        assert_eq!(format!("{value:?}"), "Sensitive");
    }
}
