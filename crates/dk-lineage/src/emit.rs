//! Recording and delivering a run's events: spool first, then the local store, then the
//! backend. A run never waits on a backend for longer than its deadline; what is not delivered
//! stays spooled and goes out with the next flush (the next run, or `dk lineage flush`).

use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::deliver::{Deliverer, Outcome};
use crate::event::{EventHead, RunEvent};
use crate::spool::{Spool, SpoolError, SpooledRun};
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
        Ok(match &mut self.store {
            Ok(store) => EventHead::parse(&json)
                .map_err(StoreError::from)
                .and_then(|head| store.ingest_json([(&head, json.as_str())]))
                .err()
                .map(|err| err.to_string()),
            Err(message) => Some(message.clone()),
        })
    }
}

/// What a flush did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlushReport {
    pub runs: usize,
    pub events: usize,
    pub stored: usize,
    pub delivered: usize,
    pub rejected: usize,
    pub pending: usize,
    /// Spool files whose events are all stored and settled, and were removed.
    pub released: usize,
    pub unreadable_lines: usize,
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

/// The store brought up to date with the spool (events whose store write had failed), and the
/// keys of the events still spooled. Nothing is released: looking must not settle what a
/// backend still waits for.
pub fn sync_store(
    paths: &LineagePaths,
) -> Result<(LineageStore, std::collections::HashSet<String>), FlushError> {
    let mut store = LineageStore::open(&paths.store)?;
    let mut spooled = std::collections::HashSet::new();
    for run in Spool::new(&paths.spool).runs()? {
        store.ingest_json(run.entries())?;
        spooled.extend(run.events.iter().map(|event| event.head.key()));
    }
    Ok((store, spooled))
}

/// Ingests everything spooled into the store, delivers what has not been delivered (when there is
/// a `deliverer`) until the deadline in `deadline`, and releases settled spool files. The deadline
/// may be moved while the flush runs (a run shortens it when it ends).
pub async fn flush(
    paths: &LineagePaths,
    deliverer: Option<&Deliverer>,
    deadline: watch::Receiver<Instant>,
) -> Result<FlushReport, FlushError> {
    let spool = Spool::new(&paths.spool);
    let mut store = LineageStore::open(&paths.store)?;
    let mut report = FlushReport::default();
    let runs = spool.runs()?;
    // One transaction for everything: a commit per run would bound ingestion by commits.
    report.stored = store
        .ingest_json(runs.iter().flat_map(SpooledRun::entries))?
        .new;
    for run in runs {
        report.runs += 1;
        report.events += run.events.len();
        report.unreadable_lines += run.unreadable_lines;
        let mut settled = true;
        if let Some(deliverer) = deliverer {
            let target = deliverer.target().id();
            for event in &run.events {
                let key = event.head.key();
                if store.is_settled(&key, &target)? {
                    continue;
                }
                let (outcome, requests) = deliverer.send(&event.json, &deadline).await;
                let (state, error) = match outcome {
                    Outcome::Delivered => {
                        report.delivered += 1;
                        (DeliveryState::Delivered, None)
                    }
                    Outcome::Rejected(error) => {
                        report.rejected += 1;
                        (DeliveryState::Rejected, Some(error))
                    }
                    Outcome::Pending(error) => {
                        report.pending += 1;
                        settled = false;
                        (DeliveryState::Pending, Some(error))
                    }
                };
                store.record_delivery(&key, &target, state, error.as_deref(), requests)?;
                if error.is_some() {
                    report.last_error = error;
                }
            }
        }
        // Only an ended run's file: a running one may append its terminal event at any moment,
        // and removing the file then would lose it.
        if settled && run.unreadable_lines == 0 && run.has_ended() {
            spool.release(&run)?;
            report.released += 1;
        }
    }
    Ok(report)
}
