//! Recording and delivering a run's events: spool first, then the local store, then the
//! backend. A run never waits on a backend for longer than its deadline; what is not delivered
//! stays spooled and goes out with the next flush (the next run, or `dk lineage flush`).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, Read};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::deliver::{Deliverer, Outcome};
use crate::event::{EventHead, RunEvent};
use crate::spool::{Quarantined, Scan, Spool, SpoolError, SpooledRun};
use crate::store::{DeliveryState, LineageStore, StoreError, Syncer};

/// Where lineage lives under dk's home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineagePaths {
    pub spool: PathBuf,
    pub store: PathBuf,
}

impl LineagePaths {
    pub fn under(dk_home: &Path) -> LineagePaths {
        let lineage = dk_home.join("lineage");
        LineagePaths {
            spool: lineage.join("spool"),
            store: lineage.join("lineage.db"),
        }
    }
}

/// Writes events to the spool and the local store as they happen.
#[derive(Debug)]
pub struct Recorder {
    spool: Spool,
    /// The store, or why it could not be opened (events still reach the spool).
    store: Result<LineageStore, String>,
}

impl Recorder {
    pub fn open(paths: &LineagePaths) -> Recorder {
        Recorder {
            spool: Spool::new(&paths.spool),
            store: LineageStore::open(&paths.store).map_err(|err| err.to_string()),
        }
    }

    /// Spools the event, then stores it. A spool failure is an error (the event could be lost);
    /// a store failure is returned as a warning, since the spooled event is ingested later.
    pub fn record(&mut self, event: &RunEvent) -> Result<Option<String>, SpoolError> {
        let json = self.spool.append(event)?;
        Ok(self.store(&json))
    }

    /// Records the events a pipeline wrote to `path`, one JSON RunEvent a line (dbt-ol's file
    /// transport), each as [`Recorder::record`] does: spooled, stored, delivered with dk's own,
    /// deduplicated by the store's event keys. At most [`EVENT_FILE_LIMIT`] bytes are read; a
    /// line that is no storable RunEvent is skipped with a warning. A missing file holds no
    /// events; one that cannot be read is a warning. Only a spool failure is an error.
    pub fn record_file(&mut self, path: &Path) -> Result<Ingested, SpoolError> {
        let mut ingested = Ingested::default();
        let (file, size) = match dk_fs::open_regular(path, u64::MAX) {
            Ok(opened) => opened,
            Err(err) if err.io_kind() == Some(std::io::ErrorKind::NotFound) => return Ok(ingested),
            Err(err) => {
                ingested.warnings.push(format!("events not read: {err}"));
                return Ok(ingested);
            }
        };
        if size > EVENT_FILE_LIMIT {
            ingested.warnings.push(format!(
                "{}: only the first {} MiB of its {size} bytes of events were read",
                path.display(),
                EVENT_FILE_LIMIT >> 20
            ));
        }
        let mut reader = std::io::BufReader::new(file.take(EVENT_FILE_LIMIT));
        let mut line = Vec::new();
        let mut skipped = 0usize;
        for number in 1.. {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) => {
                    ingested
                        .warnings
                        .push(format!("{}: events not read: {err}", path.display()));
                    break;
                }
            }
            let text = String::from_utf8_lossy(&line);
            let json = text.trim();
            if json.is_empty() {
                continue;
            }
            match EventHead::parse_storable(json) {
                Ok(head) => {
                    let json = self.spool.append_json(head.run.run_id, json.to_owned())?;
                    if let Some(warning) = self.store(&json) {
                        ingested.warnings.push(warning);
                    }
                    ingested.events += 1;
                }
                Err(err) => {
                    skipped += 1;
                    if skipped <= LINE_WARNINGS {
                        ingested.warnings.push(format!(
                            "{}:{number}: not an OpenLineage RunEvent, skipped: {err}",
                            path.display()
                        ));
                    }
                }
            }
        }
        if skipped > LINE_WARNINGS {
            ingested.warnings.push(format!(
                "{}: {} more lines that are not RunEvents skipped",
                path.display(),
                skipped - LINE_WARNINGS
            ));
        }
        Ok(ingested)
    }

    /// Stores spooled JSON; a failure is a warning (the spool has the event).
    fn store(&mut self, json: &str) -> Option<String> {
        match &mut self.store {
            Ok(store) => EventHead::parse(json)
                .map_err(StoreError::from)
                .and_then(|head| store.ingest_json([(&head, json)]))
                .err()
                .map(|err| err.to_string()),
            Err(message) => Some(message.clone()),
        }
    }
}

