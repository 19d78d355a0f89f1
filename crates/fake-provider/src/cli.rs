//! Command-line flags of the `pincer-fake-provider` binary.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::{Args, Parser, Subcommand};
use pincer_fake_provider::{Failure, Knobs, ToolMode};
use serde_json::Value;

/// Deterministic fake model provider (Ollama, OpenAI and Anthropic wire formats on one port).
///
/// Prints `{"listening":"HOST:PORT"}` on stdout once bound. Knobs can be changed at run time
/// with `POST /control` and a JSON object of knob fields.
#[derive(Debug, Parser)]
#[command(
    name = "pincer-fake-provider",
    version,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exit 0 if URL answers 200 within the timeout, else 1 (for container HEALTHCHECKs).
    Healthcheck(HealthcheckArgs),
}

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// Plain-HTTP URL to GET.
    #[arg(long, default_value = "http://127.0.0.1:11434/health")]
    pub url: String,
    /// Give up after this many milliseconds.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (printed on stdout).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Log each request to stderr.
    #[arg(long)]
    pub verbose: bool,
    #[command(flatten)]
    pub knobs: KnobArgs,
}

impl ServeArgs {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// The knob flags; defaults match `Knobs::default()`.
#[derive(Debug, Args)]
pub struct KnobArgs {
    /// Milliseconds before the first token.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// Reply length in words (one per streamed chunk).
    #[arg(long, default_value_t = 16)]
    pub tokens: u32,
    /// Milliseconds between streamed chunks.
    #[arg(long, default_value_t = 0)]
    pub chunk_delay_ms: u64,
    /// Model name advertised by the model lists.
    #[arg(long, default_value = "fake-model")]
    pub model: String,
    /// Another model id the model lists show (repeat the flag).
    #[arg(long = "list-model")]
    pub listed_models: Vec<String>,
    /// Context window advertised by /api/show and /v1/models.
    #[arg(long, alias = "context", default_value_t = 131_072)]
    pub context_window: u32,
    /// When to answer with a tool call: off, first (every turn offering tools), marker.
    #[arg(long, value_enum, default_value_t = ToolMode::Off)]
    pub tool_mode: ToolMode,
    /// Text that triggers a tool call with --tool-mode marker.
    #[arg(long, default_value = "USE_TOOL")]
    pub tool_marker: String,
    /// Preferred tool (else the first offered one).
    #[arg(long)]
    pub tool_name: Option<String>,
    /// JSON arguments of the tool call.
    #[arg(long, default_value = "{}", value_parser = parse_json)]
    pub tool_args: Value,
    /// Reply "messages=<n> last=<last user message>" instead of the fixed words.
    #[arg(long)]
    pub echo: bool,
    /// Fail chat requests with this HTTP status (400..=599).
    #[arg(long)]
    pub fail_status: Option<u16>,
    /// Raw error body instead of a provider-shaped one.
    #[arg(long)]
    pub fail_body: Option<String>,
    /// Fail only the next N chat requests.
    #[arg(long)]
    pub fail_times: Option<u32>,
    /// Stream part of the reply with HTTP 200, then an in-stream error.
    #[arg(long)]
    pub fail_mid_stream: bool,
    /// Add `Retry-After: <secs>` to error responses.
    #[arg(long)]
    pub fail_retry_after_secs: Option<u32>,
    /// Cut replies short without their finish marker and close the connection.
    #[arg(long)]
    pub truncate: bool,
    /// Require this key (Bearer token or x-api-key) on chat requests; others get 401.
    #[arg(long)]
    pub api_key: Option<String>,
    /// Prompt tokens reported as cached (OpenAI cached_tokens, Anthropic cache_read_input_tokens).
    #[arg(long, default_value_t = 0)]
    pub cached_tokens: u32,
    /// Leave "tools" out of /api/show capabilities and refuse Ollama chats offering tools.
    #[arg(long)]
    pub no_tools_capability: bool,
    /// Answer OpenAI and Anthropic requests with one JSON object even when they ask for a stream.
    #[arg(long)]
    pub ignore_stream: bool,
}

fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))
}

impl KnobArgs {
    /// The knobs these flags describe. Any `--fail-*` flag turns failure on (status 500 unless
    /// `--fail-status` says otherwise).
    pub fn into_knobs(self) -> Knobs {
        let failing = self.fail_status.is_some()
            || self.fail_mid_stream
            || self.fail_body.is_some()
            || self.fail_times.is_some()
            || self.fail_retry_after_secs.is_some();
        let fail = failing.then(|| Failure {
            status: self.fail_status.unwrap_or(Failure::default().status),
            body: self.fail_body,
            times: self.fail_times,
            mid_stream: self.fail_mid_stream,
            retry_after_secs: self.fail_retry_after_secs,
        });
        Knobs {
            delay_ms: self.delay_ms,
            tokens: self.tokens,
            chunk_delay_ms: self.chunk_delay_ms,
            model: self.model,
            listed_models: self.listed_models,
            context_window: self.context_window,
            tool_mode: self.tool_mode,
            tool_marker: self.tool_marker,
            tool_name: self.tool_name,
            tool_args: self.tool_args,
            fail,
            echo: self.echo,
            truncate: self.truncate,
            api_key: self.api_key,
            cached_tokens: self.cached_tokens,
            no_tools_capability: self.no_tools_capability,
            ignore_stream: self.ignore_stream,
            // Scripts are set over POST /control by tests; the CLI starts without one.
            script: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_knobs_default() {
        let cli = Cli::try_parse_from(["pincer-fake-provider"]).unwrap();
        assert_eq!(cli.serve.knobs.into_knobs(), Knobs::default());
    }

    #[test]
    fn flags_set_knobs() {
        let cli = Cli::try_parse_from([
            "pincer-fake-provider",
            "--port",
            "9",
            "--tokens",
            "3",
            "--tool-mode",
            "marker",
            "--tool-args",
            r#"{"q":1}"#,
            "--fail-status",
            "429",
            "--fail-times",
            "2",
            "--truncate",
            "--api-key",
            "sk-x",
            "--cached-tokens",
            "5",
            "--no-tools-capability",
        ])
        .unwrap();
        assert_eq!(cli.serve.addr().port(), 9);
        let knobs = cli.serve.knobs.into_knobs();
        assert_eq!((knobs.tokens, knobs.tool_mode), (3, ToolMode::Marker));
        assert_eq!(knobs.tool_args["q"], 1);
        let fail = knobs.fail.unwrap();
        assert_eq!((fail.status, fail.times), (429, Some(2)));
        assert!(knobs.truncate && knobs.no_tools_capability);
        assert_eq!(
            (knobs.api_key.as_deref(), knobs.cached_tokens),
            (Some("sk-x"), 5)
        );
    }

    #[test]
    fn healthcheck_subcommand() {
        let cli = Cli::try_parse_from([
            "pincer-fake-provider",
            "healthcheck",
            "--url",
            "http://127.0.0.1:1/health",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::Healthcheck(_))));
    }
}
