//! `dk dev`: the local development loop. `dk dev up|status|down` run the local stack;
//! `dk dev seed` loads sample rows into a package's stores.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use dk_lineage::event::new_run_id;
use dk_manifest::suggest::did_you_mean;
use dk_runner::seed::{self, SeedAction, SeedOptions, Seeded};

use dk_config::env::PATH;
use dk_devstack::catalog::{IMAGES, Ports, S3_ACCESS_KEY, Service};
use dk_devstack::compose::{self, ComposeStack};
use dk_devstack::k3d::{CHARTS, K3dStack};
use dk_devstack::native::{NativeStack, Platform};
use dk_devstack::stack::{Runtime, Stack};
use dk_devstack::status::{Health, ServiceStatus, StackError};

use super::{load_runnable, parse_timeout};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui, table, write_table};
use crate::runner::Runner;

/// The local development loop: a stack of real services on loopback, sample data in stores
#[derive(Debug, Subcommand)]
pub enum DevCommand {
    Up(UpArgs),
    Status(StatusArgs),
    Down(DownArgs),
    Seed(SeedArgs),
    #[command(name = "serve-s3", hide = true)]
    ServeS3(ServeS3Args),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeArg {
    Native,
    Compose,
    K3d,
}

/// Start the local stack: PostgreSQL, S3, a Kafka-protocol broker and a lineage server
#[derive(Debug, Args)]
#[command(after_help = "\
Idempotent: what already runs is left alone. The native runtime runs local processes under
$DK_HOME/dev (PostgreSQL binaries, tansu, minio when installed or else dk's own S3, `dk lineage
serve` with its web UI on http://localhost:3000); a service whose program is missing is shown unavailable with the command that installs
it, the others start, and dk exits 3 naming what is missing (0 with --allow-partial).
The compose runtime runs Redpanda, MinIO, PostgreSQL and Marquez containers from
$DK_HOME/dev/compose.yaml; the k3d runtime runs them in the k3d cluster dk-local from embedded Helm
charts, port-forwarded to the same ports (kubectl --context k3d-dk-local -n dk logs -l app=redpanda).
Image tags: dk config set dev.charts.redpanda.version v25.2.0; Helm values (k3d):
dk config set dev.charts.postgres.values.primary.resources.limits.memory 1Gi. Default runtime: the
last up's, else compose when Docker and its compose plugin answer, else native.
Ports: dk config set dev.services.kafka.port 19092 (also postgres, s3, lineage; webPort for s3 and
lineage). Custom services: dk config set dev.charts.NAME.image IMAGE (compose) or
dev.charts.NAME.chart CHART (k3d).

Examples:
  dk dev up
  dk dev up --timeout 2m
  dk dev up --runtime k3d
  dk dev up --allow-partial                   exit 0 with what could start
  dk dev up -o json | jq '.services[] | {service, health}'")]
pub struct UpArgs {
    /// Where services run (default: config dev.runtime, the last up's, compose with Docker, else native)
    #[arg(long, value_enum)]
    pub runtime: Option<RuntimeArg>,
    /// How long to wait for the services to answer
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub timeout: String,
    /// Exit 0 when some services could not start (default: exit 3 naming them)
    #[arg(long)]
    pub allow_partial: bool,
}

/// The stack's services, their health and ports, and how to reach them
#[derive(Debug, Args)]
#[command(after_help = "\
Exits 0 when every service the last `dk dev up` started answers, or when no stack was started
(it says so), and 1 when one of them is down.

Examples:
  dk dev status
  dk dev status -o json")]
pub struct StatusArgs {}

/// Stop the local stack; its data is kept unless --volumes
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk dev down
  dk dev down --volumes                       also remove every service's data")]
pub struct DownArgs {
    /// Remove the services' data too
    #[arg(long)]
    pub volumes: bool,
}

/// Serve the native stack's S3 from a folder (`dk dev up` starts it)
#[derive(Debug, Args)]
pub struct ServeS3Args {
    /// Port to listen on, on 127.0.0.1
    #[arg(long)]
    pub port: u16,
    /// The folder holding one folder per bucket
    pub root: PathBuf,
}

/// Load the dev.seed rows of a package's DataSets into their stores (postgres, sqlite, duckdb, files)
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk dev seed ./my-pipeline
  dk dev seed ./my-pipeline --profile large --dataset orders
  dk dev seed ./my-pipeline --force           reload even if unchanged
  dk dev seed ./my-pipeline --clean           remove the seeded rows")]
pub struct SeedArgs {
    /// The package directory (holding dk.yaml)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The seed profile to load (default: the inline rows, or the profile named default)
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Reload even when the rows have not changed since the last seed
    #[arg(long, conflicts_with = "clean")]
    pub force: bool,
    /// Remove the seeded rows (and the checksums) instead of loading them
    #[arg(long)]
    pub clean: bool,
    /// Only this DataSet
    #[arg(long, value_name = "NAME")]
    pub dataset: Option<String>,
}

pub fn run(command: DevCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    match command {
        DevCommand::Up(args) => run_up(args, ctx),
        DevCommand::Status(_) => run_status(ctx),
        DevCommand::Down(args) => {
            if Runtime::recorded(&dev_dir(ctx)?).is_none() {
                return ctx
                    .ui
                    .emit_message(&StackReport::none(ctx, "nothing to stop")?);
            }
            let stack = stack(ctx, None)?;
            let services = stack
                .down(args.volumes)
                .map_err(|err| CliError::failure("cannot stop the stack").cause(err))?;
            ctx.ui.emit_message(&StackReport::new(&stack, services))
        }
        DevCommand::Seed(args) => run_seed(args, ctx),
        DevCommand::ServeS3(args) => run_serve_s3(args),
    }
}

fn dev_dir(ctx: &Context) -> Result<PathBuf, CliError> {
    Ok(ctx.paths()?.dk_home.join("dev"))
}

/// The services of the stack the last `up` started that are down: an error (exit 1).
fn run_status(ctx: &Context) -> Result<ExitStatus, CliError> {
    let dev_dir = dev_dir(ctx)?;
    if Runtime::recorded(&dev_dir).is_none() {
        return ctx
            .ui
            .emit(&StackReport::none(ctx, "`dk dev up` starts one")?);
    }
    let stack = stack(ctx, None)?;
    let started = Runtime::started(&dev_dir);
    let services = stack.status();
    let down = missing(&services, |service| started.contains(&service));
    ctx.ui.emit(&StackReport::new(&stack, services))?;
    if down.is_empty() {
        return Ok(ExitStatus::Success);
    }
    Err(CliError::failure(format!(
        "the dev stack's {} not running",
        match &down[..] {
            [one] => format!("{one} is"),
            many => format!("{} are", many.join(", ")),
        }
    ))
    .hint("`dk dev up` starts what is down; the logs are under $DK_HOME/dev/logs"))
}

/// The services among `wanted` that do not answer.
fn missing(services: &[ServiceStatus], wanted: impl Fn(Service) -> bool) -> Vec<&'static str> {
    services
        .iter()
        .filter(|status| wanted(status.service) && status.health != Health::Healthy)
        .map(|status| status.service.name())
        .collect()
}

fn run_serve_s3(args: ServeS3Args) -> Result<ExitStatus, CliError> {
    // One thread serves a laptop's S3 well enough.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::failure("cannot start the async runtime").cause(err))?;
    runtime.block_on(async {
        let address = std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, args.port));
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|err| CliError::usage(format!("cannot listen on {address}: {err}")))?;
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        dk_devstack::s3::serve(listener, &args.root, stop)
            .await
            .map_err(|err| CliError::new(ExitStatus::External, "the S3 server failed").cause(err))
    })?;
    Ok(ExitStatus::Success)
}

/// The stack of this dk home in the runtime asked for; else `dev.runtime`; else the one the
/// last `up` used; else compose when a Docker engine and its compose plugin answer, native
/// otherwise.
fn stack(ctx: &Context, requested: Option<RuntimeArg>) -> Result<Stack, CliError> {
    let dk_home = ctx.paths()?.dk_home;
    let dev_dir = dk_home.join("dev");
    let tools = dk_runner::exec::Tools::new(ctx.env.get(PATH).map(str::to_owned));
    let docker = tools.find("docker");
    let runtime = match requested {
        Some(runtime) => runtime,
        None => match ctx.config()?.string("dev.runtime")?.as_deref() {
            Some("compose") => RuntimeArg::Compose,
            Some("k3d") => RuntimeArg::K3d,
            Some(_) => RuntimeArg::Native,
            None => match Runtime::recorded(&dev_dir) {
                Some(Runtime::Compose) => RuntimeArg::Compose,
                Some(Runtime::Native) => RuntimeArg::Native,
                Some(Runtime::K3d) => RuntimeArg::K3d,
                None if docker.as_deref().is_some_and(|docker| {
                    dk_runner::exec::engine_answers(docker) && compose::plugin_answers(docker)
                }) =>
                {
                    RuntimeArg::Compose
                }
                None => RuntimeArg::Native,
            },
        },
    };
    let ports = Ports::configured(ctx.config()?)?;
    let custom = ctx.config()?.custom_charts()?;
    Ok(match runtime {
        RuntimeArg::Native => Stack::Native(NativeStack {
            dev_dir,
            dk_home,
            ports,
            dk_binary: std::env::current_exe()
                .map_err(|err| CliError::failure("cannot find the dk binary").cause(err))?,
            path: ctx.env.get(PATH).map(str::to_owned),
            platform: Platform::detect(
                tools.find("brew").is_some(),
                tools.find("apt-get").is_some(),
            ),
        }),
        RuntimeArg::Compose => Stack::Compose(ComposeStack {
            dev_dir,
            ports,
            versions: chart_versions(ctx)?,
            docker: needed(docker, "compose", "docker", "install Docker")?,
            custom,
        }),
        RuntimeArg::K3d => {
            let mut values = BTreeMap::new();
            for (chart, _) in CHARTS {
                if let Some(setting) = ctx.config()?.get(&format!("dev.charts.{chart}.values"))? {
                    values.insert(chart.to_owned(), setting.value);
                }
            }
            Stack::K3d(K3dStack {
                dev_dir,
                ports,
                versions: chart_versions(ctx)?,
                values,
                k3d: needed(tools.find("k3d"), "k3d", "k3d", "see https://k3d.io")?,
                helm: needed(
                    tools.find("helm"),
                    "k3d",
                    "helm",
                    "see https://helm.sh/docs/intro/install",
                )?,
                kubectl: needed(
                    tools.find("kubectl"),
                    "k3d",
                    "kubectl",
                    "apt-get install kubectl",
                )?,
                custom,
            })
        }
    })
}

/// A program a runtime cannot do without.
fn needed(
    found: Option<PathBuf>,
    runtime: &str,
    program: &str,
    install: &str,
) -> Result<PathBuf, CliError> {
    found.ok_or_else(|| {
        CliError::usage(format!(
            "the {runtime} runtime needs {program}, which is not on PATH"
        ))
        .hint(format!(
            "{install}, or use the native runtime: dk dev up --runtime native"
        ))
    })
}

/// `dev.charts.<name>.version` of every chart that sets one.
fn chart_versions(ctx: &Context) -> Result<BTreeMap<String, String>, CliError> {
    let mut versions = BTreeMap::new();
    for (chart, _, _) in IMAGES {
        if let Some(version) = ctx
            .config()?
            .string(&format!("dev.charts.{chart}.version"))?
        {
            versions.insert(chart.to_owned(), version);
        }
    }
    Ok(versions)
}

fn run_up(args: UpArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let timeout = parse_timeout(Some(&args.timeout), "--timeout")?.unwrap_or_default();
    let stack = stack(ctx, args.runtime)?;
    let styles = ctx.ui.err_styles();
    let runtime = stack.runtime().name();
    let progress = ctx
        .ui
        .progress(format!("Starting the {runtime} stack…"), None);
    let mut settled = 0;
    let services = stack
        .up(timeout, &mut |status| {
            let line = format!("{:<9} {}", status.service.name(), health_text(status));
            let mark = match status.health {
                Health::Healthy => styles.success("✓").to_string(),
                Health::Unavailable => styles.warning("-").to_string(),
                _ => styles.error("✗").to_string(),
            };
            progress.suspend(|| ctx.ui.note(format!("{mark} {line}")));
            settled += 1;
            progress.set_message(format!(
                "Starting the {runtime} stack… {settled}/{} services settled",
                Service::ALL.len()
            ));
        })
        .inspect(|_| progress.finish_and_clear())
        .map_err(|err| {
            progress.finish_and_clear();
            if let StackError::Custom { name, .. } = &err {
                return CliError::usage(err.to_string()).hint(format!(
                    "dk config set dev.charts.{name}.image IMAGE (compose) or dev.charts.{name}.chart CHART (k3d)"
                ));
            }
            let error = CliError::new(ExitStatus::External, "cannot start the stack").cause(err);
            if Runtime::recorded(stack.dev_dir()) == Some(stack.runtime()) {
                error.hint("`dk dev down` cleans up a half-started stack")
            } else {
                error.hint(format!(
                    "nothing of the {runtime} runtime was started; the native runtime needs no Docker: dk dev up --runtime native"
                ))
            }
        })?;
    let down = missing(&services, |_| true);
    ctx.ui.emit_message(&StackReport::new(&stack, services))?;
    if down.is_empty() {
        return Ok(ExitStatus::Success);
    }
    let summary = format!(
        "{} of {} services did not start: {}",
        down.len(),
        Service::ALL.len(),
        down.join(", ")
    );
    if args.allow_partial {
        ctx.ui.warn(format!("{summary} (--allow-partial)"));
        return Ok(ExitStatus::Success);
    }
    Err(CliError::new(ExitStatus::External, summary).hint(
        "the table says why and how to install what is missing; `dk dev up --allow-partial` accepts a partial stack",
    ))
}

fn health_text(status: &ServiceStatus) -> String {
    let health = match status.health {
        Health::Healthy => "healthy",
        Health::Starting => "starting",
        Health::Stopped => "stopped",
        Health::Unavailable => "unavailable",
        Health::Failed => "failed",
    };
    match &status.detail {
        Some(detail) => format!("{health}: {detail}"),
        None => health.to_owned(),
    }
}

/// The stack's services and endpoints; no runtime when no stack was started.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct StackReport {
    runtime: Option<&'static str>,
    services: Vec<ServiceStatus>,
    /// What a pipeline or a tool connects to.
    endpoints: Vec<(String, String)>,
    /// Why there is no stack to show.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

impl StackReport {
    fn new(stack: &Stack, services: Vec<ServiceStatus>) -> StackReport {
        let ports = stack.ports();
        let endpoints = vec![
            ("PostgreSQL".to_owned(), ports.endpoint(Service::Postgres)),
            (
                "S3".to_owned(),
                format!(
                    "{} (access key {S3_ACCESS_KEY})",
                    ports.endpoint(Service::S3)
                ),
            ),
            ("Kafka".to_owned(), ports.endpoint(Service::Kafka)),
            (
                "Lineage".to_owned(),
                format!(
                    "{} (OPENLINEAGE_URL; Marquez API)",
                    ports.endpoint(Service::Lineage)
                ),
            ),
            (
                "Lineage UI".to_owned(),
                format!("http://localhost:{}", ports.lineage_web),
            ),
        ];
        StackReport {
            runtime: Some(stack.runtime().name()),
            services,
            endpoints,
            note: None,
        }
    }

    /// No stack was started under this dk home; `then` says what follows from that.
    fn none(ctx: &Context, then: &str) -> Result<StackReport, CliError> {
        Ok(StackReport {
            runtime: None,
            services: Vec::new(),
            endpoints: Vec::new(),
            note: Some(format!(
                "No dev stack was started under {}; {then}.",
                dev_dir(ctx)?.display()
            )),
        })
    }
}

impl Render for StackReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        if let Some(note) = &self.note {
            return writeln!(out, "{note}");
        }
        let mut rows = table(&["SERVICE", "STATUS", "PORTS", "PID"]);
        for status in &self.services {
            rows.add_row(vec![
                status.service.name().to_owned(),
                health_text(status),
                status
                    .ports
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                status.pid.map(|pid| pid.to_string()).unwrap_or_default(),
            ]);
        }
        write_table(out, &rows)?;
        writeln!(out)?;
        writeln!(out, "{}", ui.out_styles().bold("Endpoints:"))?;
        for (name, endpoint) in &self.endpoints {
            writeln!(out, "  {:<11} {endpoint}", format!("{name}:"))?;
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SeedReport {
    datasets: Vec<Seeded>,
    /// Rows written (or removed, with --clean).
    rows: usize,
    unchanged: usize,
    clean: bool,
}

impl Render for SeedReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let mark = ui.out_styles().success("✓");
        let changed = self.datasets.len() - self.unchanged;
        if self.clean {
            return writeln!(
                out,
                "{mark} Cleaned {changed} DataSet(s), {} row(s) removed",
                self.rows
            );
        }
        write!(
            out,
            "{mark} Seeded {changed} DataSet(s), {} row(s) inserted",
            self.rows
        )?;
        if self.unchanged > 0 {
            write!(out, ", {} unchanged (skipped)", self.unchanged)?;
        }
        writeln!(out)
    }
}

fn run_seed(args: SeedArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let project = load_runnable(ctx, &args.dir)?;
    let package = &project.packages[0];
    let runner = Runner::new(ctx)?;
    let plan = runner.plan(&project, package, new_run_id(), None)?;
    let seedable: Vec<&str> = plan
        .datasets
        .iter()
        .filter(|d| seed::has_seed(&d.dataset))
        .map(|d| d.dataset.metadata.name.as_str())
        .collect();
    if let Some(name) = &args.dataset
        && !seedable.contains(&name.as_str())
    {
        let hint = match did_you_mean(name, seedable.iter().copied()) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None if seedable.is_empty() => "no DataSet of this package declares dev.seed".into(),
            None => format!("DataSets with dev.seed: {}", seedable.join(", ")),
        };
        return Err(CliError::usage(format!(
            "`{name}` is not a DataSet of {} with dev.seed rows",
            args.dir.display()
        ))
        .hint(hint));
    }
    if seedable.is_empty() {
        ctx.ui.note(format!(
            "No DataSet of {} declares dev.seed; nothing to seed.",
            args.dir.display()
        ));
    }
    let options = SeedOptions {
        profile: args.profile.clone(),
        force: args.force,
        clean: args.clean,
        duckdb_python: None,
    };
    let datasets = runner.seed(&plan, &options, |d| {
        args.dataset
            .as_deref()
            .is_none_or(|name| d.dataset.metadata.name == name)
    })?;
    let unchanged = datasets
        .iter()
        .filter(|d| d.action == SeedAction::Unchanged)
        .count();
    let rows = datasets
        .iter()
        .filter(|d| d.action != SeedAction::Unchanged)
        .map(|d| d.rows)
        .sum();
    ctx.ui.emit_message(&SeedReport {
        datasets,
        rows,
        unchanged,
        clean: args.clean,
    })
}
