//! `tailscale.mode` (or `gateway.tailscale.mode`): the gateway publishes itself with the host's
//! `tailscale` CLI when it starts (`serve` on the tailnet, `funnel` on the internet, both HTTPS on
//! port 443), undoes it on shutdown when `resetOnExit` says so, and, behind `serve` with
//! `gateway.auth.allowTailscale`, checks the identity headers Tailscale adds with `tailscale whois`.
//!
//! The CLI is `tailscale` on `PATH`, or `PINCER_TAILSCALE_BIN`. Without it (a container has no
//! tailscaled) the gateway says so and serves as usual.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Longest a `tailscale` command may take (it talks to the local tailscaled only).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// The header Serve adds with the tailnet user's login name.
pub const USER_LOGIN_HEADER: &str = "tailscale-user-login";

/// How the gateway is published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `tailscale serve`.
    Serve,
    /// `tailscale funnel`.
    Funnel,
}

impl Mode {
    fn command(self) -> &'static str {
        match self {
            Mode::Serve => "serve",
            Mode::Funnel => "funnel",
        }
    }
}

/// The Tailscale settings in force.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Serve or funnel.
    pub mode: Mode,
    /// Undo the publication on shutdown.
    pub reset_on_exit: bool,
    /// Trust Serve's identity headers once `whois` confirms them.
    pub allow_identity: bool,
    /// The `tailscale` CLI.
    pub program: PathBuf,
}

impl Settings {
    /// From the config file; `None` when the mode is off.
    pub fn from_config(file: &pincer_config::Config, program: Option<PathBuf>) -> Option<Self> {
        let tailscale = file.tailscale();
        let mode = match tailscale.effective_mode() {
            pincer_config::TailscaleMode::Serve | pincer_config::TailscaleMode::On => Mode::Serve,
            pincer_config::TailscaleMode::Funnel => Mode::Funnel,
            pincer_config::TailscaleMode::Off => return None,
        };
        Some(Self {
            mode,
            reset_on_exit: tailscale.reset_on_exit.unwrap_or(false),
            allow_identity: file.gateway.auth.allow_tailscale && mode == Mode::Serve,
            program: program.unwrap_or_else(|| PathBuf::from("tailscale")),
        })
    }

    /// Publishes `listening` (the gateway's own address; an unspecified one is reached on
    /// loopback) with `tailscale serve|funnel --bg`.
    pub async fn publish(&self, listening: SocketAddr) -> Result<(), Error> {
        let target = target_url(listening);
        self.run(&[self.mode.command(), "--bg", "--yes", "--https=443", &target])
            .await
            .map(|_| ())
    }

    /// Turns the publication off again (`tailscale serve|funnel --https=443 off`), leaving any
    /// other Serve configuration of the host alone.
    pub async fn unpublish(&self) -> Result<(), Error> {
        self.run(&[self.mode.command(), "--https=443", "off"])
            .await
            .map(|_| ())
    }

    /// The login of the tailnet user who owns `ip`, by `tailscale whois --json`.
    pub async fn whois(&self, ip: IpAddr) -> Result<String, Error> {
        let output = self.run(&["whois", "--json", &ip.to_string()]).await?;
        let answer: Whois = serde_json::from_slice(&output)
            .map_err(|error| Error::Failed(format!("whois answered unreadable JSON: {error}")))?;
        answer
            .user_profile
            .map(|profile| profile.login_name)
            .filter(|login| !login.is_empty())
            .ok_or_else(|| Error::Failed(format!("whois knows no user for {ip}")))
    }

    async fn run(&self, args: &[&str]) -> Result<Vec<u8>, Error> {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let output = match tokio::time::timeout(COMMAND_TIMEOUT, command.output()).await {
            Err(_) => {
                return Err(Error::Failed(format!(
                    "`tailscale {}` took longer than {}s",
                    args.join(" "),
                    COMMAND_TIMEOUT.as_secs()
                )));
            }
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::Missing(self.program.display().to_string()));
            }
            Ok(Err(error)) => return Err(Error::Failed(error.to_string())),
            Ok(Ok(output)) => output,
        };
        if output.status.success() {
            return Ok(output.stdout);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(Error::Failed(format!(
            "`tailscale {}` failed ({}): {}",
            args.join(" "),
            output.status,
            stderr.trim().chars().take(500).collect::<String>()
        )))
    }
}