/// How much of a pipeline's event file [`Recorder::record_file`] reads: dbt-ol writes a few KB
/// a model, so this is thousands of models, and a file that never ends cannot exhaust memory.
pub const EVENT_FILE_LIMIT: u64 = 64 << 20;
/// Bad lines of an event file past this many are counted, not listed.
const LINE_WARNINGS: usize = 5;

/// What [`Recorder::record_file`] recorded.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    pub events: usize,
    pub warnings: Vec<String>,
}

/// What a flush did, counted from the store: `pending` is what the store still has to send to
/// the target after the flush, whatever the spool holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlushReport {
    pub runs: usize,
    pub events: usize,
    pub stored: usize,
    pub delivered: usize,
    pub rejected: usize,
    pub pending: usize,
    /// What this flush moved to `spool/bad/` because it cannot be read.
    pub quarantined: usize,
    /// Spool files whose events are all stored and settled, and were removed.
    pub released: usize,
    /// One line per thing this flush moved to `spool/bad/` or left unread, for the command to
    /// print once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A warning for each thing a scan moved out of the spool or left unread.
fn warnings(scan: &Scan) -> Vec<String> {
    scan.quarantined
        .iter()
        .map(|quarantined| {
            format!(
                "lineage spool: moved {} aside: {}",
                quarantined.path.display(),
                quarantined.reason
            )
        })
        .chain(scan.skipped.iter().cloned())
        .collect()
}

/// The store brought up to date with the spool.
#[derive(Debug)]
pub struct Synced {
    pub store: LineageStore,
    /// The keys of the events still spooled.
    pub spooled: HashSet<String>,
    /// What is in `spool/bad/`, and why.
    pub quarantine: Vec<Quarantined>,
    /// What this look at the spool moved to `spool/bad/`.
    pub warnings: Vec<String>,
}

/// The store brought up to date with the spool (events whose store write had failed), and the
/// keys of the events still spooled. Nothing is released: looking must not settle what a
/// backend still waits for.
pub fn sync_store(paths: &LineagePaths) -> Result<Synced, FlushError> {
    let mut store = LineageStore::open(&paths.store)?;
    let spool = Spool::new(&paths.spool);
    let scan = spool.scan()?;
    store.ingest_json(scan.runs.iter().flat_map(SpooledRun::entries))?;
    Ok(Synced {
        store,
        spooled: scan
            .runs
            .iter()
            .flat_map(|run| run.events.iter().map(|event| event.head.key()))
            .collect(),
        quarantine: spool.quarantine()?,
        warnings: warnings(&scan),
    })
}

/// Holds `flush.lock` beside the store: two flushes (a run's and `dk lineage flush`) never send
/// at once, which could send an event twice. Waits for it until the deadline; why not, then.
async fn flush_lock(
    paths: &LineagePaths,
    deadline: &watch::Receiver<Instant>,
    wait: bool,
) -> Result<File, String> {
    let path = paths.store.with_file_name("flush.lock");
    let file = dk_fs::open_own(&path, true).map_err(|err| err.to_string())?;
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(file),
            Err(rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::INTR)
                if wait && Instant::now() < *deadline.borrow() =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(rustix::io::Errno::WOULDBLOCK) if !wait => {
                return Err("another dk is delivering lineage".into());
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                return Err("another dk was delivering lineage until the deadline".into());
            }
            Err(err) => return Err(format!("{}: {err}", path.display())),
        }
    }
}

/// An event being sent by a flush that is dropped before the answer (a run stops waiting for
/// its delivery): it goes back to pending, to be sent again, saying why. A flush that is killed
/// leaves it marked as sending, which the next flush sends again all the same.
struct Stopped<'a> {
    store: &'a Path,
    key: &'a str,
    target: &'a str,
    armed: bool,
}

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = LineageStore::open(self.store).and_then(|mut store| {
                store.record_delivery(
                    self.key,
                    self.target,
                    DeliveryState::Pending,
                    Some("stopped at the deadline while being sent"),
                    0,
                )
            });
        }
    }
}

