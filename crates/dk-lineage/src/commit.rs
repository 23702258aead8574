//! Group commit: events received by concurrent requests are committed together, one
//! transaction per batch, and each request is answered only once its event is committed.
//!
//! The contract, for every store behind `dk lineage serve` ([`Commit`] is all a store provides):
//!
//! - **A batch is whatever has arrived** while the previous batch was being committed, up to
//!   [`MAX_BATCH`] items: one waiting request is committed at once (no timer delays it), many
//!   share one transaction. The cost of a commit is spread over the requests that wait on it.
//! - **Acknowledged means committed.** [`GroupCommit::submit`] returns `Ok` only after
//!   [`Commit::commit`] returned `Ok` for the batch holding the item: the event is durable, and
//!   survives the server being killed.
//! - **All or nothing, per request.** `Commit::commit` commits every item of a batch in one
//!   transaction or none of them. When a batch fails, its items are committed again one at a
//!   time, so that one request's event a store cannot keep (a string PostgreSQL refuses to index,
//!   say) fails that request alone (500), not every request that shared its batch. A client
//!   resends, and the store's idempotent ingest (the event key) makes a resend of an event that
//!   did land harmless.
//! - **Reads see every acknowledged event.** A store may commit a batch before indexing it (the
//!   SQLite store does: [`crate::inbox`]); then it gives the server a way to wait until every
//!   acknowledged event is indexed, which the server awaits before every read.
//! - **One committer.** Batches are committed one at a time, in order, on a thread of their own
//!   (a store's writes are blocking); the queue holds at most [`QUEUE`] items, so a burst waits
//!   in the requests (backpressure) rather than in memory.
//! - **Stopping.** When every [`GroupCommit`] handle is dropped, the committer commits what is
//!   queued, is dropped (the SQLite store's indexes what is left then), and its thread ends.

use tokio::sync::{mpsc, oneshot};

use crate::backend::Lineage;
use crate::event::Received;

/// The most items one transaction commits.
pub const MAX_BATCH: usize = 1024;
/// The most items waiting for the committer.
pub const QUEUE: usize = 4 * MAX_BATCH;

/// What a store does for group commit.
pub trait Commit: Send + 'static {
    type Item: Send + 'static;
    /// Commits every item of `batch`, or none of them: then it says why, and gives the batch
    /// back (its items are committed again one at a time).
    fn commit(&mut self, batch: Vec<Self::Item>) -> Result<(), Uncommitted<Self::Item>>;
}

/// Why a batch was not committed, and the batch.
pub type Uncommitted<T> = (String, Vec<T>);

/// A received event and its JSON as sent.
pub type ReceivedEvent = (Received, String);

/// A store that indexes a batch in the transaction that commits it (PostgreSQL: several
/// replicas share the database, and what one acknowledges the others must read at once).
pub struct IngestCommitter(pub Box<dyn Lineage>);

impl std::fmt::Debug for IngestCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IngestCommitter")
    }
}

impl Commit for IngestCommitter {
    type Item = ReceivedEvent;

