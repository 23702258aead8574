//! The local lineage store: idempotent ingestion, job IO from the latest run, graph walks.

mod common;

use common::run;

use chrono::{Duration, TimeZone, Utc};

use dk_lineage::event::{EventType, new_run_id};
use dk_lineage::graph::{Direction, NodeKind};
use dk_lineage::run::RunInfo;
use dk_lineage::store::{DeliveryState, LineageStore};

#[test]
fn ingestion_is_idempotent() {
    let mut store = LineageStore::in_memory().unwrap();
    let time = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let run = run("ingest", &["raw"], &["events"]);
    let events = vec![
        run.event(EventType::Start, time, None),
        run.event(EventType::Complete, time + Duration::seconds(3), None),
    ];
    let first = store.ingest(&events).unwrap();
    assert_eq!((first.new, first.duplicate), (2, 0));
    let again = store.ingest(&events).unwrap();
    assert_eq!((again.new, again.duplicate), (0, 2));
    assert_eq!(store.events(None).unwrap().len(), 2);
    assert_eq!(store.run_events(run.run_id).unwrap(), events);
}

#[test]
fn graph_walks_up_and_down_by_depth_and_finds_aliases() {
    let mut store = LineageStore::in_memory().unwrap();
    let time = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let steps = [
        run("ingest", &["raw"], &["events"]),
        run("enrich", &["events", "countries"], &["enriched"]),
        run("report", &["enriched"], &["report"]),
    ];
    for (offset, step) in steps.iter().enumerate() {
        let at = time + Duration::minutes(offset as i64);
        store
            .ingest(&[
                step.event(EventType::Start, at, None),
                step.event(EventType::Complete, at + Duration::seconds(1), None),
            ])
            .unwrap();
    }
    let around =
        |name: &str, direction, depth| store.neighbourhood(name, direction, depth).unwrap();
    let all_up = around("enriched", Direction::Upstream, 10);
    assert_eq!(all_up.len(), 1, "found by its DataSet name");
    let names: Vec<&str> = all_up[0]
        .nodes
        .iter()
        .map(|(node, _)| node.label())
        .collect();
    assert_eq!(
        names,
        ["raw", "ingest", "countries", "events", "enrich", "enriched"],
        "farthest upstream first"
    );
    assert_eq!(around("enriched", Direction::Upstream, 1)[0].nodes.len(), 2);
    let report = around("report", Direction::Both, 0);
    let job = report
        .iter()
        .find(|n| n.root.kind == NodeKind::Job)
        .expect("the report job");
    assert_eq!(job.root.last_state.as_deref(), Some("COMPLETE"));
    let down = around("raw", Direction::Downstream, 10);
    assert_eq!(
        down[0].nodes.last().unwrap().1,
        6,
        "raw → ingest → events → enrich → enriched → report → report"
    );
    assert!(store.labels().unwrap().contains(&"enriched".to_owned()));
}

#[test]
fn a_newer_run_replaces_a_job_s_inputs_and_outputs() {
    let mut store = LineageStore::in_memory().unwrap();
    let time = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let old = run("job", &["a"], &["b"]);
    let new = RunInfo {
        run_id: new_run_id(),
        ..run("job", &["c"], &["b"])
    };
    store
        .ingest(&[new.event(EventType::Start, time + Duration::hours(1), None)])
        .unwrap();
    // A late event of an older run does not bring its inputs back.
    store
        .ingest(&[old.event(EventType::Complete, time, None)])
        .unwrap();
    let up = store.neighbourhood("job", Direction::Upstream, 1).unwrap();
    let names: Vec<&str> = up[0].nodes.iter().map(|(n, _)| n.label()).collect();
    assert_eq!(names, ["c", "job"]);
}

#[test]
fn deliveries_are_tracked_per_event_and_target() {
    let mut store = LineageStore::in_memory().unwrap();
    let run = run("job", &["a"], &["b"]);
    let event = run.event(EventType::Start, Utc::now(), None);
    store.ingest(std::slice::from_ref(&event)).unwrap();
    let key = event.key();
    assert!(!store.is_settled(&key, "http://sink").unwrap());
    store
        .record_delivery(
            &key,
            "http://sink",
            DeliveryState::Pending,
            Some("connection refused"),
            3,
        )
        .unwrap();
    store
        .record_delivery(&key, "http://sink", DeliveryState::Delivered, None, 1)
        .unwrap();
    assert!(store.is_settled(&key, "http://sink").unwrap());
    let listed = store.events(Some(run.run_id)).unwrap();
    assert_eq!(listed[0].deliveries[0].attempts, 4);
    assert_eq!(listed[0].deliveries[0].state, DeliveryState::Delivered);
}

/// A pipeline's event file (dbt-ol's file transport) is recorded like dk's own events: spooled,
/// stored with facets dk does not model kept as written, duplicates once; a line that is no
/// event is a warning naming the line, never an error, and a file that is not there holds none.
#[test]
fn a_pipelines_event_file_is_recorded_line_by_line_and_bad_lines_are_warnings() {
    use dk_lineage::emit::{LineagePaths, Recorder};
    let home = tempfile::tempdir().unwrap();
    let paths = LineagePaths::under(home.path());
    let time = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
    let child = run("shop.stg_orders", &["raw"], &["stg"]);
    let mut start = serde_json::to_value(child.event(EventType::Start, time, None)).unwrap();
    start["outputs"][0]["outputFacets"] = serde_json::json!({"outputStatistics": {"rowCount": 3}});
    let complete =
        serde_json::to_string(&child.event(EventType::Complete, time + Duration::seconds(1), None))
            .unwrap();
    let file = home.path().join("events.jsonl");
    std::fs::write(
        &file,
        format!(
            "{start}\nnot json\n\n{{\"eventType\":\"START\"}}\n{complete}\n{complete}\n{}",
            "{\"truncated\": "
        ),
    )
    .unwrap();
    let mut recorder = Recorder::open(&paths);
    let ingested = recorder.record_file(&file).unwrap();
    assert_eq!(ingested.events, 3, "{:?}", ingested.warnings);
    let warned: Vec<&str> = ingested
        .warnings
        .iter()
        .map(|w| w.split(": not").next().unwrap())
        .collect();
    let at = |line: usize| format!("{}:{line}", file.display());
    assert_eq!(warned, [at(2), at(4), at(7)], "{:?}", ingested.warnings);
    let store = LineageStore::open(&paths.store).unwrap();
    let stored = store.events(Some(child.run_id)).unwrap();
    assert_eq!(stored.len(), 2, "the repeated COMPLETE is stored once");
    assert_eq!(
        stored[0].event["outputs"][0]["outputFacets"],
        start["outputs"][0]["outputFacets"]
    );
    let spooled = dk_lineage::spool::Spool::new(&paths.spool).scan().unwrap();
    assert_eq!(spooled.runs.len(), 1);

    let missing = recorder
        .record_file(&home.path().join("none.jsonl"))
        .unwrap();
    assert_eq!((missing.events, missing.warnings.len()), (0, 0));
}
