//! Usage totals, written before the turn is answered and coalesced under load.
//!
//! Every answered turn's usage goes to one task per replica, which writes whatever has arrived
//! since its last write in one conditional update of the day's value, made from what it last wrote
//! (the day is read only when someone else wrote it since): one turn per write at low load, many
//! under load, where a write per turn made concurrent turns race for the same key, retry, and cost
//! the bus two messages a turn more. A turn waits for the write that carries it before it is
//! answered, so whoever sees the answer and asks for the day's usage sees it counted.

use std::collections::BTreeMap;
use std::time::Duration;

use async_nats::jetstream::kv;
use pincer_bus::messages::Usage;
use pincer_store::usage::{self, Day};
use tokio::sync::{mpsc, oneshot};

/// One answered turn's figures.
#[derive(Debug)]
struct Answered {
    date: String,
    model: String,
    usage: Usage,
    /// Dropped once the write carrying this turn is done (or failed): wakes [`Recorded`].
    written: oneshot::Sender<()>,
}

/// The sending side: cheap to call from a turn; what it returns tells when the turn is written.
#[derive(Clone, Debug)]
pub struct UsageRecorder {
    queue: mpsc::UnboundedSender<Answered>,
}

/// A turn's usage on its way to the store.
#[derive(Debug)]
pub struct Recorded(oneshot::Receiver<()>);

/// The writing task; [`UsageWriter::finish`] waits for what was recorded to be written.
pub struct UsageWriter(tokio::task::JoinHandle<()>);

impl UsageRecorder {
    /// Starts the task writing to `store`.
    pub fn start(store: kv::Store) -> (Self, UsageWriter) {
        let (queue, pending) = mpsc::unbounded_channel();
        let task = tokio::spawn(write_as_they_come(store, pending));
        (Self { queue }, UsageWriter(task))
    }

    /// Adds a turn of `model` answered at `unix_ms`.
    pub fn add(&self, unix_ms: u64, model: &str, usage: &Usage) -> Recorded {
        let (written, recorded) = oneshot::channel();
        let answered = Answered {
            date: pincer_clock::Date::of_unix_ms(unix_ms).to_string(),
            model: model.to_owned(),
            usage: *usage,
            written,
        };
        // A stopped writer drops the turn, and with it the sender: `Recorded` ends at once.
        if self.queue.send(answered).is_err() {
            tracing::warn!("usage not recorded: the writer has stopped");
        }
        Recorded(recorded)
    }
}

impl Recorded {
    /// Waits (at most `patience`: usage is best effort, the answer must not hang on it) until the
    /// write that carries this turn is done or has failed.
    pub async fn written(self, patience: Duration) {
        if tokio::time::timeout(patience, self.0).await.is_err() {
            tracing::warn!(?patience, "usage not written in time; answering anyway");
        }
    }
}

impl UsageWriter {
    /// Waits (at most `patience`) until every recorder is dropped and the rest is written.
    pub async fn finish(self, patience: Duration) {
        if tokio::time::timeout(patience, self.0).await.is_err() {
            tracing::warn!(?patience, "usage of the last turns not written in time");
        }
    }
}

