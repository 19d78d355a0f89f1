//! Webhook mode: Telegram pushes updates to the gateway, which checks the secret and puts them on
//! JetStream; here they are taken off a durable consumer and handled like polled ones. The
//! webhook is (re)registered at start, which also stops any long polling elsewhere from working
//! (Telegram answers getUpdates with 409 while a webhook is set), so the modes never run together.

use std::time::Duration;

use async_nats::jetstream::{AckKind, consumer};
use futures::StreamExt as _;
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
    let consumer = match open(&ingest).await {
        Ok(consumer) => consumer,
        Err(error) => {
            tracing::error!(%error, "cannot consume webhook updates");
            return;
        }
    };
    while !shutdown.is_cancelled() {
        let batch = tokio::select! {
            () = shutdown.cancelled() => break,
            batch = consumer.fetch().max_messages(32).expires(Duration::from_secs(5)).messages() => batch,
        };
        let Ok(mut messages) = batch else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        while let Some(Ok(message)) = messages.next().await {
            let handled = match serde_json::from_slice::<serde_json::Value>(&message.payload) {
                Ok(update) => ingest.handle(&update).await.map_err(|e| e.to_string()),
                Err(error) => {
                    tracing::error!(%error, "unreadable webhook update dropped");
                    Ok(())
                }
            };
            let ack = match handled {
                Ok(()) => message.ack().await,
                Err(error) => {
                    tracing::warn!(%error, "webhook update not handled yet");
                    message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(2))))
                        .await
                }
            };
            if let Err(error) = ack {
                tracing::warn!(%error, "webhook update ack failed (it may be handled again; ids dedupe it)");
            }
        }
    }
}

async fn open(ingest: &Ingest) -> Result<consumer::Consumer<consumer::pull::Config>, String> {
    let stream = ingest
        .core
        .js
        .get_stream(ingest.core.ns.channel_inbound_stream())
        .await
        .map_err(|e| e.to_string())?;
    let name = format!(
        "channel-bridge-telegram-{}",
        super::key_token(ingest.account())
    );
    stream
        .get_or_create_consumer(
            &name,
            consumer::pull::Config {
                durable_name: Some(name.clone()),
                filter_subject: ingest
                    .core
                    .ns
                    .channel_inbound_account("telegram", ingest.account()),
                ack_wait: Duration::from_secs(60),
                // One update at a time across replicas: a sender's messages stay in order.
                max_ack_pending: 1,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| e.to_string())
}
