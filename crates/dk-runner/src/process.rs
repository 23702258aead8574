//! Running the pipeline process under supervision: a timeout, and SIGINT/SIGTERM forwarded to
//! it with a grace period before it is killed.
//!
//! The pipeline runs in its own process group, so a Ctrl-C in the terminal reaches dk alone and
//! dk forwards it exactly once; the whole group is signalled, so a pipeline's own children stop
//! too.
//!
//! A pipeline must not outlive dk, even when dk is killed with SIGKILL and can stop nothing:
//! dk starts it through a copy of itself ([`SUPERVISE`]) that asks the kernel for SIGKILL when
//! its parent dies (the parent-death signal, kept across `exec`) and then becomes the pipeline
//! with `exec`. The pipeline is still dk's direct child, so exit codes, signals and timeouts
//! work as without it.

use std::process::ExitStatus;
use std::time::Duration;

use std::ffi::OsString;
use std::os::fd::BorrowedFd;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

/// How the pipeline process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Succeeded,
    /// It exited with a non-zero code, or was killed by a signal it did not get from dk.
    Failed {
        code: Option<i32>,
    },
    /// It ran past its timeout and was stopped.
    TimedOut,
    /// dk was asked to stop (SIGINT or SIGTERM) and stopped it.
    Interrupted {
        signal: &'static str,
    },
}

impl Exit {
    /// The exit code dk passes on.
    pub fn code(self) -> i32 {
        match self {
            Exit::Succeeded => 0,
            Exit::Failed { code } => code.filter(|c| *c != 0).unwrap_or(1),
            Exit::TimedOut => 124,
            Exit::Interrupted { signal: "SIGINT" } => 130,
            Exit::Interrupted { .. } => 143,
        }
    }
}

fn signal_group(child: &Child, signal: Signal) {
    if let Some(pid) = child.id().and_then(|id| Pid::from_raw(id as i32)) {
        // The group may be gone already: nothing left to stop.
        let _ = kill_process_group(pid, signal);
    }
}

/// Asks the process group to stop with `signal`, then kills it after `grace`.
async fn end(child: &mut Child, signal: Signal, grace: Duration) -> std::io::Result<ExitStatus> {
    signal_group(child, signal);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            signal_group(child, Signal::KILL);
            child.wait().await
        }
    }
}

/// SIGINT and SIGTERM, watched from the first phase of a command to its end.
///
/// Once dk handles a signal it handles it for good (a handler cannot be taken back): a signal
/// between two pipelines (while seeding the next package, say) would be swallowed if only the
/// supervision of a running pipeline listened. The first signal is kept here, and every phase
/// asks for it.
#[derive(Debug, Clone)]
pub struct Stop {
    signal: watch::Receiver<Option<&'static str>>,
}

impl Stop {
    /// Starts listening; call within a Tokio runtime, which must outlive the `Stop`.
    pub fn listen() -> std::io::Result<Stop> {
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let (sender, receiver) = watch::channel(None);
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    _ = interrupt.recv() => "SIGINT",
                    _ = terminate.recv() => "SIGTERM",
                };
                // The first signal stands: a second Ctrl-C while stopping changes nothing.
                sender.send_if_modified(|first| match first {
                    Some(_) => false,
                    None => {
                        *first = Some(name);
                        true
                    }
                });
            }
        });
        Ok(Stop { signal: receiver })
    }

    /// The signal received, if any.
    pub fn requested(&self) -> Option<&'static str> {
        *self.signal.borrow()
    }

    /// Waits for a signal.
    pub async fn wait(&self) -> &'static str {
        let mut signal = self.signal.clone();
        match signal.wait_for(Option::is_some).await {
            Ok(name) => name.unwrap_or("SIGTERM"),
            // The listener is gone with its runtime: nothing will come.
            Err(_) => std::future::pending().await,
        }
    }

    /// The exit code of a command stopped by `signal`.
    pub fn code(signal: &str) -> u8 {
        match signal {
            "SIGINT" => 130,
            _ => 143,
        }
    }
}

