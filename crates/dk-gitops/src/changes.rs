//! What changed between two artifacts of a package, for a promotion's description: DataSets
//! added and removed, schema fields added, removed or retyped, classification and PII.

use std::collections::BTreeMap;

use serde_json::Value;

/// A DataSet as the description compares it.
#[derive(Debug, Clone, PartialEq)]
struct DataSetFacts {
    classification: Option<String>,
    /// Field → (type, pii).
    fields: BTreeMap<String, (String, bool)>,
}

/// The DataSets among an artifact's manifest files (`path`, text).
fn datasets(files: &[(String, String)]) -> BTreeMap<String, DataSetFacts> {
    let mut found = BTreeMap::new();
    for (_, text) in files {
        let Ok(value) = serde_saphyr::from_str::<Value>(text) else {
            continue;
        };
        if value["kind"] != "DataSet" {
            continue;
        }
        let Some(name) = value["metadata"]["name"].as_str() else {
            continue;
        };
        let spec = &value["spec"];
        let fields = spec["schema"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|field| {
                Some((
                    field["name"].as_str()?.to_owned(),
                    (
                        field["type"].as_str().unwrap_or_default().to_owned(),
                        field["pii"].as_bool().unwrap_or(false),
                    ),
                ))
            })
            .collect();
        found.insert(
            name.to_owned(),
            DataSetFacts {
                classification: spec["classification"].as_str().map(str::to_owned),
                fields,
            },
        );
    }
    found
}

/// One line per change, in Markdown.
pub fn describe(old: &[(String, String)], new: &[(String, String)]) -> Vec<String> {
    let (old, new) = (datasets(old), datasets(new));
    let mut lines = Vec::new();
    for name in old.keys().filter(|name| !new.contains_key(*name)) {
        lines.push(format!("DataSet `{name}` removed"));
    }
    for (name, after) in &new {
        let Some(before) = old.get(name) else {
            let pii: Vec<&str> = after
                .fields
                .iter()
                .filter(|(_, (_, pii))| *pii)
                .map(|(field, _)| field.as_str())
                .collect();
            let mut line = format!(
                "DataSet `{name}` added ({}, {} field(s)",
                after.classification.as_deref().unwrap_or("unclassified"),
                after.fields.len()
            );
            if !pii.is_empty() {
                line.push_str(&format!(", PII: {}", pii.join(", ")));
            }
            line.push(')');
            lines.push(line);
            continue;
        };
        if before.classification != after.classification {
            lines.push(format!(
                "DataSet `{name}`: classification {} → {}",
                before.classification.as_deref().unwrap_or("none"),
                after.classification.as_deref().unwrap_or("none")
            ));
        }
        for (field, (kind, pii)) in &after.fields {
            match before.fields.get(field) {
                None => lines.push(format!(
                    "DataSet `{name}`: field `{field}` added ({kind}{})",
                    if *pii { ", PII" } else { "" }
                )),
                Some((old_kind, old_pii)) => {
                    if old_kind != kind {
                        lines.push(format!(
                            "DataSet `{name}`: field `{field}` type {old_kind} → {kind}"
                        ));
                    }
                    if old_pii != pii {
                        lines.push(format!(
                            "DataSet `{name}`: field `{field}` {}",
                            if *pii { "now PII" } else { "no longer PII" }
                        ));
                    }
                }
            }
        }
        for field in before
            .fields
            .keys()
            .filter(|f| !after.fields.contains_key(*f))
        {
            lines.push(format!("DataSet `{name}`: field `{field}` removed"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, classification: &str, fields: &str) -> (String, String) {
        (
            format!("dataset/{name}.yaml"),
            format!(
                "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: {name}\nspec:\n  store: s\n  classification: {classification}\n  schema:\n{fields}"
            ),
        )
    }

    #[test]
    fn schema_classification_and_pii_changes_are_named() {
        let old = vec![
            file(
                "orders",
                "internal",
                "    - {name: id, type: integer}\n    - {name: email, type: string}\n",
            ),
            file("gone", "internal", "    - {name: id, type: integer}\n"),
        ];
        let new = vec![
            file(
                "orders",
                "confidential",
                "    - {name: id, type: string}\n    - {name: email, type: string, pii: true}\n    - {name: country, type: string}\n",
            ),
            file(
                "fresh",
                "restricted",
                "    - {name: ssn, type: string, pii: true}\n",
            ),
        ];
        assert_eq!(
            describe(&old, &new),
            [
                "DataSet `gone` removed",
                "DataSet `fresh` added (restricted, 1 field(s), PII: ssn)",
                "DataSet `orders`: classification internal → confidential",
                "DataSet `orders`: field `country` added (string)",
                "DataSet `orders`: field `email` now PII",
                "DataSet `orders`: field `id` type integer → string",
            ]
        );
    }
}
