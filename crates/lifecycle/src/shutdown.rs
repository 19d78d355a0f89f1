//! Signal handling: the first SIGINT/SIGTERM starts a graceful shutdown, a second one exits.

use tokio_util::sync::CancellationToken;

/// Spawns a task that cancels `token` on the first SIGINT or SIGTERM and exits the process with
/// status 130 on the second, so an operator is never stuck behind a slow drain.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let first = wait_for_signal().await;
        tracing::info!(signal = first, "shutdown requested, draining");
        token.cancel();
        let second = wait_for_signal().await;
        tracing::warn!(signal = second, "second signal, exiting without draining");
        std::process::exit(130);
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
