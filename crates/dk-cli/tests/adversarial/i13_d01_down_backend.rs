//! Issue 13, defect 1: with the lineage backend refusing connections, every `dk run` waited its
//! full `lineage.timeout`. Delivery in line now has a short budget; what a backend did not take
//! goes to one detached background deliverer per dk home, which delivers when the backend comes
//! back and never holds dk's pipes. In a pod (`KUBERNETES_SERVICE_HOST`) delivery is synchronous,
//! bounded by `lineage.timeout`. (How long a run takes is measured by `scripts/bench run`, not
//! asserted here.)

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dk_test::TestContext;
use dk_test::sink::{HttpSink, closed_port};

use crate::common::{Run, context, run_ok};
use crate::run_bounded_with as bounded;
use crate::spawn_piped;

/// Runs dk with its output piped and reads it to the end, as a test harness does: this returns
/// only when every process holding dk's pipes has closed them.
fn run_piped(ctx: &TestContext, env: &[(&str, &str)], args: &[&str]) -> Run {
    let child = spawn_piped(ctx, env, args);
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let output = receiver
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            panic!(
                "dk {} (or what it left behind) held its pipes",
                args.join(" ")
            )
        });
    Run::from_output(output.expect("collect dk's output"))
}

/// The pids of the background deliverers running for this dk home.
fn deliverers(dk_home: &Path) -> Vec<u32> {
    let home = dk_home.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|byte| *byte == 0)
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect();
            !zombie && args.iter().any(|a| a == "__deliver") && args.contains(&home)
        })
        .collect()
}

fn run_json(run: &Run) -> serde_json::Value {
    run.json()["runs"][0]["lineage"].clone()
}

/// Waits (bounded) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_refusing_backend_hands_off_to_one_background_deliverer() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let env = [("OPENLINEAGE_URL", url.as_str())];

    let first = run_piped(&ctx, &env, &["run", "demo", "-o", "json"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    let lineage = run_json(&first);
    assert_eq!(lineage["pending"], 2, "{lineage:#}");
    let pid = lineage["background"]
        .as_u64()
        .unwrap_or_else(|| panic!("no background deliverer: {lineage:#}"));

    // A second run while the backend is still down: the same deliverer takes its events.
    let second = run_piped(&ctx, &env, &["run", "demo", "-o", "json"]);
    assert_eq!(second.code, 0, "{}", second.transcript());
    let running = deliverers(&ctx.dk_home());
    assert!(running.len() <= 1, "more than one deliverer: {running:?}");
    if let Some(background) = run_json(&second)["background"].as_u64() {
        assert_eq!(background, pid, "a second deliverer was started");
    }
    let events = bounded(&ctx, &env, &["lineage", "events"]);
    assert!(
        events.stdout.contains("Connection refused")
            && events
                .stdout
                .contains(&format!("A background deliverer (pid {pid}) is sending")),
        "{}",
        events.stdout
    );

    // The backend comes back: the deliverer sends all four events, once each, and exits.
    let sink = HttpSink::start_on(port);
    eventually("delivery of the four events", || sink.received().len() >= 4);
    eventually("the deliverer's exit", || {
        deliverers(&ctx.dk_home()).is_empty()
    });
    let received = sink.received_keys();
    assert_eq!(received.len(), 4, "{received:?}");
    assert_eq!(received.iter().collect::<HashSet<_>>().len(), 4);
    let events = bounded(&ctx, &env, &["lineage", "events", "-o", "json"]).json();
    assert!(events.get("deliverer").is_none(), "{events:#}");
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["deliveries"][0]["state"] == "delivered"),
        "{events:#}"
    );
    let log = std::fs::read_to_string(ctx.dk_home().join("lineage/deliver.log")).unwrap();
    assert!(log.contains("nothing pending; exiting"), "{log}");
}

