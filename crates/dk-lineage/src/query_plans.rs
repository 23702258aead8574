//! Every statement the graph walk, the name lookups and the API's listings run, with SQLite's
//! plan for it: none may read a whole table (`SCAN <table>` without an index). The statements
//! are recorded while the real code runs (SQLite's statement trace), so a query added to one of
//! these reads is checked without being listed here.

use std::sync::{Arc, Mutex};

use rusqlite::trace::{TraceEvent, TraceEventCodes};

use crate::catalog::EventQuery;
use crate::graph::{Direction, NodeKind};
use crate::store::LineageStore;

type Read = fn(&LineageStore) -> Result<(), crate::store::StoreError>;

/// The reads, by the command or endpoint that makes them.
const READS: &[(&str, Read)] = &[
    ("dk lineage JOB", |s| {
        s.neighbourhood("load", Direction::Both, 10).map(drop)
    }),
    ("dk lineage DATASET", |s| {
        s.neighbourhood("clean", Direction::Upstream, 10).map(drop)
    }),
    ("dk lineage DATASET-NAME", |s| {
        s.neighbourhood("orders", Direction::Downstream, 10)
            .map(drop)
    }),
    ("dk lineage NAMESPACE/NAME", |s| {
        s.neighbourhood("warehouse/public.orders", Direction::Both, 10)
            .map(drop)
    }),
    ("GET /lineage", |s| {
        s.neighbourhood_of(NodeKind::Job, "etl", "load", Direction::Both, 10)
            .map(drop)
    }),
    ("GET /namespaces", |s| s.namespaces(100, 0).map(drop)),
    ("GET /namespaces/NS", |s| s.namespace("etl").map(drop)),
    ("GET /namespaces/NS/jobs", |s| {
        s.jobs("etl", 100, 0).map(drop)
    }),
    ("GET /namespaces/NS/jobs/JOB", |s| {
        s.job_facets("etl", "load")?;
        s.job("etl", "load").map(drop)
    }),
    ("GET /namespaces/NS/jobs/JOB/runs", |s| {
        s.job_runs("etl", "load", 10, 0).map(drop)
    }),
    ("GET /jobs/runs/ID", |s| {
        s.run_facets(RUN)?;
        s.run(RUN).map(drop)
    }),
    ("GET /namespaces/NS/datasets", |s| {
        s.datasets("warehouse", 100, 0).map(drop)
    }),
    ("GET /namespaces/NS/datasets/DATASET", |s| {
        s.dataset_facets("warehouse", "public.orders")?;
        s.dataset("warehouse", "public.orders").map(drop)
    }),
    ("GET /namespaces/NS/datasets/DATASET/versions", |s| {
        for version in s
            .dataset_versions("warehouse", "public.clean", 10, 0)?
            .items
        {
            s.version_facets("warehouse", "public.clean", &version)?;
        }
        Ok(())
    }),
    ("GET /events/lineage", |s| {
        s.events_by_time(&EventQuery {
            limit: 10,
            ..EventQuery::default()
        })
        .map(drop)
    }),
    ("GET /sources", |s| s.sources(100, 0).map(drop)),
    ("GET /tags", |s| s.tags(100, 0).map(drop)),
];

const RUN: &str = "01a22e4e-0000-7000-8000-000000000001";

fn store() -> LineageStore {
    let mut store = LineageStore::in_memory().unwrap();
    let dataset = |name: &str, alias: &str| {
        serde_json::json!({"namespace": "warehouse", "name": name, "facets": {
            "symlinks": crate::event::symlinks("datakit", alias),
            "tags": {"tags": [{"key": "pii", "value": "true", "field": "email"}]}}})
    };
    let event: crate::event::RunEvent = serde_json::from_value(serde_json::json!({
        "eventType": "COMPLETE", "eventTime": "2026-11-26T10:00:00Z",
        "run": {"runId": RUN}, "job": {"namespace": "etl", "name": "load"},
        "inputs": [dataset("public.orders", "orders")],
        "outputs": [dataset("public.clean", "clean")],
        "producer": "p", "schemaURL": "s",
    }))
    .unwrap();
    store.ingest(&[event]).unwrap();
    store
}

/// A search within one namespace reads that namespace's rows, and one of one kind reads one
/// table: the filters are applied in each branch of the union, not after it.
#[test]
fn a_search_reads_only_the_namespace_and_kind_it_names() {
    let mut store = store();
    let read: Read = |s| {
        s.search(&crate::catalog::SearchQuery {
            pattern: "ord".into(),
            kind: Some(NodeKind::Dataset),
            namespace: Some("warehouse".into()),
            limit: 10,
            ..crate::catalog::SearchQuery::default()
        })
        .map(drop)
    };
    for sql in statements_of(&mut store, "GET /search", read) {
        let plan = plan(&store, &sql);
        assert_eq!(full_scan(&plan), None, "{sql}\n  plan: {plan:?}");
        assert!(
            !plan.iter().any(|step| step.contains(" jobs")),
            "{sql}\n  plan: {plan:?}"
        );
    }
}

