//! Running the pipeline process under supervision: a timeout, and SIGINT/SIGTERM forwarded to
//! it with a grace period before it is killed.
//!
//! The pipeline runs in its own process group, so a Ctrl-C in the terminal reaches dk alone and
//! dk forwards it exactly once; the whole group is signalled, so a pipeline's own children stop
//! too.

use std::process::ExitStatus;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::process::{Child, Command};
use tokio::signal::unix::{SignalKind, signal};

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
async fn stop(child: &mut Child, signal: Signal, grace: Duration) -> std::io::Result<ExitStatus> {
    signal_group(child, signal);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            signal_group(child, Signal::KILL);
            child.wait().await
        }
    }
}

/// Spawns `command` and supervises it until it ends.
pub async fn supervise(
    mut command: Command,
    timeout: Option<Duration>,
    grace: Duration,
) -> std::io::Result<Exit> {
    command.process_group(0).kill_on_drop(true);
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut child = command.spawn()?;
    let deadline = async {
        match timeout {
            Some(timeout) => tokio::time::sleep(timeout).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    tokio::select! {
        status = child.wait() => {
            let status = status?;
            Ok(if status.success() { Exit::Succeeded } else { Exit::Failed { code: status.code() } })
        }
        _ = &mut deadline => {
            stop(&mut child, Signal::TERM, grace).await?;
            Ok(Exit::TimedOut)
        }
        _ = interrupt.recv() => {
            stop(&mut child, Signal::INT, grace).await?;
            Ok(Exit::Interrupted { signal: "SIGINT" })
        }
        _ = terminate.recv() => {
            stop(&mut child, Signal::TERM, grace).await?;
            Ok(Exit::Interrupted { signal: "SIGTERM" })
        }
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
        assert_eq!(
            supervise(shell("exit 0"), None, grace).await.unwrap(),
            Exit::Succeeded
        );
        let failed = supervise(shell("exit 7"), None, grace).await.unwrap();
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
        )
        .await
        .unwrap();
        assert_eq!(exit, Exit::TimedOut);
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "the pipeline's own child was stopped too");
    }

    #[tokio::test]
    async fn a_process_ignoring_sigterm_is_killed_after_the_grace_period() {
        let exit = supervise(
            shell("trap '' TERM; sleep 30"),
            Some(Duration::from_millis(100)),
            Duration::from_millis(200),
        )
        .await
        .unwrap();
        assert_eq!(exit, Exit::TimedOut);
    }
}
