//! What `dk dataset`, `dk store` and `dk connector` share: listing and showing manifests of one
//! kind across a project, and writing new ones into a package or the project root.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Serialize;

use dk_manifest::authoring::{self, AuthoringError};
use dk_manifest::discover::{Catalog, Package, Project, find_project_root, same_path};
use dk_manifest::load::Loaded;
use dk_manifest::model::{BUILTIN_CONNECTORS, Kind, Manifest, builtin_connector};
use dk_manifest::suggest::did_you_mean;
use dk_manifest::yaml::Origin;

use super::{OverrideArgs, load_package, load_projects, require_dir};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::findings::write_findings;
use crate::output::{OutputFormat, Render, Ui, table, to_yaml, write_table};

/// `list`'s text view is a table.
pub const LIST_FORMATS: &[OutputFormat] = &[OutputFormat::Table];

/// One listed manifest.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Listed {
    pub name: String,
    /// The package that defines it, `project` for the project root, or `built-in`.
    pub scope: String,
    pub file: String,
    /// The columns of the table view.
    #[serde(skip)]
    pub columns: Vec<String>,
    pub manifest: serde_json::Value,
}

fn file_of<T>(loaded: &Loaded<T>) -> String {
    match &loaded.source().origin {
        Origin::File(path) => path.display().to_string(),
        Origin::Flag(flag) => flag.clone(),
        Origin::Builtin => "built-in".to_owned(),
    }
}

fn listed<S: Serialize>(loaded: &Loaded<Manifest<S>>, scope: &str, columns: Vec<String>) -> Listed {
    Listed {
        name: loaded.name().to_owned(),
        scope: scope.to_owned(),
        file: file_of(loaded),
        columns,
        manifest: serde_json::to_value(&loaded.manifest).unwrap_or_default(),
    }
}

/// The manifests of `kind` in every catalog of `projects`, project root first, then packages.
pub fn collect(projects: &[Project], kind: Kind) -> Vec<Listed> {
    let mut entries = Vec::new();
    for project in projects {
        let catalogs = std::iter::once((&project.shared, "project".to_owned())).chain(
            project.packages.iter().map(|package| {
                let scope = package.transform.as_ref().map_or_else(
                    || package.dir.display().to_string(),
                    |t| t.name().to_owned(),
                );
                (&package.catalog, scope)
            }),
        );
        for (catalog, scope) in catalogs {
            entries.extend(of_kind(catalog, kind, &scope));
        }
    }
    if kind == Kind::Connector {
        for name in BUILTIN_CONNECTORS {
            if let Some(connector) = builtin_connector(name) {
                entries.push(Listed {
                    name: (*name).to_owned(),
                    scope: "built-in".to_owned(),
                    file: "built-in".to_owned(),
                    columns: connector_columns(&connector),
                    manifest: serde_json::to_value(&connector).unwrap_or_default(),
                });
            }
        }
    }
    entries
}

fn connector_columns(connector: &dk_manifest::model::Connector) -> Vec<String> {
    let capabilities = connector
        .spec
        .capabilities
        .iter()
        .map(|c| c.as_str())
        .collect::<Vec<_>>();
    vec![
        connector.spec.connector_type.clone(),
        capabilities.join(", "),
    ]
}

fn of_kind(catalog: &Catalog, kind: Kind, scope: &str) -> Vec<Listed> {
    match kind {
        Kind::DataSet => catalog
            .datasets()
            .iter()
            .map(|d| {
                let spec = &d.manifest.spec;
                let locator = spec
                    .locators()
                    .first()
                    .map_or_else(|| "-".to_owned(), |(k, v)| format!("{k}: {v}"));
                let pii: Vec<&str> = spec.pii_fields().map(|(_, f)| f.name.as_str()).collect();
                let columns = vec![
                    spec.store.clone(),
                    locator,
                    spec.classification
                        .map_or_else(|| "-".to_owned(), |c| c.to_string()),
                    if pii.is_empty() {
                        "-".to_owned()
                    } else {
                        pii.join(", ")
                    },
                ];
                listed(d, scope, columns)
            })
            .collect(),
        Kind::Store => catalog
            .stores()
            .iter()
            .map(|s| listed(s, scope, vec![s.manifest.spec.connector.clone()]))
            .collect(),
        Kind::Connector => catalog
            .connectors()
            .iter()
            .map(|c| listed(c, scope, connector_columns(&c.manifest)))
            .collect(),
        Kind::DataSetGroup => catalog
            .groups()
            .iter()
            .map(|g| {
                let spec = &g.manifest.spec;
                listed(g, scope, vec![spec.store.clone(), spec.datasets.join(", ")])
            })
            .collect(),
        Kind::Transform => Vec::new(),
    }
}

