//! Defect 10 (lineage and dev stack): a FIFO where dk keeps its own state — a spool file, a pid
//! file, the dev stack's runtime record — blocked dk in `open` forever.

use crate::common::{context, run_ok};
use crate::{fifo, run_bounded};

#[test]
fn a_fifo_in_the_spool_blocks_neither_runs_nor_reads() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    fifo(
        &ctx.dk_home()
            .join("lineage/spool/00000000-0000-7000-8000-000000000000.jsonl"),
    );
    let events = run_bounded(&ctx, &["lineage", "events", "-o", "json"]);
    assert_eq!(events.code, 0, "{}", events.transcript());
    let run = run_bounded(&ctx, &["run", "demo", "-o", "json"]);
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run.json()["runs"][0]["lineage"]["events"], 2);
    let events = run_bounded(&ctx, &["lineage", "events", "-o", "json"]);
    assert_eq!(events.json()["events"].as_array().map(Vec::len), Some(2));
}

#[test]
fn fifos_as_dev_stack_state_block_neither_status_nor_down() {
    let ctx = context();
    std::fs::create_dir_all(ctx.dk_home().join("dev")).unwrap();
    std::fs::write(ctx.dk_home().join("dev/runtime"), "native").unwrap();
    for service in ["lineage", "s3", "kafka"] {
        fifo(&ctx.dk_home().join(format!("dev/pids/{service}.pid")));
    }
    for args in [
        &["dev", "status", "-o", "json"][..],
        &["dev", "down", "-o", "json"],
    ] {
        let result = run_bounded(&ctx, args);
        // status exits 1: the recorded stack is down (issue 13 item 7), which it can tell only
        // because the FIFOs did not block it.
        let expected = if args[1] == "status" { 1 } else { 0 };
        assert_eq!(result.code, expected, "{}", result.transcript());
    }

    // The runtime record itself a FIFO: read as no record, so the default runtime is asked.
    let ctx = context();
    fifo(&ctx.dk_home().join("dev/runtime"));
    let result = run_bounded(&ctx, &["dev", "status", "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(result.json()["services"].is_array(), "{}", result.stdout);
}
