//! One module per command; each holds its `Args` next to its `run`.

pub mod catalog;
pub mod completions;
pub mod config;
pub mod connector;
pub mod dataset;
pub mod datasetgroup;
pub mod deliver;
pub mod dev;
pub mod doctor;
pub mod gitops;
pub mod governance;
pub mod init;
pub mod lineage;
pub mod lint;
pub mod package;
pub mod pipeline;
pub mod promote;
pub mod rollback;
pub mod run;
pub mod show;
pub mod status;
pub mod store;
pub mod test;
pub mod trust;
pub mod version;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde_json::Value;

use dk_config::env::{DK_NOW, DK_REGISTRY_PASSWORD, DK_REGISTRY_USER, DOCKER_CONFIG, HOME, PATH};
use dk_manifest::discover::{self, Package, Project};
use dk_manifest::overrides::{OverrideError, Overrides};
use dk_manifest::units::parse_duration;
use dk_package::PackageError;
use dk_package::credentials::{self, CredentialSources};
use dk_package::layout::Layout;
use dk_package::reference::check_host;
use dk_package::registry::Registry;
use dk_trust::TrustError;

use crate::cli::Command;
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::findings::{summary, write_findings};
use crate::output::OutputFormat;

/// The views the command at `path` (its names below `dk`: `["governance", "report"]`) offers
/// besides text, JSON and YAML: the one list `-o` is parsed, checked and documented from.
pub fn extra_formats(path: &[&str]) -> &'static [OutputFormat] {
    match path {
        ["lint"] | ["dataset", "validate"] => lint::FORMATS,
        ["lineage"] => lineage::GRAPH_FORMATS,
        // `list` and `path` print tables, so `-o table` names their text view too.
        ["config", "list" | "path"]
        | ["dataset" | "datasetgroup" | "store" | "connector", "list"] => catalog::LIST_FORMATS,
        ["governance", "report"] => governance::report::FORMATS,
        ["pipeline", "show"] => pipeline::show::FORMATS,
        ["diff"] => package::DIFF_FORMATS,
        _ => &[],
    }
}

/// Every format of the command at `path`.
pub fn formats(path: &[&str]) -> Vec<OutputFormat> {
    OutputFormat::COMMON
        .iter()
        .chain(extra_formats(path))
        .copied()
        .collect()
}

/// Refuses an output format the command at `path` does not have (given before the command
/// name, `dk -o csv build`, it passed the parser), before anything is done.
pub fn check_format(path: &[&str], format: OutputFormat) -> Result<(), CliError> {
    let offered = formats(path);
    if offered.contains(&format) {
        return Ok(());
    }
    let names: Vec<String> = offered.iter().map(ToString::to_string).collect();
    Err(CliError::usage(format!(
        "invalid value '{format}' for '--output': dk {} has no -o {format} view",
        path.join(" ")
    ))
    .hint(format!("use one of: {}", names.join(", "))))
}

