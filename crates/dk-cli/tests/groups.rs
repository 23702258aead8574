//! DataSetGroups used where DataSets are: a run whose input is a group (seeding and lineage see
//! each member), `dk show`, the pipeline graph, the governance report, and `dk datasetgroup`.

mod common;

use common::{context, run_ok};
use dk_test::TestContext;
use dk_test::openlineage::OpenLineageValidator;
use serde_json::Value;

const ORDERS: &str = "apiVersion: datakit.infoblox.dev/v1alpha1
kind: DataSet
metadata:
  name: demo-orders
spec:
  store: local-files
  path: input/orders.csv
  format: csv
  classification: internal
  schema:
    - name: id
      type: integer
    - name: amount
      type: decimal
  dev:
    seed:
      inline:
        - {id: 1, amount: 9.5}
        - {id: 2, amount: 3}
";

const SOURCES: &str = "apiVersion: datakit.infoblox.dev/v1alpha1
kind: DataSetGroup
metadata:
  name: sources
spec:
  store: local-files
  datasets:
    - demo-raw
    - demo-orders
";

/// `dk init demo` whose input is the group `sources` of demo-raw and demo-orders.
fn package_reading_a_group(ctx: &TestContext) {
    run_ok(ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    ctx.write("demo/dataset/demo-orders.yaml", ORDERS);
    ctx.write("demo/dataset-group/sources.yaml", SOURCES);
    let manifest = ctx
        .read("demo/dk.yaml")
        .replace("- dataset: demo-raw", "- dataset: sources");
    ctx.write("demo/dk.yaml", manifest);
}

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|item| item.as_str().or(item["name"].as_str()).unwrap())
        .collect()
}

#[test]
fn a_group_input_lints_runs_seeds_its_members_and_lists_them_in_lineage() {
    let ctx = context();
    package_reading_a_group(&ctx);
    run_ok(&ctx, &["lint", "demo"], 0);
    run_ok(&ctx, &["run", "./demo"], 0);
    // The member with seed rows was seeded before the run.
    let seeded = ctx.read("demo/data/input/orders.csv");
    assert_eq!(seeded.lines().count(), 3, "{seeded}");

    let listed = run_ok(&ctx, &["lineage", "events", "-o", "json"], 0).json();
    let validator = OpenLineageValidator::new();
    let events = listed["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    for entry in events {
        validator.assert_valid(&entry["event"]);
    }
    let complete = &events[1]["event"];
    assert_eq!(complete["eventType"], "COMPLETE");
    let inputs: Vec<&str> = complete["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|input| input["name"].as_str().unwrap())
        .collect();
    assert_eq!(inputs.len(), 2, "{complete:#}");
    assert!(
        inputs[0].ends_with("/demo/data/input/customers.csv"),
        "{inputs:?}"
    );
    assert!(
        inputs[1].ends_with("/demo/data/input/orders.csv"),
        "{inputs:?}"
    );
}

#[test]
fn show_graph_and_governance_report_treat_members_as_datasets() {
    let ctx = context();
    package_reading_a_group(&ctx);
    let shown = run_ok(&ctx, &["show", "demo", "-o", "json"], 0).json();
    assert_eq!(shown["groups"][0]["metadata"]["name"], "sources");
    let datasets: Vec<&str> = shown["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(datasets, ["demo-raw", "demo-orders", "demo-clean"]);

    let graph = run_ok(&ctx, &["pipeline", "show", "demo", "-o", "json"], 0).json();
    assert_eq!(
        names(&graph["steps"][0]["inputs"]),
        ["demo-raw", "demo-orders"]
    );
    assert!(!names(&graph["datasets"]).contains(&"sources"));

    let report = run_ok(&ctx, &["governance", "report", "demo", "-o", "json"], 0).json();
    let reads = &report["packages"][0]["reads"];
    assert_eq!(names(reads), ["demo-raw", "demo-orders"], "{report:#}");
    assert_eq!(reads[0]["piiFields"], serde_json::json!(["name", "email"]));
}

#[test]
fn datasetgroup_create_list_and_show() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    ctx.write("demo/dataset/demo-orders.yaml", ORDERS);
    let create = [
        common::CREATE_GROUP,
        &["--dataset", "demo-orders", "-o", "json"],
    ]
    .concat();
    let created = run_ok(&ctx, &create, 0).json();
    assert_eq!(created["kind"], "DataSetGroup");
    assert!(
        created["file"]
            .as_str()
            .unwrap()
            .ends_with("demo/dataset-group/sources.yaml")
    );
    run_ok(&ctx, &["lint", "demo"], 0);

    let listed = run_ok(&ctx, &["datasetgroup", "list", "demo", "-o", "json"], 0).json();
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed:#}");
    assert_eq!(items[0]["name"], "sources");
    let table = run_ok(&ctx, &["datasetgroup", "list", "demo"], 0);
    assert!(
        table.stdout.contains("demo-raw, demo-orders"),
        "{}",
        table.stdout
    );

    let shown = run_ok(
        &ctx,
        &[
            "datasetgroup",
            "show",
            "sources",
            "--dir",
            "demo",
            "-o",
            "json",
        ],
        0,
    )
    .json();
    assert_eq!(
        shown["manifest"]["spec"]["datasets"],
        serde_json::json!(["demo-raw", "demo-orders"])
    );
    let missing = common::run(&ctx, &["datasetgroup", "show", "sourcez", "--dir", "demo"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("did you mean `sources`?"),
        "{}",
        missing.stderr
    );

    // An existing group is not replaced without --force.
    let again = common::run(&ctx, common::CREATE_GROUP);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
}
