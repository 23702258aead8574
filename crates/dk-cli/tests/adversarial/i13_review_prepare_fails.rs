//! Issue 13, attacker review: a run that failed before its pipeline started (here: seeding an
//! input into a database that refuses connections) recorded no lineage at all, so the backend
//! never heard of it. It now records START and FAIL, with the error in FAIL's `errorMessage`,
//! and exits 3: the store, not the package, failed.

use dk_test::openlineage::OpenLineageValidator;
use dk_test::sink::closed_port;

use crate::common::{context, run_ok};
use crate::run_bounded;

#[test]
fn a_run_that_fails_while_seeding_records_start_and_fail_with_the_error() {
    let ctx = context();
    let port = closed_port();
    crate::project_with_stores(&ctx, port);
    ctx.write(
        "dataset/customers.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: customers\nspec:\n  store: warehouse\n  table: public.customers\n  classification: internal\n  schema:\n    - name: id\n      type: integer\n  dev:\n    seed:\n      inline:\n        - {id: 1}\n",
    );
    ctx.write(
        "dataset/out.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: DataSet\nmetadata:\n  name: out\nspec:\n  store: files\n  path: out.csv\n  format: csv\n  classification: internal\n  schema:\n    - name: id\n      type: integer\n",
    );
    ctx.write(
        "demo/dk.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Transform\nmetadata:\n  name: demo\nspec:\n  runtime: generic-python\n  owner: data-team\n  inputs: [{dataset: customers}]\n  outputs: [{dataset: out}]\n",
    );
    ctx.write("demo/main.py", "print('never runs')\n");

    let run = run_bounded(&ctx, &["run", "demo"]);
    // A store that refuses connections is an external failure (exit 3), with the fix.
    assert_eq!(run.code, 3, "{}", run.transcript());
    assert!(
        run.stderr.contains("cannot connect to its store")
            && run.stderr.contains("hint: check that the store is running"),
        "{}",
        run.transcript()
    );
    assert!(!run.stdout.contains("never runs"), "{}", run.transcript());

    let events = run_ok(&ctx, &["lineage", "events", "-o", "json"], 0).json();
    let events = events["events"].as_array().unwrap();
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["START", "FAIL"]);
    let validator = OpenLineageValidator::new();
    for event in events {
        validator.assert_valid(&event["event"]);
    }
    let message = events[1]["event"]["run"]["facets"]["errorMessage"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("seeding failed") && message.contains("customers"),
        "{message}"
    );
}
