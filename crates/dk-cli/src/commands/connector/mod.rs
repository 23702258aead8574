//! `dk connector`: create, list and show Connectors.

mod create;

use clap::Subcommand;

use dk_manifest::model::Kind;

use super::catalog::{self, ListArgs, ShowArgs};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// Connectors: technology types (postgres, s3, kafka, ... are built in)
#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    Create(create::CreateArgs),
    /// List the Connectors of a package or project, built-in ones included
    #[command(after_help = "Examples:\n  dk connector list\n  dk connector list -o json")]
    List(ListArgs),
    /// Show one Connector's manifest
    #[command(after_help = "Examples:\n  dk connector show postgres")]
    Show(ShowArgs),
}

pub fn run(command: ConnectorCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    match command {
        ConnectorCommand::Create(args) => create::run(args, ctx),
        ConnectorCommand::List(args) => catalog::list(Kind::Connector, args, ctx),
        ConnectorCommand::Show(args) => catalog::show(Kind::Connector, args, ctx),
    }
}
