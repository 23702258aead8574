//! `dk promote approve`: an SSH-signed approval on a promotion's branch (git provider).

use std::path::PathBuf;

use clap::Args;

use super::{get, open, state};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::promotion::gitops_error;

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The promotion's branch
    pub id: String,
    /// The SSH private key to sign with (default: git's user.signingKey)
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
}

pub fn run(args: ApproveArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let (session, id) = open(ctx, &args.id)?;
    session
        .forge
        .approve(&session.wc, &get(&session, &id)?, args.key.as_deref())
        .map_err(|err| gitops_error("cannot approve", err))?;
    ctx.ui
        .emit_message(&state(&session.settings, &get(&session, &id)?)?)
}
