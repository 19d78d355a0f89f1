//! `pincer`: the command line. Every command prints for a person by default and JSON with
//! `--json`; colours only on a terminal; exit codes follow sysexits (64 usage, 65 refused data,
//! 69 unavailable, 74 I/O, 77 permission, 78 config).
//!
//! - `onboard`: a first config and `.env`, interactively or from flags.
//! - `config validate|get|set|unset|schema`: the config file, edited in place.
//! - `models list|status|set|fallbacks`: the router's catalogue and health; the agent's models.
//! - `gateway status|start|stop|restart|logs`: the deployment (docker compose underneath).
//! - `pairing`, `sessions`, `usage`: through the gateway's control plane.
//! - `doctor [--repair]`, `security audit`: what is wrong, and the fix.
//! - `import openclaw`: an OpenClaw config and workspace, converted.
//! - `mcp add|list|tools|call|remove`: MCP servers, tried through the agent's own client.
//! - `dashboard`: the Control UI's address, signed in. `dev`: the whole stack as processes.
//! - `completions SHELL`: shell completions.

mod audit;
mod config_cmd;
mod dashboard_cmd;
mod dev;
mod docker;
mod doctor;
mod gateway_cmd;
mod import_cmd;
mod mcp_cmd;
mod models_cmd;
mod models_edit;
mod onboard;
mod output;
mod pairing_cmd;
mod secrets;
mod sessions_cmd;
mod target;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "pincer",
    version,
    about = "Pincer: a small, fast personal AI agent gateway",
    after_help = "Start with `pincer onboard`, then `pincer doctor`, `pincer gateway start` and `pincer dashboard`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create or edit the config and .env, step by step (or all from flags with --non-interactive).
    #[command(
        after_help = "Examples:\n  pincer onboard\n  pincer onboard --non-interactive --ollama-url http://100.64.0.7:11434 --primary ollama/llama3.1:8b --telegram-token $TOKEN --dm-policy pairing"
    )]
    Onboard(onboard::Args),
    /// Work with the config file.
    #[command(
        after_help = "Examples:\n  pincer config get agents.defaults.model\n  pincer config set agents.defaults.timeout 120\n  pincer config unset channels.telegram.groups\n  pincer config validate config/pincer.json5\n  pincer config schema > pincer.schema.json"
    )]
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
        /// Config file (default: $PINCER_CONFIG, ./config/pincer.json5, ~/.pincer/pincer.json5).
        #[arg(long, global = true)]
        file: Option<PathBuf>,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Models the llm-router knows and their health; the agent's primary and fallback models.
    #[command(
        after_help = "Examples:\n  pincer models list\n  pincer models status --json\n  pincer models set ollama/qwen2.5:14b\n  pincer models fallbacks add openrouter/anthropic/claude-sonnet-4"
    )]
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
        /// llm-router gRPC address (default: $PINCER_LLM_ROUTER_URL or http://127.0.0.1:50051).
        #[arg(long, global = true)]
        router: Option<String>,
        /// Config file for set/fallbacks.
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        /// Change this agent's entry instead of agents.defaults.
        #[arg(long, global = true)]
        agent: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
    },
    /// The deployment: health, version and memory of each service; start, stop, logs.
    #[command(
        after_help = "Examples:\n  pincer gateway status\n  pincer gateway restart agent-runner\n  pincer gateway logs channel-bridge -f"
    )]
    Gateway {
        #[command(subcommand)]
        command: GatewayCommand,
        #[command(flatten)]
        target: target::GatewayArgs,
        /// Print JSON (status).
        #[arg(long, global = true)]
        json: bool,
    },
    /// DM pairing requests of every channel account, through the gateway.
    #[command(
        after_help = "Examples:\n  pincer pairing list\n  pincer pairing approve AB3DE7GH\n  pincer pairing reject AB3DE7GH"
    )]
    Pairing {
        #[command(subcommand)]
        command: PairingCommand,
        #[command(flatten)]
        target: target::GatewayArgs,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Conversations: list them, show one, start one over.
    #[command(
        after_help = "Examples:\n  pincer sessions list\n  pincer sessions show agent:main:telegram:dm:42\n  pincer sessions reset agent:main:telegram:dm:42"
    )]
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
        #[command(flatten)]
        target: target::GatewayArgs,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Tokens and cost per model over the last days.
    #[command(after_help = "Examples:\n  pincer usage\n  pincer usage --days 7 --json")]
    Usage {
        /// Days back (UTC), 1 to 366.
        #[arg(long, default_value_t = 30)]
        days: u32,
        #[command(flatten)]
        target: target::GatewayArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the deployment and say how to fix what is wrong; --repair applies the safe fixes.
    #[command(
        after_help = "Examples:\n  pincer doctor\n  pincer doctor --repair\n  pincer doctor --json | jq '.checks[] | select(.state != \"ok\")'"
    )]
    Doctor {
        /// Apply the safe fixes (permissions, a missing .env with a new token) and say what changed.
        #[arg(long)]
        repair: bool,
        /// Config file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The .env file.
        #[arg(long, default_value = ".env")]
        env_file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Security checks.
    #[command(
        after_help = "Examples:\n  pincer security audit\n  pincer security audit --json && docker-compose up -d   # deploy only without critical/high findings"
    )]
    Security {
        #[command(subcommand)]
        command: SecurityCommand,
    },
    /// Import from another gateway.
    #[command(
        after_help = "Examples:\n  pincer import openclaw\n  pincer import openclaw ~/backup/openclaw.json --out config/pincer.json5 --force"
    )]
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// MCP servers: add, list, remove, and try their tools from the terminal.
    #[command(
        after_help = "Examples:\n  pincer mcp add time --command mcp-server-time --allow '*'\n  pincer mcp tools time\n  pincer mcp call time get_current_time --args '{\"timezone\":\"UTC\"}'\n  pincer mcp remove time"
    )]
    Mcp {
        #[command(subcommand)]
        command: McpCommand,
        /// Config file.
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        /// Print JSON.
        #[arg(long, global = true)]
        json: bool,
    },
    /// Print the Control UI's URL (with the gateway token in the fragment, never sent to a server).
    #[command(
        after_help = "Examples:\n  pincer dashboard\n  pincer dashboard --open\n  pincer dashboard --url https://pincer.tail1234.ts.net --no-token"
    )]
    Dashboard {
        /// Gateway base URL (default: $PINCER_GATEWAY_URL or http://127.0.0.1:<gateway.port>).
        #[arg(long)]
        url: Option<String>,
        /// Config file to read the port and token from.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print the URL without the token.
        #[arg(long)]
        no_token: bool,
        /// Also open it in the default browser (xdg-open).
        #[arg(long)]
        open: bool,
    },
    /// Run the whole stack as local processes (development loop and benchmarks).
    #[command(
        after_help = "Example: pincer dev --config config/pincer.json5 --state-dir /tmp/pincer"
    )]
    Dev(dev::Args),
    /// The message bus: the NATS server's users and permissions (one per service).
    #[command(
        after_help = "Examples:\n  pincer bus config > /etc/nats/pincer.conf\n  nats-server -c /etc/nats/pincer.conf -js   # with PINCER_NATS_PASSWORD_* in its environment"
    )]
    Bus {
        #[command(subcommand)]
        command: BusCommand,
    },
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Example: pincer completions bash > /etc/bash_completion.d/pincer")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum BusCommand {
    /// Print the NATS server's `authorization` block: every service's user, its subjects, its
    /// password as `$PINCER_NATS_PASSWORD_<SERVICE>` (the server's environment); anonymous
    /// clients refused.
    Config,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a config file: syntax, unknown keys, types and ${VAR}s (exit 78 when invalid).
    Validate {
        /// Path of the JSON5 config (default: $PINCER_CONFIG or ~/.pincer/pincer.json5).
        path: Option<PathBuf>,
    },
    /// Print a value (secrets masked). Example: pincer config get agents.defaults.model
    Get {
        /// Dotted path (`a.b.0.c`, `a["key.with.dots"]`).
        path: String,
    },
    /// Set a value (JSON5, else text), validated before it is written; comments stay.
    #[command(
        after_help = "Examples:\n  pincer config set agents.defaults.timeout 120\n  pincer config set channels.telegram.dmPolicy pairing\n  pincer config set gateway.controlUi.allowedOrigins '[\"https://box.tail1.ts.net\"]'"
    )]
    Set {
        /// Dotted path.
        path: String,
        /// The value.
        value: String,
    },
    /// Remove a key.
    Unset {
        /// Dotted path.
        path: String,
    },
    /// Print the JSON Schema of the config file.
    Schema,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Configured and discovered (Ollama) models: context window, tool support, health, price.
    List,
    /// Health of every provider, API key and model: cooldowns, breakers, last errors, warnings.
    Status,
    /// Set the primary model. Example: pincer models set openrouter/anthropic/claude-sonnet-4
    Set {
        /// provider/model.
        model: String,
    },
    /// The fallback chain: list, add, remove.
    Fallbacks {
        #[command(subcommand)]
        command: FallbacksCommand,
    },
}

