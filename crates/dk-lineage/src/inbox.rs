//! How `dk lineage serve` commits to a SQLite store: a request's event is appended to an inbox
//! (what its `201` means), and an indexer thread indexes the inbox into the store in large
//! transactions, as a flush does.
//!
//! The inbox is a folder beside the store (`<store>-inbox`) of segment files, each a run of
//! records (a `u32` length, little-endian, and the event's JSON as received) appended in order.
//! Why not a table of the store, as it was: SQLite lets one connection at a time write a file, so
//! each commit (eight requests waiting for their answers) waited for the indexing transaction
//! before it, and the indexing for the commits; the HTTP side and the indexer took turns, and the
//! two cores were never busy at once (the ingest bench used 1.3 of them). And a SQLite commit of
//! a few events cost ~40 µs an event (its log, locks, checkpoints of a table that is emptied
//! anyway); an append is one `write`.
//!
//! - **Durable as the store's commits** (`synchronous=NORMAL`): an appended event survives the
//!   server being killed; a power loss can take the last appends (no `fsync` per commit), and a
//!   record it cut short can only be the last of its segment (after a failed write, appends go
//!   to a new segment), which reading drops.
//! - **Reads through the server** wait for the indexer to catch up with every event acknowledged
//!   before them ([`Indexed::caught_up`]), and ask it to index at once.
//! - **The indexer** takes what waits once [`SETTLE_BATCH`] events do, or none has arrived for
//!   [`SETTLE_AFTER`], or a read waits; at most [`BACKLOG`] events ([`BACKLOG_BYTES`] of JSON)
//!   wait, beyond which commits wait (backpressure), so memory and the inbox stay bounded. It
//!   checkpoints the store after each transaction: the server writes the store only from this
//!   thread, so the checkpoint copies the whole write-ahead log (unless a run flushing into the
//!   same store wrote meanwhile), which then starts over instead of growing under a steady
//!   stream.
//! - **Segments are removed** once indexed, by the committer before its next append; on a clean
//!   stop, all of them. A transaction that fails is tried again ([`ATTEMPTS`]: a run flushing
//!   into the same store can hold its write lock for seconds); when it keeps failing, or the
//!   indexer dies, the server refuses events from then on (500, with why), and what it
//!   acknowledged stays in the inbox for the next open of the store to index
//!   ([`crate::store::LineageStore::open`]; ingestion is idempotent, so an event indexed twice is
//!   stored once). What is left is indexed a segment per transaction, each removed once
//!   committed.
//! - **One server per inbox**: the server holds `<store>-inbox/lock` while it runs. A second
//!   server on the same store is refused ([`StoreError::InUse`]), and a dk that opens the store
//!   meanwhile (`dk lineage`, a run) leaves the inbox to the server; with no server holding it, the
//!   open indexes what is left and removes it. A server indexes what its inbox holds once it
//!   holds the lock, before it serves: a dk killed while it indexed leftovers leaves them to it.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rustix::fs::FlockOperation;
use tokio::sync::watch;

use crate::commit::{Commit, ReceivedEvent, Uncommitted};
use crate::store::{LineageStore, StoreError};

/// Waiting events are indexed once this many wait... Indexing costs per transaction (the pages
/// of every index it touches, and a checkpoint) as much as per event, and it runs beside the
/// commits: larger transactions cost less per event, and only reads wait for them.
pub(crate) const SETTLE_BATCH: usize = 8192;
/// ... or once no event has arrived for this long.
pub(crate) const SETTLE_AFTER: Duration = Duration::from_millis(2);
/// The most events waiting for the indexer, and the most bytes of JSON (events may be up to
/// `--max-body-kib` each); beyond either, commits wait.
pub(crate) const BACKLOG: usize = 2 * SETTLE_BATCH;
pub(crate) const BACKLOG_BYTES: usize = 64 << 20;
/// How often, and after how long, the indexer tries a transaction again (a run flushing into
/// the same store can hold its write lock past SQLite's 5 s busy timeout) before it gives up.
const ATTEMPTS: u32 = 4;
const RETRY_AFTER: Duration = Duration::from_millis(500);
/// A segment is closed, and a new one started, past this size: a segment is removed once all
/// of it is indexed, so this bounds what a steady stream keeps on disk.
const SEGMENT_BYTES: u64 = 16 << 20;