/// Spawns `command` and supervises it until it ends or `stop` is asked for; with a
/// `foreground`, the pipeline gets the terminal while it runs.
pub async fn supervise(
    mut command: Command,
    timeout: Option<Duration>,
    grace: Duration,
    stop: &Stop,
    foreground: Option<Foreground<'_>>,
) -> std::io::Result<Exit> {
    if let Some(signal) = stop.requested() {
        return Ok(Exit::Interrupted { signal });
    }
    command.process_group(0).kill_on_drop(true);
    let mut child = command.spawn()?;
    let keeper = foreground.and_then(|foreground| foreground.lend(&child));
    let deadline = async {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let exit = tokio::select! {
        status = child.wait() => {
            let status = status?;
            Ok(match status.signal() {
                // With the terminal, Ctrl-C goes to the pipeline, not to dk.
                Some(signal) if signal == Signal::INT.as_raw() && keeper.is_some() => {
                    Exit::Interrupted { signal: "SIGINT" }
                }
                _ if status.success() => Exit::Succeeded,
                _ => Exit::Failed { code: status.code() },
            })
        }
        _ = &mut deadline => {
            end(&mut child, Signal::TERM, grace).await?;
            Ok(Exit::TimedOut)
        }
        signal = stop.wait() => {
            let forwarded = match signal {
                "SIGINT" => Signal::INT,
                _ => Signal::TERM,
            };
            end(&mut child, forwarded, grace).await?;
            Ok(Exit::Interrupted { signal })
        }
    };
    if let Some(keeper) = keeper {
        give_back(keeper).await;
    }
    exit
}

/// dk's terminal, lent to the pipeline while it runs so that it can read it (`input()`,
/// `pdb`): in a background process group a read would stop it with SIGTTIN.
#[derive(Debug, Clone, Copy)]
pub struct Foreground<'a> {
    /// The terminal: dk's standard input.
    pub terminal: BorrowedFd<'a>,
    /// dk's own executable, which keeps the terminal for dk ([`KEEP_TERMINAL`]).
    pub keeper: &'a std::path::Path,
}

/// The first argument that makes dk the keeper of its terminal while a pipeline has it:
/// `dk __keep-terminal PID PGID`.
pub const KEEP_TERMINAL: &str = "__keep-terminal";

impl Foreground<'_> {
    /// `terminal` when it is a terminal and dk's process group has its foreground (not a
    /// background job, not a pipe).
    pub fn of<'a>(terminal: BorrowedFd<'a>, keeper: &'a std::path::Path) -> Option<Foreground<'a>> {
        let owner = rustix::process::getpgrp();
        (rustix::termios::isatty(terminal) && rustix::termios::tcgetpgrp(terminal).ok()? == owner)
            .then_some(Foreground { terminal, keeper })
    }

    /// Makes the pipeline's group the foreground; returns the keeper that gives the terminal
    /// back to dk. A background process may not take the terminal (the kernel stops it with
    /// SIGTTOU, and a handler cannot ignore it safely), so a member of the pipeline's own group
    /// does it when the pipeline ends.
    fn lend(&self, child: &Child) -> Option<Child> {
        let pid = Pid::from_raw(child.id()? as i32)?;
        let keeper = Command::new(self.keeper)
            .arg(KEEP_TERMINAL)
            .arg(std::process::id().to_string())
            .arg(rustix::process::getpgrp().as_raw_nonzero().to_string())
            .process_group(pid.as_raw_nonzero().get())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .ok()?;
        rustix::termios::tcsetpgrp(self.terminal, pid).ok()?;
        // A read before the hand-over stopped the pipeline with SIGTTIN: it goes on now.
        let _ = kill_process_group(pid, Signal::CONT);
        Some(keeper)
    }
}

/// Asks the keeper to give the terminal back, and waits a little for it.
async fn give_back(mut keeper: Child) {
    drop(keeper.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(2), keeper.wait()).await;
}

/// The keeper (`dk __keep-terminal PID PGID`, `args` without the first two): waits in the
/// pipeline's process group until dk closes its standard input, then makes PGID (dk's group)
/// the terminal's foreground again. Returns its exit code.
pub fn keep_terminal(args: &[OsString]) -> u8 {
    let number = |index: usize| -> Option<i32> { args.get(index)?.to_str()?.parse().ok() };
    let (Some(parent), Some(owner)) = (number(0), number(1).and_then(Pid::from_raw)) else {
        return 2;
    };
    if rustix::process::set_parent_process_death_signal(Some(Signal::KILL)).is_err()
        || rustix::process::getppid().map(|pid| pid.as_raw_nonzero().get()) != Some(parent)
    {
        return 1;
    }
    // Ctrl-C and Ctrl-\ reach the whole foreground group, the keeper too, and so does a
    // signal dk forwards: handled (and ignored), they leave it alive to give the terminal back.
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return 1;
    };
    let _context = runtime.enter();
    let _handled: Vec<_> = [
        SignalKind::interrupt(),
        SignalKind::quit(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ]
    .into_iter()
    .filter_map(|kind| signal(kind).ok())
    .collect();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
    let given_back = rustix::fs::open(
        "/dev/tty",
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()
    .is_some_and(|tty| rustix::termios::tcsetpgrp(&tty, owner).is_ok());
    u8::from(!given_back)
}

/// The first argument that makes dk the supervisor of a pipeline: `dk __supervise PID --
/// PROGRAM ARGS...`, PID being the dk that waits for it.
pub const SUPERVISE: &str = "__supervise";

/// How `supervisor` starts `program`: through `dk __supervise`, tied to this process's life.
pub fn supervised(supervisor: &std::path::Path, program: &str) -> Command {
    let mut command = Command::new(supervisor);
    command
        .arg(SUPERVISE)
        .arg(std::process::id().to_string())
        .arg("--")
        .arg(program);
    command
}

/// Why the supervisor could not become the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error("usage: dk {SUPERVISE} PID -- PROGRAM [ARGS...]")]
    Usage,
    #[error("cannot ask for the parent-death signal: {0}")]
    DeathSignal(std::io::Error),
    /// dk ended before the supervisor was set up: nothing is left to run for.
    #[error("dk (pid {0}) ended before the pipeline started")]
    Orphaned(u32),
    #[error("cannot start {program}: {source}")]
    Exec {
        program: String,
        source: std::io::Error,
    },
}

