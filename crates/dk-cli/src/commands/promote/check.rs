//! `dk promote check`: exit 1 unless a promotion has its approvals (a required CI status on
//! the GitOps repository).

use super::{PrArgs, get, open, state};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};

pub fn run(args: PrArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let (session, id) = open(ctx, &args.id)?;
    let mut state = state(&session.settings, &get(&session, &id)?)?;
    state.gate = true;
    ctx.ui.emit(&state)
}
