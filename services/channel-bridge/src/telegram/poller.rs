//! Long polling for one bot: only the replica holding the bot's lease polls (two pollers would
//! get 409s and could double-handle updates). Each update is handed to JetStream first; only then
//! is its `update_id` saved and confirmed to Telegram (by polling from the next id), so a restart
//! neither loses nor repeats one.

use std::time::Duration;

use async_nats::jetstream::kv;
use tokio_util::sync::CancellationToken;

use super::client::{ApiError, BotApi};
use super::ingest::Ingest;

/// How long one getUpdates waits for news.
const POLL_WAIT: Duration = Duration::from_secs(15);
/// Lease life: longer than a poll plus handling, so the holder refreshes in time.
const LEASE_TTL: Duration = Duration::from_secs(30);

/// Runs until `shutdown`.
pub async fn run(
    api: BotApi,
    ingest: Ingest,
    state: kv::Store,
    holder: String,
    shutdown: CancellationToken,
) {
    let lease_key = format!("telegram.{}.poller", super::key_token(ingest.account()));
    let offset_key = format!("telegram.{}.offset", super::key_token(ingest.account()));
    let mut backoff = Backoff::default();
    while !shutdown.is_cancelled() {
        let mut lease =
            match pincer_bus::lease::acquire(&state, &lease_key, &holder, LEASE_TTL).await {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    // Another replica polls; check again when its lease could have lapsed.
                    pause(&shutdown, LEASE_TTL / 3).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot take the poller lease");
                    pause(&shutdown, backoff.next()).await;
                    continue;
                }
            };
        tracing::info!(account = %ingest.account(), "polling telegram");
        // Polling and a webhook exclude each other: make sure no webhook is set.
        if let Err(error) = api.delete_webhook().await {
            tracing::warn!(%error, "deleteWebhook failed");
        }
        let mut offset = match state.get(&offset_key).await {
            Ok(Some(bytes)) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .map(|id| id + 1),
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "cannot read the saved offset");
                lease.release(&state).await;
                pause(&shutdown, backoff.next()).await;
                continue;
            }
        };
        'polling: loop {
            if let Err(error) = lease.refresh(&state, &holder, LEASE_TTL).await {
                tracing::warn!(%error, "poller lease lost; another replica may poll now");
                break;
            }
            let mut refreshed = tokio::time::Instant::now();
            let polled = tokio::select! {
                () = shutdown.cancelled() => break,
                polled = api.get_updates(offset, POLL_WAIT) => polled,
            };
            let updates = match polled {
                Ok(updates) => updates,
                Err(ApiError::Conflict(reason)) => {
                    tracing::error!(%reason, "telegram refused polling: another process polls this bot token, or a webhook is set; stop the other instance (or remove its webhook)");
                    pause(&shutdown, Duration::from_secs(5)).await;
                    continue;
                }
                Err(ApiError::Unauthorized) => {
                    tracing::error!(
                        "telegram refused the bot token (401): check channels.telegram.botToken"
                    );
                    pause(&shutdown, Duration::from_secs(60)).await;
                    continue;
                }
                Err(ApiError::RetryAfter(wait)) => {
                    // Flood control says how long: polling sooner is refused again.
                    tracing::warn!(?wait, "getUpdates rate limited");
                    pause(&shutdown, wait.max(backoff.next())).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(%error, "getUpdates failed");
                    pause(&shutdown, backoff.next()).await;
                    continue;
                }
            };
            backoff = Backoff::default();
            for update in updates {
                let Some(id) = super::update::update_id(&update) else {
                    continue;
                };
                // A slow batch must not outlive the lease: renew it as we go, stop if it is gone.
                if refreshed.elapsed() > LEASE_TTL / 3 {
                    if let Err(error) = lease.refresh(&state, &holder, LEASE_TTL).await {
                        tracing::warn!(%error, "poller lease lost mid-batch; stopping");
                        break 'polling;
                    }
                    refreshed = tokio::time::Instant::now();
                }
                if let Err(error) = ingest.handle(&update).await {
                    // Not saved: the same update comes back on the next poll.
                    tracing::warn!(%error, update_id = id, "update not handled yet");
                    pause(&shutdown, backoff.next()).await;
                    break;
                }
                if let Err(error) = state.put(&offset_key, id.to_string().into()).await {
                    tracing::warn!(%error, "cannot save the offset");
                    break;
                }
                offset = Some(id + 1);
            }
        }
        lease.release(&state).await;
    }
}

async fn pause(shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        () = shutdown.cancelled() => {}
        () = tokio::time::sleep(duration) => {}
    }
}

/// 1 s doubling to 30 s.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    fn next(&mut self) -> Duration {
        let delay = Duration::from_secs(1 << self.0.min(5)).min(Duration::from_secs(30));
        self.0 += 1;
        delay
    }
}
