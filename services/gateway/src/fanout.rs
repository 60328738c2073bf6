//! Fan-out of events to any number of stream subscribers, each with its own bounded buffer.
//!
//! Publishing never waits: an event goes into each matching subscriber's buffer with
//! `try_send`; a subscriber whose buffer is full is dropped on the spot and its stream ends
//! with RESOURCE_EXHAUSTED after the events it already has. So a slow reader loses its
//! subscription (and must resubscribe and re-snapshot) but never slows anyone else.
//!
//! The fan-out is not locked itself: the owner (market hub, account hub) holds it under the
//! same lock as its state, so a new subscriber's snapshot and its first live event cannot
//! miss or repeat anything.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt as _};
use tonic::Status;

type Filter<T> = Box<dyn Fn(&T) -> bool + Send + Sync>;

struct Subscriber<T> {
    tx: mpsc::Sender<T>,
    filter: Filter<T>,
    /// Why the subscription was ended by the server, told after the buffered events.
    end: Arc<OnceLock<Status>>,
}

/// The subscribers of one event kind.
pub struct Fanout<T> {
    subscribers: Vec<Subscriber<T>>,
    buffer: usize,
}

impl<T> std::fmt::Debug for Fanout<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("subscribers", &self.subscribers.len())
            .field("buffer", &self.buffer)
            .finish()
    }
}

/// A subscriber's end: the buffered events, then RESOURCE_EXHAUSTED if it was dropped as slow.
pub type Subscription<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

impl<T: Clone + Send + 'static> Fanout<T> {
    /// `buffer` live events may wait per subscriber (on top of its initial snapshot).
    pub fn new(buffer: usize) -> Self {
        Self {
            subscribers: Vec::new(),
            buffer: buffer.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.subscribers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subscribers.is_empty()
    }

    /// Registers a subscriber that first receives `initial`, then every published event that
    /// passes `filter`.
    pub fn subscribe(
        &mut self,
        initial: Vec<T>,
        filter: impl Fn(&T) -> bool + Send + Sync + 'static,
    ) -> Subscription<T> {
        let (tx, rx) = mpsc::channel(initial.len() + self.buffer);
        for event in initial {
            // capacity covers the snapshot, so this cannot fail
            let _ = tx.try_send(event);
        }
        let end = Arc::new(OnceLock::new());
        self.subscribers.push(Subscriber {
            tx,
            filter: Box::new(filter),
            end: end.clone(),
        });
        let tail = tokio_stream::once(()).filter_map(move |()| end.get().cloned().map(Err));
        Box::pin(ReceiverStream::new(rx).map(Ok).chain(tail))
    }

    /// Delivers `event` to every matching subscriber without waiting; drops the full and the
    /// gone ones. Returns how many were dropped as slow.
    pub fn publish(&mut self, event: &T) -> usize {
        let mut slow = 0;
        self.subscribers.retain(|sub| {
            if !(sub.filter)(event) {
                return !sub.tx.is_closed();
            }
            match sub.tx.try_send(event.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    let _ = sub.end.set(Status::resource_exhausted(
                        "subscriber too slow: its buffer filled up and it was dropped; resubscribe",
                    ));
                    slow += 1;
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        if slow > 0 {
            tracing::warn!(dropped = slow, "dropped slow stream subscribers");
        }
        slow
    }
}

impl<T> Fanout<T> {
    /// Ends every subscription with `status` after the events already buffered (shutdown).
    pub fn close(&mut self, status: &Status) {
        for sub in self.subscribers.drain(..) {
            let _ = sub.end.set(status.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn snapshot_first_then_filtered_live_events() {
        let mut fanout = Fanout::new(4);
        let mut sub = fanout.subscribe(vec![1, 2], |n: &i32| n % 2 == 0);
        fanout.publish(&3);
        fanout.publish(&4);
        drop(fanout);
        let got: Vec<i32> = (&mut sub).map(|r| r.unwrap()).collect().await;
        assert_eq!(got, [1, 2, 4]);
    }

    #[tokio::test]
    async fn slow_subscriber_is_dropped_and_told_while_fast_one_keeps_everything() {
        let mut fanout = Fanout::new(2);
        let slow = fanout.subscribe(Vec::new(), |_: &u32| true);
        let mut fast = fanout.subscribe(Vec::new(), |_: &u32| true);
        let mut received = Vec::new();
        for n in 0..10 {
            fanout.publish(&n);
            // the fast reader keeps up
            received.push(fast.next().await.unwrap().unwrap());
        }
        assert_eq!(received, (0..10).collect::<Vec<_>>());
        assert_eq!(fanout.len(), 1, "slow one removed");
        let items: Vec<Result<u32, Status>> = slow.collect().await;
        assert_eq!(items.len(), 3, "two buffered events, then the status");
        assert_eq!(items[0].as_ref().unwrap(), &0);
        let status = items[2].as_ref().unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    }

    #[tokio::test]
    async fn close_ends_every_stream_with_the_status() {
        let mut fanout = Fanout::new(2);
        let sub = fanout.subscribe(vec![7u8], |_: &u8| true);
        fanout.close(&Status::unavailable("shutting down"));
        let items: Vec<Result<u8, Status>> = sub.collect().await;
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[1].as_ref().unwrap_err().code(),
            tonic::Code::Unavailable
        );
    }

    #[tokio::test]
    async fn gone_subscribers_are_forgotten() {
        let mut fanout = Fanout::new(2);
        let sub = fanout.subscribe(Vec::new(), |_: &u8| true);
        drop(sub);
        assert_eq!(fanout.publish(&1), 0);
        assert_eq!(fanout.len(), 0);
    }
}