    fn commit(&mut self, batch: Vec<ReceivedEvent>) -> Result<(), Uncommitted<ReceivedEvent>> {
        let result = {
            let events: Vec<(&Received, &str)> = batch
                .iter()
                .map(|(event, json)| (event, json.as_str()))
                .collect();
            self.0.ingest(&events).map(drop)
        };
        result.map_err(|err| (err.to_string(), batch))
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

/// An item and where its outcome goes.
type Submitted<T> = (T, oneshot::Sender<Result<(), NotCommitted>>);

/// A handle that submits items to the committer; clones share it.
pub struct GroupCommit<T> {
    queue: mpsc::Sender<Submitted<T>>,
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
    /// queue is committed (and the committer dropped).
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
            .send((item, done))
            .await
            .map_err(|_| NotCommitted::Stopping)?;
        committed.await.unwrap_or(Err(NotCommitted::Stopping))
    }
}

/// Commits what the queue holds, batch after batch, until every handle is dropped. It waits
/// outside any runtime: a committer may block on a runtime of its own (the `postgres` client
/// does), which tokio refuses inside another.
fn commit_loop<C: Commit>(mut committer: C, mut queue: mpsc::Receiver<Submitted<C::Item>>) {
    while let Some(first) = queue.blocking_recv() {
        let (mut items, mut waiting) = (Vec::new(), Vec::new());
        let mut next = Some(first);
        while let Some((item, done)) = next.take() {
            items.push(item);
            waiting.push(done);
            if items.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        let results = commit_batch(&mut committer, items);
        for (done, result) in waiting.into_iter().zip(results) {
            let _ = done.send(result);
        }
    }
}

/// The outcome of each item of `items`: the batch in one transaction, and when that fails, each
/// item in one of its own.
fn commit_batch<C: Commit>(
    committer: &mut C,
    items: Vec<C::Item>,
) -> Vec<Result<(), NotCommitted>> {
    let count = items.len();
    match committer.commit(items) {
        Ok(()) => vec![Ok(()); count],
        Err((err, _)) if count == 1 => vec![Err(NotCommitted::Failed(err))],
        Err((_, items)) => items
            .into_iter()
            .map(|item| {
                committer
                    .commit(vec![item])
                    .map_err(|(err, _)| NotCommitted::Failed(err))
            })
            .collect(),
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
        fn commit(&mut self, batch: Vec<u32>) -> Result<(), Uncommitted<u32>> {
            let _ = self.entered.send(());
            self.gate.recv().unwrap();
            if batch.contains(&0) {
                return Err(("disk full".into(), batch));
            }
            self.committed.lock().unwrap().push(batch);
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

    /// A group commit over a [`Recorder`]: what it committed, its gate and its "entered" signal.
    struct Harness {
        group: GroupCommit<u32>,
        thread: std::thread::JoinHandle<()>,
        committed: Arc<Mutex<Vec<Vec<u32>>>>,
        open: std_mpsc::Sender<()>,
        waiting: std_mpsc::Receiver<()>,
        runtime: tokio::runtime::Runtime,
    }

    fn harness() -> Harness {
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
        Harness {
            group,
            thread,
            committed,
            open,
            waiting,
            runtime,
        }
    }

    #[test]
    fn a_failed_batch_fails_only_the_request_whose_item_cannot_be_committed() {
        let h = harness();
        let group = h.group;
        let results = h.runtime.block_on(async {
            // The first item's commit holds the committer while 0..63 queue up behind it: they
            // are the next batch, and 0 fails it; each is then committed on its own.
            let first = tokio::spawn({
                let group = group.clone();
                async move { group.submit(100).await }
            });
            until(|| h.waiting.try_recv().is_ok()).await;
            let rest: Vec<_> = (0..63u32)
                .map(|item| {
                    let group = group.clone();
                    tokio::spawn(async move { (item, group.submit(item).await) })
                })
                .collect();
            until(|| QUEUE - group.queue.capacity() == 63).await;
            // The first batch, the failed one, then each of its 63 items.
            for _ in 0..65 {
                h.open.send(()).unwrap();
            }
            let mut results = vec![(100, first.await.unwrap())];
            for submission in rest {
                results.push(submission.await.unwrap());
            }
            results
        });
        drop(group);
        h.thread.join().unwrap();
        let mut committed = vec![vec![100]];
        committed.extend((1..63u32).map(|item| vec![item]));
        assert_eq!(*h.committed.lock().unwrap(), committed);
        for (item, result) in &results {
            let expected = match item {
                0 => Err(NotCommitted::Failed("disk full".into())),
                _ => Ok(()),
            };
            assert_eq!(result, &expected, "{item}");
        }
    }

    #[test]
    fn a_stopped_committer_acknowledges_nothing() {
        let h = harness();
        drop(h.open);
        // The committer panics on its closed gate: the request is told, not left waiting.
        let result = h.runtime.block_on(h.group.submit(1));
        assert_eq!(result, Err(NotCommitted::Stopping));
        assert!(h.thread.join().is_err());
        assert!(h.committed.lock().unwrap().is_empty());
    }
}
