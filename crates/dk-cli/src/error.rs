//! The one error type of the CLI, rendered once as `error:` / `caused by:` / `hint:`, and the
//! exit codes documented in `dk --help`.

use std::fmt;

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    /// The check failed: lint errors, a policy violation, a failed pipeline or test.
    Failure,
    /// Bad usage or configuration.
    Usage,
    /// An external system failed (registry, git host, lineage backend).
    External,
    /// A pipeline's own exit code, passed through by `dk run`.
    Pipeline(u8),
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::External => 3,
            ExitStatus::Pipeline(code) => code,
        }
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(status: ExitStatus) -> Self {
        std::process::ExitCode::from(status.code())
    }
}

/// The exit-code table shown at the end of `dk --help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  the check failed (lint errors, policy violation, pipeline or test failed)
  2  usage or configuration error
  3  an external system failed (registry, git host, lineage backend)
  dk run passes a failed pipeline's own exit code through (124: timed out, 130/143: stopped)";

#[derive(Debug)]
pub struct CliError {
    pub status: ExitStatus,
    pub message: String,
    pub causes: Vec<String>,
    pub hint: Option<String>,
    /// Nothing to tell the user (the reader of our output went away).
    pub silent: bool,
}

impl CliError {
    pub fn new(status: ExitStatus, message: impl Into<String>) -> Self {
        CliError {
            status,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
            silent: false,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        CliError::new(ExitStatus::Usage, message)
    }

    pub fn failure(message: impl Into<String>) -> Self {
        CliError::new(ExitStatus::Failure, message)
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn cause(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }

    /// A write that failed because the disk (or the quota, or the file size limit) is full is
    /// an external failure (3), whatever the command's own error said: the message names what
    /// could not be written, and nothing was half-written (every write is atomic).
    pub fn disk_full(mut self) -> Self {
        // errno in the OS error's text: ENOSPC, EDQUOT, EFBIG.
        const FULL: [&str; 3] = ["(os error 28)", "(os error 122)", "(os error 27)"];
        let full = std::iter::once(&self.message)
            .chain(&self.causes)
            .any(|text| FULL.iter().any(|errno| text.contains(errno)));
        if full && self.status != ExitStatus::External {
            self.status = ExitStatus::External;
            self.hint = Some(
                "free space on that disk (or raise the quota), then run the command again".into(),
            );
        }
        self
    }
}

impl From<dk_config::ConfigError> for CliError {
    fn from(err: dk_config::ConfigError) -> Self {
        use dk_config::ConfigError as E;
        let hint = match &err {
            E::Key(key_error) => key_error
                .suggestion()
                .map(|s| format!("did you mean `{s}`? (`dk config list` shows every key)")),
            E::NotInRepo => Some("run inside a git repository, or use --scope user".into()),
            E::NoHome => Some("export DK_HOME=/path/to/dk-home".into()),
            E::Syntax(_) | E::Invalid { .. } | E::NotAMapping { .. } => {
                Some("fix the file, or see `dk config path` for the files dk reads".into())
            }
            E::Limits(_) => Some(format!(
                "config files hold a few keys: keep them under {} bytes, without nested aliases",
                dk_config::CONFIG_MAX_BYTES
            )),
            E::FlagSyntax(_) => Some("e.g. --config registry=ghcr.io/my-org".into()),
            E::CustomChart { name } => Some(format!(
                "dk config set dev.charts.{name}.image IMAGE (compose) or dev.charts.{name}.chart CHART (k3d)"
            )),
            E::Read { .. } | E::Write { .. } | E::Edit(_) => None,
        };
        let mut error = CliError::usage(err.to_string());
        error.hint = hint;
        error
    }
}

/// A `dev.services.*` port that is not a port: the key and its default are the fix.
impl From<dk_devstack::catalog::BadPort> for CliError {
    fn from(err: dk_devstack::catalog::BadPort) -> Self {
        let hint = format!("dk config set {} {}", err.key, err.default);
        CliError::usage(err.to_string()).hint(hint)
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            // `dk ... | head` closed our stdout: not an error worth a message.
            let mut quiet = CliError::new(ExitStatus::Success, "");
            quiet.silent = true;
            return quiet;
        }
        CliError::new(ExitStatus::Failure, "cannot write output").cause(err)
    }
}
