//! `dk promote approve`: an SSH-signed approval on a promotion's branch (git provider).

use std::path::PathBuf;

use clap::Args;

use super::{promotion_id, state};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::promotion::{Session, gitops_error};

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The promotion's branch
    pub id: String,
    /// The SSH private key to sign with (default: git's user.signingKey)
    #[arg(long, value_name = "PATH")]
    pub key: Option<PathBuf>,
}

pub fn run(args: ApproveArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let id = promotion_id(&args.id)?;
    let Session {
        settings,
        wc,
        forge,
    } = Session::open(ctx)?;
    let get = || {
        forge
            .get(&wc, &id)
            .map_err(|err| gitops_error("cannot read the promotion", err))
    };
    forge
        .approve(&wc, &get()?, args.key.as_deref())
        .map_err(|err| gitops_error("cannot approve", err))?;
    ctx.ui.emit(&state(&settings, &get()?)?)
}
