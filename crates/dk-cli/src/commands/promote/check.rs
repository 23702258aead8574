//! `dk promote check`: exit 1 unless a promotion has its approvals, merges cleanly with its
//! base and pins a digest its environment's policy lets through (a required CI status on the
//! GitOps repository).

use super::{PrArgs, get, open, state, verify};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::promotion::gitops_error;

pub fn run(args: PrArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let (session, id) = open(ctx, &args.id)?;
    let pr = get(&session, &id)?;
    let mut state = state(&session.settings, &pr)?;
    state.gate = true;
    // Approvals are not enough: a branch that conflicts with its base cannot merge.
    state.conflicts = session
        .wc
        .conflicts(&pr.branch)
        .map_err(|err| gitops_error("cannot merge the promotion with its base", err))?;
    if state.conflicts {
        state.mergeable = false;
        state.base = Some(session.wc.base.clone());
    }
    // Approvals are not enough either: the digest must pass the environment's policy.
    verify(ctx, &session, &mut state)?;
    ctx.ui.emit(&state)
}
