//! `dk lineage serve` against Marquez's own API specification (vendored `fixtures/marquez-api/openapi.yml` of
//! MarquezProject/marquez, see its README): every event kind of OpenLineage 2-0-2 is accepted,
//! and every read endpoint answers in the shape the specification gives its response.

mod common;

use std::io::Write;

use serde_json::{Value, json};

use common::server::TestServer;
use dk_lineage::server::DEFAULT_TIMEOUT;

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/marquez-api/openapi.yml"
);
const SPEC_ID: &str = "https://marquez.invalid/openapi.json";
const PRODUCER: &str = "https://example.com/producer";
const RUN: &str = "0193a8f0-0000-7000-8000-0000000000a1";

/// Marquez's specification as JSON, with the quirks where Marquez's own answers (and so dk's)
/// depart from it made to agree with Marquez:
/// - the graph node `data` is a `oneOf` of `Dataset` and `Job`, which overlap (both are plain
///   objects with nothing required), so no node could match exactly one: `anyOf`;
/// - column lineage nodes are `DATASET_FIELD`, a type `NodeType` does not list;
/// - `DatasetVersion.tags` is a `string` where Marquez answers a list of tag names;
/// - `SearchResult.name` and `.updatedAt` have an empty `type` (not a schema): strings.
fn spec() -> Value {
    let text = std::fs::read_to_string(SPEC).expect("read Marquez's openapi.yml");
    let mut spec: Value = serde_saphyr::from_str(&text).expect("openapi.yml is YAML");
    let schemas = &mut spec["components"]["schemas"];
    let data = schemas["GraphNode"]["properties"]["data"]
        .as_object_mut()
        .unwrap();
    let branches = data.remove("oneOf").expect("the oneOf quirk");
    data.remove("discriminator");
    data.insert("anyOf".into(), branches);
    schemas["NodeType"]["enum"]
        .as_array_mut()
        .unwrap()
        .push("DATASET_FIELD".into());
    schemas["DatasetVersion"]["properties"]["tags"] =
        json!({"type": "array", "items": {"type": "string"}});
    for property in ["name", "updatedAt"] {
        schemas["SearchResult"]["properties"][property]["type"] = "string".into();
    }
    spec
}

/// Marquez answers `null` for an optional value it does not have (`description`, `latestRun`),
/// which the specification's types leave out: nulls are dropped before validation.
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

struct Spec {
    spec: Value,
}

impl Spec {
    fn new() -> Spec {
        Spec { spec: spec() }
    }

