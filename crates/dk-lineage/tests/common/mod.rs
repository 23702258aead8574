//! Runs for the lineage tests: jobs reading and writing file datasets.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use serde_json::json;

pub mod pg;
pub mod server;

use dk_lineage::event::new_run_id;
use dk_lineage::naming::identity;
use dk_lineage::run::{DatasetInfo, JobInfo, RunInfo};

pub fn dataset(name: &str) -> DatasetInfo {
    DatasetInfo {
        dk_name: name.into(),
        dk_namespace: "default".into(),
        identity: identity(
            "file",
            "local",
            json!({"path": "/data"}).as_object().unwrap(),
            &format!("{name}.csv"),
        ),
        store: "local".into(),
        store_uri: "file:///data".into(),
        fields: vec![],
        classification: None,
        owner: None,
        tags: vec![],
    }
}

pub fn run(job: &str, inputs: &[&str], outputs: &[&str]) -> RunInfo {
    RunInfo {
        run_id: new_run_id(),
        job: JobInfo {
            namespace: "default".into(),
            name: job.into(),
            description: None,
            owner: None,
            streaming: false,
            source_code: None,
            language: "python".into(),
        },
        inputs: inputs.iter().map(|n| dataset(n)).collect(),
        outputs: outputs.iter().map(|n| dataset(n)).collect(),
        parent: None,
        nominal_time: None,
    }
}

/// A run of `job` as dk emits it: a START and, two seconds later, a COMPLETE.
pub fn events_of(job: &str, inputs: &[&str], outputs: &[&str]) -> Vec<dk_lineage::event::RunEvent> {
    use chrono::TimeZone;
    use dk_lineage::event::EventType;
    let info = run(job, inputs, outputs);
    let time = chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 10, 0, 0)
        .unwrap();
    vec![
        info.event(EventType::Start, time, None),
        info.event(
            EventType::Complete,
            time + chrono::Duration::seconds(2),
            None,
        ),
    ]
}
