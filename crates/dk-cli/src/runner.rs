//! The frontend of [`dk_runner::runner::Runner`] for the commands that run packages (`run`,
//! `test`, `dev seed`, `lineage flush`): its settings from the context and configuration, its
//! errors as the CLI reports them, its notes and warnings shown.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use uuid::Uuid;

use dk_config::env::ENV_VARS;
use dk_devstack::stack::Runtime;
use dk_manifest::discover::{Package, Project};
use dk_manifest::model::Runtime as PackageRuntime;
use dk_runner::exec::{ContainerSettings, Engine, Executor, Prepared, Purpose};
use dk_runner::plan::{DatasetPlan, RunPlan};
use dk_runner::run::{LineageSetup, RunConfig, RunReport};
use dk_runner::runner::{self, ErrorKind, LineageSettings, RunnerError, RunnerSettings};
use dk_runner::seed::{SeedAction, SeedOptions, Seeded};

use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::OutputFormat;

/// A runner error as the CLI reports it: its message, exit status and hint.
pub fn runner_error(err: RunnerError) -> CliError {
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

/// What every run of one dk invocation shares, and where its notes go.
pub struct Runner<'a> {
    ctx: &'a Context,
    pub inner: runner::Runner,
}

impl<'a> Runner<'a> {
    pub fn new(ctx: &'a Context) -> Result<Runner<'a>, CliError> {
        let config = ctx.config()?;
        let dk_home = ctx.paths()?.dk_home;
        let mut images = BTreeMap::new();
        for runtime in PackageRuntime::ALL {
            if let Some(image) = config.string(&format!("runtime.images.{runtime}"))? {
                images.insert(*runtime, image);
            }
        }
        let dev_stack = match Runtime::recorded(&dk_home.join("dev")) {
            Some(_) => Some(crate::commands::dev::stack_ports(ctx)?),
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
            dk_home,
        };
        Ok(Runner {
            ctx,
            inner: runner::Runner::new(settings).map_err(runner_error)?,
        })
    }

    /// The plan of one run of `package`; says which stores the dev stack serves.
    pub fn plan(
        &self,
        project: &Project,
        package: &Package,
        run_id: Uuid,
        timeout: Option<Duration>,
    ) -> Result<RunPlan, CliError> {
        let plan = self
            .inner
            .plan(project, package, run_id, timeout)
            .map_err(runner_error)?;
        for (store, service) in runner::dev_stack_stores(&plan) {
            self.ctx.ui.note(format!(
                "Store '{store}' is the dev stack's {} (dk dev up)",
                service.name()
            ));
        }
        Ok(plan)
    }

    pub fn prepare(
        &self,
        plan: &RunPlan,
        executor: Executor,
        purpose: Purpose,
        env: &[(String, String)],
    ) -> Result<Prepared, CliError> {
        self.inner
            .prepare(plan, executor, purpose, env)
            .map_err(runner_error)
    }

    /// Seeds what `wanted` selects and says what was seeded.
    pub fn seed(
        &self,
        plan: &RunPlan,
        options: &SeedOptions,
        wanted: impl Fn(&DatasetPlan) -> bool,
    ) -> Result<Vec<Seeded>, CliError> {
        let seeded = self
            .inner
            .seed(plan, options, wanted)
            .map_err(runner_error)?;
        for item in &seeded {
            self.ctx.ui.note(seed_line(item));
        }
        Ok(seeded)
    }

    pub fn lineage(&self, endpoint_flag: Option<&str>) -> Result<LineageSetup, CliError> {
        self.inner.lineage(endpoint_flag).map_err(runner_error)
    }

    pub fn config(
        &self,
        plan: &RunPlan,
        env: &[(String, String)],
        lineage: Option<LineageSetup>,
    ) -> RunConfig {
        self.inner.config(plan, env, lineage)
    }

    /// Runs a prepared pipeline to its end; its steps' tools write to stderr, and lineage
    /// warnings are shown.
    pub fn execute(
        &self,
        plan: &RunPlan,
        prepared: &Prepared,
        config: &RunConfig,
    ) -> Result<RunReport, CliError> {
        let report = self
            .inner
            .execute(plan, prepared, config, &mut std::io::stderr())
            .map_err(runner_error)?;
        for warning in report.lineage.iter().flat_map(|l| &l.warnings) {
            self.ctx.ui.warn(warning);
        }
        Ok(report)
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
