use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};

/// Print the version of dk
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  dk version\n  dk version -o json")]
pub struct VersionArgs {}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct VersionReport {
    name: &'static str,
    version: &'static str,
    os: &'static str,
    arch: &'static str,
}

impl Render for VersionReport {
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "{} {} ({}-{})",
            self.name, self.version, self.os, self.arch
        )
    }
}

pub fn run(_args: VersionArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    ctx.ui.emit(&VersionReport {
        name: "dk",
        version: env!("CARGO_PKG_VERSION"),
        os: std::env::consts::OS,
        arch: std::env::consts::ARCH,
    })
}
