//! Governance rules: classification, retention, PII along column lineage, ownership and the
//! organisation's policies.

use dk_manifest::load::Loaded;
use dk_manifest::model::{Classification, Transform};
use dk_manifest::path;

use crate::Finding;
use crate::lineage::{FieldRef, Lineage};
use crate::policy::Policy;
use crate::rules;

/// The governance rules on the DataSets of one lineage layer (see [`Lineage::layer`]).
pub(crate) fn check_datasets(lineage: &Lineage<'_>, policy: &Policy, out: &mut Vec<Finding>) {
    for (index, entry) in lineage.entries() {
        let dataset = entry.dataset;
        let spec = &dataset.manifest.spec;
        let subject = entry.subject();
        check_pii_classification(lineage, index, &subject, out);
        if spec.classification.is_none() && entry.role == Some(dk_manifest::resolve::Role::Output) {
            out.push(
                Finding::new(
                    &rules::OUTPUT_CLASSIFICATION,
                    format!("{subject}: consider adding classification"),
                    dataset.node.locate(&path!["spec"]),
                )
                .with_hint("add classification: public, internal, confidential or restricted"),
            );
        }
        let sensitive = spec
            .classification
            .is_some_and(|level| level >= Classification::Confidential);
        if sensitive && spec.retention.is_none() {
            out.push(
                Finding::new(
                    &rules::RETENTION_REQUIRED,
                    format!(
                        "{subject}: {} data requires retention policy",
                        spec.classification.map(|c| c.as_str()).unwrap_or_default()
                    ),
                    dataset.node.locate_value(&path!["spec", "classification"]),
                )
                .with_hint("add retention: {days: N} under spec"),
            );
        }
        check_pii_propagation(lineage, index, &subject, out);
        check_downgrade(lineage, index, &subject, out);
        check_dataset_policies(lineage, index, &subject, policy, out);
    }
}

pub(crate) fn check_owner(transform: &Loaded<Transform>, policy: &Policy, out: &mut Vec<Finding>) {
    match &transform.manifest.spec.owner {
        None => out.push(
            Finding::new(
                &rules::OWNER_REQUIRED,
                format!("transform '{}': spec.owner is not set", transform.name()),
                transform.node.locate(&path!["spec"]),
            )
            .with_hint("set spec.owner to the team or address that answers for this package"),
        ),
        Some(owner) => {
            if let Some(pattern) = &policy.owner_pattern
                && !pattern.is_match(owner)
            {
                out.push(owner_mismatch(
                    owner,
                    pattern,
                    transform.node.locate_value(&path!["spec", "owner"]),
                ));
            }
        }
    }
}

fn owner_mismatch(
    owner: &str,
    pattern: &regex_lite::Regex,
    location: dk_manifest::yaml::Location,
) -> Finding {
    Finding::new(
        &rules::OWNER_PATTERN,
        format!(
            "spec.owner '{owner}' does not match the owner pattern {}",
            pattern.as_str()
        ),
        location,
    )
    .with_hint("use an owner of the form the organisation's policy requires (.dk/policies.yaml)")
}

/// The FAQ's rule: `output 'customer-data': pii=true requires sensitivity level`.
fn check_pii_classification(
    lineage: &Lineage<'_>,
    index: usize,
    subject: &str,
    out: &mut Vec<Finding>,
) {
    let dataset = lineage.entry(index).dataset;
    let spec = &dataset.manifest.spec;
    let pii: Vec<(usize, &str)> = spec
        .pii_fields()
        .map(|(i, field)| (i, field.name.as_str()))
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
            format!("{subject}: pii=true requires sensitivity level"),
            location,
        )
        .with_hint(format!(
            "{fields} pii: true but the dataset has {current}; set spec.classification: confidential (or restricted)"
        )),
    );
}

