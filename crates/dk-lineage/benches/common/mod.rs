//! The benchmarks' lineage: a chain of datasets where job i reads dataset i and writes dataset
//! i + 1, each run a START and a COMPLETE with schema facets, as dk emits them.

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use dk_lineage::event::{EventType, RunEvent, new_run_id};
use dk_lineage::naming::identity;
use dk_lineage::run::{DatasetInfo, FieldInfo, JobInfo, RunInfo};

pub const DATASETS: usize = 10_000;

fn dataset(index: usize) -> DatasetInfo {
    let name = format!("dataset-{index:05}");
    DatasetInfo {
        dk_name: name.clone(),
        dk_namespace: "default".into(),
        identity: identity(
            "postgres",
            "warehouse",
            json!({"host": "db", "port": 5432, "database": "analytics"})
                .as_object()
                .unwrap(),
            &format!("public.{}", name.replace('-', "_")),
        ),
        store: "warehouse".into(),
        store_uri: "postgresql://db:5432/analytics".into(),
        fields: ["id", "email", "country", "amount"]
            .iter()
            .map(|field| FieldInfo {
                name: (*field).into(),
                field_type: "string".into(),
                description: None,
                pii: *field == "email",
                sources: Vec::new(),
            })
            .collect(),
        classification: Some("confidential".into()),
        owner: Some("data-team".into()),
        tags: Vec::new(),
    }
}

pub fn chain_events() -> Vec<RunEvent> {
    let start = Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap();
    (0..DATASETS - 1)
        .flat_map(|index| {
            let run = RunInfo {
                run_id: new_run_id(),
                job: JobInfo {
                    namespace: "default".into(),
                    name: format!("job-{index:05}"),
                    description: None,
                    owner: Some("data-team".into()),
                    streaming: false,
                    source_code: None,
                    language: "python".into(),
                },
                inputs: vec![dataset(index)],
                outputs: vec![dataset(index + 1)],
                parent: None,
                nominal_time: None,
            };
            let time = start + Duration::seconds(index as i64);
            [
                run.event(EventType::Start, time, None),
                run.event(
                    EventType::Complete,
                    time + Duration::milliseconds(500),
                    None,
                ),
            ]
        })
        .collect()
}
