//! Local lineage store: ingestion rate and neighbourhood queries (`cargo bench -p dk-lineage`).
//!
//! A chain of N datasets: job i reads dataset i and writes dataset i + 1, each run a START and a
//! COMPLETE with schema facets. Targets: ingest >= 20,000 events/s; a depth-10 neighbourhood
//! from the middle of a 10,000-dataset chain <= 50 ms.

use std::io::Write;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

use dk_lineage::event::{EventHead, EventType, RunEvent, new_run_id};
use dk_lineage::graph::Direction;
use dk_lineage::naming::identity;
use dk_lineage::run::{DatasetInfo, FieldInfo, JobInfo, RunInfo};
use dk_lineage::store::LineageStore;

const DATASETS: usize = 10_000;

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

fn chain_events() -> Vec<RunEvent> {
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

fn main() -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let events = chain_events();
    // What a flush reads: one JSON line per event.
    let lines: Vec<String> = events
        .iter()
        .map(|event| serde_json::to_string(event).expect("serialise"))
        .collect();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("lineage.db");
    let mut store = LineageStore::open(&path).expect("open the store");
    let started = Instant::now();
    let heads: Vec<EventHead> = lines
        .iter()
        .map(|line| EventHead::parse(line).expect("parse"))
        .collect();
    let ingested = store
        .ingest_json(heads.iter().zip(lines.iter().map(String::as_str)))
        .expect("ingest");
    let elapsed = started.elapsed();
    let rate = events.len() as f64 / elapsed.as_secs_f64();
    writeln!(
        out,
        "ingest {} spooled events (parse and store, one transaction): {:.0} ms = {rate:.0} events/s (target >= 20,000) {}",
        ingested.new,
        elapsed.as_secs_f64() * 1000.0,
        if rate >= 20_000.0 { "PASS" } else { "FAIL" }
    )?;
    let started = Instant::now();
    let again = store.ingest(&events).expect("ingest again");
    writeln!(
        out,
        "re-ingest (all duplicates): {:.0} ms, {} duplicates",
        started.elapsed().as_secs_f64() * 1000.0,
        again.duplicate
    )?;

    let middle = format!("job-{:05}", DATASETS / 2);
    let mut samples = Vec::new();
    let mut nodes = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let store = LineageStore::open(&path).expect("open the store");
        let found = store
            .neighbourhood(&middle, Direction::Both, 10)
            .expect("query");
        nodes = found.first().map_or(0, |n| n.nodes.len());
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    let median = samples[samples.len() / 2];
    writeln!(
        out,
        "neighbourhood of {middle}, depth 10, {DATASETS} datasets: median {median:.2} ms ({nodes} nodes) (target <= 50 ms) {}",
        if median <= 50.0 { "PASS" } else { "FAIL" }
    )
}
