//! Runs whose dk is gone (killed with SIGKILL, or the machine stopped): the next dk command
//! ends them for good.
//!
//! Every run records its owner in its private folder (`runs/<runId>/owner.json`): dk's pid and
//! start time, and, once its START is recorded, the ABORT that ends it if dk cannot. A later
//! command whose owner is gone records that ABORT (its `errorMessage` says why) and removes
//! the folder, with the context and generated profiles that hold DSNs. A folder whose owner
//! still runs, or that has no owner record yet, is another dk's and is left alone.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use dk_lineage::emit::{LineagePaths, Recorder};
use dk_lineage::event::{self, RunEvent};

use crate::exec::{self, ExecError};
use crate::process::{alive, start_time};

const OWNER_FILE: &str = "owner.json";
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
        exec::write_private(
            &run_dir.join(OWNER_FILE),
            &serde_json::to_string(self).unwrap_or_default(),
        )
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
    let Ok(entries) = std::fs::read_dir(dk_home.join("runs")) else {
        return recovery;
    };
    let mut dirs: Vec<PathBuf> = entries.flatten().map(|entry| entry.path()).collect();
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
        let run_id = dir
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let aborted = match owner.abort {
            Some(mut abort) => {
                abort.event_time = event::format_time(now);
                let mut recorder = Recorder::open(&LineagePaths::under(dk_home));
                match recorder.record(&abort) {
                    Ok(_) => true,
                    Err(err) => {
                        // Kept: the ABORT is tried again by the next command.
                        recovery
                            .warnings
                            .push(format!("cannot record the ABORT of run {run_id}: {err}"));
                        continue;
                    }
                }
            }
            None => false,
        };
        if let Err(err) = std::fs::remove_dir_all(&dir) {
            recovery.warnings.push(format!(
                "cannot remove {} (it may hold DSNs): {err}",
                dir.display()
            ));
        }
        recovery.recovered.push(Recovered {
            run_id,
            dk_pid: owner.dk_pid,
            aborted,
        });
    }
    recovery
}
