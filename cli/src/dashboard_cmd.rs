//! `pincer dashboard`: prints the Control UI's address, with the gateway token in the URL fragment
//! (browsers never send the fragment to a server, so it stays out of logs and proxies).
//!
//! The address: `--url`, else `$PINCER_GATEWAY_URL`, else `http://127.0.0.1:<port>` with the port
//! from `$PINCER_GATEWAY_PORT` or the config's `gateway.port`. The token: `$PINCER_GATEWAY_TOKEN`,
//! else `PINCER_GATEWAY_TOKEN=` in `./.env` (what `scripts/up.sh` writes), else the config's
//! `gateway.auth.token`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Options.
pub struct Options {
    /// Explicit gateway URL.
    pub url: Option<String>,
    /// Config file (default `$PINCER_CONFIG`, `./config/pincer.json5`, `~/.pincer/pincer.json5`).
    pub config: Option<PathBuf>,
    /// Leave the token out (the page asks for it).
    pub no_token: bool,
}

/// The config file to read, if any exists.
fn config_file(explicit: Option<PathBuf>) -> Option<PathBuf> {
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

fn env_file_token(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let value = line.trim().strip_prefix("PINCER_GATEWAY_TOKEN=")?;
        let value = value.trim().trim_matches('"').trim_matches('\'');
        (!value.is_empty()).then(|| value.to_owned())
    })
}

fn nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Runs the command.
pub async fn run(options: Options) -> ExitCode {
    let file = config_file(options.config.clone());
    let config = match &file {
        Some(path) => match pincer_config::load_file(
            path,
            &pincer_config::process_env,
            pincer_config::Scope::Sections(&["gateway"]),
        ) {
            Ok(config) => Some(config),
            Err(error) => {
                eprintln!("pincer: {error}");
                return ExitCode::from(78);
            }
        },
        None => None,
    };
    let base = options
        .url
        .or_else(|| nonempty("PINCER_GATEWAY_URL"))
        .unwrap_or_else(|| {
            let port = nonempty("PINCER_GATEWAY_PORT")
                .or_else(|| config.as_ref().map(|c| c.gateway.port.to_string()))
                .unwrap_or_else(|| "18789".to_owned());
            format!("http://127.0.0.1:{port}")
        });
    let base = base.trim_end_matches('/').to_owned();
    let token = nonempty("PINCER_GATEWAY_TOKEN")
        .or_else(|| env_file_token(Path::new(".env")))
        .or_else(|| {
            config
                .as_ref()
                .and_then(|c| c.gateway.auth.token.as_ref())
                .map(|t| t.expose().to_owned())
                .filter(|t| !t.is_empty())
        });
    let url = match (&token, options.no_token) {
        (Some(token), false) => format!("{base}/#token={token}"),
        _ => format!("{base}/"),
    };
    println!("{url}");
    if token.is_none() && !options.no_token {
        eprintln!(
            "pincer: no gateway token found ($PINCER_GATEWAY_TOKEN, ./.env or gateway.auth.token); the page will ask for it"
        );
    }
    let reachable = answers_healthz(&base).await;
    if !reachable {
        eprintln!(
            "pincer: the gateway does not answer at {base}/healthz (is the stack up? scripts/up.sh)"
        );
    }
    ExitCode::SUCCESS
}

/// `GET /healthz` answers 2xx (plain http; the CLI carries no TLS client).
async fn answers_healthz(base: &str) -> bool {
    pincer_lifecycle::probe::http_get_ok(&format!("{base}/healthz"), Duration::from_secs(2))
        .await
        .is_ok()
}
