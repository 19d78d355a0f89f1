//! Harness for whole-stack tests: a real nats-server, the fake provider, and all five services
//! started in-process through their `run()` functions on loopback ports (the tool host confines
//! its children with the built `pincer-tool-host` binary).

use std::net::SocketAddr;
use std::time::Duration;

use pincer_fake_provider::{FakeProvider, Knobs, RunningFake};
use pincer_test_support::{NatsServer, wait_http_ok};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The tag of the built images the container tests run (`pincer/<image>:<tag>`):
/// `$PINCER_IMAGE_TAG`, else `local`.
pub fn image_tag() -> String {
    std::env::var("PINCER_IMAGE_TAG").unwrap_or_else(|_| "local".to_owned())
}

/// The checkout these tests belong to (where `compose.yml` is).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The bearer token every test stack uses.
pub const TOKEN: &str = "test-token-0123456789";

/// The llm-router's token in test stacks.
pub const ROUTER_TOKEN: &str = "test-router-token-0123456789";

/// The token between the agent-runner and the tool host in test stacks.
pub const TOOL_HOST_TOKEN: &str = "test-tool-host-token-0123456789";

/// A config with one agent on the fake provider through Ollama's native API (`${FAKE_URL}`), with
/// a fallback through the OpenAI-compatible API of the same fake.
pub const CONFIG: &str = r#"{
  // The stack under test.
  gateway: { port: 18789, bind: "loopback", auth: { mode: "token", token: "${GATEWAY_TOKEN}" } },
  models: {
    providers: {
      ollama: { baseUrl: "${FAKE_URL}", api: "ollama", models: [{ id: "fake-model", contextWindow: 131072 }] },
      compat: { baseUrl: "${FAKE_URL}/v1", api: "openai-completions", apiKey: "${COMPAT_KEY}" },
    },
  },
  agents: {
    defaults: { model: { primary: "ollama/fake-model", fallbacks: ["compat/fake-model"] }, timeout: 30, maxConcurrent: 8 },
    entries: { helper: { model: "compat/fake-model" } },
  },
  channels: { telegram: { enabled: false } },
}"#;

/// Name of the config file in the stack's workspace directory.
pub const CONFIG_FILE: &str = "pincer.json5";

/// A running stack.
pub struct Stack {
    /// The NATS server (restartable on its store).
    pub nats: NatsServer,
    /// The fake model provider.
    pub fake: RunningFake,
    /// `http://127.0.0.1:<port>` of the gateway.
    pub gateway_url: String,
    config: pincer_config::Config,
    services: Vec<Service>,
    /// Service slots of the agent-runner replicas (the first is started with the stack).
    runner_slots: Vec<usize>,
    runner_config: Option<pincer_agent_runner::Config>,
    /// Holds the agents' workspaces (`workspace`, `workspace-<id>`).
    pub workspace: tempfile::TempDir,
    bridge_slot: usize,
    bridge_config: Option<pincer_channel_bridge::Config>,
    tool_host_slot: usize,
    tool_host: Option<(pincer_tool_host::Config, SocketAddr)>,
    gateway_slot: usize,
    /// The gateway's config and address: kept across restarts, so webhooks pointed at it stay
    /// right.
    gateway: Option<(pincer_gateway::Config, SocketAddr)>,
    connection_limits: Option<pincer_gateway::serve::Limits>,
    /// The gateway's `tailscale` CLI (a fake that records its calls), when a test sets one.
    tailscale_program: Option<std::path::PathBuf>,
}

/// The user every test may sign in to the bus as, to look at what the services stored.
pub const NATS_ADMIN: (&str, &str) = ("test-admin", "test-admin-password");

/// The password of `role`'s bus user in test stacks.
pub fn nats_password(role: pincer_bus::access::Role) -> String {
    format!("test-password-{}", role.user())
}

/// `role`'s credentials in test stacks.
pub fn nats_credentials(role: pincer_bus::access::Role) -> pincer_bus::connect::Credentials {
    pincer_bus::connect::Credentials::new(role.user(), &nats_password(role))
}

