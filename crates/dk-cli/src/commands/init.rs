use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use serde::Serialize;

use dk_manifest::model::{Mode, Runtime, to_dns_label};
use dk_manifest::scaffold::{self, ScaffoldError, ScaffoldOptions};

use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::output::{Render, Ui};

/// Create a new data package, ready to lint and run with nothing installed
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk init my-pipeline --runtime generic-python
  dk init events --runtime generic-go --mode streaming --team payments
  dk init marts --runtime dbt --owner analytics@example.com
  dk init web-events --runtime generic-node
  dk init ledger --runtime generic-java")]
pub struct InitArgs {
    /// Package name: a DNS label (lowercase letters, digits and '-')
    pub name: String,
    /// Execution engine
    #[arg(long, default_value = "generic-python",
          value_parser = PossibleValuesParser::new(scaffold::SCAFFOLDED.iter().map(|r| r.as_str())).try_map(|s| s.parse::<Runtime>()))]
    pub runtime: Runtime,
    /// Run to completion (batch) or keep running (streaming; not for dbt or cloudquery)
    #[arg(long, default_value = "batch",
          value_parser = PossibleValuesParser::new(Mode::NAMES).try_map(|s| s.parse::<Mode>()))]
    pub mode: Mode,
    /// Namespace of the package (a DNS label)
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Team label of the package
    #[arg(long, default_value = "my-team")]
    pub team: String,
    /// Owner recorded in the manifests [default: the team]
    #[arg(long)]
    pub owner: Option<String>,
    /// Directory to create [default: ./NAME]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct InitReport {
    name: String,
    #[schemars(with = "String")]
    runtime: Runtime,
    #[schemars(with = "String")]
    mode: Mode,
    directory: PathBuf,
    files: Vec<String>,
    next_steps: Vec<String>,
}

impl Render for InitReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        writeln!(
            out,
            "{} {} package {} in {}",
            styles.success("Created"),
            self.runtime,
            styles.bold(&self.name),
            self.directory.display()
        )?;
        for file in &self.files {
            writeln!(out, "  {file}")?;
        }
        writeln!(out, "\nNext steps:")?;
        for step in &self.next_steps {
            writeln!(out, "  {step}")?;
        }
        Ok(())
    }
}

pub fn run(args: InitArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let options = ScaffoldOptions {
        owner: args.owner.unwrap_or_else(|| args.team.clone()),
        name: args.name,
        runtime: args.runtime,
        mode: args.mode,
        namespace: args.namespace,
        team: args.team,
    };
    let directory = args.dir.unwrap_or_else(|| PathBuf::from(&options.name));
    let files = scaffold::plan(&options).map_err(scaffold_error)?;
    scaffold::create(&directory, &files).map_err(scaffold_error)?;
    let shown = directory.display().to_string();
    ctx.ui.emit_message(&InitReport {
        name: options.name,
        runtime: options.runtime,
        mode: options.mode,
        files: files.into_iter().map(|file| file.path).collect(),
        next_steps: vec![format!("dk lint {shown}"), format!("dk show {shown}")],
        directory,
    })
}

fn scaffold_error(err: ScaffoldError) -> CliError {
    let hint = match &err {
        ScaffoldError::InvalidName { name, .. } => {
            let suggestion = to_dns_label(name);
            (!suggestion.is_empty() && suggestion.len() <= scaffold::MAX_NAME_LEN)
                .then(|| format!("try `{suggestion}`"))
        }
        ScaffoldError::InvalidNamespace { .. } => Some("e.g. --namespace analytics".into()),
        ScaffoldError::BatchOnly { .. } => {
            Some("use --mode batch, or --runtime generic-python / generic-go for streaming".into())
        }
        ScaffoldError::NoScaffold => {
            Some("write dk.yaml with spec.command (docs/runtime-contract.md), or pick generic-node or generic-java".into())
        }
        ScaffoldError::NotEmpty { .. } => {
            Some("choose another name, or pass --dir with an empty or new directory".into())
        }
        ScaffoldError::Io { .. } => None,
    };
    let status = match err {
        ScaffoldError::Io { .. } => ExitStatus::Failure,
        _ => ExitStatus::Usage,
    };
    let mut error = CliError::new(status, err.to_string());
    error.hint = hint;
    error
}
