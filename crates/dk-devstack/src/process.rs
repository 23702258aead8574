//! Programs the runtimes drive: background services with a pid file and a log, and tools run
//! to completion (`docker`, `k3d`, `helm`, `pg_ctl`).

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::status::StackError;

/// How long a stopped service gets to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Whether `pid` runs. A zombie does not: where nothing reaps orphans (pid 1 of many
/// containers), an exited service stays one until the container ends.
pub(crate) fn alive(pid: u32) -> bool {
    let exists = rustix::process::Pid::from_raw(pid as i32)
        .is_some_and(|pid| rustix::process::test_kill_process(pid).is_ok());
    exists && !zombie(pid)
}

fn zombie(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|fields| fields.first().is_some_and(|state| state == "Z"))
}

/// The largest `/proc` file read: a command line may be long, a `stat` line is short.
const PROC_LIMIT: u64 = 1 << 20;

/// The fields of `/proc/PID/stat` after the command, from field 3 (the state) on. The command
/// is in parentheses and may hold spaces and parentheses of its own.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = dk_fs::read_to_string(Path::new(&format!("/proc/{pid}/stat")), PROC_LIMIT).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// When a process started: field 22 of `/proc/PID/stat` (clock ticks after boot) and the boot
/// it started in. A pid file from before a reboot may name a pid another program has now; its
/// start differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
struct Start {
    boot: String,
    start_time: u64,
}

impl Start {
    fn of(pid: u32) -> Option<Start> {
        // Field 22 is the 20th after the command (fields 1 and 2).
        let start_time = stat_fields(pid)?.get(19)?.parse().ok()?;
        let boot = dk_fs::read_to_string(Path::new("/proc/sys/kernel/random/boot_id"), 64).ok()?;
        Some(Start {
            boot: boot.trim().to_owned(),
            start_time,
        })
    }
}

/// The command line of `pid`, one string per argument.
fn cmdline(pid: u32) -> Option<Vec<String>> {
    let bytes = dk_fs::read(Path::new(&format!("/proc/{pid}/cmdline")), PROC_LIMIT).ok()?;
    Some(
        bytes
            .split(|byte| *byte == 0)
            .filter(|arg| !arg.is_empty())
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect(),
    )
}

/// A pid file: the pid of a service dk started, when it started and the arguments dk gave it.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
struct PidRecord {
    pid: u32,
    #[serde(flatten)]
    start: Start,
    args: Vec<String>,
}

impl PidRecord {
    /// Whether `pid` is still the process this record describes. Its command line must end with
    /// the arguments dk gave: the program itself may differ, since a launcher (a shim, a script)
    /// may exec the real program, with the same arguments.
    fn matches_live(&self) -> bool {
        Start::of(self.pid).as_ref() == Some(&self.start)
            && cmdline(self.pid).is_some_and(|live| live.ends_with(&self.args))
    }
}

/// The largest pid file read.
const PID_FILE_LIMIT: u64 = 64 << 10;

/// What a pid file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recorded {
    /// No pid file, or nothing runs under its pid.
    Gone,
    /// The process dk started: the same pid, start time and boot, and its arguments.
    Ours(u32),
    /// Another program has the pid now (or the file does not say who dk started): it is never
    /// signalled.
    Stranger(u32),
}

/// What `pid_file` names. A pid file that is not a regular file (a FIFO) reads as none.
pub(crate) fn recorded(pid_file: &Path) -> Recorded {
    let Ok(text) = dk_fs::read_to_string(pid_file, PID_FILE_LIMIT) else {
        return Recorded::Gone;
    };
    let (pid, record) = match serde_json::from_str::<PidRecord>(&text) {
        Ok(record) => (record.pid, Some(record)),
        // A bare pid (dk before it recorded who it started, or anyone else): who it was is
        // unknown.
        Err(_) => match text.trim().parse() {
            Ok(pid) => (pid, None),
            Err(_) => return Recorded::Gone,
        },
    };
    if !alive(pid) {
        Recorded::Gone
    } else if record.is_some_and(|record| record.matches_live()) {
        Recorded::Ours(pid)
    } else {
        Recorded::Stranger(pid)
    }
}

/// The pid recorded in `pid_file`, when that process still runs and is the one dk started.
pub(crate) fn recorded_pid(pid_file: &Path) -> Option<u32> {
    match recorded(pid_file) {
        Recorded::Ours(pid) => Some(pid),
        Recorded::Gone | Recorded::Stranger(_) => None,
    }
}

/// Stops the process group `pid_file` names when it is dk's own, then removes the file; the
/// pid of a stranger, which is left running.
pub(crate) fn stop_recorded(pid_file: &Path) -> Result<Option<u32>, StackError> {
    let stranger = match recorded(pid_file) {
        Recorded::Ours(pid) => {
            stop(pid);
            None
        }
        Recorded::Stranger(pid) => Some(pid),
        Recorded::Gone => None,
    };
    remove_file(pid_file)?;
    Ok(stranger)
}

/// What `dk dev down` says of a pid it left alone.
pub fn stranger_note(pid: u32) -> String {
    format!(
        "the pid file named process {pid}, which is not the one dk started (its start time or \
         command line differ, e.g. after a reboot); left it running"
    )
}

