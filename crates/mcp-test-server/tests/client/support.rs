//! Starting managers and servers, and waiting for them (with deadlines, never fixed sleeps).

use std::sync::Arc;
use std::time::Duration;

use pincer_mcp::{McpManager, ServerState, ServerStatus};
use pincer_mcp_test_server::Options;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Generous: debug builds on a busy two-core machine, plus the 1 s first restart backoff.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The test server binary, built by cargo for this test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_pincer-mcp-test-server")
}

/// A stdio entry for the test server with `extra` keys merged in.
pub fn stdio(args: &[&str], extra: Value) -> Value {
    let mut entry = json!({"command": binary(), "args": args});
    merge(&mut entry, extra);
    entry
}

/// An HTTP entry for `url` with `extra` keys merged in.
pub fn http(url: &str, extra: Value) -> Value {
    let mut entry = json!({"url": url});
    merge(&mut entry, extra);
    entry
}

fn merge(entry: &mut Value, extra: Value) {
    if let (Value::Object(entry), Value::Object(extra)) = (entry, extra) {
        entry.extend(extra);
    }
}

/// A manager over `servers` (the `mcp.servers` object); its servers stop when this is dropped.
pub struct Running {
    pub manager: Arc<McpManager>,
    pub shutdown: CancellationToken,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn start(servers: Value) -> Running {
    pincer_test_support::init_tracing();
    let config: pincer_config::Mcp =
        serde_json::from_value(json!({"servers": servers})).expect("mcp config");
    let shutdown = CancellationToken::new();
    Running {
        manager: McpManager::start(&config, &shutdown),
        shutdown,
    }
}

impl Running {
    pub fn status(&self, name: &str) -> ServerStatus {
        self.manager
            .status()
            .into_iter()
            .find(|status| status.name == name)
            .expect("configured server")
    }

    /// Waits until `name` is connected.
    pub async fn connected(&self, name: &str) -> ServerStatus {
        pincer_test_support::eventually(
            &format!("mcp server `{name}` to connect"),
            PATIENCE,
            || {
                let status = self.status(name);
                async move { (status.state == ServerState::Connected).then_some(status) }
            },
        )
        .await
    }

    /// Calls a tool with JSON arguments.
    pub async fn call(&self, name: &str, arguments: Value) -> Result<String, String> {
        self.manager
            .call(name, &arguments.to_string())
            .await
            .map_err(|error| error.to_string())
    }

    /// The offered tool names.
    pub fn names(&self) -> Vec<String> {
        self.manager
            .specs()
            .into_iter()
            .map(|spec| spec.name)
            .collect()
    }
}

/// The test server over HTTP in this process on a free loopback port; stops with the token.
pub async fn http_server(options: Options) -> (String, CancellationToken) {
    let HttpServer { url, stop, .. } = HttpServer::start("127.0.0.1:0", options).await;
    (url, stop)
}

/// An in-process HTTP test server.
pub struct HttpServer {
    pub url: String,
    pub addr: std::net::SocketAddr,
    pub stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), pincer_mcp_test_server::Error>>,
}

impl HttpServer {
    pub async fn start(addr: &str, options: Options) -> Self {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("address");
        let stop = CancellationToken::new();
        let task = tokio::spawn(pincer_mcp_test_server::serve_http(
            listener,
            options,
            stop.clone(),
        ));
        Self {
            url: pincer_mcp_test_server::url(addr),
            addr,
            stop,
            task,
        }
    }

    /// Stops it and waits until the port is closed.
    pub async fn shut(self) {
        self.stop.cancel();
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("the http server stops")
            .expect("server task")
            .expect("server ran");
    }
}
