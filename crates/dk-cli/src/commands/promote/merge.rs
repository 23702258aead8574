//! `dk promote merge`: merges a promotion that passes its environment's policy and the
//! approval gate.

use super::{PrArgs, get, open, state, verify};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::promotion::verify::refuse_unverified;
use crate::promotion::{Session, gitops_error};

pub fn run(args: PrArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let (session, id) = open(ctx, &args.id)?;
    let pr = get(&session, &id)?;
    let mut state = state(&session.settings, &pr)?;
    verify(ctx, &session, &mut state)?;
    if let Some(verdict) = &state.verified {
        refuse_unverified(verdict, &format!("{} ({})", state.id, verdict.digest))?;
    }
    let Session {
        settings,
        wc,
        forge,
    } = session;
    // The approval gate decided `mergeable` (dk_gitops::plan::Pending::gate).
    if !state.mergeable {
        return Err(CliError::failure(format!(
            "{} has {}/{} approvals: {} needs {}",
            state.id,
            state.approvals.len(),
            state.required,
            state.env,
            state.required
        ))
        .hint(format!(
            "dk promote approve {} --key KEY (git provider: a key in .dk/allowed_signers on {}), or review it on the forge",
            state.id, settings.base
        )));
    }
    forge
        .merge(&wc, &pr, &format!("Merge {}", pr.title))
        .map_err(|err| gitops_error("cannot merge the promotion", err))?;
    state.merged = true;
    ctx.ui.emit_message(&state)
}
