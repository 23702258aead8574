//! `dk run`: packages run under the runtime contract (docs/runtime-contract.md), with lineage
//! recorded locally and sent to the configured backend.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use serde::Serialize;
use uuid::Uuid;

use dk_config::env::{
    DK_NOMINAL_TIME, DK_NOW, DK_RUN_ID, DK_SCHEDULE, DK_STORE_OVERRIDES, DK_TIMEZONE,
    OPENLINEAGE_API_KEY, OPENLINEAGE_PARENT_ID, PATH,
};
use dk_devstack::catalog::{Ports, Service};
use dk_devstack::probe;
use dk_devstack::stack::Runtime;
use dk_lineage::deliver::{Deliverer, Target};
use dk_lineage::emit::LineagePaths;
use dk_lineage::event::{ParentRun, new_run_id};
use dk_lineage::source::git_source;
use dk_manifest::discover::{Package, Project};
use dk_manifest::graph::Graph;
use dk_manifest::model::{Runtime as PackageRuntime, StackService};
use dk_manifest::units::parse_duration;
use dk_runner::contract::redact;
use dk_runner::exec::{self, ContainerSettings, Engine, Executor, Prepared, Purpose, Tools};
use dk_runner::overrides::{OverrideError, StoreOverrides};
use dk_runner::plan::{DevStores, PlanError, RunPlan, RunSettings};
use dk_runner::run::{
    LineageOutcome, LineageSetup, PrivateDir, RunConfig, RunReport, RunStatus, execute,
};
use dk_runner::schedule::{Schedule, ScheduleError};
use dk_runner::seed::{self, SeedAction, SeedOptions, SeedTarget, Seeded};

use super::{OverrideArgs, load_projects, runtime};
use crate::context::Context;
use crate::delivery::LINEAGE_WAIT;
use crate::error::{CliError, ExitStatus};
use crate::findings::{summary, write_findings};
use crate::output::{Render, Ui, plural};

/// Run a package locally with its inputs and outputs wired in, recording OpenLineage events
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk run ./my-pipeline
  dk run ./my-pipeline --env LOG_LEVEL=debug --timeout 10m
  dk run ./my-pipeline --dry-run              show the command, environment and datasets
  dk run --scan-dir .                         every package below . in dependency order
  dk run ./my-pipeline --lineage-endpoint http://localhost:5000
  OPENLINEAGE_URL=http://marquez:5000 dk run ./my-pipeline -o json")]
pub struct RunArgs {
    /// The package directory (holding dk.yaml)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Run every package below DIR in dependency order, stopping at the first failure (repeatable)
    #[arg(long = "scan-dir", value_name = "DIR")]
    pub scan_dirs: Vec<PathBuf>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
    /// A variable for the pipeline, over the contract's (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Stop the pipeline after this long (over spec.timeout), e.g. 90s, 10m
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Print the plan (command, environment with secrets hidden, datasets) and run nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Where pipelines run (default: config run.executor, local)
    #[arg(long, value_enum)]
    pub executor: Option<ExecutorArg>,
    /// Send lineage to this OpenLineage endpoint (over lineage.endpoint and OPENLINEAGE_URL)
    #[arg(long, value_name = "URL")]
    pub lineage_endpoint: Option<String>,
    /// Record and send no lineage
    #[arg(long, conflicts_with = "lineage_endpoint")]
    pub no_lineage: bool,
    /// Do not load the dev.seed rows of inputs before running
    #[arg(long)]
    pub no_seed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExecutorArg {
    Local,
    Docker,
}

/// How long a stopped pipeline has to exit before it is killed.
const GRACE: Duration = Duration::from_secs(10);

/// What every run of one dk invocation shares.
pub struct Runner<'a> {
    ctx: &'a Context,
    pub tools: Tools,
    dk_home: PathBuf,
    pinned_time: Option<DateTime<Utc>>,
    nominal_time: Option<DateTime<Utc>>,
    store_overrides: StoreOverrides,
}

