//! Recording and delivering a run's events: spool first, then the local store, then the
//! backend. A run never waits on a backend for longer than its deadline; what is not delivered
//! stays spooled and goes out with the next flush (the next run, or `dk lineage flush`).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::deliver::{Deliverer, Outcome};
use crate::event::{EventHead, RunEvent};
use crate::spool::{Quarantined, Scan, Spool, SpoolError, SpooledRun};
use crate::store::{DeliveryState, LineageStore, StoreError};

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
    let scan = spool.scan()?;
    let mut report = FlushReport {
        runs: scan.runs.len(),
        events: scan.runs.iter().map(|run| run.events.len()).sum(),
        quarantined: scan.quarantined.len(),
        warnings: warnings(&scan),
        ..FlushReport::default()
    };
    // One transaction for everything: a commit per run would bound ingestion by commits.
    report.stored = store
        .ingest_json(scan.runs.iter().flat_map(SpooledRun::entries))?
        .new;
    let target = deliverer.map(|deliverer| deliverer.target().id());
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
    for run in &scan.runs {
        let settled = match &target {
            Some(target) => run
                .events
                .iter()
                .map(|event| store.is_settled(&event.head.key(), target))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .all(|settled| settled),
            None => true,
        };
        // Only an ended run's file: a running one may append its terminal event at any moment,
        // and removing the file then would lose it.
        let ended = run.has_ended() || store.has_ended(run.events[0].head.run.run_id)?;
        if settled && ended {
            releasable.push(run);
        }
    }
    if !releasable.is_empty() {
        // The spool is the record of last resort: it gives an event up only once the store
        // has it on disk, not only in the page cache a power loss takes.
        store.sync()?;
    }
    report.released = spool.release_all(&releasable)?;
    Ok(report)
}