/// A field copied from PII without `pii: true` or `masking`, reported at the field itself.
fn check_pii_propagation(
    lineage: &Lineage<'_>,
    index: usize,
    subject: &str,
    out: &mut Vec<Finding>,
) {
    let dataset = lineage.entry(index).dataset;
    for (position, field) in dataset.manifest.spec.schema.iter().enumerate() {
        if field.pii || field.masking.is_some() {
            continue;
        }
        let here = FieldRef {
            dataset: index,
            field: position,
        };
        let Some(source) = lineage
            .source(here)
            .filter(|source| lineage.is_pii(*source))
        else {
            continue;
        };
        let origin = format!(
            "{}.{}",
            lineage.entry(source.dataset).dataset.name(),
            lineage.field(source).name
        );
        out.push(
            Finding::new(
                &rules::PII_PROPAGATION,
                format!("{subject}: field `{}` is derived from PII {origin} but is not pii: true", field.name),
                dataset.node.locate_value(&path!["spec", "schema", position, "name"]),
            )
            .with_hint("mark it pii: true, or declare how the PII is removed: masking: hash, redact, tokenize or aggregate"),
        );
    }
}

/// A DataSet classified lower than the data its unmasked fields come from.
fn check_downgrade(lineage: &Lineage<'_>, index: usize, subject: &str, out: &mut Vec<Finding>) {
    let dataset = lineage.entry(index).dataset;
    let Some(declared) = dataset.manifest.spec.classification else {
        return;
    };
    let strongest = dataset
        .manifest
        .spec
        .schema
        .iter()
        .enumerate()
        .filter(|(_, field)| field.masking.is_none())
        .filter_map(|(position, _)| {
            lineage.source(FieldRef {
                dataset: index,
                field: position,
            })
        })
        .filter_map(|source| {
            Some((
                lineage.inherited_classification(source.dataset)?,
                source.dataset,
            ))
        })
        .max_by_key(|(level, _)| *level);
    let Some((level, source)) = strongest.filter(|(level, _)| *level > declared) else {
        return;
    };
    out.push(
        Finding::new(
            &rules::CLASSIFICATION_DOWNGRADE,
            format!(
                "{subject}: classification {declared} is lower than {level}, the classification of '{}' its fields derive from",
                lineage.entry(source).dataset.name()
            ),
            dataset.node.locate_value(&path!["spec", "classification"]),
        )
        .with_hint(format!("set classification: {level}, or mask the fields that carry the sensitive data")),
    );
}

fn check_dataset_policies(
    lineage: &Lineage<'_>,
    index: usize,
    subject: &str,
    policy: &Policy,
    out: &mut Vec<Finding>,
) {
    let dataset = lineage.entry(index).dataset;
    let spec = &dataset.manifest.spec;
    if let (Some(pattern), Some(owner)) = (&policy.owner_pattern, &spec.owner)
        && !pattern.is_match(owner)
    {
        out.push(owner_mismatch(
            owner,
            pattern,
            dataset.node.locate_value(&path!["spec", "owner"]),
        ));
    }
    let holds_pii = (0..spec.schema.len()).any(|field| {
        lineage.is_pii(FieldRef {
            dataset: index,
            field,
        })
    });
    if let (Some(max), Some(retention), true) = (
        policy.settings.max_pii_retention_days,
        &spec.retention,
        holds_pii,
    ) && retention.days > max
    {
        out.push(
            Finding::new(
                &rules::PII_RETENTION,
                format!(
                    "{subject}: keeps PII for {} days, more than the {max} days the policy allows",
                    retention.days
                ),
                dataset
                    .node
                    .locate_value(&path!["spec", "retention", "days"]),
            )
            .with_hint(format!("set retention.days to {max} or less")),
        );
    }
    let required = &policy.settings.confidential_required_tags;
    if spec
        .classification
        .is_some_and(|level| level >= Classification::Confidential)
    {
        let missing: Vec<&str> = required
            .iter()
            .filter(|tag| !spec.tags.contains(tag))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let location = if spec.tags.is_empty() {
                dataset.node.locate_value(&path!["spec", "classification"])
            } else {
                dataset.node.locate(&path!["spec", "tags"])
            };
            out.push(
                Finding::new(
                    &rules::REQUIRED_TAGS,
                    format!(
                        "{subject}: {} data must be tagged {}",
                        spec.classification.map(|c| c.as_str()).unwrap_or_default(),
                        missing.join(", ")
                    ),
                    location,
                )
                .with_hint(format!("add tags: [{}] under spec", missing.join(", "))),
            );
        }
    }
}
