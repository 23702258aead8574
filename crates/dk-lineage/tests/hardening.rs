//! What a client allowed to POST (a local process, a token holder) can do to `dk lineage serve`,
//! on both stores: make one read parse a run's every event, fill indexes with names of
//! megabytes, take over another job's run, or make two nodes share one id.

mod common;

use serde_json::{Value, json};

use common::server::TestServer;
use dk_lineage::backend::Lineage;
use dk_lineage::catalog::{FACET_BYTES, FACET_HORIZON};
use dk_lineage::event::{MAX_NAME, MAX_NAMESPACE, MAX_TAG, Received};
use dk_lineage::governance::FLOW_BYTES;
use dk_lineage::graph::{Direction, NodeKind, node_id, parse_node_id};
use dk_lineage::server::DEFAULT_TIMEOUT;

const RUN_X: &str = "0190a1b2-0000-7000-8000-000000000001";
const RUN_Y: &str = "0190a1b2-0000-7000-8000-000000000002";
const RUN_Z: &str = "0190a1b2-0000-7000-8000-000000000003";

/// A RunEvent at `second` seconds past 10:00 on 2026-11-26.
fn event(
    kind: &str,
    run: &str,
    (namespace, job): (&str, &str),
    second: u32,
    inputs: &[(&str, &str)],
    outputs: &[(&str, &str)],
    run_facets: Value,
) -> String {
    let datasets = |list: &[(&str, &str)]| -> Vec<Value> {
        list.iter()
            .map(|(namespace, name)| json!({"namespace": namespace, "name": name}))
            .collect()
    };
    json!({
        "eventType": kind,
        "eventTime": format!("2026-11-26T10:{:02}:{:02}.000Z", second / 60, second % 60),
        "producer": "https://example.com/hardening-test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run, "facets": run_facets},
        "job": {"namespace": namespace, "name": job},
        "inputs": datasets(inputs),
        "outputs": datasets(outputs),
    })
    .to_string()
}

async fn get_status(server: &TestServer, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}{path}", server.url)).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `batch` stored in one call, as the server's group commit stores the requests it gathered.
fn ingest_batch(store: &mut dyn Lineage, batch: &[String]) {
    let received: Vec<Received> = batch
        .iter()
        .map(|json| Received::parse_storable(json).unwrap())
        .collect();
    let events: Vec<(&Received, &str)> = received
        .iter()
        .zip(batch)
        .map(|(r, j)| (r, j.as_str()))
        .collect();
    store.ingest(&events).unwrap();
}

fn facet_names(run: &Value) -> Vec<String> {
    let mut names: Vec<String> = run["facets"].as_object().unwrap().keys().cloned().collect();
    names.sort();
    names
}

crate::on_both_stores! {
/// A run of many events: its reads parse only the newest, within a byte budget, and still come
/// back in Marquez's `Run` shape.
async fn a_run_s_facets_come_from_its_newest_events_within_a_budget(backend: Backend) {
    let server = TestServer::start_on(backend, None, 2 << 20, DEFAULT_TIMEOUT).await;
    let count = FACET_HORIZON + 24;
    for i in 0..count {
        let kind = if i == 0 { "START" } else { "RUNNING" };
        let facets = json!({format!("f{i:02}"): {"n": i}});
        let body = event(kind, RUN_X, ("ns", "many"), i as u32, &[], &[], facets);
        assert_eq!(server.post(body, None).await, 201);
    }
    let run = server.get(&format!("/api/v1/jobs/runs/{RUN_X}")).await;
    assert_eq!(run["id"], RUN_X);
    assert_eq!(run["state"], "RUNNING", "the state comes from the runs table");
    assert_eq!(run["startedAt"], "2026-11-26T10:00:00.000Z");
    let expected: Vec<String> = (count - FACET_HORIZON..count)
        .map(|i| format!("f{i:02}"))
        .collect();
    assert_eq!(facet_names(&run), expected, "only the newest {FACET_HORIZON} events");
    let job = server.get("/api/v1/namespaces/ns/jobs/many").await;
    assert_eq!(facet_names(&job["latestRun"]), expected);

    // Large events: the newest fill the budget, older ones are not read.
    let big = FACET_BYTES * 3 / 8;
    let fits = FACET_BYTES / big;
    assert!(fits < 5);
    for i in 0..6u32 {
        let facets = json!({format!("big{i}"): {"pad": "x".repeat(big)}});
        let body = event("RUNNING", RUN_Y, ("ns", "large"), i, &[], &[], facets);
        assert_eq!(server.post(body, None).await, 201);
    }
    let run = server.get(&format!("/api/v1/jobs/runs/{RUN_Y}")).await;
    let expected: Vec<String> = (6 - fits..6).map(|i| format!("big{i}")).collect();
    assert_eq!(facet_names(&run), expected, "only {FACET_BYTES} bytes of events");
    // A job's facets too.
    for i in 0..6u32 {
        let run = format!("0190a1b2-0000-7000-8000-0000000001{i:02}");
        let mut body: Value =
            serde_json::from_str(&event("COMPLETE", &run, ("ns", "wide"), i, &[], &[], json!({})))
                .unwrap();
        body["job"]["facets"] = json!({format!("big{i}"): {"pad": "x".repeat(big)}});
        assert_eq!(server.post(body.to_string(), None).await, 201);
    }
    let job = server.get("/api/v1/namespaces/ns/jobs/wide").await;
    assert_eq!(facet_names(&job), expected, "only {FACET_BYTES} bytes of events");
    // All stay stored, and listed in pages.
    assert_eq!(server.stored_events().await, count + 12);
    server.stop().await;
}
}