#[derive(Subcommand)]
enum FallbacksCommand {
    /// Primary and fallbacks, in order.
    List,
    /// Append a fallback.
    Add {
        /// provider/model.
        model: String,
    },
    /// Remove a fallback.
    Remove {
        /// provider/model.
        model: String,
    },
}

#[derive(Subcommand)]
enum GatewayCommand {
    /// Readiness, version, and each service's health and memory.
    Status,
    /// Start the stack (scripts/up.sh in a checkout, else docker compose up -d).
    Start,
    /// Stop the stack (data stays).
    Stop,
    /// Restart the stack or one service.
    Restart {
        /// gateway, agent-runner, llm-router, channel-bridge, tool-host, nats.
        service: Option<String>,
    },
    /// Service logs.
    Logs {
        /// One service.
        service: Option<String>,
        /// Keep following.
        #[arg(long, short)]
        follow: bool,
        /// Lines from the end.
        #[arg(long, default_value_t = 100)]
        tail: usize,
    },
}

#[derive(Subcommand)]
enum PairingCommand {
    /// Pending requests: code, account, sender, username.
    List,
    /// Let the sender of CODE talk to the agent (the code works once).
    Approve {
        /// The 8-character code the sender got.
        code: String,
    },
    /// Drop the request with CODE.
    Reject {
        /// The 8-character code.
        code: String,
    },
}

