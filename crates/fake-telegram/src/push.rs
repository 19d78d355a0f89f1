//! Webhook delivery: while a bot has a webhook, its queued updates are POSTed there one by one with
//! the secret-token header, in order; an update leaves the queue only on a 2xx (Telegram retries).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::World;

/// Delivers until `shutdown`.
pub async fn run(world: World, shutdown: CancellationToken) {
    // reqwest is built without a TLS crypto provider; whoever comes first installs ring's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "no http client for webhook delivery");
            return;
        }
    };
    while !shutdown.is_cancelled() {
        let due: Vec<(String, String, Option<String>, serde_json::Value)> = world
            .bots()
            .iter()
            .filter_map(|(token, bot)| {
                let webhook = bot.webhook.as_ref()?;
                let update = bot.updates.front()?.clone();
                let target = bot
                    .webhook_target
                    .clone()
                    .unwrap_or_else(|| webhook.url.clone());
                Some((token.clone(), target, webhook.secret_token.clone(), update))
            })
            .collect();
        for (token, target, secret, update) in due {
            let mut request = http.post(&target).json(&update);
            if let Some(secret) = &secret {
                request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
            }
            let delivered = request.send().await.is_ok_and(|r| r.status().is_success());
            if delivered {
                world.with_bot(&token, |bot| {
                    if bot.updates.front() == Some(&update) {
                        bot.updates.pop_front();
                    }
                    bot.webhook_delivered += 1;
                });
            }
        }
        let arrived = world.arrived.notified();
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = arrived => {}
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}
