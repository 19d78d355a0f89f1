//! The background task of one agent's memory index: at start and whenever woken (a
//! `memory_write`, or a search that found changed files), it brings the index in step with the
//! files and embeds every chunk that has no vector of the configured model yet, a batch at a
//! time, newest first. A provider that fails is retried with backoff; searches meanwhile rank
//! the chunks without vectors by their words.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Embedder, MemoryIndex};

/// Chunks embedded per router call.
const BATCH: usize = 32;
/// Patience for one batch (a cold local model loads first).
const BATCH_TIMEOUT: Duration = Duration::from_secs(120);
/// First and longest wait after a failed batch.
const BACKOFF: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(300));

/// Runs until `shutdown`.
pub async fn run(index: MemoryIndex, shutdown: CancellationToken) {
    let mut backoff = BACKOFF.0;
    loop {
        if let Err(error) = index.run(|index, root| index.sync(root)).await {
            tracing::warn!(%error, "memory index not updated");
        }
        if let Some(embedder) = index.embedder().cloned() {
            match embed_missing(&index, &embedder, &shutdown).await {
                Ok(()) => backoff = BACKOFF.0,
                Err(error) => {
                    tracing::warn!(%error, retry_in_s = backoff.as_secs(), model = embedder.model(), "memory embeddings failed");
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        () = shutdown.cancelled() => return,
                    }
                    backoff = (backoff * 2).min(BACKOFF.1);
                    continue;
                }
            }
        }
        tokio::select! {
            () = index.inner.wake.notified() => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Embeds chunks until none is missing a vector (or `shutdown`).
async fn embed_missing(
    index: &MemoryIndex,
    embedder: &Embedder,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let mut embedded = 0;
    while !shutdown.is_cancelled() {
        let model = embedder.model().to_owned();
        let pending = index
            .run(move |index, _| index.missing_vectors(&model, BATCH))
            .await?;
        if pending.is_empty() {
            break;
        }
        let texts = pending.iter().map(|p| p.text.clone()).collect();
        let vectors = embedder.embed(texts, BATCH_TIMEOUT).await?;
        let pairs: Vec<(String, Vec<f32>)> =
            pending.into_iter().map(|p| p.hash).zip(vectors).collect();
        let model = embedder.model().to_owned();
        let stored = index
            .run(move |index, _| index.store_vectors(&model, &pairs))
            .await?;
        embedded += stored;
        if stored == 0 {
            // Every chunk of the batch vanished meanwhile; the next sync settles it.
            break;
        }
    }
    if embedded > 0 {
        tracing::info!(embedded, model = embedder.model(), "memory chunks embedded");
    }
    Ok(())
}