/// How long a server waits for the inbox's lock before it says another server holds it.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// The inbox folder beside the store at `store`.
fn inbox_dir(store: &Path) -> PathBuf {
    let mut path = store.as_os_str().to_owned();
    path.push("-inbox");
    path.into()
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:016}.log"))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Inbox {
        path: path.display().to_string(),
        source,
    }
}

/// The inbox's lock, held by the server appending to it, and briefly by a dk indexing what a
/// stopped server left; `None` when another process still holds it after `wait`.
fn lock(dir: &Path, wait: Duration) -> Result<Option<File>, StoreError> {
    crate::private::dir(dir).map_err(io_error(dir))?;
    let path = dir.join("lock");
    let file = dk_fs::open_own(&path, true).map_err(|err| StoreError::Inbox {
        path: path.display().to_string(),
        source: std::io::Error::other(err.to_string()),
    })?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(Some(file)),
            Err(rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::INTR)
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => return Ok(None),
            Err(err) => return Err(io_error(&path)(err.into())),
        }
    }
}

/// The segments in `dir`, oldest first.
fn segments(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        // Exactly the names `segment_path` gives: `+1.log` would parse, and name no file.
        if let Some(segment) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.strip_suffix(".log"))
            .filter(|number| number.len() == 16 && number.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|number| number.parse::<u64>().ok())
        {
            found.push(segment);
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// The events of a segment, in order. A record cut short (a write the machine did not finish)
/// can only be a segment's last: appends after a failed write go to a new segment.
fn records(path: &Path) -> Result<Vec<String>, StoreError> {
    let mut bytes = Vec::new();
    // Not a link, and not a FIFO to block on: only a file the server wrote.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK).bits() as i32)
        .open(path)
        .map_err(io_error(path))?;
    if !file.metadata().map_err(io_error(path))?.is_file() {
        return Ok(Vec::new());
    }
    file.read_to_end(&mut bytes).map_err(io_error(path))?;
    let mut events = Vec::new();
    let mut rest = bytes.as_slice();
    while let Some((length, after)) = rest.split_first_chunk::<4>() {
        let length = u32::from_le_bytes(*length) as usize;
        let Some((record, after)) = after.split_at_checked(length) else {
            break;
        };
        // Checked when received: anything else is what a torn write left.
        if let Ok(event) = std::str::from_utf8(record) {
            events.push(event.to_owned());
        }
        rest = after;
    }
    Ok(events)
}

/// Indexes what a server that stopped (or was killed) left in the inbox of the store at `path`
/// into `store`, unless a server holds the inbox (it indexes it itself).
pub(crate) fn index_leftovers(path: &Path, store: &mut LineageStore) -> Result<(), StoreError> {
    let dir = inbox_dir(path);
    match std::fs::symlink_metadata(&dir) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(io_error(&dir)(source)),
        Ok(_) => {}
    }
    // A server holds it for as long as it runs: not worth waiting for.
    match lock(&dir, Duration::ZERO)? {
        Some(_held) => index_segments(&dir, store),
        None => Ok(()),
    }
}

/// Indexes every segment in `dir` into `store`, oldest first, each in a transaction of its own
/// and removed once committed: memory holds one segment, and a kill loses no progress. The
/// caller holds the inbox's lock.
fn index_segments(dir: &Path, store: &mut LineageStore) -> Result<(), StoreError> {
    for segment in segments(dir)? {
        let path = segment_path(dir, segment);
        let events = records(&path)?;
        store.settle_payloads(events.iter().map(String::as_str), None)?;
        std::fs::remove_file(&path).map_err(io_error(&path))?;
    }
    Ok(())
}

