//! `dk dataset`: create, list, show and validate DataSets.

mod create;
mod validate;

use clap::Subcommand;

use dk_manifest::model::Kind;

use super::catalog::{self, ListArgs, ShowArgs};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// DataSets: data contracts with a store, a locator, a schema and a classification
#[derive(Debug, Subcommand)]
pub enum DataSetCommand {
    Create(Box<create::CreateArgs>),
    /// List the DataSets of a package or project
    #[command(
        after_help = "Examples:\n  dk dataset list\n  dk dataset list --scan-dir packages/ -o json"
    )]
    List(ListArgs),
    /// Show one DataSet's manifest
    #[command(
        after_help = "Examples:\n  dk dataset show customers\n  dk dataset show customers --dir ./my-pipeline -o json"
    )]
    Show(ShowArgs),
    Validate(validate::ValidateArgs),
}

pub fn run(command: DataSetCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    match command {
        DataSetCommand::Create(args) => create::run(*args, ctx),
        DataSetCommand::List(args) => catalog::list(Kind::DataSet, args, ctx),
        DataSetCommand::Show(args) => catalog::show(Kind::DataSet, args, ctx),
        DataSetCommand::Validate(args) => validate::run(args, ctx),
    }
}
