use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use serde::Serialize;

use dk_manifest::model::{Mode, Runtime, to_dns_label};
use dk_manifest::scaffold::{self, ScaffoldError, ScaffoldOptions};

use dk_config::env::PATH;

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
  dk init ledger --runtime generic-java
  dk init --from-dbt ./jaffle-shop
  dk init --from-dbt . --all-models

--from-dbt adopts an existing dbt project in place: it runs `dbt compile`, and writes dk.yaml,
one Store per duckdb/postgres/sqlite target of profiles.yml (passwords as ${VAR} references) and
one DataSet per source, seed and boundary model (every model with --all-models), with columns,
types (catalog.json when present), descriptions, and pii/classification from `meta`. dbt's files
are not touched. Re-running it updates the files it generated and keeps what you changed.")]
pub struct InitArgs {
    /// Package name: a DNS label (lowercase letters, digits and '-')
    #[arg(required_unless_present = "from_dbt", conflicts_with = "from_dbt")]
    pub name: Option<String>,
    /// Adopt the dbt project in DIR (default: the current directory) as a package, in place
    #[arg(long, value_name = "DIR", num_args = 0..=1, default_missing_value = ".")]
    pub from_dbt: Option<PathBuf>,
    /// With --from-dbt: a DataSet for every model, not only those at the project's boundary
    #[arg(long, requires = "from_dbt")]
    pub all_models: bool,
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
    if let Some(dir) = &args.from_dbt {
        return from_dbt(dir, &args, ctx);
    }
    let options = ScaffoldOptions {
        owner: args.owner.unwrap_or_else(|| args.team.clone()),
        name: args.name.unwrap_or_default(),
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

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AdoptReport {
    directory: PathBuf,
    /// Each file and what happened to it: created, updated, unchanged, or kept (not dk's).
    files: Vec<AdoptedFile>,
    warnings: Vec<String>,
    next_steps: Vec<String>,
}

#[derive(Debug, Serialize)]
struct AdoptedFile {
    path: String,
    action: dk_sql::dbt::Action,
}

impl Render for AdoptReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let styles = ui.out_styles();
        writeln!(
            out,
            "{} dbt project {} as a dk package",
            styles.success("Adopted"),
            self.directory.display()
        )?;
        for file in &self.files {
            let action = serde_json::to_value(file.action).unwrap_or_default();
            writeln!(
                out,
                "  {:<10} {}",
                action.as_str().unwrap_or_default(),
                file.path
            )?;
        }
        for warning in &self.warnings {
            writeln!(out, "  {} {warning}", styles.warning("warning:"))?;
        }
        writeln!(out, "\nNext steps:")?;
        for step in &self.next_steps {
            writeln!(out, "  {step}")?;
        }
        Ok(())
    }
}

fn from_dbt(dir: &std::path::Path, args: &InitArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    use dk_sql::dbt::{self, ImportOptions};
    let usage = |message: String, hint: &str| {
        let mut error = CliError::new(ExitStatus::Usage, message);
        error.hint = Some(hint.to_owned());
        error
    };
    if !dir.join("dbt_project.yml").is_file() {
        return Err(usage(
            format!("{} holds no dbt_project.yml", dir.display()),
            "pass the dbt project's directory: dk init --from-dbt path/to/project",
        ));
    }
    if !dir.join("profiles.yml").is_file() {
        return Err(usage(
            format!("{} holds no profiles.yml", dir.display()),
            "dk maps the targets of the project's own profiles.yml to Stores: put it beside dbt_project.yml",
        ));
    }
    let tools = dk_runner::exec::Tools::new(ctx.env.get(PATH).map(str::to_owned));
    let project = dk_runner::exec::dbt_project(dir).map_err(exec_error)?;
    let profile = project.profile_name();
    let folder = dbt::duckdb_folder(dir, profile).map_err(import_error)?;
    dk_runner::exec::dbt_compile(&tools, dir, folder.as_deref()).map_err(exec_error)?;
    let options = ImportOptions {
        all_models: args.all_models,
        owner: args.owner.clone().unwrap_or_else(|| args.team.clone()),
    };
    let adopted =
        dbt::adopt(dir, &project.target_dir(dir), profile, &options).map_err(import_error)?;
    let files = adopted
        .files
        .into_iter()
        .map(|(path, action)| AdoptedFile { path, action })
        .collect();
    let shown = dir.display().to_string();
    ctx.ui.emit(&AdoptReport {
        directory: dir.to_path_buf(),
        files,
        warnings: adopted.warnings,
        next_steps: vec![format!("dk lint {shown}"), format!("dk run {shown}")],
    })
}

fn import_error(err: dk_sql::dbt::ImportError) -> CliError {
    use dk_sql::dbt::ImportError;
    let hint = match &err {
        ImportError::Edit { .. } => {
            "fix the YAML of that generated file, or delete its header comment so that dk leaves it alone"
        }
        ImportError::File(_) => "check that the file is readable and a regular file",
        _ => {
            "the project's default target must be duckdb, postgres or sqlite, and `dbt compile` must succeed on it"
        }
    };
    let mut error = CliError::new(ExitStatus::Usage, err.to_string());
    error.hint = Some(hint.into());
    error
}

fn exec_error(err: dk_runner::exec::ExecError) -> CliError {
    // A missing dbt is this machine's setup, as for `dk run` (exit 2), not a failed check.
    let status = match err {
        dk_runner::exec::ExecError::MissingTool { .. } => ExitStatus::Usage,
        _ => ExitStatus::Failure,
    };
    let mut error = CliError::new(status, err.to_string());
    error.hint = err.hint();
    error
}
