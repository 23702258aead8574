//! `dk lineage serve` over loopback (`cargo bench -p dk-lineage --bench server`).
//!
//! Ingestion: 50,000 events POSTed by 8 clients, one connection each, each waiting for its answer
//! before the next (a bounded client); events/s and the p99 latency of a POST (targets: at least
//! 20,000 events/s, p99 under 20 ms), when all of them are queryable (a read through the server
//! waits for the indexer to catch up with what the server acknowledged), and that every
//! acknowledged event is stored. Query:
//! `GET /api/v1/lineage?depth=20` from the middle of a 10,000-dataset chain (target < 100 ms).
//! With `DK_BENCH_LINEAGE_STORE=postgresql://...` (an empty database), the server keeps its store
//! there instead of a SQLite file.
//!
//! The server runs on a runtime of its own, built as `dk lineage serve` builds it (its own
//! process in production); the clients are lean HTTP/1.1 keep-alive connections (hyper's, as
//! `wrk` is in C) on another runtime, so what the bench measures is the server, not a client
//! library. The CPU time of the ingest until all of it is queryable, per event, is reported for
//! the server's threads and the clients' apart.

mod common;

use std::io::Write;
use std::pin::Pin;
use std::time::{Duration, Instant};

use hyper::body::{Body, Bytes};
use hyper_util::rt::TokioIo;
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
/// The name of the clients' threads, told apart from the server's in the CPU figures.
const CLIENT_THREAD: &str = "bench-client";
/// The unit of CPU times in `/proc` (Linux's ABI: 100 whatever the kernel's own tick).
const USER_HZ: f64 = 100.0;

fn percentile(samples: &mut [Duration], fraction: f64) -> Duration {
    samples.sort_unstable();
    samples[((samples.len() as f64 * fraction) as usize).min(samples.len() - 1)]
}

/// CPU seconds (user + system) this process's threads have used, the clients' and the rest's.
fn cpu_seconds() -> (f64, f64) {
    let (mut clients, mut rest) = (0.0, 0.0);
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (name) state ...`: the name may hold spaces, so fields count from its `)`.
        let Some((name, fields)) = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'))
        else {
            continue;
        };
        let fields: Vec<&str> = fields.split_whitespace().collect();
        let used: f64 = fields[11..13]
            .iter()
            .map(|field| field.parse::<f64>().unwrap_or(0.0))
            .sum::<f64>()
            / USER_HZ;
        if name.starts_with(CLIENT_THREAD) {
            clients += used;
        } else {
            rest += used;
        }
    }
    (clients, rest)
}

/// Starts the server on its own runtime, as `dk lineage serve` does.
fn start(
    server: &tokio::runtime::Runtime,
    store: Location,
) -> std::io::Result<(
    std::net::SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
)> {
    let listener = server.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let address = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let config = ServerConfig {
        store,
        token: None,
        max_body: 1 << 21,
        timeout: DEFAULT_TIMEOUT,
    };
    let task = server.spawn(async move {
        serve(listener, config, async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
    });
    Ok((address, stop, task))
}

/// One client: a keep-alive connection that POSTs `bodies` one at a time, each after the answer
/// to the one before, and the latency of each.
async fn post_all(address: std::net::SocketAddr, bodies: Vec<String>) -> Vec<Duration> {
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(connection);
    let host = address.to_string();
    let mut latencies = Vec::with_capacity(bodies.len());
    for body in bodies {
        let request = hyper::Request::post("/api/v1/lineage")
            .header(hyper::header::HOST, &host)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(body)
            .expect("request");
        let sent = Instant::now();
        let response = sender.send_request(request).await.expect("post");
        assert_eq!(response.status(), 201);
        // The whole answer is read before the next request.
        let mut answer = response.into_body();
        while let Some(frame) =
            std::future::poll_fn(|cx| Pin::new(&mut answer).poll_frame(cx)).await
        {
            let _: hyper::body::Frame<Bytes> = frame.expect("answer");
        }
        latencies.push(sent.elapsed());
    }
    latencies
}

fn main() -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    let server = dk_lineage::server::runtime()?;
    let clients = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(CLIENT_THREAD)
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
    let (address, stop, task) = start(&server, store.clone())?;
    let per_client = EVENTS / CLIENTS;
    let mut shares: Vec<Vec<String>> = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        let rest = bodies.split_off(per_client);
        shares.push(std::mem::replace(&mut bodies, rest));
    }
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let mut latencies = clients.block_on(async {
        let posting: Vec<_> = shares
            .into_iter()
            .map(|mine| tokio::spawn(post_all(address, mine)))
            .collect();
        let mut latencies = Vec::with_capacity(EVENTS);
        for client in posting {
            latencies.extend(client.await.expect("client"));
        }
        latencies
    });
    let ingest = started.elapsed();
    // Acknowledged is committed to the inbox; a read through the server waits until the
    // indexer has caught up with all of it, so its answer says when everything is queryable.
    let queryable = clients.block_on(async {
        reqwest::get(format!("http://{address}/api/v1/namespaces"))
            .await
            .expect("get")
            .error_for_status()
            .expect("namespaces");
        started.elapsed()
    });
    let cpu_after = cpu_seconds();
    let query = clients.block_on(async {
        let middle = format!(
            "http://{address}/api/v1/lineage?nodeId=job:default:job-{:05}&depth=20",
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
        query
    });
    let _ = stop.send(());
    server.block_on(task).expect("server task");
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
    let per_event = |seconds: f64| seconds * 1e6 / EVENTS as f64;
    writeln!(
        out,
        "lineage server ingest: {} events, one per POST, from {CLIENTS} clients in {:.2} s = {rate:.0} events/s; POST p50 {:.2} ms, p99 {:.2} ms ({stored} stored; target >= 20,000/s, p99 < 20 ms) {}",
        latencies.len(),
        ingest.as_secs_f64(),
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        if passed { "PASS" } else { "FAIL" },
    )?;
    writeln!(
        out,
        "  all of them queryable (indexed) after {:.2} s = {:.0} events/s",
        queryable.as_secs_f64(),
        EVENTS as f64 / queryable.as_secs_f64(),
    )?;
    writeln!(
        out,
        "  CPU per event: server {:.0} us, clients {:.0} us ({} cores, load average {})",
        per_event(cpu_after.1 - cpu_before.1),
        per_event(cpu_after.0 - cpu_before.0),
        std::thread::available_parallelism().map_or(1, usize::from),
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|load| load.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "?".into()),
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
