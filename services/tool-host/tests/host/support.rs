//! A tool host in-process on a loopback port, its gRPC client, and the test MCP server.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pincer_proto::tools::v1 as pb;
use pincer_proto::tools::v1::tool_host_client::ToolHostClient;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// The token of every test host.
pub const TOKEN: &str = "tool-host-test-token-0123456789";
/// What the hidden "config file" of a test host contains.
pub const SECRET: &str = "TOPSECRET-gateway-token-5f1e";

/// The test MCP server binary (built with the workspace).
pub fn mcp_server() -> String {
    pincer_test_support::workspace_binary("pincer-mcp-test-server")
        .display()
        .to_string()
}

/// A running tool host.
pub struct Host {
    pub url: String,
    pub dir: tempfile::TempDir,
    /// The config file no child may read.
    pub secret_file: PathBuf,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<()>>,
}

impl Drop for Host {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

impl Host {
    /// Starts a host with the config text `config` (JSON5) and waits until it is ready.
    pub async fn start(config: &str) -> Self {
        pincer_test_support::init_tracing();
        let dir = tempfile::tempdir().expect("dir");
        let secret_file = dir.path().join("pincer.json5");
        std::fs::write(&secret_file, format!("{{ secret: \"{SECRET}\" }}")).expect("secret");
        let file =
            pincer_config::parse_str(config, "test.json5", &|_| None, pincer_config::Scope::All)
                .expect("config");
        let config = pincer_tool_host::Config {
            agents: file.agents,
            tools: file.tools,
            mcp: file.mcp,
            workspace_base: dir.path().join("workspace"),
            state_dir: dir.path().join("state"),
            confiner: pincer_sandbox::Confiner::new(env!("CARGO_BIN_EXE_pincer-tool-host")),
            token: Some(pincer_config::Secret::new(TOKEN)),
            hidden: vec![secret_file.clone()],
            ca_bundle: None,
            brave_api_key: None,
            searxng_base_url: None,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move {
            pincer_tool_host::run(config, listener, token)
                .await
                .expect("tool host runs");
        });
        let host = Self {
            url,
            dir,
            secret_file,
            shutdown,
            handle: Some(handle),
        };
        host.ready().await;
        host
    }

    /// The default agent's workspace.
    pub fn workspace(&self) -> PathBuf {
        self.dir.path().join("workspace")
    }

    pub fn state(&self) -> &Path {
        self.dir.path()
    }

    pub async fn client(&self) -> ToolHostClient<Channel> {
        pincer_test_support::eventually("the tool host to listen", Duration::from_secs(10), || {
            let url = self.url.clone();
            async move { ToolHostClient::connect(url).await.ok() }
        })
        .await
    }

    pub fn authed<T>(message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {TOKEN}").parse().expect("ascii"),
        );
        request
    }

    /// The current catalogue.
    pub async fn catalog(&self) -> pb::Catalog {
        let mut client = self.client().await;
        let mut stream = client
            .watch_catalog(Self::authed(pb::WatchCatalogRequest {}))
            .await
            .expect("watch")
            .into_inner();
        stream
            .message()
            .await
            .expect("message")
            .expect("a catalogue")
    }

    /// Waits until every MCP server has connected or failed its first attempt.
    pub async fn ready(&self) -> pb::Catalog {
        pincer_test_support::eventually(
            "the tool host to be ready",
            Duration::from_secs(60),
            || async {
                let catalog = self.catalog().await;
                catalog.ready.then_some(catalog)
            },
        )
        .await
    }

    /// Calls `name` for the default agent: `(text, is_error)`.
    pub async fn call(&self, name: &str, arguments: serde_json::Value) -> (String, bool) {
        let mut client = self.client().await;
        let response = client
            .call_tool(Self::authed(pb::CallToolRequest {
                name: name.to_owned(),
                arguments_json: arguments.to_string(),
                agent_id: String::new(),
            }))
            .await
            .expect("the call reaches the tool host")
            .into_inner();
        (response.text, response.is_error)
    }

    /// `exec` of `command args...`: `(text, is_error)`.
    pub async fn exec(&self, command: &str, args: &[&str]) -> (String, bool) {
        self.call(
            "exec",
            serde_json::json!({"command": command, "args": args}),
        )
        .await
    }
}
