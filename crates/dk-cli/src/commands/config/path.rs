use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use dk_config::Scope;

use super::ScopeArg;
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{OutputFormat, Render, Ui, table, write_table};

/// Print the config files dk reads, lowest precedence first
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk config path
  dk config path --scope user      just the path, for scripts
  $EDITOR \"$(dk config path --scope user)\"")]
pub struct PathArgs {
    /// Print one file's path only
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct ConfigFile {
    scope: Scope,
    path: Option<PathBuf>,
    exists: bool,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct PathReport {
    files: Vec<ConfigFile>,
    /// Set when one scope was asked for: print just its path.
    #[serde(skip)]
    single: bool,
}

impl Render for PathReport {
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        if self.single {
            for file in &self.files {
                if let Some(path) = &file.path {
                    writeln!(out, "{}", path.display())?;
                }
            }
            return Ok(());
        }
        let mut rows = table(&["SCOPE", "PATH", "STATUS"]);
        for file in &self.files {
            let (path, status) = match &file.path {
                Some(path) => (
                    path.display().to_string(),
                    if file.exists {
                        "exists"
                    } else {
                        "not created yet"
                    },
                ),
                None => ("-".to_owned(), "not in a git repository"),
            };
            rows.add_row(vec![file.scope.to_string(), path, status.to_owned()]);
        }
        write_table(out, &rows)
    }

    fn render_extra(&self, _format: OutputFormat, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        self.render_text(ui, out)
    }
}

pub fn run(args: PathArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let paths = ctx.paths()?;
    let scopes: Vec<Scope> = match args.scope {
        Some(scope) => {
            let scope = Scope::from(scope);
            // Asking for the repo file outside a repository is an error, not an empty answer.
            paths.file(scope)?;
            vec![scope]
        }
        None => Scope::ALL.to_vec(),
    };
    let files = scopes
        .into_iter()
        .map(|scope| {
            let path = paths.file(scope).ok().map(PathBuf::from);
            ConfigFile {
                exists: path.as_deref().is_some_and(|path| path.is_file()),
                scope,
                path,
            }
        })
        .collect();
    ctx.ui.emit(&PathReport {
        files,
        single: args.scope.is_some(),
    })
}
