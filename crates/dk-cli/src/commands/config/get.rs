use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use dk_config::Setting;

use super::ScopeArg;
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui, to_yaml};

/// Print a config value, and on stderr the layer it came from
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk config get registry
  dk config get dev.charts.redpanda.version
  dk config get lineage            a whole section
  dk config get registry --scope user -o json")]
pub struct GetArgs {
    /// A key such as registry or dev.charts.redpanda.version, or a section such as lineage
    pub key: String,
    /// Read one file only instead of the effective value
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub(crate) struct GetReport(Setting);

impl Render for GetReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let setting = &self.0;
        match &setting.value {
            serde_json::Value::String(text) => writeln!(out, "{text}")?,
            value @ (serde_json::Value::Object(_) | serde_json::Value::Array(_)) => {
                let text = to_yaml(value).map_err(|err| io::Error::other(err.message))?;
                write!(out, "{text}")?;
            }
            value => writeln!(out, "{value}")?,
        }
        let from = match &setting.path {
            Some(path) => format!("from {} ({})", setting.source, path.display()),
            None => format!("from {}", setting.source),
        };
        ui.note(ui.err_styles().dim(&from).to_string());
        Ok(())
    }
}

pub fn run(args: GetArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let config = ctx.config()?;
    let setting = match args.scope {
        None => config.get(&args.key)?,
        Some(scope) => config.get_in(scope.into(), &args.key)?,
    };
    match setting {
        Some(setting) => ctx.ui.emit(&GetReport(setting)),
        None => {
            let within = args
                .scope
                .map(|scope| format!(" in the {} config", dk_config::Scope::from(scope)))
                .unwrap_or_default();
            Err(
                CliError::failure(format!("{} is not set{within}", args.key))
                    .hint(format!("set it with `dk config set {} VALUE`", args.key)),
            )
        }
    }
}
