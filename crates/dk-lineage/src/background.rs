//! Delivery that never makes a command wait on a backend that is down.
//!
//! A run delivers in line within a short budget ([`InlineDelivery`]). The first failure
//! (connection refused, no answer within the budget, a 5xx) hands what is pending to a detached
//! background deliverer, as git hands its housekeeping to `gc --auto`: one per dk home, held by
//! `lineage/deliver.lock`, in a session of its own with its standard streams on
//! `lineage/deliver.log`, so that nothing reading dk's pipes waits for it. It retries in rounds,
//! each bounded by `lineage.timeout`, with jittered backoff or the backend's `Retry-After`, and
//! exits when nothing is pending or its rounds are spent. Where nothing outlives the command (a
//! Kubernetes pod), delivery is synchronous instead: no [`Handoff`].

use std::collections::hash_map::RandomState;
use std::ffi::OsString;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::deliver::Deliverer;
use crate::emit::{FlushError, FlushReport, LineagePaths, flush};

/// How dk starts its background deliverer: dk itself, with its hidden subcommand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    /// Variables the deliverer needs that must not show in its command line (the API key).
    pub env: Vec<(String, String)>,
}

/// Delivery in line within `budget`, then a handoff to the background deliverer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handoff {
    pub budget: Duration,
    pub launcher: Launcher,
}

/// The lock the running deliverer holds; it also holds its pid.
pub fn lock_path(paths: &LineagePaths) -> PathBuf {
    paths.store.with_file_name("deliver.lock")
}

/// Where the background deliverer writes what it does.
pub fn log_path(paths: &LineagePaths) -> PathBuf {
    paths.store.with_file_name("deliver.log")
}

/// Where the last delivery that found the backend down says so: the target's id. A hint only
/// (written without fsync): losing it costs one in-line attempt.
pub fn down_path(paths: &LineagePaths) -> PathBuf {
    paths.store.with_file_name("backend-down")
}

/// How long a backend found down stays down for a run that has no background deliverer to
/// hand off to: about the longest pause between the deliverer's rounds.
const DOWN_MEMORY: Duration = Duration::from_secs(60);

/// Records that a delivery to `target` found it down (connection refused, no answer, a 5xx),
/// or, with `down` false, that it took events.
pub fn remember(paths: &LineagePaths, target: &str, down: bool) {
    let path = down_path(paths);
    if !down {
        let _ = std::fs::remove_file(&path);
        return;
    }
    if let Ok(mut file) = dk_fs::open_own(&path, true) {
        let _ = file
            .set_len(0)
            .and_then(|()| file.write_all(target.as_bytes()));
    }
}

/// Whether the last delivery to `target` found it down, recently or with a deliverer still
/// retrying: a run then hands its events to the deliverer at once instead of trying in line
/// (and rereading the backlog) again.
pub fn found_down(paths: &LineagePaths, target: &str) -> bool {
    let path = down_path(paths);
    let Ok(mut file) = dk_fs::open_own(&path, false) else {
        return false;
    };
    let mut recorded = String::new();
    // A target id is a URL: far below this.
    if (&mut file)
        .take(64 * 1024)
        .read_to_string(&mut recorded)
        .is_err()
        || recorded != target
    {
        return false;
    }
    let recent = file
        .metadata()
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|modified| modified.elapsed().ok())
        .is_some_and(|age| age < DOWN_MEMORY);
    recent || running(paths).is_some()
}

fn try_lock(file: &File) -> Result<bool, rustix::io::Errno> {
    match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(err) => Err(err),
    }
}

/// Whether a background deliverer runs for this dk home, and its pid once it has written it.
pub fn running(paths: &LineagePaths) -> Option<Option<u32>> {
    let mut file = dk_fs::open_own(&lock_path(paths), false).ok()?;
    if try_lock(&file).ok()? {
        return None;
    }
    let mut pid = String::new();
    let _ = file.read_to_string(&mut pid);
    Some(pid.trim().parse().ok())
}

/// What [`start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    Spawned(u32),
    /// One is running already (its pid, when it has written it yet).
    Running(Option<u32>),
}

