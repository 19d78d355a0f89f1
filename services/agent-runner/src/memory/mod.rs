//! Each agent's memory index ([`pincer_memory`]) as the runner uses it: a search brings the
//! index in step with the files (cheap: files whose size and time did not change are not read)
//! and asks the llm-router for the question's embedding at the same time; a background task
//! ([`indexer`]) computes the chunks' embeddings, so a turn never waits for them. Chunks whose
//! vectors are not there yet still rank by their words.
//!
//! SQLite is synchronous: every access runs on a blocking thread, one at a time per agent.

pub mod indexer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pincer_memory::{Fusion, Hit, Index, Query, QueryVector};
use pincer_proto::llm::v1 as pb;
use tokio::sync::Notify;

use crate::router::RouterClient;

/// How long a search waits for the question's embedding before searching by words alone.
const QUERY_EMBED_TIMEOUT: Duration = Duration::from_secs(10);

/// Where embeddings come from: the llm-router and the configured `provider/model`.
#[derive(Clone, Debug)]
pub struct Embedder {
    router: RouterClient,
    model: String,
}

impl Embedder {
    /// Embeddings of `model` (`agents.defaults.memorySearch` as `provider/model`) through `router`.
    pub fn new(router: RouterClient, model: String) -> Self {
        Self { router, model }
    }

    /// The model, as vectors are stored under it.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// One vector per text, in order.
    pub async fn embed(
        &self,
        inputs: Vec<String>,
        timeout: Duration,
    ) -> Result<Vec<Vec<f32>>, String> {
        let count = inputs.len();
        let request = pb::EmbedRequest {
            model: self.model.clone(),
            inputs,
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        };
        let answer = self
            .router
            .embed(request, timeout)
            .await
            .map_err(|status| status.message().to_owned())?;
        if answer.embeddings.len() != count {
            return Err(format!(
                "{} embeddings for {count} texts",
                answer.embeddings.len()
            ));
        }
        Ok(answer.embeddings.into_iter().map(|e| e.values).collect())
    }
}

/// What a search found.
#[derive(Debug, Default)]
pub struct Found {
    /// Best first.
    pub hits: Vec<Hit>,
    /// Why meaning was not part of it, when a provider is configured but did not answer.
    pub words_only: Option<String>,
}

/// The memory index of one agent; cheap to clone.
#[derive(Clone, Debug)]
pub struct MemoryIndex {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    /// Opened on first use (a workspace that cannot hold it gets one in memory).
    index: Mutex<Option<Index>>,
    embedder: Option<Embedder>,
    wake: Notify,
}

impl MemoryIndex {
    /// The index of the workspace at `root`, with embeddings from `embedder` when configured.
    /// Nothing is opened or read until it is used.
    pub fn new(root: &Path, embedder: Option<Embedder>) -> Self {
        Self {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                index: Mutex::new(None),
                embedder,
                wake: Notify::new(),
            }),
        }
    }

    /// The embedder, when a provider is configured.
    pub fn embedder(&self) -> Option<&Embedder> {
        self.inner.embedder.as_ref()
    }

    /// Tells the background task that memory files changed (after `memory_write`).
    pub fn changed(&self) {
        self.inner.wake.notify_one();
    }

    /// Searches for `text`: by words and, when embeddings are configured and answer in time,
    /// by meaning.
    pub async fn search(&self, text: &str, limit: usize) -> Result<Found, String> {
        let embed = async {
            let embedder = self.inner.embedder.as_ref()?;
            let answer = embedder
                .embed(vec![text.to_owned()], QUERY_EMBED_TIMEOUT)
                .await;
            Some(
                answer
                    .and_then(|mut vectors| vectors.pop().ok_or_else(|| "no embedding".to_owned())),
            )
        };
        let sync = self.run(|index, root| index.sync(root));
        let (vector, synced) = tokio::join!(embed, sync);
        if synced?.changed() {
            self.changed();
        }
        let (vector, words_only) = match vector {
            Some(Ok(values)) => (Some(values), None),
            Some(Err(reason)) => {
                tracing::warn!(%reason, "memory search without meaning: no embedding of the question");
                (None, Some(reason))
            }
            None => (None, None),
        };
        let model = self
            .inner
            .embedder
            .as_ref()
            .map(|e| e.model.clone())
            .unwrap_or_default();
        let text = text.to_owned();
        let hits = self
            .run(move |index, _| {
                index.search(&Query {
                    text: &text,
                    vector: vector.as_deref().map(|values| QueryVector {
                        model: &model,
                        values,
                    }),
                    limit,
                    fusion: Fusion::default(),
                })
            })
            .await?;
        Ok(Found { hits, words_only })
    }

    /// Runs `work` on the index on a blocking thread, opening the index first if needed. A
    /// database found damaged is started over (and filled from the files) and `work` run again.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl Fn(&mut Index, &Path) -> Result<T, pincer_memory::Error> + Send + 'static,
    ) -> Result<T, String> {
        let inner = Arc::clone(&self.inner);
        let joined = tokio::task::spawn_blocking(move || {
            let mut slot = inner.index.lock().unwrap_or_else(PoisonError::into_inner);
            let index = match slot.take() {
                Some(index) => index,
                None => open(&inner.root)?,
            };
            let index = slot.insert(index);
            match work(index, &inner.root) {
                Err(error) if error.is_damaged() => {
                    tracing::warn!(%error, "memory index damaged while in use: rebuilding it");
                    let fresh = match slot.take() {
                        Some(index) => index.reset()?,
                        None => open(&inner.root)?,
                    };
                    let index = slot.insert(fresh);
                    index.sync(&inner.root)?;
                    work(index, &inner.root)
                }
                other => other,
            }
        })
        .await;
        match joined {
            Ok(result) => result.map_err(|error| error.to_string()),
            Err(join) => Err(format!("memory index task failed: {join}")),
        }
    }
}

/// The index in the workspace, or one in memory when the workspace cannot hold it (read-only,
/// a symlinked `.pincer`): search keeps working, rebuilt from the files after a restart.
fn open(root: &Path) -> Result<Index, pincer_memory::Error> {
    match Index::open(root) {
        Ok(index) => Ok(index),
        Err(error) => {
            tracing::warn!(root = %root.display(), %error, "memory index kept in memory only");
            Index::open_in_memory()
        }
    }
}