impl SuperviseError {
    /// The exit code of the supervisor: 127 when the program cannot be started, as a shell's.
    pub fn code(&self) -> u8 {
        match self {
            SuperviseError::Exec { source, .. }
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                127
            }
            _ => 126,
        }
    }
}

/// The supervisor (`dk __supervise PID -- PROGRAM ARGS...`, `args` without the first two):
/// returns only when it could not become the pipeline.
pub fn supervise_exec(args: &[OsString]) -> SuperviseError {
    let (Some(parent), Some("--"), Some(program)) = (
        args.first()
            .and_then(|pid| pid.to_str()?.parse::<u32>().ok()),
        args.get(1).and_then(|dash| dash.to_str()),
        args.get(2),
    ) else {
        return SuperviseError::Usage;
    };
    if let Err(err) = rustix::process::set_parent_process_death_signal(Some(Signal::KILL)) {
        return SuperviseError::DeathSignal(err.into());
    }
    // The signal is only sent for a death after the call: a parent that is already gone (we
    // were re-parented) is checked here.
    if rustix::process::getppid().map(|pid| pid.as_raw_nonzero().get() as u32) != Some(parent) {
        return SuperviseError::Orphaned(parent);
    }
    let source = std::process::Command::new(program).args(&args[3..]).exec();
    SuperviseError::Exec {
        program: program.to_string_lossy().into_owned(),
        source,
    }
}

/// The start time of process `pid` (clock ticks after boot, from `/proc`), which tells a live
/// process from a later one that got the same pid.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after its last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid`, started at `start` (when known), still runs.
pub fn alive(pid: u32, start: Option<u64>) -> bool {
    let Some(raw) = Pid::from_raw(pid as i32) else {
        return false;
    };
    match rustix::process::test_kill_process(raw) {
        // EPERM: it exists, as another user's.
        Ok(()) | Err(rustix::io::Errno::PERM) => match start {
            Some(start) => start_time(pid).is_none_or(|now| now == start),
            None => true,
        },
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        command
    }

    #[tokio::test]
    async fn exit_codes_pass_through() {
        let grace = Duration::from_secs(1);
        let stop = Stop::listen().unwrap();
        assert_eq!(
            supervise(shell("exit 0"), None, grace, &stop, None)
                .await
                .unwrap(),
            Exit::Succeeded
        );
        let failed = supervise(shell("exit 7"), None, grace, &stop, None)
            .await
            .unwrap();
        assert_eq!((failed, failed.code()), (Exit::Failed { code: Some(7) }, 7));
    }

    #[tokio::test]
    async fn a_timeout_stops_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child-survived");
        // The pipeline starts a child of its own; both must be stopped.
        let script = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        let exit = supervise(
            shell(&script),
            Some(Duration::from_millis(200)),
            Duration::from_millis(200),
            &Stop::listen().unwrap(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(exit, Exit::TimedOut);
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "the pipeline's own child was stopped too");
    }

    #[test]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let me = std::process::id();
        let start = start_time(me);
        assert!(start.is_some(), "/proc gives the start time");
        assert!(alive(me, start));
        assert!(!alive(me, start.map(|s| s + 1)), "same pid, another start");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!alive(pid, None), "a reaped child is gone");
    }

    #[test]
    fn a_malformed_supervisor_call_is_refused() {
        let args: Vec<OsString> = ["x", "--", "true"].iter().map(OsString::from).collect();
        // (A well-formed call is not tried here: it would set the parent-death signal of the
        // test process itself; the dk-cli tests drive it.)
        assert!(matches!(supervise_exec(&args), SuperviseError::Usage));
    }

    #[tokio::test]
    async fn a_process_ignoring_sigterm_is_killed_after_the_grace_period() {
        let exit = supervise(
            shell("trap '' TERM; sleep 30"),
            Some(Duration::from_millis(100)),
            Duration::from_millis(200),
            &Stop::listen().unwrap(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(exit, Exit::TimedOut);
    }
}