/// Starts the background deliverer unless one is running. It is not waited for: it outlives
/// the command.
pub fn start(paths: &LineagePaths, launcher: &Launcher) -> Result<Started, String> {
    if let Some(pid) = running(paths) {
        return Ok(Started::Running(pid));
    }
    let log_path = log_path(paths);
    let describe = |err: &dyn std::fmt::Display| format!("{}: {err}", log_path.display());
    if let Some(dir) = log_path.parent() {
        crate::private::dir(dir).map_err(|err| describe(&err))?;
    }
    let log = dk_fs::open_own(&log_path, true).map_err(|err| describe(&err))?;
    let mut log_end = log.try_clone().map_err(|err| describe(&err))?;
    log_end
        .seek(std::io::SeekFrom::End(0))
        .map_err(|err| describe(&err))?;
    let child = std::process::Command::new(&launcher.program)
        .args(&launcher.args)
        .envs(launcher.env.iter().cloned())
        .stdin(std::process::Stdio::null())
        .stdout(log_end.try_clone().map_err(|err| describe(&err))?)
        .stderr(log_end)
        // Not in a process group of its own: setsid, which it calls first (`detach`), refuses a
        // group leader.
        .spawn()
        .map_err(|err| format!("cannot start {}: {err}", launcher.program.display()))?;
    let pid = child.id();
    // Reaped if this command outlives it; dropped unwaited (and adopted by init) otherwise.
    std::thread::spawn(move || {
        let mut child = child;
        let _ = child.wait();
    });
    Ok(Started::Spawned(pid))
}

/// Makes the background deliverer the leader of a session of its own, with no terminal: no
/// hangup or Ctrl-C meant for the command that started it reaches it. What it calls first.
pub fn detach() {
    // Fails only for a process group leader, which `start` does not make it.
    let _ = rustix::process::setsid();
}

/// How the background deliverer retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rounds {
    /// Bounds each round (`lineage.timeout`).
    pub timeout: Duration,
    pub max_rounds: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl Rounds {
    pub fn new(timeout: Duration) -> Rounds {
        Rounds {
            timeout,
            max_rounds: 12,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
        }
    }

    /// The pause after `round` (from 0): exponential, with half of it random so that the
    /// deliverers of many machines do not return to a backend at the same moment.
    pub fn backoff(&self, round: u32) -> Duration {
        let full = self
            .first_backoff
            .saturating_mul(1 << round.min(16))
            .min(self.max_backoff);
        let half = full / 2;
        let random = RandomState::new().hash_one(round) % (half.as_millis() as u64 + 1);
        half + Duration::from_millis(random)
    }
}

/// How the background deliverer ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Served {
    /// Nothing left to send.
    Done,
    /// Its rounds are spent; the next run, test, dev or lineage command starts another.
    GaveUp { pending: usize },
    /// Another deliverer holds the lock.
    AlreadyRunning,
    /// The spool or store cannot be used (the dk home was removed, say).
    Failed(String),
}

/// How long a starting deliverer waits for the lock: a command that looked at it a moment ago
/// (`dk lineage events`) may still hold it.
const LOCK_WAIT: Duration = Duration::from_millis(300);

/// The background deliverer: rounds of delivery until nothing is pending or the rounds are
/// spent. `note` receives a line per round (the command writes it to the log).
pub async fn serve(
    paths: &LineagePaths,
    deliverer: &Deliverer,
    rounds: Rounds,
    mut note: impl FnMut(String),
) -> Served {
    let lock = match hold(paths).await {
        Ok(Some(lock)) => lock,
        Ok(None) => return Served::AlreadyRunning,
        Err(err) => return Served::Failed(err),
    };
    let deliverer = deliverer.in_line();
    let mut pending = 0;
    for round in 0..rounds.max_rounds {
        let (_deadline, watch) = watch::channel(Instant::now() + rounds.timeout);
        match flush(paths, Some(&deliverer), watch).await {
            Ok(report) => {
                note(round_line(round, &report));
                pending = report.pending;
                if pending == 0 && report.last_error.is_none() {
                    drop(lock);
                    return Served::Done;
                }
            }
            Err(err) => return Served::Failed(err.to_string()),
        }
        let pause = deliverer.take_retry_after().map_or_else(
            || rounds.backoff(round),
            |after| after.max(rounds.first_backoff),
        );
        tokio::time::sleep(pause).await;
    }
    Served::GaveUp { pending }
}

