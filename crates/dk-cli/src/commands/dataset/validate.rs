use std::path::PathBuf;

use clap::Args;

use dk_manifest::model::Kind;
use dk_manifest::yaml::Origin;

use crate::commands::catalog::collect;
use crate::commands::lint::LintReport;
use crate::commands::{OverrideArgs, load_projects};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};

/// Lint DataSets only: the findings located in DataSet manifests
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dk dataset validate\n  dk dataset validate customers --dir ./my-pipeline\n  dk dataset validate -o json"
)]
pub struct ValidateArgs {
    /// Only this DataSet
    pub name: Option<String>,
    /// A package directory, or a project directory
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Fail on warnings as well as errors
    #[arg(long)]
    pub strict: bool,
}

pub fn run(args: ValidateArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let projects = load_projects(ctx, &args.dir, &[], &OverrideArgs::default())?;
    let datasets: Vec<String> = collect(&projects, Kind::DataSet)
        .into_iter()
        .filter(|item| args.name.as_ref().is_none_or(|name| &item.name == name))
        .map(|item| item.file)
        .collect();
    if let (Some(name), true) = (&args.name, datasets.is_empty()) {
        return Err(CliError::usage(format!(
            "no DataSet named `{name}` in {}",
            args.dir.display()
        ))
        .hint("`dk dataset list` shows what exists"));
    }
    let mut report = dk_validate::lint(&projects);
    report.retain(|finding| {
        finding.location.as_ref().is_some_and(|location| {
            matches!(location.origin(), Origin::File(path) if datasets.contains(&path.display().to_string()))
        })
    });
    ctx.ui
        .emit(&LintReport::new(report, args.strict, ctx.cwd.clone()))
}
