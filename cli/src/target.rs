//! Where the gateway is and how to sign in to it, shared by every command that talks to it.
//!
//! The address: `--url`, else `PINCER_GATEWAY_URL`, else `http://127.0.0.1:<port>` with the port
//! from `PINCER_GATEWAY_PORT` (the host port compose publishes) or the config's `gateway.port`.
//! The token: `$PINCER_GATEWAY_TOKEN`, else the config's `gateway.auth.token` with its `${VAR}`s
//! filled, else `PINCER_GATEWAY_TOKEN=` in a `.env`. Variables come from the environment, then
//! the config's own `.env`, then `./.env` ([`Sources`]), so `--config` brings its own token.

use std::path::PathBuf;

use pincer_control_client::{ControlClient, Refused};

use crate::sources::{Sources, process_value};

/// Exit codes (sysexits), so scripts can tell a bad call from a stack that is down.
pub mod exit {
    /// Wrong usage or input.
    pub const USAGE: u8 = 64;
    /// The data given was refused (unknown code, session, ...).
    pub const DATA: u8 = 65;
    /// The gateway or another service is unreachable.
    pub const UNAVAILABLE: u8 = 69;
    /// An I/O error (files).
    pub const IO: u8 = 74;
    /// Permission denied (bad token).
    pub const NOPERM: u8 = 77;
    /// The config is invalid.
    pub const CONFIG: u8 = 78;
}

/// `--url` / `--config` of the commands that reach the gateway.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct GatewayArgs {
    /// Gateway base URL (default: $PINCER_GATEWAY_URL or http://127.0.0.1:<gateway.port>).
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Config file (default: $PINCER_CONFIG, ./config/pincer.json5, ~/.pincer/pincer.json5).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
}

/// A resolved gateway.
#[derive(Clone, Debug)]
pub struct Gateway {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    /// The token, if one was found.
    pub token: Option<String>,
}

/// [`resolve`], or the message printed and the config exit code.
pub fn resolve_or_exit(args: &GatewayArgs) -> Result<Gateway, std::process::ExitCode> {
    resolve(args).map_err(|error| {
        eprintln!("pincer: {error}");
        std::process::ExitCode::from(exit::CONFIG)
    })
}

/// Resolves the gateway from flags, the environment, the `.env` files and the config file
/// ([`Sources`]).
pub fn resolve(args: &GatewayArgs) -> Result<Gateway, String> {
    let sources = Sources::find(args.config.as_deref());
    resolve_with(args.url.clone(), &sources)
}

/// Resolves the gateway of `sources`, at `url` when given.
pub fn resolve_with(url: Option<String>, sources: &Sources) -> Result<Gateway, String> {
    // Structure only: a variable the gateway section needs may be missing here and still be
    // known to the gateway (its own environment).
    let config = sources
        .load(pincer_config::Scope::Sections(&[]))
        .map_err(|e| e.to_string())?;
    let base = url
        .or_else(|| sources.lookup("PINCER_GATEWAY_URL"))
        .unwrap_or_else(|| {
            let port = sources
                .lookup("PINCER_GATEWAY_PORT")
                .or_else(|| config.as_ref().map(|c| c.gateway.port.to_string()))
                .unwrap_or_else(|| "18789".to_owned());
            format!("http://127.0.0.1:{port}")
        })
        .trim_end_matches('/')
        .to_owned();
    let configured = config
        .as_ref()
        .and_then(|c| c.gateway.auth.token.as_ref())
        .map(|t| t.expose().to_owned())
        .filter(|t| !t.is_empty());
    let token = process_value("PINCER_GATEWAY_TOKEN")
        .or_else(|| configured.and_then(|written| expand(&written, sources)))
        .or_else(|| sources.file_value("PINCER_GATEWAY_TOKEN"));
    Ok(Gateway { base, token })
}

/// A config value with its `${VAR}`s filled from `sources`; `None` when one is unknown.
fn expand(written: &str, sources: &Sources) -> Option<String> {
    if !written.contains("${") {
        return Some(written.to_owned());
    }
    let mut out = String::new();
    let mut rest = written;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}')? + start;
        out.push_str(&sources.lookup(&rest[start + 2..end])?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

impl Gateway {
    /// The control socket's URL.
    pub fn ws_url(&self) -> String {
        let ws = if let Some(rest) = self.base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else {
            format!("ws://{}", self.base.trim_start_matches("http://"))
        };
        format!("{ws}/ws")
    }

    /// Signs in with every operator scope; the error is a message and an exit code.
    pub async fn connect(&self) -> Result<ControlClient, (String, u8)> {
        let auth = match &self.token {
            Some(token) => serde_json::json!({ "token": token }),
            None => serde_json::json!({}),
        };
        ControlClient::connect_with(
            &self.ws_url(),
            &[],
            auth,
            &pincer_control_client::ALL_SCOPES,
        )
        .await
        .map_err(|refused| match refused {
            Refused::Error(error) => (
                format!(
                    "the gateway at {} refused the sign-in: {} (set PINCER_GATEWAY_TOKEN)",
                    self.base,
                    error["message"].as_str().unwrap_or("unauthorized")
                ),
                exit::NOPERM,
            ),
            Refused::Http(status) => (
                format!("the gateway at {} refused the connection (HTTP {status})", self.base),
                exit::NOPERM,
            ),
            Refused::Other(reason) => (
                format!(
                    "cannot reach the gateway at {} ({reason}); is the stack up? (`pincer gateway status`, or pass --url)",
                    self.base
                ),
                exit::UNAVAILABLE,
            ),
        })
    }
}

/// Runs one control call: prints the error and returns its exit code on failure.
pub async fn call(
    gateway: &Gateway,
    method: &str,
    params: serde_json::Value,
) -> Result<serde_json::Value, u8> {
    let mut client = match gateway.connect().await {
        Ok(client) => client,
        Err((message, code)) => {
            eprintln!("pincer: {message}");
            return Err(code);
        }
    };
    client.call(method, params).await.map_err(|error| {
        eprintln!(
            "pincer: {}",
            error["message"].as_str().unwrap_or("the call failed")
        );
        match error["code"].as_str() {
            Some("NOT_FOUND" | "INVALID_REQUEST" | "CONFLICT") => exit::DATA,
            Some("FORBIDDEN" | "UNAUTHORIZED") => exit::NOPERM,
            _ => exit::UNAVAILABLE,
        }
    })
}
