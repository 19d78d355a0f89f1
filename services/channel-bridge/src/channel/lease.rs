//! One replica at a time per connection or sender: a KV lease taken before the work starts,
//! refreshed while it runs, and the work stopped when the lease is lost (another replica took
//! over). Shared by the Discord gateway, Slack's Socket Mode and each channel's sender.

use std::time::Duration;

use async_nats::jetstream::kv;
use pincer_bus::lease::Lease;
use tokio_util::sync::CancellationToken;

/// Pause after the lease store failed.
const RETRY: Duration = Duration::from_secs(2);

/// Takes the lease `key` for `holder`, waiting while another replica holds it (a third of `ttl`
/// between looks, when its lease could have lapsed); `None` once `shutdown` comes first. `what`
/// names the lease in logs.
pub async fn acquire(
    state: &kv::Store,
    key: &str,
    holder: &str,
    ttl: Duration,
    what: &str,
    shutdown: &CancellationToken,
) -> Option<Lease> {
    while !shutdown.is_cancelled() {
        let wait = match pincer_bus::lease::acquire(state, key, holder, ttl).await {
            Ok(Some(lease)) => return Some(lease),
            Ok(None) => ttl / 3,
            Err(error) => {
                tracing::warn!(%error, what, "cannot take the lease");
                RETRY
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(wait) => {}
        }
    }
    None
}

/// Runs `work` to its end while refreshing `lease`; a lost lease cancels `connection` (which
/// `work` must watch) and is not refreshed again. The lease is given back at the end.
pub async fn while_held<T>(
    state: &kv::Store,
    mut lease: Lease,
    holder: &str,
    ttl: Duration,
    what: &str,
    connection: &CancellationToken,
    work: impl Future<Output = T>,
) -> T {
    tokio::pin!(work);
    let mut held = true;
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            () = tokio::time::sleep(ttl / 3), if held => {
                if let Err(error) = lease.refresh(state, holder, ttl).await {
                    tracing::warn!(%error, what, "lease lost; another replica takes over");
                    held = false;
                    connection.cancel();
                }
            }
        }
    };
    lease.release(state).await;
    out
}
