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
    let before = get(&session, &id)?;
    session
        .forge
        .approve(&session.wc, &before, args.key.as_deref())
        .map_err(|err| gitops_error("cannot approve", err))?;
    let after = get(&session, &id)?;
    // An approval the gate does not count must say so: a user saw "0/2 approvals" and exit 0
    // after signing with a key the repository does not allow.
    if after.approvals.len() <= before.approvals.len() {
        return Err(CliError::failure(format!(
            "the approval of {id} did not count: still {} approval(s); the key is not among the allowed signers of the GitOps repository's base branch, or its holder already approved",
            after.approvals.len()
        ))
        .hint(format!(
            "add its public key to {} on the base branch (a reviewed change), or approve with an allowed key (--key)",
            dk_gitops::repo::ALLOWED_SIGNERS
        )));
    }
    ctx.ui.emit_message(&state(&session.settings, &after)?)
}
