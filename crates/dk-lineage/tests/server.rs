//! `dk lineage serve`'s server over loopback: ingestion (idempotent, bounded, authorised,
//! concurrent) and the Marquez-compatible reads.

mod common;

use std::time::Duration;

use proptest::prelude::*;
use serde_json::Value;

use common::events_of;
use common::server::TestServer;
use dk_lineage::deliver::{Deliverer, Outcome, Target};
use dk_lineage::event::MAX_EVENT_DEPTH;
use dk_lineage::event::RunEvent;
use dk_lineage::server::DEFAULT_TIMEOUT;

fn json(event: &RunEvent) -> String {
    serde_json::to_string(event).unwrap()
}

crate::on_both_stores! {
async fn events_from_dk_s_own_client_are_read_back_in_marquez_shapes(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let deliverer = Deliverer::new(Target::new(Some("marquez"), &server.url, None).unwrap());
    let (_deadline, watch) =
        tokio::sync::watch::channel(tokio::time::Instant::now() + Duration::from_secs(10));
    for (job, inputs, outputs) in [
        ("ingest", &["raw"][..], &["events"][..]),
        ("report", &["events"][..], &["summary"][..]),
    ] {
        for event in events_of(job, inputs, outputs) {
            let (outcome, _) = deliverer.send(&json(&event), &watch).await;
            assert_eq!(outcome, Outcome::Delivered);
        }
    }

    let namespaces = server.get("/api/v1/namespaces").await;
    let names: Vec<&str> = namespaces["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["default", "file"]);

    let jobs = server.get("/api/v1/namespaces/default/jobs").await;
    assert_eq!(jobs["totalCount"], 2);
    let report = &jobs["jobs"][1];
    assert_eq!(
        report["id"],
        serde_json::json!({"namespace": "default", "name": "report"})
    );
    assert_eq!(report["type"], "BATCH");
    assert_eq!(report["inputs"][0]["name"], "/data/events.csv");
    assert_eq!(report["latestRun"]["state"], "COMPLETED");
    assert_eq!(report["latestRun"]["durationMs"], 2000);
    let page = server
        .get("/api/v1/namespaces/default/jobs?limit=1&offset=1")
        .await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(page["jobs"][0]["name"], "report");

    let datasets = server.get("/api/v1/namespaces/file/datasets").await;
    assert_eq!(datasets["totalCount"], 3);
    assert_eq!(datasets["datasets"][0]["id"]["namespace"], "file");

    let graph = server
        .get("/api/v1/lineage?nodeId=job:default:report&depth=20")
        .await;
    let nodes = graph["graph"].as_array().unwrap();
    let ids: Vec<&str> = nodes.iter().map(|n| n["id"].as_str().unwrap()).collect();
    for id in [
        "dataset:file:/data/raw.csv",
        "job:default:ingest",
        "dataset:file:/data/events.csv",
        "job:default:report",
        "dataset:file:/data/summary.csv",
    ] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let events = nodes
        .iter()
        .find(|n| n["id"] == "dataset:file:/data/events.csv")
        .unwrap();
    assert_eq!(events["type"], "DATASET");
    assert_eq!(events["inEdges"][0]["origin"], "job:default:ingest");
    assert_eq!(events["outEdges"][0]["destination"], "job:default:report");
    assert_eq!(events["data"]["description"], "events");

    let missing = reqwest::get(format!(
        "{}/api/v1/lineage?nodeId=job:default:nope",
        server.url
    ))
    .await
    .unwrap();
    assert_eq!(missing.status(), 404);
    server.stop().await;
}
}

crate::on_both_stores! {
async fn bodies_over_the_limit_and_non_events_are_refused(backend: Backend) {
    let server = TestServer::start_on(backend, None, 4096, DEFAULT_TIMEOUT).await;
    let big = json(&events_of("big", &["a"], &["b"])[0]).replace(
        "\"facets\":{",
        &format!("\"facets\":{{\"pad\":\"{}\",", "x".repeat(8192)),
    );
    assert_eq!(server.post(big, None).await, 413);
    assert_eq!(server.post("{\"hello\": 1}".into(), None).await, 400);
    assert_eq!(server.post("not json".into(), None).await, 400);
    assert_eq!(server.stored_events().await, 0);
    server.stop().await;
}
}

crate::on_both_stores! {
async fn a_token_is_required_when_set(backend: Backend) {
    let server = TestServer::start_on(backend, Some("s3cret"), 1 << 20, DEFAULT_TIMEOUT).await;
    let event = json(&events_of("secure", &["a"], &["b"])[0]);
    assert_eq!(server.post(event.clone(), None).await, 401);
    assert_eq!(server.post(event.clone(), Some("wrong")).await, 401);
    assert_eq!(server.post(event, Some("s3cret")).await, 201);
    let unauthorised = reqwest::get(format!("{}/api/v1/namespaces", server.url))
        .await
        .unwrap();
    assert_eq!(unauthorised.status(), 401);
    server.stop().await;
}
}

/// An attacker's page POSTed an event to a loopback server with `fetch(url, {mode: "no-cors",
/// body: blob})`: no Content-Type, so no preflight, and no token by default. Browsers name the
/// origin of such requests; other clients do not, and keep working.
#[tokio::test]
async fn a_web_page_of_another_origin_cannot_write() {
    let server = TestServer::start(None, 1 << 20).await;
    let events = events_of("csrf", &["a"], &["b"]);
    let host = server.url.trim_start_matches("http://").to_owned();
    let same_origin = format!("http://{host}");
    let no_content_type = reqwest::Client::new()
        .post(format!("{}/api/v1/lineage", server.url))
        .body(json(&events[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(no_content_type.status(), 415);
    for headers in [
        vec![("origin", "http://evil.test:8000")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site"), ("origin", "null")],
        vec![("origin", "http://127.0.0.1:1")],
    ] {
        let (status, _) = server
            .post_with(json(&events[0]).into_bytes(), &headers)
            .await;
        assert_eq!(status, 403, "{headers:?}");
    }
    assert_eq!(server.stored_events().await, 0);
    let (status, _) = server
        .post_with(
            json(&events[0]).into_bytes(),
            &[("origin", &same_origin), ("sec-fetch-site", "same-origin")],
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(server.post(json(&events[1]), None).await, 201);
    assert_eq!(server.stored_events().await, 2);
    server.stop().await;
}

/// An event dated 9999 became its job's latest run for good: later real runs no longer moved
/// the job's inputs and outputs in the API, the UI or `dk lineage`.
#[tokio::test]
async fn an_event_dated_far_in_the_future_is_refused() {
    let server = TestServer::start(None, 1 << 20).await;
    let events = events_of("future", &["a"], &["b"]);
    let time = serde_json::to_value(&events[0]).unwrap()["eventTime"]
        .as_str()
        .unwrap()
        .to_owned();
    let future = json(&events[0]).replace(&time, "9999-12-31T23:59:59Z");
    let (status, answer) = server.post_with(future.into_bytes(), &[]).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer.contains("ahead of this server's clock"), "{answer}");
    // Within a day's drift is a clock, not an attack.
    let soon = chrono::Utc::now() + chrono::Duration::hours(2);
    let drifted = json(&events[1]).replace(
        &serde_json::to_value(&events[1]).unwrap()["eventTime"]
            .as_str()
            .unwrap()
            .to_owned(),
        &soon.to_rfc3339(),
    );
    assert_eq!(server.post(drifted, None).await, 201);
    assert_eq!(server.stored_events().await, 1);
    server.stop().await;
}

/// Many clients at once (bounded: 8 × 50 events, a 30 s ceiling): every event is stored, once.
/// An event with `extra` as a facet of its run.
fn with_run_facet(job: &str, extra: &str) -> String {
    json(&events_of(job, &["a"], &["b"])[0]).replacen(
        "\"run\":{",
        &format!("\"run\":{{\"facets\":{{\"x\":{extra}}},"),
        1,
    )
}

/// Reads what the server sends until it closes the connection; a bound far above the timeout
/// keeps a server that never closes from hanging the test.
async fn read_until_closed(stream: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("the server kept the connection open")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

crate::on_both_stores! {
async fn only_events_that_can_be_given_back_are_accepted(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let nested = |depth: usize| {
        let mut facet = String::from("1");
        // The facet sits 4 levels deep already: event, run, facets, x.
        for _ in 0..depth - 3 {
            facet = format!("{{\"a\":{facet}}}");
        }
        facet
    };
    for (body, message) in [
        (
            with_run_facet("deep", &nested(126)),
            "nested 126 levels deep",
        ),
        (
            with_run_facet("deeper", &nested(10_000)),
            "nested 10000 levels deep",
        ),
        (with_run_facet("huge", "1e999999"), "number out of range"),
        (
            json(&events_of("when", &["a"], &["b"])[0])
                .replace("2026-11-26T10:00:00.000Z", "yesterday"),
            "eventTime `yesterday` is not an RFC 3339 time",
        ),
    ] {
        let (status, answer) = server.post_answer(body, None).await;
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains(message), "{answer}");
    }
    assert_eq!(server.stored_events().await, 0);

    // At the limit, the event is stored and comes back whole.
    let deepest = with_run_facet("limit", &nested(MAX_EVENT_DEPTH));
    assert_eq!(server.post(deepest.clone(), None).await, 201);
    let stored = server.get("/api/v1/events/lineage").await;
    assert_eq!(stored["totalCount"], 1);
    let sent: Value = serde_json::from_str(&deepest).unwrap();
    assert_eq!(stored["events"][0], sent);
    server.stop().await;
}
}

crate::on_both_stores! {
async fn the_bearer_scheme_is_case_insensitive(backend: Backend) {
    let server = TestServer::start_on(backend, Some("s3cret"), 1 << 20, DEFAULT_TIMEOUT).await;
    for (index, scheme) in ["bearer", "BEARER", "Bearer", "bEaReR"].iter().enumerate() {
        let event = json(&events_of(&format!("job{index}"), &["a"], &["b"])[0]);
        let (status, answer) = server
            .post_answer(event, Some(format!("{scheme} s3cret")))
            .await;
        assert_eq!(status, 201, "{scheme}: {answer}");
    }
    let event = json(&events_of("basic", &["a"], &["b"])[0]);
    let (status, _) = server.post_answer(event, Some("Basic s3cret".into())).await;
    assert_eq!(status, 401);
    server.stop().await;
}
}

#[tokio::test]
async fn idle_and_slow_clients_are_cut_off() {
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start_with(None, 1 << 20, Duration::from_millis(300)).await;

    // Connects and says nothing.
    let mut idle = server.connect().await;
    assert_eq!(read_until_closed(&mut idle).await, "");

    // Sends its request head a header at a time, never finishing it (slowloris).
    let mut slow_head = server.connect().await;
    slow_head
        .write_all(b"POST /api/v1/lineage HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let dribble = async {
        for index in 0..400 {
            let header = format!("X-{index}: y\r\n");
            if slow_head.write_all(header.as_bytes()).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    };
    assert!(dribble.await, "a head that never ends kept the connection");

    // Sends a whole head, then too little of the body.
    let mut slow_body = server.connect().await;
    slow_body
        .write_all(
            b"POST /api/v1/lineage HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"eventType\"",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow_body).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");

    // A kept-alive connection is closed once it has been idle for the timeout.
    let mut kept = server.connect().await;
    kept.write_all(b"GET /api/v1/namespaces HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut kept).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}

crate::on_both_stores! {
/// Group commit answers a POST only once its batch is committed, and a read through the server
/// finds every event acknowledged before it: the moment a client has its 201, its run reads back
/// in the state the event gave it.
async fn concurrent_posts_lose_nothing_and_read_back_once_acknowledged(backend: Backend) {
    let server = TestServer::start_on(backend, None, 1 << 20, DEFAULT_TIMEOUT).await;
    let url = server.url.clone();
    let clients: Vec<_> = (0..8)
        .map(|client| {
            let url = url.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                for index in 0..25 {
                    let job = format!("job-{client}-{index}");
                    let events = events_of(&job, &["in"], &["out"]);
                    for (event, state) in events.iter().zip(["RUNNING", "COMPLETED"]) {
                        let status = http
                            .post(format!("{url}/api/v1/lineage"))
                            .header("content-type", "application/json")
                            .body(json(event))
                            .send()
                            .await
                            .unwrap()
                            .status();
                        assert_eq!(status, 201);
                        let run: Value = http
                            .get(format!("{url}/api/v1/jobs/runs/{}", event.run.run_id))
                            .send()
                            .await
                            .unwrap()
                            .json()
                            .await
                            .unwrap();
                        assert_eq!(run["state"], state, "{job}: {run}");
                    }
                }
            })
        })
        .collect();
    let all = futures_join(clients);
    tokio::time::timeout(Duration::from_secs(30), all)
        .await
        .expect("bounded in time");
    assert_eq!(server.stored_events().await, 8 * 25 * 2);
    server.stop().await;
}
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for handle in handles {
        handle.await.unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Whatever the order and however often events are re-sent, each is stored once.
    #[test]
    fn a_re_sent_event_is_stored_once(sends in proptest::collection::vec(0usize..6, 1..24)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let server = TestServer::start(None, 1 << 20).await;
            let events: Vec<RunEvent> = (0..3).flat_map(|i| events_of(&format!("job-{i}"), &["a"], &["b"])).collect();
            for &index in &sends {
                assert_eq!(server.post(json(&events[index]), None).await, 201);
            }
            let mut distinct = sends.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(server.stored_events().await, distinct.len());
            server.stop().await;
        });
    }
}
