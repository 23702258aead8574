//! The system `git`, run in one working copy.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::GitOpsError;

#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
    /// `-c user.name=… -c user.email=…` when the user has no identity configured.
    identity: Vec<String>,
}

impl Git {
    pub fn new(dir: &Path) -> Git {
        let mut git = Git {
            dir: dir.to_owned(),
            identity: Vec::new(),
        };
        if git
            .try_run(&["config", "user.email"])
            .ok()
            .flatten()
            .is_none()
        {
            git.identity = vec![
                "-c".into(),
                "user.name=dk".into(),
                "-c".into(),
                "user.email=dk@localhost".into(),
            ];
        }
        git
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("git");
        command
            .arg("-C")
            .arg(&self.dir)
            .args(&self.identity)
            .args(args)
            // Never wait on a password prompt: credentials come from helpers or the agent.
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null());
        command
    }

    fn output(&self, args: &[&str]) -> Result<std::process::Output, GitOpsError> {
        self.command(args).output().map_err(|err| GitOpsError::Git {
            command: args.join(" "),
            message: err.to_string(),
        })
    }

    /// Runs git; its trimmed stdout, or an error with what it said.
    pub fn run(&self, args: &[&str]) -> Result<String, GitOpsError> {
        let output = self.output(args)?;
        if output.status.success() {
            return Ok(String::from_utf8_lossy(&output.stdout)
                .trim_end()
                .to_owned());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(GitOpsError::Git {
            command: args.join(" "),
            message: stderr
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(" | "),
        })
    }

    /// Runs git for its exit code alone (a question with more answers than yes and no); a
    /// git killed by a signal is an error.
    pub fn code(&self, args: &[&str]) -> Result<i32, GitOpsError> {
        let output = self.output(args)?;
        output.status.code().ok_or_else(|| GitOpsError::Git {
            command: args.join(" "),
            message: "killed by a signal".to_owned(),
        })
    }

    /// Runs git; its trimmed stdout, or `None` when it exits non-zero (a question answered
    /// "no").
    pub fn try_run(&self, args: &[&str]) -> Result<Option<String>, GitOpsError> {
        Ok(self
            .try_output(args)?
            .map(|text| text.trim_end().to_owned()))
    }

    /// Like [`Git::try_run`], with stdout exactly as git wrote it (file contents).
    pub fn try_output(&self, args: &[&str]) -> Result<Option<String>, GitOpsError> {
        let output = self.output(args)?;
        Ok(output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned()))
    }
}