/// Starts a program in the background in its own process group (so a terminal's Ctrl-C does not
/// reach it), appending its output to `log` and recording its pid and identity in `pid_file`.
pub(crate) fn spawn_logged(
    mut command: Command,
    what: &str,
    log: &Path,
    pid_file: &Path,
) -> Result<u32, String> {
    for dir in [log.parent(), pid_file.parent()].into_iter().flatten() {
        std::fs::create_dir_all(dir).map_err(|err| format!("{}: {err}", dir.display()))?;
    }
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        // A FIFO in dk's place of a log must not hang `up`, nor a link redirect it.
        .custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW).bits() as i32)
        .open(log)
        .map_err(|err| format!("{}: {err}", log.display()))?;
    let err = out.try_clone().map_err(|err| err.to_string())?;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|err| format!("cannot start {what}: {err}"))?;
    let pid = child.id();
    let Some(start) = Start::of(pid) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{what} exited at once; see {}", log.display()));
    };
    let args = command
        .get_args()
        .map(|arg| arg.to_string_lossy().into_owned())
        .collect();
    let record = serde_json::to_string(&PidRecord { pid, start, args }).unwrap_or_default();
    dk_fs::write_atomic(pid_file, record.as_bytes()).map_err(|err| err.to_string())?;
    Ok(pid)
}

/// Stops the process group of `pid`: SIGTERM, a grace period, then SIGKILL.
fn stop(pid: u32) {
    let Some(group) = rustix::process::Pid::from_raw(pid as i32) else {
        return;
    };
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
    let deadline = Instant::now() + STOP_GRACE;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    }
}

/// The most of a tool's stderr a failure carries.
const STDERR_SHOWN: usize = 4 << 10;

/// Runs a tool to completion; a failure carries what it wrote to stderr, whole (the cause is
/// often on the first line and advice on the last: `docker: unknown command: docker compose`,
/// then `Run 'docker --help'`), blank lines dropped, its end when it is long. `shown` is the
/// command as messages name it.
pub(crate) fn run_tool(command: &mut Command, shown: &str) -> Result<(), StackError> {
    let failed = |message: String| StackError::Command {
        command: shown.to_owned(),
        message,
    };
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| failed(err.to_string()))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.is_empty())
        .collect();
    let mut message = lines.join("\n");
    if message.len() > STDERR_SHOWN {
        let mut start = message.len() - STDERR_SHOWN;
        while !message.is_char_boundary(start) {
            start += 1;
        }
        message = format!("…{}", &message[start..]);
    }
    if message.is_empty() {
        message = format!("no output ({})", output.status);
    }
    Err(failed(message))
}

/// Removes a file that may not exist.
pub(crate) fn remove_file(path: &Path) -> Result<(), StackError> {
    match std::fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(crate::status::io_error(path)(err))
        }
        _ => Ok(()),
    }
}

/// Removes a directory tree that may not exist.
pub(crate) fn remove_dir(path: &Path) -> Result<(), StackError> {
    match std::fs::remove_dir_all(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(crate::status::io_error(path)(err))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_tool_shows_all_it_said() {
        let err = run_tool(
            Command::new("sh").args([
                "-c",
                "echo 'docker: unknown command: docker compose' >&2; echo >&2; echo \"Run 'docker --help' for more information\" >&2; exit 1",
            ]),
            "docker compose up",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`docker compose up` failed: docker: unknown command: docker compose\nRun 'docker --help' for more information"
        );
    }

    fn sleeper(dir: &Path) -> (u32, std::path::PathBuf) {
        let pid_file = dir.join("pids").join("sleep.pid");
        let mut command = Command::new("sleep");
        command.arg("300");
        let pid = spawn_logged(command, "sleep", &dir.join("sleep.log"), &pid_file).unwrap();
        (pid, pid_file)
    }

    #[test]
    fn only_the_process_dk_started_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let (pid, pid_file) = sleeper(dir.path());
        assert_eq!(recorded(&pid_file), Recorded::Ours(pid));

        // The same pid with another start time: what a pid file from before a reboot looks like.
        let mut record: PidRecord =
            serde_json::from_str(&std::fs::read_to_string(&pid_file).unwrap()).unwrap();
        record.start.start_time += 1;
        std::fs::write(&pid_file, serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(recorded(&pid_file), Recorded::Stranger(pid));
        // The right start with other arguments: another program all the same.
        record.start.start_time -= 1;
        record.args = vec!["lineage".into(), "serve".into()];
        std::fs::write(&pid_file, serde_json::to_string(&record).unwrap()).unwrap();
        assert_eq!(recorded(&pid_file), Recorded::Stranger(pid));
        assert_eq!(stop_recorded(&pid_file).unwrap(), Some(pid));
        assert!(alive(pid), "a stranger was signalled");
        assert!(!pid_file.exists(), "the stale pid file stays");

        // A bare pid says nothing of who it was: left alone too.
        std::fs::write(&pid_file, pid.to_string()).unwrap();
        assert_eq!(recorded(&pid_file), Recorded::Stranger(pid));

        let (ours, pid_file) = sleeper(dir.path());
        assert_eq!(stop_recorded(&pid_file).unwrap(), None);
        assert!(!alive(ours), "dk's own process was not stopped");
        let stranger = rustix::process::Pid::from_raw(pid as i32).unwrap();
        rustix::process::kill_process_group(stranger, rustix::process::Signal::KILL).unwrap();
    }
}
