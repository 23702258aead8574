//! `dk promote check`: exit 1 unless a promotion has its approvals (a required CI status on
//! the GitOps repository).

use super::{PrArgs, promotion_id, state};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::promotion::{Session, gitops_error};

pub fn run(args: PrArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let id = promotion_id(&args.id)?;
    let Session {
        settings,
        wc,
        forge,
    } = Session::open(ctx)?;
    let pr = forge
        .get(&wc, &id)
        .map_err(|err| gitops_error("cannot read the promotion", err))?;
    let mut state = state(&settings, &pr)?;
    state.gate = true;
    ctx.ui.emit(&state)
}
