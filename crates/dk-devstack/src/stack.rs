//! One stack, whichever runtime runs it, and which runtime that is.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::catalog::{Ports, Service};
use crate::compose::ComposeStack;
use crate::k3d::K3dStack;
use crate::native::NativeStack;
use crate::process::remove_file;
use crate::status::{Health, ServiceStatus, StackError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Native,
    Compose,
    K3d,
}

impl Runtime {
    pub fn name(self) -> &'static str {
        match self {
            Runtime::Native => "native",
            Runtime::Compose => "compose",
            Runtime::K3d => "k3d",
        }
    }

    /// The runtime of the last `up` under `dev_dir`, so that `status` and `down` address it.
    pub fn recorded(dev_dir: &Path) -> Option<Runtime> {
        let recorded = dk_fs::read_to_string(&dev_dir.join("runtime"), 64).ok()?;
        [Runtime::Native, Runtime::Compose, Runtime::K3d]
            .into_iter()
            .find(|runtime| runtime.name() == recorded.trim())
    }

    /// Records the runtime once something of it started, with the services that did: `status`
    /// judges the stack by those.
    fn record(self, dev_dir: &Path, started: &[Service]) -> Result<(), StackError> {
        let names: Vec<&str> = started.iter().map(|service| service.name()).collect();
        dk_fs::write_atomic(&dev_dir.join("started"), names.join("\n").as_bytes())?;
        Ok(dk_fs::write_atomic(
            &dev_dir.join("runtime"),
            self.name().as_bytes(),
        )?)
    }

    /// The services the last `up` started (all of them when it did not say).
    pub fn started(dev_dir: &Path) -> Vec<Service> {
        match dk_fs::read_to_string(&dev_dir.join("started"), 4 << 10) {
            Ok(text) => text.lines().filter_map(Service::parse).collect(),
            Err(_) => Service::ALL.to_vec(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Stack {
    Native(NativeStack),
    Compose(ComposeStack),
    K3d(K3dStack),
}

impl Stack {
    pub fn runtime(&self) -> Runtime {
        match self {
            Stack::Native(_) => Runtime::Native,
            Stack::Compose(_) => Runtime::Compose,
            Stack::K3d(_) => Runtime::K3d,
        }
    }

    /// `$DK_HOME/dev`.
    pub fn dev_dir(&self) -> &Path {
        match self {
            Stack::Native(stack) => &stack.dev_dir,
            Stack::Compose(stack) => &stack.dev_dir,
            Stack::K3d(stack) => &stack.dev_dir,
        }
    }

    pub fn ports(&self) -> &Ports {
        match self {
            Stack::Native(stack) => &stack.ports,
            Stack::Compose(stack) => &stack.ports,
            Stack::K3d(stack) => &stack.ports,
        }
    }

    pub fn status(&self) -> Vec<ServiceStatus> {
        match self {
            Stack::Native(stack) => stack.status(),
            Stack::Compose(stack) => stack.status(),
            Stack::K3d(stack) => stack.status(),
        }
    }

    /// Starts the stack. The runtime is recorded (for `status`, `down` and `dk run`) only once
    /// it started: a runtime that failed to start leaves nothing to stop. A container runtime
    /// that started counts all its services as started, answering or not.
    pub fn up(
        &self,
        timeout: Duration,
        progress: &mut dyn FnMut(&ServiceStatus),
    ) -> Result<Vec<ServiceStatus>, StackError> {
        let dev_dir = self.dev_dir();
        let record = || self.runtime().record(dev_dir, &Service::ALL);
        let services = match self {
            Stack::Native(stack) => stack.up(timeout, progress),
            Stack::Compose(stack) => stack.up(timeout, &record, progress)?,
            Stack::K3d(stack) => stack.up(timeout, &record, progress)?,
        };
        if let Stack::Native(_) = self {
            let started: Vec<Service> = services
                .iter()
                .filter(|status| matches!(status.health, Health::Healthy | Health::Starting))
                .map(|status| status.service)
                .collect();
            if !started.is_empty() {
                self.runtime().record(dev_dir, &started)?;
            }
        }
        Ok(services)
    }

    /// Stops the stack; with `volumes`, nothing of it is left under `$DK_HOME/dev`.
    pub fn down(&self, volumes: bool) -> Result<Vec<ServiceStatus>, StackError> {
        let services = match self {
            Stack::Native(stack) => stack.down(volumes)?,
            Stack::Compose(stack) => stack.down(volumes)?,
            Stack::K3d(stack) => stack.down(volumes)?,
        };
        let dev_dir = self.dev_dir();
        if !volumes && Runtime::recorded(dev_dir).is_some() {
            // Stopped on purpose: `status` has nothing to find down.
            self.runtime().record(dev_dir, &[])?;
        }
        if volumes {
            remove_file(&dev_dir.join("runtime"))?;
            remove_file(&dev_dir.join("started"))?;
            // Only folders left empty: a user's files stay.
            for dir in [
                dev_dir.join("logs"),
                dev_dir.join("pids"),
                dev_dir.to_owned(),
            ] {
                let _ = std::fs::remove_dir(dir);
            }
        }
        Ok(services)
    }
}