/// Ends when every [`UsageRecorder`] is dropped and the queue is written.
async fn write_as_they_come(store: kv::Store, mut pending: mpsc::UnboundedReceiver<Answered>) {
    // This task's last write: the next one to the same day starts from it instead of reading the
    // day first (a bus request less per turn at low load; another writer in between costs a read).
    let mut last: Option<(String, usage::Written)> = None;
    while let Some(first) = pending.recv().await {
        let mut days: BTreeMap<String, Day> = BTreeMap::new();
        // Held until the writes below are done: dropping them wakes the turns they carry.
        let mut waiting = Vec::new();
        let mut next = Some(first);
        while let Some(answered) = next {
            days.entry(answered.date)
                .or_default()
                .entry(answered.model)
                .or_default()
                .add_turn(&answered.usage);
            waiting.push(answered.written);
            next = pending.try_recv().ok();
        }
        for (date, totals) in &days {
            let previous = last.take().filter(|(day, _)| day == date).map(|(_, w)| w);
            match usage::add_after(&store, date, totals, previous).await {
                Ok(written) => last = Some((date.clone(), written)),
                Err(error) => tracing::warn!(%error, "usage not recorded"),
            }
        }
        drop(waiting);
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use pincer_test_support::{NatsServer, eventually};

    use super::*;

    async fn usage_store() -> (NatsServer, kv::Store) {
        let nats = NatsServer::start();
        let client = async_nats::connect(nats.url()).await.expect("nats");
        let js = async_nats::jetstream::new(client);
        let store = pincer_bus::setup::usage_bucket(&js, &pincer_bus::Namespace::default())
            .await
            .expect("bucket");
        (nats, store)
    }

    /// The day the tests write, and its noon in unix ms.
    const DAY: &str = "2026-05-28";
    const NOON: u64 = 1_780_000_000_000;

    /// One turn of `model` added to [`DAY`] by a writer whose last write was `last`.
    async fn add_turn(
        store: &kv::Store,
        model: &str,
        last: Option<usage::Written>,
    ) -> usage::Written {
        let mut turn = Day::new();
        turn.entry(model.to_owned())
            .or_default()
            .add_turn(&Usage::default());
        usage::add_after(store, DAY, &turn, last)
            .await
            .expect("usage written")
    }

    #[tokio::test]
    async fn turns_that_arrive_together_are_written_once_and_all_counted() {
        let (_nats, store) = usage_store().await;
        let (recorder, writer) = UsageRecorder::start(store.clone());
        let turn = Usage {
            prompt_tokens: Some(10),
            completion_tokens: Some(2),
            cost_micro_usd: None,
        };
        // Recorded before the writer runs (this runtime has one thread): one write for all.
        for _ in 0..50 {
            recorder.add(NOON, "fake/m", &turn);
        }
        recorder.add(NOON, "fake/other", &turn);
        drop(recorder);
        writer.finish(Duration::from_secs(10)).await;

        let day = usage::last_days(&store, NOON, 1).await.expect("read");
        let totals = &day[0].1;
        assert_eq!(totals["fake/m"].turns, 50);
        assert_eq!(totals["fake/m"].prompt_tokens, 500);
        assert_eq!(totals["fake/other"].turns, 1);
        let writes = eventually("the day's history", Duration::from_secs(5), || async {
            let history = store.history(format!("day.{}", day[0].0)).await.ok()?;
            Some(history.count().await)
        })
        .await;
        assert_eq!(writes, 1, "51 turns in one write");
    }

    #[tokio::test]
    async fn a_turn_is_in_the_store_once_its_write_is_awaited() {
        let (_nats, store) = usage_store().await;
        let (recorder, _writer) = UsageRecorder::start(store.clone());
        // This runtime has one thread: the writer runs only while the turn waits for it.
        recorder
            .add(NOON, "fake/m", &Usage::default())
            .written(Duration::from_secs(10))
            .await;
        let day = usage::last_days(&store, NOON, 1).await.expect("read");
        assert_eq!(day[0].1.get("fake/m").map(|t| t.turns), Some(1));
    }

    #[tokio::test]
    async fn a_writer_adds_to_its_last_write_without_reading_the_day_again() {
        let (_nats, store) = usage_store().await;
        let first = add_turn(&store, "fake/m", None).await;
        // What the writer believes is stored, at the revision it wrote: a write that read the day
        // would not carry the model only the belief has.
        let mut believed = first.clone();
        believed
            .day
            .insert("only/believed".to_owned(), usage::Totals::default());
        let second = add_turn(&store, "fake/m", Some(believed)).await;
        assert_eq!(second.day["fake/m"].turns, 2);
        assert!(second.day.contains_key("only/believed"));
        assert!(second.revision > first.revision);
    }

    #[tokio::test]
    async fn a_write_by_someone_else_in_between_is_read_and_kept() {
        let (_nats, store) = usage_store().await;
        let mine = add_turn(&store, "fake/m", None).await;
        // Another replica's write, from a read of the day.
        add_turn(&store, "fake/other", None).await;
        let after = add_turn(&store, "fake/m", Some(mine)).await;
        assert_eq!(after.day["fake/m"].turns, 2);
        assert_eq!(after.day["fake/other"].turns, 1, "the other write is kept");
        let stored = usage::last_days(&store, NOON, 1).await.expect("read");
        assert_eq!(stored[0].1, after.day);
    }
}
