//! `dk store`: create, list and show Stores.

mod create;

use clap::Subcommand;

use dk_manifest::model::Kind;

use super::catalog::{self, ListArgs, ShowArgs};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// Stores: instances of a connector with connection details and secret references
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    Create(create::CreateArgs),
    /// List the Stores of a package or project
    #[command(after_help = "Examples:\n  dk store list\n  dk store list -o json")]
    List(ListArgs),
    /// Show one Store's manifest
    #[command(after_help = "Examples:\n  dk store show warehouse")]
    Show(ShowArgs),
}

pub fn run(command: StoreCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    match command {
        StoreCommand::Create(args) => create::run(args, ctx),
        StoreCommand::List(args) => catalog::list(Kind::Store, args, ctx),
        StoreCommand::Show(args) => catalog::show(Kind::Store, args, ctx),
    }
}
