use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use dk_config::Setting;

use super::{ScopeArg, inline_value};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{OutputFormat, Render, Ui, table, write_table};

/// List every effective config value with the layer it came from
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk config list
  dk config list --scope user
  dk config list -o json")]
pub struct ListArgs {
    /// List one file only
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct ListReport {
    settings: Vec<Setting>,
}

impl Render for ListReport {
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let mut rows = table(&["KEY", "VALUE", "SOURCE"]);
        for setting in &self.settings {
            rows.add_row(vec![
                setting.key.clone(),
                inline_value(&setting.value),
                setting.source.to_string(),
            ]);
        }
        write_table(out, &rows)
    }

    fn render_extra(&self, _format: OutputFormat, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        self.render_text(ui, out)
    }
}

pub fn run(args: ListArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let config = ctx.config()?;
    let settings = match args.scope {
        None => config.list(),
        Some(scope) => config.list_scope(scope.into()),
    };
    ctx.ui.emit(&ListReport { settings })
}