/// `${VAR}` secrets are read from the whole environment dk runs in, not only the variables dk
/// itself declares.
fn secret_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn plan_error(err: PlanError, package: &Package) -> CliError {
    let hint = match &err {
        PlanError::Contract(dk_runner::contract::ContractError::MissingSecret {
            variable, ..
        }) => format!(
            "export {variable}=... before running, or put the value in your shell's secret store"
        ),
        PlanError::Timeout(_) => "write a duration such as 30m or 1h in spec.timeout".into(),
        PlanError::Override(err) => return override_error(err.clone()),
        _ => format!("`dk lint {}` shows what is wrong", package.dir.display()),
    };
    CliError::usage(format!("cannot run {}: {err}", package.dir.display())).hint(hint)
}

/// `DK_STORE_OVERRIDES` refused: the variable, the store and the key, never a value.
fn override_error(err: OverrideError) -> CliError {
    CliError::usage(format!("{DK_STORE_OVERRIDES}: {err}")).hint(err.hint())
}

/// The nominal time of a CronJob's run, from `DK_SCHEDULE` and `DK_TIMEZONE`.
fn scheduled_time(
    cron: &str,
    timezone: Option<&str>,
    start: DateTime<Utc>,
) -> Result<DateTime<Utc>, CliError> {
    let schedule = Schedule::new(cron, timezone).map_err(|err| {
        let hint = match err {
            ScheduleError::Timezone(_) => format!(
                "set {DK_TIMEZONE} to an IANA name such as Europe/Berlin or Etc/UTC (the CronJob's timeZone), or unset it for Etc/UTC"
            ),
            _ => format!(
                "{DK_SCHEDULE} takes a Kubernetes CronJob schedule: five fields (minute hour day-of-month month day-of-week, e.g. `0 2 * * *`) or a macro such as @daily; or set {DK_NOMINAL_TIME}"
            ),
        };
        let variable = match err {
            ScheduleError::Timezone(_) => DK_TIMEZONE,
            _ => DK_SCHEDULE,
        };
        CliError::usage(format!("{variable}: {err}")).hint(hint)
    })?;
    schedule.nominal_time(start).map_err(|err| {
        CliError::usage(format!("{DK_SCHEDULE}: {err}"))
            .hint(format!("set {DK_NOMINAL_TIME} to the run's planned time"))
    })
}

fn exec_error(err: exec::ExecError) -> CliError {
    let hint = err.hint();
    let status = match err.is_external() {
        true => ExitStatus::External,
        false => ExitStatus::Usage,
    };
    let mut error = CliError::new(status, err.to_string());
    error.hint = hint;
    error
}

