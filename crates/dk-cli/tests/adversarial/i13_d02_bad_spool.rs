//! Issue 13, defect 2: one bad spool entry blocked everything. Invalid UTF-8, a directory or a
//! dangling symlink named `*.jsonl` made `dk lineage flush` exit 1 and deliver nothing, and
//! `dk run` said "2 events recorded" while nothing went out. What cannot be read is now moved
//! to `spool/bad/` with a reason, once, and everything else is delivered.

use std::path::Path;

use dk_test::TestContext;
use dk_test::openlineage::OpenLineageValidator;
use dk_test::sink::HttpSink;

use crate::common::{Run, context, run_ok};
use crate::{fifo, run_bounded_with as bounded};

/// `dk lineage flush` to a backend that accepts everything, which ends with exit 0.
pub fn flush_to_a_sink(ctx: &TestContext) -> (HttpSink, Run) {
    let sink = HttpSink::start();
    let url = sink.url();
    let flush = bounded(
        ctx,
        &[("OPENLINEAGE_URL", url.as_str())],
        &["lineage", "flush"],
    );
    assert_eq!(flush.code, 0, "{}", flush.transcript());
    (sink, flush)
}

fn spool(ctx: &TestContext) -> std::path::PathBuf {
    ctx.dk_home().join("lineage/spool")
}

/// A spool file of an earlier run that ended, with a line that is not UTF-8 between its events.
fn earlier_run_with_a_bad_line(dir: &Path) {
    let event = |kind: &str, time: &str| {
        format!(
            r#"{{"eventType":"{kind}","eventTime":"{time}","run":{{"runId":"0193a8f0-0000-7000-8000-0000000000aa"}},"job":{{"namespace":"default","name":"earlier"}},"inputs":[],"outputs":[],"producer":"https://datakit.infoblox.dev/dk/0.1.0","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}}"#
        )
    };
    let mut bytes = event("START", "2026-11-01T10:00:00.000Z").into_bytes();
    bytes.extend(b"\n\xff\xfe\xfd\n");
    bytes.extend(event("COMPLETE", "2026-11-01T10:00:01.000Z").into_bytes());
    bytes.push(b'\n');
    std::fs::write(
        dir.join("0193a8f0-0000-7000-8000-0000000000aa.jsonl"),
        bytes,
    )
    .unwrap();
}

#[test]
fn unreadable_spool_entries_are_quarantined_once_and_everything_else_is_delivered() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    let dir = spool(&ctx);
    std::fs::create_dir_all(dir.join("0193a8f0-0000-7000-8000-000000000001.jsonl")).unwrap();
    std::os::unix::fs::symlink(
        "/nonexistent",
        dir.join("0193a8f0-0000-7000-8000-000000000002.jsonl"),
    )
    .unwrap();
    fifo(&dir.join("0193a8f0-0000-7000-8000-000000000003.jsonl"));
    earlier_run_with_a_bad_line(&dir);

    let sink = HttpSink::start();
    let env = [("OPENLINEAGE_URL", sink.url())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = bounded(&ctx, &env, &["run", "demo", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    let lineage = &run.json()["runs"][0]["lineage"];
    // The run's two events, and the earlier run's two readable ones.
    assert_eq!(lineage["delivered"], 4, "{lineage:#}");
    assert_eq!(lineage["pending"], 0, "{lineage:#}");
    for reason in [
        "a directory, not a file",
        "a symbolic link, not a file",
        "a FIFO, not a file",
        "a line that is not UTF-8",
    ] {
        assert_eq!(
            run.stderr.matches(reason).count(),
            1,
            "warned once of `{reason}`:\n{}",
            run.stderr
        );
    }
    let validator = OpenLineageValidator::new();
    let received = sink.received();
    assert_eq!(received.len(), 4);
    for request in &received {
        validator.assert_valid(&request.json());
    }

    // Nothing left to warn about, nothing pending; the quarantine is listed with its reasons.
    let flush = bounded(&ctx, &env, &["lineage", "flush", "-o", "json"]);
    assert_eq!(flush.code, 0, "{}", flush.transcript());
    let report = flush.json();
    assert_eq!(
        (
            &report["delivered"],
            &report["pending"],
            &report["quarantined"]
        ),
        (&0.into(), &0.into(), &0.into()),
        "{report:#}"
    );
    assert!(!flush.stderr.contains("moved"), "{}", flush.stderr);
    let events = bounded(&ctx, &[], &["lineage", "events", "-o", "json"]);
    let quarantined = events.json()["quarantined"].as_array().unwrap().clone();
    assert_eq!(quarantined.len(), 4, "{quarantined:#?}");
    let text = bounded(&ctx, &[], &["lineage", "events"]);
    assert!(
        text.stdout.contains("a FIFO, not a file"),
        "{}",
        text.stdout
    );
    assert!(dir.join("bad").is_dir());
    assert!(
        !dir.join("0193a8f0-0000-7000-8000-000000000003.jsonl")
            .exists(),
        "the FIFO was moved aside"
    );
}

#[test]
fn flush_with_a_bad_file_delivers_the_rest_and_exits_0() {
    let ctx = context();
    let dir = spool(&ctx);
    std::fs::create_dir_all(&dir).unwrap();
    earlier_run_with_a_bad_line(&dir);
    let (sink, flush) = flush_to_a_sink(&ctx);
    assert!(
        flush
            .stdout
            .contains("Delivered 2 events to http://127.0.0.1:"),
        "{}",
        flush.stdout
    );
    assert!(flush.stdout.contains("0 pending"), "{}", flush.stdout);
    assert!(
        flush.stdout.contains("1 moved to the spool's bad/ folder"),
        "{}",
        flush.stdout
    );
    assert_eq!(sink.received().len(), 2);
}