/// What `tailscale` did wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The CLI is not installed where the gateway runs.
    #[error(
        "the tailscale CLI ({0}) is not installed here; install Tailscale on this host (or set PINCER_TAILSCALE_BIN), or in a container run `tailscale serve` on the host instead"
    )]
    Missing(String),
    /// It ran and refused, or could not be read.
    #[error("{0}")]
    Failed(String),
}

/// The part of `tailscale whois --json` used here.
#[derive(Deserialize)]
struct Whois {
    #[serde(rename = "UserProfile")]
    user_profile: Option<UserProfile>,
}

#[derive(Deserialize)]
struct UserProfile {
    #[serde(rename = "LoginName", default)]
    login_name: String,
}

/// `http://<addr>:<port>` of the listener, with an unspecified address read as loopback.
fn target_url(listening: SocketAddr) -> String {
    let ip = match listening.ip() {
        ip if ip.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listening.port()))
}

/// A request Serve proxied: it reached the gateway over loopback with Serve's forwarding headers
/// and a user login. Returns the tailnet address it came from and the claimed login.
pub fn serve_request(peer: IpAddr, headers: &http::HeaderMap) -> Option<(IpAddr, String)> {
    if !peer.is_loopback() {
        return None;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    header("x-forwarded-proto")?;
    header("x-forwarded-host")?;
    let login = header(USER_LOGIN_HEADER)?.to_owned();
    // Serve sets a single hop: the tailnet peer.
    let forwarded = header("x-forwarded-for")?;
    let first = forwarded.split(',').next()?.trim();
    let ip = first
        .parse::<IpAddr>()
        .or_else(|_| first.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()?;
    Some((ip, login))
}

/// Publishes the gateway now and undoes it after `shutdown` when asked; failures are logged (the
/// gateway still serves its own address).
pub async fn publish_until(
    settings: Settings,
    listening: SocketAddr,
    shutdown: tokio_util::sync::CancellationToken,
) {
    match settings.publish(listening).await {
        Ok(()) => tracing::info!(
            mode = settings.mode.command(),
            target = %target_url(listening),
            "published on the tailnet with tailscale"
        ),
        Err(error) => {
            tracing::error!(%error, "tailscale.mode is set but the gateway could not be published");
            return;
        }
    }
    shutdown.cancelled().await;
    if settings.reset_on_exit {
        match settings.unpublish().await {
            Ok(()) => tracing::info!("tailscale publication undone (resetOnExit)"),
            Err(error) => tracing::warn!(%error, "cannot undo the tailscale publication"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_headers::headers;

    const SERVED: [(&str, &str); 4] = [
        ("x-forwarded-for", "100.101.102.103"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "box.tail1234.ts.net"),
        ("tailscale-user-login", "alice@example.com"),
    ];

    #[test]
    fn only_loopback_requests_with_serves_headers_are_serve_requests() {
        let loopback = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(
            serve_request(loopback, &headers(&SERVED)),
            Some((
                IpAddr::from([100, 101, 102, 103]),
                "alice@example.com".to_owned()
            ))
        );
        assert_eq!(
            serve_request(IpAddr::from([192, 168, 1, 5]), &headers(&SERVED)),
            None,
            "headers from elsewhere are anyone's to write"
        );
        for missing in 0..SERVED.len() {
            let mut partial = SERVED.to_vec();
            partial.remove(missing);
            assert_eq!(
                serve_request(loopback, &headers(&partial)),
                None,
                "{missing}"
            );
        }
    }

    #[test]
    fn the_target_is_the_listeners_address_with_loopback_for_any() {
        assert_eq!(
            target_url("0.0.0.0:18789".parse().expect("addr")),
            "http://127.0.0.1:18789"
        );
        assert_eq!(
            target_url("100.64.0.7:18789".parse().expect("addr")),
            "http://100.64.0.7:18789"
        );
    }

    #[test]
    fn off_is_no_settings_and_on_is_serve() {
        let parse =
            |json: &str| -> pincer_config::Config { serde_json::from_str(json).expect("config") };
        assert!(Settings::from_config(&parse("{}"), None).is_none());
        let on =
            Settings::from_config(&parse(r#"{"tailscale": {"mode": "on"}}"#), None).expect("on");
        assert_eq!(on.mode, Mode::Serve);
        let funnel = Settings::from_config(
            &parse(r#"{"gateway": {"tailscale": {"mode": "funnel", "resetOnExit": true}}}"#),
            None,
        )
        .expect("funnel");
        assert_eq!(funnel.mode, Mode::Funnel);
        assert!(funnel.reset_on_exit);
        assert!(!funnel.allow_identity);
    }
}
