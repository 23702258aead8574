//! What every run of one dk invocation shares: the pinned clock, the nominal time of a scheduled
//! run, store overrides, the dev stack, lineage settings; and the steps of a run (plan, prepare,
//! seed, execute) that `dk run`, `dk test`, `dk dev seed` and `dk lineage flush` are made of.
//!
//! Settings come in as values ([`RunnerSettings`]): the library reads no environment variable and
//! prints nothing; what a frontend shows (notes, warnings) comes back in the reports.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use dk_config::env::{
    DK_NOMINAL_TIME, DK_NOW, DK_SCHEDULE, DK_STORE_OVERRIDES, DK_TIMEZONE, OPENLINEAGE_API_KEY,
    OPENLINEAGE_PARENT_ID, PATH,
};
use dk_devstack::catalog::{Ports, Service};
use dk_devstack::probe;
use dk_lineage::deliver::{Deliverer, Target, TargetError};
use dk_lineage::emit::LineagePaths;
use dk_lineage::event::ParentRun;
use dk_lineage::source::git_source;
use dk_manifest::discover::{Package, Project};
use dk_manifest::graph::{Graph, GraphError};
use dk_manifest::model::StackService;

use crate::contract::{ContractError, redact};
use crate::exec::{self, ContainerSettings, ExecError, Executor, Prepared, Purpose, Tools};
use crate::overrides::{OverrideError, StoreOverrides};
use crate::plan::{DatasetPlan, DevStores, PlanError, RunPlan, RunSettings};
use crate::process::Stop;
use crate::recover::Owner;
use crate::run::{LineageSetup, PrivateDir, RunConfig, RunError, RunReport, execute};
use crate::schedule::{Schedule, ScheduleError};
use crate::seed::{self, SeedOptions, SeedTarget, Seeded};

/// How long a stopped pipeline has to exit before it is killed.
const GRACE: Duration = Duration::from_secs(10);
/// How long a run waits for lineage delivery when `lineage.timeout` is not set.
pub const LINEAGE_WAIT: Duration = Duration::from_secs(2);

/// Where lineage goes, from the configuration (`lineage.*`).
#[derive(Debug, Clone, Default)]
pub struct LineageSettings {
    /// `lineage.backend`.
    pub backend: Option<String>,
    /// `lineage.endpoint` (and `OPENLINEAGE_URL`, which the configuration maps onto it).
    pub endpoint: Option<String>,
    /// `lineage.timeout`.
    pub timeout: Option<Duration>,
}

/// Everything a [`Runner`] needs from its frontend.
#[derive(Debug, Clone, Default)]
pub struct RunnerSettings {
    pub dk_home: PathBuf,
    /// dk's own variables (`DK_NOW`, `DK_SCHEDULE`, `OPENLINEAGE_PARENT_ID`, `PATH`, ...).
    pub env: BTreeMap<String, String>,
    /// The whole environment dk runs in, where `${VAR}` secrets are looked up: not only the
    /// variables dk itself declares.
    pub secrets: BTreeMap<String, String>,
    /// `lineage.namespace`.
    pub namespace: Option<String>,
    pub lineage: LineageSettings,
    /// `run.engine` and `runtime.images.<runtime>`.
    pub containers: ContainerSettings,
    /// The ports of the dev stack, when `dk dev up` started one.
    pub dev_stack: Option<Ports>,
    /// The pipeline's standard output goes to dk's standard error (for `-o json`).
    pub stdout_to_stderr: bool,
    /// dk's own executable: pipelines start through it so that they die with dk.
    pub supervisor: Option<PathBuf>,
    /// dk's standard input is a terminal, which pipelines may read.
    pub terminal: bool,
    /// dk's output shows colours (both streams are terminals, neither `NO_COLOR` nor
    /// `--color never`): else the pipeline's tools are told to write none.
    pub colors: bool,
}

