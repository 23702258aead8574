//! `dk dev`: the local development loop. `dk dev seed` loads sample rows into a package's stores.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use dk_lineage::event::new_run_id;
use dk_manifest::suggest::did_you_mean;
use dk_runner::seed::{self, SeedAction, SeedOptions, Seeded};

use super::run::{Runner, load_runnable};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};

/// The local development loop: sample data in a package's stores
#[derive(Debug, Subcommand)]
pub enum DevCommand {
    Seed(SeedArgs),
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
        DevCommand::Seed(args) => run_seed(args, ctx),
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