    /// What does not match the 200 response schema of `GET <path>` (a path template of the
    /// specification, under `/api/v1`) in `answer`.
    fn errors(&self, path: &str, answer: &Value) -> Vec<String> {
        let responses = &self.spec["paths"][path]["get"]["responses"];
        let schema = &responses["200"]["content"]["application/json"]["schema"];
        let reference = schema["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("no 200 schema for GET {path}"));
        let registry = jsonschema::Registry::new()
            .add(SPEC_ID, self.spec.clone())
            .expect("register the spec")
            .prepare()
            .expect("prepare the registry");
        let validator = jsonschema::options()
            .with_registry(&registry)
            .should_validate_formats(true)
            .build(&json!({"$ref": format!("{SPEC_ID}{reference}")}))
            .expect("the schema compiles");
        validator
            .iter_errors(&without_nulls(answer))
            .map(|err| format!("{reference}: {} at {}", err, err.instance_path()))
            .collect()
    }

    fn check(&self, path: &str, answer: &Value) {
        let errors = self.errors(path, answer);
        assert!(
            errors.is_empty(),
            "GET {path} does not match the spec:\n{}\n{answer:#}",
            errors.join("\n")
        );
    }
}

fn facet(body: Value) -> Value {
    let mut facet = body;
    facet["_producer"] = PRODUCER.into();
    facet["_schemaURL"] = "https://openlineage.io/spec/facets/1-0-0/Facet.json".into();
    facet
}

fn customers() -> Value {
    json!({
        "namespace": "postgres://db:5432",
        "name": "public.customers",
        "facets": {
            "schema": facet(json!({"fields": [
                {"name": "id", "type": "integer"},
                {"name": "email", "type": "varchar", "description": "where to write"},
            ]})),
            "tags": facet(json!({"tags": [
                {"key": "classification", "value": "confidential", "source": "DK"},
                {"key": "pii", "value": "true", "field": "email", "source": "DK"},
            ]})),
        },
    })
}

fn clean() -> Value {
    json!({
        "namespace": "postgres://db:5432",
        "name": "public.clean",
        "facets": {
            "schema": facet(json!({"fields": [{"name": "email_hash", "type": "text"}]})),
            "columnLineage": facet(json!({"fields": {"email_hash": {"inputFields": [{
                "namespace": "postgres://db:5432", "name": "public.customers", "field": "email",
                "transformations": [{"type": "DIRECT", "subtype": "TRANSFORMATION", "description": "hash", "masking": true}],
            }]}}})),
        },
    })
}

fn run_event(event_type: Option<&str>, time: &str, run_facets: Value) -> Value {
    let mut event = json!({
        "eventTime": time,
        "run": {"runId": RUN, "facets": run_facets},
        "job": {"namespace": "warehouse", "name": "etl", "facets": {
            "documentation": facet(json!({"description": "Cleans customers"})),
            "sourceCodeLocation": facet(json!({"type": "git", "url": "https://git.example.com/etl"})),
        }},
        "inputs": [customers()],
        "outputs": [clean()],
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    });
    if let Some(event_type) = event_type {
        event["eventType"] = event_type.into();
    }
    event
}

fn dataset_event() -> Value {
    json!({
        "eventTime": "2026-11-26T09:00:00Z",
        "dataset": {"namespace": "s3://lake", "name": "static/orders", "facets": {
            "schema": facet(json!({"fields": [{"name": "order_id", "type": "bigint"}]})),
        }},
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
    })
}

fn job_event() -> Value {
    json!({
        "eventTime": "2026-11-26T09:30:00Z",
        "job": {"namespace": "warehouse", "name": "declared", "facets": {
            "documentation": facet(json!({"description": "Declared, never run"})),
        }},
        "inputs": [{"namespace": "s3://lake", "name": "static/orders"}],
        "outputs": [{"namespace": "s3://lake", "name": "static/totals"}],
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent",
    })
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(body).unwrap();
    encoder.finish().unwrap()
}

/// Posts `body` with a `Content-Encoding` when given; the status and answer.
async fn post(server: &TestServer, body: Vec<u8>, encoding: Option<&str>) -> (u16, String) {
    let headers: Vec<(&str, &str)> = encoding
        .map(|encoding| ("content-encoding", encoding))
        .into_iter()
        .collect();
    let (status, answer) = server.post_with(body, &headers).await;
    (status.as_u16(), answer)
}

async fn post_json(server: &TestServer, event: &Value) {
    let (status, answer) = post(server, event.to_string().into_bytes(), None).await;
    assert_eq!(status, 201, "{answer}");
}

crate::on_both_stores! {
async fn every_event_kind_is_stored_once_and_read_back_in_marquez_s_shapes(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let spec = Spec::new();
    let start = run_event(
        Some("START"),
        "2026-11-26T10:00:00Z",
        json!({"nominalTime": facet(json!({"nominalStartTime": "2026-11-26T00:00:00Z"}))}),
    );
    let complete = run_event(Some("COMPLETE"), "2026-11-26T10:00:02Z", json!({}));
    let untyped = run_event(
        None,
        "2026-11-26T10:00:03Z",
        json!({"quality": facet(json!({"rows": 3}))}),
    );
    post_json(&server, &start).await;
    let (status, answer) = post(&server, gzip(complete.to_string().as_bytes()), Some("gzip")).await;
    assert_eq!(status, 201, "{answer}");
    post_json(&server, &untyped).await;
    post_json(&server, &dataset_event()).await;
    post_json(&server, &job_event()).await;
    // Each again, and the static event with its members in another order: nothing new.
    for event in [&start, &untyped, &dataset_event(), &job_event()] {
        post_json(&server, event).await;
    }
    let reordered: serde_json::Map<String, Value> = dataset_event()
        .as_object()
        .unwrap()
        .iter()
        .rev()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    post_json(&server, &Value::Object(reordered)).await;
    assert_eq!(server.stored_events().await, 5);
    // A different event of the same time and names is another event.
    let mut other = dataset_event();
    other["dataset"]["facets"]["schema"]["fields"][0]["type"] = "int".into();
    post_json(&server, &other).await;
    assert_eq!(server.stored_events().await, 6);

    let namespace = server.get("/api/v1/namespaces/warehouse").await;
    spec.check("/namespaces/{namespace}", &namespace);
    assert_eq!(namespace["name"], "warehouse");
    let namespaces = server.get("/api/v1/namespaces?limit=1&offset=1").await;
    spec.check("/namespaces", &namespaces);
    assert_eq!(namespaces["namespaces"].as_array().unwrap().len(), 1);
    assert_eq!(namespaces["namespaces"][0]["name"], "s3://lake");
    assert_eq!(namespaces["totalCount"], 3);

    let job = server.get("/api/v1/namespaces/warehouse/jobs/etl").await;
    spec.check("/namespaces/{namespace}/jobs/{job}", &job);
    assert_eq!(job["description"], "Cleans customers");
    assert_eq!(job["location"], "https://git.example.com/etl");
    assert_eq!(job["latestRun"]["id"], RUN);
    assert_eq!(job["latestRun"]["state"], "COMPLETED");
    assert_eq!(job["latestRun"]["nominalStartTime"], "2026-11-26T00:00:00Z");
    assert_eq!(job["latestRun"]["facets"]["quality"]["rows"], 3);
    assert_eq!(job["latestRuns"].as_array().unwrap().len(), 1);
    assert!(job["facets"]["documentation"].is_object());
    assert!(job["currentVersion"].is_string());
    let jobs = server.get("/api/v1/namespaces/warehouse/jobs").await;
    spec.check("/namespaces/{namespace}/jobs", &jobs);
    assert_eq!(jobs["totalCount"], 2);
    let declared = server
        .get("/api/v1/namespaces/warehouse/jobs/declared")
        .await;
    assert_eq!(declared["description"], "Declared, never run");
    assert_eq!(declared["latestRun"], Value::Null);
    assert_eq!(declared["outputs"][0]["name"], "static/totals");

    let runs = server
        .get("/api/v1/namespaces/warehouse/jobs/etl/runs")
        .await;
    spec.check("/namespaces/{namespace}/jobs/{job}/runs", &runs);
    assert_eq!(runs["runs"][0]["durationMs"], 2000);
    let run = server.get(&format!("/api/v1/jobs/runs/{RUN}")).await;
    spec.check("/jobs/runs/{id}", &run);
    assert_eq!(run["facets"]["quality"]["rows"], 3);

    let encoded = "postgres:%2F%2Fdb:5432";
    let dataset = server
        .get(&format!(
            "/api/v1/namespaces/{encoded}/datasets/public.customers"
        ))
        .await;
    spec.check("/namespaces/{namespace}/datasets/{dataset}", &dataset);
    assert_eq!(
        dataset["fields"],
        json!([
            {"name": "id", "type": "integer", "tags": [], "description": null},
            {"name": "email", "type": "varchar", "tags": ["pii"], "description": "where to write"},
        ])
    );
    assert_eq!(dataset["tags"], json!(["classification:confidential"]));
    assert!(dataset["facets"]["schema"].is_object());
    let datasets = server
        .get(&format!("/api/v1/namespaces/{encoded}/datasets"))
        .await;
    spec.check("/namespaces/{namespace}/datasets", &datasets);
    let versions = server
        .get(&format!(
            "/api/v1/namespaces/{encoded}/datasets/public.clean/versions"
        ))
        .await;
    spec.check(
        "/namespaces/{namespace}/datasets/{dataset}/versions",
        &versions,
    );
    let clean = server
        .get(&format!(
            "/api/v1/namespaces/{encoded}/datasets/public.clean"
        ))
        .await;
    assert_eq!(versions["versions"][0]["version"], clean["currentVersion"]);
    assert_eq!(versions["versions"][0]["createdByRun"]["id"], RUN);
    assert_eq!(versions["versions"][0]["fields"][0]["name"], "email_hash");
    let orders = server
        .get("/api/v1/namespaces/s3:%2F%2Flake/datasets/static%2Forders/versions")
        .await;
    assert_eq!(orders["totalCount"], 2, "two DatasetEvents, two versions");

    let events = server
        .get("/api/v1/events/lineage?sortDirection=asc&limit=3")
        .await;
    spec.check("/events/lineage", &events);
    assert_eq!(events["totalCount"], 6);
    assert_eq!(events["events"][0]["dataset"]["name"], "static/orders");
    assert_eq!(events["events"][1]["dataset"]["name"], "static/orders");
    assert_eq!(events["events"][2]["job"]["name"], "declared");
    let window = server
        .get("/api/v1/events/lineage?after=2026-11-26T11:00:00%2B01:00&before=2026-11-26T10:00:03Z")
        .await;
    let types: Vec<&Value> = window["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["eventType"])
        .collect();
    assert_eq!(
        types,
        [&json!("COMPLETE"), &json!("START")],
        "newest first, before is exclusive"
    );

    let lineage = server
        .get("/api/v1/column-lineage?nodeId=job:warehouse:etl&withDownstream=False")
        .await;
    spec.check("/column-lineage", &lineage);
    let hashed = lineage["graph"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == "datasetField:postgres://db:5432:public.clean:email_hash")
        .expect("the derived field");
    assert_eq!(hashed["data"]["fieldType"], "text");
    assert_eq!(hashed["data"]["inputFields"][0]["field"], "email");
    assert_eq!(hashed["data"]["transformationDescription"], "hash");
    assert_eq!(
        hashed["inEdges"][0]["origin"],
        "datasetField:postgres://db:5432:public.customers:email"
    );

    let graph = server.get("/api/v1/lineage?nodeId=job:warehouse:etl").await;
    spec.check("/lineage", &graph);

    let search = server.get("/api/v1/search?q=CUST").await;
    spec.check("/search", &search);
    assert_eq!(search["totalCount"], 1);
    assert_eq!(
        search["results"][0]["nodeId"],
        "dataset:postgres://db:5432:public.customers"
    );
    let jobs_only = server
        .get("/api/v1/search?q=e&filter=job&sort=updated_at")
        .await;
    assert_eq!(jobs_only["results"][0]["name"], "etl");

    // `%` is text, not a wildcard: no name holds it.
    let wild = server.get("/api/v1/search?q=%25a%25a%25a%25a%25").await;
    assert_eq!(wild["totalCount"], 0);

    let sources = server.get("/api/v1/sources").await;
    spec.check("/sources", &sources);
    assert_eq!(sources["sources"][0]["name"], "postgres://db:5432");
    assert_eq!(sources["sources"][0]["type"], "POSTGRES");
    let tags = server.get("/api/v1/tags?limit=5").await;
    spec.check("/tags", &tags);
    assert_eq!(
        tags["tags"],
        json!([{"name": "classification:confidential"}, {"name": "pii"}])
    );
    server.stop().await;
}
}

#[test]
fn the_spec_check_catches_a_wrong_shape() {
    let spec = Spec::new();
    let wrong = json!({"name": "j", "latestRuns": "none", "createdAt": "today"});
    let errors = spec.errors("/namespaces/{namespace}/jobs/{job}", &wrong);
    assert_eq!(errors.len(), 2, "{errors:?}");
}

crate::on_both_stores! {
async fn compressed_bodies_are_bounded_once_decompressed(backend: Backend) {
    let server = TestServer::start_on(backend, None, 64 << 10, DEFAULT_TIMEOUT).await;
    // 10 MiB of zeros compress to about 10 KiB: under the limit as sent, far over it inflated.
    let bomb = gzip(&vec![b'0'; 10 << 20]);
    assert!(bomb.len() < 64 << 10);
    let (status, answer) = post(&server, bomb, Some("gzip")).await;
    assert_eq!(status, 413, "{answer}");
    assert!(answer.contains("once decompressed"), "{answer}");
    let (status, _) = post(&server, b"not gzip".to_vec(), Some("gzip")).await;
    assert_eq!(status, 400);
    // The body is every gzip member, as a proxy inflating it sees it: two events in two members
    // are not one event, and bytes after the last member are not ignored.
    let event = dataset_event().to_string();
    let mut two = gzip(event.as_bytes());
    two.extend(gzip(event.as_bytes()));
    let (status, answer) = post(&server, two, Some("gzip")).await;
    assert_eq!(status, 400, "{answer}");
    let mut trailing = gzip(event.as_bytes());
    trailing.extend(b"trailing garbage");
    let (status, answer) = post(&server, trailing, Some("gzip")).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = post(
        &server,
        dataset_event().to_string().into_bytes(),
        Some("br"),
    )
    .await;
    assert_eq!(status, 415, "{answer}");
    assert_eq!(server.stored_events().await, 0);
    server.stop().await;
}
}
