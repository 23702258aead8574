//! `dk promote list`: the open promotions.

use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use super::{PromotionState, pending};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui, table, write_table};
use crate::promotion::{Session, check_names};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this environment
    #[arg(long)]
    pub env: Option<String>,
}

pub fn run(args: ListArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    check_names(&[("environment", args.env.as_ref())])?;
    let session = Session::open(ctx)?;
    let mut promotions = Vec::new();
    for pr in session.list()? {
        let Some(pending) = pending(&session.settings, &pr)? else {
            continue;
        };
        let state = PromotionState::of(pending);
        if args.env.as_deref().is_none_or(|env| env == state.env) {
            promotions.push(state);
        }
    }
    ctx.ui.emit(&PromotionList { promotions })
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct PromotionList {
    promotions: Vec<PromotionState>,
}

impl Render for PromotionList {
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        if self.promotions.is_empty() {
            return writeln!(out, "No open promotions.");
        }
        let mut rows = table(&[
            "PULL REQUEST",
            "KIND",
            "PACKAGE",
            "VERSION",
            "ENV",
            "CELL",
            "APPROVALS",
        ]);
        for p in &self.promotions {
            rows.add_row(vec![
                p.id.clone(),
                p.kind.clone(),
                p.package.clone(),
                p.version.clone(),
                p.env.clone(),
                p.cell.clone(),
                format!("{}/{}", p.approvals.len(), p.required),
            ]);
        }
        write_table(out, &rows)
    }
}
