//! The official OpenLineage and Marquez Python clients against `dk lineage serve` (issue 14):
//! openlineage-python's HTTP transport, plain and gzip, sends Run (with and without a type),
//! Dataset and Job events, every one stored; marquez-python reads them back through the calls a
//! Marquez user makes. Both come from the test tools of `scripts/test-services`.

mod common;

use serde_json::Value;

use common::{context, http_get, lineage_server, run_ok, stop_server};
use dk_test::service;

const CLIENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/python/marquez_clients.py"
);

#[test]
fn openlineage_python_writes_and_marquez_python_reads() {
    let Some(tools) = service(
        "DK_TEST_TOOLS_BIN",
        "pipeline tools (openlineage-python, marquez-python)",
    ) else {
        return;
    };
    let ctx = context();
    let token = "t0ken-for-the-clients";
    let (server, base) = lineage_server(&ctx, &[("DK_LINEAGE_TOKEN", token)], &[]);
    let output = std::process::Command::new(format!("{tools}/python"))
        .args([CLIENTS, &base, token])
        .output()
        .expect("run the python clients");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let read: Value = serde_json::from_slice(&output.stdout).expect("the clients print JSON");
    // Reads need the token as writes do.
    let anonymous = http_get(&format!("{base}/api/v1/namespaces/warehouse"));
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    assert!(stop_server(server).success());

    let stored = run_ok(&ctx, &["lineage", "events", "-o", "json"], 0).json();
    let stored = stored["events"].as_array().expect("events");
    assert_eq!(stored.len(), 10, "every event sent is stored once");
    assert_eq!(read["sent"], 10);
    for kind in ["run", "dataset"] {
        let count = stored
            .iter()
            .filter(|e| e["event"][kind].is_object())
            .count();
        assert_eq!(count, if kind == "run" { 6 } else { 2 }, "{kind} events");
    }
    let untyped = stored
        .iter()
        .filter(|e| e["event"]["run"].is_object() && e["event"]["eventType"].is_null());
    assert_eq!(untyped.count(), 2, "RunEvents without eventType");

    assert_eq!(read["namespace"]["name"], "warehouse");
    let job = &read["job"];
    assert_eq!(job["description"], "Cleans customers (gzip)");
    assert_eq!(job["latestRun"]["state"], "FAILED");
    assert_eq!(
        job["latestRun"]["facets"]["errorMessage"]["message"],
        "boom"
    );
    assert_eq!(job["latestRun"]["nominalStartTime"], "2026-11-26T00:00:00Z");
    assert_eq!(job["latestRuns"].as_array().unwrap().len(), 1);
    assert_eq!(read["declared"]["description"], "Declared");
    assert_eq!(read["declared"]["inputs"][0]["name"], "public.static_plain");
    assert_eq!(read["runs"]["runs"][0]["durationMs"], 2000);

    let dataset = &read["dataset"];
    assert_eq!(dataset["fields"][1]["name"], "email");
    assert_eq!(dataset["fields"][1]["type"], "varchar");
    assert_eq!(dataset["fields"][1]["tags"], serde_json::json!(["pii"]));
    assert_eq!(
        dataset["tags"],
        serde_json::json!(["classification:confidential"])
    );
    assert!(dataset["facets"]["schema"].is_object());
    assert_eq!(read["static"]["fields"][0]["name"], "order_id");
    assert!(read["static"]["currentVersion"].is_string());
    let version = &read["versions"]["versions"][0];
    assert_eq!(version["fields"][0]["name"], "email_hash");
    assert_eq!(version["createdByRun"]["state"], "FAILED");

    assert_eq!(read["events"]["totalCount"], 10);
    assert_eq!(read["sources"]["sources"][0]["name"], "postgres://db:5432");
    let tags: Vec<&Value> = read["tags"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["name"])
        .collect();
    assert_eq!(tags, ["classification:confidential", "pii"]);
    for (key, dataset) in [
        ("columns_by_job", "public.clean_plain"),
        ("columns_by_dataset", "public.clean_gzip"),
    ] {
        let id = format!("datasetField:postgres://db:5432:{dataset}:email_hash");
        let node = read[key]["graph"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id.as_str())
            .unwrap_or_else(|| panic!("{id} missing from {}", read[key]));
        assert_eq!(node["data"]["inputFields"][0]["field"], "email");
        assert_eq!(node["data"]["transformationDescription"], "hash");
    }
    assert_eq!(read["search"]["totalCount"], 2);
    assert_eq!(
        read["search"]["results"][0]["nodeId"],
        "job:warehouse:etl_gzip"
    );
}