impl<'a> Runner<'a> {
    pub fn new(ctx: &'a Context) -> Result<Runner<'a>, CliError> {
        let time = |variable: &str| -> Result<Option<DateTime<Utc>>, CliError> {
            let Some(text) = ctx.env.get(variable) else {
                return Ok(None);
            };
            let time = DateTime::parse_from_rfc3339(text).map_err(|err| {
                CliError::usage(format!(
                    "{variable}=`{text}` is not an RFC 3339 time: {err}"
                ))
                .hint(format!("e.g. {variable}=2026-01-01T00:00:00Z, or unset it"))
            })?;
            Ok(Some(time.with_timezone(&Utc)))
        };
        let pinned_time = time(DK_NOW)?;
        // A scheduler that knows the planned time says so; a CronJob's pod cannot, so dk works
        // it out from the schedule the chart passes.
        let nominal_time = match (time(DK_NOMINAL_TIME)?, ctx.env.get(DK_SCHEDULE)) {
            (Some(given), _) => Some(given),
            (None, Some(cron)) => Some(scheduled_time(
                cron,
                ctx.env.get(DK_TIMEZONE),
                pinned_time.unwrap_or_else(Utc::now),
            )?),
            (None, None) => None,
        };
        let store_overrides = match ctx.env.get(DK_STORE_OVERRIDES) {
            Some(json) => StoreOverrides::parse(json).map_err(override_error)?,
            None => StoreOverrides::default(),
        };
        Ok(Runner {
            ctx,
            tools: Tools::new(ctx.env.get(PATH).map(str::to_owned)),
            dk_home: ctx.paths()?.dk_home,
            pinned_time,
            nominal_time,
            store_overrides,
        })
    }

    /// The plan of one run of `package`.
    pub fn plan(
        &self,
        project: &Project,
        package: &Package,
        run_id: Uuid,
        timeout: Option<Duration>,
    ) -> Result<RunPlan, CliError> {
        let parent = match self.ctx.env.get(OPENLINEAGE_PARENT_ID) {
            Some(text) => Some(text.parse::<ParentRun>().map_err(|err| {
                CliError::usage(format!("{OPENLINEAGE_PARENT_ID}=`{text}`: {err}"))
                    .hint("the format is <namespace>/<job>/<runId>, or unset it")
            })?),
            None => None,
        };
        let settings = RunSettings {
            run_id,
            timeout,
            parent,
            namespace: self.ctx.config()?.string("lineage.namespace")?,
            nominal_time: self.nominal_time,
            source_code: git_source(&package.dir),
            dev_stores: self.dev_stores()?,
            store_overrides: self.store_overrides.clone(),
        };
        let plan = RunPlan::new(project, package, &settings, &secret_lookup)
            .map_err(|err| plan_error(err, package))?;
        let mut moved: Vec<(&str, StackService)> = plan
            .datasets
            .iter()
            .filter_map(|d| Some((d.store.name.as_str(), d.store.dev_stack?)))
            .collect();
        moved.dedup();
        for (store, service) in moved {
            self.ctx.ui.note(format!(
                "Store '{store}' is the dev stack's {} (dk dev up)",
                service.name()
            ));
        }
        Ok(plan)
    }

    /// Where a run keeps its private files (the context with DSNs) while it runs.
    pub fn run_dir(&self, plan: &RunPlan) -> PathBuf {
        self.dk_home.join("runs").join(plan.run_id.to_string())
    }

    /// How `plan` runs; `env` (`--env`) is passed into containers by name too.
    pub fn prepare(
        &self,
        plan: &RunPlan,
        executor: Executor,
        purpose: Purpose,
        env: &[(String, String)],
    ) -> Result<Prepared, CliError> {
        let run_dir = self.run_dir(plan);
        match executor {
            Executor::Local => exec::local(plan, &run_dir, &self.tools, purpose),
            Executor::Docker => {
                let context = run_dir.join("context.json");
                let settings = self.container_settings()?;
                exec::docker(
                    plan,
                    &run_dir,
                    &[plan.contract_env(&context), env.to_vec()].concat(),
                    &self.tools,
                    &settings,
                )
            }
        }
        .map_err(exec_error)
    }

    /// `run.engine` and `runtime.images.<runtime>`.
    fn container_settings(&self) -> Result<ContainerSettings, CliError> {
        let config = self.ctx.config()?;
        let engine = config
            .string("run.engine")?
            .and_then(|name| Engine::parse(&name));
        let mut images = BTreeMap::new();
        for runtime in PackageRuntime::ALL {
            if let Some(image) = config.string(&format!("runtime.images.{runtime}"))? {
                images.insert(*runtime, image);
            }
        }
        Ok(ContainerSettings { engine, images })
    }

    /// Loads seed rows into the datasets of `plan` that `wanted` selects and declare them.
    pub fn seed(
        &self,
        plan: &RunPlan,
        options: &SeedOptions,
        wanted: impl Fn(&dk_runner::plan::DatasetPlan) -> bool,
    ) -> Result<Vec<Seeded>, CliError> {
        let targets: Vec<SeedTarget<'_>> = plan
            .datasets
            .iter()
            .filter(|d| wanted(d) && seed::has_seed(&d.dataset))
            .map(|d| SeedTarget::of(d, &plan.package_dir))
            .collect();
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let options = SeedOptions {
            duckdb_python: options
                .duckdb_python
                .clone()
                .or_else(|| self.tools.find("python3")),
            ..options.clone()
        };
        let seeded = seed::seed(&targets, &options).map_err(|err| {
            CliError::failure(format!("seeding failed: {}", redact(&err.to_string(), &plan.secrets())))
                .hint("check that the store is reachable (dk store show NAME) and the seed rows match the schema")
        })?;
        for item in &seeded {
            self.ctx.ui.note(seed_line(item));
        }
        Ok(seeded)
    }

    /// Lineage for runs: the local spool and store, and the backend when one is configured.
    pub fn lineage(&self, endpoint_flag: Option<&str>) -> Result<LineageSetup, CliError> {
        let config = self.ctx.config()?;
        let backend = config.string("lineage.backend")?;
        let endpoint = match endpoint_flag {
            Some(url) => Some(url.to_owned()),
            None => match config.string("lineage.endpoint")? {
                Some(url) => Some(url),
                None => self.stack_lineage()?,
            },
        };
        let deliverer = match endpoint {
            Some(endpoint) => {
                let api_key = self.ctx.env.get(OPENLINEAGE_API_KEY).map(str::to_owned);
                let target = Target::new(backend.as_deref(), &endpoint, api_key).map_err(|err| {
                    CliError::usage(err.to_string()).hint(
                        "set lineage.endpoint to the backend's base URL, e.g. http://localhost:5000",
                    )
                })?;
                Some(Deliverer::new(target))
            }
            None => None,
        };
        Ok(LineageSetup {
            paths: LineagePaths::under(&self.dk_home),
            handoff: crate::delivery::handoff(self.ctx, &self.dk_home, deliverer.as_ref())?,
            deliverer,
            wait: config.duration("lineage.timeout")?.unwrap_or(LINEAGE_WAIT),
        })
    }

    /// The ports of the dev stack, when `dk dev up` started one.
    fn dev_stack(&self) -> Result<Option<Ports>, CliError> {
        if Runtime::recorded(&self.dk_home.join("dev")).is_none() {
            return Ok(None);
        }
        super::dev::stack_ports(self.ctx).map(Some)
    }

    /// The dev stack's lineage server, when it answers: where lineage goes when no endpoint is
    /// configured.
    fn stack_lineage(&self) -> Result<Option<String>, CliError> {
        Ok(self.dev_stack()?.and_then(|ports| {
            probe::answers(&ports, Service::Lineage).then(|| ports.endpoint(Service::Lineage))
        }))
    }

    /// The dev stack's services that answer, for stores that declare `spec.dev.stack`.
    fn dev_stores(&self) -> Result<DevStores, CliError> {
        let Some(ports) = self.dev_stack()? else {
            return Ok(DevStores::new());
        };
        Ok(StackService::ALL
            .into_iter()
            .filter_map(|wanted| {
                let service = Service::parse(wanted.name())?;
                let (store_type, connection) = ports.store(service)?;
                probe::answers(&ports, service)
                    .then(|| (wanted, (store_type.to_owned(), connection)))
            })
            .collect())
    }

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
            stdout_to_stderr: self.ctx.ui.format != crate::output::OutputFormat::Text,
            pinned_time: self.pinned_time,
        }
    }

    /// Runs a prepared pipeline to its end.
    pub fn execute(
        &self,
        plan: &RunPlan,
        prepared: &Prepared,
        config: &RunConfig,
    ) -> Result<RunReport, CliError> {
        // Before the steps: they write the generated profiles, which hold DSNs.
        let _private = PrivateDir::new(&config.run_dir);
        exec::prepare(&prepared.steps, &mut io::stderr()).map_err(exec_error)?;
        let report = runtime()?
            .block_on(execute(plan, prepared, config))
            .map_err(|err| CliError::failure(format!("{} did not run", plan.name())).cause(err))?;
        for warning in report.lineage.iter().flat_map(|l| &l.warnings) {
            self.ctx.ui.warn(warning);
        }
        Ok(report)
    }
}