crate::on_both_stores! {
/// Names are indexed and searched: past the caps an event is refused and says which name.
async fn names_over_the_caps_are_refused_and_search_matches_text_literally(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let long_namespace = "n".repeat(MAX_NAMESPACE + 1);
    let long_name = "d".repeat(MAX_NAME + 1);
    let refused = [
        (
            event("START", RUN_X, (&long_namespace, "job"), 0, &[], &[], json!({})),
            "job namespace `nnn".to_owned(),
        ),
        (
            event("START", RUN_X, ("ns", &long_name), 0, &[], &[], json!({})),
            "job name `ddd".to_owned(),
        ),
        (
            event("START", RUN_X, ("ns", "job"), 0, &[], &[("ns", &long_name)], json!({})),
            format!("is {} bytes long; at most {MAX_NAME} are accepted", MAX_NAME + 1),
        ),
        (
            event("START", RUN_X, ("ns", "job"), 0, &[(&long_namespace, "in")], &[], json!({})),
            "dataset namespace `nnn".to_owned(),
        ),
    ];
    for (body, message) in refused {
        let (status, answer) = server.post_answer(body, None).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains(&message), "{answer}");
    }
    assert_eq!(server.stored_events().await, 0);
    // At the caps, accepted.
    let namespace = "n".repeat(MAX_NAMESPACE);
    let name = "d".repeat(MAX_NAME);
    let body = event("START", RUN_X, (&namespace, &name), 0, &[], &[(&namespace, &name)], json!({}));
    assert_eq!(server.post(body, None).await, 201);

    // `%` and `_` are text, not wildcards.
    let outputs = [("s", "a_b"), ("s", "acb"), ("s", "a%b"), ("s", "axxb")];
    let body = event("START", RUN_Y, ("ns", "writer"), 1, &[], &outputs, json!({}));
    assert_eq!(server.post(body, None).await, 201);
    let names = |found: &Value| -> Vec<String> {
        found["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let found = server.get("/api/v1/search?q=a_b").await;
    assert_eq!(names(&found), ["a_b"]);
    let found = server.get("/api/v1/search?q=a%25b").await;
    assert_eq!(names(&found), ["a%b"]);
    let found = server.get("/api/v1/search?q=%25a%25a%25a%25a%25a%25b").await;
    assert_eq!(found["totalCount"], 0);
    let (status, _) = get_status(&server, &format!("/api/v1/search?q={}", "a".repeat(64))).await;
    assert_eq!(status, 200);
    let (status, answer) = get_status(&server, &format!("/api/v1/search?q={}", "a".repeat(65))).await;
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().unwrap().contains("at most 64 bytes"));
    // The namespace and kind filters.
    let found = server.get("/api/v1/search?q=a&namespace=nowhere").await;
    assert_eq!(found["totalCount"], 0, "{found}");
    server.stop().await;
}
}