pub fn run(command: Command, ctx: &Context) -> Result<ExitStatus, CliError> {
    if matches!(
        command,
        Command::Run(_) | Command::Test(_) | Command::Lineage(_) | Command::Dev(_)
    ) {
        recover_dead_runs(ctx);
        // Events a backend did not take (the ABORTs just recorded among them) go out by a
        // background deliverer; `lineage flush` sends them itself.
        let flush = matches!(
            &command,
            Command::Lineage(lineage::LineageArgs {
                command: Some(lineage::LineageCommand::Flush(_)),
                ..
            })
        );
        if !flush {
            crate::delivery::recover(ctx);
        }
    }
    match command {
        Command::Deliver(args) => deliver::run(args, ctx),
        Command::Init(args) => init::run(args, ctx),
        Command::Lint(args) => lint::run(args, ctx),
        Command::Show(args) => show::run(args, ctx),
        Command::Run(args) => run::run(args, ctx),
        Command::Lineage(args) => lineage::run(args, ctx),
        Command::Test(args) => test::run(args, ctx),
        Command::Build(args) => package::run_build(args, ctx),
        Command::Publish(args) => package::run_publish(args, ctx),
        Command::Pull(args) => package::run_pull(args, ctx),
        Command::Inspect(args) => package::run_inspect(args, ctx),
        Command::Diff(args) => package::run_diff(args, ctx),
        Command::Gitops(command) => gitops::run(command, ctx),
        Command::Promote(args) => promote::run(args, ctx),
        Command::Rollback(args) => rollback::run(args, ctx),
        Command::Status(args) => status::run(args, ctx),
        Command::Dev(command) => dev::run(command, ctx),
        Command::Config(command) => config::run(command, ctx),
        Command::Governance(command) => governance::run(command, ctx),
        Command::Pipeline(command) => pipeline::run(command, ctx),
        Command::Dataset(command) => dataset::run(command, ctx),
        Command::Store(command) => store::run(command, ctx),
        Command::Connector(command) => connector::run(command, ctx),
        Command::Version(args) => version::run(args, ctx),
        Command::Completions(args) => completions::run(args, ctx),
        Command::Doctor(args) => doctor::run(args, ctx),
        Command::Datasetgroup(command) => datasetgroup::run(command, ctx),
        Command::Key(command) => trust::run_key(command, ctx),
        Command::Sign(args) => trust::run_sign(args, ctx),
        Command::Verify(args) => trust::run_verify(args, ctx),
    }
}

/// `-f` and `--set`: in-memory overrides of a package's dk.yaml.
#[derive(Debug, Default, Args)]
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
            let hint = match err {
                OverrideError::Limits(_) => {
                    "a values file holds a few overrides: write repeated values out instead of nesting aliases"
                }
                _ => "--set takes PATH=VALUE (e.g. spec.mode=streaming); -f takes a YAML mapping",
            };
            CliError::usage(err.to_string()).hint(hint)
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

/// What a command was pointed at: one package (with its overrides applied), or the projects a
/// scan found, their packages not yet read.
pub enum Target {
    Package(Box<Project>),
    Scan(Vec<discover::ProjectPlan>),
}

/// Finds what `dir` and `--scan-dir` name (see [`load_projects`]) without reading the packages
/// of a scan, so that a caller can stream them.
pub fn plan_projects(
    ctx: &Context,
    dir: &Path,
    scan_dirs: &[PathBuf],
    overrides: &OverrideArgs,
) -> Result<Target, CliError> {
    if scan_dirs.is_empty() && Package::exists_in(dir) {
        return Ok(Target::Package(Box::new(load_package(
            ctx, dir, overrides,
        )?)));
    }
    if !overrides.is_empty() {
        return Err(CliError::usage(
            "-f/--set override one package's dk.yaml and cannot apply to a scan",
        )
        .hint("pass the package directory instead: dk lint ./my-pipeline --set ..."));
    }
    let dirs = if scan_dirs.is_empty() {
        vec![dir.to_owned()]
    } else {
        scan_dirs.to_vec()
    };
    for dir in &dirs {
        require_dir(dir)?;
    }
    let plans = discover::plan_projects(&dirs, &ctx.discover_options())
        .map_err(|err| CliError::usage("cannot read the directories to scan").cause(err))?;
    if plans.iter().all(|plan| plan.package_dirs.is_empty()) {
        let shown = dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(
            CliError::usage(format!("no package (dk.yaml) found in {shown}"))
                .hint("create one with `dk init NAME`, or pass the directory of a package"),
        );
    }
    Ok(Target::Scan(plans))
}

