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
//! - **Reads see every acknowledged event.** A store may commit a batch before indexing it
//!   ([`Commit::settle`] indexes what is committed; the SQLite store does, because a commit of a
//!   few events into every index writes hundreds of KiB of pages). Committed events are indexed
//!   once [`SETTLE_BATCH`] of them wait, or the queue has been empty for [`SETTLE_AFTER`], or a
//!   read asks ([`GroupCommit::settled`], which the server awaits before every read), so a read
//!   through the server finds every event acknowledged before it. What a stopped server left
//!   unindexed is indexed when the store is next opened. After each settle, once its readers are
//!   answered, the committer tidies the store ([`Commit::tidy`]: SQLite checkpoints its log).
//! - **One committer.** Batches are committed one at a time, in order, on a thread of their own
//!   (a store's writes are blocking); the queue holds at most [`QUEUE`] items, so a burst waits
//!   in the requests (backpressure) rather than in memory.
//! - **Stopping.** When every [`GroupCommit`] handle is dropped, the committer commits and
//!   settles what is queued and its thread ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::backend::Lineage;
use crate::event::Received;
use crate::store::{LineageStore, StoreError};

/// The most items one transaction commits.
pub const MAX_BATCH: usize = 1024;
/// The most items waiting for the committer.
pub const QUEUE: usize = 4 * MAX_BATCH;
/// Committed items are indexed once this many wait... Settling costs per transaction (the
/// pages of every index it touches) as much as per event, and it holds commits up: at 256 the
/// 50,000 POSTs of the ingest bench settled ~200 times and the 8 requests waiting on each were
/// more than 1% of all (p99 11-20 ms); at 2048, 25 times (p99 ~4 ms) for less CPU per event.
pub const SETTLE_BATCH: usize = 2048;
/// ... or once no item has arrived for this long.
pub const SETTLE_AFTER: Duration = Duration::from_millis(2);

/// What a store does for group commit.
pub trait Commit: Send + 'static {
    type Item: Send + 'static;
    /// Commits every item of `batch`, or none of them: then it says why, and gives the batch
    /// back (its items are committed again one at a time).
    fn commit(&mut self, batch: Vec<Self::Item>) -> Result<(), Uncommitted<Self::Item>>;
    /// Makes what was committed visible to reads, when committing did not.
    fn settle(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// How many committed items are not visible to reads yet.
    fn unsettled(&self) -> usize {
        0
    }
    /// Upkeep after a settle, when no commit is running (a failure is retried next time).
    fn tidy(&mut self) {}
}

/// Why a batch was not committed, and the batch.
pub type Uncommitted<T> = (String, Vec<T>);

/// A received event and its JSON as sent.
pub type ReceivedEvent = (Received, String);

/// The SQLite store as a committer. A commit appends the batch to the store's inbox (a page or
/// two; see [`LineageStore::stage`]); settling indexes up to [`SETTLE_BATCH`] events at once, as
/// a flush does. Commits never run a checkpoint (copying the write-ahead log into the database
/// file and syncing both); the committer checkpoints after each settle ([`Commit::tidy`]).
///
/// Why there and not on a thread of its own, concurrently with commits: SQLite starts its log
/// over only when a checkpoint has copied all of it, and under a steady stream of commits a
/// concurrent checkpoint never catches up. The log then grew for as long as the stream lasted
/// (1 GB for the bench's 50,000 events, beside a 170 MB database), and appending to an ever
/// longer file was most of the committer's system time. Checkpointed between commits, the log
/// is started over after every settle, and its pages are rewritten in place.
#[derive(Debug)]
pub struct StoreCommitter {
    store: LineageStore,
    /// Committed, not yet indexed, and the inbox id of the last of them.
    staged: Vec<ReceivedEvent>,
    staged_upto: i64,
}

impl StoreCommitter {
    pub fn open(path: &std::path::Path) -> Result<StoreCommitter, StoreError> {
        let store = LineageStore::open(path)?;
        store
            .connection
            .pragma_update(None, "wal_autocheckpoint", 0)?;
        Ok(StoreCommitter {
            store,
            staged: Vec::new(),
            staged_upto: 0,
        })
    }
}

impl Commit for StoreCommitter {
    type Item = ReceivedEvent;