fn headers(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::DataSet => &[
            "NAME",
            "SCOPE",
            "STORE",
            "LOCATOR",
            "CLASSIFICATION",
            "PII",
            "FILE",
        ],
        Kind::Store => &["NAME", "SCOPE", "CONNECTOR", "FILE"],
        Kind::DataSetGroup => &["NAME", "SCOPE", "STORE", "DATASETS", "FILE"],
        _ => &["NAME", "SCOPE", "TYPE", "CAPABILITIES", "FILE"],
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// A package directory, or a project directory to list every package below it
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// List the manifests of every package below DIR (repeatable)
    #[arg(long = "scan-dir", value_name = "DIR")]
    pub scan_dirs: Vec<PathBuf>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct ListReport {
    #[serde(skip)]
    kind: Kind,
    items: Vec<Listed>,
}

impl Render for ListReport {
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let mut rows = table(headers(self.kind));
        for item in &self.items {
            let mut row = vec![item.name.clone(), item.scope.clone()];
            row.extend(item.columns.iter().cloned());
            row.push(item.file.clone());
            rows.add_row(row);
        }
        write_table(out, &rows)
    }

    fn render_extra(&self, _format: OutputFormat, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        self.render_text(ui, out)
    }
}

/// A project directory with no packages still has project-level manifests to list.
fn projects_for_listing(
    ctx: &Context,
    dir: &Path,
    scan_dirs: &[PathBuf],
) -> Result<Vec<Project>, CliError> {
    match load_projects(ctx, dir, scan_dirs, &OverrideArgs::default()) {
        Ok(projects) => Ok(projects),
        Err(_) if scan_dirs.is_empty() && dir.is_dir() => Ok(dk_manifest::discover::load_projects(
            &[dir.to_owned()],
            &ctx.discover_options(),
        )
        .map_err(|err| CliError::usage("cannot read the directory").cause(err))?),
        Err(err) => Err(err),
    }
}

pub fn list(kind: Kind, args: ListArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let projects = projects_for_listing(ctx, &args.dir, &args.scan_dirs)?;
    ctx.ui.emit(&ListReport {
        kind,
        items: collect(&projects, kind),
    })
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The name to show
    pub name: String,
    /// The package (names resolve in it, then at the project root) or project directory
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub(crate) struct ShowReport(Listed);

impl Render for ShowReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        ui.note(
            ui.err_styles()
                .dim(&format!("# {} ({})", self.0.file, self.0.scope))
                .to_string(),
        );
        let text = to_yaml(&self.0.manifest).map_err(|err| io::Error::other(err.message))?;
        out.write_all(text.as_bytes())
    }
}

pub fn show(kind: Kind, args: ShowArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let projects = projects_for_listing(ctx, &args.dir, &[])?;
    let mut items = collect(&projects, kind);
    // In a package, its own manifest hides a project-level one of the same name.
    let in_package = Package::exists_in(&args.dir);
    let matching: Vec<usize> = items
        .iter()
        .enumerate()
        .filter(|(_, item)| item.name == args.name)
        .map(|(i, _)| i)
        .collect();
    let chosen = match matching.as_slice() {
        [] => {
            let hint = did_you_mean(&args.name, items.iter().map(|item| item.name.as_str()))
                .map_or_else(
                    || format!("`dk {} list` shows what exists", noun(kind)),
                    |s| format!("did you mean `{s}`?"),
                );
            return Err(CliError::usage(format!(
                "no {kind} named `{}` in {}",
                args.name,
                args.dir.display()
            ))
            .hint(hint));
        }
        [only] => *only,
        several if in_package => *several
            .iter()
            .find(|i| items[**i].scope != "project")
            .unwrap_or(&several[0]),
        several => {
            let files = several
                .iter()
                .map(|i| items[*i].file.clone())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(CliError::usage(format!(
                "several {kind} manifests are named `{}`: {files}",
                args.name
            ))
            .hint("pass --dir with the package whose manifest you mean"));
        }
    };
    ctx.ui.emit(&ShowReport(items.swap_remove(chosen)))
}