/// The server's end of the inbox: appends batches, and removes segments once indexed.
struct Appender {
    dir: PathBuf,
    /// The segment appended to, its number and size; `None` after a failed write, so that the
    /// next append starts a segment of its own rather than follow what that write left.
    open: Option<(File, u64)>,
    segment: u64,
    oldest: u64,
    /// [`SEGMENT_BYTES`], but for tests.
    segment_bytes: u64,
    _lock: File,
}

impl Appender {
    /// Takes the inbox of the store at `store`, waiting up to `wait` for its lock (a dk
    /// indexing what a stopped server left holds it for a moment), and indexes into `indexed`
    /// what the inbox holds: with the lock held, no other dk indexes (or removes) it meanwhile.
    fn open(
        store: &Path,
        wait: Duration,
        indexed: &mut LineageStore,
    ) -> Result<Appender, StoreError> {
        let dir = inbox_dir(store);
        let lock = lock(&dir, wait)?.ok_or_else(|| StoreError::InUse {
            path: store.display().to_string(),
        })?;
        index_segments(&dir, indexed)?;
        Ok(Appender {
            dir,
            open: None,
            segment: 0,
            oldest: 1,
            segment_bytes: SEGMENT_BYTES,
            _lock: lock,
        })
    }

    /// Appends `payloads` as records with one write; the segment that holds them.
    fn append<'a>(
        &mut self,
        payloads: impl IntoIterator<Item = &'a str>,
    ) -> Result<u64, StoreError> {
        let mut records = Vec::new();
        for payload in payloads {
            let length = u32::try_from(payload.len()).map_err(|_| StoreError::Inbox {
                path: self.dir.display().to_string(),
                source: std::io::Error::other("an event over 4 GiB"),
            })?;
            records.extend_from_slice(&length.to_le_bytes());
            records.extend_from_slice(payload.as_bytes());
        }
        let (file, size) = match &mut self.open {
            Some((file, size)) if *size < self.segment_bytes => (file, size),
            _ => {
                self.segment += 1;
                let path = segment_path(&self.dir, self.segment);
                let file = std::fs::OpenOptions::new()
                    .append(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io_error(&path))?;
                let (file, size) = self.open.insert((file, 0));
                (&mut *file, size)
            }
        };
        if let Err(err) = file.write_all(&records) {
            // Not acknowledged: what the write left is cut off where it can be, and the segment
            // is closed either way.
            let _ = file.set_len(*size);
            self.open = None;
            return Err(io_error(&segment_path(&self.dir, self.segment))(err));
        }
        *size += records.len() as u64;
        Ok(self.segment)
    }

    /// Removes the segments before `segment`.
    fn remove_before(&mut self, segment: u64) {
        while self.oldest < segment {
            match std::fs::remove_file(segment_path(&self.dir, self.oldest)) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => return,
                _ => self.oldest += 1,
            }
        }
    }
}

/// What waits for the indexer.
#[derive(Default)]
struct Backlog {
    events: Vec<ReceivedEvent>,
    /// The segment of the last of `events`.
    segment: u64,
    /// Events handed to the indexer since the server started: a read waits until as many are
    /// indexed.
    handed: u64,
    /// Bytes of JSON in `events`.
    bytes: usize,
    /// A read waits: index at once.
    wanted: bool,
    /// The committer is gone: index what is left and stop.
    closed: bool,
    /// Why the indexer gave up (or died): commits are refused from then on, and what is in the
    /// inbox stays there for the next open of the store to index.
    broken: Option<String>,
}

/// Shared by the committer, the indexer and the reads.
struct Shared {
    backlog: Mutex<Backlog>,
    /// Signalled when events arrive, a read waits, or the indexer took the backlog.
    changed: Condvar,
    /// The segment of the last event indexed: the committer removes the segments before it. It
    /// stops when the indexer gives up ([`Backlog::broken`]).
    indexed_segment: AtomicU64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Backlog> {
        self.backlog
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for [`Shared::changed`].
    fn wait<'a>(&self, backlog: MutexGuard<'a, Backlog>) -> MutexGuard<'a, Backlog> {
        self.changed
            .wait(backlog)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// How a read waits until every acknowledged event is indexed; clones share it.
#[derive(Clone)]
pub struct Indexed {
    shared: Arc<Shared>,
    /// Events indexed (or given up on) since the server started; closed when the indexer ends.
    indexed: watch::Receiver<u64>,
}

impl std::fmt::Debug for Indexed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexed")
            .field("indexed", &*self.indexed.borrow())
            .finish()
    }
}

