//! One NATS subscription for the run events of every turn this gateway waits for.
//!
//! The gateway picks an instance id at startup, asks runners to publish a turn's events on
//! `{prefix}.run.{instance}.{turn}` (the turn's `reply_subject`), and listens on
//! `{prefix}.run.{instance}.*` once ([`pincer_bus::demux`]) instead of subscribing per turn.
//! Another gateway instance has its own id, so no gateway receives the others' events.

use pincer_bus::Namespace;
use pincer_bus::demux::{Demux, Registration};

/// The gateway's run-event listener.
#[derive(Clone, Debug)]
pub struct RunEvents {
    namespace: Namespace,
    instance: String,
    demux: Demux,
}

impl RunEvents {
    /// Subscribes to this instance's run events.
    pub async fn start(
        client: &async_nats::Client,
        namespace: Namespace,
    ) -> Result<Self, async_nats::SubscribeError> {
        let instance = uuid::Uuid::new_v4().simple().to_string();
        let demux = Demux::subscribe(client, namespace.run_events_any_of(&instance)).await?;
        Ok(Self {
            namespace,
            instance,
            demux,
        })
    }

    /// Where runners publish the events of `turn_id` for this gateway.
    pub fn reply_subject(&self, turn_id: &str) -> String {
        self.namespace.run_events_of(&self.instance, turn_id)
    }

    /// Starts collecting the events published on `subject`. Register before the turn is published,
    /// so that no event can come first.
    pub fn register(&self, subject: &str) -> Registration {
        self.demux.register(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use pincer_test_support::NatsServer;
    use std::time::Duration;

    #[tokio::test]
    async fn two_gateways_waiting_for_the_same_turn_id_each_get_only_their_own_events() {
        let nats = NatsServer::start();
        let client = async_nats::connect(nats.url()).await.expect("nats");
        let one = RunEvents::start(&client, Namespace::default())
            .await
            .expect("subscribed");
        let other = RunEvents::start(&client, Namespace::default())
            .await
            .expect("subscribed");
        let (mine, theirs) = (one.reply_subject("turn-a"), other.reply_subject("turn-a"));
        assert_ne!(mine, theirs);
        let mut waiting_here = one.register(&mine);
        let mut waiting_there = other.register(&theirs);
        for (subject, body) in [(&theirs, "theirs"), (&mine, "mine")] {
            client
                .publish(subject.clone(), Bytes::from(body))
                .await
                .expect("publish");
        }
        client.flush().await.expect("flush");
        let within = Duration::from_secs(5);
        let here = tokio::time::timeout(within, waiting_here.next()).await;
        let there = tokio::time::timeout(within, waiting_there.next()).await;
        assert_eq!(here.expect("an event").as_deref(), Some(&b"mine"[..]));
        assert_eq!(there.expect("an event").as_deref(), Some(&b"theirs"[..]));
    }
}
