//! Issue 13, defect 5 (last part): kill -9 of `dk lineage flush` delivered one event twice.
//! Each delivery is marked as being sent, in the store, before its request goes out: a flush
//! killed at any point re-sends at most the one event it had in flight, and no other.

use std::collections::HashMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use dk_test::sink::{HttpSink, closed_port};

use crate::common::{context, run_ok};
use crate::run_bounded_with as bounded;

#[test]
fn a_killed_flush_resends_only_the_event_in_flight() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    // No background deliverer: the killed flush is the only sender.
    run_ok(&ctx, &["config", "set", "lineage.delivery", "sync"], 0);
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let env = [("OPENLINEAGE_URL", url.as_str())];
    for _ in 0..2 {
        let run = bounded(
            &ctx,
            &env,
            &["run", "demo", "--config", "lineage.timeout=200ms"],
        );
        assert_eq!(run.code, 0, "{}", run.transcript());
    }

    // A backend that takes the first request and never answers; dk is killed meanwhile.
    let backend = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let mut flush = ctx
        .dk_process()
        .env("OPENLINEAGE_URL", &url)
        .args(["lineage", "flush", "--timeout", "60s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    backend.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let in_flight = loop {
        match backend.accept() {
            Ok((connection, _)) => break connection,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(err) => panic!("the flush never sent a request: {err}"),
        }
    };
    flush.kill().unwrap();
    flush.wait().unwrap();
    drop((in_flight, backend));

    let events = bounded(&ctx, &[], &["lineage", "events", "-o", "json"]).json();
    let states: Vec<_> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["deliveries"][0]["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["sending", "pending", "pending", "pending"]);

    let sink = HttpSink::start_on(port);
    let again = bounded(&ctx, &env, &["lineage", "flush", "-o", "json"]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert_eq!(again.json()["delivered"], 4);
    let mut per_event: HashMap<(String, String), usize> = HashMap::new();
    for request in sink.received() {
        let event = request.json();
        *per_event
            .entry((
                event["run"]["runId"].as_str().unwrap().to_owned(),
                event["eventType"].as_str().unwrap().to_owned(),
            ))
            .or_default() += 1;
    }
    assert_eq!(per_event.len(), 4);
    assert!(per_event.values().all(|n| *n == 1), "{per_event:?}");
}
