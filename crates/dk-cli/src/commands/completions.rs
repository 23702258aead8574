use std::io::{self, Write};

use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap_complete::Shell;
use serde::Serialize;

use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};

/// Print a shell completion script
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk completions bash > ~/.local/share/bash-completion/completions/dk
  dk completions zsh > \"${fpath[1]}/_dk\"
  dk completions fish > ~/.config/fish/completions/dk.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_parser = PossibleValuesParser::new(["bash", "zsh", "fish"])
        .try_map(|s| s.parse::<Shell>()))]
    pub shell: Shell,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct CompletionsReport {
    shell: String,
    script: String,
}

impl Render for CompletionsReport {
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self.script.as_bytes())
    }
}

pub fn run(args: CompletionsArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut crate::cli::command(), "dk", &mut script);
    ctx.ui.emit(&CompletionsReport {
        shell: args.shell.to_string(),
        script: String::from_utf8_lossy(&script).into_owned(),
    })
}
