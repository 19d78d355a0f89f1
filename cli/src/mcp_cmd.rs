//! `pincer mcp add|list|tools|call|remove`: manage `mcp.servers` and try a server's tools from the
//! terminal through the MCP client the tool host uses (same transports, handshake, timeouts).
//!
//! `tools` and `call` start only the named server, with every tool callable (the operator at the
//! terminal decides); `tools` marks which ones the config lets agents use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use pincer_mcp::{McpManager, ServerState, catalog};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::output;
use crate::target::exit;

/// `pincer mcp`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer mcp add time --command mcp-server-time --allow '*'\n  pincer mcp tools time\n  pincer mcp call time get_current_time --args '{\"timezone\":\"UTC\"}'\n  pincer mcp remove time"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    /// Config file.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Add a server (stdio with --command, or streamable HTTP with --url).
    #[command(
        after_help = "Examples:\n  pincer mcp add time --command mcp-server-time --arg --local-timezone --arg UTC --allow '*'\n  pincer mcp add gh --url https://example.org/mcp --header 'Authorization=Bearer ${GH_TOKEN}' --allow 'search_*'"
    )]
    Add(AddOptions),
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

/// What `mcp add` writes.
#[derive(clap::Args)]
struct AddOptions {
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
    #[arg(long = "header", value_name = "HEADER")]
    headers: Vec<String>,
    /// Tools agents may use (repeat; `*`, `prefix*` or names).
    #[arg(long)]
    allow: Vec<String>,
    /// Seconds per call.
    #[arg(long = "timeout", value_name = "TIMEOUT")]
    timeout_seconds: Option<u64>,
}

/// Runs `pincer mcp ...`.
pub async fn run(args: Args) -> ExitCode {
    let file = crate::sources::config_file_or_default(args.config.as_deref());
    match args.command {
        Command::Add(options) => add(&file, options),
        Command::List => list(&file, args.json),
        Command::Tools { name } => tools(&file, &name, args.json).await,
        Command::Call { name, tool, args } => call(&file, &name, &tool, &args).await,
        Command::Remove { name } => remove(&file, &name),
    }
}

fn pairs(entries: &[String], what: &str) -> Result<serde_json::Map<String, Value>, ExitCode> {
    entries
        .iter()
        .map(|entry| {
            entry
                .split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), json!(v)))
                .ok_or_else(|| {
                    eprintln!("pincer: {what} {entry:?} is not KEY=VALUE");
                    ExitCode::from(exit::USAGE)
                })
        })
        .collect()
}

/// `pincer mcp add`.
fn add(file: &Path, options: AddOptions) -> ExitCode {
    let mut server = serde_json::Map::new();
    match (&options.command, &options.url) {
        (Some(command), None) => {
            server.insert("command".into(), json!(command));
            if !options.args.is_empty() {
                server.insert("args".into(), json!(options.args));
            }
            match pairs(&options.env, "--env") {
                Ok(env) if !env.is_empty() => {
                    server.insert("env".into(), Value::Object(env));
                }
                Ok(_) => {}
                Err(code) => return code,
            }
        }
        (None, Some(url)) => {
            server.insert("url".into(), json!(url));
            match pairs(&options.headers, "--header") {
                Ok(headers) if !headers.is_empty() => {
                    server.insert("headers".into(), Value::Object(headers));
                }
                Ok(_) => {}
                Err(code) => return code,
            }
        }
        _ => {
            eprintln!(
                "pincer: give either --command (stdio server) or --url (streamable HTTP server)"
            );
            return ExitCode::from(exit::USAGE);
        }
    }
    if !options.allow.is_empty() {
        server.insert("allowTools".into(), json!(options.allow));
    }
    if let Some(timeout) = options.timeout_seconds {
        server.insert("timeoutSeconds".into(), json!(timeout));
    }
    let path = format!("mcp.servers[\"{}\"]", options.name);
    let value = Value::Object(server);
    let code = crate::config_cmd::apply(file, &path, |text, steps| {
        pincer_config::edit::set(text, steps, &value)
    });
    if code == ExitCode::SUCCESS && options.allow.is_empty() {
        eprintln!(
            "pincer: note: no --allow given: agents can use none of its tools until allowTools lists them (`pincer mcp tools {}` shows them)",
            options.name
        );
    }
    code
}

/// `pincer mcp remove NAME`.
fn remove(file: &Path, name: &str) -> ExitCode {
    crate::config_cmd::apply(
        file,
        &format!("mcp.servers[\"{name}\"]"),
        pincer_config::edit::unset,
    )
}

fn load(file: &Path) -> Result<pincer_config::Mcp, ExitCode> {
    let sources = crate::sources::Sources::with_config(Some(file.to_owned()));
    pincer_config::load_file(
        file,
        &|name: &str| sources.lookup(name),
        pincer_config::Scope::Sections(&["mcp"]),
    )
    .map(|config| config.mcp)
    .map_err(|error| {
        eprintln!("pincer: {error}");
        ExitCode::from(exit::CONFIG)
    })
}