/// The noun of a kind on the command line.
pub fn noun(kind: Kind) -> &'static str {
    match kind {
        Kind::DataSet => "dataset",
        Kind::Store => "store",
        Kind::Connector => "connector",
        Kind::DataSetGroup => "datasetgroup",
        Kind::Transform => "transform",
    }
}

/// Where `create` writes: a package (the default) or the project root.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The package (or project root) to write into
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// Write into the project root's folders, shared by every package
    #[arg(long)]
    pub project: bool,
    /// Replace an existing manifest of that name
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct CreateReport {
    #[schemars(with = "String")]
    kind: Kind,
    name: String,
    file: PathBuf,
    replaced: bool,
}

impl Render for CreateReport {
    fn render_text(&self, ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let verb = if self.replaced { "Replaced" } else { "Created" };
        writeln!(
            out,
            "{} {} {} in {}",
            ui.out_styles().success(verb),
            self.kind,
            self.name,
            self.file.display()
        )
    }
}

/// Writes a new manifest and reports any lint findings about it.
pub fn create<S: Serialize>(
    manifest: &Manifest<S>,
    target: &TargetArgs,
    ctx: &Context,
) -> Result<ExitStatus, CliError> {
    require_dir(&target.dir)?;
    let dir = if target.project {
        find_project_root(&target.dir, &ctx.discover_options()).ok_or_else(|| {
            CliError::usage(format!(
                "{} is in no project (no .git or .dk/ folder above it)",
                target.dir.display()
            ))
            .hint("run inside the project's git repository, or create a .dk/ folder at its root")
        })?
    } else {
        target.dir.clone()
    };
    let error = |err: AuthoringError| match err {
        AuthoringError::InvalidName { .. } => CliError::usage(err.to_string())
            .hint("use lowercase letters, digits and '-', e.g. orders-daily"),
        AuthoringError::Exists { .. } => {
            CliError::usage(err.to_string()).hint("pass --force to replace it")
        }
        AuthoringError::Io { .. } => CliError::failure(err.to_string()),
    };
    let path = authoring::manifest_path(&dir, manifest.kind, manifest.name()).map_err(error)?;
    let replaced = path.exists();
    authoring::write(&path, &authoring::render(manifest), target.force).map_err(error)?;
    // What the new manifest still needs (a store that does not exist yet, ...) is worth knowing now.
    if Package::exists_in(&target.dir) && !ctx.ui.quiet {
        let project = load_package(ctx, &target.dir, &OverrideArgs::default())?;
        let mut report = dk_validate::lint(std::slice::from_ref(&project));
        report.retain(|finding| {
            finding
                .location
                .as_ref()
                .is_some_and(|l| matches!(l.origin(), Origin::File(file) if same_path(file, &path)))
        });
        if !report.findings.is_empty() {
            let mut err = io::stderr().lock();
            write_findings(&mut err, ctx.ui.err_styles(), &report)?;
            // Creating a DataSet before its Store is a normal order of work, so the manifest is
            // written; a user who saw "Errors (blocking)" and exit 0 could not tell.
            if report.errors > 0 {
                writeln!(
                    err,
                    "{} {} is written; dk lint fails until these are fixed",
                    ctx.ui.err_styles().hint("note:"),
                    path.display()
                )?;
            }
        }
    }
    ctx.ui.emit_message(&CreateReport {
        kind: manifest.kind,
        name: manifest.name().to_owned(),
        file: path,
        replaced,
    })
}
