use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use dk_manifest::suggest::did_you_mean;
use dk_validate::explain::Explanation;
use dk_validate::rules::{self, Rule};
use dk_validate::{Report, Severity};

use super::{OverrideArgs, Target, plan_projects};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::findings::{summary, write_findings};
use crate::output::{OutputFormat, Render, Ui, plural, write_json};

/// Check packages: structure, references and governance, with file:line:column for every finding
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk lint                         lint the package or project in the current directory
  dk lint ./my-pipeline --strict  fail on warnings too
  dk lint --scan-dir packages/    lint every package below packages/
  dk lint . --set spec.mode=streaming -f prod-values.yaml
  dk lint -o json                 findings as data
  dk lint -o sarif > dk.sarif     for GitHub code scanning
  dk lint --explain DK301         why a rule exists, a failing example, the fix")]
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
    /// Explain a rule (by code or name) instead of linting
    #[arg(long, value_name = "CODE")]
    pub explain: Option<String>,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

/// `-o sarif` besides text, JSON and YAML.
pub const FORMATS: &[OutputFormat] = &[OutputFormat::Sarif];

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LintReport {
    #[serde(flatten)]
    report: Report,
    strict: bool,
    passed: bool,
    /// Where relative paths in findings start (SARIF's %SRCROOT%).
    #[serde(skip)]
    base: PathBuf,
}

impl Render for LintReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        let report = &self.report;
        // A clean lint has nothing to say but that it passed: -q leaves it to the exit code.
        if report.findings.is_empty() && ui.quiet {
            return Ok(());
        }
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

    fn render_extra(&self, _format: OutputFormat, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let sarif =
            dk_validate::sarif::to_sarif(&self.report, env!("CARGO_PKG_VERSION"), Some(&self.base));
        write_json(out, &sarif)
    }

    fn status(&self) -> ExitStatus {
        if self.passed {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        }
    }
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct ExplainReport {
    #[serde(flatten)]
    rule: &'static Rule,
    #[serde(flatten)]
    explanation: &'static Explanation,
}

impl Render for ExplainReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        let (rule, explanation) = (self.rule, self.explanation);
        let severity = match rule.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(
            out,
            "{} {} ({severity} by default)",
            styles.bold(rule.code),
            rule.name
        )?;
        writeln!(out, "{}\n", rule.summary)?;
        writeln!(out, "{}\n  {}\n", styles.bold("Why"), explanation.rationale)?;
        if !explanation.example.is_empty() {
            writeln!(out, "{}", styles.bold("Failing example"))?;
            for (path, text) in explanation.example {
                writeln!(out, "  {}", styles.dim(&format!("# {path}")))?;
                for line in text.lines() {
                    writeln!(out, "  {line}")?;
                }
            }
            writeln!(out)?;
        }
        writeln!(out, "{}\n  {}", styles.bold("Fix"), explanation.fix)
    }
}

impl LintReport {
    pub fn new(report: Report, strict: bool, base: PathBuf) -> LintReport {
        LintReport {
            passed: report.passed(strict),
            report,
            strict,
            base,
        }
    }
}

fn explain(query: &str) -> Result<ExplainReport, CliError> {
    let code = rules::ALL
        .iter()
        .find(|rule| rule.code.eq_ignore_ascii_case(query) || rule.name == query)
        .map(|rule| rule.code);
    match code.and_then(dk_validate::explain::explain) {
        Some((rule, explanation)) => Ok(ExplainReport { rule, explanation }),
        None => {
            let names = rules::ALL.iter().flat_map(|rule| [rule.code, rule.name]);
            let hint = match did_you_mean(query, names) {
                Some(name) => {
                    format!("did you mean `{name}`? (docs/lint-rules.md lists every rule)")
                }
                None => {
                    "rule codes look like DK301; docs/lint-rules.md lists every rule".to_owned()
                }
            };
            Err(CliError::usage(format!("unknown rule `{query}`")).hint(hint))
        }
    }
}

pub fn run(args: LintArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    if let Some(query) = &args.explain {
        return ctx.ui.emit(&explain(query)?);
    }
    let started = Instant::now();
    let target = plan_projects(ctx, &args.dir, &args.scan_dirs, &args.overrides)?;
    let planned = started.elapsed();
    let report = match target {
        Target::Package(project) => dk_validate::lint(&[*project]),
        Target::Scan(plans) => {
            let report = dk_validate::lint_scan(&plans);
            // The project level's manifests (a tree per file) would be freed one by one on one
            // thread while the other cores idle; the process ends after the report instead.
            std::mem::forget(plans);
            report
        }
    };
    tracing::info!(
        packages = report.packages,
        files = report.files,
        plan_ms = planned.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "lint finished"
    );
    ctx.ui
        .emit(&LintReport::new(report, args.strict, ctx.cwd.clone()))
}
