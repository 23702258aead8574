use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;

use dk_validate::report::{DataSetSummary, Filter, GovernanceReport, governance_report};

use crate::commands::{OverrideArgs, load_projects};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{OutputFormat, Render, Ui, plural, table, write_table};

/// Which packages read and write which data: classification, PII fields and PII flows
#[derive(Debug, Args)]
#[command(after_help = "\
Filters (repeatable; all must hold):
  pii=true|false          packages that handle PII, or none
  classification=LEVEL    public, internal, confidential or restricted
  package=NAME            one package
  store=NAME              packages reading or writing data in that store

Examples:
  dk governance report --filter pii=true
  dk governance report --scan-dir packages/ --filter classification=restricted -o csv > audit.csv
  dk governance report --filter store=warehouse -o json")]
pub struct ReportArgs {
    /// A package directory, or a project directory to report every package below it
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Report every package below DIR (repeatable)
    #[arg(long = "scan-dir", value_name = "DIR")]
    pub scan_dirs: Vec<PathBuf>,
    /// Keep packages matching KEY=VALUE (repeatable)
    #[arg(long = "filter", value_name = "KEY=VALUE")]
    pub filters: Vec<String>,
}

/// `-o table` (the text view) and `-o csv` besides text, JSON and YAML.
pub const FORMATS: &[OutputFormat] = &[OutputFormat::Table, OutputFormat::Csv];

fn classification(dataset: &DataSetSummary) -> String {
    dataset
        .classification
        .map_or_else(|| "-".to_owned(), |level| level.to_string())
}

fn pii_fields(dataset: &DataSetSummary) -> String {
    if dataset.pii_fields.is_empty() {
        "-".to_owned()
    } else {
        dataset.pii_fields.join(", ")
    }
}

/// `"a, b"` quoted as CSV needs it (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn totals_line(report: &GovernanceReport) -> String {
    let totals = report.totals;
    format!(
        "{}, {} ({} with PII), {} ({} unmasked)",
        plural(totals.packages, "package"),
        plural(totals.datasets, "dataset"),
        totals.datasets_with_pii,
        plural(totals.pii_flows, "PII flow"),
        totals.unmasked_pii_flows
    )
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub(crate) struct Report(GovernanceReport);

impl Render for Report {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let report = &self.0;
        let styles = ui.out_styles();
        if report.packages.is_empty() {
            writeln!(out, "No package matches.")?;
        } else {
            let mut rows = table(&[
                "PACKAGE",
                "ROLE",
                "DATASET",
                "STORE",
                "CLASSIFICATION",
                "PII FIELDS",
            ]);
            for package in &report.packages {
                let datasets = package
                    .reads
                    .iter()
                    .map(|d| ("reads", d))
                    .chain(package.writes.iter().map(|d| ("writes", d)));
                for (role, dataset) in datasets {
                    rows.add_row(vec![
                        package.name.clone(),
                        role.to_owned(),
                        dataset.name.clone(),
                        dataset.store.clone(),
                        classification(dataset),
                        pii_fields(dataset),
                    ]);
                }
            }
            write_table(out, &rows)?;
            let mut flows = table(&["PACKAGE", "PII FROM", "TO", "MASKING"]);
            let mut any = false;
            for package in &report.packages {
                for flow in &package.pii_flows {
                    any = true;
                    let masking = flow
                        .masking
                        .map_or_else(|| "none (PII kept)".to_owned(), |m| m.to_string());
                    flows.add_row(vec![
                        package.name.clone(),
                        flow.from.clone(),
                        flow.to.clone(),
                        masking,
                    ]);
                }
            }
            if any {
                writeln!(out)?;
                write_table(out, &flows)?;
            }
        }
        writeln!(out, "\n{}", styles.bold(&totals_line(report)))
    }

    fn render_extra(&self, format: OutputFormat, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        if format != OutputFormat::Csv {
            return self.render_text(ui, out);
        }
        writeln!(
            out,
            "package,namespace,role,dataset,store,classification,pii_fields,from,to,masking"
        )?;
        for package in &self.0.packages {
            let lead = format!(
                "{},{}",
                csv_field(&package.name),
                csv_field(&package.namespace)
            );
            let datasets = package
                .reads
                .iter()
                .map(|d| ("reads", d))
                .chain(package.writes.iter().map(|d| ("writes", d)));
            for (role, dataset) in datasets {
                let level = dataset
                    .classification
                    .map(|c| c.to_string())
                    .unwrap_or_default();
                writeln!(
                    out,
                    "{lead},{role},{},{},{level},{},,,",
                    csv_field(&dataset.name),
                    csv_field(&dataset.store),
                    csv_field(&dataset.pii_fields.join(";"))
                )?;
            }
            for flow in &package.pii_flows {
                let masking = flow.masking.map(|m| m.to_string()).unwrap_or_default();
                writeln!(
                    out,
                    "{lead},flow,,,,,{},{},{masking}",
                    csv_field(&flow.from),
                    csv_field(&flow.to)
                )?;
            }
        }
        Ok(())
    }
}

pub fn run(args: ReportArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let filters = args
        .filters
        .iter()
        .map(|text| text.parse::<Filter>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| CliError::usage(err.message).hint(err.hint))?;
    let projects = load_projects(ctx, &args.dir, &args.scan_dirs, &OverrideArgs::default())?;
    ctx.ui.emit(&Report(governance_report(&projects, &filters)))
}