/// What `DIR` and `--scan-dir` select, as lint, reports and graphs take them: the package in
/// `DIR` (with its project), or every package below `DIR` or each `--scan-dir`.
pub fn load_projects(
    ctx: &Context,
    dir: &Path,
    scan_dirs: &[PathBuf],
    overrides: &OverrideArgs,
) -> Result<Vec<Project>, CliError> {
    Ok(match plan_projects(ctx, dir, scan_dirs, overrides)? {
        Target::Package(project) => vec![*project],
        Target::Scan(plans) => discover::read_projects(plans),
    })
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

/// A library's packaging error as the CLI reports it: what failed, its exit status and hint.
pub fn package_error(what: &str, err: PackageError) -> CliError {
    match err {
        PackageError::InvalidReference(message) => CliError::usage(message),
        err @ PackageError::TagTaken { .. } => CliError::failure(err.to_string()).hint(
            "bump the version (dk build --tag vX.Y.Z+1), or --force to replace an unpublished local build",
        ),
        err @ PackageError::TagPublished { .. } => CliError::failure(err.to_string())
            .hint("bump the version: dk build --tag vX.Y.Z+1"),
        err @ PackageError::NotAPackage { .. } => CliError::usage(err.to_string()).hint(
            "dk pull and dk inspect read packages dk publish pushed; read other artifacts with skopeo or oras",
        ),
        PackageError::Unreachable { host, reason } => CliError::new(
            ExitStatus::External,
            format!("cannot reach {host} ({reason})"),
        )
        .hint(format!(
            "check that the registry at {host} runs and that the address is right (--registry, DK_REGISTRY or `dk config get registry`)"
        )),
        err => {
            let status = match &err {
                PackageError::Registry(_) | PackageError::Credentials(_) => ExitStatus::External,
                _ => ExitStatus::Failure,
            };
            CliError::new(status, what.to_owned()).cause(err)
        }
    }
}

/// A dk-trust error as the CLI reports it: a refusal is 1, a key or password problem 2, a
/// registry failure 3.
pub fn trust_error(what: &str, err: TrustError) -> CliError {
    let status = match &err {
        TrustError::Package(_) => return package_error(what, into_package(err)),
        TrustError::Refused(_) | TrustError::Exists(_) | TrustError::Invalid(_) => {
            ExitStatus::Failure
        }
        TrustError::Io(_) => ExitStatus::Failure,
        TrustError::Key(_)
        | TrustError::KeyFile(_)
        | TrustError::Password(_)
        | TrustError::Usage(_) => ExitStatus::Usage,
    };
    let hint = match &err {
        TrustError::Password(_) => Some("set DK_KEY_PASSWORD to the key's password"),
        TrustError::Exists(_) => Some("choose another NAME, or remove the old key pair first"),
        _ => None,
    };
    let mut error = CliError::new(status, what).cause(&err);
    error.hint = hint.map(str::to_owned);
    error
}

fn into_package(err: TrustError) -> dk_package::PackageError {
    match err {
        TrustError::Package(err) => err,
        other => dk_package::PackageError::Invalid(other.to_string()),
    }
}

pub fn layout(ctx: &Context) -> Result<Layout, CliError> {
    let root = ctx.paths()?.dk_home.join("registry");
    Layout::open(&root).map_err(|err| package_error("cannot open the local registry", err))
}

/// The local OCI layout, `$DK_HOME/registry`.
fn credential_sources(ctx: &Context) -> CredentialSources {
    let docker_config = ctx.env.get(DOCKER_CONFIG).map(PathBuf::from).or_else(|| {
        ctx.env
            .get(HOME)
            .map(|home| Path::new(home).join(".docker"))
    });
    CredentialSources {
        user: ctx.env.get(DK_REGISTRY_USER).map(str::to_owned),
        password: ctx.env.get(DK_REGISTRY_PASSWORD).map(str::to_owned),
        docker_config,
        path: ctx.env.get(PATH).map(str::to_owned),
        helper_timeout: None,
    }
}

pub fn registry_for(ctx: &Context, host: &str, plain_http: bool) -> Result<Registry, CliError> {
    check_host(host).map_err(|err| package_error("invalid registry", err))?;
    let credentials = credentials::lookup(host, &credential_sources(ctx))
        .map_err(|err| package_error(&format!("cannot read the credentials for {host}"), err))?;
    if let Some(found) = &credentials {
        tracing::debug!(host, source = %found.source, "registry credentials");
    }
    let chunked = ctx
        .config()?
        .get("publish.chunked")?
        .is_some_and(|setting| setting.value == Value::Bool(true));
    Ok(Registry::new(
        host,
        plain_http,
        credentials.as_ref(),
        chunked,
    ))
}

/// The runtime async work (pipelines, delivery, registry calls) runs on: one thread is enough
/// for one process and a few HTTP requests.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::failure("cannot start the async runtime").cause(err))
}

