//! `dk gitops`: the GitOps repository itself.

pub(crate) mod init;

use clap::Subcommand;

use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// The GitOps repository
#[derive(Debug, Subcommand)]
pub enum GitOpsCommand {
    Init(init::InitArgs),
}

pub fn run(command: GitOpsCommand, ctx: &Context) -> Result<ExitStatus, CliError> {
    match command {
        GitOpsCommand::Init(args) => init::run(args, ctx),
    }
}
