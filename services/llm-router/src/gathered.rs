//! A response stream that lets the events already on their way join the one that woke it, so they
//! leave in one HTTP/2 frame instead of a frame (and a socket write) each.
//!
//! Why: a provider's answer often arrives in one read holding many chunks, but hyper hands the
//! relay one chunk per turn of the scheduler, so each event woke the response alone and tonic
//! wrote it out before the next was relayed: 18 writes a turn for a 16-word answer, 3 with this.
//! Tonic puts every message that is ready when it polls into one frame; this holds a burst back
//! while turns of the scheduler keep bringing more of it. A model that streams token by token over
//! the network still gets each token out a few turns of the scheduler after it arrived.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

/// Most items held back at once: what a producer that never pauses sends is handed on in groups
/// of this many, which tonic writes out by its own size threshold.
const MOST: usize = 64;

/// Turns of the scheduler in a row that may bring nothing before the burst is taken as complete:
/// the relay needs hyper's connection task to run before each chunk, so one idle turn is not the
/// end of a burst.
const IDLE_TURNS: u8 = 2;

/// Wraps `inner`: a burst is held back while turns of the scheduler bring more of it.
pub struct Gathered<S: Stream> {
    inner: S,
    /// The burst gathered so far.
    held: VecDeque<S::Item>,
    state: State,
    /// Turns in a row that brought nothing.
    idle_turns: u8,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for `inner`, holding the start of a burst if one has begun.
    Gathering,
    /// Handing the burst out, then whatever `inner` has ready, until it has nothing.
    Draining,
    /// `inner` has ended: hand out what is held, then end.
    Finished,
}

impl<S: Stream> Gathered<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            held: VecDeque::new(),
            state: State::Gathering,
            idle_turns: 0,
        }
    }
}

impl<S: Stream + Unpin> Stream for Gathered<S>
where
    S::Item: Unpin,
{
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.get_mut();
        match this.state {
            State::Finished => return Poll::Ready(this.held.pop_front()),
            State::Draining => {
                if let Some(item) = this.held.pop_front() {
                    return Poll::Ready(Some(item));
                }
                // Once something went out, a `Pending` makes tonic write the frame: only stop
                // when `inner` has nothing ready.
                return match Pin::new(&mut this.inner).poll_next(cx) {
                    Poll::Pending => {
                        this.state = State::Gathering;
                        Poll::Pending
                    }
                    Poll::Ready(None) => {
                        this.state = State::Finished;
                        Poll::Ready(None)
                    }
                    ready => ready,
                };
            }
            State::Gathering => {}
        }
        let mut arrived = false;
        while this.held.len() < MOST {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    this.held.push_back(item);
                    arrived = true;
                }
                Poll::Ready(None) => {
                    this.state = State::Finished;
                    return Poll::Ready(this.held.pop_front());
                }
                Poll::Pending => break,
            }
        }
        if this.held.is_empty() {
            // `inner` has our waker.
            return Poll::Pending;
        }
        this.idle_turns = if arrived { 0 } else { this.idle_turns + 1 };
        if this.held.len() < MOST && this.idle_turns < IDLE_TURNS {
            // More may be on its way: give the producer another turn of the scheduler.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        this.state = State::Draining;
        Poll::Ready(this.held.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use tokio::sync::mpsc;
    use tokio_stream::wrappers::ReceiverStream;

    /// How many items each poll that returned `Ready` in a row saw, between `Pending`s.
    async fn bursts(stream: impl Stream<Item = u32> + Unpin) -> Vec<Vec<u32>> {
        let mut stream = stream;
        let mut bursts = Vec::new();
        let mut current = Vec::new();
        loop {
            match futures::poll!(stream.next()) {
                Poll::Ready(Some(item)) => current.push(item),
                Poll::Ready(None) => break,
                Poll::Pending => {
                    if !current.is_empty() {
                        bursts.push(std::mem::take(&mut current));
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
        if !current.is_empty() {
            bursts.push(current);
        }
        bursts
    }

    /// A producer that hands over one item per turn of the scheduler, as the relay does with
    /// hyper's chunks.
    fn trickle(items: u32) -> ReceiverStream<u32> {
        let (sender, receiver) = mpsc::channel(64);
        tokio::spawn(async move {
            for item in 0..items {
                if sender.send(item).await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
        });
        ReceiverStream::new(receiver)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn items_that_arrive_together_leave_together() {
        let bare = bursts(trickle(8)).await;
        assert_eq!(
            bare.len(),
            8,
            "one item per burst without gathering: {bare:?}"
        );
        let gathered = bursts(Gathered::new(trickle(8))).await;
        assert_eq!(gathered, vec![(0..8).collect::<Vec<_>>()]);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_producer_that_never_pauses_is_passed_on_in_order() {
        let busy = futures::stream::iter(0..200);
        let gathered = bursts(Gathered::new(busy)).await;
        assert_eq!(gathered.concat(), (0..200).collect::<Vec<_>>());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_end_of_the_stream_is_passed_on() {
        let (sender, receiver) = mpsc::channel::<u32>(1);
        drop(sender);
        let mut gathered = Gathered::new(ReceiverStream::new(receiver));
        assert_eq!(gathered.next().await, None);
    }
}
