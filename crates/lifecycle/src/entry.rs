//! The shared shape of every service's `main`: build the runtime, answer `healthcheck`, or serve, and
//! turn the outcome into an exit code.

use std::future::Future;
use std::process::ExitCode;

/// Exit status for an invalid configuration (EX_CONFIG, as OpenClaw uses it): supervisors such as
/// systemd can refuse to restart on it instead of looping.
pub const EXIT_CONFIG: u8 = 78;

/// Marks an error as "the configuration is invalid" so the process exits with [`EXIT_CONFIG`].
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct InvalidConfig(pub anyhow::Error);

/// Listens on `addr` (a service's port), the error naming the address.
pub async fn listen(addr: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    use anyhow::Context as _;
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Loads the config file (`PINCER_CONFIG`, else `~/.pincer/pincer.json5`) resolving `${VAR}`s from
/// the process environment in `sections` only: a service needs only its own secrets.
pub fn load_config(
    sections: &'static [&'static str],
) -> Result<pincer_config::Config, InvalidConfig> {
    pincer_config::load_file(
        &crate::env::config_path(),
        &pincer_config::process_env,
        pincer_config::Scope::Sections(sections),
    )
    .map_err(|error| InvalidConfig(error.into()))
}

/// [`load_config`], except values under the keys named in `unread`, which this service never
/// reads (another service's secrets): they need not be set in its environment.
pub fn load_config_except(
    sections: &'static [&'static str],
    unread: &'static [&'static str],
) -> Result<pincer_config::Config, InvalidConfig> {
    pincer_config::load_file(
        &crate::env::config_path(),
        &pincer_config::process_env,
        pincer_config::Scope::SectionsExcept { sections, unread },
    )
    .map_err(|error| InvalidConfig(error.into()))
}

/// The service runtime. `PINCER_WORKER_THREADS` (default 1) sets the worker count; 1 selects a
/// current-thread runtime. A turn crosses four processes, so on a small machine the processes
/// already keep the cores busy, and two workers in each mostly woke each other up (futex wakes were
/// a tenth of the agent-runner's CPU). Measured with pincer-bench on 2 cores, one worker against
/// two: CPU per turn 1.10-1.16 vs 1.35-1.37 ms at 8 clients and 0.88-0.97 vs 1.28-1.31 ms at 32,
/// with more turns per second at both. On a bigger host raise it for the busiest service.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let workers = std::env::var("PINCER_WORKER_THREADS")
        .ok()
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(1);
    if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
    }
}

/// Runs a service binary named `binary`.
///
/// With the first argument `healthcheck`, runs `healthcheck` and exits 0/1 (container HEALTHCHECK).
/// Otherwise runs `serve`, giving back memory once start-up is over and after each burst of work
/// (see `give_back`); errors are printed to stderr (tracing may not exist yet) and mapped to
/// [`EXIT_CONFIG`] for [`InvalidConfig`], 1 otherwise.
pub fn run<H, HF, S, SF>(binary: &str, healthcheck: H, serve: S) -> ExitCode
where
    H: FnOnce() -> HF,
    HF: Future<Output = Result<(), crate::probe::Error>>,
    S: FnOnce() -> SF,
    SF: Future<Output = anyhow::Result<()>>,
{
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{binary}: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    if std::env::args().nth(1).as_deref() == Some("healthcheck") {
        return match runtime.block_on(healthcheck()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{binary}: unhealthy: {error}");
                ExitCode::FAILURE
            }
        };
    }
    let serve = async {
        tokio::spawn(crate::give_back::watch());
        serve().await
    };
    match runtime.block_on(serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<InvalidConfig>().is_some() => {
            eprintln!("{binary}: invalid configuration: {error:#}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(error) => {
            eprintln!("{binary}: {error:#}");
            ExitCode::FAILURE
        }
    }
}