fn round_line(round: u32, report: &FlushReport) -> String {
    let mut line = format!(
        "round {}: {} delivered, {} rejected, {} pending",
        round + 1,
        report.delivered,
        report.rejected,
        report.pending
    );
    if let Some(error) = &report.last_error {
        line.push_str(&format!(" ({error})"));
    }
    line
}

/// The deliverer's lock, with its pid written in it; `None` when another deliverer holds it.
async fn hold(paths: &LineagePaths) -> Result<Option<File>, String> {
    let path = lock_path(paths);
    let describe = |err: &dyn std::fmt::Display| format!("{}: {err}", path.display());
    let mut file = dk_fs::open_own(&path, true).map_err(|err| describe(&err))?;
    let until = Instant::now() + LOCK_WAIT;
    loop {
        match try_lock(&file) {
            Ok(true) => break,
            Ok(false) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Ok(false) => return Ok(None),
            Err(err) => return Err(describe(&err)),
        }
    }
    file.set_len(0).map_err(|err| describe(&err))?;
    file.rewind().map_err(|err| describe(&err))?;
    write!(file, "{}", std::process::id()).map_err(|err| describe(&err))?;
    Ok(Some(file))
}

/// How long a request still in flight when the pipeline ends may take to be answered, with a
/// handoff.
const IN_FLIGHT_GRACE: Duration = Duration::from_millis(10);

/// What counting the pending events may take, when the budget is spent: reading the spool and
/// the store, no request.
const COUNT_TIME: Duration = Duration::from_millis(500);

/// A run's delivery: started alongside the pipeline, finished after its terminal event.
#[derive(Debug)]
pub struct InlineDelivery {
    paths: LineagePaths,
    /// `None` without a backend: the flush at the end then only settles events locally.
    deliverer: Option<Deliverer>,
    handoff: Option<Handoff>,
    /// The backend was found down just before: everything goes to the background deliverer.
    down: bool,
    /// The wait at the end without a handoff (`lineage.timeout`).
    wait: Duration,
    deadline: watch::Sender<Instant>,
    first: Option<JoinHandle<Result<FlushReport, FlushError>>>,
}

/// What a run's delivery did.
#[derive(Debug, Default)]
pub struct Delivered {
    /// The reports of the passes, or why one failed; none when the backend was found down just
    /// before and everything went to the background deliverer at once.
    pub passes: Vec<Result<FlushReport, String>>,
    /// Set when what is pending went to the background deliverer (or could not).
    pub handoff: Option<Result<Started, String>>,
}

impl InlineDelivery {
    /// Starts delivering what is spooled (the run's START) while the pipeline runs. With a
    /// handoff, this pass has the budget from now; without, it runs until [`finish`].
    ///
    /// [`finish`]: InlineDelivery::finish
    pub fn start(
        paths: &LineagePaths,
        deliverer: Option<&Deliverer>,
        wait: Duration,
        handoff: Option<Handoff>,
    ) -> InlineDelivery {
        let handoff = handoff.filter(|_| deliverer.is_some());
        let down = match (&handoff, deliverer) {
            (Some(_), Some(deliverer)) => found_down(paths, &deliverer.target().id()),
            _ => false,
        };
        // Handed off at once: nothing is sent, read or counted in line.
        let deliverer = deliverer.filter(|_| !down);
        let (deliverer, end) = match &handoff {
            Some(handoff) => (
                deliverer.map(Deliverer::in_line),
                Instant::now() + handoff.budget,
            ),
            None => (
                deliverer.cloned(),
                Instant::now() + Duration::from_secs(24 * 3600),
            ),
        };
        let (deadline, watch) = watch::channel(end);
        // A run may last hours (a streaming one, for ever): what the budget could not send goes
        // to the background deliverer now, not when the pipeline ends. [`finish`] starts it again
        // if it has ended by then, for the terminal event.
        //
        // [`finish`]: InlineDelivery::finish
        let launcher = handoff.as_ref().map(|handoff| handoff.launcher.clone());
        if let (true, Some(launcher)) = (down, &launcher) {
            let _ = start(paths, launcher);
        }
        let first = deliverer.clone().map(|deliverer| {
            let paths = paths.clone();
            tokio::spawn(async move {
                let report = flush(&paths, Some(&deliverer), watch).await;
                let settled = matches!(&report, Ok(report) if report.pending == 0);
                if let (false, Some(launcher)) = (settled, &launcher) {
                    let _ = start(&paths, launcher);
                }
                report
            })
        });
        InlineDelivery {
            paths: paths.clone(),
            deliverer,
            handoff,
            down,
            wait,
            deadline,
            first,
        }
    }

