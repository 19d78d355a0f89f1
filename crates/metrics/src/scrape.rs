//! Scrapes over NATS: the gateway asks each service for its text on the service's metrics subject
//! (`pincer_bus::Namespace::metrics`) and serves them together on `GET /metrics`, so only the
//! gateway's port is ever published.
//!
//! Every replica of a service subscribes (no queue group), so a scrape is a scatter-gather: the
//! gateway takes every answer that arrives within a short window after the first, and each
//! replica labels its series with its own `replica` id ([`crate::replica_registry`]), and
//! [`crate::merge`] joins them.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Answers every scrape on `subject` with `render()`'s text until `shutdown`.
pub async fn answer(
    client: async_nats::Client,
    subject: String,
    render: Arc<dyn Fn() -> String + Send + Sync>,
    shutdown: CancellationToken,
) -> Result<JoinHandle<()>, async_nats::SubscribeError> {
    let mut requests = client.subscribe(subject).await?;
    Ok(tokio::spawn(async move {
        loop {
            let request = tokio::select! {
                () = shutdown.cancelled() => break,
                request = requests.next() => request,
            };
            let Some(request) = request else { break };
            let Some(reply) = request.reply else { continue };
            let text = render();
            if let Err(error) = client.publish(reply, text.into()).await {
                tracing::debug!(%error, "cannot answer a metrics scrape");
            }
        }
    }))
}

/// How long to wait for more replicas once one has answered: they share the bus, so a live one
/// answers within milliseconds of the others.
pub const STRAGGLERS: Duration = Duration::from_millis(150);

/// The texts of every replica that answers on `subject`: waits up to `patience` for the first,
/// then [`STRAGGLERS`] for more. Empty when nobody answered.
pub async fn gather(
    client: &async_nats::Client,
    subject: String,
    patience: Duration,
) -> Vec<String> {
    let inbox = client.new_inbox();
    let mut answers = match client.subscribe(inbox.clone()).await {
        Ok(answers) => answers,
        Err(error) => {
            tracing::warn!(%subject, %error, "cannot listen for metrics answers");
            return Vec::new();
        }
    };
    if let Err(error) = client
        .publish_with_reply(subject.clone(), inbox, Vec::new().into())
        .await
    {
        tracing::warn!(%subject, %error, "cannot ask for metrics");
        return Vec::new();
    }
    let mut deadline = tokio::time::Instant::now() + patience;
    let mut texts = Vec::new();
    while let Ok(Some(answer)) = tokio::time::timeout_at(deadline, answers.next()).await {
        // The server says so when nobody listens: nothing more will come.
        if answer.status.is_some() {
            break;
        }
        match String::from_utf8(answer.payload.to_vec()) {
            Ok(text) => texts.push(text),
            Err(_) => tracing::warn!(%subject, "a metrics answer was not text"),
        }
        if texts.len() == 1 {
            deadline = deadline.min(tokio::time::Instant::now() + STRAGGLERS);
        }
    }
    if texts.is_empty() {
        tracing::debug!(%subject, "no metrics answer in time");
    }
    texts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scrape_gets_every_replicas_text_and_nobody_answering_is_empty() {
        let server = pincer_test_support::NatsServer::start();
        let client = async_nats::connect(server.url()).await.expect("connects");
        let shutdown = CancellationToken::new();
        let answering = answer(
            client.clone(),
            "t.metrics.svc".to_owned(),
            Arc::new(|| "pincer_svc_up 1\n".to_owned()),
            shutdown.clone(),
        )
        .await
        .expect("subscribes");

        let second = answer(
            client.clone(),
            "t.metrics.svc".to_owned(),
            Arc::new(|| "pincer_svc_up 2\n".to_owned()),
            shutdown.clone(),
        )
        .await
        .expect("subscribes");

        let mut texts = gather(&client, "t.metrics.svc".to_owned(), Duration::from_secs(5)).await;
        texts.sort();
        assert_eq!(texts, ["pincer_svc_up 1\n", "pincer_svc_up 2\n"]);
        // Nobody listens: the server says so at once, long before the patience runs out.
        let asked = tokio::time::Instant::now();
        let silent = gather(
            &client,
            "t.metrics.other".to_owned(),
            Duration::from_secs(30),
        )
        .await;
        assert!(silent.is_empty());
        assert!(asked.elapsed() < Duration::from_secs(30));

        shutdown.cancel();
        answering.await.expect("stops");
        second.await.expect("stops");
    }
}
