//! Name resolution: Transform → DataSet → Store → Connector, package scope before project scope.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Serialize;

use crate::discover::Catalog;
use crate::load::Loaded;
use crate::model::{
    BUILTIN_CONNECTORS, Connector, DataSet, DataSetGroup, DataSetRef, Kind, Manifest, Store,
    Transform, builtin_connector,
};
use crate::suggest::did_you_mean;
use crate::yaml::{Location, Node, Origin, Pos, Seg, Source};

/// The manifests visible from one place: a package's own, then the project's shared ones.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub package: &'a Catalog,
    pub project: Option<&'a Catalog>,
}

/// The outcome of looking a name up.
#[derive(Debug)]
pub enum Lookup<'a, T> {
    Found(&'a Loaded<T>),
    /// A manifest of that name exists but could not be read; its own problem says why.
    Broken,
    Missing {
        suggestion: Option<String>,
    },
}

static BUILTIN_CONNECTOR_MANIFESTS: LazyLock<Vec<Loaded<Connector>>> = LazyLock::new(|| {
    let source = Source::new(Origin::Builtin, String::new());
    BUILTIN_CONNECTORS
        .iter()
        .filter_map(|name| builtin_connector(name))
        .map(|manifest| {
            let json = serde_json::to_value(&manifest).unwrap_or_default();
            Loaded {
                node: Node::from_json(&json, &source, Pos::new(1, 1)),
                manifest,
            }
        })
        .collect()
});

impl<'a> Scope<'a> {
    fn catalogs(&self) -> impl Iterator<Item = &'a Catalog> {
        std::iter::once(self.package).chain(self.project)
    }

    fn lookup<S>(
        &self,
        kind: Kind,
        name: &str,
        list: fn(&'a Catalog) -> &'a [Loaded<Manifest<S>>],
        builtins: &'a [Loaded<Manifest<S>>],
    ) -> Lookup<'a, Manifest<S>> {
        let found = self
            .catalogs()
            .find_map(|catalog| {
                catalog
                    .position(kind, name)
                    .map(|index| &list(catalog)[index])
            })
            .or_else(|| builtins.iter().find(|loaded| loaded.name() == name));
        if let Some(found) = found {
            return Lookup::Found(found);
        }
        let broken = self.catalogs().any(|catalog| {
            catalog
                .broken()
                .iter()
                .any(|broken| broken.kind == kind && broken.name.as_deref() == Some(name))
        });
        if broken {
            return Lookup::Broken;
        }
        let names = self
            .catalogs()
            .flat_map(|catalog| list(catalog).iter())
            .chain(builtins)
            .map(|loaded| loaded.name());
        Lookup::Missing {
            suggestion: did_you_mean(name, names).map(str::to_owned),
        }
    }

    pub fn dataset(&self, name: &str) -> Lookup<'a, DataSet> {
        self.lookup(Kind::DataSet, name, |c| c.datasets(), &[])
    }

    pub fn group(&self, name: &str) -> Lookup<'a, DataSetGroup> {
        self.lookup(Kind::DataSetGroup, name, |c| c.groups(), &[])
    }

    /// Whether `name` is a DataSetGroup (and no DataSet, which would win).
    pub fn is_group(&self, name: &str) -> bool {
        matches!(self.group(name), Lookup::Found(_))
            && !matches!(self.dataset(name), Lookup::Found(_))
    }

    /// The DataSets a DataSetGroup lists that exist, in its order.
    pub fn group_members(&self, name: &str) -> Vec<&'a Loaded<DataSet>> {
        let Lookup::Found(group) = self.group(name) else {
            return Vec::new();
        };
        group
            .manifest
            .spec
            .datasets
            .iter()
            .filter_map(|member| match self.dataset(member) {
                Lookup::Found(dataset) => Some(dataset),
                _ => None,
            })
            .collect()
    }

    pub fn store(&self, name: &str) -> Lookup<'a, Store> {
        self.lookup(Kind::Store, name, |c| c.stores(), &[])
    }

    /// Connector manifests first; the built-in connectors need none.
    pub fn connector(&self, name: &str) -> Lookup<'a, Connector> {
        self.lookup(
            Kind::Connector,
            name,
            |c| c.connectors(),
            &BUILTIN_CONNECTOR_MANIFESTS,
        )
    }

    /// DataSets whose labels include every `tags` pair (and whose version satisfies `version`,
    /// when given). A package DataSet hides a project DataSet of the same name.
    pub fn datasets_matching(
        &self,
        tags: &BTreeMap<String, String>,
        version: Option<&semver::VersionReq>,
    ) -> Vec<&'a Loaded<DataSet>> {
        let mut matched: Vec<&'a Loaded<DataSet>> = Vec::new();
        for dataset in self
            .catalogs()
            .flat_map(|catalog| catalog.datasets().iter())
        {
            let metadata = &dataset.manifest.metadata;
            let labels_match = tags
                .iter()
                .all(|(key, value)| metadata.labels.get(key) == Some(value));
            let version_matches = version.is_none_or(|req| {
                metadata
                    .version
                    .as_deref()
                    .and_then(|v| semver::Version::parse(v).ok())
                    .is_some_and(|v| req.matches(&v))
            });
            if labels_match
                && version_matches
                && !matched.iter().any(|m| m.name() == dataset.name())
            {
                matched.push(dataset);
            }
        }
        matched
    }
}