    /// Delivers the terminal event (and whatever the first pass left): within `lineage.timeout`
    /// without a handoff; with one, within the budget, and only when the backend answered the
    /// first pass (by the end of the pipeline, or [`IN_FLIGHT_GRACE`] after), handing what is
    /// still pending to the background deliverer.
    pub async fn finish(mut self) -> Delivered {
        let mut delivered = Delivered::default();
        if let (true, Some(handoff)) = (self.down, &self.handoff) {
            delivered.handoff = Some(start(&self.paths, &handoff.launcher));
            return delivered;
        }
        // START unanswered for the whole run of the pipeline is a backend that hangs (or is far
        // slower than a run): it gets a moment more, not the rest of the budget.
        let end = match &self.handoff {
            Some(_) => (*self.deadline.borrow()).min(Instant::now() + IN_FLIGHT_GRACE),
            None => Instant::now() + self.wait,
        };
        let _ = self.deadline.send(end);
        let first = match self.first.as_mut() {
            Some(first) => match tokio::time::timeout_at(end, &mut *first).await {
                Ok(Ok(result)) => Some(result.map_err(|err| err.to_string())),
                Ok(Err(err)) => Some(Err(err.to_string())),
                Err(_) => {
                    // Stopped so that two flushes never send the same event at once.
                    first.abort();
                    None
                }
            },
            None => None,
        };
        // A backend that took nothing in line is down: nothing more is tried in line.
        let answered = self.first.is_none()
            || matches!(&first, Some(Ok(report)) if report.pending == 0 || report.delivered > 0);
        delivered.passes.extend(first);
        // Still run without time (the deadline passed) to count what is pending, the terminal
        // event included; the first pass said why.
        let second_end = match &self.handoff {
            Some(handoff) if answered => Instant::now() + handoff.budget,
            Some(_) => Instant::now(),
            None => end,
        };
        let (_deadline, watch) = watch::channel(second_end);
        let pass = tokio::time::timeout_at(
            second_end.max(Instant::now() + COUNT_TIME),
            flush(&self.paths, self.deliverer.as_ref(), watch),
        )
        .await;
        delivered.passes.push(match pass {
            Ok(Ok(mut report)) => {
                if !answered && self.handoff.is_some() {
                    report.last_error = None;
                }
                Ok(report)
            }
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("lineage delivery did not finish in time; events stay spooled".into()),
        });
        let settled = matches!(delivered.passes.last(), Some(Ok(report)) if report.pending == 0);
        if let (Some(handoff), false) = (&self.handoff, settled) {
            delivered.handoff = Some(start(&self.paths, &handoff.launcher));
        }
        delivered
    }
}

/// Starts the background deliverer when events wait for `target`: what a command does first, so
/// that events left by a run that could not deliver (or by a deliverer that gave up) go out.
pub fn recover(
    paths: &LineagePaths,
    target: &str,
    launcher: &Launcher,
) -> Result<Option<Started>, String> {
    if !paths.store.exists() || running(paths).is_some() {
        return Ok(None);
    }
    let pending = crate::store::LineageStore::open(&paths.store)
        .and_then(|store| store.pending(target))
        .map_err(|err| err.to_string())?;
    if pending == 0 {
        return Ok(None);
    }
    start(paths, launcher).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_within_its_bounds() {
        let rounds = Rounds::new(Duration::from_secs(2));
        for round in 0..20 {
            let full =
                (Duration::from_millis(500) * 2u32.pow(round.min(16))).min(rounds.max_backoff);
            let pause = rounds.backoff(round);
            assert!(
                pause >= full / 2 && pause <= full,
                "round {round}: {pause:?}"
            );
        }
    }

    #[tokio::test]
    async fn one_deliverer_holds_the_lock() {
        let home = tempfile::tempdir().unwrap();
        let paths = LineagePaths::under(home.path());
        std::fs::create_dir_all(paths.store.parent().unwrap()).unwrap();
        let held = hold(&paths).await.unwrap().expect("the lock is free");
        assert_eq!(running(&paths), Some(Some(std::process::id())));
        assert!(hold(&paths).await.unwrap().is_none(), "a second deliverer");
        drop(held);
        assert_eq!(running(&paths), None);
    }
}