/// Ingests everything spooled into the store, delivers what the store has not delivered (when
/// there is a `deliverer`) until the deadline in `deadline`, and releases settled spool files.
/// The deadline may be moved while the flush runs (a run shortens it when it ends).
///
/// Each event is marked as being sent, durably, before its request goes out: a flush killed at
/// any point re-sends at most the one event it was sending.
pub async fn flush(
    paths: &LineagePaths,
    deliverer: Option<&Deliverer>,
    deadline: watch::Receiver<Instant>,
) -> Result<FlushReport, FlushError> {
    let spool = Spool::new(&paths.spool);
    let mut store = LineageStore::open(&paths.store)?;
    let target = deliverer.map(|deliverer| deliverer.target().id());
    // Without a backend nothing waits for delivery: a file can go as soon as its batch is on
    // disk. With one, the runs are kept until delivery settles them.
    let stored = store_spool(&spool, &mut store, target.is_none(), FIRST_BATCH)?;
    let scan = &stored.scan;
    let mut report = FlushReport {
        runs: stored.runs,
        events: stored.events,
        stored: stored.stored,
        quarantined: scan.quarantined.len(),
        released: stored.released,
        warnings: warnings(scan),
        ..FlushReport::default()
    };
    if let (Some(deliverer), Some(target)) = (deliverer, &target) {
        store.enqueue(
            scan.runs
                .iter()
                .flat_map(|run| run.events.iter().map(|event| event.head.key())),
            target,
        )?;
        // Whether the backend failed to take an event (not answered, refused, 5xx).
        let mut down = None;
        match flush_lock(paths, &deadline, !deliverer.is_in_line()).await {
            Ok(_lock) => {
                for (key, json) in store.outbox(target)? {
                    if Instant::now() >= *deadline.borrow() {
                        report
                            .last_error
                            .get_or_insert_with(|| "not delivered before the deadline".into());
                        down.get_or_insert(true);
                        break;
                    }
                    store.claim(&key, target)?;
                    let mut stopped = Stopped {
                        store: &paths.store,
                        key: &key,
                        target,
                        armed: true,
                    };
                    let (outcome, requests) = deliverer.send(&json, &deadline).await;
                    stopped.armed = false;
                    let (state, error) = match outcome {
                        Outcome::Delivered => {
                            report.delivered += 1;
                            (DeliveryState::Delivered, None)
                        }
                        Outcome::Rejected(error) => {
                            report.rejected += 1;
                            (DeliveryState::Rejected, Some(error))
                        }
                        Outcome::Pending(error) => (DeliveryState::Pending, Some(error)),
                    };
                    store.record_delivery(&key, target, state, error.as_deref(), requests)?;
                    // Past the deadline, or a backend that failed in line: the next events
                    // would meet the same.
                    let stop = state == DeliveryState::Pending;
                    down = Some(stop);
                    if error.is_some() {
                        report.last_error = error;
                    }
                    if stop {
                        break;
                    }
                }
            }
            Err(error) => report.last_error = Some(error),
        }
        report.pending = store.pending(target)?;
        if let Some(down) = down {
            crate::background::remember(paths, target, down);
        }
    }
    let mut releasable = Vec::new();
    if let Some(target) = &target {
        for run in &scan.runs {
            let settled = run
                .events
                .iter()
                .map(|event| store.is_settled(&event.head.key(), target))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .all(|settled| settled);
            if settled && has_ended(run, &store)? {
                releasable.push(run);
            }
        }
    }
    report.released += release(&spool, &store.syncer(), &releasable)?;
    Ok(report)
}

/// Whether a run's file may be released once settled. Only an ended run's: a running one may
/// append its terminal event at any moment, and removing the file then would lose it.
fn has_ended(run: &SpooledRun, store: &LineageStore) -> Result<bool, StoreError> {
    Ok(run.has_ended() || store.has_ended(run.events[0].head.run.run_id)?)
}

/// Releases the spool files of `runs` once every commit so far is on disk: the spool is the
/// record of last resort, and gives an event up only once the store has it on disk, not only in
/// the page cache a power loss takes. How many files were removed.
fn release(spool: &Spool, syncer: &Syncer, runs: &[&SpooledRun]) -> Result<usize, FlushError> {
    if runs.is_empty() {
        return Ok(0);
    }
    syncer.sync()?;
    Ok(spool.release_all(runs)?)
}

