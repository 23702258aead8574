//! Data-contract diffs: what changed between two versions of a package, read from their
//! manifests (`dk.yaml` and the kind folders), each change classified **breaking**, **minor** or
//! **patch**, and the smallest semantic version the whole diff requires ([`bump`]).
//!
//! A package's contract is what its consumers rely on: the DataSets it writes (their names,
//! columns, types, location, classification, PII) and what it demands of the DataSets it reads.
//! `dk diff` shows the diff, `dk build --tag` refuses a version smaller than it requires, and a
//! promotion's pull request describes it ([`markdown`]). The caller finds the consumers
//! (project graph, lineage store) and the code files that changed; this crate does neither.

pub mod bump;
mod markdown;
mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use dk_manifest::load::{AnyManifest, read_manifests};
use dk_manifest::model::{Classification, DataSetSpec, Field, StoreSpec};
use dk_manifest::yaml::Source;

pub use markdown::markdown;
use types::{TypeChange, compare_types};

/// How much a change matters to a package's consumers, in increasing order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Nothing changed.
    None,
    /// Code and docs only.
    Patch,
    /// Something new that consumers may use; nothing they use changed.
    Minor,
    /// Something a consumer relies on is gone or different.
    Breaking,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Patch => "patch",
            Level::Minor => "minor",
            Level::Breaking => "breaking",
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change between two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub level: Level,
    /// A stable name of the rule that classified it (`column-removed`, `type-widened`, ...).
    pub rule: &'static str,
    /// The DataSet it concerns, when it concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    pub message: String,
}

/// Who reads a DataSet, and where dk learnt it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Consumer {
    pub name: String,
    /// `project` (a package of the project reads it) or `lineage` (a job read it).
    pub source: String,
}

/// The changes between two versions, most serious first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Diff {
    pub changes: Vec<Change>,
    /// The consumers of each DataSet a breaking change affects (filled in by the caller).
    pub consumers: BTreeMap<String, Vec<Consumer>>,
}

impl Diff {
    /// The most serious change ([`Level::None`] when nothing changed).
    pub fn level(&self) -> Level {
        self.changes
            .iter()
            .map(|change| change.level)
            .max()
            .unwrap_or(Level::None)
    }

    /// The DataSets breaking changes affect, sorted.
    pub fn broken_datasets(&self) -> BTreeSet<&str> {
        self.changes
            .iter()
            .filter(|change| change.level == Level::Breaking)
            .filter_map(|change| change.dataset.as_deref())
            .collect()
    }
}

/// A manifest file that cannot be read as manifests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ContractError {
    pub path: String,
    pub message: String,
}

/// A package's contract as its manifests state it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contract {
    /// `namespace/name` of the Transform.
    pub package: Option<String>,
    inputs: BTreeSet<String>,
    outputs: BTreeSet<String>,
    /// The Transform's spec but its inputs and outputs, for code-level (patch) changes.
    transform: BTreeMap<String, Value>,
    datasets: BTreeMap<String, DataSetSpec>,
    stores: BTreeMap<String, StoreSpec>,
}

impl Contract {
    /// Reads the manifest files of a package (`path`, text), as the manifests layer of its
    /// artifact or its folder holds them. Unknown fields are ignored (the linter reports them);
    /// a file that is not valid YAML or a manifest of a known kind with a wrong field is an
    /// error, since a diff that skipped it would understate the change.
    pub fn from_files(files: &[(String, String)]) -> Result<Contract, ContractError> {
        let mut contract = Contract::default();
        for (path, text) in files {
            let source: Arc<Source> = Source::file(path.as_str(), text.as_str());
            let mut problems = Vec::new();
            let manifests = read_manifests(&source, &mut problems);
            if let Some(problem) = problems
                .iter()
                .find(|problem| !matches!(problem, dk_manifest::load::Problem::UnknownField(_)))
            {
                return Err(ContractError {
                    path: path.clone(),
                    message: problem.to_string(),
                });
            }
            for manifest in manifests.into_iter().flatten() {
                contract.add(manifest);
            }
        }
        Ok(contract)
    }

