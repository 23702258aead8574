//! `dk datasetgroup`: create, list and show DataSetGroups.

use clap::{Args, Subcommand};

use dk_manifest::model::{DataSetGroupSpec, Kind, Manifest};

use super::catalog::{self, ListArgs, ShowArgs, TargetArgs};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// DataSetGroups: DataSets of one store that inputs and outputs name together
#[derive(Debug, Subcommand)]
pub enum DataSetGroupCommand {
    Create(CreateArgs),
    /// List the DataSetGroups of a package or project
    #[command(
        after_help = "Examples:\n  dk datasetgroup list\n  dk datasetgroup list --scan-dir packages/ -o json"
    )]
    List(ListArgs),
    /// Show one DataSetGroup's manifest
    #[command(
        after_help = "Examples:\n  dk datasetgroup show sources\n  dk datasetgroup show sources --dir ./my-pipeline -o json"
    )]
    Show(ShowArgs),
}

/// Write a new DataSetGroup manifest into dataset-group/ of a package (or the project root)
#[derive(Debug, Args)]
#[command(after_help = "\
A group stands for its DataSets wherever a DataSet can be named (spec.inputs, spec.outputs):
lineage, seeding, the pipeline graph and governance see each member.

Examples:
  dk datasetgroup create sources --store warehouse --dataset orders --dataset customers
  dk datasetgroup create raw --store lake --dataset events --project")]
pub struct CreateArgs {
    /// Group name (a DNS label)
    pub name: String,
    /// The Store every member lives in
    #[arg(long)]
    pub store: String,
    /// A member DataSet (repeatable, at least one)
    #[arg(long = "dataset", value_name = "NAME", required = true)]
    pub datasets: Vec<String>,
    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(command: DataSetGroupCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    match command {
        DataSetGroupCommand::Create(args) => create(args, ctx),
        DataSetGroupCommand::List(args) => catalog::list(Kind::DataSetGroup, args, ctx),
        DataSetGroupCommand::Show(args) => catalog::show(Kind::DataSetGroup, args, ctx),
    }
}

fn create(args: CreateArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let manifest = Manifest::new(
        Kind::DataSetGroup,
        args.name,
        DataSetGroupSpec {
            store: args.store,
            datasets: args.datasets,
        },
    );
    catalog::create(&manifest, &args.target, ctx)
}
