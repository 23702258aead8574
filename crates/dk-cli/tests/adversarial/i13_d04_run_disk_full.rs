//! Issue 13, defect 4 (the run's part): the pipeline ran and wrote its output, then the disk
//! filled up before its COMPLETE was recorded, and dk said "did not run" and exited 1. It now
//! says the pipeline ran, with its exit code, and that lineage could not be recorded; dk exits 3.

use crate::common::{context, run_ok};
use crate::run_bounded;

#[test]
fn a_run_whose_end_cannot_be_recorded_says_it_ran_and_exits_3() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    let lineage = ctx.dk_home().join("lineage");
    let Some(_tmpfs) = crate::Tmpfs::mount(&lineage, "4m") else {
        return;
    };
    // The pipeline fills the disk dk's lineage is on, after START was recorded.
    ctx.write(
        "demo/main.py",
        format!(
            "try:\n    with open({:?}, 'wb') as f:\n        while True:\n            f.write(b'x' * 4096)\n            f.flush()\nexcept OSError:\n    pass\nprint('pipeline done')\n",
            lineage.join("fill").display().to_string()
        ),
    );
    let run = run_bounded(&ctx, &["run", "demo"]);
    assert_eq!(run.code, 3, "{}", run.transcript());
    assert!(
        run.stdout
            .contains("ran (exit 0); lineage could not be recorded (disk full)"),
        "{}",
        run.transcript()
    );
    assert!(
        !run.transcript().contains("did not run"),
        "{}",
        run.transcript()
    );

    // Room again for the next run's START; its pipeline fills the disk anew.
    std::fs::remove_file(lineage.join("fill")).unwrap();
    let json = run_bounded(&ctx, &["run", "demo", "-o", "json"]);
    assert_eq!(json.code, 3, "{}", json.transcript());
    let report = &json.json()["runs"][0];
    assert_eq!(report["exitCode"], 0, "{report:#}");
    assert_eq!(
        report["lineageError"],
        "ran (exit 0); lineage could not be recorded (disk full)"
    );
}