/// How many events a flush stores in its first transaction; each next one stores twice as
/// many, up to [`LAST_BATCH`]. Small first, so that releasing files (which waits on the disk)
/// starts early and goes on while the rest is stored; large later, since each commit writes
/// every index page its batch touched, and a backlog's index inserts touch most of them. At
/// 100,000 runs, batches of 8,192 events cost 25% more CPU than one transaction.
const FIRST_BATCH: usize = 4096;
const LAST_BATCH: usize = 65_536;

/// What [`store_spool`] did.
#[derive(Debug)]
struct Stored {
    /// What reading the spool moved aside or skipped, and the runs kept for delivery.
    scan: Scan,
    runs: usize,
    events: usize,
    /// Events the store did not have.
    stored: usize,
    /// Spool files released.
    released: usize,
}

/// Stores everything spooled, in transactions of `first_batch` events, then twice as many
/// each (up to [`LAST_BATCH`]), in [`LineageStore::bulk`]: a thread reads
/// and parses spool files while this one stores the batch read before (two cores do what one
/// did after the other). With `release_ended`, each batch's files of ended runs are released by a
/// third thread once the batch is on disk, while the next batch is stored; otherwise the runs
/// are kept in the scan returned.
///
/// A store error stops the reading and leaves the files of the batch that failed, and of every
/// batch after it, spooled; the batches committed before it are in the store.
fn store_spool(
    spool: &Spool,
    store: &mut LineageStore,
    release_ended: bool,
    first_batch: usize,
) -> Result<Stored, FlushError> {
    let syncer = store.syncer();
    std::thread::scope(|scope| {
        // One batch read ahead: reading is the cheaper half, and memory stays two batches.
        let (batches, read) = std::sync::mpsc::sync_channel::<Vec<SpooledRun>>(1);
        let reader = scope.spawn(move || {
            let (mut batch, mut events, mut size) = (Vec::new(), 0, first_batch);
            let scan = spool.scan_each(|run| {
                events += run.events.len();
                batch.push(run);
                if events < size {
                    return ControlFlow::Continue(());
                }
                events = 0;
                size = (size * 2).min(LAST_BATCH);
                match batches.send(std::mem::take(&mut batch)) {
                    Ok(()) => ControlFlow::Continue(()),
                    // The store failed: what is left stays spooled.
                    Err(_) => ControlFlow::Break(()),
                }
            });
            if !batch.is_empty() {
                let _ = batches.send(batch);
            }
            scan
        });
        let (to_release, releasable) = std::sync::mpsc::channel::<Vec<SpooledRun>>();
        let releaser = scope.spawn(move || {
            let mut released = 0;
            for batch in releasable {
                released += release(spool, &syncer, &batch.iter().collect::<Vec<_>>())?;
            }
            Ok::<_, FlushError>(released)
        });
        let mut stored = Stored {
            scan: Scan::default(),
            runs: 0,
            events: 0,
            stored: 0,
            released: 0,
        };
        let mut kept = Vec::new();
        store.bulk(|store| {
            for batch in read {
                stored.runs += batch.len();
                stored.events += batch.iter().map(|run| run.events.len()).sum::<usize>();
                stored.stored += store
                    .ingest_json(batch.iter().flat_map(SpooledRun::entries))?
                    .new;
                if !release_ended {
                    kept.extend(batch);
                    continue;
                }
                let mut ended = Vec::with_capacity(batch.len());
                for run in batch {
                    if has_ended(&run, store)? {
                        ended.push(run);
                    }
                }
                // Gone only when the releaser failed, which its join reports.
                let _ = to_release.send(ended);
            }
            Ok::<_, FlushError>(())
        })??;
        drop(to_release);
        stored.scan = Scan {
            runs: kept,
            ..join(reader)?
        };
        stored.released = join(releaser)?;
        Ok(stored)
    })
}

