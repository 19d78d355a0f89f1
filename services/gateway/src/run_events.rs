//! One NATS subscription for the run events of every turn this gateway waits for.
//!
//! A subscription per turn cost a SUB and an UNSUB on every turn, and each of them changes the
//! server's subject table (its match cache is dropped with it). Instead the gateway picks an
//! instance id at startup, asks runners to publish a turn's events on
//! `{prefix}.run.{instance}.{turn}` (the turn's `reply_subject`), listens on
//! `{prefix}.run.{instance}.*` once, and hands each message to whoever registered that subject.
//! Another gateway instance has its own id, so no gateway receives the others' events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::StreamExt;
use pincer_bus::Namespace;
use tokio::sync::mpsc;

/// Waiters by reply subject. Several can wait for one subject: a client retrying with the same
/// idempotency key while its first request still waits gets the same turn id.
type Waiting = HashMap<String, Vec<(u64, mpsc::UnboundedSender<Bytes>)>>;

/// The gateway's run-event listener.
#[derive(Clone, Debug)]
pub struct RunEvents {
    namespace: Namespace,
    instance: String,
    waiting: Arc<Mutex<Waiting>>,
    next_waiter: Arc<AtomicU64>,
}

/// The events of one reply subject, for as long as this lives.
#[derive(Debug)]
pub struct Registration {
    events: mpsc::UnboundedReceiver<Bytes>,
    subject: String,
    id: u64,
    waiting: Arc<Mutex<Waiting>>,
}

impl RunEvents {
    /// Subscribes to this instance's run events and starts handing them out. The task ends when
    /// the client's connection is closed for good.
    pub async fn start(
        client: &async_nats::Client,
        namespace: Namespace,
    ) -> Result<Self, async_nats::SubscribeError> {
        let instance = uuid::Uuid::new_v4().simple().to_string();
        let mut subscription = client
            .subscribe(namespace.run_events_any_of(&instance))
            .await?;
        let waiting: Arc<Mutex<Waiting>> = Arc::default();
        let handed = Arc::clone(&waiting);
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let waiting = handed.lock().unwrap_or_else(PoisonError::into_inner);
                // Events of a turn nobody waits for any more (its client left) are dropped.
                for (_, waiter) in waiting.get(message.subject.as_str()).into_iter().flatten() {
                    let _ = waiter.send(message.payload.clone());
                }
            }
        });
        Ok(Self {
            namespace,
            instance,
            waiting,
            next_waiter: Arc::default(),
        })
    }

    /// Where runners publish the events of `turn_id` for this gateway.
    pub fn reply_subject(&self, turn_id: &str) -> String {
        self.namespace.run_events_of(&self.instance, turn_id)
    }

    /// Starts collecting the events published on `subject`. Register before the turn is published,
    /// so that no event can come first.
    pub fn register(&self, subject: &str) -> Registration {
        let (sender, events) = mpsc::unbounded_channel();
        let id = self.next_waiter.fetch_add(1, Ordering::Relaxed);
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(subject.to_owned())
            .or_default()
            .push((id, sender));
        Registration {
            events,
            subject: subject.to_owned(),
            id,
            waiting: Arc::clone(&self.waiting),
        }
    }

    /// How many subjects have waiters (for tests: a dropped registration leaves nothing behind).
    #[cfg(test)]
    pub fn waiting_subjects(&self) -> usize {
        self.waiting
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Registration {
    /// The next event's payload; `None` once the listener has stopped.
    pub async fn next(&mut self) -> Option<Bytes> {
        self.events.recv().await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(waiters) = waiting.get_mut(&self.subject) {
            waiters.retain(|(id, _)| *id != self.id);
            if waiters.is_empty() {
                waiting.remove(&self.subject);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pincer_test_support::NatsServer;
    use std::time::Duration;

    async fn next(registration: &mut Registration) -> Option<Bytes> {
        tokio::time::timeout(Duration::from_secs(5), registration.next())
            .await
            .expect("an event within 5 s")
    }

    #[tokio::test]
    async fn each_waiter_gets_the_events_of_its_own_turn_and_nothing_is_left_behind() {
        let nats = NatsServer::start();
        let client = async_nats::connect(nats.url()).await.expect("nats");
        let events = RunEvents::start(&client, Namespace::default())
            .await
            .expect("subscribed");
        let a = events.reply_subject("turn-a");
        let b = events.reply_subject("turn-b");
        assert_ne!(a, b);
        let mut first_a = events.register(&a);
        let mut retry_a = events.register(&a);
        let mut only_b = events.register(&b);
        // Another gateway instance's turn with the same id: not ours.
        let elsewhere = Namespace::default().run_events_of("other", "turn-a");
        for (subject, body) in [(&elsewhere, "x"), (&a, "1"), (&b, "2"), (&a, "3")] {
            client
                .publish(subject.clone(), Bytes::from(body.to_owned()))
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
        for waiter in [&mut first_a, &mut retry_a] {
            assert_eq!(next(waiter).await.as_deref(), Some(&b"1"[..]));
            assert_eq!(next(waiter).await.as_deref(), Some(&b"3"[..]));
        }
        assert_eq!(next(&mut only_b).await.as_deref(), Some(&b"2"[..]));
        assert_eq!(events.waiting_subjects(), 2);
        drop(first_a);
        assert_eq!(
            events.waiting_subjects(),
            2,
            "the retry still waits for turn-a"
        );
        drop((retry_a, only_b));
        assert_eq!(events.waiting_subjects(), 0);
    }
}
