//! Issue 13, attacker review: events pending for a backend that is gone (or was the wrong one)
//! could be neither dropped nor sent elsewhere: they stayed pending for good, and every flush
//! against it said so. `dk lineage flush --lineage-endpoint NEW --drop-pending` sends what is
//! spooled to NEW and gives up the old backend's queue.

use dk_test::sink::{HttpSink, closed_port};

use crate::common::{context, run_ok};
use crate::run_bounded_with as bounded;

#[test]
fn pending_events_of_a_gone_backend_are_dropped_and_sent_to_the_new_one() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    run_ok(&ctx, &["config", "set", "lineage.delivery", "sync"], 0);
    let gone = format!("http://127.0.0.1:{}", closed_port());
    let old = [("OPENLINEAGE_URL", gone.as_str())];
    let run = bounded(
        &ctx,
        &old,
        &["run", "demo", "--config", "lineage.timeout=200ms"],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    let stuck = bounded(&ctx, &old, &["lineage", "flush", "-o", "json"]);
    assert_eq!(stuck.code, 3, "{}", stuck.transcript());
    assert_eq!(stuck.json()["pending"], 2);

    let sink = HttpSink::start();
    let url = sink.url();
    let moved = bounded(
        &ctx,
        &[],
        &[
            "lineage",
            "flush",
            "--lineage-endpoint",
            &url,
            "--drop-pending",
            "-o",
            "json",
        ],
    );
    assert_eq!(moved.code, 0, "{}", moved.transcript());
    let report = moved.json();
    assert_eq!(
        (report["dropped"].clone(), report["delivered"].clone()),
        (2.into(), 2.into())
    );
    assert_eq!(sink.received().len(), 2);

    let events = bounded(&ctx, &[], &["lineage", "events", "-o", "json"]).json();
    for event in events["events"].as_array().unwrap() {
        let states: Vec<(&str, &str)> = event["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["target"].as_str().unwrap(), d["state"].as_str().unwrap()))
            .collect();
        assert!(
            states.contains(&(&format!("{url}/api/v1/lineage")[..], "delivered")),
            "{states:?}"
        );
        assert!(
            states
                .iter()
                .any(|(target, state)| target.starts_with(&gone) && *state == "rejected"),
            "{states:?}"
        );
    }
    // The old backend has nothing left to wait for.
    let again = bounded(&ctx, &old, &["lineage", "flush", "-o", "json"]);
    assert_eq!(again.code, 0, "{}", again.transcript());
    assert_eq!(again.json()["pending"], 0);
}