impl Indexed {
    /// Waits until every event acknowledged so far is indexed (at once when it is).
    pub async fn caught_up(&self) {
        let target = {
            let mut backlog = self.shared.lock();
            if *self.indexed.borrow() >= backlog.handed {
                return;
            }
            backlog.wanted = true;
            backlog.handed
        };
        self.shared.changed.notify_all();
        // An indexer that ended (it panicked) closes the channel: the read goes on, rather than
        // waiting for good.
        let _ = self.indexed.clone().wait_for(|n| *n >= target).await;
    }
}

/// The SQLite store as a committer: commits append to the inbox, and an indexer thread of its
/// own indexes them into the store.
pub struct StoreCommitter {
    inbox: Appender,
    shared: Arc<Shared>,
    indexed: Indexed,
    indexer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for StoreCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCommitter")
    }
}

impl StoreCommitter {
    /// Opens the store at `path` (indexing what its inbox holds), takes its inbox (another
    /// server holding it is an error) and starts the indexer.
    pub fn open(path: &Path) -> Result<StoreCommitter, StoreError> {
        let mut store = LineageStore::open(path)?;
        // Checkpoints are the indexer's, after each transaction.
        store
            .connection
            .pragma_update(None, "wal_autocheckpoint", 0)?;
        let inbox = Appender::open(path, LOCK_WAIT, &mut store)?;
        let shared = Arc::new(Shared {
            backlog: Mutex::default(),
            changed: Condvar::new(),
            indexed_segment: AtomicU64::new(0),
        });
        let (progress, indexed) = watch::channel(0);
        let indexer = std::thread::spawn({
            let shared = Arc::clone(&shared);
            move || index_loop(store, &shared, &progress)
        });
        Ok(StoreCommitter {
            inbox,
            indexed: Indexed {
                shared: Arc::clone(&shared),
                indexed,
            },
            shared,
            indexer: Some(indexer),
        })
    }

    /// What reads wait on.
    pub fn indexed(&self) -> Indexed {
        self.indexed.clone()
    }

    /// Hands committed events to the indexer, waiting while [`BACKLOG`] events (or
    /// [`BACKLOG_BYTES`]) already wait; gives them back when the indexer gave up.
    fn hand_over(
        &self,
        batch: Vec<ReceivedEvent>,
        segment: u64,
    ) -> Result<(), Uncommitted<ReceivedEvent>> {
        let mut backlog = self.shared.lock();
        while backlog.broken.is_none()
            && (backlog.events.len() >= BACKLOG || backlog.bytes >= BACKLOG_BYTES)
        {
            backlog = self.shared.wait(backlog);
        }
        if let Some(broken) = &backlog.broken {
            return Err((broken.clone(), batch));
        }
        backlog.handed += batch.len() as u64;
        backlog.bytes += batch.iter().map(|(_, json)| json.len()).sum::<usize>();
        backlog.events.extend(batch);
        backlog.segment = segment;
        drop(backlog);
        self.shared.changed.notify_all();
        Ok(())
    }
}

impl Commit for StoreCommitter {
    type Item = ReceivedEvent;

    fn commit(&mut self, batch: Vec<ReceivedEvent>) -> Result<(), Uncommitted<ReceivedEvent>> {
        if let Some(broken) = self.shared.lock().broken.clone() {
            return Err((broken, batch));
        }
        self.inbox
            .remove_before(self.shared.indexed_segment.load(Ordering::Acquire));
        let segment = match self
            .inbox
            .append(batch.iter().map(|(_, json)| json.as_str()))
        {
            Ok(segment) => segment,
            Err(err) => return Err((err.to_string(), batch)),
        };
        // Appended but refused: the inbox keeps them for the next open, and a resend is
        // harmless (ingestion is idempotent).
        self.hand_over(batch, segment)
    }
}

