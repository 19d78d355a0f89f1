//! Signal handling: the first SIGINT/SIGTERM starts a graceful shutdown, a second one exits, and
//! so does a drain that outlasts [`DRAIN_LIMIT`].

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The longest a graceful shutdown may take. Each service bounds its own drain (the runner gives
/// running turns 10 s), but one waiting on something that is gone for good (NATS, when `pincer dev`
/// was killed outright and the kernel stopped its children with it) must not live on: nobody
/// waits for it to be killed.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);

/// Spawns a task that cancels `token` on the first SIGINT or SIGTERM and exits the process with
/// status 130 on the second, or with status 1 once the drain has taken [`DRAIN_LIMIT`], so an
/// operator is never stuck behind a slow drain and no service outlives its stop.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let first = wait_for_signal().await;
        tracing::info!(signal = first, "shutdown requested, draining");
        token.cancel();
        tokio::select! {
            second = wait_for_signal() => {
                tracing::warn!(signal = second, "second signal, exiting without draining");
                std::process::exit(130);
            }
            () = tokio::time::sleep(DRAIN_LIMIT) => {
                tracing::warn!(limit = ?DRAIN_LIMIT, "the drain took too long, exiting without finishing it");
                std::process::exit(1);
            }
        }
    });
}

/// A token that [`cancel_on_signal`] cancels: what every service's `run` stops on.
pub fn token_cancelled_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    cancel_on_signal(token.clone());
    token
}

/// Waits for SIGINT or SIGTERM and returns its name.
pub async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut terminate), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers (e.g. no signal driver) the process can still be killed; never
        // resolve so that the service keeps running.
        std::future::pending::<()>().await;
        unreachable!("pending never resolves");
    };
    tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    }
}
