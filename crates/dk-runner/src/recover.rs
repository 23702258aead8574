//! Runs whose dk is gone (killed with SIGKILL, or the machine stopped): the next dk command
//! ends them for good.
//!
//! Every run records its owner in its private folder (`runs/<runId>/owner.json`): dk's pid and
//! start time, and, once its START is recorded, the ABORT that ends it if dk cannot. A later
//! command whose owner is gone records that ABORT (its `errorMessage` says why) and removes
//! the folder, with the context and generated profiles that hold DSNs. A folder whose owner
//! still runs, or that has no owner record yet, is another dk's and is left alone.
//!
//! A later command may itself be killed at any point of this, and the next one starts over. An
//! ABORT is recorded only for a run that the store (brought up to date with the spool first)
//! knows as started and not ended: not twice, not after the terminal event its dk recorded just
//! before it died, not for a run whose START never was. A run folder appears with its owner
//! record and goes in one step (renamed to a temporary first): a folder is never without it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use dk_lineage::emit::{LineagePaths, Recorder, sync_store};
use dk_lineage::event::{self, RunEvent};

use crate::exec::{self, ExecError};
use crate::process::{alive, start_time};

pub const OWNER_FILE: &str = "owner.json";
/// An owner record is an event and two numbers: far below this.
const OWNER_LIMIT: u64 = 1 << 20;

/// The dk that carries a run out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    pub dk_pid: u32,
    /// When known (`/proc`): tells dk from a later process that got its pid.
    pub dk_start: Option<u64>,
    /// The event that ends the run when its dk is gone; none before START is recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<RunEvent>,
}

impl Owner {
    /// This process, as the owner of a run.
    pub fn current(abort: Option<RunEvent>) -> Owner {
        let dk_pid = std::process::id();
        Owner {
            dk_pid,
            dk_start: start_time(dk_pid),
            abort,
        }
    }

    /// Records the owner in `run_dir` (created private when missing).
    pub fn write(&self, run_dir: &Path) -> Result<(), ExecError> {
        let text = serde_json::to_string(self).unwrap_or_default();
        let (Some(runs), Some(name), false) =
            (run_dir.parent(), run_dir.file_name(), run_dir.is_dir())
        else {
            return exec::write_private(&run_dir.join(OWNER_FILE), &text);
        };
        // A run folder appears with its owner record in it, never without (no later command
        // could tell whose it is): one that a killed dk was making is a temporary named with
        // its pid, which the next command sweeps.
        let staging = runs.join(format!(
            ".{}.{}.0.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        exec::write_private(&staging.join(OWNER_FILE), &text)?;
        std::fs::rename(&staging, run_dir).map_err(|source| {
            ExecError::from(dk_fs::FsError::Io {
                path: run_dir.to_owned(),
                source,
            })
        })
    }

    /// Why the run ended without its dk: the `errorMessage` of the ABORT.
    pub fn abort_message(dk_pid: u32) -> String {
        format!(
            "dk (pid {dk_pid}) ended before the run did (killed, or the machine stopped); a later dk command recorded this ABORT"
        )
    }
}

/// A run that a later command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recovered {
    pub run_id: String,
    pub dk_pid: u32,
    /// The ABORT was recorded (the run had lineage and had started).
    pub aborted: bool,
}

/// What [`recover`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recovery {
    pub recovered: Vec<Recovered>,
    /// Runs that could not be ended (their folder stays for the next command to try).
    pub warnings: Vec<String>,
}

/// Ends the runs below `dk_home` whose dk is gone: their ABORT (at `now`) goes to the spool
/// and store of `dk_home`, and their private folder is removed.
pub fn recover(dk_home: &Path, now: DateTime<Utc>) -> Recovery {
    let mut recovery = Recovery::default();
    let runs = dk_home.join("runs");
    dk_fs::sweep_stale_temporaries(&runs);
    let Ok(entries) = std::fs::read_dir(&runs) else {
        return recovery;
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .map(|entry| entry.path())
        .collect();
    dirs.sort();
    for dir in dirs {
        let Ok(text) = dk_fs::read_to_string(&dir.join(OWNER_FILE), OWNER_LIMIT) else {
            continue;
        };
        let Ok(owner) = serde_json::from_str::<Owner>(&text) else {
            continue;
        };
        if alive(owner.dk_pid, owner.dk_start) {
            continue;
        }
        let owner_pid = owner.dk_pid;
        let run_id = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let aborted = match abort(owner, dk_home, now) {
            Ok(aborted) => aborted,
            Err(err) => {
                // Kept: the ABORT is tried again by the next command.
                recovery
                    .warnings
                    .push(format!("cannot record the ABORT of run {run_id}: {err}"));
                continue;
            }
        };
        if let Err(err) = remove(&dir) {
            recovery.warnings.push(format!(
                "cannot remove {} (it may hold DSNs): {err}",
                dir.display()
            ));
        }
        let dk_pid = owner_pid;
        recovery.recovered.push(Recovered {
            run_id,
            dk_pid,
            aborted,
        });
    }
    recovery
}

/// Records the ABORT of a run whose dk is gone, when it started and has not ended; whether it
/// did.
fn abort(owner: Owner, dk_home: &Path, now: DateTime<Utc>) -> Result<bool, String> {
    let Some(mut abort) = owner.abort else {
        return Ok(false);
    };
    let paths = LineagePaths::under(dk_home);
    // What the dead dk (or a recovery killed midway) spooled but did not store counts.
    let known = sync_store(&paths)
        .and_then(|synced| Ok(synced.store.run_state(abort.run.run_id)?))
        .map_err(|err| err.to_string())?;
    if known != Some(false) {
        return Ok(false);
    }
    abort.event_time = event::format_time(now);
    Recorder::open(&paths)
        .record(&abort)
        .map_err(|err| err.to_string())?;
    Ok(true)
}

/// Removes everything in a run folder but its owner record: what a run does as soon as its
/// pipeline has ended (the owner record stays until its terminal event is recorded).
pub fn scrub(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_name() == OWNER_FILE {
            continue;
        }
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Removes a run folder in one step: it is renamed to a temporary named with this pid first,
/// so that a removal killed midway leaves what the next command sweeps, never a folder that
/// has lost its owner record but not the rest.
pub fn remove(dir: &Path) -> std::io::Result<()> {
    let (Some(runs), Some(name)) = (dir.parent(), dir.file_name()) else {
        return std::fs::remove_dir_all(dir);
    };
    let doomed = runs.join(format!(
        ".{}.{}.1.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    match std::fs::rename(dir, &doomed) {
        Ok(()) => std::fs::remove_dir_all(&doomed),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    }
}