crate::on_both_stores! {
/// A run id belongs to the job that first reported it: another job's event with that id is
/// stored, but changes neither the run nor makes it that job's.
async fn another_job_s_event_cannot_take_over_a_run(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let start = event("START", RUN_X, ("ns", "owner"), 0, &[], &[("s", "out")], json!({}));
    assert_eq!(server.post(start, None).await, 201);
    let failure = json!({"errorMessage": {"message": "forged", "programmingLanguage": "x"}});
    let forged = event("FAIL", RUN_X, ("ns", "intruder"), 5, &[], &[("s", "other")], failure);
    assert_eq!(server.post(forged, None).await, 201);

    let run = server.get(&format!("/api/v1/jobs/runs/{RUN_X}")).await;
    assert_eq!(run["state"], "RUNNING");
    assert_eq!(run["endedAt"], Value::Null);
    assert_eq!(run["jobVersion"]["name"], "owner");
    assert!(run["facets"].get("errorMessage").is_none(), "{run}");
    let owner = server.get("/api/v1/namespaces/ns/jobs/owner").await;
    assert_eq!(owner["latestRun"]["state"], "RUNNING");
    let (status, _) = get_status(&server, "/api/v1/namespaces/ns/jobs/intruder").await;
    assert_eq!(status, 404, "the run is not the intruder's");
    assert_eq!(server.stored_events().await, 2, "the event itself is kept");

    // In one batch too: the first event of the batch reports the run.
    let batch = [
        event("START", RUN_Y, ("ns", "first"), 10, &[], &[], json!({})),
        event("ABORT", RUN_Y, ("ns", "second"), 11, &[], &[], json!({})),
    ];
    server.with_store(|store| {
        ingest_batch(store, &batch);
        let (job, run) = store.run(RUN_Y).unwrap().unwrap();
        assert_eq!((job.name.as_str(), run.state.as_str()), ("first", "START"));
        assert!(store.job("ns", "second").unwrap().is_none());
    });
    server.stop().await;
}
}