impl Drop for StoreCommitter {
    /// Indexes what is left before the server's task ends, then empties the inbox of it.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        let died = self
            .indexer
            .take()
            .is_some_and(|indexer| indexer.join().is_err());
        if died || self.shared.lock().broken.is_some() {
            self.inbox
                .remove_before(self.shared.indexed_segment.load(Ordering::Acquire));
        } else {
            // Everything handed over is indexed, up to the segment being appended to.
            self.inbox.remove_before(self.inbox.segment + 1);
        }
    }
}

/// Marks the indexer broken if it panics: commits are refused rather than wait for good on a
/// backlog nobody takes.
struct PanicGuard<'a>(&'a Shared);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.lock().broken = Some("the lineage store's indexer stopped".into());
            self.0.changed.notify_all();
        }
    }
}

/// Takes the backlog when it is due (see the module's documentation), indexes it in one
/// transaction and checkpoints, until the committer is gone and nothing is left.
fn index_loop(mut store: LineageStore, shared: &Shared, progress: &watch::Sender<u64>) {
    let _guard = PanicGuard(shared);
    while let Some((events, segment)) = due(shared) {
        shared.changed.notify_all();
        if shared.lock().broken.is_none() {
            match index(&mut store, &events) {
                Ok(()) => shared.indexed_segment.store(segment, Ordering::Release),
                Err(err) => {
                    shared.lock().broken = Some(format!(
                        "the lineage store cannot index what it receives ({err}); what it \
                         acknowledged is kept, and indexed when the store is next opened"
                    ));
                    shared.changed.notify_all();
                }
            }
        }
        // Reads wait for these no longer, indexed or not.
        progress.send_modify(|indexed| *indexed += events.len() as u64);
        // Passive: a read's snapshot can keep part of the log; the next checkpoint retries.
        let _ = store.checkpoint();
    }
}

