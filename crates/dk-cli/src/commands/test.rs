//! `dk test`: a package's own tests, run against seeded inputs with `DK_TEST_MODE=true`.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use dk_lineage::event::new_run_id;
use dk_manifest::resolve::Role;
use dk_runner::exec::{Executor, Purpose};
use dk_runner::run::{RunReport, RunStatus};
use dk_runner::seed::SeedOptions;

use super::{load_runnable, parse_env, parse_timeout};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};
use crate::runner::Runner;

/// Run a package's tests (pytest, go test, dbt build) against its seeded inputs
#[derive(Debug, Args)]
#[command(after_help = "\
Runs pytest when a Python package has tests/, `go test ./...` for Go, `dbt build` for dbt (seeds and
models first, so a fresh copy passes), and the pipeline itself otherwise; DK_TEST_MODE=true tells the code it is under test. A streaming package
is run for --duration and passes if it is still up at the end.

Examples:
  dk test ./my-pipeline
  dk test ./my-stream --duration 30s
  dk test ./my-pipeline --env LOG_LEVEL=debug -o json")]
pub struct TestArgs {
    /// The package directory (holding dk.yaml)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// How long a streaming package must stay up
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub duration: String,
    /// Stop the tests after this long (batch packages), e.g. 5m
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// A variable for the tests (repeatable)
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TestReport {
    package: String,
    command: Vec<String>,
    streaming: bool,
    passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    duration_ms: u64,
    exit_code: i32,
}

impl Render for TestReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        let seconds = self.duration_ms as f64 / 1000.0;
        if self.passed {
            writeln!(
                out,
                "{} {} passed in {seconds:.2}s",
                styles.success("✓"),
                styles.bold(&self.package)
            )
        } else {
            writeln!(
                out,
                "{} {} failed in {seconds:.2}s: {}",
                styles.error("✗"),
                styles.bold(&self.package),
                self.error.as_deref().unwrap_or("the tests failed")
            )
        }
    }

    fn status(&self) -> ExitStatus {
        if self.passed {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        }
    }
}

/// A streaming package passes when it is still running at the end of `--duration`.
fn judge(report: &RunReport, streaming: bool, duration: Duration) -> (bool, Option<String>) {
    match (streaming, report.status) {
        (true, RunStatus::TimedOut) => (true, None),
        (true, RunStatus::Succeeded) => (
            false,
            Some(format!(
                "the streaming pipeline exited before {}s; it must stay up",
                duration.as_secs()
            )),
        ),
        (_, RunStatus::Succeeded) => (true, None),
        _ => (false, report.error.clone()),
    }
}

pub fn run(args: TestArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let project = load_runnable(ctx, &args.dir)?;
    let package = &project.packages[0];
    let runner = Runner::new(ctx)?;
    let duration = parse_timeout(Some(&args.duration), "--duration")?.unwrap_or_default();
    let timeout = parse_timeout(args.timeout.as_deref(), "--timeout")?;
    let mut plan = runner.plan(&project, package, new_run_id(), timeout)?;
    let streaming = plan.streaming();
    if streaming {
        plan.timeout = Some(duration);
    }
    let prepared = runner.prepare(&plan, Executor::Local, Purpose::Test, &[])?;
    runner.seed(&plan, &SeedOptions::default(), |d| d.role == Role::Input)?;
    let mut env = vec![("DK_TEST_MODE".to_owned(), "true".to_owned())];
    env.extend(parse_env(&args.env)?);
    let config = runner.config(&plan, &env, None);
    let command: Vec<String> = std::iter::once(prepared.invocation.program.clone())
        .chain(prepared.invocation.args.iter().cloned())
        .collect();
    ctx.ui
        .note(format!("▶ testing {} ({})", plan.name(), command.join(" ")));
    let report = runner.execute(&plan, &prepared, &config, &mut io::stderr())?;
    let (passed, error) = judge(&report, streaming, duration);
    ctx.ui.emit_message(&TestReport {
        package: plan.name().to_owned(),
        command,
        streaming,
        passed,
        error,
        duration_ms: report.duration_ms,
        exit_code: report.exit_code,
    })
}