/// A nats-server with the production authorization (one user per service, anonymous clients
/// refused) plus [`NATS_ADMIN`] for the tests themselves.
fn secured_nats() -> NatsServer {
    let authorization = pincer_bus::access::server_config(&pincer_bus::Namespace::default());
    let (admin, password) = NATS_ADMIN;
    let admin_user = format!(
        "    {{ user: \"{admin}\", password: \"{password}\", permissions: {{ publish: \">\", subscribe: \">\" }} }}\n  ]\n}}\n"
    );
    let config = authorization
        .strip_suffix("  ]\n}\n")
        .map(|head| format!("{head}{admin_user}"))
        .expect("the generated block ends its user list");
    let env = pincer_bus::access::Role::ALL
        .into_iter()
        .map(|role| (role.password_variable().to_owned(), nats_password(role)))
        .collect();
    NatsServer::start_with_config(&config, env)
}

/// The agent-runner's redelivery delay in tests: short, so a crashed runner's turn comes back fast.
pub const RUNNER_ACK_WAIT: Duration = Duration::from_secs(2);

impl Stack {
    /// Starts NATS, the fake provider (with `knobs`) and the services with [`CONFIG`].
    pub async fn start(knobs: Knobs) -> Self {
        Self::start_with(CONFIG, knobs).await
    }

    /// Like [`Stack::start`] with another config text (same `${...}` variables available).
    pub async fn start_with(config_text: &str, knobs: Knobs) -> Self {
        Self::start_with_env(config_text, knobs, Vec::new()).await
    }

