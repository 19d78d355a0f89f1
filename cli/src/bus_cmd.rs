//! `pincer bus config`: the NATS server's users and permissions, generated from the same
//! functions the services use (`pincer_bus::access`).

use std::process::ExitCode;

/// `pincer bus`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  pincer bus config > /etc/nats/pincer.conf\n  nats-server -c /etc/nats/pincer.conf -js   # with PINCER_NATS_PASSWORD_* in its environment"
)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Print the NATS server's `authorization` block: every service's user, its subjects, its
    /// password as `$PINCER_NATS_PASSWORD_<SERVICE>` (the server's environment); anonymous
    /// clients refused.
    Config,
}

/// Runs `pincer bus config`.
pub fn run(args: Args) -> ExitCode {
    let Command::Config = args.command;
    print!(
        "{}",
        pincer_bus::access::server_config(&pincer_bus::Namespace::default())
    );
    ExitCode::SUCCESS
}
