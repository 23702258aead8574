use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use dk_manifest::load::Loaded;
use dk_manifest::model::{Connector, DataSet, DataSetGroup, Kind, Manifest, Store, Transform};
use dk_manifest::resolve::{Lookup, resolve_transform};
use dk_manifest::yaml::Origin;

use super::{OverrideArgs, load_package};
use crate::context::Context;
use crate::error::{CliError, ExitStatus};
use crate::findings::{summary, write_findings};
use crate::output::{Render, Ui, to_yaml};

/// Show a package's effective manifest (after -f/--set) with the DataSets, Stores and Connectors it resolves to
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  dk show ./my-pipeline
  dk show ./my-pipeline --set spec.mode=streaming -f prod-values.yaml
  dk show ./my-pipeline -o json | jq '.datasets[].spec.classification'")]
pub struct ShowArgs {
    /// The package directory (holding dk.yaml)
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub overrides: OverrideArgs,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
struct SourceEntry {
    kind: Kind,
    name: String,
    file: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub(crate) struct ShowReport<'a> {
    transform: &'a Transform,
    datasets: Vec<&'a DataSet>,
    /// The DataSetGroups the Transform names; their members are among `datasets`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    groups: Vec<&'a DataSetGroup>,
    stores: Vec<&'a Store>,
    connectors: Vec<&'a Connector>,
    /// Where each manifest came from.
    sources: Vec<SourceEntry>,
}

impl Render for ShowReport<'_> {
    /// The human view of a manifest is YAML.
    fn render_text(&self, _ui: &Ui, out: &mut dyn Write) -> io::Result<()> {
        let text = to_yaml(self).map_err(|err| io::Error::other(err.message))?;
        out.write_all(text.as_bytes())
    }
}

fn source_entry<S>(loaded: &Loaded<Manifest<S>>) -> SourceEntry {
    let file = match &loaded.source().origin {
        Origin::File(path) => path.display().to_string(),
        Origin::Flag(flag) => flag.clone(),
        Origin::Builtin => "built-in".to_owned(),
    };
    SourceEntry {
        kind: loaded.manifest.kind,
        name: loaded.name().to_owned(),
        file,
    }
}

/// Adds `item` unless the same manifest is already listed.
fn push_unique<'a, T>(list: &mut Vec<&'a Loaded<T>>, item: &'a Loaded<T>) {
    if !list.iter().any(|existing| std::ptr::eq(*existing, item)) {
        list.push(item);
    }
}

pub fn run(args: ShowArgs, ctx: &Context) -> Result<ExitStatus, CliError> {
    let project = load_package(ctx, &args.dir, &args.overrides)?;
    let report = dk_validate::lint(std::slice::from_ref(&project));
    if !report.findings.is_empty() && !ctx.ui.quiet {
        let mut err = io::stderr().lock();
        write_findings(&mut err, ctx.ui.err_styles(), &report)?;
        writeln!(err)?;
    }
    let package = &project.packages[0];
    let transform = match &package.transform {
        Some(transform) if report.errors == 0 => transform,
        _ => {
            return Err(CliError::failure(format!(
                "{} has {}; nothing to show",
                args.dir.display(),
                summary(&report)
            ))
            .hint(format!(
                "fix the errors above; `dk lint {}` lists them",
                args.dir.display()
            )));
        }
    };
    let scope = project.scope(package);
    let resolution = resolve_transform(transform, scope);
    let spec = &transform.manifest.spec;
    let mut groups = Vec::new();
    for name in spec
        .inputs
        .iter()
        .chain(&spec.outputs)
        .filter_map(|r| r.dataset.as_deref())
    {
        if let (true, Lookup::Found(group)) = (scope.is_group(name), scope.group(name)) {
            push_unique(&mut groups, group);
        }
    }
    let (mut datasets, mut stores, mut connectors) = (Vec::new(), Vec::new(), Vec::new());
    for binding in &resolution.bindings {
        push_unique(&mut datasets, binding.dataset);
        if let Some(store) = binding.store {
            push_unique(&mut stores, store);
        }
        if let Some(connector) = binding.connector {
            push_unique(&mut connectors, connector);
        }
    }
    let mut sources = vec![source_entry(transform)];
    sources.extend(datasets.iter().map(|d| source_entry(d)));
    sources.extend(groups.iter().map(|g| source_entry(g)));
    sources.extend(stores.iter().map(|s| source_entry(s)));
    sources.extend(connectors.iter().map(|c| source_entry(c)));
    ctx.ui.emit(&ShowReport {
        transform: &transform.manifest,
        datasets: datasets.iter().map(|d| &d.manifest).collect(),
        groups: groups.iter().map(|g| &g.manifest).collect(),
        stores: stores.iter().map(|s| &s.manifest).collect(),
        connectors: connectors.iter().map(|c| &c.manifest).collect(),
        sources,
    })
}
