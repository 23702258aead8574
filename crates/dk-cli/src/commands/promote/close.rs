//! `dk promote close`: closes a promotion without merging it.

use std::io::{self, Write};

use clap::Args;

use super::{get, open, pending};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};
use crate::promotion::close::{Closed, close};

#[derive(Debug, Args)]
pub struct CloseArgs {
    /// Pull request number (#12, !12) or branch
    pub id: String,
    /// Why, left on the pull request as a comment (GitHub, GitLab) and shown
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

pub fn run(args: CloseArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let (session, id) = open(ctx, &args.id)?;
    let pr = get(&session, &id)?;
    let pending = pending(&session.settings, &pr)?.ok_or_else(|| {
        CliError::usage(format!(
            "{} is not a dk promotion (its branch is {}): close it on the forge",
            pr.id, pr.branch
        ))
    })?;
    let reason = args.reason.filter(|reason| !reason.trim().is_empty());
    let closed = close(&session, pending.pr, pending.branch, reason)?;
    ctx.ui.emit_message(&ClosedReport { closed })
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub(crate) struct ClosedReport {
    closed: Closed,
}

impl Render for ClosedReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{} Closed {}",
            ui.out_styles().success("✓"),
            self.closed.what()
        )?;
        if let Some(reason) = &self.closed.reason {
            writeln!(out, "  Reason: {reason}")?;
        }
        Ok(())
    }
}
