//! Local lineage store: ingestion rate and neighbourhood queries (`cargo bench -p dk-lineage`).
//!
//! A chain of N datasets: job i reads dataset i and writes dataset i + 1, each run a START and a
//! COMPLETE with schema facets. Targets: ingest >= 20,000 events/s; a depth-10 neighbourhood
//! from the middle of a 10,000-dataset chain <= 50 ms.

mod common;

use std::io::Write;
use std::time::Instant;

use dk_lineage::catalog::{EventQuery, SearchQuery};
use dk_lineage::event::EventHead;
use dk_lineage::graph::Direction;
use dk_lineage::store::LineageStore;

use common::{DATASETS, chain_events};

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
    )?;
    marquez_reads(
        &mut out,
        &LineageStore::open(&path).expect("open the store"),
    )
}

/// The median of 20 runs of `read`, in milliseconds.
fn median_ms(mut read: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..20)
        .map(|_| {
            let started = Instant::now();
            read();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// One read of the store, its result dropped.
type Read<'a> = Box<dyn Fn() + 'a>;

/// The store reads behind the Marquez endpoints of `dk lineage serve`, on the chain.
fn marquez_reads(out: &mut impl Write, store: &LineageStore) -> std::io::Result<()> {
    let job = format!("job-{:05}", DATASETS / 2);
    let dataset = format!("public.dataset_{:05}", DATASETS / 2);
    let source = "postgres://db:5432";
    let page = EventQuery {
        limit: 100,
        ..EventQuery::default()
    };
    let search = SearchQuery {
        pattern: "05000".into(),
        limit: 100,
        ..SearchQuery::default()
    };
    let reads: [(&str, Read); 8] = [
        (
            "job facets",
            Box::new(|| drop(store.job_facets("default", &job))),
        ),
        (
            "job runs",
            Box::new(|| drop(store.job_runs("default", &job, 100, 0))),
        ),
        (
            "dataset facets",
            Box::new(|| drop(store.dataset_facets(source, &dataset))),
        ),
        (
            "dataset versions",
            Box::new(|| drop(store.dataset_versions(source, &dataset, 100, 0))),
        ),
        (
            "events, newest 100",
            Box::new(|| drop(store.events_by_time(&page))),
        ),
        ("search", Box::new(|| drop(store.search(&search)))),
        ("tags", Box::new(|| drop(store.tags(100, 0)))),
        ("sources", Box::new(|| drop(store.sources(100, 0)))),
    ];
    for (what, read) in reads {
        writeln!(out, "{what}: median {:.2} ms", median_ms(read))?;
    }
    Ok(())
}
