//! One module per command; each holds its `Args` next to its `run`.

pub mod completions;
pub mod config;
pub mod init;
pub mod lint;
pub mod show;
pub mod version;

use std::path::{Path, PathBuf};

use clap::Args;

use dk_manifest::discover::{self, Package, Project};
use dk_manifest::overrides::Overrides;

use crate::cli::Command;
use crate::context::Context;
use crate::error::{CliError, ExitStatus};

pub fn run(command: Command, ctx: &Context) -> Result<ExitStatus, CliError> {
    match command {
        Command::Init(args) => init::run(args, ctx),
        Command::Lint(args) => lint::run(args, ctx),
        Command::Show(args) => show::run(args, ctx),
        Command::Config(command) => config::run(command, ctx),
        Command::Version(args) => version::run(args, ctx),
        Command::Completions(args) => completions::run(args, ctx),
    }
}

/// `-f` and `--set`: in-memory overrides of a package's dk.yaml.
#[derive(Debug, Args)]
pub struct OverrideArgs {
    /// Values file deep-merged into dk.yaml (repeatable; later files win; lists replace)
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Override one value of dk.yaml (repeatable), e.g. --set spec.inputs[0].dataset=orders
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
}

impl OverrideArgs {
    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.set.is_empty()
    }

    pub fn parse(&self) -> Result<Overrides, CliError> {
        Overrides::parse(&self.values, &self.set).map_err(|err| {
            CliError::usage(err.to_string())
                .hint("--set takes PATH=VALUE (e.g. spec.mode=streaming); -f takes a YAML mapping")
        })
    }
}

/// Fails with a usage error when `dir` is not a directory.
pub fn require_dir(dir: &Path) -> Result<(), CliError> {
    if dir.is_dir() {
        return Ok(());
    }
    let message = if dir.exists() {
        format!("{} is not a directory", dir.display())
    } else {
        format!("{} does not exist", dir.display())
    };
    Err(CliError::usage(message)
        .hint("pass a package directory (one holding dk.yaml) or a project directory"))
}

/// Loads one package (with overrides) and the project around it.
pub fn load_package(
    ctx: &Context,
    dir: &Path,
    overrides: &OverrideArgs,
) -> Result<Project, CliError> {
    require_dir(dir)?;
    if !Package::exists_in(dir) {
        return Err(CliError::usage(format!(
            "{} has no {}",
            dir.display(),
            discover::MANIFEST_FILE
        ))
        .hint(format!(
            "create a package with `dk init NAME`, or pass the directory that holds {}",
            discover::MANIFEST_FILE
        )));
    }
    let overrides = overrides.parse()?;
    let project = discover::load_package_project(dir, &overrides, &ctx.discover_options());
    tracing::debug!(root = ?project.root, "package loaded");
    Ok(project)
}
