//! The frontend of [`dk_runner::runner::Runner`] for the commands that run packages (`run`,
//! `test`, `dev seed`, `lineage flush`): its settings from the context and configuration, its
//! errors as the CLI reports them, its notes and warnings shown.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dk_config::env::ENV_VARS;
use dk_devstack::stack::Runtime;
use dk_manifest::model::Runtime as PackageRuntime;
use dk_runner::exec::{ContainerSettings, Engine};
use dk_runner::run::LineageSetup;
use dk_runner::runner::{self, ErrorKind, LineageSettings, Note, RunnerError, RunnerSettings};
use dk_runner::seed::{SeedAction, Seeded};

use crate::context::Context;
use crate::delivery::Delivery;
use crate::error::{CliError, ExitStatus};
use crate::output::OutputFormat;

/// A runner error as the CLI reports it: its message, exit status and hint.
impl From<RunnerError> for CliError {
    fn from(err: RunnerError) -> CliError {
        let status = match err.kind() {
            ErrorKind::Usage => ExitStatus::Usage,
            ErrorKind::Failure => ExitStatus::Failure,
            ErrorKind::External => ExitStatus::External,
            ErrorKind::Signal(code) => ExitStatus::Pipeline(code),
        };
        let hint = err.hint();
        let mut error = match err {
            RunnerError::Run { package, source } => {
                CliError::new(status, format!("{package} did not run")).cause(source)
            }
            err => CliError::new(status, err.to_string()),
        };
        error.hint = hint;
        error
    }
}

/// The library's runner, set up from the context, with its notes shown on stderr and lineage
/// handed off to a background deliverer this dk starts.
pub struct Runner {
    inner: runner::Runner,
    delivery: Delivery,
    dk_home: PathBuf,
}

impl std::ops::Deref for Runner {
    type Target = runner::Runner;

    fn deref(&self) -> &runner::Runner {
        &self.inner
    }
}

impl Runner {
    pub fn new(ctx: &Context) -> Result<Runner, CliError> {
        let config = ctx.config()?;
        let dk_home = ctx.paths()?.dk_home;
        let mut images = BTreeMap::new();
        for runtime in PackageRuntime::ALL {
            if let Some(image) = config.string(&format!("runtime.images.{runtime}"))? {
                images.insert(*runtime, image);
            }
        }
        let dev_stack = match Runtime::recorded(&dk_home.join("dev")) {
            Some(_) => Some(dk_devstack::catalog::Ports::configured(config)?),
            None => None,
        };
        let settings = RunnerSettings {
            env: ENV_VARS
                .iter()
                .filter_map(|var| Some((var.name.to_owned(), ctx.env.get(var.name)?.to_owned())))
                .collect(),
            // `${VAR}` secrets are read from the whole environment dk runs in.
            secrets: std::env::vars_os()
                .filter_map(|(name, value)| {
                    Some((name.into_string().ok()?, value.into_string().ok()?))
                })
                .collect(),
            namespace: config.string("lineage.namespace")?,
            lineage: LineageSettings {
                backend: config.string("lineage.backend")?,
                endpoint: config.string("lineage.endpoint")?,
                timeout: config.duration("lineage.timeout")?,
            },
            containers: ContainerSettings {
                engine: config
                    .string("run.engine")?
                    .and_then(|name| Engine::parse(&name)),
                images,
            },
            dev_stack,
            stdout_to_stderr: ctx.ui.format != OutputFormat::Text,
            // Through /proc, dk starts itself even when its file was replaced while it runs.
            supervisor: Some(PathBuf::from("/proc/self/exe"))
                .filter(|exe| exe.exists())
                .or_else(|| std::env::current_exe().ok()),
            terminal: std::io::IsTerminal::is_terminal(&std::io::stdin()),
            colors: ctx.ui.colors(),
            dk_home,
        };
        let ui = ctx.ui.clone();
        let notes = Box::new(move |note: Note<'_>| match note {
            Note::DevStackStore { store, service } => ui.note(format!(
                "Store '{store}' is the dev stack's {} (dk dev up)",
                service.name()
            )),
            Note::Seeded(seeded) => ui.note(seed_line(seeded)),
            Note::LineageWarning(warning) => ui.warn(warning),
        });
        Ok(Runner {
            inner: runner::Runner::new(settings, notes)?,
            delivery: Delivery::of(ctx)?,
            dk_home: ctx.paths()?.dk_home,
        })
    }

    /// The library's lineage setup, with the handoff to a background deliverer unless delivery
    /// is synchronous.
    pub fn lineage(&self, endpoint: Option<&str>) -> Result<LineageSetup, CliError> {
        let mut setup = self.inner.lineage(endpoint)?;
        setup.handoff = self
            .delivery
            .handoff(&self.dk_home, setup.deliverer.as_ref());
        Ok(setup)
    }
}

/// `Seeding X (table, profile=p): n row(s)...`
fn seed_line(seeded: &Seeded) -> String {
    let what = format!(
        "{} ({}, profile={})",
        seeded.dataset, seeded.location, seeded.profile
    );
    match seeded.action {
        SeedAction::Loaded => format!("Seeding {what}: {} row(s)...", seeded.rows),
        SeedAction::Unchanged => format!("Seeding {what}: unchanged, skipped"),
        SeedAction::Cleaned => format!("Cleaning {what}: {} row(s) removed", seeded.rows),
    }
}