/// Whether a DataSet is read or written by a Transform.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Input,
    Output,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Input => "input",
            Role::Output => "output",
        }
    }

    /// The manifest field holding references of this role.
    pub fn field(self) -> &'static str {
        match self {
            Role::Input => "inputs",
            Role::Output => "outputs",
        }
    }
}

/// A DataSet bound to a Transform, with whatever of its Store and Connector resolved.
#[derive(Debug)]
pub struct Binding<'a> {
    pub role: Role,
    /// Index of the reference in `spec.inputs` / `spec.outputs`.
    pub index: usize,
    pub dataset: &'a Loaded<DataSet>,
    pub store: Option<&'a Loaded<Store>>,
    pub connector: Option<&'a Loaded<Connector>>,
}

/// A name that did not resolve.
#[derive(Debug, Clone, PartialEq)]
pub struct Unresolved {
    pub kind: Kind,
    /// The name looked up, or a description of the labels for tag references.
    pub name: String,
    pub location: Location,
    pub suggestion: Option<String>,
}

impl Unresolved {
    pub fn message(&self) -> String {
        format!("unknown {} `{}`", self.kind, self.name)
    }
}

/// A Transform's DataSets resolved down to their Connectors.
#[derive(Debug)]
pub struct Resolution<'a> {
    pub bindings: Vec<Binding<'a>>,
    pub unresolved: Vec<Unresolved>,
}

/// Resolves every input and output of `transform` within `scope`.
pub fn resolve_transform<'a>(transform: &'a Loaded<Transform>, scope: Scope<'a>) -> Resolution<'a> {
    let mut resolution = Resolution {
        bindings: Vec::new(),
        unresolved: Vec::new(),
    };
    let spec = &transform.manifest.spec;
    for (role, refs) in [(Role::Input, &spec.inputs), (Role::Output, &spec.outputs)] {
        for (index, reference) in refs.iter().enumerate() {
            for dataset in datasets_for(
                transform,
                role,
                index,
                reference,
                scope,
                &mut resolution.unresolved,
            ) {
                let store = resolve_store(dataset, scope, &mut resolution.unresolved);
                let connector = store
                    .and_then(|store| resolve_connector(store, scope, &mut resolution.unresolved));
                resolution.bindings.push(Binding {
                    role,
                    index,
                    dataset,
                    store,
                    connector,
                });
            }
        }
    }
    resolution
}

fn datasets_for<'a>(
    transform: &'a Loaded<Transform>,
    role: Role,
    index: usize,
    reference: &DataSetRef,
    scope: Scope<'a>,
    unresolved: &mut Vec<Unresolved>,
) -> Vec<&'a Loaded<DataSet>> {
    let path = [
        Seg::from("spec"),
        Seg::from(role.field()),
        Seg::Index(index),
    ];
    if let Some(name) = &reference.dataset {
        let at = [&path[..], &[Seg::from("dataset")]].concat();
        return match scope.dataset(name) {
            Lookup::Found(dataset) => vec![dataset],
            Lookup::Broken => Vec::new(),
            // A DataSetGroup stands for its members; a member that is missing is the group's
            // own problem, reported where the group names it.
            Lookup::Missing { .. } if scope.is_group(name) => scope.group_members(name),
            Lookup::Missing { suggestion } => {
                let suggestion = suggestion.or_else(|| match scope.group(name) {
                    Lookup::Missing { suggestion } => suggestion,
                    _ => None,
                });
                unresolved.push(Unresolved {
                    kind: Kind::DataSet,
                    name: name.clone(),
                    location: transform.node.locate_value(&at),
                    suggestion,
                });
                Vec::new()
            }
        };
    }
    if reference.tags.is_empty() {
        // Neither a name nor tags: a structural problem reported by the linter.
        return Vec::new();
    }
    let version = reference
        .version
        .as_deref()
        .and_then(|v| semver::VersionReq::parse(v).ok());
    let matched = scope.datasets_matching(&reference.tags, version.as_ref());
    if matched.is_empty() {
        let labels = reference
            .tags
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join(",");
        unresolved.push(Unresolved {
            kind: Kind::DataSet,
            name: format!("matching tags {labels}"),
            location: transform.node.locate(&path),
            suggestion: None,
        });
    }
    matched
}

