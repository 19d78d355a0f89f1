//! Aborts of running turns (`chat.abort`), heard on one subscription per runner.
//!
//! Aborts are rare: every runner hears all of them on `<prefix>.abort.*` ([`pincer_bus::demux`],
//! instead of a SUB and an UNSUB per turn) and wakes the turn it runs, if it runs it.

use pincer_bus::Namespace;
use pincer_bus::demux::{Demux, Registration};

/// The turns of this runner that an abort would stop, by abort subject.
#[derive(Clone, Debug)]
pub struct Aborts {
    demux: Demux,
}

/// One running turn's watch; stops watching when dropped.
pub struct Watch {
    aborts: Registration,
}

impl Aborts {
    /// Subscribes to every turn's abort subject.
    pub async fn listen(
        client: &async_nats::Client,
        namespace: &Namespace,
    ) -> Result<Self, async_nats::SubscribeError> {
        let demux = Demux::subscribe(client, namespace.run_abort_any()).await?;
        Ok(Self { demux })
    }

    /// Watches `subject` (`Namespace::run_abort` of the turn) until the watch is dropped.
    pub fn watch(&self, subject: &str) -> Watch {
        Watch {
            aborts: self.demux.register(subject),
        }
    }
}

impl Watch {
    /// Resolves when an abort for the turn arrives (also one that arrived before this call). Never
    /// resolves once the subscription has ended: the turn then runs to its end.
    pub async fn aborted(&mut self) {
        if self.aborts.next().await.is_none() {
            std::future::pending::<()>().await;
        }
    }
}
