//! Where the gateway is and how to sign in to it, shared by every command that talks to it.
//!
//! The address: `--url`, else `$PINCER_GATEWAY_URL`, else `http://127.0.0.1:<port>` with the port
//! from `$PINCER_GATEWAY_PORT` or the config's `gateway.port`. The token: `$PINCER_GATEWAY_TOKEN`,
//! else `PINCER_GATEWAY_TOKEN=` in `./.env` (what `scripts/up.sh` writes), else the config's
//! `gateway.auth.token`.

use std::path::{Path, PathBuf};

use pincer_control_client::{ControlClient, Refused};

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

/// The config file to use, if one exists.
pub fn config_file(explicit: Option<PathBuf>) -> Option<PathBuf> {
    if explicit.is_some() {
        return explicit;
    }
    if std::env::var("PINCER_CONFIG").is_ok_and(|p| !p.trim().is_empty()) {
        return Some(pincer_lifecycle::env::config_path());
    }
    [
        PathBuf::from("config/pincer.json5"),
        pincer_lifecycle::env::config_path(),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// `NAME=` from an env file.
pub fn env_file_value(path: &Path, name: &str) -> Option<String> {
    env_file_value_in(&std::fs::read_to_string(path).ok()?, name)
}

/// `NAME=` from an env file's text.
pub fn env_file_value_in(text: &str, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix(&prefix)?;
        let value = value.trim().trim_matches('"').trim_matches('\'');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

fn nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Resolves the gateway from flags, environment, `.env` and the config file.
pub fn resolve(args: &GatewayArgs) -> Result<Gateway, String> {
    let file = config_file(args.config.clone());
    let config = match &file {
        Some(path) => Some(
            pincer_config::load_file(
                path,
                &pincer_config::process_env,
                pincer_config::Scope::Sections(&[]),
            )
            .map_err(|e| e.to_string())?,
        ),
        None => None,
    };
    let base = args
        .url
        .clone()
        .or_else(|| nonempty("PINCER_GATEWAY_URL"))
        .unwrap_or_else(|| {
            let port = nonempty("PINCER_GATEWAY_PORT")
                .or_else(|| config.as_ref().map(|c| c.gateway.port.to_string()))
                .unwrap_or_else(|| "18789".to_owned());
            format!("http://127.0.0.1:{port}")
        })
        .trim_end_matches('/')
        .to_owned();
    let token = nonempty("PINCER_GATEWAY_TOKEN")
        .or_else(|| env_file_value(Path::new(".env"), "PINCER_GATEWAY_TOKEN"))
        .or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.gateway.auth.token.as_ref())
                .map(|t| t.expose().to_owned())
                .filter(|t| !t.is_empty() && !pincer_config::redact::is_reference(t))
        });
    Ok(Gateway { base, token })
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
