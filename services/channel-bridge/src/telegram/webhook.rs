//! Webhook mode: Telegram pushes updates to the gateway, which checks the secret and puts them on
//! JetStream; here they are handled like polled ones ([`crate::channel::pushed`]). The
//! webhook is (re)registered at start, which also stops any long polling elsewhere from working
//! (Telegram answers getUpdates with 409 while a webhook is set), so the modes never run together.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::client::BotApi;
use super::ingest::Ingest;

/// Registers the webhook and handles pushed updates until `shutdown`.
pub async fn run(
    api: &BotApi,
    url: &str,
    secret: &pincer_config::Secret,
    ingest: Ingest,
    shutdown: &CancellationToken,
) {
    let mut delay = Duration::from_secs(1);
    while let Err(error) = api.set_webhook(url, secret.expose()).await {
        tracing::warn!(account = %ingest.account(), %error, "setWebhook failed, retrying");
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(60));
    }
    tracing::info!(account = %ingest.account(), "telegram webhook registered");
    let core = &ingest.core;
    crate::channel::pushed::consume(
        &core.js,
        &core.ns,
        "telegram",
        ingest.account(),
        |update| {
            let ingest = &ingest;
            async move { ingest.handle(&update).await.map_err(|e| e.to_string()) }
        },
        shutdown,
    )
    .await;
}