    fn add(&mut self, manifest: AnyManifest) {
        match manifest {
            AnyManifest::Transform(loaded) => {
                let manifest = loaded.manifest;
                let names = |refs: &[dk_manifest::model::DataSetRef]| {
                    refs.iter()
                        .filter_map(|r| r.dataset.clone())
                        .collect::<BTreeSet<_>>()
                };
                self.inputs = names(&manifest.spec.inputs);
                self.outputs = names(&manifest.spec.outputs);
                self.package = Some(format!(
                    "{}/{}",
                    manifest.metadata.namespace, manifest.metadata.name
                ));
                if let Ok(Value::Object(spec)) = serde_json::to_value(&manifest.spec) {
                    self.transform = spec
                        .into_iter()
                        .filter(|(key, _)| key != "inputs" && key != "outputs")
                        .collect();
                }
            }
            AnyManifest::DataSet(loaded) => {
                self.datasets
                    .insert(loaded.manifest.metadata.name, loaded.manifest.spec);
            }
            AnyManifest::Store(loaded) => {
                self.stores
                    .insert(loaded.manifest.metadata.name, loaded.manifest.spec);
            }
            AnyManifest::DataSetGroup(_) | AnyManifest::Connector(_) => {}
        }
    }

    /// Whether the package reads `dataset` (and does not write it).
    fn is_input(&self, dataset: &str) -> bool {
        self.inputs.contains(dataset) && !self.outputs.contains(dataset)
    }
}

/// Collects changes as they are found.
struct Changes(Vec<Change>);

impl Changes {
    fn push(&mut self, level: Level, rule: &'static str, dataset: Option<&str>, message: String) {
        self.0.push(Change {
            level,
            rule,
            dataset: dataset.map(str::to_owned),
            message,
        });
    }
}

/// The changes from `old` to `new`; `code` describes each other file of the package that
/// changed (`main.py modified`), a patch-level change each.
pub fn diff(old: &Contract, new: &Contract, code: &[String]) -> Diff {
    let mut changes = Changes(Vec::new());
    datasets(old, new, &mut changes);
    roles(old, new, &mut changes);
    stores(old, new, &mut changes);
    for (key, before) in &old.transform {
        if new.transform.get(key) != Some(before) {
            changes.push(
                Level::Patch,
                "transform-changed",
                None,
                format!("dk.yaml: spec.{key} changed"),
            );
        }
    }
    for key in new
        .transform
        .keys()
        .filter(|k| !old.transform.contains_key(*k))
    {
        changes.push(
            Level::Patch,
            "transform-changed",
            None,
            format!("dk.yaml: spec.{key} added"),
        );
    }
    for file in code {
        changes.push(Level::Patch, "code-changed", None, file.clone());
    }
    let mut changes = changes.0;
    // Most serious first; within a level, the order found (DataSet by DataSet).
    changes.sort_by_key(|change| std::cmp::Reverse(change.level));
    Diff {
        changes,
        consumers: BTreeMap::new(),
    }
}

/// Fields that hold the same columns (name and type), for telling a rename from a removal.
fn same_schema(a: &DataSetSpec, b: &DataSetSpec) -> bool {
    !a.schema.is_empty()
        && a.schema.len() == b.schema.len()
        && a.schema
            .iter()
            .zip(&b.schema)
            .all(|(x, y)| x.name == y.name && x.field_type == y.field_type)
}

fn datasets(old: &Contract, new: &Contract, changes: &mut Changes) {
    let removed: Vec<&String> = old
        .datasets
        .keys()
        .filter(|name| !new.datasets.contains_key(*name))
        .collect();
    let mut added: Vec<&String> = new
        .datasets
        .keys()
        .filter(|name| !old.datasets.contains_key(*name))
        .collect();
    for name in removed {
        let spec = &old.datasets[name];
        let renamed = added
            .iter()
            .position(|other| same_schema(spec, &new.datasets[*other]));
        match renamed {
            Some(index) => {
                let to = added.remove(index);
                changes.push(
                    Level::Breaking,
                    "dataset-renamed",
                    Some(name),
                    format!("DataSet `{name}` renamed to `{to}`"),
                );
            }
            None => changes.push(
                Level::Breaking,
                "dataset-removed",
                Some(name),
                format!("DataSet `{name}` removed"),
            ),
        }
    }
    for name in added {
        changes.push(
            Level::Minor,
            "dataset-added",
            Some(name),
            format!("DataSet `{name}` added"),
        );
    }
    for (name, before) in &old.datasets {
        if let Some(after) = new.datasets.get(name) {
            let versions = Versions {
                name,
                before,
                after,
                input: new.is_input(name),
            };
            dataset(&versions, changes);
        }
    }
}

/// The rank of a classification, unset counted as the least.
fn rank(classification: Option<Classification>) -> u8 {
    classification.map_or(0, |c| match c {
        Classification::Public => 1,
        Classification::Internal => 2,
        Classification::Confidential => 3,
        Classification::Restricted => 4,
    })
}

fn shown(classification: Option<Classification>) -> &'static str {
    classification.map_or("unset", Classification::as_str)
}

/// One DataSet in both versions, and whether the package reads it (rather than writes it).
struct Versions<'a> {
    name: &'a str,
    before: &'a DataSetSpec,
    after: &'a DataSetSpec,
    input: bool,
}

