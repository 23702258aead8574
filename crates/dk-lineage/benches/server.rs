//! `dk lineage serve` over loopback (`cargo bench -p dk-lineage --bench server`).
//!
//! Ingestion: 50,000 events POSTed by 8 clients, one connection each, each waiting for its answer
//! before the next (a bounded client); events/s and the p99 latency of a POST (targets: at least
//! 20,000 events/s, p99 under 20 ms), and that every acknowledged event is stored. Query:
//! `GET /api/v1/lineage?depth=20` from the middle of a 10,000-dataset chain (target < 100 ms).
//! With `DK_BENCH_LINEAGE_STORE=postgresql://...` (an empty database), the server keeps its store
//! there instead of a SQLite file.

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use dk_lineage::backend::Location;
use dk_lineage::pg::PgUrl;
use dk_lineage::server::{DEFAULT_TIMEOUT, ServerConfig, serve};

use common::{DATASETS, chain_events};

// The allocator of `dk`, which serves in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENTS: usize = 50_000;
const CLIENTS: usize = 8;

fn percentile(samples: &mut [Duration], fraction: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 * fraction) as usize).min(samples.len() - 1)]
}

async fn start(store: Location) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServerConfig {
        store,
        token: None,
        max_body: 1 << 21,
        timeout: DEFAULT_TIMEOUT,
    };
    let task = tokio::spawn(async move {
        serve(listener, config, async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
    });
    (url, stop, task)
}

fn main() -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    // The chain has 19,998 events; more runs of the same jobs make up 50,000.
    let chain: Vec<String> = chain_events()
        .iter()
        .map(|event| serde_json::to_string(event).expect("serialise"))
        .collect();
    let mut bodies = chain.clone();
    while bodies.len() < EVENTS {
        bodies.extend(
            chain_events()
                .iter()
                .take(EVENTS - bodies.len())
                .map(|e| serde_json::to_string(e).expect("serialise")),
        );
    }
    let store = match std::env::var("DK_BENCH_LINEAGE_STORE") {
        Ok(url) => Location::Postgres(Box::new(PgUrl::parse(&url).expect("a postgresql:// URL"))),
        Err(_) => Location::Sqlite(dir.path().join("lineage.db")),
    };
    let (ingest, mut latencies, query) = runtime.block_on(async {
        let (url, stop, task) = start(store.clone()).await;
        let started = Instant::now();
        let per_client = EVENTS / CLIENTS;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let url = format!("{url}/api/v1/lineage");
                let mine: Vec<String> =
                    bodies[client * per_client..(client + 1) * per_client].to_vec();
                tokio::spawn(async move {
                    let http = reqwest::Client::builder()
                        .pool_max_idle_per_host(1)
                        .build()
                        .expect("client");
                    let mut latencies = Vec::with_capacity(mine.len());
                    for body in mine {
                        let sent = Instant::now();
                        let response = http
                            .post(&url)
                            .header("content-type", "application/json")
                            .body(body)
                            .send()
                            .await
                            .expect("post");
                        assert_eq!(response.status(), 201);
                        latencies.push(sent.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(EVENTS);
        for client in clients {
            latencies.extend(client.await.expect("client"));
        }
        let ingest = started.elapsed();
        let middle = format!(
            "{url}/api/v1/lineage?nodeId=job:default:job-{:05}&depth=20",
            DATASETS / 2
        );
        let http = reqwest::Client::new();
        let mut query = Vec::new();
        for _ in 0..20 {
            let sent = Instant::now();
            let graph: serde_json::Value = http
                .get(&middle)
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            query.push(sent.elapsed());
            assert!(
                graph["graph"]
                    .as_array()
                    .is_some_and(|nodes| nodes.len() > 40)
            );
        }
        let _ = stop.send(());
        task.await.expect("server task");
        (ingest, latencies, query)
    });
    let stored = dk_lineage::backend::open(&store)
        .expect("store")
        .event_count()
        .expect("events");
    let rate = latencies.len() as f64 / ingest.as_secs_f64();
    let p99 = percentile(&mut latencies, 0.99);
    let p50 = percentile(&mut latencies, 0.50);
    // Re-sent chains are the same events again for the store only when their keys match: each
    // `chain_events()` is new runs, so every POST is a new event.
    assert_eq!(stored, EVENTS, "every acknowledged event is stored");
    let passed = rate >= 20_000.0 && p99 < Duration::from_millis(20);
    writeln!(
        out,
        "lineage server ingest: {} events, one per POST, from {CLIENTS} clients in {:.2} s = {rate:.0} events/s; POST p50 {:.2} ms, p99 {:.2} ms ({stored} stored; target >= 20,000/s, p99 < 20 ms) {}",
        latencies.len(),
        ingest.as_secs_f64(),
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        if passed { "PASS" } else { "FAIL" },
    )?;
    let mut query = query;
    let median = percentile(&mut query, 0.5);
    writeln!(
        out,
        "GET /api/v1/lineage depth=20 over {DATASETS} datasets: median {:.1} ms (target < 100 ms) {}",
        median.as_secs_f64() * 1000.0,
        if median < Duration::from_millis(100) {
            "PASS"
        } else {
            "FAIL"
        }
    )
}