/// `pincer mcp list`.
fn list(file: &Path, json_out: bool) -> ExitCode {
    let mcp = match load(file) {
        Ok(mcp) => mcp,
        Err(code) => return code,
    };
    if json_out {
        output::json(&json!(mcp.servers.iter().map(|(name, s)| json!({
            "name": name, "command": s.command, "args": s.args, "url": s.url, "enabled": s.enabled,
            "allowTools": s.allow_tools, "timeoutSeconds": s.timeout_seconds,
        })).collect::<Vec<_>>()));
        return ExitCode::SUCCESS;
    }
    if mcp.servers.is_empty() {
        println!("no MCP servers (add one: pincer mcp add NAME --command CMD --allow '*')");
        return ExitCode::SUCCESS;
    }
    let rows: Vec<Vec<String>> = mcp
        .servers
        .iter()
        .map(|(name, s)| {
            vec![
                name.clone(),
                if s.url.is_some() {
                    "http".to_owned()
                } else {
                    "stdio".to_owned()
                },
                s.url.clone().unwrap_or_else(|| {
                    format!(
                        "{} {}",
                        s.command.clone().unwrap_or_default(),
                        s.args.join(" ")
                    )
                    .trim()
                    .to_owned()
                }),
                if s.allow_tools.is_empty() {
                    "(none)".to_owned()
                } else {
                    s.allow_tools.join(",")
                },
                if s.enabled {
                    "yes".to_owned()
                } else {
                    "no".to_owned()
                },
            ]
        })
        .collect();
    output::table(
        &["NAME", "TRANSPORT", "TARGET", "ALLOWED TOOLS", "ENABLED"],
        &rows,
    );
    ExitCode::SUCCESS
}

/// Starts `name` alone with every tool callable; waits until it is connected.
async fn start_one(
    file: &Path,
    name: &str,
    shutdown: &CancellationToken,
) -> Result<(std::sync::Arc<McpManager>, pincer_config::McpServer), ExitCode> {
    let mcp = load(file)?;
    let Some(server) = mcp.servers.get(name).cloned() else {
        eprintln!(
            "pincer: no MCP server {name:?} in {} (known: {})",
            file.display(),
            mcp.servers.keys().cloned().collect::<Vec<_>>().join(", ")
        );
        return Err(ExitCode::from(exit::DATA));
    };
    let mut open = server.clone();
    open.allow_tools = vec!["*".to_owned()];
    open.tool_filter = None;
    open.enabled = true;
    let manager = McpManager::start(
        &pincer_config::Mcp {
            servers: BTreeMap::from([(name.to_owned(), open)]),
        },
        shutdown,
    );
    let deadline = Instant::now() + server.timeout().max(Duration::from_secs(10));
    loop {
        let status = manager.status().into_iter().next();
        match status.as_ref().map(|s| s.state) {
            Some(ServerState::Connected) => return Ok((manager, server)),
            Some(ServerState::Failed) => {
                eprintln!(
                    "pincer: {name}: {}",
                    status.and_then(|s| s.last_error).unwrap_or_default()
                );
                return Err(ExitCode::from(exit::UNAVAILABLE));
            }
            _ if Instant::now() > deadline => {
                let reason = status
                    .and_then(|s| s.last_error)
                    .unwrap_or_else(|| "no answer".to_owned());
                eprintln!("pincer: {name} did not connect in time: {reason}");
                return Err(ExitCode::from(exit::UNAVAILABLE));
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// `pincer mcp tools NAME`.
async fn tools(file: &Path, name: &str, json_out: bool) -> ExitCode {
    let shutdown = CancellationToken::new();
    let (manager, server) = match start_one(file, name, &shutdown).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let prefix = catalog::exposed_name(name, "");
    let tools: Vec<(String, String, bool)> = manager
        .specs()
        .into_iter()
        .map(|spec| {
            let tool = spec
                .name
                .strip_prefix(&prefix)
                .unwrap_or(&spec.name)
                .to_owned();
            let allowed = server.permits_tool(&tool);
            (tool, spec.description, allowed)
        })
        .collect();
    shutdown.cancel();
    manager.stopped(Duration::from_secs(5)).await;
    if json_out {
        output::json(&json!(tools.iter().map(|(t, d, a)| json!({ "tool": t, "agentName": format!("{prefix}{t}"), "description": d, "allowed": a })).collect::<Vec<_>>()));
    } else {
        let rows: Vec<Vec<String>> = tools
            .iter()
            .map(|(t, d, a)| {
                vec![
                    t.clone(),
                    if *a {
                        "yes".to_owned()
                    } else {
                        "no".to_owned()
                    },
                    d.lines().next().unwrap_or("").chars().take(70).collect(),
                ]
            })
            .collect();
        output::table(&["TOOL", "ALLOWED", "DESCRIPTION"], &rows);
    }
    ExitCode::SUCCESS
}

/// `pincer mcp call NAME TOOL [--args JSON]`.
async fn call(file: &Path, name: &str, tool: &str, arguments: &str) -> ExitCode {
    if !serde_json::from_str::<Value>(arguments).is_ok_and(|v| v.is_object()) {
        eprintln!("pincer: --args must be a JSON object, e.g. '{{\"query\": \"rust\"}}'");
        return ExitCode::from(exit::USAGE);
    }
    let shutdown = CancellationToken::new();
    let (manager, _) = match start_one(file, name, &shutdown).await {
        Ok(started) => started,
        Err(code) => return code,
    };
    let result = manager
        .call(&catalog::exposed_name(name, tool), arguments)
        .await;
    shutdown.cancel();
    manager.stopped(Duration::from_secs(5)).await;
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("pincer: {error}");
            ExitCode::from(exit::DATA)
        }
    }
}
