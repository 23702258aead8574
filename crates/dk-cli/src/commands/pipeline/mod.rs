//! `dk pipeline`: the project as one dependency graph of DataSets and Transforms.

pub(crate) mod show;

use clap::Subcommand;

use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::OutputFormat;

/// The project's pipeline: which Transform feeds which
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    Show(show::ShowArgs),
}

pub fn extra_formats(command: &PipelineCommand) -> &'static [OutputFormat] {
    match command {
        PipelineCommand::Show(_) => show::FORMATS,
    }
}

pub fn run(command: PipelineCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    match command {
        PipelineCommand::Show(args) => show::run(args, ctx),
    }
}
