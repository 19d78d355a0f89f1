//! Aborts of running turns (`chat.abort`), heard on one subscription per runner.
//!
//! A subscription per turn cost the bus a SUB and an UNSUB on every turn, and the server a change
//! of its subject table each time. Aborts are rare: every runner hears all of them on
//! `<prefix>.abort.*` and wakes the turn it runs, if it runs it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::StreamExt;
use pincer_bus::Namespace;
use tokio::sync::Notify;

type Waiting = Arc<Mutex<HashMap<String, Arc<Notify>>>>;

/// The turns of this runner that an abort would stop, by abort subject.
#[derive(Clone, Debug, Default)]
pub struct Aborts {
    waiting: Waiting,
}

/// One running turn's watch; stops watching when dropped.
pub struct Watch {
    subject: String,
    notify: Arc<Notify>,
    waiting: Waiting,
}

impl Aborts {
    /// Subscribes to every turn's abort subject and starts waking the watched ones.
    pub async fn listen(
        client: &async_nats::Client,
        namespace: &Namespace,
    ) -> Result<Self, async_nats::SubscribeError> {
        let mut heard = client.subscribe(namespace.run_abort_any()).await?;
        let aborts = Self::default();
        let waiting = Arc::clone(&aborts.waiting);
        tokio::spawn(async move {
            while let Some(message) = heard.next().await {
                let notify = lock(&waiting).get(message.subject.as_str()).cloned();
                if let Some(notify) = notify {
                    notify.notify_one();
                }
            }
        });
        Ok(aborts)
    }

    /// Watches `subject` (`Namespace::run_abort` of the turn) until the watch is dropped.
    pub fn watch(&self, subject: String) -> Watch {
        let notify = Arc::new(Notify::new());
        lock(&self.waiting).insert(subject.clone(), Arc::clone(&notify));
        Watch {
            subject,
            notify,
            waiting: Arc::clone(&self.waiting),
        }
    }
}

impl Watch {
    /// Resolves when an abort for the turn arrives (also one that arrived before this call).
    pub async fn aborted(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        lock(&self.waiting).remove(&self.subject);
    }
}

fn lock(waiting: &Waiting) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Notify>>> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}