/// Indexes `events` in one transaction, trying again [`ATTEMPTS`] times.
fn index(store: &mut LineageStore, events: &[ReceivedEvent]) -> Result<(), StoreError> {
    let mut attempt = 1;
    loop {
        match store.settle(
            events.iter().map(|(event, json)| (event, json.as_str())),
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(_) if attempt < ATTEMPTS => {
                std::thread::sleep(RETRY_AFTER * attempt);
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// The waiting events and the segment of the last, once they are due; `None` once the
/// committer is gone and nothing waits.
fn due(shared: &Shared) -> Option<(Vec<ReceivedEvent>, u64)> {
    let mut backlog = shared.lock();
    loop {
        let waiting = backlog.events.len();
        if waiting == 0 && backlog.closed {
            return None;
        }
        if waiting > 0 && (backlog.closed || backlog.wanted || waiting >= SETTLE_BATCH) {
            break;
        }
        if waiting == 0 {
            backlog = shared.wait(backlog);
            continue;
        }
        let (next, timeout) = shared
            .changed
            .wait_timeout(backlog, SETTLE_AFTER)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        backlog = next;
        if timeout.timed_out() && backlog.events.len() == waiting {
            break;
        }
    }
    backlog.wanted = false;
    backlog.bytes = 0;
    Some((std::mem::take(&mut backlog.events), backlog.segment))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Lineage;
    use crate::commit::GroupCommit;
    use crate::event::Received;

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

    fn jsons(prefix: &str, count: usize) -> Vec<String> {
        (0..count)
            .map(|i| received(&format!("{prefix}-{i}")).1)
            .collect()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// Submits `count` events named `<prefix>-<i>` at once, each as its own request.
    async fn submit_all(group: &GroupCommit<ReceivedEvent>, prefix: &str, count: usize) {
        let requests: Vec<_> = (0..count)
            .map(|i| {
                let group = group.clone();
                let event = received(&format!("{prefix}-{i}"));
                tokio::spawn(async move { group.submit(event).await })
            })
            .collect();
        for request in requests {
            request.await.unwrap().unwrap();
        }
    }

    /// The inbox of a new store at `path`, as a server takes it.
    fn appender(path: &Path) -> Appender {
        Appender::open(path, Duration::ZERO, &mut LineageStore::open(path).unwrap()).unwrap()
    }

    /// Events in the store at `path`, read without opening a `LineageStore` (which would index
    /// the inbox itself).
    fn stored(path: &Path) -> i64 {
        rusqlite::Connection::open(path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM events", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn acknowledged_events_are_indexed_even_when_the_server_dies_before_it_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage.db");
        // Appended (what a 201 answers), then the server is killed before its indexer ran:
        // nothing of it cleans up. Two segments: each is indexed and removed in turn.
        let mut inbox = appender(&path);
        inbox.segment_bytes = 1;
        for batch in [jsons("early", 3), jsons("late", 7)] {
            inbox.append(batch.iter().map(String::as_str)).unwrap();
        }
        drop(inbox);
        assert_eq!(segments(&inbox_dir(&path)).unwrap(), [1, 2]);
        let store = LineageStore::open(&path).unwrap();
        assert_eq!(store.event_count().unwrap(), 10);
        assert_eq!(
            store
                .neighbourhood("late-6", crate::graph::Direction::Both, 1)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(segments(&inbox_dir(&path)).unwrap(), Vec::<u64>::new());
    }

    /// A server used to find leftovers held by a dk indexing them, skip them, then take the
    /// inbox and remove them with its own first segments, unindexed.
    #[test]
    fn a_server_starting_while_another_dk_indexes_leftovers_indexes_what_that_one_did_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage.db");
        let mut inbox = appender(&path);
        inbox
            .append(jsons("left", 5).iter().map(String::as_str))
            .unwrap();
        drop(inbox);
        // Another dk holds the lock for a moment (and is killed before it indexed anything).
        let held = lock(&inbox_dir(&path), Duration::ZERO).unwrap().unwrap();
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(held);
        });
        let committer = StoreCommitter::open(&path).unwrap();
        release.join().unwrap();
        assert_eq!(stored(&path), 5);
        assert_eq!(segments(&inbox_dir(&path)).unwrap(), Vec::<u64>::new());
        drop(committer);
        assert_eq!(stored(&path), 5);
    }

    #[test]
    fn a_record_a_crash_cut_short_is_dropped_and_the_ones_before_it_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage.db");
        let events = jsons("job", 3);
        let mut inbox = appender(&path);
        let segment = inbox.append(events.iter().map(String::as_str)).unwrap();
        drop(inbox);
        let file = segment_path(&inbox_dir(&path), segment);
        let length = std::fs::metadata(&file).unwrap().len();
        for cut in [1, 4, 10] {
            let cut_file = dir.path().join("cut.log");
            std::fs::copy(&file, &cut_file).unwrap();
            File::options()
                .write(true)
                .open(&cut_file)
                .unwrap()
                .set_len(length - cut)
                .unwrap();
            assert_eq!(records(&cut_file).unwrap(), events[..2], "cut {cut}");
        }
        assert_eq!(records(&file).unwrap(), events);
    }

    #[test]
    fn only_the_names_the_server_gives_are_segments() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "+000000000000001.log",
            "1.log",
            "0000000000000002.log",
            "lock",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        assert_eq!(segments(dir.path()).unwrap(), [2]);
    }

    #[test]
    fn segments_are_removed_once_indexed_while_appends_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage.db");
        let mut inbox = appender(&path);
        inbox.segment_bytes = 1;
        // One segment per append.
        let appended: Vec<u64> = (0..5).map(|_| inbox.append(["{}"]).unwrap()).collect();
        assert_eq!(appended, [1, 2, 3, 4, 5]);
        // The indexer got to segment 3, which may still hold events after the indexed one.
        inbox.remove_before(3);
        assert_eq!(segments(&inbox_dir(&path)).unwrap(), [3, 4, 5]);
        assert_eq!(inbox.append(["{}"]).unwrap(), 6);
        inbox.remove_before(6);
        assert_eq!(segments(&inbox_dir(&path)).unwrap(), [6]);
    }

    #[test]
    fn a_server_holds_its_inbox_against_a_second_server_and_against_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage.db");
        let first = StoreCommitter::open(&path).unwrap();
        let mut store = LineageStore::open(&path).unwrap();
        let err = Appender::open(&path, Duration::ZERO, &mut store)
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        // `dk lineage` opening the store meanwhile leaves the server's inbox to the server.
        let events = jsons("job", 2);
        let mut appender = Appender {
            dir: inbox_dir(&path),
            open: None,
            segment: 100,
            oldest: 101,
            segment_bytes: SEGMENT_BYTES,
            _lock: File::open(dir.path()).unwrap(),
        };
        appender.append(events.iter().map(String::as_str)).unwrap();
        LineageStore::open(&path).unwrap();
        assert_eq!(segments(&inbox_dir(&path)).unwrap(), [101]);
        drop(first);
        // Stopped: the next open indexes what is left.
        assert_eq!(LineageStore::open(&path).unwrap().event_count().unwrap(), 2);
        assert_eq!(segments(&inbox_dir(&path)).unwrap(), Vec::<u64>::new());
    }

    #[test]
    fn a_server_whose_indexer_gave_up_refuses_events_and_keeps_its_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage.db");
        let committer = StoreCommitter::open(&path).unwrap();
        let shared = Arc::clone(&committer.shared);
        let (group, thread) = GroupCommit::start(committer);
        let runtime = runtime();
        runtime.block_on(submit_all(&group, "before", 3));
        shared.lock().broken = Some("disk full".into());
        let refused = runtime.block_on(group.submit(received("after")));
        assert_eq!(
            refused,
            Err(crate::commit::NotCommitted::Failed("disk full".into()))
        );
        drop(group);
        thread.join().unwrap();
        // What it acknowledged stays for the next open, which indexes it.
        assert_eq!(LineageStore::open(&path).unwrap().event_count().unwrap(), 3);
    }

    #[test]
    fn a_read_after_its_answer_finds_every_acknowledged_event_while_the_server_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage.db");
        let committer = StoreCommitter::open(&path).unwrap();
        let indexed = committer.indexed();
        let (group, thread) = GroupCommit::start(committer);
        let runtime = runtime();
        for round in 0..3 {
            runtime.block_on(async {
                submit_all(&group, &format!("job-{round}"), 40).await;
                indexed.caught_up().await;
            });
            // The indexer has committed them.
            assert_eq!(stored(&path), 40 * (round + 1));
        }
        drop(group);
        thread.join().unwrap();
        // The server stopped cleanly: nothing is left for the next open to index.
        assert_eq!(segments(&inbox_dir(&path)).unwrap(), Vec::<u64>::new());
    }

    /// A server under a steady stream of requests used to checkpoint on a thread of its own,
    /// which never caught up with the commits: SQLite starts its log over only once all of it
    /// is copied, so the log grew for as long as the stream lasted (1 GB in the ingest bench).
    #[test]
    fn the_write_ahead_log_starts_over_after_each_indexing_instead_of_growing_with_the_stream() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lineage.db");
        let committer = StoreCommitter::open(&path).unwrap();
        let indexed = committer.indexed();
        let (group, thread) = GroupCommit::start(committer);
        let wal = || std::fs::metadata(dir.path().join("lineage.db-wal")).map_or(0, |m| m.len());
        let sizes: Vec<u64> = runtime().block_on(async {
            let mut sizes = Vec::new();
            for round in 0..16 {
                submit_all(&group, &format!("job-{round}"), 32).await;
                indexed.caught_up().await;
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
            LineageStore::open(&path).unwrap().event_count().unwrap(),
            16 * 32
        );
    }
}