#[test]
fn a_healthy_backend_gets_the_events_before_the_run_exits() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    // A healthy backend answers START while the pipeline runs; this one runs long enough for
    // that on a loaded machine too.
    let main = ctx.read("demo/main.py");
    ctx.write(
        "demo/main.py",
        format!("import time\ntime.sleep(1)\n{main}"),
    );
    let sink = HttpSink::start();
    let url = sink.url();
    let run = run_piped(
        &ctx,
        &[("OPENLINEAGE_URL", &url)],
        &["run", "demo", "-o", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    assert_eq!(run_json(&run)["delivered"], 2, "{}", run.stdout);
    assert_eq!(sink.received().len(), 2);
    assert!(!ctx.dk_home().join("lineage/deliver.log").exists());
}

/// In a pod nothing outlives dk: no deliverer, delivery bounded by `lineage.timeout`, against a
/// backend that refuses and one that takes the connection and never answers.
#[test]
fn in_a_pod_delivery_is_synchronous_and_bounded() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    let refusing = format!("http://127.0.0.1:{}", closed_port());
    // Connections complete in the listen backlog; no request is ever answered.
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging = format!("http://{}", hanging.local_addr().unwrap());
    for url in [&refusing, &hanging] {
        let run = run_piped(
            &ctx,
            &[
                ("OPENLINEAGE_URL", url),
                ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
            ],
            &[
                "run",
                "demo",
                "-o",
                "json",
                "--config",
                "lineage.timeout=500ms",
            ],
        );
        assert_eq!(run.code, 0, "{}", run.transcript());
        let lineage = run_json(&run);
        assert!(lineage["background"].is_null(), "{lineage:#}");
        assert!(lineage["pending"].as_u64().unwrap() >= 2, "{lineage:#}");
    }
    assert!(!ctx.dk_home().join("lineage/deliver.log").exists());
    assert!(deliverers(&ctx.dk_home()).is_empty());

    // `lineage.delivery: sync` does the same outside a pod.
    let run = run_piped(
        &ctx,
        &[("OPENLINEAGE_URL", &refusing)],
        &[
            "run",
            "demo",
            "-o",
            "json",
            "--config",
            "lineage.timeout=300ms",
            "--config",
            "lineage.delivery=sync",
        ],
    );
    assert!(run_json(&run)["background"].is_null(), "{}", run.stdout);
    assert!(!ctx.dk_home().join("lineage/deliver.log").exists());
}

/// Pending events are picked up by the next `run`, `test`, `lineage` or `dev` command, never by
/// `lint`, `--version` or completions.
#[test]
fn recovery_starts_only_from_commands_that_deliver() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    let url = format!("http://127.0.0.1:{}", closed_port());
    let env = [("OPENLINEAGE_URL", url.as_str())];
    let sync = ["--config", "lineage.delivery=sync"];
    let run = bounded(
        &ctx,
        &env,
        &[
            "run",
            "demo",
            sync[0],
            sync[1],
            "--config",
            "lineage.timeout=200ms",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    let log = ctx.dk_home().join("lineage/deliver.log");
    for args in [
        &["lint", "demo"][..],
        &["--version"],
        &["completions", "bash"],
    ] {
        // Read as it is written: completions fill a pipe.
        run_piped(&ctx, &env, args);
        assert!(!log.exists(), "dk {} started a deliverer", args.join(" "));
    }
    let events = bounded(&ctx, &env, &["lineage", "events"]);
    assert_eq!(events.code, 0, "{}", events.transcript());
    eventually("the deliverer's log", || log.exists());
}

/// A backend that takes the connection and never answers is handed off like one that refuses.
#[test]
fn a_hanging_backend_hands_off_too() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    let hanging = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", hanging.local_addr().unwrap());
    let run = run_piped(
        &ctx,
        &[("OPENLINEAGE_URL", &url)],
        &["run", "demo", "-o", "json"],
    );
    assert_eq!(run.code, 0, "{}", run.transcript());
    let lineage = run_json(&run);
    assert_eq!(lineage["pending"], 2, "{lineage:#}");
    assert!(lineage["background"].is_u64(), "{lineage:#}");
}
