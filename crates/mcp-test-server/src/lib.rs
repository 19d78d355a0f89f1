//! A small MCP server for testing Pincer's MCP client: stdio (the default) or streamable HTTP at
//! `/mcp`, speaking both protocol eras (`server/discover` and `initialize`) unless
//! [`Options::legacy_only`] makes it answer `server/discover` with method-not-found (as SDKs that
//! predate it do), or [`Options::legacy_versions`] limits it to versions with `initialize` (then
//! `server/discover` fails with -32022 listing them).
//!
//! Tools: `echo {text}`, `add {a, b}`, `fail {}` (an `isError` result), `slow {ms}`, `crash {}`
//! (the process exits with code 3), `grow {}` (adds the tool `grown` and sends
//! `notifications/tools/list_changed`), `garbage {}` (a non-JSON line on stdout, then a normal answer),
//! `secret {}` (for deny-by-default checks), `era {}` (the protocol version of the call),
//! `image {}` (an image block), `structured {}` (only `structuredContent`), `cancelled {}` (how
//! many `slow` calls the client cancelled) and `env {name}` (a variable of its environment).
//! `tools/list` pages three tools at a time so clients must follow `nextCursor`.

mod lost_session;
mod tools;

use std::net::SocketAddr;

use rmcp::ServiceExt as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use tools::{TOOL_NAMES, TestServer};

/// Exit code of the process after the `crash` tool.
pub const CRASH_EXIT_CODE: i32 = 3;

/// How the server behaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Only the legacy (`initialize`) era: `server/discover` is method-not-found.
    pub legacy_only: bool,
    /// Over HTTP, a request in a session this server did not start (one of the process before a
    /// restart) is answered as the TypeScript SDK's servers do: HTTP 400 with a JSON-RPC error
    /// without `id`, where the spec (and rmcp's server) says 404.
    pub lost_session_400: bool,
    /// Only protocol versions up to 2025-11-25: `server/discover` is answered with
    /// unsupported-protocol-version (-32022).
    pub legacy_versions: bool,
}

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The MCP session could not start.
    #[error("mcp session did not start: {0}")]
    Start(String),
    /// The session task failed.
    #[error("mcp session failed: {0}")]
    Session(#[from] tokio::task::JoinError),
    /// Socket trouble.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A server run, boxed so the server is compiled once, in this crate, rather than again by the
/// binary that awaits it (release builds don't share an `async fn`'s instances between crates).
pub type Serving = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Error>> + Send>>;

/// Serves one session on stdin/stdout until the client closes stdin.
pub fn serve_stdio(options: Options) -> Serving {
    Box::pin(serve_stdio_until_closed(options))
}

async fn serve_stdio_until_closed(options: Options) -> Result<(), Error> {
    let server = TestServer::new(options, true)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|error| Error::Start(error.to_string()))?;
    server.waiting().await?;
    Ok(())
}

/// Serves streamable HTTP at `/mcp` on `listener` until `shutdown` is cancelled, for clients that
/// call it `localhost`, `127.0.0.1` or `::1`.
pub async fn serve_http(
    listener: TcpListener,
    options: Options,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    serve_http_as(listener, options, &[], shutdown).await
}

/// Like [`serve_http`], also answering requests whose `Host` is one of `hosts` (the server's name
/// on a container network; rmcp refuses other hosts, against DNS rebinding).
pub fn serve_http_as(
    listener: TcpListener,
    options: Options,
    hosts: &[String],
    shutdown: CancellationToken,
) -> Serving {
    Box::pin(serve_http_until(
        listener,
        options,
        hosts.to_vec(),
        shutdown,
    ))
}

async fn serve_http_until(
    listener: TcpListener,
    options: Options,
    hosts: Vec<String>,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    let mut allowed = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    allowed.extend(hosts);
    let cancelled = std::sync::Arc::default();
    let service: StreamableHttpService<TestServer, LocalSessionManager> =
        StreamableHttpService::new(
            move || {
                Ok(TestServer::sharing(
                    options,
                    false,
                    std::sync::Arc::clone(&cancelled),
                ))
            },
            Default::default(),
            StreamableHttpServerConfig::default()
                .with_cancellation_token(shutdown.child_token())
                .with_allowed_hosts(allowed),
        );
    let mut router = axum::Router::new().nest_service("/mcp", service);
    if options.lost_session_400 {
        let started = lost_session::Started::default();
        router = router.layer(axum::middleware::from_fn(move |request, next| {
            lost_session::answer_400(started.clone(), request, next)
        }));
    }
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

/// The `/mcp` URL of a server listening on `addr`.
#[must_use]
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/mcp")
}