crate::on_both_stores! {
/// Another job's event with a run's id names its outputs, but not as versions the run made.
async fn another_job_s_event_cannot_credit_a_run_with_its_outputs(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let start = event("START", RUN_X, ("ns", "owner"), 0, &[], &[("s", "out")], json!({}));
    assert_eq!(server.post(start, None).await, 201);
    // The datasets exist: a third job wrote them.
    let honest = [("s", "leak"), ("s", "theirs")];
    let made = event("COMPLETE", RUN_Z, ("ns", "honest"), 1, &[], &honest, json!({}));
    assert_eq!(server.post(made, None).await, 201);
    let forged = event("COMPLETE", RUN_X, ("ns", "intruder"), 5, &[], &[("s", "leak")], json!({}));
    assert_eq!(server.post(forged, None).await, 201);
    // In one batch too.
    let batch = [
        event("START", RUN_Y, ("ns", "first"), 10, &[], &[("s", "mine")], json!({})),
        event("COMPLETE", RUN_Y, ("ns", "second"), 11, &[], &[("s", "theirs")], json!({})),
    ];
    server.with_store(|store| ingest_batch(store, &batch));

    let created_by = |versions: &Value| -> Vec<Value> {
        versions["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|version| version["createdByRun"]["id"].clone())
            .collect()
    };
    for (dataset, run) in [("out", RUN_X), ("mine", RUN_Y)] {
        let versions = server.get(&format!("/api/v1/namespaces/s/datasets/{dataset}/versions")).await;
        assert_eq!(created_by(&versions), [json!(run)], "{versions}");
    }
    for dataset in ["leak", "theirs"] {
        let versions = server.get(&format!("/api/v1/namespaces/s/datasets/{dataset}/versions")).await;
        assert_eq!(versions["totalCount"], 2, "the event still names it: {versions}");
        assert_eq!(created_by(&versions), [Value::Null, json!(RUN_Z)], "{versions}");
    }
    server.stop().await;
}
}

crate::on_both_stores! {
/// A `#` in a namespace is part of the node id, not the start of a version.
async fn column_lineage_keeps_a_namespace_s_hash(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let runs = [RUN_X, RUN_Y];
    for (i, (namespace, name, field)) in [("a:b#c", "tbl", "fromhash"), ("a", "b", "fromplain")]
        .into_iter()
        .enumerate()
    {
        let lineage = json!({"_producer": "p", "_schemaURL": "s", "fields": {field: {
            "inputFields": [{"namespace": "s", "name": "src", "field": "y"}]}}});
        let mut body: Value =
            serde_json::from_str(&event("COMPLETE", runs[i], ("ns", field), i as u32, &[("s", "src")], &[(namespace, name)], json!({})))
                .unwrap();
        body["outputs"][0]["facets"] = json!({"columnLineage": lineage});
        assert_eq!(server.post(body.to_string(), None).await, 201);
    }
    let fields = |graph: &Value| -> Vec<String> {
        let mut ids: Vec<String> = graph["graph"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| node["id"].as_str().unwrap().to_owned())
            .filter(|id| !id.starts_with("datasetField:s:"))
            .collect();
        ids.sort();
        ids
    };
    // As given, and with the `#<version>` marquez-python appends.
    for suffix in ["", "%230190a1b2-0000-7000-8000-0000000000ff"] {
        let graph = server
            .get(&format!("/api/v1/column-lineage?nodeId=dataset:a:b%23c:tbl{suffix}&depth=1"))
            .await;
        assert_eq!(fields(&graph), ["datasetField:a:b#c:tbl:fromhash"], "{graph}");
    }
    let graph = server.get("/api/v1/column-lineage?nodeId=dataset:a:b%230190a1b2-0000-7000-8000-0000000000ff&depth=1").await;
    assert_eq!(fields(&graph), ["datasetField:a:b:fromplain"], "{graph}");
    server.stop().await;
}
}

/// The `id`s of a list of nodes, sorted.
fn sorted_ids(nodes: &Value) -> Vec<String> {
    let mut ids: Vec<String> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|node| node["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

crate::on_both_stores! {
/// `hr` + `etl/load` and `hr/etl` + `load`, `etl` + `a:b` and `etl:a` + `b`: four jobs that read
/// one dataset, each its own node with its own id in every graph.
async fn nodes_whose_names_join_alike_have_their_own_ids(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let jobs = [("hr", "etl/load"), ("hr/etl", "load"), ("etl", "a:b"), ("etl:a", "b")];
    let runs = [
        "0190a1b2-0000-7000-8000-000000000011",
        "0190a1b2-0000-7000-8000-000000000012",
        "0190a1b2-0000-7000-8000-000000000013",
        "0190a1b2-0000-7000-8000-000000000014",
    ];
    for (i, (job, run)) in jobs.iter().zip(runs).enumerate() {
        let body = event("COMPLETE", run, *job, i as u32, &[("file", "d")], &[], json!({}));
        assert_eq!(server.post(body, None).await, 201);
    }
    let mut expected: Vec<String> = jobs
        .iter()
        .map(|(namespace, name)| node_id(NodeKind::Job, namespace, name))
        .collect();
    expected.push("dataset:file:d".to_owned());
    expected.sort();
    assert!(expected.contains(&"job:etl:a%3Ab".to_owned()), "{expected:?}");
    assert!(expected.contains(&"job:etl:a:b".to_owned()), "{expected:?}");

    let graph = server.get("/api/v1/lineage?nodeId=dataset:file:d&depth=2").await;
    assert_eq!(sorted_ids(&graph["graph"]), expected);
    for node in graph["graph"].as_array().unwrap() {
        if node["type"] == "JOB" {
            assert_eq!(node["outEdges"].as_array().unwrap().len(), 0);
            assert_eq!(node["inEdges"][0]["origin"], "dataset:file:d");
            assert_eq!(node["inEdges"][0]["destination"], node["id"]);
        }
    }
    let ui = server.get("/api/v1/ui/graph?kind=dataset&namespace=file&name=d").await;
    assert_eq!(sorted_ids(&ui["nodes"]), expected);
    assert_eq!(ui["edges"].as_array().unwrap().len(), 4);

    // Each id leads back to its own job; one a client built without escaping still resolves.
    for (namespace, name) in jobs {
        let id = node_id(NodeKind::Job, namespace, name);
        assert_eq!(parse_node_id(id.strip_prefix("job:").unwrap()), Some((namespace.to_owned(), name.to_owned())));
        let encoded = id.replace('%', "%25");
        let graph = server.get(&format!("/api/v1/lineage?nodeId={encoded}&depth=1")).await;
        let job = graph["graph"]
            .as_array()
            .unwrap()
            .iter()
            .find(|node| node["type"] == "JOB")
            .unwrap()
            .clone();
        assert_eq!(job["id"], id);
        assert_eq!((job["data"]["namespace"].as_str(), job["data"]["name"].as_str()), (Some(namespace), Some(name)));
    }
    server.with_store(|store| {
        let around = store
            .neighbourhood_of(NodeKind::Dataset, "file", "d", Direction::Both, 2)
            .unwrap()
            .unwrap();
        assert_eq!(around.nodes.len(), 5);
        assert_eq!(around.edges.len(), 4);
        // `dk lineage hr/etl/load` names both: one neighbourhood each.
        let found = store.neighbourhood("hr/etl/load", Direction::Both, 1).unwrap();
        let mut roots: Vec<(String, String)> =
            found.iter().map(|n| (n.root.namespace.clone(), n.root.name.clone())).collect();
        roots.sort();
        assert_eq!(roots, [("hr".into(), "etl/load".into()), ("hr/etl".into(), "load".into())]);
        // Its id names one.
        for (namespace, name) in jobs {
            let found = store
                .neighbourhood(&node_id(NodeKind::Job, namespace, name), Direction::Both, 1)
                .unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!((found[0].root.namespace.as_str(), found[0].root.name.as_str()), (namespace, name));
            assert_eq!(found[0].nodes.len(), 2);
        }
    });
    server.stop().await;
}
}

/// `len` letters and digits that do not compress (PostgreSQL compresses a long index entry
/// before it checks its size).
fn incompressible(len: usize, seed: u64) -> String {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[(state >> 33) as usize % 36])
        })
        .collect()
}

