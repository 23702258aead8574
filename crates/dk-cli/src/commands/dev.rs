//! `dk dev`: the local development loop. `dk dev up|status|down` run the local stack;
//! `dk dev seed` loads sample rows into a package's stores.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use dk_lineage::event::new_run_id;
use dk_manifest::suggest::did_you_mean;
use dk_runner::seed::{self, SeedAction, SeedOptions, Seeded};

use dk_config::env::PATH;
use dk_devstack::catalog::{Ports, S3_ACCESS_KEY, Service};
use dk_devstack::native::{Health, NativeStack, ServiceStatus};

use super::run::{Runner, load_runnable, parse_timeout};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui, table, write_table};

/// The local development loop: a stack of real services on loopback, sample data in stores
#[derive(Debug, Subcommand)]
pub enum DevCommand {
    Up(UpArgs),
    Status(StatusArgs),
    Down(DownArgs),
    Seed(SeedArgs),
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
$DK_HOME/dev (PostgreSQL binaries, minio or s3s-fs, tansu, `dk lineage serve`); a service whose
program is missing is shown unavailable with the command that installs it, and the others start.
Ports: dk config set dev.services.kafka.port 19092 (also postgres, s3, lineage; webPort for s3 and
lineage).

Examples:
  dk dev up
  dk dev up --timeout 2m
  dk dev up -o json | jq '.services[] | {service, health}'")]
pub struct UpArgs {
    /// Where services run (default: config dev.runtime, else native)
    #[arg(long, value_enum)]
    pub runtime: Option<RuntimeArg>,
    /// How long to wait for the services to answer
    #[arg(long, default_value = "60s", value_name = "DURATION")]
    pub timeout: String,
}

/// The stack's services, their health and ports, and how to reach them
#[derive(Debug, Args)]
#[command(after_help = "\
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
        DevCommand::Status(_) => {
            let stack = native_stack(ctx)?;
            ctx.ui.emit(&StackReport::new(&stack, stack.status()))
        }
        DevCommand::Down(args) => {
            let stack = native_stack(ctx)?;
            let services = stack
                .down(args.volumes)
                .map_err(|err| CliError::failure("cannot stop the stack").cause(err))?;
            ctx.ui.emit(&StackReport::new(&stack, services))
        }
        DevCommand::Seed(args) => run_seed(args, ctx),
    }
}

/// A port from `dev.services.<service>.<key>`, else the default.
fn configured_port(ctx: &Context, service: &str, key: &str, default: u16) -> Result<u16, CliError> {
    let full = format!("dev.services.{service}.{key}");
    match ctx.config()?.get(&full)? {
        None => Ok(default),
        Some(setting) => setting
            .value
            .as_u64()
            .and_then(|port| u16::try_from(port).ok())
            .filter(|port| *port > 0)
            .ok_or_else(|| {
                CliError::usage(format!("{full} is {}, not a port", setting.value))
                    .hint(format!("dk config set {full} {default}"))
            }),
    }
}

/// The native stack of this dk home, with the configured ports.
pub fn native_stack(ctx: &Context) -> Result<NativeStack, CliError> {
    let defaults = Ports::default();
    let ports = Ports {
        postgres: configured_port(ctx, "postgres", "port", defaults.postgres)?,
        s3: configured_port(ctx, "s3", "port", defaults.s3)?,
        s3_console: configured_port(ctx, "s3", "webPort", defaults.s3_console)?,
        kafka: configured_port(ctx, "kafka", "port", defaults.kafka)?,
        lineage: configured_port(ctx, "lineage", "port", defaults.lineage)?,
        lineage_web: configured_port(ctx, "lineage", "webPort", defaults.lineage_web)?,
    };
    let dk_home = ctx.paths()?.dk_home;
    Ok(NativeStack {
        dev_dir: dk_home.join("dev"),
        dk_home,
        ports,
        dk_binary: std::env::current_exe()
            .map_err(|err| CliError::failure("cannot find the dk binary").cause(err))?,
        path: ctx.env.get(PATH).map(str::to_owned),
    })
}

fn run_up(args: UpArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let runtime = match args.runtime {
        Some(runtime) => runtime,
        None => match ctx.config()?.string("dev.runtime")?.as_deref() {
            Some("compose") => RuntimeArg::Compose,
            Some("k3d") => RuntimeArg::K3d,
            _ => RuntimeArg::Native,
        },
    };
    if runtime != RuntimeArg::Native {
        return Err(CliError::usage("only the native runtime is built so far")
            .hint("dk dev up --runtime native (or dk config unset dev.runtime)"));
    }
    let timeout = parse_timeout(Some(&args.timeout), "--timeout")?.unwrap_or_default();
    let stack = native_stack(ctx)?;
    let styles = ctx.ui.err_styles();
    let services = stack.up(timeout, &mut |status| {
        let line = format!("{:<9} {}", status.service.name(), health_text(status));
        let mark = match status.health {
            Health::Healthy => styles.success("✓").to_string(),
            Health::Unavailable => styles.warning("-").to_string(),
            _ => styles.error("✗").to_string(),
        };
        ctx.ui.note(format!("{mark} {line}"));
    });
    ctx.ui.emit(&StackReport::new(&stack, services))
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

/// The stack's services and endpoints.
#[derive(Debug, Serialize)]
struct StackReport {
    runtime: &'static str,
    services: Vec<ServiceStatus>,
    /// What a pipeline or a tool connects to.
    endpoints: Vec<(String, String)>,
}

impl StackReport {
    fn new(stack: &NativeStack, services: Vec<ServiceStatus>) -> StackReport {
        let ports = &stack.ports;
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
        ];
        StackReport {
            runtime: "native",
            services,
            endpoints,
        }
    }
}

impl Render for StackReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
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

    fn status(&self) -> ExitStatus {
        if self.services.iter().any(|s| s.health == Health::Failed) {
            ExitStatus::Failure
        } else {
            ExitStatus::Success
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SeedReport {
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
    ctx.ui.emit(&SeedReport {
        datasets,
        rows,
        unchanged,
        clean: args.clean,
    })
}
