//! Reference rules: every name resolves (Transform → DataSet → Store → Connector, groups, column
//! lineage) and connectors can do what the Transform asks of them.

use dk_manifest::discover::Catalog;
use dk_manifest::load::Loaded;
use dk_manifest::model::{Capability, Kind, Transform};
use dk_manifest::path;
use dk_manifest::resolve::{self, Lookup, Resolution, Role, Scope, Unresolved};
use dk_manifest::suggest::did_you_mean;

use crate::Finding;
use crate::rules;
use crate::structure::check_connection;

fn unresolved_finding(unresolved: &Unresolved) -> Finding {
    let rule = match unresolved.kind {
        Kind::Store => &rules::UNKNOWN_STORE,
        Kind::Connector => &rules::UNKNOWN_CONNECTOR,
        _ => &rules::UNKNOWN_DATASET,
    };
    let hint = match (&unresolved.suggestion, unresolved.kind.folder()) {
        (Some(name), _) => format!("did you mean `{name}`?"),
        (None, Some(folder)) if unresolved.kind == Kind::Connector => format!(
            "built-in connectors are {}; define others in {folder}/",
            dk_manifest::model::BUILTIN_CONNECTORS.join(", ")
        ),
        (None, Some(folder)) => {
            format!("define it in the package's or the project's {folder}/ folder")
        }
        (None, None) => String::new(),
    };
    Finding::new(rule, unresolved.message(), unresolved.location.clone()).with_hint(hint)
}

pub(crate) fn check_catalog(catalog: &Catalog, scope: Scope<'_>, out: &mut Vec<Finding>) {
    let mut unresolved = Vec::new();
    for dataset in catalog.datasets() {
        resolve::resolve_store(dataset, scope, &mut unresolved);
        for (index, field) in dataset.manifest.spec.schema.iter().enumerate() {
            let Some((source_set, source_field)) = field
                .source()
                .filter(|(s, f)| !s.is_empty() && !f.is_empty())
            else {
                continue;
            };
            let location = || {
                dataset
                    .node
                    .locate_value(&path!["spec", "schema", index, "from"])
            };
            match scope.dataset(source_set) {
                Lookup::Found(source) => {
                    let fields = &source.manifest.spec.schema;
                    if !fields.is_empty() && !fields.iter().any(|f| f.name == source_field) {
                        let hint =
                            did_you_mean(source_field, fields.iter().map(|f| f.name.as_str()))
                                .map(|name| format!("did you mean `{source_set}.{name}`?"))
                                .unwrap_or_else(|| {
                                    format!(
                                        "declare `{source_field}` in the schema of '{source_set}'"
                                    )
                                });
                        out.push(
                            Finding::new(
                                &rules::UNKNOWN_LINEAGE_SOURCE,
                                format!("field `{}`: dataset '{source_set}' has no field `{source_field}`", field.name),
                                location(),
                            )
                            .with_hint(hint),
                        );
                    }
                }
                Lookup::Broken => {}
                Lookup::Missing { suggestion } => out.push(
                    Finding::new(
                        &rules::UNKNOWN_LINEAGE_SOURCE,
                        format!(
                            "field `{}`: from names unknown dataset '{source_set}'",
                            field.name
                        ),
                        location(),
                    )
                    .with_optional_hint(suggestion.map(|name| {
                        // The dataset meant may not have the field: a user was pointed at a
                        // column that did not exist (`clean.email` when it has `email_hash`).
                        let fields = match scope.dataset(&name) {
                            Lookup::Found(found) => found
                                .manifest
                                .spec
                                .schema
                                .iter()
                                .map(|f| f.name.clone())
                                .collect(),
                            _ => Vec::new(),
                        };
                        if fields.is_empty() || fields.iter().any(|f| f == source_field) {
                            format!("did you mean `{name}.{source_field}`?")
                        } else {
                            match did_you_mean(source_field, fields.iter().map(String::as_str)) {
                                Some(field) => format!("did you mean `{name}.{field}`?"),
                                None => format!(
                                    "did you mean dataset '{name}'? it has no field `{source_field}`"
                                ),
                            }
                        }
                    })),
                ),
            }
        }
    }
    for store in catalog.stores() {
        if let Some(connector) = resolve::resolve_connector(store, scope, &mut unresolved) {
            check_connection(store, &connector.manifest.spec.connector_type, out);
        }
    }
    for group in catalog.groups() {
        let spec = &group.manifest.spec;
        let store_name = &spec.store;
        if let Lookup::Missing { suggestion } = scope.store(store_name) {
            unresolved.push(Unresolved {
                kind: Kind::Store,
                name: store_name.clone(),
                location: group.node.locate_value(&path!["spec", "store"]),
                suggestion,
            });
        }
        for (index, name) in spec.datasets.iter().enumerate() {
            let location = group.node.locate_value(&path!["spec", "datasets", index]);
            match scope.dataset(name) {
                Lookup::Found(dataset) if &dataset.manifest.spec.store != store_name => out.push(
                    Finding::new(
                        &rules::GROUP_STORE,
                        format!(
                            "group '{}' is in store '{store_name}' but dataset '{name}' is in store '{}'",
                            group.name(),
                            dataset.manifest.spec.store
                        ),
                        location,
                    )
                    .with_hint("a DataSetGroup bundles datasets of one store"),
                ),
                Lookup::Found(_) | Lookup::Broken => {}
                Lookup::Missing { suggestion } => unresolved.push(Unresolved {
                    kind: Kind::DataSet,
                    name: name.clone(),
                    location,
                    suggestion,
                }),
            }
        }
    }
    out.extend(unresolved.iter().map(unresolved_finding));
}

/// Checks a Transform's resolved references: names that did not resolve, and connectors that
/// cannot be read or written as the Transform needs.
pub(crate) fn check_transform(
    transform: &Loaded<Transform>,
    resolution: &Resolution<'_>,
    out: &mut Vec<Finding>,
) {
    out.extend(resolution.unresolved.iter().map(unresolved_finding));
    for binding in &resolution.bindings {
        let Some(connector) = binding.connector else {
            continue;
        };
        let needed = match binding.role {
            Role::Input => Capability::Source,
            Role::Output => Capability::Destination,
        };
        if !connector.manifest.spec.capabilities.contains(&needed) {
            let (verb, role) = match binding.role {
                Role::Input => ("read from", "input"),
                Role::Output => ("written to", "output"),
            };
            out.push(
                Finding::new(
                    &rules::CAPABILITY,
                    format!(
                        "{role} '{}': connector '{}' cannot be {verb} (it lacks the `{needed}` capability)",
                        binding.dataset.name(),
                        connector.name()
                    ),
                    transform.node.locate(&path!["spec", binding.role.field(), binding.index]),
                )
                .with_hint(format!("add `{needed}` to the capabilities of connector '{}', or use another store", connector.name())),
            );
        }
    }
}
