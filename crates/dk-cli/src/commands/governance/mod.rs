//! `dk governance`: what data packages handle, for audits and reviews.

pub(crate) mod report;

use clap::Subcommand;

use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// Governance views of a project: classification, PII and where it flows
#[derive(Debug, Subcommand)]
pub enum GovernanceCommand {
    Report(report::ReportArgs),
}

pub fn run(command: GovernanceCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    match command {
        GovernanceCommand::Report(args) => report::run(args, ctx),
    }
}