    fn commit(&mut self, batch: Vec<ReceivedEvent>) -> Result<(), Uncommitted<ReceivedEvent>> {
        match self
            .store
            .stage(batch.iter().map(|(_, json)| json.as_str()))
        {
            Ok(upto) => {
                self.staged_upto = upto;
                self.staged.extend(batch);
                Ok(())
            }
            Err(err) => Err((err.to_string(), batch)),
        }
    }

    fn settle(&mut self) -> Result<(), String> {
        if self.staged.is_empty() {
            return Ok(());
        }
        // Settled or not, they leave memory: what failed stays in the inbox, and is indexed
        // when the store is next opened.
        let staged = std::mem::take(&mut self.staged);
        self.store
            .settle(
                staged.iter().map(|(event, json)| (event, json.as_str())),
                Some(self.staged_upto),
            )
            .map(drop)
            .map_err(|err| err.to_string())
    }

    fn unsettled(&self) -> usize {
        self.staged.len()
    }

    fn tidy(&mut self) {
        // Passive: a reader's snapshot can keep part of the log; the next settle retries.
        let _ = self.store.checkpoint();
    }
}

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

enum Message<T> {
    Commit {
        item: T,
        done: oneshot::Sender<Result<(), NotCommitted>>,
    },
    Settle(oneshot::Sender<()>),
}

/// A handle that submits items to the committer; clones share it.
pub struct GroupCommit<T> {
    queue: mpsc::Sender<Message<T>>,
    /// Committed items not yet settled, as of the committer's last batch.
    unsettled: Arc<AtomicUsize>,
}

impl<T> std::fmt::Debug for GroupCommit<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit")
            .field("queued", &(QUEUE - self.queue.capacity()))
            .field("unsettled", &self.unsettled.load(Ordering::Acquire))
            .finish()
    }
}

impl<T> Clone for GroupCommit<T> {
    fn clone(&self) -> Self {
        GroupCommit {
            queue: self.queue.clone(),
            unsettled: Arc::clone(&self.unsettled),
        }
    }
}

impl<T: Send + 'static> GroupCommit<T> {
    /// Starts the committer on its own thread; it ends once every handle is dropped and the
    /// queue is committed and settled.
    pub fn start<C: Commit<Item = T>>(
        committer: C,
    ) -> (GroupCommit<T>, std::thread::JoinHandle<()>) {
        let (queue, received) = mpsc::channel(QUEUE);
        let unsettled = Arc::new(AtomicUsize::new(0));
        let shared = Arc::clone(&unsettled);
        let thread = std::thread::spawn(move || {
            // A runtime of its own for the committer's timer, as its commits block. Without
            // one, the queue closes and every request is told the server is stopping.
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
            {
                commit_loop(&runtime, committer, received, shared);
            }
        });
        (GroupCommit { queue, unsettled }, thread)
    }

    /// Waits until `item` is committed (`Ok`), or its batch failed, or the committer stopped.
    pub async fn submit(&self, item: T) -> Result<(), NotCommitted> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Message::Commit { item, done })
            .await
            .map_err(|_| NotCommitted::Stopping)?;
        committed.await.unwrap_or(Err(NotCommitted::Stopping))
    }

    /// Waits until every item acknowledged so far is visible to reads (at once when it is).
    pub async fn settled(&self) {
        if self.unsettled.load(Ordering::Acquire) == 0 {
            return;
        }
        let (done, settled) = oneshot::channel();
        if self.queue.send(Message::Settle(done)).await.is_ok() {
            let _ = settled.await;
        }
    }
}