/// Why a run could not be planned, prepared or carried out. Messages are complete sentences a
/// frontend shows as they are; [`RunnerError::hint`] says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("{variable}=`{text}` is not an RFC 3339 time: {source}")]
    Time {
        variable: &'static str,
        text: String,
        source: chrono::ParseError,
    },
    #[error("{variable}: {0}", variable = schedule_variable(.0))]
    Schedule(ScheduleError),
    #[error("{DK_SCHEDULE}: {0}")]
    NominalTime(ScheduleError),
    #[error("{DK_STORE_OVERRIDES}: {0}")]
    Override(OverrideError),
    #[error("{OPENLINEAGE_PARENT_ID}=`{text}`: {reason}")]
    Parent { text: String, reason: String },
    #[error("cannot run {}: {source}", .dir.display())]
    Plan { dir: PathBuf, source: PlanError },
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The message is redacted: a driver's error may quote the DSN.
    #[error("seeding failed: {message}")]
    Seed {
        message: String,
        hint: Option<String>,
        external: bool,
    },
    #[error("{0}")]
    Target(TargetError),
    #[error("{0}")]
    Order(GraphError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    /// SIGINT or SIGTERM came between or during the phases of a run.
    #[error("stopped by {signal} while {phase}; nothing more was run")]
    Interrupted { signal: &'static str, phase: String },
    #[error("{package} did not run")]
    Run {
        package: String,
        #[source]
        source: RunError,
    },
}

fn schedule_variable(err: &ScheduleError) -> &'static str {
    match err {
        ScheduleError::Timezone(_) => DK_TIMEZONE,
        _ => DK_SCHEDULE,
    }
}

/// What kind of failure a [`RunnerError`] is, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input or configuration (2).
    Usage,
    /// The check failed (1).
    Failure,
    /// An external system failed (3).
    External,
    /// Stopped by a signal: 130 for SIGINT, 143 for SIGTERM, as a shell reports it.
    Signal(u8),
}

impl RunnerError {
    /// What to do about it.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            RunnerError::Time { variable, .. } => {
                format!("e.g. {variable}=2026-01-01T00:00:00Z, or unset it")
            }
            RunnerError::Schedule(ScheduleError::Timezone(_)) => format!(
                "set {DK_TIMEZONE} to an IANA name such as Europe/Berlin or Etc/UTC (the CronJob's timeZone), or unset it for Etc/UTC"
            ),
            RunnerError::Schedule(_) => format!(
                "{DK_SCHEDULE} takes a Kubernetes CronJob schedule: five fields (minute hour day-of-month month day-of-week, e.g. `0 2 * * *`) or a macro such as @daily; or set {DK_NOMINAL_TIME}"
            ),
            RunnerError::NominalTime(_) => format!("set {DK_NOMINAL_TIME} to the run's planned time"),
            RunnerError::Override(err) => err.hint().to_owned(),
            RunnerError::Parent { .. } => {
                "e.g. OPENLINEAGE_PARENT_ID=airflow/my_dag.my_task/0190f1e2-3a4b-7c5d-8e6f-7a8b9c0d1e2f (docs/orchestrators.md), or unset it".into()
            }
            RunnerError::Plan { source, dir } => match source {
                PlanError::Contract(ContractError::MissingSecret { variable, .. }) => format!(
                    "export {variable}=... before running, or put the value in your shell's secret store"
                ),
                PlanError::Timeout(_) => "write a duration such as 30m or 1h in spec.timeout".into(),
                PlanError::Override(err) => err.hint().to_owned(),
                _ => format!("`dk lint {}` shows what is wrong", dir.display()),
            },
            RunnerError::Exec(err) => return err.hint(),
            RunnerError::Seed { hint: Some(hint), .. } => hint.clone(),
            RunnerError::Seed { hint: None, .. } => "check that the store is reachable (dk store show NAME) and the seed rows match the schema".into(),
            RunnerError::Target(_) => {
                "set lineage.endpoint to the backend's base URL, e.g. http://localhost:5000".into()
            }
            RunnerError::Order(_) => "`dk pipeline show` draws the graph".into(),
            RunnerError::Run { .. } | RunnerError::Runtime(_) | RunnerError::Interrupted { .. } => {
                return None;
            }
        })
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            RunnerError::Exec(err) if err.is_external() => ErrorKind::External,
            RunnerError::Seed { external: true, .. } => ErrorKind::External,
            RunnerError::Interrupted { signal, .. } => ErrorKind::Signal(Stop::code(signal)),
            RunnerError::Seed { .. } | RunnerError::Run { .. } | RunnerError::Runtime(_) => {
                ErrorKind::Failure
            }
            _ => ErrorKind::Usage,
        }
    }

    /// The message of an error that stands for another, refused before it: an override error
    /// found while planning reads as one found in `DK_STORE_OVERRIDES` itself.
    fn from_plan(err: PlanError, package: &Package) -> RunnerError {
        match err {
            PlanError::Override(err) => RunnerError::Override(err),
            source => RunnerError::Plan {
                dir: package.dir.clone(),
                source,
            },
        }
    }
}

