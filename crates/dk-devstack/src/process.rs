//! Programs the runtimes drive: background services with a pid file and a log, and tools run
//! to completion (`docker`, `k3d`, `helm`, `pg_ctl`).

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    // The state follows the command, which is in parentheses and may hold spaces.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let (_, rest) = stat.rsplit_once(')')?;
            rest.split_whitespace().next().map(|state| state == "Z")
        })
        .unwrap_or(false)
}

/// The pid recorded in `pid_file`, when that process still runs.
pub(crate) fn recorded_pid(pid_file: &Path) -> Option<u32> {
    let pid = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    alive(pid).then_some(pid)
}

/// Starts a program in the background in its own process group (so a terminal's Ctrl-C does not
/// reach it), appending its output to `log` and recording its pid in `pid_file`.
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
        .open(log)
        .map_err(|err| format!("{}: {err}", log.display()))?;
    let err = out.try_clone().map_err(|err| err.to_string())?;
    let child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|err| format!("cannot start {what}: {err}"))?;
    std::fs::write(pid_file, child.id().to_string())
        .map_err(|err| format!("{}: {err}", pid_file.display()))?;
    Ok(child.id())
}

/// Stops the process group of `pid`: SIGTERM, a grace period, then SIGKILL.
pub(crate) fn stop(pid: u32) {
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

/// Runs a tool to completion; a failure carries the last line it wrote to stderr. `shown` is
/// the command as messages name it.
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
    Err(failed(
        stderr.lines().last().unwrap_or("no output").to_owned(),
    ))
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

/// Writes a file, creating its folder.
pub(crate) fn write_file(path: &Path, contents: &str) -> Result<(), StackError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(crate::status::io_error(dir))?;
    }
    std::fs::write(path, contents).map_err(crate::status::io_error(path))
}
