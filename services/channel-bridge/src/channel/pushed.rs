//! Events a platform pushes to the gateway (Telegram's webhook, Slack's Events API): the gateway
//! checks the caller and puts each event on JetStream before it answers; here they are taken off
//! a durable consumer per account, one at a time across replicas (a sender's messages stay in
//! order), and handled like the events of a connection. An event is acked once handled; one that
//! cannot be handled yet comes back. The ack wait is short, with progress acks while an event is
//! handled, so the event a killed bridge was holding comes back to the next one within seconds
//! (one at a time per account: until it does, nothing after it moves).

use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer};
use futures::StreamExt as _;
use pincer_bus::Namespace;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::key_token;

/// Handles the events pushed for `account` of `channel` until `shutdown`; `handle` says whether
/// an event is durably dealt with.
pub async fn consume<F, Fut>(
    js: &jetstream::Context,
    ns: &Namespace,
    channel: &str,
    account: &str,
    handle: F,
    shutdown: &CancellationToken,
) where
    F: Fn(Value) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let consumer = loop {
        match open(js, ns, channel, account).await {
            Ok(consumer) => break consumer,
            Err(error) => {
                tracing::warn!(%error, channel, account, "cannot consume pushed events yet");
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
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
            let handled = match serde_json::from_slice::<Value>(&message.payload) {
                Ok(event) => with_progress(&message, handle(event)).await,
                Err(error) => {
                    tracing::error!(%error, channel, "unreadable pushed event dropped");
                    Ok(())
                }
            };
            let ack = match handled {
                Ok(()) => message.ack().await,
                Err(error) => {
                    tracing::warn!(%error, channel, "pushed event not handled yet");
                    message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(2))))
                        .await
                }
            };
            if let Err(error) = ack {
                tracing::warn!(%error, "pushed event ack failed (it may be handled again; ids dedupe it)");
            }
        }
    }
}

/// How long a fetched event stays with this bridge without word from it.
const ACK_WAIT: Duration = Duration::from_secs(10);

/// Runs `handling`, telling JetStream every few seconds that `message` is still in hand.
async fn with_progress<T>(message: &jetstream::Message, handling: impl Future<Output = T>) -> T {
    let mut handling = std::pin::pin!(handling);
    let mut ticks =
        tokio::time::interval_at(tokio::time::Instant::now() + ACK_WAIT / 3, ACK_WAIT / 3);
    loop {
        tokio::select! {
            done = &mut handling => return done,
            _ = ticks.tick() => {
                if let Err(error) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(%error, "progress ack failed");
                }
            }
        }
    }
}

async fn open(
    js: &jetstream::Context,
    ns: &Namespace,
    channel: &str,
    account: &str,
) -> Result<consumer::Consumer<consumer::pull::Config>, String> {
    let stream = js
        .get_stream(ns.channel_inbound_stream())
        .await
        .map_err(|e| e.to_string())?;
    let name = format!("channel-bridge-{channel}-{}", key_token(account));
    // Create or update: a consumer made by an earlier version gets today's ack wait.
    stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: ns.channel_inbound_account(channel, account),
            ack_wait: ACK_WAIT,
            max_ack_pending: 1,
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())
}
