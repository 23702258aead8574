//! Every rule has an explanation, and every explanation's failing example, dropped into a
//! small valid package, produces that rule's code.

use dk_manifest::discover::{DiscoverOptions, load_projects};
use dk_validate::explain::{EXPLANATIONS, explain};
use dk_validate::rules::ALL;

const BASE: &[(&str, &str)] = &[
    (
        "dk.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Transform\nmetadata:\n  name: orders-daily\nspec:\n  runtime: generic-python\n  owner: data-team\n  inputs:\n    - dataset: orders\n  outputs:\n    - dataset: orders-summary\n",
    ),
    (
        "dataset/orders.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: orders\nspec:\n  store: warehouse\n  table: public.orders\n  classification: internal\n  schema:\n    - name: amount\n      type: decimal\n",
    ),
    (
        "dataset/orders-summary.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: orders-summary\nspec:\n  store: warehouse\n  table: public.orders_summary\n  classification: internal\n  schema:\n    - name: total\n      type: decimal\n      from: orders.amount\n",
    ),
    (
        "store/warehouse.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata:\n  name: warehouse\nspec:\n  connector: postgres\n  connection:\n    host: localhost\n",
    ),
];

fn codes_for(files: &[(&str, &str)]) -> Vec<&'static str> {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in BASE.iter().chain(files) {
        let target = dir.path().join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text).unwrap();
    }
    let projects = load_projects(&[dir.path().to_owned()], &DiscoverOptions::default()).unwrap();
    dk_validate::lint(&projects)
        .findings
        .iter()
        .map(|finding| finding.code)
        .collect()
}

#[test]
fn the_base_package_is_clean() {
    assert_eq!(codes_for(&[]), Vec::<&str>::new());
}

#[test]
fn every_rule_is_explained_and_every_example_fails_with_its_code() {
    let mut failures = Vec::new();
    for rule in ALL {
        let Some((_, explanation)) = explain(rule.code) else {
            failures.push(format!("{}: no explanation", rule.code));
            continue;
        };
        if explanation.example.is_empty() {
            // Unreadable files, flag overrides and symlinks cannot be shown as package files.
            assert!(
                ["DK009", "DK012", "DK120"].contains(&rule.code),
                "{} has no example",
                rule.code
            );
            continue;
        }
        let codes = codes_for(explanation.example);
        if !codes.contains(&rule.code) {
            failures.push(format!("{}: example produced {codes:?}", rule.code));
        }
    }
    assert_eq!(EXPLANATIONS.len(), ALL.len(), "one explanation per rule");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
