//! Group commit: events received by concurrent requests are committed together, one
//! transaction per batch, and each request is answered only once its event is committed.
//!
//! The contract, for every store behind `dk lineage serve` ([`Commit`] is all a store provides):
//!
//! - **A batch is whatever has arrived** while the previous batch was being committed, up to
//!   [`MAX_BATCH`] items: one waiting request is committed at once (no timer delays it), many
//!   share one transaction. The cost of a commit is spread over the requests that wait on it.
//! - **Acknowledged means committed.** [`GroupCommit::submit`] returns `Ok` only after
//!   [`Commit::commit`] returned `Ok` for the batch holding the item, so an event answered 201
//!   is in the store (and `dk lineage` and the API read it).
//! - **All or nothing.** `Commit::commit` commits every item of a batch in one transaction or
//!   none of them; when it fails, every request of that batch gets the error (500), none an
//!   acknowledgement. A client resends, and the store's idempotent ingest (the event key) makes a
//!   resend of an event that did land harmless.
//! - **One committer.** Batches are committed one at a time, in order, on a thread of their own
//!   (a store's writes are blocking); the queue holds at most [`QUEUE`] items, so a burst waits
//!   in the requests (backpressure) rather than in memory.
//! - **Stopping.** When every [`GroupCommit`] handle is dropped, the committer commits what is
//!   queued and its thread ends.

use tokio::sync::{mpsc, oneshot};

use crate::event::Received;
use crate::store::LineageStore;

/// The most items one transaction commits.
pub const MAX_BATCH: usize = 1024;
/// The most items waiting for the committer.
pub const QUEUE: usize = 4 * MAX_BATCH;

/// What a store does for group commit: commit a batch in one transaction, all or nothing.
pub trait Commit: Send + 'static {
    type Item: Send + 'static;
    /// Commits every item of `batch`, or none of them (and says why).
    fn commit(&mut self, batch: &[Self::Item]) -> Result<(), String>;
}

/// A received event and its JSON as sent.
pub type ReceivedEvent = (Received, String);

impl Commit for LineageStore {
    type Item = ReceivedEvent;

    fn commit(&mut self, batch: &[ReceivedEvent]) -> Result<(), String> {
        self.ingest_received(batch.iter().map(|(event, json)| (event, json.as_str())))
            .map(drop)
            .map_err(|err| err.to_string())
    }
}

/// Why an item was not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCommitted {
    /// The batch holding it failed to commit: nothing of that batch is stored.
    #[error("{0}")]
    Failed(String),
    /// The committer has stopped (the server is shutting down).
    #[error("the server is stopping")]
    Stopping,
}

struct Pending<T> {
    item: T,
    done: oneshot::Sender<Result<(), NotCommitted>>,
}

/// A handle that submits items to the committer; clones share it.
pub struct GroupCommit<T> {
    queue: mpsc::Sender<Pending<T>>,
}

impl<T> std::fmt::Debug for GroupCommit<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("queued", &(QUEUE - self.queue.capacity()))
            .finish()
    }
}

impl<T> Clone for GroupCommit<T> {
    fn clone(&self) -> Self {
        GroupCommit {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Send + 'static> GroupCommit<T> {
    /// Starts the committer on its own thread; it ends once every handle is dropped and the
    /// queue is committed.
    pub fn start<C: Commit<Item = T>>(
        committer: C,
    ) -> (GroupCommit<T>, std::thread::JoinHandle<()>) {
        let (queue, received) = mpsc::channel(QUEUE);
        let thread = std::thread::spawn(move || commit_loop(committer, received));
        (GroupCommit { queue }, thread)
    }

    /// Waits until `item` is committed (`Ok`), or its batch failed, or the committer stopped.
    pub async fn submit(&self, item: T) -> Result<(), NotCommitted> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Pending { item, done })
            .await
            .map_err(|_| NotCommitted::Stopping)?;
        committed.await.unwrap_or(Err(NotCommitted::Stopping))
    }
}

fn commit_loop<C: Commit>(mut committer: C, mut queue: mpsc::Receiver<Pending<C::Item>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (items, waiting): (Vec<C::Item>, Vec<_>) = batch
            .drain(..)
            .map(|pending| (pending.item, pending.done))
            .unzip();
        let result = committer.commit(&items).map_err(NotCommitted::Failed);
        for done in waiting {
            let _ = done.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, mpsc as std_mpsc};

    use super::*;

    /// Commits into a list once `gate` opens for the batch (saying on `entered` that it waits),
    /// failing batches that hold a 0.
    struct Recorder {
        committed: Arc<Mutex<Vec<Vec<u32>>>>,
        entered: std_mpsc::Sender<()>,
        gate: std_mpsc::Receiver<()>,
    }

    impl Commit for Recorder {
        type Item = u32;
        fn commit(&mut self, batch: &[u32]) -> Result<(), String> {
            let _ = self.entered.send(());
            self.gate.recv().unwrap();
            if batch.contains(&0) {
                return Err("disk full".into());
            }
            self.committed.lock().unwrap().push(batch.to_vec());
            Ok(())
        }
    }

    /// Lets the spawned tasks (and the committer thread) run until `done`, a bounded number of
    /// times.
    async fn until(mut done: impl FnMut() -> bool) {
        for _ in 0..100_000 {
            if done() {
                return;
            }
            tokio::task::yield_now().await;
            std::thread::yield_now();
        }
        panic!("never happened");
    }

    #[test]
    fn a_failed_commit_fails_every_request_of_its_batch_and_only_committed_items_are_acknowledged()
    {
        let committed = Arc::default();
        let (open, gate) = std_mpsc::channel();
        let (entered, waiting) = std_mpsc::channel();
        let (group, thread) = GroupCommit::start(Recorder {
            committed: Arc::clone(&committed),
            entered,
            gate,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let results = runtime.block_on(async {
            // The first item's commit holds the committer while 0..63 queue up behind it: they
            // are the next batch, and 0 fails it.
            let first = tokio::spawn({
                let group = group.clone();
                async move { group.submit(100).await }
            });
            until(|| waiting.try_recv().is_ok()).await;
            let rest: Vec<_> = (0..63u32)
                .map(|item| {
                    let group = group.clone();
                    tokio::spawn(async move { (item, group.submit(item).await) })
                })
                .collect();
            until(|| QUEUE - group.queue.capacity() == 63).await;
            open.send(()).unwrap();
            open.send(()).unwrap();
            let mut results = vec![(100, first.await.unwrap())];
            for submission in rest {
                results.push(submission.await.unwrap());
            }
            results
        });
        drop(group);
        thread.join().unwrap();
        assert_eq!(*committed.lock().unwrap(), vec![vec![100]]);
        assert_eq!(results[0], (100, Ok(())));
        for (item, result) in &results[1..] {
            assert_eq!(
                result,
                &Err(NotCommitted::Failed("disk full".into())),
                "{item}"
            );
        }
    }

    #[test]
    fn a_stopped_committer_acknowledges_nothing() {
        let committed = Arc::default();
        let (open, gate) = std_mpsc::channel();
        drop(open);
        let (entered, _waiting) = std_mpsc::channel();
        let (group, thread) = GroupCommit::start(Recorder {
            committed: Arc::clone(&committed),
            entered,
            gate,
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        // The committer panics on its closed gate: the request is told, not left waiting.
        let result = runtime.block_on(group.submit(1));
        assert_eq!(result, Err(NotCommitted::Stopping));
        assert!(thread.join().is_err());
        assert!(committed.lock().unwrap().is_empty());
    }
}
