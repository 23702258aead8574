use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use dk_manifest::discover::{self, Package};
use dk_validate::Report;

use super::{OverrideArgs, load_package, require_dir};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::findings::{summary, write_findings};
use crate::output::{Render, Ui, plural};

/// Check packages: structure, references and governance, with file:line:column for every finding
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk lint                         lint the package or project in the current directory
  dk lint ./my-pipeline --strict  fail on warnings too
  dk lint --scan-dir packages/    lint every package below packages/
  dk lint . --set spec.mode=streaming -f prod-values.yaml
  dk lint -o json                 findings as data")]
pub struct LintArgs {
    /// A package directory (holding dk.yaml), or a project directory to lint every package below it
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Fail on warnings as well as errors
    #[arg(long)]
    pub strict: bool,
    /// Lint every package below DIR (repeatable)
    #[arg(long = "scan-dir", value_name = "DIR")]
    pub scan_dirs: Vec<PathBuf>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

#[derive(Debug, Serialize)]
struct LintReport {
    #[serde(flatten)]
    report: Report,
    strict: bool,
    passed: bool,
}

impl Render for LintReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        let report = &self.report;
        if report.findings.is_empty() {
            writeln!(
                out,
                "{} No problems found in {} ({}).",
                styles.success("✓"),
                plural(report.packages, "package"),
                plural(report.files, "file")
            )?;
        } else {
            write_findings(out, styles, report)?;
            writeln!(out)?;
        }
        let strict_note = if self.strict && report.warnings > 0 {
            " (--strict: warnings fail)"
        } else {
            ""
        };
        writeln!(out, "{}{strict_note}", styles.bold(&summary(report)))
    }

    fn status(&self) -> ExitStatus {
        if self.passed {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        }
    }
}

pub fn run(args: LintArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let started = Instant::now();
    let package_mode = args.scan_dirs.is_empty() && Package::exists_in(&args.dir);
    let projects = if package_mode {
        vec![load_package(ctx, &args.dir, &args.overrides)?]
    } else {
        if !args.overrides.is_empty() {
            return Err(CliError::usage(
                "-f/--set override one package's dk.yaml and cannot apply to a scan",
            )
            .hint("pass the package directory instead: dk lint ./my-pipeline --set ..."));
        }
        let dirs = if args.scan_dirs.is_empty() {
            vec![args.dir.clone()]
        } else {
            args.scan_dirs.clone()
        };
        for dir in &dirs {
            require_dir(dir)?;
        }
        let projects = discover::load_projects(&dirs, &ctx.discover_options())
            .map_err(|err| CliError::usage("cannot read the directories to lint").cause(err))?;
        if projects.iter().all(|project| project.packages.is_empty()) {
            let shown = dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(
                CliError::usage(format!("no package (dk.yaml) found in {shown}"))
                    .hint("create one with `dk init NAME`, or pass the directory of a package"),
            );
        }
        projects
    };
    let loaded = started.elapsed();
    let report = dk_validate::lint(&projects);
    tracing::info!(
        packages = report.packages,
        files = report.files,
        load_ms = loaded.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "lint finished"
    );
    let passed = report.passed(args.strict);
    ctx.ui.emit(&LintReport {
        report,
        strict: args.strict,
        passed,
    })
}
