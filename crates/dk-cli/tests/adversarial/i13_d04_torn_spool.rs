//! Issue 13, defect 4 (the spool's part): a full disk left COMPLETE as a torn line, and flush
//! then sent only START and said ✓. A torn tail is an event that was never recorded (its writer
//! got the error): it is cut off, kept in `spool/bad/` with that reason, and said.

use crate::common::context;
use crate::i13_d02_bad_spool::flush_to_a_sink;
use crate::run_bounded_with as bounded;

#[test]
fn a_torn_complete_is_cut_off_and_said_not_passed_over() {
    let ctx = context();
    let spool = ctx.dk_home().join("lineage/spool");
    std::fs::create_dir_all(&spool).unwrap();
    let start = r#"{"eventType":"START","eventTime":"2026-11-01T10:00:00.000Z","run":{"runId":"0193a8f0-0000-7000-8000-0000000000bb"},"job":{"namespace":"default","name":"torn"},"inputs":[],"outputs":[],"producer":"https://datakit.infoblox.dev/dk/0.1.0","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"}"#;
    let file = spool.join("0193a8f0-0000-7000-8000-0000000000bb.jsonl");
    std::fs::write(
        &file,
        format!("{start}\ndk1 310 1a2b3c4d {{\"eventType\":\"COMPLETE\",\"eventTi"),
    )
    .unwrap();

    let (sink, flush) = flush_to_a_sink(&ctx);
    assert!(!flush.stdout.contains('✓'), "{}", flush.transcript());
    assert!(
        flush.stdout.contains("Delivered 1 event")
            && flush.stdout.contains("1 moved to the spool's bad/ folder"),
        "{}",
        flush.stdout
    );
    assert_eq!(
        flush.stderr.matches("the event was never recorded").count(),
        1,
        "{}",
        flush.stderr
    );
    assert_eq!(sink.received().len(), 1);
    // The file keeps its whole events only.
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{start}\n")
    );
    let events = bounded(&ctx, &[], &["lineage", "events"]);
    assert!(
        events.stdout.contains("an append that did not finish"),
        "{}",
        events.stdout
    );
}
