//! The team server on PostgreSQL (issue 18): replicas sharing one database, schema migrations,
//! and moving a laptop's SQLite store in. On the PostgreSQL of `scripts/test-services`, each
//! test in a database of its own.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::events_of;
use common::pg::TestDb;
use common::server::TestServer;
use dk_lineage::backend::{Lineage, Location};
use dk_lineage::event::RunEvent;
use dk_lineage::pg::PgStore;
use dk_lineage::store::LineageStore;

#[test]
fn migrations_run_once_under_concurrent_starts() {
    let Some(db) = TestDb::create() else { return };
    let results: Vec<Result<Vec<i32>, String>> = std::thread::scope(|scope| {
        let starts: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    PgStore::connect(&db.url)
                        .and_then(|store| store.migrations())
                        .map_err(|err| err.to_string())
                })
            })
            .collect();
        starts.into_iter().map(|s| s.join().unwrap()).collect()
    });
    for result in &results {
        assert_eq!(result.as_deref(), Ok(&[1, 2][..]));
    }
    let applied: i64 = db.with_client(|client| {
        client
            .query_one("SELECT COUNT(*) FROM dk_lineage_migrations", &[])
            .unwrap()
            .get(0)
    });
    assert_eq!(applied, 2);
}

/// A database a dk of schema version 1 made (its indexes, its record) gets version 2 once.
#[test]
fn a_version_1_database_is_upgraded_once() {
    let Some(db) = TestDb::create() else { return };
    drop(PgStore::connect(&db.url).unwrap());
    let indexes = |client: &mut postgres::Client| -> Vec<String> {
        client
            .query(
                "SELECT indexdef FROM pg_indexes
                 WHERE indexname IN ('events_seq_key', 'datasets_by_alias') ORDER BY indexname",
                &[],
            )
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    };
    let upgraded = db.with_client(|client| {
        let upgraded = indexes(client);
        client
            .batch_execute(
                "ALTER TABLE events ADD CONSTRAINT events_seq_key UNIQUE (seq);
                 DROP INDEX datasets_by_alias;
                 CREATE INDEX datasets_by_alias ON datasets (alias);
                 DELETE FROM dk_lineage_migrations WHERE version = 2",
            )
            .unwrap();
        upgraded
    });
    assert_eq!(upgraded.len(), 1, "{upgraded:?}");
    assert!(
        upgraded[0].contains("WHERE (alias IS NOT NULL)"),
        "{upgraded:?}"
    );
    for _ in 0..2 {
        let store = PgStore::connect(&db.url).unwrap();
        assert_eq!(store.migrations().unwrap(), [1, 2]);
        assert_eq!(db.with_client(indexes), upgraded);
    }
}

#[test]
fn a_schema_newer_than_dk_is_refused() {
    let Some(db) = TestDb::create() else { return };
    drop(PgStore::connect(&db.url).unwrap());
    db.with_client(|client| {
        client
            .execute(
                "INSERT INTO dk_lineage_migrations (version) VALUES (99)",
                &[],
            )
            .unwrap()
    });
    let err = PgStore::connect(&db.url).unwrap_err().to_string();
    assert!(
        err.contains("version 99") && err.contains("upgrade dk"),
        "{err}"
    );
}

/// Two replicas behind a load balancer: every event is posted to both at once, by 8 clients.
/// Each is stored once, and both replicas answer with all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_ingest_concurrently_and_lose_and_duplicate_nothing() {
    let Some(db) = TestDb::create() else { return };
    let store = Location::Postgres(Box::new(db.url.clone()));
    let (a, b) = tokio::join!(
        TestServer::replica(store.clone()),
        TestServer::replica(store.clone())
    );
    let urls = [a.url.clone(), b.url.clone()];
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let urls = urls.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for index in 0..20 {
                    for event in events_of(&format!("job-{client}-{index}"), &["in"], &["out"]) {
                        let body = serde_json::to_string(&event).unwrap();
                        let sends = urls.iter().map(|url| {
                            http.post(format!("{url}/api/v1/lineage"))
                                .header("content-type", "application/json")
                                .body(body.clone())
                                .send()
                        });
                        for answer in futures_all(sends).await {
                            assert_eq!(answer.unwrap().status(), 201);
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(60), async {
        for client in clients {
            client.await.unwrap();
        }
    })
    .await
    .expect("bounded in time");
    assert_eq!(a.stored_events().await, 8 * 20 * 2);
    for replica in [&a, &b] {
        let jobs = replica
            .get("/api/v1/namespaces/default/jobs?limit=1000")
            .await;
        assert_eq!(jobs["totalCount"], 8 * 20);
        let states: HashSet<&str> = jobs["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|job| job["latestRun"]["state"].as_str().unwrap())
            .collect();
        assert_eq!(states, HashSet::from(["COMPLETED"]));
        let readers = replica
            .get("/api/v1/lineage?nodeId=dataset:file:/data/in.csv&depth=1")
            .await;
        // The dataset and the 160 jobs reading it.
        assert_eq!(readers["graph"].as_array().unwrap().len(), 1 + 8 * 20);
    }
    a.stop().await;
    b.stop().await;
}

async fn futures_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut handles = Vec::new();
    for future in futures {
        handles.push(future);
    }
    let mut outputs = Vec::new();
    // Started together (both requests are in flight before either is awaited).
    let joined = futures_join_all(handles);
    outputs.extend(joined.await);
    outputs
}

async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in pinned.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}

#[test]
fn migrate_moves_a_store_and_re_running_adds_nothing() {
    let Some(db) = TestDb::create() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut local = LineageStore::open(&dir.path().join("lineage.db")).unwrap();
    let events: Vec<RunEvent> = (0..30)
        .flat_map(|i| {
            events_of(
                &format!("job-{i}"),
                &[&format!("d{i}")],
                &[&format!("d{}", i + 1)],
            )
        })
        .collect();
    local.ingest(&events).unwrap();
    let local_chain = local
        .neighbourhood("job-15", dk_lineage::graph::Direction::Both, 10)
        .unwrap();
    let mut target = PgStore::connect(&db.url).unwrap();
    let mut progress = Vec::new();
    let first =
        dk_lineage::migrate::migrate(&local, &mut target, |done| progress.push(done.events))
            .unwrap();
    assert_eq!((first.events, first.new, first.duplicate), (60, 60, 0));
    assert_eq!(progress, [60]);
    let again = dk_lineage::migrate::migrate(&local, &mut target, |_| {}).unwrap();
    assert_eq!((again.new, again.duplicate), (0, 60));
    assert_eq!(target.event_count().unwrap(), 60);
    let chain =
        Lineage::neighbourhood(&target, "job-15", dk_lineage::graph::Direction::Both, 10).unwrap();
    assert_eq!(chain, local_chain);
}
