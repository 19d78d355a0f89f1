//! One core-NATS subscription on a wildcard, each message handed to whoever registered its exact
//! subject.
//!
//! A subscription per turn cost a SUB and an UNSUB on every turn, and each of them changes the
//! server's subject table (its match cache is dropped with it). A service that follows many
//! short-lived subjects (the gateway its turns' events, a runner its turns' aborts) subscribes once
//! and registers subjects here instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

/// Waiters by subject. Several can wait for one subject (a client retrying a turn with the same
/// idempotency key while its first request still waits, a turn delivered again to the runner that
/// runs it); each gets every message.
type Waiting = HashMap<String, Vec<(u64, mpsc::UnboundedSender<Bytes>)>>;

/// The registered subjects of one wildcard subscription.
#[derive(Clone, Debug)]
pub struct Demux {
    waiting: Arc<Mutex<Waiting>>,
    next_waiter: Arc<AtomicU64>,
}

/// The messages of one subject, for as long as this lives.
#[derive(Debug)]
pub struct Registration {
    messages: mpsc::UnboundedReceiver<Bytes>,
    subject: String,
    id: u64,
    waiting: Arc<Mutex<Waiting>>,
}

impl Demux {
    /// Subscribes to `wildcard` and starts handing out its messages. Messages of a subject nobody
    /// registered are dropped. The task ends when the client's connection is closed for good.
    pub async fn subscribe(
        client: &async_nats::Client,
        wildcard: String,
    ) -> Result<Self, async_nats::SubscribeError> {
        let mut subscription = client.subscribe(wildcard).await?;
        let waiting: Arc<Mutex<Waiting>> = Arc::default();
        let handed = Arc::clone(&waiting);
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let waiting = lock(&handed);
                for (_, waiter) in waiting.get(message.subject.as_str()).into_iter().flatten() {
                    let _ = waiter.send(message.payload.clone());
                }
            }
        });
        Ok(Self {
            waiting,
            next_waiter: Arc::default(),
        })
    }

    /// Starts collecting the messages published on `subject` (one the wildcard matches). Register
    /// before whatever makes them is set off, so that none can come first.
    pub fn register(&self, subject: &str) -> Registration {
        let (sender, messages) = mpsc::unbounded_channel();
        let id = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        lock(&self.waiting)
            .entry(subject.to_owned())
            .or_default()
            .push((id, sender));
        Registration {
            messages,
            subject: subject.to_owned(),
            id,
            waiting: Arc::clone(&self.waiting),
        }
    }

    /// How many subjects have waiters (a dropped registration leaves nothing behind).
    pub fn waiting_subjects(&self) -> usize {
        lock(&self.waiting).len()
    }
}

impl Registration {
    /// The next message's payload; `None` once the subscription has ended.
    pub async fn next(&mut self) -> Option<Bytes> {
        self.messages.recv().await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut waiting = lock(&self.waiting);
        if let Some(waiters) = waiting.get_mut(&self.subject) {
            waiters.retain(|(id, _)| *id != self.id);
            if waiters.is_empty() {
                waiting.remove(&self.subject);
            }
        }
    }
}

fn lock(waiting: &Mutex<Waiting>) -> MutexGuard<'_, Waiting> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pincer_test_support::NatsServer;
    use std::time::Duration;

    async fn next(registration: &mut Registration) -> Option<Bytes> {
        tokio::time::timeout(Duration::from_secs(5), registration.next())
            .await
            .expect("a message within 5 s")
    }

    #[tokio::test]
    async fn each_waiter_gets_the_messages_of_its_own_subject_and_nothing_is_left_behind() {
        let nats = NatsServer::start();
        let client = async_nats::connect(nats.url()).await.expect("nats");
        let demux = Demux::subscribe(&client, "t.run.g1.*".to_owned())
            .await
            .expect("subscribed");
        let mut first_a = demux.register("t.run.g1.a");
        let mut second_a = demux.register("t.run.g1.a");
        let mut only_b = demux.register("t.run.g1.b");
        // Outside the wildcard (another listener's subject for the same id): never delivered.
        for (subject, body) in [
            ("t.run.g2.a", "x"),
            ("t.run.g1.a", "1"),
            ("t.run.g1.b", "2"),
            ("t.run.g1.a", "3"),
        ] {
            client
                .publish(subject, Bytes::from(body.to_owned()))
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
        for waiter in [&mut first_a, &mut second_a] {
            assert_eq!(next(waiter).await.as_deref(), Some(&b"1"[..]));
            assert_eq!(next(waiter).await.as_deref(), Some(&b"3"[..]));
        }
        assert_eq!(next(&mut only_b).await.as_deref(), Some(&b"2"[..]));
        assert_eq!(demux.waiting_subjects(), 2);
        drop(first_a);
        assert_eq!(demux.waiting_subjects(), 2, "the second still waits for a");
        drop((second_a, only_b));
        assert_eq!(demux.waiting_subjects(), 0);
    }
}