/// `KEY=VALUE` pairs of `--env`.
pub fn parse_env(pairs: &[String]) -> Result<Vec<(String, String)>, CliError> {
    dk_runner::runner::parse_env(pairs).map_err(|pair| {
        CliError::usage(format!("--env `{pair}` is not KEY=VALUE"))
            .hint("e.g. --env LOG_LEVEL=debug")
    })
}

pub fn parse_timeout(text: Option<&str>, flag: &str) -> Result<Option<Duration>, CliError> {
    text.map(|text| parse_duration(text).map_err(|err| CliError::usage(format!("{flag}: {err}"))))
        .transpose()
}

/// Lints what is about to run (or be built); errors stop it, and `consequence` says what did
/// not happen.
pub fn lint_gate(
    ctx: &Context,
    projects: &[Project],
    what: &str,
    consequence: &str,
) -> Result<(), CliError> {
    for package in projects.iter().flat_map(|project| &project.packages) {
        refuse_pip_options(&package.dir, consequence)?;
    }
    let report = dk_validate::lint(projects);
    if !report.findings.is_empty() && !ctx.ui.quiet {
        ctx.ui.write_err(|err| {
            write_findings(err, ctx.ui.err_styles(), &report)?;
            writeln!(err)
        })?;
    }
    if report.errors > 0 {
        return Err(
            CliError::failure(format!("{what} has {}; {consequence}", summary(&report)))
                .hint("fix the errors above; `dk lint --explain CODE` tells more of each"),
        );
    }
    Ok(())
}

/// A `requirements.txt` that could redirect pip (DK121) is a configuration error, not a lint
/// finding to weigh: a pulled package must not choose where dk's pip installs from.
fn refuse_pip_options(dir: &Path, consequence: &str) -> Result<(), CliError> {
    let path = dir.join(dk_package::wheels::REQUIREMENTS);
    let text = match dk_fs::read_to_string(&path, 16 << 20) {
        Ok(text) => text,
        Err(err) if err.io_kind() == Some(std::io::ErrorKind::NotFound) => return Ok(()),
        Err(err) => return Err(CliError::usage(err.to_string())),
    };
    let Some(first) = dk_package::wheels::forbidden_requirements(&text)
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    Err(CliError::usage(format!(
        "{}:{}:{}: `{}`: {} (DK121); {consequence}",
        path.display(),
        first.line,
        first.column,
        first.text,
        first.reason
    ))
    .hint(dk_package::wheels::REQUIREMENTS_HINT))
}

/// One package, as written (no overrides), that lints without errors.
pub fn load_runnable(ctx: &Context, dir: &Path) -> Result<Project, CliError> {
    load_linted(ctx, dir, "nothing was run")
}

/// One package, as written, that lints without errors; else an error ending in `consequence`.
pub fn load_linted(ctx: &Context, dir: &Path, consequence: &str) -> Result<Project, CliError> {
    let project = load_package(ctx, dir, &OverrideArgs::default())?;
    lint_gate(
        ctx,
        std::slice::from_ref(&project),
        &dir.display().to_string(),
        consequence,
    )?;
    Ok(project)
}

/// Ends the runs whose dk was killed: their ABORT is recorded and their private files (DSNs)
/// removed. Best effort: a command is never refused for it.
fn recover_dead_runs(ctx: &Context) {
    let Ok(paths) = ctx.paths() else {
        return;
    };
    let now = ctx
        .env
        .get(DK_NOW)
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .map_or_else(chrono::Utc::now, |time| time.with_timezone(&chrono::Utc));
    let recovery = dk_runner::recover::recover(&paths.dk_home, now);
    for run in &recovery.recovered {
        let what = match run.aborted {
            true => "recorded its ABORT and removed its files",
            false => "removed its files",
        };
        ctx.ui.note(format!(
            "Run {} outlived its dk (pid {}, gone): {what}",
            run.run_id, run.dk_pid
        ));
    }
    for warning in &recovery.warnings {
        ctx.ui.warn(warning);
    }
}
