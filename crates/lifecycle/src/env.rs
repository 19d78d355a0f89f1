//! Runtime settings that live outside the OpenClaw config file (addresses, URLs), read from
//! `PINCER_*` variables with defaults for a single host.

use std::net::SocketAddr;

/// A variable was set to a value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {reason}")]
pub struct Error {
    /// Variable name.
    pub name: &'static str,
    /// The offending value (never a secret: only address/URL variables go through here).
    pub value: String,
    /// Why it was rejected.
    pub reason: String,
}

/// Returns the variable's value, or `default` when unset or empty.
pub fn string_or(name: &'static str, default: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => default.to_owned(),
    }
}

/// Parses a `host:port` socket address from `name`, or uses `default`.
pub fn socket_addr_or(name: &'static str, default: &str) -> Result<SocketAddr, Error> {
    let value = string_or(name, default);
    value
        .parse()
        .map_err(|error: std::net::AddrParseError| Error {
            name,
            value: value.clone(),
            reason: error.to_string(),
        })
}

/// Returns the config file path: `PINCER_CONFIG`, else `~/.pincer/pincer.json5`.
pub fn config_path() -> std::path::PathBuf {
    if let Ok(path) = std::env::var("PINCER_CONFIG")
        && !path.trim().is_empty()
    {
        return path.into();
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| ".".to_owned());
    std::path::Path::new(&home)
        .join(".pincer")
        .join("pincer.json5")
}
