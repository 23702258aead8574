//! dk's events validate against the official OpenLineage 2-0-2 schemas, facets included.

use chrono::{TimeZone, Utc};
use serde_json::json;

use dk_lineage::event::{EventType, FieldSource, ParentRun, new_run_id};
use dk_lineage::naming::identity;
use dk_lineage::run::{DatasetInfo, FieldInfo, JobInfo, RunInfo, SourceCode};
use dk_test::openlineage::OpenLineageValidator;

fn field(name: &str, pii: bool, sources: Vec<FieldSource>) -> FieldInfo {
    FieldInfo {
        name: name.into(),
        field_type: "string".into(),
        description: Some(format!("the {name}")),
        pii,
        sources,
    }
}

fn run() -> RunInfo {
    let raw = identity(
        "postgres",
        "warehouse",
        json!({"host": "db", "port": 5432, "database": "shop"})
            .as_object()
            .unwrap(),
        "public.customers",
    );
    let clean = identity(
        "file",
        "local",
        json!({"path": "/srv/demo/data"}).as_object().unwrap(),
        "output/clean.csv",
    );
    RunInfo {
        run_id: new_run_id(),
        job: JobInfo {
            namespace: "default".into(),
            name: "demo".into(),
            description: Some("Pseudonymise customers".into()),
            owner: Some("data-team".into()),
            streaming: false,
            source_code: Some(SourceCode {
                repo_url: "https://example.com/org/repo.git".into(),
                path: Some("packages/demo".into()),
                version: Some("0123456789abcdef0123456789abcdef01234567".into()),
                branch: Some("main".into()),
            }),
            language: "python".into(),
        },
        inputs: vec![DatasetInfo {
            dk_name: "demo-raw".into(),
            dk_namespace: "default".into(),
            identity: raw.clone(),
            store: "warehouse".into(),
            store_uri: "postgres://db:5432/shop".into(),
            fields: vec![field("id", false, vec![]), field("email", true, vec![])],
            classification: Some("confidential".into()),
            owner: Some("data-team".into()),
            tags: vec!["gdpr".into()],
        }],
        outputs: vec![DatasetInfo {
            dk_name: "demo-clean".into(),
            dk_namespace: "default".into(),
            identity: clean,
            store: "local".into(),
            store_uri: "file:///srv/demo/data".into(),
            fields: vec![
                field(
                    "id",
                    false,
                    vec![FieldSource {
                        namespace: raw.namespace.clone(),
                        name: raw.name.clone(),
                        field: "id".into(),
                        masking: None,
                    }],
                ),
                field(
                    "email_hash",
                    false,
                    vec![FieldSource {
                        namespace: raw.namespace.clone(),
                        name: raw.name.clone(),
                        field: "email".into(),
                        masking: Some("hash".into()),
                    }],
                ),
                field(
                    "buyers",
                    false,
                    vec![FieldSource {
                        namespace: raw.namespace,
                        name: raw.name,
                        field: "id".into(),
                        masking: Some("aggregate".into()),
                    }],
                ),
            ],
            classification: Some("confidential".into()),
            owner: None,
            tags: vec![],
        }],
        parent: Some(
            "airflow/dag.task/0192f5c2-1a2b-7c3d-8e4f-000000000001"
                .parse::<ParentRun>()
                .unwrap(),
        ),
        nominal_time: Some(Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()),
    }
}

#[test]
fn every_event_type_validates_with_every_facet() {
    let validator = OpenLineageValidator::new();
    let run = run();
    let time = Utc::now();
    for (event_type, error) in [
        (EventType::Start, None),
        (EventType::Complete, None),
        (EventType::Fail, Some("pipeline exited with code 3")),
        (EventType::Abort, Some("interrupted")),
    ] {
        let event = serde_json::to_value(run.event(event_type, time, error)).unwrap();
        validator.assert_valid(&event);
        assert_eq!(event["eventType"], event_type.as_str());
    }
    let complete = serde_json::to_value(run.event(EventType::Complete, time, None)).unwrap();
    let lineage = &complete["outputs"][0]["facets"]["columnLineage"]["fields"]["email_hash"]["inputFields"]
        [0];
    assert_eq!(lineage["transformations"][0]["masking"], true);
    let pii_tag = complete["inputs"][0]["facets"]["tags"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "pii")
        .unwrap()
        .clone();
    assert_eq!(pii_tag["field"], "email");
}

#[test]
fn the_validator_rejects_what_the_original_got_wrong() {
    let validator = OpenLineageValidator::new();
    let good = serde_json::to_value(run().event(EventType::Start, Utc::now(), None)).unwrap();
    let mut bad_run_id = good.clone();
    bad_run_id["run"]["runId"] = json!("run-abc123");
    assert!(
        !validator.errors(&bad_run_id).is_empty(),
        "a run id that is not a UUID"
    );
    let mut bad_producer = good.clone();
    bad_producer["producer"] = json!("dk cli");
    assert!(
        !validator.errors(&bad_producer).is_empty(),
        "a producer that is not a URI"
    );
    let mut missing_facet_field = good;
    missing_facet_field["job"]["facets"]["jobType"]
        .as_object_mut()
        .unwrap()
        .remove("integration");
    assert!(
        !validator.errors(&missing_facet_field).is_empty(),
        "a facet missing a required field"
    );
}