/// What a scoped thread returned; its panic goes on in the caller.
fn join<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run_id(n: usize) -> uuid::Uuid {
        uuid::Uuid::parse_str(&format!("0193a8f0-0000-7000-8000-{n:012}")).unwrap()
    }

    /// A spool of `runs` ended runs (a START and a COMPLETE each) of jobs `job-<n>`, oldest
    /// first, and the store beside it.
    fn spooled(runs: usize) -> (tempfile::TempDir, LineagePaths, Spool) {
        let dir = tempfile::tempdir().unwrap();
        let paths = LineagePaths::under(dir.path());
        let spool = Spool::new(&paths.spool);
        for n in 0..runs {
            for (second, event_type) in [(0, "START"), (1, "COMPLETE")] {
                let event: RunEvent = serde_json::from_value(json!({
                    "eventType": event_type,
                    "eventTime": format!("2026-01-01T00:{n:02}:{second:02}Z"),
                    "run": {"runId": run_id(n)},
                    "job": {"namespace": "default", "name": format!("job-{n}")},
                    "outputs": [{"namespace": "default", "name": format!("dataset-{n}")}],
                    "producer": "https://datakit.infoblox.dev/dk/test",
                    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                }))
                .unwrap();
                spool.append(&event).unwrap();
            }
        }
        (dir, paths, spool)
    }

    fn spool_file(paths: &LineagePaths, n: usize) -> PathBuf {
        paths.spool.join(format!("{}.jsonl", run_id(n)))
    }

    #[test]
    fn a_file_that_cannot_be_read_mid_pipeline_is_moved_aside_and_the_rest_stored_and_released() {
        let (_dir, paths, spool) = spooled(6);
        std::fs::write(spool_file(&paths, 3), b"not an event\n").unwrap();
        let mut store = LineageStore::open(&paths.store).unwrap();
        // A first batch of one run: the bad file is read while it is stored and released.
        let stored = store_spool(&spool, &mut store, true, 2).unwrap();
        assert_eq!((stored.runs, stored.events, stored.stored), (5, 10, 10));
        assert_eq!(stored.released, 5);
        assert_eq!(stored.scan.quarantined.len(), 1, "{:?}", stored.scan);
        assert!(stored.scan.runs.is_empty());
        assert!(spool.scan().unwrap().runs.is_empty());
        assert_eq!(spool.quarantine().unwrap().len(), 1);
        assert_eq!(store.events(Some(run_id(3))).unwrap().len(), 0);
        assert_eq!(store.events(Some(run_id(4))).unwrap().len(), 2);
    }

    #[test]
    fn a_store_error_leaves_the_failing_batch_and_every_later_one_spooled() {
        let (_dir, paths, spool) = spooled(6);
        let bytes: Vec<Vec<u8>> = (0..6)
            .map(|n| std::fs::read(spool_file(&paths, n)).unwrap())
            .collect();
        let mut store = LineageStore::open(&paths.store).unwrap();
        store
            .connection
            .execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.job_name = 'job-3'
                 BEGIN SELECT RAISE(ABORT, 'refused'); END",
            )
            .unwrap();
        // A first batch of runs 0 and 1, committed; the second (runs 2 to 5) fails at run 3.
        let error = store_spool(&spool, &mut store, true, 4).unwrap_err();
        assert!(error.to_string().contains("refused"), "{error}");
        assert!(!spool_file(&paths, 0).exists() && !spool_file(&paths, 1).exists());
        for (n, bytes) in bytes.iter().enumerate().skip(2) {
            assert_eq!(
                &std::fs::read(spool_file(&paths, n)).unwrap(),
                bytes,
                "run {n}"
            );
            assert_eq!(store.events(Some(run_id(n))).unwrap().len(), 0, "run {n}");
        }
        assert_eq!(store.events(Some(run_id(1))).unwrap().len(), 2);

        store
            .connection
            .execute_batch("DROP TRIGGER refuse")
            .unwrap();
        let stored = store_spool(&spool, &mut store, true, 4).unwrap();
        assert_eq!((stored.runs, stored.stored, stored.released), (4, 8, 4));
        assert!(spool.scan().unwrap().runs.is_empty());
    }

    #[test]
    fn with_a_backend_the_runs_are_kept_for_delivery_and_nothing_is_released() {
        let (_dir, paths, spool) = spooled(3);
        let mut store = LineageStore::open(&paths.store).unwrap();
        let stored = store_spool(&spool, &mut store, false, 2).unwrap();
        assert_eq!((stored.runs, stored.stored, stored.released), (3, 6, 0));
        assert_eq!(stored.scan.runs.len(), 3);
        assert!((0..3).all(|n| spool_file(&paths, n).exists()));
    }
}
