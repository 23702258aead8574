//! Data-contract diffs as commands use them: a version's contract and files read from the
//! local layout, the diff between two (dk diff, dk build's semver check, a promotion's pull
//! request) and the consumers of what a breaking change affects (project graph, lineage store).

use std::collections::BTreeMap;
use std::path::Path;

use dk_contract::{Consumer, Contract, Diff};
use dk_lineage::emit::{LineagePaths, Synced, sync_store};
use dk_lineage::graph::{Direction, NodeKind};
use dk_manifest::discover;
use dk_manifest::graph::Graph;
use dk_package::bundle;
use dk_package::drift;
use dk_package::layout::{Layout, Manifest};

use crate::commands::package_error;
use crate::context::Context;
use crate::error::CliError;

/// One side of a diff: what it is, its contract and its files.
pub struct Side {
    /// How the report names it: a directory, a reference, a tag.
    pub label: String,
    /// The tag it was resolved from, when it is a version.
    pub version: Option<semver::Version>,
    pub contract: Contract,
    pub files: BTreeMap<String, drift::State>,
}

pub fn contract_of(files: &[(String, String)]) -> Result<Contract, CliError> {
    Contract::from_files(files).map_err(|err| {
        CliError::failure(format!("cannot read the manifests: {err}"))
            .hint("dk lint shows every problem with its line and column")
    })
}

/// An artifact whose blobs the layout holds.
pub fn side_of_artifact(
    layout: &Layout,
    label: String,
    version: Option<semver::Version>,
    manifest: &Manifest,
) -> Result<Side, CliError> {
    let damaged = |err| package_error(&format!("{label} is damaged"), err);
    let manifests = layout.manifest_files_of(manifest).map_err(damaged)?;
    Ok(Side {
        contract: contract_of(&manifests)?,
        files: drift::of_artifact(layout, manifest).map_err(damaged)?,
        label,
        version,
    })
}

/// The consumers of each DataSet a breaking change affects: packages of the project around
/// `start` that read it, and jobs the lineage store saw read it.
pub fn consumers(
    ctx: &Context,
    diff: &Diff,
    start: &Path,
    package: Option<&str>,
) -> BTreeMap<String, Vec<Consumer>> {
    let broken = diff.broken_datasets();
    let mut found: BTreeMap<String, Vec<Consumer>> = BTreeMap::new();
    if broken.is_empty() {
        return found;
    }
    let options = ctx.discover_options();
    let root = discover::find_project_root(start, &options).unwrap_or_else(|| start.to_owned());
    if let Ok(projects) = discover::load_projects(&[root], &options) {
        for step in Graph::build(&projects).steps {
            let name = format!("{}/{}", step.namespace, step.name);
            if Some(name.as_str()) == package {
                continue;
            }
            for dataset in step.inputs.iter().filter(|d| broken.contains(d.as_str())) {
                found.entry(dataset.clone()).or_default().push(Consumer {
                    name: name.clone(),
                    source: "project".into(),
                });
            }
        }
    }
    let paths = ctx.paths().map(|paths| LineagePaths::under(&paths.dk_home));
    // A home where nothing ever ran has no store: there is nothing to learn, nor to create.
    if let Ok(paths) = paths
        && paths.store.is_file()
    {
        match sync_store(&paths) {
            Ok(Synced { store, .. }) => {
                for dataset in &broken {
                    let Ok(around) = store.neighbourhood(dataset, Direction::Downstream, 1) else {
                        continue;
                    };
                    for (node, _) in around
                        .iter()
                        .flat_map(|n| &n.nodes)
                        .filter(|(node, distance)| *distance == 1 && node.kind == NodeKind::Job)
                    {
                        found
                            .entry((*dataset).to_owned())
                            .or_default()
                            .push(Consumer {
                                name: format!("{}/{}", node.namespace, node.name),
                                source: "lineage".into(),
                            });
                    }
                }
            }
            Err(err) => ctx.ui.warn(format!(
                "consumers from lineage left out: cannot read the lineage store ({err})"
            )),
        }
    }
    for list in found.values_mut() {
        list.sort();
        list.dedup();
    }
    found
}

/// Compares `old` with `new`: the contract, then the other files as patch-level changes.
pub fn contract_diff(old: &Side, new: &Side) -> Diff {
    let code: Vec<String> = drift::differ(&old.files, &new.files)
        .into_iter()
        .filter(|(path, _)| !bundle::is_manifest(path))
        .map(|(path, change)| format!("{path} {}", change.word()))
        .collect();
    dk_contract::diff(&old.contract, &new.contract, &code)
}

/// The diff between two artifacts of the local layout, by digest, with the consumers of what
/// it breaks (the project around the current directory, the lineage store); `None` when either
/// is not at hand or cannot be read, which the caller says.
pub fn digest_diff(ctx: &Context, old: &str, new: &str) -> Option<Diff> {
    let layout = crate::commands::layout(ctx).ok()?;
    let list = layout.list().ok()?;
    let side = |digest: &str| {
        let descriptor = list.iter().find(|d| d.digest == digest)?;
        let (manifest, _) = layout.manifest(descriptor).ok()?;
        side_of_artifact(&layout, digest.to_owned(), None, &manifest).ok()
    };
    let (old, new) = (side(old)?, side(new)?);
    let mut diff = contract_diff(&old, &new);
    diff.consumers = consumers(ctx, &diff, Path::new("."), new.contract.package.as_deref());
    Some(diff)
}