fn dataset(versions: &Versions<'_>, changes: &mut Changes) {
    let Versions {
        name,
        before,
        after,
        ..
    } = *versions;
    let here = Some(name);
    if before.store != after.store {
        changes.push(
            Level::Breaking,
            "location-moved",
            here,
            format!("DataSet `{name}`: store {} → {}", before.store, after.store),
        );
    }
    if before.locators() != after.locators() {
        let show = |spec: &DataSetSpec| {
            spec.locators()
                .iter()
                .map(|(kind, value)| format!("{kind} {value}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        changes.push(
            Level::Breaking,
            "location-moved",
            here,
            format!("DataSet `{name}`: {} → {}", show(before), show(after)),
        );
    }
    if before.format != after.format {
        let show = |spec: &DataSetSpec| spec.format.map_or("unset", |f| f.as_str());
        changes.push(
            Level::Breaking,
            "format-changed",
            here,
            format!(
                "DataSet `{name}`: format {} → {}",
                show(before),
                show(after)
            ),
        );
    }
    let (was, is) = (rank(before.classification), rank(after.classification));
    if is != was {
        let (level, rule, how) = if is < was {
            (Level::Breaking, "classification-lowered", "lowered")
        } else {
            (Level::Minor, "classification-raised", "raised")
        };
        changes.push(
            level,
            rule,
            here,
            format!(
                "DataSet `{name}`: classification {how} {} → {}",
                shown(before.classification),
                shown(after.classification)
            ),
        );
    }
    columns(versions, changes);
    let docs = |spec: &DataSetSpec| {
        (
            spec.owner.clone(),
            spec.tags.clone(),
            spec.retention.as_ref().map(|r| r.days),
        )
    };
    // Descriptions of the columns both versions have (others are added or removed already).
    let described = |a: &DataSetSpec, b: &DataSetSpec| {
        a.schema.iter().any(|field| {
            b.schema
                .iter()
                .any(|other| other.name == field.name && other.description != field.description)
        })
    };
    if docs(before) != docs(after) || described(before, after) {
        changes.push(
            Level::Patch,
            "docs-changed",
            here,
            format!("DataSet `{name}`: owner, tags, retention or descriptions changed"),
        );
    }
}

/// Whether a field may hold nulls (unset: it may).
fn nullable(field: &Field) -> bool {
    field.nullable.unwrap_or(true)
}

/// Whether a field carries PII that survives (a masked field does not).
fn carries_pii(field: &Field) -> bool {
    field.pii && field.masking.is_none()
}

fn columns(versions: &Versions<'_>, changes: &mut Changes) {
    let Versions {
        name,
        before,
        after,
        input,
    } = *versions;
    let here = Some(name);
    let find = |spec: &'_ DataSetSpec, column: &str| -> Option<Field> {
        spec.schema.iter().find(|f| f.name == column).cloned()
    };
    let mut added: Vec<&Field> = after
        .schema
        .iter()
        .filter(|f| find(before, &f.name).is_none())
        .collect();
    let index =
        |spec: &DataSetSpec, column: &str| spec.schema.iter().position(|f| f.name == column);
    for field in before
        .schema
        .iter()
        .filter(|f| find(after, &f.name).is_none())
    {
        // A column gone and a new one of its type in its place, or derived from the same
        // source, reads as a rename.
        match added.iter().position(|new| {
            new.field_type == field.field_type
                && (index(after, &new.name) == index(before, &field.name)
                    || (new.from.is_some() && new.from == field.from))
        }) {
            Some(index) => {
                let to = added.remove(index);
                changes.push(
                    Level::Breaking,
                    "column-renamed",
                    here,
                    format!(
                        "DataSet `{name}`: column `{}` renamed to `{}`",
                        field.name, to.name
                    ),
                );
            }
            None => changes.push(
                Level::Breaking,
                "column-removed",
                here,
                format!("DataSet `{name}`: column `{}` removed", field.name),
            ),
        }
    }
    let classified = rank(after.classification) >= rank(Some(Classification::Confidential));
    let pii = |field: &Field, changes: &mut Changes, what: &str| {
        if input {
            return;
        }
        if classified {
            changes.push(
                Level::Minor,
                "pii-added",
                here,
                format!("DataSet `{name}`: {what} `{}` is PII", field.name),
            );
        } else {
            changes.push(
                Level::Breaking,
                "pii-unclassified",
                here,
                format!(
                    "DataSet `{name}`: {what} `{}` is PII but the DataSet is classified {}; classify it confidential or restricted",
                    field.name,
                    shown(after.classification)
                ),
            );
        }
    };
    for field in added {
        if input && !nullable(field) {
            changes.push(
                Level::Breaking,
                "required-input",
                here,
                format!(
                    "DataSet `{name}` (input): new required column `{}` ({})",
                    field.name, field.field_type
                ),
            );
        } else {
            changes.push(
                Level::Minor,
                "column-added",
                here,
                format!(
                    "DataSet `{name}`: column `{}` added ({})",
                    field.name, field.field_type
                ),
            );
        }
        if carries_pii(field) {
            pii(field, changes, "new column");
        }
    }
    for field in &before.schema {
        let Some(now) = find(after, &field.name) else {
            continue;
        };
        let column = &field.name;
        match compare_types(&field.field_type, &now.field_type) {
            TypeChange::Same => {}
            TypeChange::Widened => changes.push(
                Level::Minor,
                "type-widened",
                here,
                format!(
                    "DataSet `{name}`: column `{column}` widened {} → {}",
                    field.field_type, now.field_type
                ),
            ),
            TypeChange::Narrowed => changes.push(
                Level::Breaking,
                "type-narrowed",
                here,
                format!(
                    "DataSet `{name}`: column `{column}` narrowed {} → {}",
                    field.field_type, now.field_type
                ),
            ),
            TypeChange::Changed => changes.push(
                Level::Breaking,
                "type-changed",
                here,
                format!(
                    "DataSet `{name}`: column `{column}` type {} → {}",
                    field.field_type, now.field_type
                ),
            ),
        }
        if nullable(field) != nullable(&now) {
            // A reader that now refuses nulls breaks its writers; a writer that now emits
            // them breaks its readers.
            let (level, rule, how) = match (input, nullable(&now)) {
                (true, false) => (Level::Breaking, "required-input", "nullable → required"),
                (false, true) => (Level::Breaking, "nullable-output", "required → nullable"),
                (_, false) => (Level::Minor, "nullability-tightened", "nullable → required"),
                (_, true) => (Level::Minor, "nullability-relaxed", "required → nullable"),
            };
            changes.push(
                level,
                rule,
                here,
                format!("DataSet `{name}`: column `{column}` {how}"),
            );
        }
        if field.masking != now.masking {
            // Hashed or redacted values are other values: whoever joins on them breaks.
            let show = |f: &Field| f.masking.map_or("none", |m| m.as_str());
            changes.push(
                Level::Breaking,
                "masking-changed",
                here,
                format!(
                    "DataSet `{name}`: column `{column}` masking {} → {}",
                    show(field),
                    show(&now)
                ),
            );
        }
        if carries_pii(&now) && !carries_pii(field) {
            pii(&now, changes, "column");
        }
    }
}

/// Outputs and inputs the Transform added or dropped.
fn roles(old: &Contract, new: &Contract, changes: &mut Changes) {
    for name in old.outputs.difference(&new.outputs) {
        // A DataSet dropped with its manifest is reported once, as removed.
        if new.datasets.contains_key(name) || !old.datasets.contains_key(name) {
            changes.push(
                Level::Breaking,
                "output-removed",
                Some(name),
                format!("no longer writes `{name}`"),
            );
        }
    }
    for name in new.outputs.difference(&old.outputs) {
        changes.push(
            Level::Minor,
            "output-added",
            Some(name),
            format!("new output `{name}`"),
        );
    }
    for name in new.inputs.difference(&old.inputs) {
        changes.push(
            Level::Minor,
            "input-added",
            Some(name),
            format!("new input `{name}`"),
        );
    }
    for name in old.inputs.difference(&new.inputs) {
        changes.push(
            Level::Patch,
            "input-removed",
            Some(name),
            format!("no longer reads `{name}`"),
        );
    }
}

/// Stores whose connector or connection (not secrets) changed: their DataSets moved.
fn stores(old: &Contract, new: &Contract, changes: &mut Changes) {
    for (name, before) in &old.stores {
        let Some(after) = new.stores.get(name) else {
            continue;
        };
        if before.connector != after.connector || before.connection != after.connection {
            let moved: Vec<&str> = new
                .datasets
                .iter()
                .filter(|(_, spec)| &spec.store == name)
                .map(|(dataset, _)| dataset.as_str())
                .collect();
            if moved.is_empty() {
                changes.push(
                    Level::Breaking,
                    "store-moved",
                    None,
                    format!("Store `{name}`: connector or connection changed"),
                );
            }
            for dataset in moved {
                changes.push(
                    Level::Breaking,
                    "store-moved",
                    Some(dataset),
                    format!("DataSet `{dataset}`: its Store `{name}` now points elsewhere"),
                );
            }
        }
    }
}