#[derive(Subcommand)]
enum SessionsCommand {
    /// Sessions, most recent first.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// A session's messages.
    Show {
        /// The session key (as `sessions list` shows it).
        key: String,
        /// The last this many messages.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Start a session over (its history is cleared).
    Reset {
        /// The session key.
        key: String,
    },
}

#[derive(Subcommand)]
enum SecurityCommand {
    /// Findings with severity; exit 2 on critical, 1 on high (gate a deploy with it).
    Audit {
        /// Config file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The .env file.
        #[arg(long, default_value = ".env")]
        env_file: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Convert an OpenClaw config and copy its workspace files.
    Openclaw {
        /// The OpenClaw config (default ~/.openclaw/openclaw.json).
        path: Option<PathBuf>,
        /// Where to write the Pincer config.
        #[arg(long, default_value = "config/pincer.json5")]
        out: PathBuf,
        /// Where to copy the workspace files (default ~/.pincer/workspace).
        #[arg(long)]
        workspace: Option<PathBuf>,
        /// Replace an existing output file.
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum McpCommand {
    /// Add a server (stdio with --command, or streamable HTTP with --url).
    #[command(
        after_help = "Examples:\n  pincer mcp add time --command mcp-server-time --arg --local-timezone --arg UTC --allow '*'\n  pincer mcp add gh --url https://example.org/mcp --header 'Authorization=Bearer ${GH_TOKEN}' --allow 'search_*'"
    )]
    Add {
        /// Server name (prefixes its tools: name__tool).
        name: String,
        /// stdio: the command.
        #[arg(long)]
        command: Option<String>,
        /// stdio: an argument (repeat).
        #[arg(long = "arg", allow_hyphen_values = true)]
        args: Vec<String>,
        /// stdio: KEY=VALUE environment (repeat; use ${VAR} for secrets).
        #[arg(long)]
        env: Vec<String>,
        /// HTTP: the URL.
        #[arg(long)]
        url: Option<String>,
        /// HTTP: Name=Value header (repeat).
        #[arg(long)]
        header: Vec<String>,
        /// Tools agents may use (repeat; `*`, `prefix*` or names).
        #[arg(long)]
        allow: Vec<String>,
        /// Seconds per call.
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// The configured servers.
    List,
    /// Start a server and list its tools (and which ones agents may use).
    Tools {
        /// Server name.
        name: String,
    },
    /// Call a tool. Example: pincer mcp call time get_current_time --args '{"timezone":"UTC"}'
    Call {
        /// Server name.
        name: String,
        /// Tool name (the server's own).
        tool: String,
        /// Arguments as a JSON object.
        #[arg(long, default_value = "{}")]
        args: String,
    },
    /// Remove a server.
    Remove {
        /// Server name.
        name: String,
    },
}

fn config_file(explicit: Option<PathBuf>) -> PathBuf {
    target::config_file(explicit.clone())
        .or(explicit)
        .unwrap_or_else(|| PathBuf::from("config/pincer.json5"))
}

fn gateway(args: &target::GatewayArgs) -> Result<target::Gateway, ExitCode> {
    target::resolve(args).map_err(|error| {
        eprintln!("pincer: {error}");
        ExitCode::from(target::exit::CONFIG)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Onboard(args) => {
            let _ = rustls::crypto::ring::default_provider().install_default();
            block_on(onboard::run(args))
        }
        Command::Config {
            command,
            file,
            json,
        } => match command {
            ConfigCommand::Validate { path } => config_cmd::validate(
                path.or(file)
                    .unwrap_or_else(pincer_lifecycle::env::config_path),
            ),
            ConfigCommand::Get { path } => config_cmd::get(&config_file(file), &path, json),
            ConfigCommand::Set { path, value } => {
                config_cmd::set(&config_file(file), &path, &value)
            }
            ConfigCommand::Unset { path } => config_cmd::unset(&config_file(file), &path),
            ConfigCommand::Schema => config_cmd::schema(),
        },
        Command::Dev(args) => block_on(dev::run(args)),
        Command::Dashboard {
            url,
            config,
            no_token,
            open,
        } => block_on(dashboard_cmd::run(dashboard_cmd::Options {
            url,
            config,
            no_token,
            open,
        })),
        Command::Models {
            command,
            router,
            config,
            agent,
            json,
        } => {
            let url = models_cmd::router_url(router);
            let file = config_file(config);
            match command {
                ModelsCommand::List => block_on(models_cmd::list(url, json)),
                ModelsCommand::Status => block_on(models_cmd::status(url, json)),
                ModelsCommand::Set { model } => {
                    block_on(models_edit::set(&file, agent.as_deref(), &model, &url))
                }
                ModelsCommand::Fallbacks { command } => {
                    let (action, model) = match &command {
                        FallbacksCommand::List => ("list", None),
                        FallbacksCommand::Add { model } => ("add", Some(model.as_str())),
                        FallbacksCommand::Remove { model } => ("remove", Some(model.as_str())),
                    };
                    block_on(models_edit::fallbacks(
                        &file,
                        agent.as_deref(),
                        action,
                        model,
                        &url,
                        json,
                    ))
                }
            }
        }
        Command::Gateway {
            command,
            target,
            json,
        } => match command {
            GatewayCommand::Status => match gateway(&target) {
                Ok(gateway) => block_on(gateway_cmd::status(&gateway, json)),
                Err(code) => code,
            },
            GatewayCommand::Start => gateway_cmd::start(),
            GatewayCommand::Stop => gateway_cmd::stop(),
            GatewayCommand::Restart { service } => gateway_cmd::restart(service.as_deref()),
            GatewayCommand::Logs {
                service,
                follow,
                tail,
            } => gateway_cmd::logs(service.as_deref(), follow, tail),
        },
        Command::Pairing {
            command,
            target,
            json,
        } => match gateway(&target) {
            Ok(gateway) => match command {
                PairingCommand::List => block_on(pairing_cmd::list(&gateway, json)),
                PairingCommand::Approve { code } => {
                    block_on(pairing_cmd::decide(&gateway, &code, true, json))
                }
                PairingCommand::Reject { code } => {
                    block_on(pairing_cmd::decide(&gateway, &code, false, json))
                }
            },
            Err(code) => code,
        },
        Command::Sessions {
            command,
            target,
            json,
        } => match gateway(&target) {
            Ok(gateway) => match command {
                SessionsCommand::List { limit } => {
                    block_on(sessions_cmd::list(&gateway, limit, json))
                }
                SessionsCommand::Show { key, limit } => {
                    block_on(sessions_cmd::show(&gateway, &key, limit, json))
                }
                SessionsCommand::Reset { key } => {
                    block_on(sessions_cmd::reset(&gateway, &key, json))
                }
            },
            Err(code) => code,
        },
        Command::Usage { days, target, json } => match gateway(&target) {
            Ok(gateway) => block_on(sessions_cmd::usage(&gateway, days, json)),
            Err(code) => code,
        },
        Command::Doctor {
            repair,
            config,
            env_file,
            json,
        } => block_on(doctor::run(doctor::Options {
            config,
            env_file,
            repair,
            json,
        })),
        Command::Security {
            command:
                SecurityCommand::Audit {
                    config,
                    env_file,
                    json,
                },
        } => audit::run(config, &env_file, json),
        Command::Import {
            command:
                ImportCommand::Openclaw {
                    path,
                    out,
                    workspace,
                    force,
                    json,
                },
        } => import_cmd::run(import_cmd::Options {
            source: path,
            out,
            workspace,
            force,
            json,
        }),
        Command::Mcp {
            command,
            config,
            json,
        } => {
            let file = config_file(config);
            match command {
                McpCommand::Add {
                    name,
                    command,
                    args,
                    env,
                    url,
                    header,
                    allow,
                    timeout,
                } => mcp_cmd::add(
                    &file,
                    mcp_cmd::AddOptions {
                        name,
                        command,
                        args,
                        env,
                        url,
                        headers: header,
                        allow,
                        timeout_seconds: timeout,
                    },
                ),
                McpCommand::List => mcp_cmd::list(&file, json),
                McpCommand::Tools { name } => block_on(mcp_cmd::tools(&file, &name, json)),
                McpCommand::Call { name, tool, args } => {
                    block_on(mcp_cmd::call(&file, &name, &tool, &args))
                }
                McpCommand::Remove { name } => mcp_cmd::remove(&file, &name),
            }
        }
        Command::Bus {
            command: BusCommand::Config,
        } => {
            print!(
                "{}",
                pincer_bus::access::server_config(&pincer_bus::Namespace::default())
            );
            ExitCode::SUCCESS
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "pincer", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}

fn block_on(work: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(work),
        Err(error) => {
            eprintln!("pincer: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        }
    }
}