/// What a runner has to say while it works; a frontend shows it.
#[derive(Debug, Clone, Copy)]
pub enum Note<'a> {
    /// A store of the plan is the dev stack's service, not the manifests' host.
    DevStackStore {
        store: &'a str,
        service: StackService,
    },
    /// A dataset was seeded (or found unchanged, or cleaned).
    Seeded(&'a Seeded),
    /// Lineage could not do all it should (delivery, the spool); the run went on.
    LineageWarning(&'a str),
}

/// Where a runner's [`Note`]s go.
pub type Notes = Box<dyn Fn(Note<'_>) + Send + Sync>;

/// What every run of one dk invocation shares.
pub struct Runner {
    pub tools: Tools,
    settings: RunnerSettings,
    /// Runs pipelines and keeps watching for SIGINT/SIGTERM between them (its worker thread
    /// hears a signal while the main thread is busy seeding).
    /// (Always set; taken only when dropped.)
    runtime: Option<tokio::runtime::Runtime>,
    /// Started on the first phase that can be stopped: a command that only plans (or flushes
    /// lineage) keeps the default handling of Ctrl-C.
    stop: OnceLock<Stop>,
    pinned_time: Option<DateTime<Utc>>,
    nominal_time: Option<DateTime<Utc>>,
    store_overrides: StoreOverrides,
    parent: Option<ParentRun>,
    notes: Notes,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// Checks the settings that every run uses: the pinned and nominal times, the schedule,
    /// store overrides and the parent run. What the runner has to say goes to `notes`.
    pub fn new(settings: RunnerSettings, notes: Notes) -> Result<Runner, RunnerError> {
        let env = |name: &str| settings.env.get(name).map(String::as_str);
        let time = |variable: &'static str| -> Result<Option<DateTime<Utc>>, RunnerError> {
            let Some(text) = env(variable) else {
                return Ok(None);
            };
            let time = DateTime::parse_from_rfc3339(text).map_err(|source| RunnerError::Time {
                variable,
                text: text.to_owned(),
                source,
            })?;
            Ok(Some(time.with_timezone(&Utc)))
        };
        let pinned_time = time(DK_NOW)?;
        // A scheduler that knows the planned time says so; a CronJob's pod cannot, so dk works
        // it out from the schedule the chart passes.
        let nominal_time = match (time(DK_NOMINAL_TIME)?, env(DK_SCHEDULE)) {
            (Some(given), _) => Some(given),
            (None, Some(cron)) => {
                let schedule =
                    Schedule::new(cron, env(DK_TIMEZONE)).map_err(RunnerError::Schedule)?;
                Some(
                    schedule
                        .nominal_time(pinned_time.unwrap_or_else(Utc::now))
                        .map_err(RunnerError::NominalTime)?,
                )
            }
            (None, None) => None,
        };
        let store_overrides = match env(DK_STORE_OVERRIDES) {
            Some(json) => StoreOverrides::parse(json).map_err(RunnerError::Override)?,
            None => StoreOverrides::default(),
        };
        let parent = match env(OPENLINEAGE_PARENT_ID) {
            Some(text) => {
                Some(
                    text.parse::<ParentRun>()
                        .map_err(|reason| RunnerError::Parent {
                            text: text.to_owned(),
                            reason,
                        })?,
                )
            }
            None => None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(RunnerError::Runtime)?;
        Ok(Runner {
            notes,
            runtime: Some(runtime),
            stop: OnceLock::new(),
            tools: Tools::new(env(PATH).map(str::to_owned)),
            pinned_time,
            nominal_time,
            store_overrides,
            parent,
            settings,
        })
    }

    /// The plan of one run of `package`.
    pub fn plan(
        &self,
        project: &Project,
        package: &Package,
        run_id: Uuid,
        timeout: Option<Duration>,
    ) -> Result<RunPlan, RunnerError> {
        let settings = RunSettings {
            run_id,
            timeout,
            parent: self.parent.clone(),
            namespace: self.settings.namespace.clone(),
            nominal_time: self.nominal_time,
            source_code: git_source(&package.dir),
            dev_stores: self.dev_stores(),
            store_overrides: self.store_overrides.clone(),
        };
        let secrets = |name: &str| self.settings.secrets.get(name).cloned();
        let plan = RunPlan::new(project, package, &settings, &secrets)
            .map_err(|err| RunnerError::from_plan(err, package))?;
        let mut moved: Vec<(&str, StackService)> = plan
            .datasets
            .iter()
            .filter_map(|d| Some((d.store.name.as_str(), d.store.dev_stack?)))
            .collect();
        moved.dedup();
        for (store, service) in moved {
            (self.notes)(Note::DevStackStore { store, service });
        }
        Ok(plan)
    }

    /// An override of a store no planned run uses would do nothing: refused, or prod's run
    /// would quietly go to the manifests' (dev's) host.
    pub fn check_overrides_used<'p>(
        &self,
        plans: impl IntoIterator<Item = &'p RunPlan>,
    ) -> Result<(), RunnerError> {
        self.store_overrides
            .check_used(
                plans
                    .into_iter()
                    .flat_map(|plan| plan.datasets.iter().map(|d| d.store.name.as_str())),
            )
            .map_err(RunnerError::Override)
    }

    /// Where a run keeps its private files (the context with DSNs) while it runs.
    pub fn run_dir(&self, plan: &RunPlan) -> PathBuf {
        self.settings
            .dk_home
            .join("runs")
            .join(plan.run_id.to_string())
    }

    /// How `plan` runs; `env` (`--env`) is passed into containers by name too.
    pub fn prepare(
        &self,
        plan: &RunPlan,
        executor: Executor,
        purpose: Purpose,
        env: &[(String, String)],
    ) -> Result<Prepared, RunnerError> {
        let run_dir = self.run_dir(plan);
        Ok(match executor {
            Executor::Local => {
                exec::local(plan, &run_dir, &self.tools, purpose, self.settings.colors)?
            }
            Executor::Docker => {
                let context = run_dir.join("context.json");
                exec::docker(
                    plan,
                    &run_dir,
                    &[plan.contract_env(&context), env.to_vec()].concat(),
                    &self.tools,
                    &self.settings.containers,
                    self.settings.colors,
                )?
            }
        })
    }

    /// Loads seed rows into the datasets of `plan` that `wanted` selects and declare them.
    pub fn seed(
        &self,
        plan: &RunPlan,
        options: &SeedOptions,
        wanted: impl Fn(&DatasetPlan) -> bool,
    ) -> Result<Vec<Seeded>, RunnerError> {
        let selected: Vec<usize> = (0..plan.datasets.len())
            .filter(|i| wanted(&plan.datasets[*i]) && seed::has_seed(&plan.datasets[*i].dataset))
            .collect();
        if selected.is_empty() {
            return Ok(Vec::new());
        }
        let options = SeedOptions {
            duckdb_python: options
                .duckdb_python
                .clone()
                .or_else(|| self.tools.duckdb_python()),
            ..options.clone()
        };
        let plan = plan.clone();
        let phase = format!("seeding {}", plan.name());
        let seeded = self.interruptible(phase, move || {
            let targets: Vec<SeedTarget<'_>> = selected
                .iter()
                .map(|i| SeedTarget::of(&plan.datasets[*i], &plan.package_dir))
                .collect();
            seed::seed(&targets, &options).map_err(|err| RunnerError::Seed {
                message: redact(&err.to_string(), &plan.secrets()),
                hint: err.hint(),
                external: err.is_external(),
            })
        })??;
        for item in &seeded {
            (self.notes)(Note::Seeded(item));
        }
        Ok(seeded)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the runner")
    }

    /// The command's watch for SIGINT and SIGTERM, started on first use.
    fn stop(&self) -> Result<&Stop, RunnerError> {
        if let Some(stop) = self.stop.get() {
            return Ok(stop);
        }
        let _context = self.runtime().enter();
        let stop = Stop::listen().map_err(RunnerError::Runtime)?;
        Ok(self.stop.get_or_init(|| stop))
    }

    /// The error of a phase that a signal stopped.
    fn interrupted(&self, phase: &str) -> Result<(), RunnerError> {
        match self.stop()?.requested() {
            Some(signal) => Err(RunnerError::Interrupted {
                signal,
                phase: phase.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// Runs blocking `work` (a database driver cannot be cancelled) until it ends or a signal
    /// comes; then the command stops at once and the work is abandoned with the process.
    fn interruptible<T: Send + 'static>(
        &self,
        phase: String,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, RunnerError> {
        self.interrupted(&phase)?;
        let stop = self.stop()?.clone();
        self.runtime().block_on(async {
            tokio::select! {
                done = tokio::task::spawn_blocking(work) => done.map_err(|err| {
                    RunnerError::Runtime(std::io::Error::other(err.to_string()))
                }),
                signal = stop.wait() => Err(RunnerError::Interrupted { signal, phase }),
            }
        })
    }

    /// Lineage for runs: the local spool and store, and the backend when one is configured;
    /// `endpoint` (a flag) goes over the configuration, and the dev stack's lineage server,
    /// when it answers, is the last resort.
    pub fn lineage(&self, endpoint: Option<&str>) -> Result<LineageSetup, RunnerError> {
        let lineage = &self.settings.lineage;
        let endpoint = endpoint
            .map(str::to_owned)
            .or_else(|| lineage.endpoint.clone())
            .or_else(|| self.stack_lineage());
        let deliverer = match endpoint {
            Some(endpoint) => {
                let api_key = self.settings.env.get(OPENLINEAGE_API_KEY).cloned();
                let target = Target::new(lineage.backend.as_deref(), &endpoint, api_key)
                    .map_err(RunnerError::Target)?;
                Some(Deliverer::new(target))
            }
            None => None,
        };
        Ok(LineageSetup {
            paths: LineagePaths::under(&self.settings.dk_home),
            deliverer,
            wait: lineage.timeout.unwrap_or(LINEAGE_WAIT),
            // Set by the frontend, which knows how to start a deliverer that outlives it.
            handoff: None,
        })
    }

    /// The dev stack's lineage server, when it answers.
    fn stack_lineage(&self) -> Option<String> {
        let ports = self.settings.dev_stack.as_ref()?;
        probe::answers(ports, Service::Lineage).then(|| ports.endpoint(Service::Lineage))
    }

    /// The dev stack's services that answer, for stores that declare `spec.dev.stack`.
    fn dev_stores(&self) -> DevStores {
        let Some(ports) = &self.settings.dev_stack else {
            return DevStores::new();
        };
        StackService::ALL
            .into_iter()
            .filter_map(|wanted| {
                let service = Service::parse(wanted.name())?;
                let (store_type, connection) = ports.store(service)?;
                probe::answers(ports, service)
                    .then(|| (wanted, (store_type.to_owned(), connection)))
            })
            .collect()
    }

    /// How a run of `plan` is carried out.
    pub fn config(
        &self,
        plan: &RunPlan,
        env: &[(String, String)],
        lineage: Option<LineageSetup>,
    ) -> RunConfig {
        RunConfig {
            run_dir: self.run_dir(plan),
            env: env.to_vec(),
            grace: GRACE,
            lineage,
            stdout_to_stderr: self.settings.stdout_to_stderr,
            pinned_time: self.pinned_time,
            supervisor: self.settings.supervisor.clone(),
            stop: None,
            lend_terminal: self.settings.terminal,
        }
    }

    /// Records the START and FAIL of a run that failed before its pipeline started (seeding
    /// its inputs, preparing its environment), with `error`.
    pub fn fail_before_start(&self, plan: &RunPlan, config: &RunConfig, error: &str) {
        let warnings = self
            .runtime()
            .block_on(crate::run::fail_before_start(plan, config, error));
        for warning in &warnings {
            (self.notes)(Note::LineageWarning(warning));
        }
    }

    /// Runs a prepared pipeline to its end: its steps (a virtualenv, generated files; their
    /// tools' output goes to `log`), then the pipeline itself on `runtime`.
    pub fn execute(
        &self,
        plan: &RunPlan,
        prepared: &Prepared,
        config: &RunConfig,
        log: &mut dyn Write,
    ) -> Result<RunReport, RunnerError> {
        let phase = format!("preparing {}", plan.name());
        self.interrupted(&phase)?;
        // Before the steps: they write the generated profiles, which hold DSNs.
        let _private = PrivateDir::new(&config.run_dir);
        // Owned from the start: a dk killed while preparing leaves a folder the next one
        // removes.
        Owner::current(None).write(&config.run_dir)?;
        let prepared_steps = exec::prepare(&prepared.steps, log);
        // A Ctrl-C reaches the tools (pip) too: their failure is the signal's.
        self.interrupted(&phase)?;
        if let Err(err) = &prepared_steps {
            self.fail_before_start(plan, config, &err.to_string());
        }
        prepared_steps?;
        let config = RunConfig {
            stop: Some(self.stop()?.clone()),
            ..config.clone()
        };
        let report = self
            .runtime()
            .block_on(execute(plan, prepared, &config))
            .map_err(|source| RunnerError::Run {
                package: plan.name().to_owned(),
                source,
            })?;
        for warning in report.lineage.iter().flat_map(|l| &l.warnings) {
            (self.notes)(Note::LineageWarning(warning));
        }
        Ok(report)
    }
}

impl Drop for Runner {
    /// Without waiting for work a signal abandoned (a seeding blocked on a silent database):
    /// the command is stopping.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The packages with a Transform, each after the producers of its inputs.
pub fn run_order(projects: &[Project]) -> Result<Vec<(&Project, &Package)>, RunnerError> {
    let graph = Graph::build(projects);
    let order = graph.order().map_err(RunnerError::Order)?;
    let packages: Vec<(&Project, &Package)> = projects
        .iter()
        .flat_map(|project| {
            project
                .packages
                .iter()
                .map(move |package| (project, package))
        })
        .collect();
    Ok(order
        .into_iter()
        .filter_map(|index| {
            let directory = &graph.steps[index].directory;
            packages
                .iter()
                .find(|(_, package)| package.dir.display().to_string() == *directory)
                .copied()
        })
        .collect())
}

/// `KEY=VALUE` pairs, as `--env` takes them; the pair that is not one is the error.
pub fn parse_env(pairs: &[String]) -> Result<Vec<(String, String)>, &str> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(pair.as_str()),
        })
        .collect()
}
