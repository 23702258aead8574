//! One stack, whichever runtime runs it, and which runtime that is.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::compose::ComposeStack;
use crate::native::NativeStack;
use crate::status::{ServiceStatus, StackError, io_error};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Native,
    Compose,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Native => "native",
            Runtime::Compose => "compose",
        }
    }

    /// The runtime of the last `up` under `dev_dir`, so that `status` and `down` address it.
    pub fn recorded(dev_dir: &Path) -> Option<Runtime> {
        match std::fs::read_to_string(dev_dir.join("runtime"))
            .ok()?
            .trim()
        {
            "compose" => Some(Runtime::Compose),
            "native" => Some(Runtime::Native),
            _ => None,
        }
    }

    fn record(self, dev_dir: &Path) -> Result<(), StackError> {
        std::fs::create_dir_all(dev_dir).map_err(io_error(dev_dir))?;
        let file = dev_dir.join("runtime");
        std::fs::write(&file, self.name()).map_err(io_error(&file))
    }
}

#[derive(Debug, Clone)]
pub enum Stack {
    Native(NativeStack),
    Compose(ComposeStack),
}

impl Stack {
    pub fn runtime(&self) -> Runtime {
        match self {
            Stack::Native(_) => Runtime::Native,
            Stack::Compose(_) => Runtime::Compose,
        }
    }

    fn dev_dir(&self) -> &Path {
        match self {
            Stack::Native(stack) => &stack.dev_dir,
            Stack::Compose(stack) => &stack.dev_dir,
        }
    }

    pub fn status(&self) -> Vec<ServiceStatus> {
        match self {
            Stack::Native(stack) => stack.status(),
            Stack::Compose(stack) => stack.status(),
        }
    }

    pub fn up(
        &self,
        timeout: Duration,
        progress: &mut dyn FnMut(&ServiceStatus),
    ) -> Result<Vec<ServiceStatus>, StackError> {
        self.runtime().record(self.dev_dir())?;
        match self {
            Stack::Native(stack) => Ok(stack.up(timeout, progress)),
            Stack::Compose(stack) => stack.up(timeout, progress),
        }
    }

    pub fn down(&self, volumes: bool) -> Result<Vec<ServiceStatus>, StackError> {
        match self {
            Stack::Native(stack) => stack.down(volumes),
            Stack::Compose(stack) => stack.down(volumes),
        }
    }
}
