//! Issue 13, defect 3: truncated, emptied or replaced spool files left events pending forever,
//! yet `dk lineage flush` printed "✓ Delivered" and exited 0; lines that could not be parsed were
//! dropped without a word. Flush now counts from the store: delivered, still pending,
//! quarantined, and exits 3 while anything is pending.

use dk_test::TestContext;
use dk_test::sink::{HttpSink, closed_port};

use crate::common::{context, run_ok};
use crate::run_bounded_with as bounded;

/// A run whose two events could not be delivered (the backend down), with its spool file then
/// damaged by `damage`.
fn pending_run_then(ctx: &TestContext, url: &str, damage: impl Fn(&std::path::Path)) {
    run_ok(ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    // No background deliverer: the flushes below are what delivers.
    run_ok(ctx, &["config", "set", "lineage.delivery", "sync"], 0);
    let run = bounded(
        ctx,
        &[("OPENLINEAGE_URL", url)],
        &[
            "run",
            "demo",
            "--config",
            "lineage.timeout=200ms",
            "-o",
            "json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.json()["runs"][0]["lineage"]["pending"], 2);
    let spool = ctx.dk_home().join("lineage/spool");
    let files: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    damage(&files[0]);
}

#[test]
fn an_emptied_truncated_or_replaced_spool_file_is_still_delivered_and_counted() {
    let emptied = |file: &std::path::Path| std::fs::write(file, b"").unwrap();
    let truncated = |file: &std::path::Path| {
        let len = std::fs::metadata(file).unwrap().len();
        std::fs::File::options()
            .write(true)
            .open(file)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
    };
    let replaced = |file: &std::path::Path| std::fs::write(file, b"garbage\n").unwrap();
    type Damage<'a> = &'a dyn Fn(&std::path::Path);
    let damages: [(&str, Damage, u64); 3] = [
        ("emptied", &emptied, 0),
        ("truncated", &truncated, 1),
        ("replaced", &replaced, 1),
    ];
    for (what, damage, quarantined) in damages {
        let ctx = context();
        let port = closed_port();
        let url = format!("http://127.0.0.1:{port}");
        pending_run_then(&ctx, &url, damage);
        let env = [("OPENLINEAGE_URL", url.as_str())];

        // Still down: the flush says so, with the store's count, and exits 3.
        let flush = bounded(&ctx, &env, &["lineage", "flush", "--timeout", "200ms"]);
        assert_eq!(flush.code, 3, "{what}: {}", flush.transcript());
        assert!(!flush.stdout.contains('✓'), "{what}: {}", flush.stdout);
        assert!(
            flush.stdout.contains("2 pending"),
            "{what}: {}",
            flush.stdout
        );
        if quarantined > 0 {
            assert!(
                flush.stdout.contains("1 moved to the spool's bad/ folder"),
                "{what}: {}",
                flush.stdout
            );
            assert_eq!(
                flush.stderr.matches("moved").count(),
                1,
                "{what}: warned once: {}",
                flush.stderr
            );
        }

        let sink = HttpSink::start_on(port);
        let flush = bounded(&ctx, &env, &["lineage", "flush", "-o", "json"]);
        assert_eq!(flush.code, 0, "{what}: {}", flush.transcript());
        let report = flush.json();
        assert_eq!(report["delivered"], 2, "{what}: {report:#}");
        assert_eq!(report["pending"], 0, "{what}: {report:#}");
        assert_eq!(report["quarantined"], 0, "{what}: {report:#}");
        let types: Vec<_> = sink
            .received()
            .iter()
            .map(|r| r.json()["eventType"].clone())
            .collect();
        assert_eq!(types, ["START", "COMPLETE"], "{what}");
        let events = bounded(&ctx, &[], &["lineage", "events", "-o", "json"]);
        let listed = events.json();
        assert_eq!(
            listed["quarantined"].as_array().map(Vec::len),
            Some(quarantined as usize),
            "{what}: {listed:#}"
        );
        for event in listed["events"].as_array().unwrap() {
            assert_eq!(event["deliveries"][0]["state"], "delivered", "{what}");
        }
    }
}

/// `dk lineage events` says why an event is pending.
#[test]
fn events_show_why_an_event_is_pending() {
    let ctx = context();
    let url = format!("http://127.0.0.1:{}", closed_port());
    pending_run_then(&ctx, &url, |_| {});
    let flush = bounded(
        &ctx,
        &[("OPENLINEAGE_URL", url.as_str())],
        &["lineage", "flush", "--timeout", "300ms"],
    );
    assert_eq!(flush.code, 3, "{}", flush.transcript());
    let events = bounded(&ctx, &[], &["lineage", "events"]);
    assert_eq!(events.code, 0, "{}", events.transcript());
    assert!(
        events.stdout.contains("pending (http://127.0.0.1:")
            && events.stdout.contains("Connection refused"),
        "{}",
        events.stdout
    );
}
