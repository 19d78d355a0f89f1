//! Pincer's configuration: one JSON5 file whose keys are OpenClaw's (`openclaw.json` compatible).
//!
//! Loading runs four stages, each with its own error:
//!
//! 1. parse JSON5 (comments, trailing commas, unquoted keys) — [`Error::Syntax`];
//! 2. substitute `${VAR}` in every string value from a caller-supplied lookup — [`Error::MissingVar`]
//!    (only inside the sections of the [`Scope`] the caller validates);
//! 3. deserialize strictly into [`Config`]: unknown keys and wrong types anywhere in the file are
//!    errors naming the full key path, with a "did you mean" suggestion — [`Error::Invalid`];
//! 4. semantic checks on the sections in scope (model refs, auth ambiguity, port 0) —
//!    [`Error::Semantic`].
//!
//! Secrets ([`Secret`]) never appear in `Debug`, `Display`, serialized output or error messages.
//!
//! ```
//! use pincer_config::{Scope, parse_str};
//!
//! let env = |name: &str| (name == "KEY").then(|| "sk-test".to_owned());
//! let config = parse_str(
//!     r#"{ models: { providers: { openrouter: { apiKey: "${KEY}" } } } }"#,
//!     "pincer.json5",
//!     &env,
//!     Scope::All,
//! )?;
//! let provider = config.models.provider("openrouter").expect("declared");
//! assert_eq!(provider.api_key.as_ref().map(|k| k.expose()), Some("sk-test"));
//! # Ok::<(), pincer_config::Error>(())
//! ```

#![warn(missing_docs)]

mod duration;
mod env;
mod error;
mod invalid;
mod load;
mod model_ref;
mod scope;
mod secret;
mod strict;
mod validate;

pub mod edit;
pub mod exposure;
pub mod redact;
pub mod schema;
pub mod strength;

pub use duration::{DurationError, parse_duration};
pub use env::process_env;

/// The JSON Schema of the config file (`pincer config schema`; editors take it through `$schema`).
#[must_use]
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default()
}
pub use error::Error;
pub use load::{load_file, parse_str};
pub use model_ref::parse_model_ref;
pub use schema::Config;
pub use schema::agents::{
    ActiveHours, AgentDefaults, AgentEntry, AgentError, Agents, Heartbeat, ModelSelection,
    ResolvedAgent, Sandbox, SandboxMode, Subagents, ThinkingLevel, WorkspaceAccess, minute_of_day,
};
pub use schema::bindings::{Binding, BindingMatch, Peer, PeerKind};
pub use schema::channels::{
    BlueBubbles, BlueBubblesAccount, DEFAULT_SIGNAL_HTTP_URL, DEFAULT_WHATSAPP_API, GroupRule,
    Signal, SignalAccount, WhatsApp, WhatsAppAccount, WhatsAppTransport,
};
pub use schema::channels::{
    Channels, DEFAULT_ACCOUNT, DEFAULT_DISCORD_API, DEFAULT_SLACK_API, DEFAULT_SLACK_WEBHOOK_PATH,
    DEFAULT_TELEGRAM_ACCOUNT, Discord, DiscordAccount, DiscordChannel, DiscordGuild, DmPolicy,
    GroupPolicy, GuildChannels, LegacyDm, ReplyToMode, Slack, SlackAccount, SlackChannel,
    SlackEnvTokens, SlackMode, StringList, Telegram, TelegramAccount,
};
pub use schema::gateway::{
    Auth, AuthMode, Bind, ChatCompletions, ControlUi, Gateway, GatewayHttp, HttpEndpoints,
    RateLimit, TrustedProxy,
};
pub use schema::mcp::{
    DEFAULT_MCP_PORTS, DEFAULT_MCP_TIMEOUT_SECONDS, Mcp, McpSandbox, McpServer, McpTransport,
    ServerProblem, ToolFilter, valid_server_name,
};
pub use schema::memory_search::MemorySearch;
pub use schema::models::{
    Api, BuiltinProvider, Cost, KeepAlive, ModelEntry, Models, ModelsMode, Provider,
};
pub use schema::tools::{Exec, ExecMode, RUNS_OTHER_PROGRAMS, Tools, runs_other_programs};
pub use schema::web::{Endpoint, SearchProvider, SsrfPolicy, Web, WebFetch, WebSearch};
pub use schema::{Cron, Hooks, Session, Tailscale, TailscaleMode};
pub use scope::Scope;
pub use secret::Secret;
