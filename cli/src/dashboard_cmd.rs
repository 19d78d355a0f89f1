//! `pincer dashboard`: prints the Control UI's address, with the gateway token in the URL fragment
//! (browsers never send the fragment to a server, so it stays out of logs and proxies), and opens
//! it with `--open`. Address and token are found as every gateway command finds them
//! ([`crate::target`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `pincer dashboard`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer dashboard\n  pincer dashboard --open\n  pincer dashboard --url https://pincer.tail1234.ts.net --no-token"
)]
pub struct Args {
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
}

/// Runs the command.
pub async fn run(options: Args) -> ExitCode {
    let gateway = match crate::target::resolve(&crate::target::GatewayArgs {
        url: options.url,
        config: options.config,
    }) {
        Ok(gateway) => gateway,
        Err(error) => {
            eprintln!("pincer: {error}");
            return ExitCode::from(crate::target::exit::CONFIG);
        }
    };
    let url = match (&gateway.token, options.no_token) {
        (Some(token), false) => format!("{}/#token={token}", gateway.base),
        _ => format!("{}/", gateway.base),
    };
    println!("{url}");
    if gateway.token.is_none() && !options.no_token {
        eprintln!(
            "pincer: no gateway token found ($PINCER_GATEWAY_TOKEN, ./.env or gateway.auth.token); the page will ask for it"
        );
    }
    let healthz = format!("{}/healthz", gateway.base);
    if pincer_lifecycle::probe::http_get_ok(&healthz, Duration::from_secs(2))
        .await
        .is_err()
    {
        eprintln!(
            "pincer: the gateway does not answer at {healthz} (is the stack up? `pincer gateway start`)"
        );
    }
    if options.open
        && let Err(error) = std::process::Command::new("xdg-open").arg(&url).status()
    {
        eprintln!("pincer: cannot open a browser ({error}); open the URL above");
    }
    ExitCode::SUCCESS
}
