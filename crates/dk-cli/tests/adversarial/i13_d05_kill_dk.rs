//! Issue 13, defect 5: `kill -9` of `dk run` left the pipeline running as an orphan, the run at
//! START for good and its private files (the context with a plaintext DSN) behind.

use std::path::Path;
use std::time::{Duration, Instant};

use dk_test::openlineage::OpenLineageValidator;
use serde_json::Value;

use crate::common::{context, run_ok};

/// Whether process `pid` still runs (a zombie does not: it only waits to be reaped).
fn running(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn the_pipeline_dies_with_dk_and_the_next_command_aborts_the_run_and_removes_its_files() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    ctx.write(
        "demo/main.py",
        "import os, pathlib, time\n\
         pathlib.Path(os.environ['PID_FILE']).write_text(str(os.getpid()))\n\
         time.sleep(120)\n",
    );
    let pid_file = ctx.work().join("pipeline.pid");
    let mut dk = ctx
        .dk_process()
        .args(["run", "demo", "--env"])
        .arg(format!("PID_FILE={}", pid_file.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start dk");
    wait_for("the pipeline started", Duration::from_secs(60), || {
        read_pid(&pid_file).is_some()
    });
    let pipeline = read_pid(&pid_file).unwrap();
    let runs = ctx.dk_home().join("runs");
    let run_dirs: Vec<_> = std::fs::read_dir(&runs).unwrap().flatten().collect();
    assert_eq!(run_dirs.len(), 1, "one private run folder while it runs");
    assert!(run_dirs[0].path().join("context.json").is_file());

    dk.kill().expect("SIGKILL dk");
    dk.wait().unwrap();
    wait_for("the pipeline died with dk", Duration::from_secs(10), || {
        !running(pipeline)
    });

    // The next command ends the run: an ABORT saying why, valid OpenLineage, and no files.
    let listed = run_ok(&ctx, &["lineage", "events", "-o", "json"], 0);
    assert!(
        listed.stderr.contains("outlived its dk"),
        "{}",
        listed.transcript()
    );
    let events: Vec<Value> = listed.json()["events"].as_array().unwrap().clone();
    let validator = OpenLineageValidator::new();
    for entry in &events {
        validator.assert_valid(&entry["event"]);
    }
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["START", "ABORT"]);
    let message = &events[1]["event"]["run"]["facets"]["errorMessage"]["message"];
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("ended before the run did")),
        "{message}"
    );
    assert_eq!(
        std::fs::read_dir(&runs).unwrap().count(),
        0,
        "run folder removed"
    );

    // Once: a second command finds nothing more to end.
    let again = run_ok(&ctx, &["lineage", "events", "-o", "json"], 0);
    assert!(!again.stderr.contains("outlived"), "{}", again.transcript());
    assert_eq!(again.json()["events"].as_array().map(Vec::len), Some(2));
}

#[test]
fn lint_does_not_recover_and_a_live_run_is_left_alone() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    // A run folder owned by this (live) test process: another dk's run in progress.
    let live = ctx
        .dk_home()
        .join("runs/0190a000-0000-7000-8000-000000000001");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::write(
        live.join("owner.json"),
        format!(r#"{{"dkPid":{},"dkStart":null}}"#, std::process::id()),
    )
    .unwrap();
    // A run folder whose dk is gone, without lineage.
    let dead = ctx
        .dk_home()
        .join("runs/0190a000-0000-7000-8000-000000000002");
    std::fs::create_dir_all(&dead).unwrap();
    std::fs::write(
        dead.join("owner.json"),
        r#"{"dkPid":999999999,"dkStart":null}"#,
    )
    .unwrap();
    std::fs::write(dead.join("context.json"), "{}").unwrap();

    run_ok(&ctx, &["lint", "demo"], 0);
    assert!(dead.exists(), "lint recovers nothing");
    run_ok(&ctx, &["lineage", "events"], 0);
    assert!(!dead.exists(), "the dead run's files are removed");
    assert!(live.join("owner.json").exists(), "a live run is left alone");
}

#[test]
fn a_build_killed_mid_write_leaves_a_temporary_that_the_next_build_sweeps() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    run_ok(&ctx, &["build", "demo", "--tag", "v0.1.0"], 0);
    let blobs = ctx.dk_home().join("registry/blobs/sha256");
    // What a killed build leaves: its half-written blob, named after its (gone) pid.
    let mut writer = std::process::Command::new("true").spawn().unwrap();
    let gone = writer.id();
    writer.wait().unwrap();
    let stale = blobs.join(format!(".incoming.{gone}.0.tmp"));
    std::fs::write(&stale, vec![0u8; 1 << 20]).unwrap();
    // A build still writing (this process stands for it) keeps its temporary.
    let live = blobs.join(format!(".incoming.{}.0.tmp", std::process::id()));
    std::fs::write(&live, b"in progress").unwrap();

    run_ok(&ctx, &["build", "demo", "--tag", "v0.2.0"], 0);
    assert!(!stale.exists(), "the dead build's temporary is swept");
    assert!(live.exists(), "a live build's temporary stays");
}
