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

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
        let made = exec::write_private(&staging.join(OWNER_FILE), &text).and_then(|()| {
            std::fs::rename(&staging, run_dir).map_err(|source| {
                ExecError::from(dk_fs::FsError::Io {
                    path: run_dir.to_owned(),
                    source,
                })
            })
        });
        if made.is_err() {
            // A full disk, say: nothing half-made stays.
            let _ = std::fs::remove_dir_all(&staging);
        }
        made
    }

    /// Why the run ended without its dk: the `errorMessage` of the ABORT.
    pub fn abort_message(dk_pid: u32) -> String {
        format!(
            "dk (pid {dk_pid}) ended before the run did (killed, or the machine stopped); a later dk command recorded this ABORT"
        )
    }
}

/// A run that a later command ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recovered {
    pub run_id: String,
    pub dk_pid: u32,
    /// The ABORT was recorded (the run had lineage and had started).
    pub aborted: bool,
}

/// What [`recover`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
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
    // Only a real folder of this user's: a link there (or another user's folder) could point
    // recovery at files it must not remove.
    let Ok(runs_fd) = own(rustix::fs::CWD, &runs, OFlags::DIRECTORY) else {
        return recovery;
    };
    dk_fs::sweep_stale_temporaries(&runs);
    let Ok(entries) = std::fs::read_dir(&runs) else {
        return recovery;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    for name in names {
        let dir = runs.join(&name);
        let Some(owner) = read_owner(&runs_fd, &name) else {
            continue;
        };
        // An owner record copied from another run's folder names that run: not this one's.
        if owner
            .abort
            .as_ref()
            .is_some_and(|abort| abort.run.run_id.to_string() != name)
        {
            continue;
        }
        if alive(owner.dk_pid, owner.dk_start) {
            continue;
        }
        let owner_pid = owner.dk_pid;
        let run_id = name;
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

/// Opens `path` beneath `dir` without following a link, if it is this user's.
fn own(dir: impl AsFd, path: &Path, kind: OFlags) -> Result<OwnedFd, rustix::io::Errno> {
    let fd = rustix::fs::openat(
        dir,
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | kind,
        Mode::empty(),
    )?;
    let stat = rustix::fs::fstat(&fd)?;
    if stat.st_uid != rustix::process::getuid().as_raw() {
        return Err(rustix::io::Errno::PERM);
    }
    Ok(fd)
}

/// The owner record of run folder `name`: a real folder and a regular file, both this
/// user's, opened without following links.
fn read_owner(runs: &OwnedFd, name: &str) -> Option<Owner> {
    use std::io::Read;
    let dir = own(runs, Path::new(name), OFlags::DIRECTORY).ok()?;
    let fd = own(&dir, Path::new(OWNER_FILE), OFlags::empty()).ok()?;
    if !rustix::fs::fstat(&fd)
        .is_ok_and(|stat| FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile)
    {
        return None;
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(OWNER_LIMIT)
        .read_to_string(&mut text)
        .ok()?;
    serde_json::from_str(&text).ok()
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