/// `Seeding X (table, profile=p): n row(s)...`
pub fn seed_line(seeded: &Seeded) -> String {
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

/// `KEY=VALUE` pairs of `--env`.
pub fn parse_env(pairs: &[String]) -> Result<Vec<(String, String)>, CliError> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
            _ => Err(CliError::usage(format!("--env `{pair}` is not KEY=VALUE"))
                .hint("e.g. --env LOG_LEVEL=debug")),
        })
        .collect()
}

pub fn parse_timeout(text: Option<&str>, flag: &str) -> Result<Option<Duration>, CliError> {
    text.map(|text| parse_duration(text).map_err(|err| CliError::usage(format!("{flag}: {err}"))))
        .transpose()
}

/// Lints what is about to run (or be built); errors stop it, and `consequence` says what did
/// not happen.
fn lint_gate(
    ctx: &Context,
    projects: &[Project],
    what: &str,
    consequence: &str,
) -> Result<(), CliError> {
    let report = dk_validate::lint(projects);
    if !report.findings.is_empty() && !ctx.ui.quiet {
        ctx.ui.write_err(|err| {
            write_findings(err, ctx.ui.err_styles(), &report)?;
            writeln!(err)
        })?;
    }
    if report.errors > 0 {
        return Err(
            CliError::failure(format!("{what} has {}; {consequence}", summary(&report)))
                .hint("fix the errors above; `dk lint --explain CODE` tells more of each"),
        );
    }
    Ok(())
}