/// Waits on the queue inside `runtime`, and commits outside it: a committer may block on a
/// runtime of its own (the `postgres` client does), which tokio refuses inside another.
fn commit_loop<C: Commit>(
    runtime: &tokio::runtime::Runtime,
    mut committer: C,
    mut queue: mpsc::Receiver<Message<C::Item>>,
    unsettled: Arc<AtomicUsize>,
) {
    loop {
        let first = match committer.unsettled() {
            0 => runtime.block_on(queue.recv()),
            // The timer is made inside the runtime: it needs its clock.
            _ => match runtime
                .block_on(async { tokio::time::timeout(SETTLE_AFTER, queue.recv()).await })
            {
                Ok(message) => message,
                Err(_) => {
                    settle(&mut committer, &unsettled);
                    committer.tidy();
                    continue;
                }
            },
        };
        let Some(first) = first else {
            break;
        };
        let (mut items, mut waiting, mut readers) = (Vec::new(), Vec::new(), Vec::new());
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Commit { item, done } => {
                    items.push(item);
                    waiting.push(done);
                }
                Message::Settle(done) => readers.push(done),
            }
            if items.len() < MAX_BATCH {
                next = queue.try_recv().ok();
            }
        }
        if !items.is_empty() {
            let results = commit_batch(&mut committer, items);
            // Before the answers: a client that reads after its answer must find it unsettled.
            unsettled.store(committer.unsettled(), Ordering::Release);
            for (done, result) in waiting.into_iter().zip(results) {
                let _ = done.send(result);
            }
        }
        if !readers.is_empty() || committer.unsettled() >= SETTLE_BATCH {
            settle(&mut committer, &unsettled);
            for done in readers {
                let _ = done.send(());
            }
            committer.tidy();
        }
    }
    settle(&mut committer, &unsettled);
    committer.tidy();
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

fn settle<C: Commit>(committer: &mut C, unsettled: &AtomicUsize) {
    let _ = committer.settle();
    unsettled.store(committer.unsettled(), Ordering::Release);
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

    fn received(job: &str) -> ReceivedEvent {
        let json = serde_json::json!({
            "eventType": "COMPLETE", "eventTime": "2026-11-26T10:00:00Z",
            "run": {"runId": crate::event::new_run_id()}, "job": {"namespace": "n", "name": job},
            "outputs": [{"namespace": "n", "name": format!("{job}-out")}],
            "producer": "p", "schemaURL": "s",
        })
        .to_string();
        (Received::parse_storable(&json).unwrap(), json)
    }

    #[test]
    fn acknowledged_events_are_indexed_even_when_the_server_dies_before_it_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage.db");
        let mut committer = StoreCommitter::open(&path).unwrap();
        committer
            .commit((0..5).map(|i| received(&format!("early-{i}"))).collect())
            .unwrap();
        committer.settle().unwrap();
        // Committed (what a 201 answers), then the server is gone before indexing them.
        committer
            .commit((0..7).map(|i| received(&format!("late-{i}"))).collect())
            .unwrap();
        assert_eq!(committer.unsettled(), 7);
        drop(committer);
        let store = LineageStore::open(&path).unwrap();
        assert_eq!(store.events(None).unwrap().len(), 12);
        assert_eq!(
            store
                .neighbourhood("late-6", crate::graph::Direction::Both, 1)
                .unwrap()
                .len(),
            1
        );
        let inbox: i64 = store
            .connection
            .query_row("SELECT COUNT(*) FROM inbox", [], |row| row.get(0))
            .unwrap();
        assert_eq!(inbox, 0);
    }

    /// A server under a steady stream of requests used to checkpoint on a thread of its own,
    /// which never caught up with the commits: SQLite starts its log over only once all of it
    /// is copied, so the log grew for as long as the stream lasted (1 GB in the ingest bench).
    #[test]
    fn the_write_ahead_log_starts_over_after_each_settle_instead_of_growing_with_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage.db");
        let (group, thread) = GroupCommit::start(StoreCommitter::open(&path).unwrap());
        let wal = || std::fs::metadata(dir.path().join("lineage.db-wal")).map_or(0, |m| m.len());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let sizes: Vec<u64> = runtime.block_on(async {
            let mut sizes = Vec::new();
            for round in 0..16 {
                let requests: Vec<_> = (0..32)
                    .map(|i| {
                        let group = group.clone();
                        tokio::spawn(async move {
                            group.submit(received(&format!("job-{round}-{i}"))).await
                        })
                    })
                    .collect();
                for request in requests {
                    request.await.unwrap().unwrap();
                }
                // A read settles what is committed; the checkpoint follows, before the next
                // round's first commit.
                group.settled().await;
                sizes.push(wal());
            }
            sizes
        });
        drop(group);
        thread.join().unwrap();
        let early = sizes[..2].iter().max().copied().unwrap_or(0);
        assert!(early > 0, "{sizes:?}");
        assert!(
            sizes[15] < 2 * early,
            "the log grew with every round: {sizes:?}"
        );
        assert_eq!(
            LineageStore::open(&path)
                .unwrap()
                .events(None)
                .unwrap()
                .len(),
            16 * 32
        );
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