crate::on_both_stores! {
/// What a store cannot index is refused at the door (400), not in the transaction that would
/// fail every request sharing its batch; tags too long to index, or on datasets the event does
/// not declare, are left in the event.
async fn strings_a_store_cannot_keep_are_refused_before_they_reach_it(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let nul = event("START", RUN_X, ("ns", "job"), 0, &[], &[], json!({"x": {"v": "a\u{0}b"}}));
    assert!(nul.contains("\\u0000"));
    let (status, answer) = server.post_answer(nul, None).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("NUL"), "{answer}");
    let long_time = event("START", RUN_X, ("ns", "job"), 0, &[], &[], json!({}))
        .replace(".000Z", &format!(".{}Z", "0".repeat(100)));
    let (status, answer) = server.post_answer(long_time, None).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("at most 64 are accepted"), "{answer}");
    assert_eq!(server.stored_events().await, 0);

    // A backslash, then `u0000`, is text.
    let text = event("START", RUN_X, ("ns", "job"), 0, &[], &[], json!({"x": {"v": "\\u0000"}}));
    assert_eq!(server.post(text, None).await, 201);
    // Names at the caps that do not compress fit PostgreSQL's index entries.
    let (namespace, name) = (incompressible(MAX_NAMESPACE, 1), incompressible(MAX_NAME, 2));
    let body = event("START", RUN_Y, (&namespace, &name), 1, &[], &[(&namespace, &name)], json!({}));
    assert_eq!(server.post(body, None).await, 201);

    let tag = |key: &str, field: &str| json!({"key": key, "value": "true", "field": field});
    let tags = json!({"tags": {"tags": [tag("pii", &"f".repeat(MAX_TAG + 1)), tag("kept", "email")]}});
    let dataset_event = json!({
        "eventTime": "2026-11-26T10:00:02.000Z",
        "producer": "https://example.com/hardening-test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": {"namespace": "ns", "name": "declared", "facets": tags},
        "outputs": [{"namespace": "ns", "name": "undeclared",
                     "facets": {"tags": {"tags": [tag("smuggled", "")]}}}],
    });
    assert_eq!(server.post(dataset_event.to_string(), None).await, 201);
    let listed = server.get("/api/v1/tags").await;
    let names: Vec<&str> = listed["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tag| tag["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["kept"], "{listed}");
    server.stop().await;
}
}

crate::on_both_stores! {
/// Each PII flow repeats its datasets' PII fields: the governance answer stops at a byte budget.
async fn the_governance_view_stops_at_a_byte_budget(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    // 256 PII fields of 256 bytes (the most indexed): 64 KiB of fields in every flow from it.
    let tags: Vec<Value> = (0..256)
        .map(|i| json!({"key": "pii", "value": "true", "field": format!("{i:03}{}", "f".repeat(253))}))
        .collect();
    let outputs: Vec<(String, String)> = (0..200).map(|i| ("s".to_owned(), format!("out{i:03}"))).collect();
    let outputs: Vec<(&str, &str)> = outputs.iter().map(|(n, d)| (n.as_str(), d.as_str())).collect();
    let mut body: Value =
        serde_json::from_str(&event("COMPLETE", RUN_X, ("ns", "spread"), 0, &[("s", "people")], &outputs, json!({})))
            .unwrap();
    body["inputs"][0]["facets"] = json!({"tags": {"tags": tags}});
    assert_eq!(server.post(body.to_string(), None).await, 201);

    let answer = server.get("/api/v1/ui/governance").await;
    let flows = answer["flows"].as_array().unwrap();
    assert_eq!(answer["truncated"], true);
    assert!(!flows.is_empty() && flows.len() < 200, "{}", flows.len());
    assert_eq!(flows[0]["source"]["piiFields"].as_array().unwrap().len(), 256);
    let fields: usize = flows
        .iter()
        .flat_map(|flow| flow["source"]["piiFields"].as_array().unwrap())
        .map(|field| field.as_str().unwrap().len())
        .sum();
    assert!(fields <= FLOW_BYTES, "{fields}");
    assert!(answer.to_string().len() < FLOW_BYTES + (1 << 20));
    server.stop().await;
}
}
