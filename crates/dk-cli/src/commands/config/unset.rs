use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use dk_config::Scope;

use super::ScopeArg;
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};

/// Remove a config value from a config file
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk config unset registry
  dk config unset dev.charts.redpanda.version --scope repo")]
pub struct UnsetArgs {
    /// The key to remove
    pub key: String,
    /// The file to edit
    #[arg(long, value_enum, default_value_t = ScopeArg::User)]
    pub scope: ScopeArg,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct UnsetReport {
    key: String,
    scope: Scope,
    path: PathBuf,
    removed: bool,
}

impl Render for UnsetReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        if self.removed {
            writeln!(
                out,
                "{} {} from {} config ({})",
                ui.out_styles().success("Removed"),
                self.key,
                self.scope,
                self.path.display()
            )
        } else {
            writeln!(
                out,
                "{} was not set in {} config ({})",
                self.key,
                self.scope,
                self.path.display()
            )
        }
    }
}

pub fn run(args: UnsetArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let paths = ctx.paths()?;
    let scope = Scope::from(args.scope);
    let removed = dk_config::unset(&paths, scope, &args.key)?;
    ctx.ui.emit_message(&UnsetReport {
        path: paths.file(scope)?.to_owned(),
        key: args.key,
        scope,
        removed: removed.is_some(),
    })
}
