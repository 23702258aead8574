//! `dk run`: packages run under the runtime contract (docs/runtime-contract.md), with lineage
//! recorded locally and sent to the configured backend.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, ValueEnum};
use serde::Serialize;
use uuid::Uuid;

use dk_config::env::DK_RUN_ID;
use dk_lineage::event::new_run_id;
use dk_runner::contract::redact;
use dk_runner::exec::{self, Executor, Prepared, Purpose};
use dk_runner::plan::RunPlan;
use dk_runner::run::{LineageOutcome, RunReport, RunStatus};
use dk_runner::runner::run_order;
use dk_runner::seed::{self, SeedOptions};

use super::{OverrideArgs, lint_gate, load_projects, parse_env, parse_timeout};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui, plural};
use crate::runner::Runner;

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

/// One package ready to go.
struct Planned {
    plan: RunPlan,
    prepared: Prepared,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Serialize, schemars::JsonSchema)]
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
                    exec::Step::Directory { path } => format!("create {}", path.display()),
                    exec::Step::Image { engine, image, .. } => {
                        format!("{engine}: image {image}, pulled if not present")
                    }
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct DryRuns {
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
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunSummary {
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
    let packages = run_order(&projects).map_err(CliError::from)?;
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
        .check_overrides_used(planned.iter().map(|p| &p.plan))
        .map_err(CliError::from)?;
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
        let lineage = match plan.transform.spec.lineage.enabled && !args.no_lineage {
            false => None,
            true => Some(runner.lineage(args.lineage_endpoint.as_deref())?),
        };
        let config = runner.config(plan, &env, lineage);
        if !args.no_seed {
            let seeded = runner.seed(plan, &SeedOptions::default(), |d| {
                d.role == dk_manifest::resolve::Role::Input
            });
            if let Err(err) = seeded {
                runner.fail_before_start(plan, &config, &err.to_string());
                return Err(err.into());
            }
        }
        ctx.ui.note(format!(
            "▶ {} ({}, run {})",
            plan.name(),
            std::iter::once(prepared.invocation.program.as_str())
                .chain(prepared.invocation.args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
            plan.run_id
        ));
        let report = runner.execute(plan, prepared, &config, &mut io::stderr())?;
        match report.status {
            RunStatus::Succeeded => summary.succeeded += 1,
            _ => summary.failed += 1,
        }
        summary.runs.push(report);
    }
    summary.duration_ms = started.elapsed().as_millis() as u64;
    ctx.ui.emit_message(&summary)
}
