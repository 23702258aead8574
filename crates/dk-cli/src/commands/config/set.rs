use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use dk_config::{Layer, Written};

use super::{ScopeArg, inline_value};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};

/// Set a config value in a config file, keeping the file's comments
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk config set registry ghcr.io/my-org
  dk config set dev.charts.redpanda.version 25.2.0
  dk config set dev.charts.postgres.values.primary.resources.limits.memory 1Gi
  dk config set gitops.provider github --scope repo")]
pub struct SetArgs {
    /// The key, e.g. dev.charts.redpanda.version
    pub key: String,
    /// The value; read as YAML only for keys that hold YAML (lists, Helm values)
    pub value: String,
    /// The file to write
    #[arg(long, value_enum, default_value_t = ScopeArg::User)]
    pub scope: ScopeArg,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub(crate) struct SetReport(Written);

impl Render for SetReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let written = &self.0;
        let value = written.value.as_ref().map(inline_value).unwrap_or_default();
        writeln!(
            out,
            "{} {} = {value} in {} config ({})",
            ui.out_styles().success("Set"),
            written.key,
            written.scope,
            written.path.display()
        )
    }
}

pub fn run(args: SetArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let paths = ctx.paths()?;
    let written = dk_config::set(&paths, args.scope.into(), &args.key, &args.value)?;
    if !written.layout_preserved {
        ctx.ui.warn(format!(
            "{} was rewritten: its flow-style mappings could not be edited in place, so comments were dropped",
            written.path.display()
        ));
    }
    // Say so when the value just written is not the one in effect.
    if let Ok(Some(effective)) = ctx.config().and_then(|config| Ok(config.get(&args.key)?))
        && effective.source != Layer::File(written.scope)
    {
        ctx.ui.warn(format!(
            "{} is overridden by {}",
            args.key, effective.source
        ));
    }
    ctx.ui.emit_message(&SetReport(written))
}
