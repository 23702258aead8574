//! How the services of a stack are doing, whatever runs them.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::catalog::Service;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Starting,
    Stopped,
    /// Its program is not installed; the detail says how to install it.
    Unavailable,
    /// It could not start, or its port is someone else's; the detail says why.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    pub service: Service,
    pub health: Health,
    pub ports: Vec<u16>,
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Fs(#[from] dk_fs::FsError),
    #[error("`{command}` failed: {message}")]
    Command { command: String, message: String },
    #[error("custom service `{name}`: {message}")]
    Custom { name: String, message: String },
}

pub(crate) fn io_error(path: &Path) -> impl Fn(std::io::Error) -> StackError + '_ {
    move |source| StackError::Io {
        path: path.to_owned(),
        source,
    }
}