/// One package, as written (no overrides), that lints without errors.
pub fn load_runnable(ctx: &Context, dir: &Path) -> Result<Project, CliError> {
    load_linted(ctx, dir, "nothing was run")
}

/// One package, as written, that lints without errors; else an error ending in `consequence`.
pub fn load_linted(ctx: &Context, dir: &Path, consequence: &str) -> Result<Project, CliError> {
    let project = super::load_package(ctx, dir, &OverrideArgs::default())?;
    lint_gate(
        ctx,
        std::slice::from_ref(&project),
        &dir.display().to_string(),
        consequence,
    )?;
    Ok(project)
}

/// The packages with a Transform, each after the producers of its inputs.
pub fn run_order(projects: &[Project]) -> Result<Vec<(&Project, &Package)>, CliError> {
    let graph = Graph::build(projects);
    let order = graph.order().map_err(|err| {
        CliError::usage(err.to_string()).hint("`dk pipeline show` draws the graph")
    })?;
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

/// One package ready to go.
struct Planned {
    plan: RunPlan,
    prepared: Prepared,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PlannedDataset {
    role: String,
    name: String,
    store: String,
    store_type: String,
    location: String,
    seeded: bool,
}

/// `--dry-run`: what would run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct DryRun {
    package: String,
    run_id: String,
    executor: Executor,
    command: Vec<String>,
    directory: String,
    /// The variables the pipeline gets, secrets shown as `***`.
    env: Vec<(String, String)>,
    datasets: Vec<PlannedDataset>,
    /// Preparation before the start (a virtualenv, generated files).
    steps: Vec<String>,
}

impl DryRun {
    fn new(planned: &Planned, run_dir: &Path, env: &[(String, String)]) -> DryRun {
        let Planned { plan, prepared } = planned;
        let secrets = plan.secrets();
        let invocation = &prepared.invocation;
        let mut shown_env = plan.contract_env(&run_dir.join("context.json"));
        shown_env.extend(invocation.env.iter().cloned());
        shown_env.extend(env.iter().cloned());
        shown_env.sort();
        shown_env.dedup_by(|a, b| a.0 == b.0);
        DryRun {
            package: plan.name().to_owned(),
            run_id: plan.run_id.to_string(),
            executor: prepared.executor,
            command: std::iter::once(invocation.program.clone())
                .chain(invocation.args.iter().cloned())
                .map(|part| redact(&part, &secrets))
                .collect(),
            directory: invocation.cwd.display().to_string(),
            env: shown_env
                .into_iter()
                .map(|(key, value)| (key, redact(&value, &secrets)))
                .collect(),
            datasets: plan
                .datasets
                .iter()
                .map(|d| PlannedDataset {
                    role: format!("{:?}", d.role).to_lowercase(),
                    name: d.dataset.metadata.name.clone(),
                    store: d.store.name.clone(),
                    store_type: d.store.store_type.clone(),
                    location: redact(&d.location, &secrets),
                    seeded: seed::has_seed(&d.dataset),
                })
                .collect(),
            steps: prepared
                .steps
                .iter()
                .map(|step| match step {
                    exec::Step::Virtualenv {
                        dir, requirements, ..
                    } => format!(
                        "virtualenv {} for {}",
                        dir.display(),
                        requirements.display()
                    ),
                    exec::Step::WriteFile { path, .. } => format!("write {}", path.display()),
                    exec::Step::Image { engine, image, .. } => {
                        format!("{engine}: image {image}, pulled if not present")
                    }
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
struct DryRuns {
    runs: Vec<DryRun>,
}

impl Render for DryRuns {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        for run in &self.runs {
            writeln!(
                out,
                "{} (run {}, {} executor)",
                styles.bold(&run.package),
                run.run_id,
                format!("{:?}", run.executor).to_lowercase()
            )?;
            writeln!(out, "  command   {}", run.command.join(" "))?;
            writeln!(out, "  directory {}", run.directory)?;
            for step in &run.steps {
                writeln!(out, "  before    {step}")?;
            }
            writeln!(out, "  datasets")?;
            for d in &run.datasets {
                let seeded = if d.seeded { "  (dev.seed)" } else { "" };
                writeln!(
                    out,
                    "    {:<6} {}  {} ({})  {}{seeded}",
                    d.role, d.name, d.store, d.store_type, d.location
                )?;
            }
            writeln!(out, "  environment")?;
            for (key, value) in &run.env {
                writeln!(out, "    {key}={value}")?;
            }
        }
        Ok(())
    }
}

/// The outcome of `dk run`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RunSummary {
    runs: Vec<RunReport>,
    /// Packages not run because an earlier one failed.
    skipped: Vec<String>,
    total: usize,
    succeeded: usize,
    failed: usize,
    duration_ms: u64,
}

fn lineage_text(lineage: &LineageOutcome) -> String {
    let mut text = format!("lineage: {} recorded", plural(lineage.events, "event"));
    if let Some(target) = &lineage.target {
        if lineage.delivered > 0 {
            text.push_str(&format!(", {} delivered to {target}", lineage.delivered));
        }
        if lineage.pending > 0 {
            let by = match lineage.background {
                Some(pid) => format!("sent by a background deliverer, pid {pid}"),
                None => "sent by the next run or `dk lineage flush`".to_owned(),
            };
            text.push_str(&format!(
                ", {} pending for {target} ({by})",
                lineage.pending
            ));
        }
        if lineage.rejected > 0 {
            text.push_str(&format!(", {} rejected by {target}", lineage.rejected));
        }
    }
    text
}

fn seconds(ms: u64) -> String {
    format!("{:.2}s", ms as f64 / 1000.0)
}

impl Render for RunSummary {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        for run in &self.runs {
            let (mark, verb) = match run.status {
                RunStatus::Succeeded => (styles.success("✓"), "succeeded"),
                RunStatus::Failed => (styles.error("✗"), "failed"),
                RunStatus::TimedOut => (styles.error("✗"), "timed out"),
                RunStatus::Aborted => (styles.warning("■"), "was stopped"),
            };
            write!(
                out,
                "{mark} {} {verb} in {} (run {})",
                styles.bold(&run.package),
                seconds(run.duration_ms),
                run.run_id
            )?;
            match &run.error {
                Some(error) => writeln!(out, ": {error}")?,
                None => writeln!(out)?,
            }
            if let Some(error) = &run.lineage_error {
                writeln!(out, "{} {}: {error}", styles.error("✗"), run.package)?;
                writeln!(
                    out,
                    "  hint: free space under $DK_HOME/lineage; the run's output is written, only its lineage is missing"
                )?;
            }
            if let Some(lineage) = &run.lineage {
                writeln!(out, "  {}", styles.dim(&lineage_text(lineage)))?;
            }
        }
        if self.total > 1 || !self.skipped.is_empty() {
            writeln!(
                out,
                "Ran {} in {}: {} succeeded, {} failed, {} skipped",
                plural(self.total, "package"),
                seconds(self.duration_ms),
                self.succeeded,
                self.failed,
                self.skipped.len()
            )?;
            if !self.skipped.is_empty() {
                writeln!(out, "Skipped: {}", self.skipped.join(", "))?;
            }
        }
        Ok(())
    }

    fn status(&self) -> ExitStatus {
        if self.runs.iter().any(|run| run.lineage_error.is_some()) {
            return ExitStatus::External;
        }
        match self
            .runs
            .iter()
            .find(|run| run.status != RunStatus::Succeeded)
        {
            Some(run) => ExitStatus::Pipeline(u8::try_from(run.exit_code).unwrap_or(1).max(1)),
            None => ExitStatus::Success,
        }
    }
}

pub fn run(args: RunArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let projects = load_projects(ctx, &args.dir, &args.scan_dirs, &args.overrides)?;
    lint_gate(
        ctx,
        &projects,
        &args.dir.display().to_string(),
        "nothing was run",
    )?;
    let packages = run_order(&projects)?;
    if packages.is_empty() {
        return Err(
            CliError::usage(format!("no Transform to run in {}", args.dir.display()))
                .hint("a package's dk.yaml holds its Transform; create one with `dk init NAME`"),
        );
    }
    let env = parse_env(&args.env)?;
    let timeout = parse_timeout(args.timeout.as_deref(), "--timeout")?;
    let runner = Runner::new(ctx)?;
    let executor = match args.executor {
        Some(ExecutorArg::Docker) => Executor::Docker,
        Some(ExecutorArg::Local) => Executor::Local,
        None => match ctx.config()?.string("run.executor")?.as_deref() {
            Some("docker") => Executor::Docker,
            _ => Executor::Local,
        },
    };
    let pinned_id = match ctx.env.get(DK_RUN_ID) {
        Some(text) if packages.len() == 1 => Some(Uuid::parse_str(text).map_err(|err| {
            CliError::usage(format!("{DK_RUN_ID}=`{text}` is not a UUID: {err}"))
                .hint("unset it to get a fresh UUIDv7")
        })?),
        Some(_) => {
            return Err(CliError::usage(format!(
                "{DK_RUN_ID} pins the id of one run, and this runs {} packages",
                packages.len()
            ))
            .hint(format!("unset {DK_RUN_ID}")));
        }
        None => None,
    };
    // Everything is planned before anything runs: a missing secret or tool in the last package
    // must not leave the first ones half done.
    let planned = packages
        .iter()
        .map(|(project, package)| {
            let plan = runner.plan(
                project,
                package,
                pinned_id.unwrap_or_else(new_run_id),
                timeout,
            )?;
            let prepared = runner.prepare(&plan, executor, Purpose::Run, &env)?;
            Ok(Planned { plan, prepared })
        })
        .collect::<Result<Vec<_>, CliError>>()?;
    // An override of a store no package here uses would do nothing: refused, or prod's run
    // would quietly go to the manifests' (dev's) host.
    runner
        .store_overrides
        .check_used(
            planned
                .iter()
                .flat_map(|p| p.plan.datasets.iter().map(|d| d.store.name.as_str())),
        )
        .map_err(override_error)?;
    if args.dry_run {
        let runs = planned
            .iter()
            .map(|p| DryRun::new(p, &runner.run_dir(&p.plan), &env))
            .collect();
        return ctx.ui.emit(&DryRuns { runs });
    }
    let started = Instant::now();
    let mut summary = RunSummary {
        runs: Vec::new(),
        skipped: Vec::new(),
        total: planned.len(),
        succeeded: 0,
        failed: 0,
        duration_ms: 0,
    };
    for Planned { plan, prepared } in &planned {
        if summary.failed > 0 {
            summary.skipped.push(plan.name().to_owned());
            continue;
        }
        if !args.no_seed {
            runner.seed(plan, &SeedOptions::default(), |d| {
                d.role == dk_manifest::resolve::Role::Input
            })?;
        }
        let lineage = match plan.transform.spec.lineage.enabled && !args.no_lineage {
            false => None,
            true => Some(runner.lineage(args.lineage_endpoint.as_deref())?),
        };
        let config = runner.config(plan, &env, lineage);
        ctx.ui.note(format!(
            "▶ {} ({}, run {})",
            plan.name(),
            std::iter::once(prepared.invocation.program.as_str())
                .chain(prepared.invocation.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            plan.run_id
        ));
        let report = runner.execute(plan, prepared, &config)?;
        match report.status {
            RunStatus::Succeeded => summary.succeeded += 1,
            _ => summary.failed += 1,
        }
        summary.runs.push(report);
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    ctx.ui.emit(&summary)
}