/// The Store a DataSet lives in, recording it as unresolved when missing.
pub fn resolve_store<'a>(
    dataset: &'a Loaded<DataSet>,
    scope: Scope<'a>,
    unresolved: &mut Vec<Unresolved>,
) -> Option<&'a Loaded<Store>> {
    let name = &dataset.manifest.spec.store;
    found_or_record(
        scope.store(name),
        Kind::Store,
        name,
        || dataset.node.locate_value(&crate::path!["spec", "store"]),
        unresolved,
    )
}

/// The Connector of a Store, recording it as unresolved when missing.
pub fn resolve_connector<'a>(
    store: &'a Loaded<Store>,
    scope: Scope<'a>,
    unresolved: &mut Vec<Unresolved>,
) -> Option<&'a Loaded<Connector>> {
    let name = &store.manifest.spec.connector;
    found_or_record(
        scope.connector(name),
        Kind::Connector,
        name,
        || store.node.locate_value(&crate::path!["spec", "connector"]),
        unresolved,
    )
}

fn found_or_record<'a, T>(
    lookup: Lookup<'a, T>,
    kind: Kind,
    name: &str,
    location: impl FnOnce() -> Location,
    unresolved: &mut Vec<Unresolved>,
) -> Option<&'a Loaded<T>> {
    match lookup {
        Lookup::Found(found) => Some(found),
        Lookup::Broken => None,
        Lookup::Missing { suggestion } => {
            let location = location();
            if !unresolved.iter().any(|u| u.location == location) {
                unresolved.push(Unresolved {
                    kind,
                    name: name.to_owned(),
                    location,
                    suggestion,
                });
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::read_manifests;

    fn catalog(texts: &[&str]) -> Catalog {
        let mut catalog = Catalog::default();
        let mut problems = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let source = Source::file(format!("f{i}.yaml"), *text);
            for manifest in read_manifests(&source, &mut problems) {
                catalog.add(manifest.unwrap(), &mut problems);
            }
        }
        assert!(problems.is_empty(), "{problems:?}");
        catalog
    }

    fn dataset(name: &str, store: &str, labels: &str) -> String {
        format!(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: {name}\n  version: 1.2.0\n  labels: {{{labels}}}\nspec:\n  store: {store}\n  table: t\n"
        )
    }

    fn store(name: &str, connector: &str) -> String {
        format!(
            "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata:\n  name: {name}\nspec:\n  connector: {connector}\n  connection: {{}}\n"
        )
    }

    #[test]
    fn package_scope_wins_over_project_scope() {
        let package = catalog(&[&dataset("users", "local", ""), &store("local", "sqlite")]);
        let project = catalog(&[
            &dataset("users", "shared", ""),
            &dataset("orders", "shared", ""),
        ]);
        let scope = Scope {
            package: &package,
            project: Some(&project),
        };
        let Lookup::Found(users) = scope.dataset("users") else {
            panic!()
        };
        assert_eq!(users.manifest.spec.store, "local");
        assert!(matches!(scope.dataset("orders"), Lookup::Found(_)));
        assert!(matches!(scope.connector("sqlite"), Lookup::Found(_)));
        let Lookup::Missing { suggestion } = scope.dataset("order") else {
            panic!()
        };
        assert_eq!(suggestion.as_deref(), Some("orders"));
        let Lookup::Missing { suggestion } = scope.connector("postgress") else {
            panic!()
        };
        assert_eq!(suggestion.as_deref(), Some("postgres"));
    }

    #[test]
    fn tag_references_match_labels_and_versions() {
        let package = catalog(&[
            &dataset("a", "s", "team: x, tier: raw"),
            &dataset("b", "s", "team: x"),
        ]);
        let scope = Scope {
            package: &package,
            project: None,
        };
        let tags = BTreeMap::from([("team".to_owned(), "x".to_owned())]);
        assert_eq!(scope.datasets_matching(&tags, None).len(), 2);
        let req = semver::VersionReq::parse("^2").unwrap();
        assert!(scope.datasets_matching(&tags, Some(&req)).is_empty());
    }
}
