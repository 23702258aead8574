//! Governance rules: classification and PII.

use std::collections::HashMap;

use dk_manifest::discover::Project;
use dk_manifest::load::Loaded;
use dk_manifest::model::{Classification, DataSet};
use dk_manifest::path;
use dk_manifest::resolve::{Resolution, Role};

use crate::Finding;
use crate::rules;

/// Identity of a loaded DataSet within one lint run (the same manifest seen from several
/// packages is one DataSet).
fn id(dataset: &Loaded<DataSet>) -> *const Loaded<DataSet> {
    std::ptr::from_ref(dataset)
}

pub(crate) fn check_project(
    project: &Project,
    resolutions: &[Resolution<'_>],
    out: &mut Vec<Finding>,
) {
    // A DataSet is an "output" when any Transform writes it: that is the strongest claim.
    let mut roles: HashMap<*const Loaded<DataSet>, Role> = HashMap::new();
    for binding in resolutions
        .iter()
        .flat_map(|resolution| &resolution.bindings)
    {
        let role = roles.entry(id(binding.dataset)).or_insert(binding.role);
        *role = (*role).max(binding.role);
    }
    let datasets = project.shared.datasets.iter().chain(
        project
            .packages
            .iter()
            .flat_map(|package| &package.catalog.datasets),
    );
    for dataset in datasets {
        check_pii_classification(dataset, roles.get(&id(dataset)).copied(), out);
    }
}

/// The FAQ's rule: `output 'customer-data': pii=true requires sensitivity level`.
fn check_pii_classification(dataset: &Loaded<DataSet>, role: Option<Role>, out: &mut Vec<Finding>) {
    let spec = &dataset.manifest.spec;
    let pii: Vec<(usize, &str)> = spec
        .pii_fields()
        .map(|(index, field)| (index, field.name.as_str()))
        .collect();
    let Some(&(first_pii, _)) = pii.first() else {
        return;
    };
    if spec
        .classification
        .is_some_and(|level| level >= Classification::Confidential)
    {
        return;
    }
    let subject = role.map_or("dataset", Role::as_str);
    // Point at what must change: the classification when there is one, else the first PII field.
    let location = if spec.classification.is_some() {
        dataset.node.locate_value(&path!["spec", "classification"])
    } else {
        dataset
            .node
            .locate(&path!["spec", "schema", first_pii, "pii"])
    };
    let names = pii
        .iter()
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(", ");
    let fields = if pii.len() == 1 {
        format!("field {names} is")
    } else {
        format!("fields {names} are")
    };
    let current = spec.classification.map_or_else(
        || "no classification".to_owned(),
        |level| format!("classification {level}"),
    );
    out.push(
        Finding::new(
            &rules::PII_CLASSIFICATION,
            format!("{subject} '{}': pii=true requires sensitivity level", dataset.name()),
            location,
        )
        .with_hint(format!(
            "{fields} pii: true but the dataset has {current}; set spec.classification: confidential (or restricted)"
        )),
    );
}
