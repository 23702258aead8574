//! `dk pipeline`: the project as one dependency graph of DataSets and Transforms.

pub(crate) mod show;

use clap::Subcommand;

use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// The project's pipeline: which Transform feeds which
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    Show(show::ShowArgs),
}

pub fn run(command: PipelineCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    match command {
        PipelineCommand::Show(args) => show::run(args, ctx),
    }
}