/// The distinct statements `run` makes.
fn statements_of(store: &mut LineageStore, read: &str, run: Read) -> Vec<String> {
    let statements = Arc::new(Mutex::new(Vec::<String>::new()));
    let recorded = Arc::clone(&statements);
    store
        .connection
        .trace_v2(
            TraceEventCodes::SQLITE_TRACE_STMT,
            Some(move |event: TraceEvent<'_>| {
                if let TraceEvent::Stmt(statement, _) = event {
                    recorded.lock().unwrap().push(statement.sql().into_owned());
                }
            }),
        )
        .unwrap();
    run(store).unwrap();
    store
        .connection
        .trace_v2(TraceEventCodes::empty(), None::<fn(TraceEvent<'_>)>)
        .unwrap();
    let mut seen = statements.lock().unwrap().clone();
    seen.sort();
    seen.dedup();
    assert!(!seen.is_empty(), "{read} ran no statement");
    seen
}

#[test]
fn no_read_scans_a_whole_table() {
    let mut store = store();
    let mut failures = Vec::new();
    for (read, run) in READS {
        for sql in statements_of(&mut store, read, *run) {
            let plan = plan(&store, &sql);
            if let Some(scan) = full_scan(&plan) {
                failures.push(format!("{read}: `{scan}` in\n  {sql}\n  plan: {plan:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The facets of a job or dataset come from the newest events naming it: those are chosen in
/// an index's order, so that no sorter holds the payload of every event naming it.
#[test]
fn facet_reads_choose_their_events_without_sorting_payloads() {
    let mut store = store();
    let reads: [(&str, Read); 2] = [
        ("GET /namespaces/NS/jobs/JOB", |s| {
            s.job_facets("etl", "load").map(drop)
        }),
        ("GET /namespaces/NS/datasets/DATASET", |s| {
            s.dataset_facets("warehouse", "public.orders").map(drop)
        }),
    ];
    let mut failures = Vec::new();
    for (read, run) in reads {
        for sql in statements_of(&mut store, read, run) {
            let plan = plan(&store, &sql);
            if plan.iter().any(|step| step.contains("TEMP B-TREE")) {
                failures.push(format!("{read}: a sort in\n  {sql}\n  plan: {plan:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn plan(store: &LineageStore, sql: &str) -> Vec<String> {
    let mut statement = store
        .connection
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap();
    // Unbound parameters: the plan is made before any value is known, as in the real reads.
    let unbound = std::iter::repeat_n(rusqlite::types::Null, statement.parameter_count());
    statement
        .query_map(rusqlite::params_from_iter(unbound), |row| {
            row.get::<_, String>(3)
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The step of `plan` that reads a whole table, if any. `SCAN jobs` reads every row;
/// `SCAN jobs USING INDEX ...` reads an index in order, and `SCAN (subquery)`,
/// `SCAN CONSTANT ROW` and `SCAN n` of a `CO-ROUTINE n` / `MATERIALIZE n` read what an inner
/// step produced.
fn full_scan(plan: &[String]) -> Option<&String> {
    let inner: Vec<&str> = plan
        .iter()
        .filter_map(|step| {
            step.strip_prefix("CO-ROUTINE ")
                .or_else(|| step.strip_prefix("MATERIALIZE "))
        })
        .collect();
    plan.iter().find(|step| {
        step.strip_prefix("SCAN ").is_some_and(|rest| {
            !rest.contains(" USING ")
                && !rest.starts_with('(')
                && rest != "CONSTANT ROW"
                && !inner.contains(&rest)
        })
    })
}

#[test]
fn the_check_sees_a_full_scan() {
    let store = store();
    let scans = |sql: &str| full_scan(&plan(&store, sql)).is_some();
    assert!(scans(
        "SELECT * FROM datasets WHERE namespace || '/' || name = ?1"
    ));
    assert!(!scans("SELECT * FROM datasets WHERE name = ?1"));
    assert!(!scans("SELECT * FROM jobs WHERE name = ?1"));
}

#[test]
fn a_store_from_before_the_name_indexes_gets_them_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lineage.db");
    let indexes = |store: &LineageStore| -> Vec<String> {
        let mut statement = store
            .connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%_by_%' ORDER BY name")
            .unwrap();
        statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let store = LineageStore::open(&path).unwrap();
    let current = indexes(&store);
    assert!(
        current.contains(&"datasets_by_alias".to_owned()),
        "{current:?}"
    );
    // What the dk before the name indexes left: its indexes, user_version 1.
    store
        .connection
        .execute_batch(
            "DROP INDEX jobs_by_name; DROP INDEX datasets_by_name; DROP INDEX datasets_by_alias;
             PRAGMA user_version = 1",
        )
        .unwrap();
    drop(store);
    for _ in 0..2 {
        let store = LineageStore::open(&path).unwrap();
        assert_eq!(indexes(&store), current);
        let version: i64 = store
            .connection
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .unwrap();
        assert_eq!(version, 3);
    }
}