    /// Like [`Stack::start_with`], with more `${NAME}` variables for the config.
    pub async fn start_with_env(
        config_text: &str,
        knobs: Knobs,
        extra_env: Vec<(&'static str, String)>,
    ) -> Self {
        pincer_telemetry::init_for_tests();
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = secured_nats();
        let fake = FakeProvider::start(knobs, "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("fake provider starts");
        let fake_url = fake.base_url();
        let env = move |name: &str| match name {
            "FAKE_URL" => Some(fake_url.clone()),
            "GATEWAY_TOKEN" => Some(TOKEN.to_owned()),
            "COMPAT_KEY" => Some("sk-test-compat".to_owned()),
            other => extra_env
                .iter()
                .find(|(key, _)| *key == other)
                .map(|(_, value)| value.clone()),
        };
        let config =
            pincer_config::parse_str(config_text, "test.json5", &env, pincer_config::Scope::All)
                .expect("test config parses");
        let workspace = tempfile::tempdir().expect("workspace dir");
        let config_file = workspace.path().join(CONFIG_FILE);
        std::fs::write(&config_file, config_text).expect("config file");
        // Like a real config with secrets: readable by its owner only.
        std::fs::set_permissions(
            &config_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("config file mode");
        let mut stack = Self {
            nats,
            fake,
            gateway_url: String::new(),
            config,
            services: Vec::new(),
            runner_slots: Vec::new(),
            runner_config: None,
            workspace,
            bridge_slot: 0,
            bridge_config: None,
            tool_host_slot: 0,
            tool_host: None,
            gateway_slot: 0,
            gateway: None,
            connection_limits: None,
            tailscale_program: None,
        };
        stack.start_services().await;
        stack
    }

    /// Like [`Stack::start_with`], with the gateway's connection bounds set to `limits`.
    pub async fn start_limited(
        config_text: &str,
        knobs: Knobs,
        extra_env: Vec<(&'static str, String)>,
        limits: pincer_gateway::serve::Limits,
    ) -> Self {
        let mut stack = Self::start_with_env(config_text, knobs, extra_env).await;
        stack.stop_services().await;
        stack.connection_limits = Some(limits);
        stack.start_services().await;
        stack
    }

    /// Like [`Stack::start_with`], with `program` as the gateway's `tailscale` CLI.
    pub async fn start_with_tailscale(
        config_text: &str,
        knobs: Knobs,
        program: std::path::PathBuf,
    ) -> Self {
        let mut stack = Self::start_with_env(config_text, knobs, Vec::new()).await;
        stack.stop_services().await;
        stack.tailscale_program = Some(program);
        stack.start_services().await;
        stack
    }

    /// The config file the gateway's `config.get` / `config.patch` work on (the test's config text).
    pub fn config_path(&self) -> std::path::PathBuf {
        self.workspace.path().join(CONFIG_FILE)
    }

    /// Starts the four services (after [`Stack::stop_services`], or the first time).
    pub async fn start_services(&mut self) {
        let nats_url = self.nats.url();
        let router_listener = bind().await;
        let router_url = format!("http://{}", local(&router_listener));
        let router = pincer_llm_router::Config {
            models: self.config.models.clone(),
            default_call_timeout: Duration::from_secs(30),
            ollama_base_url: None,
            nats_url: Some(nats_url.clone()),
            nats_credentials: Some(nats_credentials(pincer_bus::access::Role::LlmRouter)),
            token: Some(pincer_config::Secret::new(ROUTER_TOKEN)),
            namespace: pincer_bus::Namespace::default(),
            retry: pincer_llm_router::RetryPolicy::default(),
        };
        self.spawn(|token| async move {
            pincer_llm_router::run(router, router_listener, token)
                .await
                .expect("llm-router runs");
        });

        let tool_host_listener = bind_for_restarts().await;
        let tool_host_url = format!("http://{}", local(&tool_host_listener));
        let tool_host = pincer_tool_host::Config {
            agents: self.config.agents.clone(),
            tools: self.config.tools.clone(),
            mcp: self.config.mcp.clone(),
            workspace_base: self.workspace.path().join("workspace"),
            state_dir: self.workspace.path().join("tools"),
            confiner: pincer_sandbox::Confiner::new(pincer_test_support::workspace_binary(
                "pincer-tool-host",
            )),
            token: Some(pincer_config::Secret::new(TOOL_HOST_TOKEN)),
            hidden: vec![self.config_path()],
            ca_bundle: None,
            brave_api_key: None,
            searxng_base_url: None,
        };
        self.tool_host_slot = self.services.len();
        self.tool_host = Some((tool_host.clone(), local(&tool_host_listener)));
        self.spawn(|token| async move {
            pincer_tool_host::run(tool_host, tool_host_listener, token)
                .await
                .expect("tool-host runs");
        });

        let runner = pincer_agent_runner::Config {
            nats_url: nats_url.clone(),
            nats_credentials: Some(nats_credentials(pincer_bus::access::Role::AgentRunner)),
            router_url: router_url.clone(),
            router_token: Some(pincer_config::Secret::new(ROUTER_TOKEN)),
            namespace: pincer_bus::Namespace::default(),
            agents: self.config.agents.clone(),
            tools: self.config.tools.clone(),
            tool_host: Some(pincer_agent_runner::tool_host::Settings {
                url: tool_host_url,
                token: Some(pincer_config::Secret::new(TOOL_HOST_TOKEN)),
            }),
            workspace_base: self.workspace.path().join("workspace"),
            max_concurrent: self.config.agents.defaults.max_concurrent() as usize,
            drain_grace: Duration::from_secs(5),
            ack_wait: RUNNER_ACK_WAIT,
        };
        self.runner_slots = vec![self.services.len()];
        self.runner_config = Some(runner.clone());
        let runner_health = bind().await;
        self.spawn(|token| async move {
            pincer_agent_runner::run(runner, runner_health, token)
                .await
                .expect("agent-runner runs");
        });

        let bridge = pincer_channel_bridge::Config {
            nats_url: nats_url.clone(),
            nats_credentials: Some(nats_credentials(pincer_bus::access::Role::ChannelBridge)),
            namespace: pincer_bus::Namespace::default(),
            channels: self.config.channels.clone(),
            env_tokens: Default::default(),
            dm_scope: self.config.session.dm_scope.clone(),
            bindings: self.config.bindings.clone(),
            instance: "test-bridge".to_owned(),
        };
        self.bridge_slot = self.services.len();
        self.bridge_config = Some(bridge.clone());
        let bridge_health = bind().await;
        self.spawn(|token| async move {
            pincer_channel_bridge::run(bridge, bridge_health, token)
                .await
                .expect("channel-bridge runs");
        });

        let mut gateway =
            pincer_gateway::Config::from_file(&self.config, None).expect("gateway config");
        gateway.nats_url = nats_url;
        gateway.nats_credentials = Some(nats_credentials(pincer_bus::access::Role::Gateway));
        gateway.router_url = router_url;
        gateway.router_token = Some(pincer_config::Secret::new(ROUTER_TOKEN));
        gateway.max_body_bytes = 64 * 1024;
        gateway.pickup_timeout = Duration::from_secs(3);
        gateway.drain_grace = Duration::from_secs(5);
        gateway.config_path = Some(self.config_path());
        if let Some(limits) = self.connection_limits {
            gateway.connection_limits = limits;
        }
        if let (Some(tailscale), Some(program)) =
            (gateway.tailscale.as_mut(), &self.tailscale_program)
        {
            tailscale.program = program.clone();
        }
        let gateway_listener = match self.gateway.as_ref().map(|(_, addr)| *addr) {
            Some(addr) => rebind(addr, "the gateway's port").await,
            None => bind_for_restarts().await,
        };
        self.gateway_url = format!("http://{}", local(&gateway_listener));
        self.gateway_slot = self.services.len();
        self.gateway = Some((gateway.clone(), local(&gateway_listener)));
        self.spawn(|token| async move {
            pincer_gateway::run(gateway, gateway_listener, token)
                .await
                .expect("gateway runs");
        });
        self.wait_ready().await;
    }

    /// Cancels every service and waits for them to drain and stop.
    pub async fn stop_services(&mut self) {
        for service in &self.services {
            service.token.cancel();
        }
        for mut service in self.services.drain(..) {
            let handle = service.handle.take().expect("service is running");
            tokio::time::timeout(Duration::from_secs(20), handle)
                .await
                .expect("service stops within 20s")
                .expect("service task did not panic");
        }
    }

    /// Kills the first agent-runner the way SIGKILL would: its runtime is shut down mid-turn with
    /// every task and connection in it; nothing is acked or released.
    pub async fn crash_agent_runner(&mut self) {
        self.crash_agent_runner_at(0).await;
    }

    /// Kills agent-runner replica `replica` (0 = the one started with the stack).
    pub async fn crash_agent_runner_at(&mut self, replica: usize) {
        let service = &mut self.services[self.runner_slots[replica]];
        if let Some(runtime) = service.runtime.take() {
            runtime.shutdown_background();
        }
        if let Some(handle) = service.handle.take() {
            let _ = handle.await;
        }
    }

    /// Starts a fresh first agent-runner (after [`Stack::crash_agent_runner`]).
    pub async fn start_agent_runner(&mut self) {
        let runner = self.runner_config.clone().expect("services were started");
        let runner_health = bind().await;
        self.services[self.runner_slots[0]] = Service::start(|token| async move {
            pincer_agent_runner::run(runner, runner_health, token)
                .await
                .expect("agent-runner runs");
        });
    }

    /// Kills the channel-bridge the way SIGKILL would (its runtime shut down with every task in it).
    pub async fn crash_channel_bridge(&mut self) {
        let service = &mut self.services[self.bridge_slot];
        if let Some(runtime) = service.runtime.take() {
            runtime.shutdown_background();
        }
        if let Some(handle) = service.handle.take() {
            let _ = handle.await;
        }
    }

    /// Kills the tool host the way SIGKILL would: its runtime shut down with every call in it.
    pub async fn crash_tool_host(&mut self) {
        let service = &mut self.services[self.tool_host_slot];
        if let Some(runtime) = service.runtime.take() {
            runtime.shutdown_background();
        }
        if let Some(handle) = service.handle.take() {
            let _ = handle.await;
        }
    }

    /// Kills the gateway the way SIGKILL would: its runtime shut down with every request in it.
    pub async fn crash_gateway(&mut self) {
        let service = &mut self.services[self.gateway_slot];
        if let Some(runtime) = service.runtime.take() {
            runtime.shutdown_background();
        }
        if let Some(handle) = service.handle.take() {
            let _ = handle.await;
        }
    }

    /// Starts the gateway again on its port (after [`Stack::crash_gateway`]) and waits until it
    /// is ready.
    pub async fn start_gateway(&mut self) {
        let (config, addr) = self.gateway.clone().expect("services were started");
        let listener = rebind(addr, "the gateway's port").await;
        self.services[self.gateway_slot] = Service::start(|token| async move {
            pincer_gateway::run(config, listener, token)
                .await
                .expect("gateway runs");
        });
        self.wait_ready().await;
    }

    /// Starts another gateway on the same bus and config (its own port and scheduler), as a
    /// second container would run; its URL once it answers `/healthz`.
    pub async fn add_gateway(&mut self) -> String {
        let (config, _) = self.gateway.clone().expect("services were started");
        let listener = bind().await;
        let url = format!("http://{}", local(&listener));
        self.spawn(|token| async move {
            pincer_gateway::run(config, listener, token)
                .await
                .expect("gateway runs");
        });
        let health = format!("{url}/healthz");
        pincer_test_support::eventually("the second gateway", Duration::from_secs(20), || async {
            reqwest::get(&health)
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(drop)
        })
        .await;
        url
    }

    /// Starts the tool host again on its port (after [`Stack::crash_tool_host`]).
    pub async fn start_tool_host(&mut self) {
        let (config, addr) = self.tool_host.clone().expect("services were started");
        let listener = rebind(addr, "the tool host's port").await;
        self.services[self.tool_host_slot] = Service::start(|token| async move {
            pincer_tool_host::run(config, listener, token)
                .await
                .expect("tool-host runs");
        });
    }

    /// Starts a fresh channel-bridge (after [`Stack::crash_channel_bridge`]).
    pub async fn start_channel_bridge(&mut self) {
        let bridge = self.bridge_config.clone().expect("services were started");
        let bridge_health = bind().await;
        self.services[self.bridge_slot] = Service::start(|token| async move {
            pincer_channel_bridge::run(bridge, bridge_health, token)
                .await
                .expect("channel-bridge runs");
        });
    }

    /// Starts one more agent-runner replica with the same config; returns its replica number.
    pub async fn add_agent_runner(&mut self) -> usize {
        self.add_agent_runner_with(|_| {}).await
    }

    /// Starts one more agent-runner replica with its config changed by `edit` (a replica that
    /// runs only sub-agents, say); returns its replica number.
    pub async fn add_agent_runner_with(
        &mut self,
        edit: impl FnOnce(&mut pincer_agent_runner::Config),
    ) -> usize {
        let mut runner = self.runner_config.clone().expect("services were started");
        edit(&mut runner);
        let runner_health = bind().await;
        self.runner_slots.push(self.services.len());
        self.spawn(|token| async move {
            pincer_agent_runner::run(runner, runner_health, token)
                .await
                .expect("agent-runner runs");
        });
        self.runner_slots.len() - 1
    }

    /// Stops every service, kills and restarts NATS on the same store, and starts the services again.
    pub async fn restart_everything(&mut self) {
        self.stop_services().await;
        self.nats.restart();
        self.start_services().await;
    }

    /// The pairing store of `channel`'s `account`, as an operator would approve a code.
    pub async fn pairing(&self, channel: &str, account: &str) -> pincer_store::pairing::Pairing {
        let js = async_nats::jetstream::new(self.nats_admin().await);
        let bucket = pincer_bus::setup::pairing_bucket(&js, &pincer_bus::Namespace::default())
            .await
            .expect("pairing bucket");
        pincer_store::pairing::Pairing::new(bucket, channel, account)
    }

    /// Waits until the channel-bridge reports `account` of `channel` in `state`; returns its record.
    pub async fn channel_health(
        &self,
        channel: &str,
        account: &str,
        state: pincer_store::channel_health::State,
    ) -> pincer_store::channel_health::Health {
        let js = async_nats::jetstream::new(self.nats_admin().await);
        let bucket =
            pincer_bus::setup::channel_state_bucket(&js, &pincer_bus::Namespace::default())
                .await
                .expect("channel state bucket");
        let what = format!("{channel} {account} {state:?}");
        pincer_test_support::eventually(&what, std::time::Duration::from_secs(30), || async {
            let health = pincer_store::channel_health::get(&bucket, channel, account)
                .await
                .ok()
                .flatten()?;
            (health.state == state).then_some(health)
        })
        .await
    }

    /// A bus client with every right, for tests that look at what the services stored.
    pub async fn nats_admin(&self) -> async_nats::Client {
        let (user, password) = NATS_ADMIN;
        async_nats::ConnectOptions::with_user_and_password(user.to_owned(), password.to_owned())
            .connect(self.nats.url())
            .await
            .expect("admin connects to nats")
    }

    /// Polls `/readyz` until it answers 200.
    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.gateway_url);
        wait_http_ok(&url, Duration::from_secs(20)).await;
    }

    /// A POST to `/v1/chat/completions` with the test token.
    pub fn chat(&self, body: &serde_json::Value) -> reqwest::RequestBuilder {
        reqwest::Client::new()
            .post(format!("{}/v1/chat/completions", self.gateway_url))
            .bearer_auth(TOKEN)
            .json(body)
    }

    fn spawn<F, Fut>(&mut self, start: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.services.push(Service::start(start));
    }
}

/// A listener for a service started again on the same port (the gateway, the tool host): on a
/// port below the kernel's ephemeral range. One the kernel picked (`:0`) could be handed to another
/// test's outgoing connection the moment the service let it go, and held there past the wait for
/// it to be free again (CI failed on the gateway's port so, in a restart of everything).
async fn bind_for_restarts() -> TcpListener {
    for _ in 0..20 {
        let port = pincer_test_support::free_port();
        // Free a moment ago; another process may still take it in between: try the next one.
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await {
            return listener;
        }
    }
    panic!("no free loopback port below the ephemeral range after 20 tries")
}

/// A listener on `addr` again, once the process that had it let it go.
async fn rebind(addr: SocketAddr, what: &str) -> TcpListener {
    pincer_test_support::eventually(
        &format!("{what} to be free again"),
        Duration::from_secs(10),
        || async move { TcpListener::bind(addr).await.ok() },
    )
    .await
}

/// A service running on its own runtime, so that it can be crashed as a whole.
struct Service {
    token: CancellationToken,
    handle: Option<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Service {
    fn start<F, Fut>(start: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("service runtime");
        let token = CancellationToken::new();
        let handle = runtime.spawn(start(token.clone()));
        Self {
            token,
            handle: Some(handle),
            runtime: Some(runtime),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn bind() -> TcpListener {
    TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port")
}

fn local(listener: &TcpListener) -> SocketAddr {
    listener.local_addr().expect("local addr")
}

/// The content of the last tool result in a chat request the fake provider recorded (OpenAI and
/// Ollama bodies alike: `messages[].role == "tool"`); panics when there is none.
pub fn last_tool_result(request: &serde_json::Value) -> String {
    request["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .rev()
        .find(|message| message["role"] == "tool")
        .and_then(|message| message["content"].as_str())
        .unwrap_or_else(|| panic!("no tool result in {request}"))
        .to_owned()
}
