//! Defect 13: `dk dev down` signalled whatever process group a stale pid file named. After a
//! reboot that pid may be another program's.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use crate::common::{context, run_ok};

/// A `sleep` leading its own process group, as a service dk started would.
fn unrelated_process() -> Child {
    Command::new("sleep")
        .arg("300")
        .process_group(0)
        .spawn()
        .expect("start sleep")
}

fn still_running(child: &mut Child) -> bool {
    child.try_wait().expect("wait").is_none()
}

#[test]
fn a_stale_pid_file_naming_another_program_leaves_it_running() {
    let ctx = context();
    let mut recorded = unrelated_process();
    let mut bare = unrelated_process();
    ctx.write(ctx.dk_home().join("dev/runtime"), "native");
    // What dk wrote for its lineage server before a reboot: the pid is the sleep's now, the
    // start time and command line are the old server's.
    ctx.write(
        ctx.dk_home().join("dev/pids/lineage.pid"),
        format!(
            r#"{{"pid":{},"boot":"00000000-0000-0000-0000-000000000000","start_time":12345,"args":["lineage","serve","--port","5000"]}}"#,
            recorded.id()
        ),
    );
    // What dk wrote before it recorded who it started: a bare pid.
    ctx.write(ctx.dk_home().join("dev/pids/s3.pid"), bare.id().to_string());

    let down = run_ok(&ctx, &["dev", "down", "-o", "json"], 0).json();
    assert!(
        still_running(&mut recorded),
        "dk dev down killed pid {}",
        recorded.id()
    );
    assert!(
        still_running(&mut bare),
        "dk dev down killed pid {}",
        bare.id()
    );
    let services = down["services"].as_array().expect("services");
    for (service, pid) in [("lineage", recorded.id()), ("s3", bare.id())] {
        let status = services
            .iter()
            .find(|s| s["service"] == service)
            .expect("the service");
        let detail = status["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(&format!("process {pid}")) && detail.contains("left it running"),
            "{service}: {status}"
        );
    }
    assert!(!ctx.dk_home().join("dev/pids/lineage.pid").exists());
    for mut child in [recorded, bare] {
        child.kill().expect("kill sleep");
        child.wait().expect("reap sleep");
    }
}
