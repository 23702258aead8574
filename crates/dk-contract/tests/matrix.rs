//! The matrix of contract changes (`matrix.yaml`) against the classification and the version
//! each requires: every rule of `dk diff`, breaking, minor and patch, after 1.x and 0.x.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use dk_contract::{Contract, bump, diff};

/// The base package as (path, text) files, with `case`'s changes applied to one side.
fn package(case: &Value, side: &str) -> Vec<(String, String)> {
    let mut datasets: BTreeMap<String, Value> = BTreeMap::from([
        (
            "raw".to_owned(),
            json!({"store": "warehouse", "table": "raw",
                   "schema": [{"name": "id", "type": "integer"}, {"name": "note", "type": "string"}]}),
        ),
        (
            "orders".to_owned(),
            json!({"store": "warehouse", "table": "orders", "classification": "internal",
                   "schema": [{"name": "id", "type": "integer"}, {"name": "amount", "type": "decimal(10,2)"},
                              {"name": "note", "type": "string"}]}),
        ),
    ]);
    let mut outputs = json!([{"dataset": "orders"}]);
    let mut transform = json!({"runtime": "generic-python", "inputs": [{"dataset": "raw"}]});
    let mut connection = json!({"host": "db.internal", "database": "warehouse"});
    if let Some(changes) = case[side].as_object() {
        for (name, change) in changes {
            match change {
                Value::Null => {
                    datasets.remove(name);
                }
                Value::Object(fields) => {
                    let spec = datasets
                        .entry(name.clone())
                        .or_insert_with(|| datasets_base(name));
                    for (key, value) in fields {
                        spec[key] = value.clone();
                    }
                }
                other => panic!("{other}: a DataSet change is a mapping or ~"),
            }
        }
    }
    if side == "new" {
        if let Some(names) = case["outputs"].as_array() {
            outputs = names.iter().map(|name| json!({"dataset": name})).collect();
        }
        if let Some(fields) = case["transform"].as_object() {
            for (key, value) in fields {
                transform[key] = value.clone();
            }
        }
        if !case["store"].is_null() {
            connection = case["store"].clone();
        }
    }
    transform["outputs"] = outputs;
    let yaml = |value: Value| serde_json::to_string(&value).unwrap();
    let mut files = vec![
        (
            "dk.yaml".to_owned(),
            yaml(
                json!({"apiVersion": "datakit.infoblox.dev/v1alpha1", "kind": "Transform",
                        "metadata": {"name": "orders-job"}, "spec": transform}),
            ),
        ),
        (
            "store/warehouse.yaml".to_owned(),
            yaml(
                json!({"apiVersion": "datakit.infoblox.dev/v1alpha1", "kind": "Store",
                        "metadata": {"name": "warehouse"},
                        "spec": {"connector": "postgres", "connection": connection}}),
            ),
        ),
    ];
    for (name, spec) in datasets {
        files.push((
            format!("dataset/{name}.yaml"),
            yaml(
                json!({"apiVersion": "datakit.infoblox.dev/v1alpha1", "kind": "DataSet",
                        "metadata": {"name": name}, "spec": spec}),
            ),
        ));
    }
    files
}

/// A DataSet a case adds: the shape of `orders` under another name.
fn datasets_base(_name: &str) -> Value {
    json!({"store": "warehouse", "table": "orders", "classification": "internal",
           "schema": [{"name": "id", "type": "integer"}, {"name": "amount", "type": "decimal(10,2)"},
                      {"name": "note", "type": "string"}]})
}

#[test]
fn every_rule_requires_its_bump() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/matrix.yaml")).unwrap();
    let cases: Vec<Value> = serde_saphyr::from_str(&text).unwrap();
    assert!(cases.len() >= 25, "the matrix lost cases");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case["case"].as_str().unwrap();
        let old = Contract::from_files(&package(case, "old")).unwrap();
        let new = Contract::from_files(&package(case, "new")).unwrap();
        let code: Vec<String> = case["code"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        let found = diff(&old, &new, &code);
        let mut rules: Vec<&str> = found.changes.iter().map(|c| c.rule).collect();
        rules.sort_unstable();
        let mut expected: Vec<&str> = case["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        expected.sort_unstable();
        if rules != expected {
            failures.push(format!(
                "{name}: rules {rules:?}, expected {expected:?}: {:#?}",
                found.changes
            ));
        }
        if found.level().as_str() != case["level"].as_str().unwrap() {
            failures.push(format!(
                "{name}: level {}, expected {}",
                found.level(),
                case["level"]
            ));
        }
        for (previous, minimum) in case["after"].as_object().unwrap() {
            let previous = semver::Version::parse(previous).unwrap();
            let got = bump::minimum(&previous, found.level());
            if got.to_string() != minimum.as_str().unwrap() {
                failures.push(format!(
                    "{name}: after {previous} at least {got}, expected {minimum}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_breaking_diff_opens_its_markdown_with_breaking_and_the_consumers() {
    let case = json!({"new": {"orders": {"table": "elsewhere"}}});
    let mut found = diff(
        &Contract::from_files(&package(&case, "old")).unwrap(),
        &Contract::from_files(&package(&case, "new")).unwrap(),
        &["main.py modified".to_owned()],
    );
    found.consumers.insert(
        "orders".into(),
        vec![dk_contract::Consumer {
            name: "reporting".into(),
            source: "project".into(),
        }],
    );
    let text = dk_contract::markdown(&found);
    assert!(
        text.starts_with("**Breaking**\n\n- `orders`: `reporting` (project)\n"),
        "{text}"
    );
    assert!(
        text.contains("| breaking | DataSet `orders`: table orders → table elsewhere |"),
        "{text}"
    );
    assert!(text.contains("| patch | main.py modified |"), "{text}");
}

#[test]
fn an_invalid_manifest_is_an_error_naming_its_file() {
    let files = vec![(
        "dataset/x.yaml".to_owned(),
        "kind: DataSet\nmetadata: {name: x}\nspec: {store: [1]}\n".to_owned(),
    )];
    let err = Contract::from_files(&files).unwrap_err();
    assert_eq!(err.path, "dataset/x.yaml");
}
