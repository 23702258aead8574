//! The spool: every event is appended (and synced) to `$DK_HOME/lineage/spool/<runId>.jsonl`
//! before anything else happens to it, so that no event is lost when the store, the network or
//! the process fails. A file leaves the spool once its run has ended and all its events are
//! stored and delivered.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::event::{EventHead, RunEvent};

#[derive(Debug, thiserror::Error)]
#[error("lineage spool {path}: {source}")]
pub struct SpoolError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// The largest spool file read: a run's events are a few KiB each, and a run has a handful.
const SPOOL_FILE_LIMIT: u64 = 256 << 20;

/// The spool directory.
#[derive(Debug, Clone)]
pub struct Spool {
    dir: PathBuf,
}

/// The events of one spooled run.
#[derive(Debug)]
pub struct SpooledRun {
    pub path: PathBuf,
    pub events: Vec<SpooledEvent>,
    /// Lines that are not events (a write cut short by a crash).
    pub unreadable_lines: usize,
}

/// An event as spooled: its JSON, sent and stored as is, and what the store reads of it.
#[derive(Debug, Clone)]
pub struct SpooledEvent {
    pub head: EventHead,
    pub json: String,
}

impl SpooledRun {
    /// Whether the run's terminal event (COMPLETE, FAIL or ABORT) is spooled: nothing more is
    /// appended to its file after that.
    pub fn has_ended(&self) -> bool {
        self.events.iter().any(|e| e.head.event_type.is_terminal())
    }

    /// Each event's head with its JSON.
    pub fn entries(&self) -> impl Iterator<Item = (&EventHead, &str)> {
        self.events
            .iter()
            .map(|event| (&event.head, event.json.as_str()))
    }
}

impl Spool {
    pub fn new(dir: impl Into<PathBuf>) -> Spool {
        Spool { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, run: Uuid) -> PathBuf {
        self.dir.join(format!("{run}.jsonl"))
    }

    /// Appends an event to its run's file, syncs it to disk and returns its JSON.
    pub fn append(&self, event: &RunEvent) -> Result<String, SpoolError> {
        let path = self.file(event.run.run_id);
        let error = |source| SpoolError {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(|source| SpoolError {
            path: self.dir.clone(),
            source,
        })?;
        let mut line = serde_json::to_string(event).map_err(|e| error(e.into()))?;
        line.push('\n');
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            // A FIFO or a link in the place of a run's file must neither block nor redirect it.
            .custom_flags(
                (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW).bits() as i32,
            )
            .open(&path)
            .map_err(error)?;
        file.write_all(line.as_bytes()).map_err(error)?;
        file.sync_data().map_err(error)?;
        line.pop();
        Ok(line)
    }

    /// Every spooled run, oldest file first.
    pub fn runs(&self) -> Result<Vec<SpooledRun>, SpoolError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(SpoolError {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "jsonl"))
            .collect();
        // UUIDv7 file names sort by time.
        paths.sort();
        let mut runs = Vec::with_capacity(paths.len());
        for path in paths {
            let file = match dk_fs::open_regular(&path, SPOOL_FILE_LIMIT) {
                Ok((file, _)) => file,
                // Not something dk spooled (a FIFO would block a plain open): left alone.
                Err(dk_fs::FsError::NotRegular { .. }) => continue,
                Err(err) => {
                    return Err(SpoolError {
                        path: path.clone(),
                        source: std::io::Error::other(err),
                    });
                }
            };
            let mut events = Vec::new();
            let mut unreadable_lines = 0;
            // The cap holds even for a file that grows while it is read.
            for line in BufReader::new(file.take(SPOOL_FILE_LIMIT)).lines() {
                let line = line.map_err(|source| SpoolError {
                    path: path.clone(),
                    source,
                })?;
                match EventHead::parse(&line) {
                    Ok(head) => events.push(SpooledEvent { head, json: line }),
                    Err(_) if line.trim().is_empty() => {}
                    Err(_) => unreadable_lines += 1,
                }
            }
            runs.push(SpooledRun {
                path,
                events,
                unreadable_lines,
            });
        }
        Ok(runs)
    }

    /// Removes a run's file once nothing in it is pending.
    pub fn release(&self, run: &SpooledRun) -> Result<(), SpoolError> {
        match std::fs::remove_file(&run.path) {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SpoolError {
                path: run.path.clone(),
                source,
            }),
        }
    }
}
