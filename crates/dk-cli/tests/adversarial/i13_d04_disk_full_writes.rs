//! Issue 13, defect 4 (the other writes): with the disk of dk's home full, `dk config set`,
//! `dk build` (the layout and its index) and `dk test` exited 1 or 2, as if the user or the
//! check were at fault. Each now exits 3 and names what it could not write, and nothing is left
//! half-written: the files written before are as they were, with no temporary beside them.

use std::path::{Path, PathBuf};

use crate::common::{Run, context, run_ok};
use crate::run_bounded;

/// Fills the disk at `dir` to its last byte.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("fill")).unwrap();
    while file.write_all(&[0; 4096]).is_ok() {}
    while file.write_all(&[0; 1]).is_ok() {}
}

/// Every file below `dir` with its contents, but the filler.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|name| name == "fill") {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            files.extend(snapshot(&path));
        } else {
            files.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
        }
    }
    files.sort();
    files
}

fn assert_disk_full(run: &Run, what: &str) {
    assert_eq!(run.code, 3, "{}", run.transcript());
    assert!(
        run.stderr.contains("No space left on device") && run.stderr.contains(what),
        "{}",
        run.transcript()
    );
}

#[test]
fn config_build_and_test_on_a_full_disk_exit_3_and_leave_nothing_half_written() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    let home = ctx.dk_home();
    let Some(_disk) = crate::Tmpfs::mount(&home, "2m") else {
        return;
    };
    run_ok(&ctx, &["config", "set", "lineage.delivery", "sync"], 0);
    run_ok(&ctx, &["build", "demo", "--tag", "v0.1.0"], 0);
    let before = snapshot(&home);
    fill(&home);

    let config = run_bounded(&ctx, &["config", "set", "lineage.timeout", "5s"]);
    assert_disk_full(&config, "config.yaml");
    let build = run_bounded(&ctx, &["build", "demo", "--tag", "v0.2.0"]);
    assert_disk_full(&build, "registry");
    let test = run_bounded(&ctx, &["test", "demo"]);
    assert_disk_full(&test, "runs");
    assert_eq!(
        snapshot(&home),
        before,
        "files changed or left behind on a full disk"
    );

    // Room again: the same commands work, with nothing in their way.
    std::fs::remove_file(home.join("fill")).unwrap();
    run_ok(&ctx, &["config", "set", "lineage.timeout", "5s"], 0);
    run_ok(&ctx, &["build", "demo", "--tag", "v0.2.0"], 0);
}
