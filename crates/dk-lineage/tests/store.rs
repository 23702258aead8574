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
