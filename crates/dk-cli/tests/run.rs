//! `dk run`, `dk lineage`, `dk test` and `dk dev seed` end to end: real pipelines (python3, Go,
//! dbt), real PostgreSQL from `scripts/test-services`, a loopback HTTP backend, and every
//! emitted event checked against the OpenLineage schema.

mod common;

use std::time::{Duration, Instant};

use common::{
    Run, SEEDED_CUSTOMERS, context, counts_on_postgres, fake_program, fresh_database,
    git_repository, http_get, lineage_server, remote_postgres_output, run, run_ok, run_with,
    signal_when_ready, stop_server,
};
use dk_test::openlineage::OpenLineageValidator;
use dk_test::sink::{HttpSink, closed_port};
use dk_test::{TestContext, service};
use serde_json::Value;

/// A generic-python package from `dk init`, with `main.py` replaced when `main` is given.
fn python_package(ctx: &TestContext, name: &str, main: Option<&str>) {
    run_ok(ctx, &["init", name, "--runtime", "generic-python"], 0);
    if let Some(main) = main {
        ctx.write(format!("{name}/main.py"), main);
    }
}

/// The recorded events (oldest first), each checked against the OpenLineage schema.
fn recorded_events(ctx: &TestContext, run: Option<&str>) -> Vec<Value> {
    let mut args = vec!["lineage", "events", "-o", "json"];
    if let Some(run) = run {
        args.extend(["--run", run]);
    }
    let listed = run_ok(ctx, &args, 0).json();
    let validator = OpenLineageValidator::new();
    let entries = listed["events"].as_array().expect("events").clone();
    for entry in &entries {
        validator.assert_valid(&entry["event"]);
    }
    entries
}

fn event_types(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|entry| entry["eventType"].as_str().expect("eventType"))
        .collect()
}

fn single_run(result: &Run) -> Value {
    let summary = result.json();
    assert_eq!(
        summary["runs"].as_array().map(Vec::len),
        Some(1),
        "{summary:#}"
    );
    summary["runs"][0].clone()
}

/// The acceptance path of the FAQ: a fresh package runs with nothing else running, its events
/// are valid OpenLineage, and `dk lineage` shows its inputs and outputs.
#[test]
fn init_then_run_records_valid_lineage_shown_by_dk_lineage() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    let result = run_ok(&ctx, &["run", "./demo"], 0);
    assert!(
        result.stdout.contains("✓ demo succeeded"),
        "{}",
        result.transcript()
    );
    assert!(
        result.stdout.contains("wrote 5 rows"),
        "{}",
        result.transcript()
    );
    assert_eq!(
        ctx.read("demo/data/output/customers-clean.csv")
            .lines()
            .count(),
        6
    );

    let events = recorded_events(&ctx, None);
    assert_eq!(event_types(&events), ["START", "COMPLETE"]);
    let complete = &events[1]["event"];
    assert_eq!(complete["job"]["name"], "demo");
    assert_eq!(complete["inputs"][0]["namespace"], "file");
    assert!(
        complete["outputs"][0]["name"]
            .as_str()
            .unwrap()
            .ends_with("/demo/data/output/customers-clean.csv")
    );

    let lineage = run_ok(&ctx, &["lineage", "demo"], 0);
    for expected in ["demo-raw", "demo-clean", "COMPLETE"] {
        assert!(
            lineage.stdout.contains(expected),
            "{}",
            lineage.transcript()
        );
    }
    let graph = run_ok(&ctx, &["lineage", "demo", "-o", "json"], 0).json();
    let labels: Vec<(&str, i64)> = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| {
            let node = &pair[0];
            let label = node["alias"].as_str().or(node["name"].as_str()).unwrap();
            (label, pair[1].as_i64().unwrap())
        })
        .collect();
    assert_eq!(labels, [("demo-raw", -1), ("demo", 0), ("demo-clean", 1)]);
    let upstream = run_ok(
        &ctx,
        &["lineage", "demo-clean", "--upstream", "-o", "mermaid"],
        0,
    );
    assert!(
        upstream.stdout.contains("flowchart LR"),
        "{}",
        upstream.stdout
    );
    assert!(upstream.stdout.contains("demo-raw"), "{}", upstream.stdout);
}

/// A package in a git repository names its code (remote without credentials, commit, branch,
/// folder); a scheduler's planned time becomes `nominalTime`.
#[test]
fn events_name_the_source_code_and_the_nominal_time() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    git_repository(
        &ctx.work(),
        "https://bot:ghp_secret@github.com/acme/pipelines.git",
    );
    let env = [("DK_NOMINAL_TIME", "2026-11-26T06:00:00Z")];
    run_ok(&ctx, &["run", "demo", "-q"], 0);
    let result = run_with(&ctx, &env, &["run", "demo"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    let events = recorded_events(&ctx, None);
    let event = &events.last().unwrap()["event"];
    let source = &event["job"]["facets"]["sourceCodeLocation"];
    assert_eq!(source["url"], "https://github.com/acme/pipelines.git");
    assert_eq!(source["path"], "demo");
    assert_eq!(source["branch"], "main");
    assert_eq!(source["version"].as_str().map(str::len), Some(40));
    assert_eq!(
        event["run"]["facets"]["nominalTime"]["nominalStartTime"],
        "2026-11-26T06:00:00.000Z"
    );
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains("ghp_secret")
    );
}

#[test]
fn events_reach_openlineage_url_with_the_api_key_and_no_secret_is_printed() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    let sink = HttpSink::start();
    let url = sink.url();
    let result = run_with(
        &ctx,
        &[
            ("OPENLINEAGE_URL", &url),
            ("OPENLINEAGE_API_KEY", "s3cr3t-key"),
        ],
        &["run", "demo", "-o", "json"],
    );
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(!result.transcript().contains("s3cr3t-key"));
    let run = single_run(&result);
    assert_eq!(run["lineage"]["delivered"], 2, "{run:#}");

    let received = sink.received();
    assert_eq!(received.len(), 2);
    let validator = OpenLineageValidator::new();
    for request in &received {
        assert_eq!(request.path, "/api/v1/lineage");
        assert_eq!(request.header("authorization"), Some("Bearer s3cr3t-key"));
        validator.assert_valid(&request.json());
    }
    let types: Vec<Value> = received
        .iter()
        .map(|r| r.json()["eventType"].clone())
        .collect();
    assert_eq!(types, ["START", "COMPLETE"]);
    // Nothing is left spooled once delivered, and the store says so.
    let events = recorded_events(&ctx, run["runId"].as_str());
    for entry in &events {
        assert_eq!(entry["spooled"], false);
        assert_eq!(entry["deliveries"][0]["state"], "delivered");
    }
}

/// The backend down for the whole run: the run succeeds within the bounded wait, the events
/// stay spooled, and `dk lineage flush` delivers each exactly once when it is back.
#[test]
fn a_backend_that_is_down_never_fails_a_run_and_flush_delivers_once() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    // Synchronous delivery (as in a pod): no background deliverer races the flushes below.
    run_ok(&ctx, &["config", "set", "lineage.delivery", "sync"], 0);
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let result = run_with(
        &ctx,
        &[("OPENLINEAGE_URL", &url)],
        &[
            "run",
            "demo",
            "--config",
            "lineage.timeout=500ms",
            "-o",
            "json",
        ],
    );
    assert_eq!(result.code, 0, "{}", result.transcript());
    // A loose bound (the pipeline plus the 0.5 s wait), only to catch a run that retries forever.
    assert!(started.elapsed() < Duration::from_secs(30));
    let run = single_run(&result);
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["lineage"]["pending"], 2, "{run:#}");
    assert!(
        result.stderr.contains("Connection refused"),
        "{}",
        result.stderr
    );

    let events = recorded_events(&ctx, None);
    assert!(
        events
            .iter()
            .all(|e| e["spooled"] == true && e["deliveries"][0]["state"] == "pending")
    );

    let sink = HttpSink::start_on(port);
    let flushed = run_with(
        &ctx,
        &[("OPENLINEAGE_URL", &url)],
        &["lineage", "flush", "-o", "json"],
    );
    assert_eq!(flushed.code, 0, "{}", flushed.transcript());
    assert_eq!(flushed.json()["delivered"], 2);
    let again = run_with(
        &ctx,
        &[("OPENLINEAGE_URL", &url)],
        &["lineage", "flush", "-o", "json"],
    );
    assert_eq!(again.json()["delivered"], 0);
    let keys = sink.received_keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_ne!(keys[0], keys[1]);
    let events = recorded_events(&ctx, None);
    assert!(
        events
            .iter()
            .all(|e| e["spooled"] == false && e["deliveries"][0]["state"] == "delivered")
    );
}

#[test]
fn flush_with_the_backend_still_down_exits_3_and_keeps_events() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    // Synchronous delivery (as in a pod): no background deliverer races the flushes below.
    run_ok(&ctx, &["config", "set", "lineage.delivery", "sync"], 0);
    let url = format!("http://127.0.0.1:{}", closed_port());
    let env = [("OPENLINEAGE_URL", url.as_str())];
    run_ok(
        &ctx,
        &["run", "demo", "--config", "lineage.timeout=200ms"],
        0,
    );
    // The first run had no backend: its events are settled locally. This one has one.
    let result = run_with(
        &ctx,
        &env,
        &["run", "demo", "--config", "lineage.timeout=200ms"],
    );
    assert_eq!(result.code, 0, "{}", result.transcript());
    let flushed = run_with(&ctx, &env, &["lineage", "flush", "--timeout", "300ms"]);
    assert_eq!(flushed.code, 3, "{}", flushed.transcript());
    assert!(flushed.stdout.contains("2 pending"), "{}", flushed.stdout);
}

/// `dk lineage serve` as a backend for `dk run`, read back through the Marquez API.
#[test]
fn dk_lineage_serve_receives_runs_and_answers_marquez_reads() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    let (server, base) = lineage_server(&ctx, &[], &[]);

    let result = run_with(
        &ctx,
        &[("OPENLINEAGE_URL", base.as_str())],
        &["run", "demo", "-o", "json"],
    );
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert_eq!(
        single_run(&result)["lineage"]["delivered"],
        2,
        "{}",
        result.transcript()
    );
    let namespaces = http_get(&format!("{base}/api/v1/namespaces"));
    assert!(namespaces.starts_with("HTTP/1.1 200"), "{namespaces}");
    assert!(namespaces.contains("\"name\":\"default\""), "{namespaces}");
    let graph = http_get(&format!(
        "{base}/api/v1/lineage?nodeId=job:default:demo&depth=2"
    ));
    assert!(graph.contains("\"id\":\"job:default:demo\""), "{graph}");
    assert!(graph.contains("customers-clean.csv"), "{graph}");

    assert!(stop_server(server).success(), "the server stops cleanly");
}

#[test]
fn a_5xx_answer_is_retried_until_accepted() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    // Synchronous delivery (as in a pod): no background deliverer races the flushes below.
    run_ok(&ctx, &["config", "set", "lineage.delivery", "sync"], 0);
    let sink = HttpSink::start();
    sink.respond_with(&[500]);
    let url = sink.url();
    let result = run_with(
        &ctx,
        &[("OPENLINEAGE_URL", &url)],
        &["run", "demo", "-o", "json"],
    );
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert_eq!(
        single_run(&result)["lineage"]["delivered"],
        2,
        "{}",
        result.transcript()
    );
    let types: Vec<Value> = sink
        .received()
        .iter()
        .map(|r| r.json()["eventType"].clone())
        .collect();
    assert_eq!(types, ["START", "START", "COMPLETE"]);
    let events = recorded_events(&ctx, None);
    assert_eq!(events[0]["deliveries"][0]["attempts"], 2);
}

#[test]
fn a_failing_pipeline_emits_fail_with_its_error_and_passes_its_exit_code() {
    let ctx = context();
    python_package(
        &ctx,
        "broken",
        Some("import sys\nprint('boom', file=sys.stderr)\nsys.exit(7)\n"),
    );
    let result = run_with(&ctx, &[], &["run", "broken"]);
    assert_eq!(result.code, 7, "{}", result.transcript());
    assert!(
        result.stdout.contains("✗ broken failed"),
        "{}",
        result.stdout
    );
    assert!(result.stderr.contains("boom"));
    let events = recorded_events(&ctx, None);
    assert_eq!(event_types(&events), ["START", "FAIL"]);
    let message = &events[1]["event"]["run"]["facets"]["errorMessage"];
    assert_eq!(message["message"], "the pipeline exited with code 7");
    assert_eq!(message["programmingLanguage"], "python");
}

#[test]
fn a_timeout_stops_the_pipeline_with_exit_124() {
    let ctx = context();
    python_package(&ctx, "slow", Some("import time\ntime.sleep(60)\n"));
    let result = run_with(&ctx, &[], &["run", "slow", "--timeout", "300ms"]);
    assert_eq!(result.code, 124, "{}", result.transcript());
    assert!(result.stdout.contains("timed out"), "{}", result.stdout);
    let events = recorded_events(&ctx, None);
    assert_eq!(event_types(&events), ["START", "FAIL"]);
}

/// Ctrl-C: dk forwards SIGINT to the pipeline, which stops cleanly; the run is ABORTed.
#[test]
fn sigint_is_forwarded_and_the_run_aborts() {
    let ctx = context();
    python_package(
        &ctx,
        "stream",
        Some(
            "import os, pathlib, signal, time\n\
             stopping = []\n\
             signal.signal(signal.SIGINT, lambda *_: stopping.append(True))\n\
             pathlib.Path(os.environ['READY']).write_text('up')\n\
             while not stopping:\n    time.sleep(0.05)\n\
             pathlib.Path(os.environ['READY']).write_text('stopped cleanly')\n",
        ),
    );
    let ready = ctx.work().join("ready");
    let mut command = ctx.dk_process();
    command
        .args(["run", "stream", "--set", "spec.mode=streaming", "--env"])
        .arg(format!("READY={}", ready.display()));
    let output = signal_when_ready(command, &ready, rustix::process::Signal::INT);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("was stopped"), "{stdout}");
    assert_eq!(std::fs::read_to_string(&ready).unwrap(), "stopped cleanly");
    let events = recorded_events(&ctx, None);
    assert_eq!(event_types(&events), ["START", "ABORT"]);
    assert_eq!(
        events[0]["event"]["job"]["facets"]["jobType"]["processingType"],
        "STREAMING"
    );
}

#[test]
fn dry_run_shows_the_plan_with_secrets_hidden_and_runs_nothing() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    remote_postgres_output(&ctx, "demo");
    let missing = run_with(&ctx, &[], &["run", "demo", "--dry-run"]);
    assert_eq!(missing.code, 2, "{}", missing.transcript());
    assert!(
        missing.stderr.contains("WAREHOUSE_PASSWORD"),
        "{}",
        missing.stderr
    );

    let env = [("WAREHOUSE_PASSWORD", "hunter2-very-secret")];
    let result = run_with(
        &ctx,
        &env,
        &["run", "demo", "--dry-run", "--env", "LOG=debug"],
    );
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(!result.transcript().contains("hunter2-very-secret"));
    for expected in [
        "DK_STORE_DSN_WAREHOUSE=postgresql://etl:***@db.example.com:5432/shop",
        "DK_STORE_TYPE_WAREHOUSE=postgres",
        "LOG=debug",
        "output demo-clean  warehouse (postgres)  public.customers_clean",
        "main.py",
    ] {
        assert!(
            result.stdout.contains(expected),
            "missing {expected}:\n{}",
            result.stdout
        );
    }
    let plan = run_with(&ctx, &env, &["run", "demo", "--dry-run", "-o", "json"]).json();
    assert_eq!(plan["runs"][0]["datasets"][1]["storeType"], "postgres");
    assert!(
        !ctx.work().join("demo/data/output").exists(),
        "a dry run ran the pipeline"
    );
    assert!(
        !ctx.dk_home().join("lineage").exists(),
        "a dry run recorded lineage"
    );
}

#[test]
fn a_missing_tool_is_named_with_how_to_install_it() {
    let ctx = context();
    run_ok(&ctx, &["init", "sync", "--runtime", "cloudquery"], 0);
    let empty_path = ctx.root().join("no-tools").display().to_string();
    let result = run_with(&ctx, &[("PATH", &empty_path)], &["run", "sync"]);
    assert_eq!(result.code, 2, "{}", result.transcript());
    assert!(
        result
            .stderr
            .contains("error: cloudquery is not installed (not on PATH)"),
        "{}",
        result.stderr
    );
    assert!(
        result.stderr.contains("hint: install the CloudQuery CLI"),
        "{}",
        result.stderr
    );
    assert!(
        !ctx.dk_home().join("lineage").exists(),
        "nothing starts without its tool"
    );
}

/// The Docker executor's plan: the same contract inside `spec.image`. Only the plan is checked
/// (no Docker engine runs here), so any `docker` on PATH will do for the lookup.
#[test]
fn the_docker_executor_passes_the_contract_into_the_image() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    let raw = ctx.read("demo/dk.yaml");
    ctx.write(
        "demo/dk.yaml",
        raw.replace(
            "  mode: batch\n",
            "  mode: batch\n  image: ghcr.io/acme/demo:0.1.0\n",
        ),
    );
    let path = fake_program(&ctx, "docker", "exit 1\n");
    let env = [("PATH", path.as_str())];
    let plan = run_with(
        &ctx,
        &env,
        &[
            "run",
            "demo",
            "--executor",
            "docker",
            "--dry-run",
            "-o",
            "json",
        ],
    );
    assert_eq!(plan.code, 0, "{}", plan.transcript());
    let run = &plan.json()["runs"][0];
    assert_eq!(run["executor"], "docker");
    let command: Vec<&str> = run["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&command[1..4], ["run", "--rm", "--init"]);
    assert_eq!(
        command[command.len() - 4..],
        [
            "--entrypoint",
            "python3",
            "ghcr.io/acme/demo:0.1.0",
            "main.py"
        ]
    );
    for variable in [
        "DK_CONTEXT",
        "DK_RUN_ID",
        "DK_STORE_DSN_LOCAL_FILES",
        "OPENLINEAGE_PARENT_ID",
    ] {
        assert!(
            command.windows(2).any(|pair| pair == ["-e", variable]),
            "{variable} not passed: {command:?}"
        );
    }
    let package = ctx.work().join("demo").display().to_string();
    assert!(
        command.contains(&format!("{package}:{package}").as_str()),
        "{command:?}"
    );
    // Without spec.image: the runtime's image, unless the configuration names another.
    let runtime_image = |ctx: &TestContext| {
        let plan = run_with(
            ctx,
            &env,
            &[
                "run",
                "demo",
                "--executor",
                "docker",
                "--set",
                "spec.image=",
                "--dry-run",
                "-o",
                "json",
            ],
        );
        assert_eq!(plan.code, 0, "{}", plan.transcript());
        let command = plan.json()["runs"][0]["command"].clone();
        let command = command.as_array().unwrap();
        command[command.len() - 2].as_str().unwrap().to_owned()
    };
    assert_eq!(
        runtime_image(&ctx),
        "docker.io/library/python:3.12-slim-bookworm"
    );
    run_ok(
        &ctx,
        &[
            "config",
            "set",
            "runtime.images.generic-python",
            "registry.example.com/python:3.12",
        ],
        0,
    );
    assert_eq!(runtime_image(&ctx), "registry.example.com/python:3.12");
    // `generic` runs the package's own image and command; it has no default image.
    let generic = run_with(
        &ctx,
        &env,
        &[
            "run",
            "demo",
            "--executor",
            "docker",
            "--set",
            "spec.runtime=generic",
            "--set",
            "spec.image=",
            "--dry-run",
        ],
    );
    assert_eq!(generic.code, 2, "{}", generic.transcript());
    assert!(
        generic
            .stderr
            .contains("the docker executor needs spec.image"),
        "{}",
        generic.transcript()
    );
}

/// A shared project: `first` writes `middle`, `second` reads it and fails, `third` is skipped.
#[test]
fn a_scan_runs_packages_in_dependency_order_and_stops_at_the_first_failure() {
    let ctx = context();
    ctx.write(".dk/.keep", "");
    ctx.write(
        "store/files.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1
kind: Store
metadata:
  name: files
spec:
  connector: file
  connection:
    path: data
",
    );
    for name in ["origin", "middle", "last", "final"] {
        ctx.write(
            format!("dataset/{name}.yaml"),
            format!(
                "apiVersion: datakit.infoblox.dev/v1alpha1
kind: DataSet
metadata:
  name: {name}
spec:
  store: files
  path: {name}.csv
  format: csv
  classification: internal
  schema:
    - name: id
      type: integer
"
            ),
        );
    }
    ctx.write("data/origin.csv", "id\n1\n");
    // Named so that alphabetical order is not the dependency order.
    for (name, input, output, code) in [
        ("c-first", "origin", "middle", 0),
        ("b-second", "middle", "last", 4),
        ("a-third", "last", "final", 0),
    ] {
        ctx.write(
            format!("{name}/dk.yaml"),
            format!(
                "apiVersion: datakit.infoblox.dev/v1alpha1
kind: Transform
metadata:
  name: {name}
spec:
  runtime: generic-python
  owner: data-team
  inputs: [{{dataset: {input}}}]
  outputs: [{{dataset: {output}}}]
"
            ),
        );
        ctx.write(
            format!("{name}/main.py"),
            format!("import sys\nprint('{name} ran')\nsys.exit({code})\n"),
        );
    }
    let result = run_with(&ctx, &[], &["run", "--scan-dir", ".", "-o", "json"]);
    assert_eq!(result.code, 4, "{}", result.transcript());
    let summary = result.json();
    let ran: Vec<&str> = summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["package"].as_str().unwrap())
        .collect();
    assert_eq!(ran, ["c-first", "b-second"]);
    assert_eq!(summary["skipped"], serde_json::json!(["a-third"]));
    assert_eq!(
        (&summary["total"], &summary["succeeded"], &summary["failed"]),
        (&3.into(), &1.into(), &1.into())
    );
    // Pipeline output goes to stderr under -o json, keeping stdout parseable.
    assert!(result.stderr.contains("c-first ran"));
    let text = run_with(&ctx, &[], &["run", "--scan-dir", "."]);
    assert!(
        text.stdout.contains("Ran 3 packages in")
            && text.stdout.contains("1 succeeded, 1 failed, 1 skipped"),
        "{}",
        text.stdout
    );
}

#[test]
fn run_refuses_a_package_with_lint_errors() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    let raw = ctx.read("demo/dk.yaml");
    ctx.write(
        "demo/dk.yaml",
        raw.replace("dataset: demo-raw", "dataset: nowhere"),
    );
    let result = run_with(&ctx, &[], &["run", "demo"]);
    assert_eq!(result.code, 1, "{}", result.transcript());
    assert!(
        result.stderr.contains("nothing was run"),
        "{}",
        result.stderr
    );
    assert!(!ctx.dk_home().join("lineage").exists());
}

#[test]
fn lineage_of_an_unknown_name_suggests_one() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    let empty = run_with(&ctx, &[], &["lineage", "demo"]);
    assert_eq!(empty.code, 1);
    assert!(
        empty.stderr.contains("nothing is recorded yet"),
        "{}",
        empty.stderr
    );
    run_ok(&ctx, &["run", "demo", "-q"], 0);
    let typo = run_with(&ctx, &[], &["lineage", "dmeo"]);
    assert!(
        typo.stderr.contains("did you mean `demo`?"),
        "{}",
        typo.stderr
    );
}

#[test]
fn dk_test_runs_pytest_in_test_mode_and_checks_streaming_packages_stay_up() {
    let ctx = context();
    let Some(path) = tools_path() else { return };
    python_package(&ctx, "demo", None);
    ctx.write(
        "demo/tests/test_mode.py",
        "import os\n\ndef test_mode():\n    assert os.environ['DK_TEST_MODE'] == 'true'\n    assert os.environ['DK_INPUTS'] == 'demo-raw'\n",
    );
    let env = [("PATH", path.as_str())];
    let passed = run_with(&ctx, &env, &["test", "demo"]);
    assert_eq!(passed.code, 0, "{}", passed.transcript());
    assert!(passed.stdout.contains("✓ demo passed"), "{}", passed.stdout);
    assert!(
        passed.stderr.contains("-m pytest -q tests"),
        "{}",
        passed.stderr
    );

    ctx.write(
        "demo/tests/test_fails.py",
        "def test_fails():\n    assert 1 == 2\n",
    );
    let failed = run_with(&ctx, &env, &["test", "demo", "-o", "json"]);
    assert_eq!(failed.code, 1, "{}", failed.transcript());
    assert_eq!(failed.json()["passed"], false);
    std::fs::remove_dir_all(ctx.work().join("demo/tests")).unwrap();

    // Without tests/, a streaming package itself runs: the template's loop stays up.
    let streaming = ["test", "demo", "--duration", "1s"];
    let raw = ctx.read("demo/dk.yaml");
    ctx.write(
        "demo/dk.yaml",
        raw.replace("mode: batch", "mode: streaming"),
    );
    let up = run_with(&ctx, &env, &streaming);
    assert_eq!(up.code, 0, "{}", up.transcript());
    ctx.write("demo/main.py", "print('gone')\n");
    let exited = run_with(&ctx, &env, &streaming);
    assert_eq!(exited.code, 1, "{}", exited.transcript());
    assert!(exited.stdout.contains("must stay up"), "{}", exited.stdout);
}

/// PATH with the pipeline tools of `scripts/test-services` (dbt, pytest, psycopg) first.
fn tools_path() -> Option<String> {
    let bin = service("DK_TEST_TOOLS_BIN", "pipeline tools (dbt, pytest)")?;
    Some(format!(
        "{bin}:{}",
        std::env::var("PATH").unwrap_or_default()
    ))
}

fn postgres_url() -> Option<String> {
    service("DK_TEST_POSTGRES_URL", "PostgreSQL")
}

/// The FAQ promise on real PostgreSQL: inputs are seeded, the pipeline reads and writes through
/// the DSN in its environment, and the password never shows.
#[test]
fn a_python_pipeline_reads_and_writes_postgres_through_the_contract() {
    let (Some(url), Some(path)) = (postgres_url(), tools_path()) else {
        return;
    };
    let ctx = context();
    let (database, store) = fresh_database(&url, "dk_run_python");
    python_package(
        &ctx,
        "counts",
        Some(
            "import os, psycopg\n\
             dsn = os.environ['DK_STORE_DSN_WAREHOUSE']\n\
             assert os.environ['DK_STORE_TYPE_WAREHOUSE'] == 'postgres'\n\
             with psycopg.connect(dsn) as db:\n\
             \x20   db.execute('CREATE TABLE IF NOT EXISTS public.countries (country text, customers bigint)')\n\
             \x20   db.execute('TRUNCATE public.countries')\n\
             \x20   db.execute('INSERT INTO public.countries SELECT country, count(*) FROM public.customers GROUP BY country')\n\
             print('counted')\n",
        ),
    );
    counts_on_postgres(&ctx, "counts", &store);
    let env = [
        ("PATH", path.as_str()),
        ("PGPASSWORD", "not-needed-but-secret"),
    ];
    let result = run_with(&ctx, &env, &["run", "counts"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(
        result
            .stderr
            .contains("Seeding customers (public.customers, profile=default): 3 row(s)..."),
        "{}",
        result.stderr
    );
    assert!(!result.transcript().contains("not-needed-but-secret"));

    let mut client = database
        .connect(postgres::NoTls)
        .expect("connect to the test database");
    let rows = client
        .query(
            "SELECT country, customers FROM public.countries ORDER BY country",
            &[],
        )
        .unwrap();
    let counts: Vec<(String, i64)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    assert_eq!(
        counts,
        [("AT".into(), 1), ("GB".into(), 1), ("US".into(), 1)]
    );

    let events = recorded_events(&ctx, None);
    assert_eq!(event_types(&events), ["START", "COMPLETE"]);
    let input = &events[1]["event"]["inputs"][0];
    assert_eq!(
        input["namespace"],
        format!("postgres://127.0.0.1:{}", database.get_ports()[0])
    );
    assert_eq!(input["name"], "dk_run_python.public.customers");
    assert!(
        !serde_json::to_string(&events)
            .unwrap()
            .contains("not-needed-but-secret")
    );
}

#[test]
fn dev_seed_loads_skips_unchanged_reloads_changed_and_cleans() {
    let Some(url) = postgres_url() else { return };
    let ctx = context();
    let (database, store) = fresh_database(&url, "dk_dev_seed");
    python_package(&ctx, "demo", None);
    ctx.write("demo/store/warehouse.yaml", &store);
    ctx.write("demo/dataset/customers.yaml", SEEDED_CUSTOMERS);
    let raw = ctx.read("demo/dk.yaml");
    ctx.write(
        "demo/dk.yaml",
        raw.replace("dataset: demo-raw", "dataset: customers"),
    );
    let env = [("PGPASSWORD", "x")];
    let first = run_with(&ctx, &env, &["dev", "seed", "demo"]);
    assert_eq!(first.code, 0, "{}", first.transcript());
    assert_eq!(first.stdout, "✓ Seeded 1 DataSet(s), 3 row(s) inserted\n");
    assert_eq!(
        first.stderr,
        "Seeding customers (public.customers, profile=default): 3 row(s)...\n"
    );
    let second = run_with(&ctx, &env, &["dev", "seed", "demo"]);
    assert_eq!(
        second.stdout,
        "✓ Seeded 0 DataSet(s), 0 row(s) inserted, 1 unchanged (skipped)\n"
    );
    let forced = run_with(
        &ctx,
        &env,
        &["dev", "seed", "demo", "--force", "--dataset", "customers"],
    );
    assert_eq!(forced.stdout, "✓ Seeded 1 DataSet(s), 3 row(s) inserted\n");

    let mut client = database.connect(postgres::NoTls).expect("connect");
    client
        .batch_execute(
            "INSERT INTO public.customers (id, email, country) VALUES (9, 'x@example.com', 'FR')",
        )
        .unwrap();
    ctx.write(
        "demo/dataset/customers.yaml",
        SEEDED_CUSTOMERS.replace(
            "        - {id: 3, email: hedy@example.com, country: AT}\n",
            "",
        ),
    );
    let changed = run_with(&ctx, &env, &["dev", "seed", "demo", "-o", "json"]);
    assert_eq!(changed.json()["rows"], 2);
    let count: i64 = client
        .query_one("SELECT count(*) FROM public.customers", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 2, "changed seed rows replace the table's rows");

    let unknown = run_with(
        &ctx,
        &env,
        &["dev", "seed", "demo", "--dataset", "custmers"],
    );
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("did you mean `customers`?"),
        "{}",
        unknown.stderr
    );
    let cleaned = run_with(&ctx, &env, &["dev", "seed", "demo", "--clean"]);
    assert_eq!(cleaned.code, 0, "{}", cleaned.transcript());
    let count: i64 = client
        .query_one("SELECT count(*) FROM public.customers", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

/// SQLite and file stores, rows inline or from CSV and JSON files, per profile; `dk run` seeds
/// its inputs before the pipeline starts.
#[test]
fn dev_seed_writes_sqlite_and_file_stores_from_profiles() {
    let ctx = context();
    python_package(
        &ctx,
        "local",
        Some(
            "import csv, json, os, sqlite3\n\
             context = json.load(open(os.environ['DK_CONTEXT']))\n\
             db = context['inputs'][0]['dsn'].removeprefix('sqlite://')\n\
             rows = sqlite3.connect(db).execute('select count(*) from customers').fetchone()[0]\n\
             print('customers', rows)\n",
        ),
    );
    for file in ["dataset/local-raw.yaml", "dataset/local-clean.yaml"] {
        std::fs::remove_file(ctx.work().join("local").join(file)).unwrap();
    }
    ctx.write(
        "local/store/db.yaml",
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: Store\nmetadata:\n  name: db\nspec:\n  connector: sqlite\n  connection:\n    path: data/local.sqlite\n",
    );
    let dataset = |name: &str, locator: &str, store: &str, seed: &str| {
        format!(
            "apiVersion: datakit.infoblox.dev/v1alpha1
kind: DataSet
metadata:
  name: {name}
spec:
  store: {store}
  {locator}
  classification: internal
  schema:
    - name: id
      type: integer
    - name: country
      type: string
  dev:
    seed:
{seed}"
        )
    };
    ctx.write(
        "local/dataset/customers.yaml",
        dataset(
            "customers",
            "table: customers",
            "db",
            "      inline:\n        - {id: 1, country: GB}\n      profiles:\n        large:\n          file: seeds/customers.csv\n",
        ),
    );
    ctx.write(
        "local/dataset/countries.yaml",
        dataset(
            "countries",
            "path: output/countries.csv\n  format: csv",
            "local-files",
            "      file: seeds/countries.json\n",
        ),
    );
    ctx.write(
        "local/seeds/customers.csv",
        "id,country\n1,GB\n2,\"US, east\"\n3,AT\n",
    );
    ctx.write(
        "local/seeds/countries.json",
        r#"[{"id": 1, "country": "GB"}, {"id": 2, "country": "FR"}]"#,
    );
    let raw = ctx.read("local/dk.yaml");
    ctx.write(
        "local/dk.yaml",
        raw.replace("dataset: local-raw", "dataset: customers")
            .replace("dataset: local-clean", "dataset: countries"),
    );

    let seeded = run_ok(&ctx, &["dev", "seed", "local"], 0);
    assert_eq!(seeded.stdout, "✓ Seeded 2 DataSet(s), 3 row(s) inserted\n");
    assert_eq!(
        ctx.read("local/data/output/countries.csv"),
        "id,country\n1,GB\n2,FR\n"
    );
    let large = run_ok(
        &ctx,
        &[
            "dev",
            "seed",
            "local",
            "--profile",
            "large",
            "--dataset",
            "customers",
            "-o",
            "json",
        ],
        0,
    )
    .json();
    assert_eq!(large["datasets"][0]["profile"], "large");
    assert_eq!(large["rows"], 3);
    let unknown = run_with(&ctx, &[], &["dev", "seed", "local", "--profile", "huge"]);
    assert_eq!(unknown.code, 1, "{}", unknown.transcript());
    assert!(
        unknown
            .stderr
            .contains("seed profile `huge` does not exist"),
        "{}",
        unknown.stderr
    );

    // `dk run` seeds the default rows of its input again (they changed), then runs.
    let result = run_ok(&ctx, &["run", "local"], 0);
    assert!(
        result
            .stderr
            .contains("Seeding customers (customers, profile=default): 1 row(s)..."),
        "{}",
        result.stderr
    );
    assert!(result.stdout.contains("customers 1"), "{}", result.stdout);
    let again = run_ok(&ctx, &["run", "local"], 0);
    assert!(
        again.stderr.contains("unchanged, skipped"),
        "{}",
        again.stderr
    );
}

/// dbt on DuckDB, as `dk init --runtime dbt` makes it: seeded input, `dbt build` for both.
#[test]
fn dbt_runs_on_duckdb() {
    let Some(path) = tools_path() else { return };
    let ctx = context();
    run_ok(&ctx, &["init", "marts", "--runtime", "dbt"], 0);
    let env = [("PATH", path.as_str()), ("DO_NOT_TRACK", "1")];
    let result = run_with(&ctx, &env, &["run", "marts", "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    // dk's own events: dbt-ol's, recorded with them when it is installed, have facets of its own.
    let run_id = single_run(&result)["runId"].as_str().unwrap().to_owned();
    let count = std::process::Command::new(format!("{}/python", std::env::var("DK_TEST_TOOLS_BIN").unwrap()))
        .args(["-c", "import duckdb,sys; print(duckdb.connect(sys.argv[1]).execute('select count(*) from main.customers_clean').fetchone()[0])"])
        .arg(ctx.work().join("marts/data/warehouse.duckdb"))
        .output()
        .expect("query duckdb");
    assert_eq!(
        String::from_utf8_lossy(&count.stdout).trim(),
        "3",
        "{}",
        String::from_utf8_lossy(&count.stderr)
    );
    let events = recorded_events(&ctx, Some(&run_id));
    assert_eq!(event_types(&events), ["START", "COMPLETE"]);
    let tested = run_with(&ctx, &env, &["test", "marts"]);
    assert_eq!(tested.code, 0, "{}", tested.transcript());
    assert!(tested.stderr.contains("dbt build"), "{}", tested.stderr);
}

/// With dbt-ol on PATH, dk runs it with OPENLINEAGE_PARENT_ID: dbt's own events reach the same
/// backend, nested under the dk run.
#[test]
fn dbt_ol_events_nest_under_the_dk_run() {
    let Some(path) = tools_path() else { return };
    let ctx = context();
    run_ok(&ctx, &["init", "marts", "--runtime", "dbt"], 0);
    let sink = HttpSink::start();
    let url = sink.url();
    let env = [
        ("PATH", path.as_str()),
        ("DO_NOT_TRACK", "1"),
        ("OPENLINEAGE_URL", url.as_str()),
    ];
    let result = run_with(&ctx, &env, &["run", "marts", "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(result.stderr.contains("dbt-ol build"), "{}", result.stderr);
    let run_id = single_run(&result)["runId"].clone();
    let received: Vec<Value> = sink.received().iter().map(|r| r.json()).collect();
    let ours = received
        .iter()
        .filter(|e| e["run"]["runId"] == run_id)
        .count();
    let nested = received
        .iter()
        .filter(|e| e["run"]["facets"]["parent"]["run"]["runId"] == run_id)
        .count();
    assert_eq!(ours, 2, "{received:#?}");
    assert!(
        nested >= 2,
        "no dbt-ol event names the dk run as its parent: {received:#?}"
    );
}

/// dbt on PostgreSQL: the profile comes from a postgres store, the password through the
/// environment only.
#[test]
fn dbt_runs_on_postgres() {
    let (Some(url), Some(path)) = (postgres_url(), tools_path()) else {
        return;
    };
    let ctx = context();
    let (database, store) = fresh_database(&url, "dk_run_dbt");
    run_ok(&ctx, &["init", "marts", "--runtime", "dbt"], 0);
    ctx.write("marts/store/warehouse.yaml", &store);
    for (file, from, to) in [
        (
            "marts/dataset/marts-raw.yaml",
            "table: main.customers",
            "table: public.customers",
        ),
        (
            "marts/dataset/marts-clean.yaml",
            "table: main.customers_clean",
            "table: public.customers_clean",
        ),
        ("marts/models/sources.yml", "schema: main", "schema: public"),
    ] {
        let text = ctx.read(file);
        assert!(text.contains(from), "{file} changed: {text}");
        ctx.write(file, text.replace(from, to));
    }
    ctx.write(
        "marts/models/customers_clean.sql",
        "select id, md5(lower(trim(email))) as email_hash, country,\n  to_char(cast(signup_date as date), 'YYYY-MM') as signup_month\nfrom {{ source('raw', 'customers') }}\n",
    );
    let env = [
        ("PATH", path.as_str()),
        ("DO_NOT_TRACK", "1"),
        ("PGPASSWORD", "dbt-secret-value"),
    ];
    let result = run_with(&ctx, &env, &["run", "marts", "-o", "json"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(!result.transcript().contains("dbt-secret-value"));
    let run_id = single_run(&result)["runId"].as_str().unwrap().to_owned();
    let mut client = database.connect(postgres::NoTls).expect("connect");
    let count: i64 = client
        .query_one("SELECT count(*) FROM public.customers_clean", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 3);
    recorded_events(&ctx, Some(&run_id));
}

#[test]
fn go_pipelines_run_and_test() {
    let Some(go) = service("DK_TEST_GO", "Go") else {
        return;
    };
    let ctx = context();
    run_ok(&ctx, &["init", "events", "--runtime", "generic-go"], 0);
    let dir = std::path::Path::new(&go)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let path = format!("{dir}:{}", std::env::var("PATH").unwrap_or_default());
    let cache = ctx.root().join("go-cache").display().to_string();
    let env = [("PATH", path.as_str()), ("GOCACHE", cache.as_str())];
    let result = run_with(&ctx, &env, &["run", "events"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(
        ctx.work()
            .join("events/data/output/customers-clean.csv")
            .exists()
    );
    let tested = run_with(&ctx, &env, &["test", "events"]);
    assert_eq!(tested.code, 0, "{}", tested.transcript());
    assert!(tested.stderr.contains("go test ./..."), "{}", tested.stderr);
}

/// `generic` runs `spec.command` on the host under the same contract; without a command it is a
/// usage error that says what to set.
#[test]
fn the_generic_runtime_runs_spec_command_on_the_host() {
    let ctx = context();
    python_package(&ctx, "any", None);
    let manifest = ctx.read("any/dk.yaml");
    ctx.write(
        "any/dk.yaml",
        manifest.replace(
            "  runtime: generic-python\n",
            "  runtime: generic\n  command: [sh, -c, 'echo \"run $DK_RUN_ID reads $DK_INPUTS\"; exit 5']\n",
        ),
    );
    let result = run_with(
        &ctx,
        &[("DK_RUN_ID", "01900000-0000-7000-8000-000000000123")],
        &["run", "any"],
    );
    assert_eq!(result.code, 5, "{}", result.transcript());
    assert!(
        result
            .stdout
            .contains("run 01900000-0000-7000-8000-000000000123 reads any-raw"),
        "{}",
        result.transcript()
    );
    let events = recorded_events(&ctx, None);
    assert_eq!(event_types(&events), ["START", "FAIL"]);
    assert_eq!(
        events[1]["event"]["run"]["facets"]["errorMessage"]["programmingLanguage"],
        "generic"
    );
    let without = run(&ctx, &["run", "any", "--set", "spec.command=[]"]);
    assert_eq!(without.code, 2, "{}", without.transcript());
    assert!(
        without
            .stderr
            .contains("runtime generic runs spec.command, and the package sets none"),
        "{}",
        without.transcript()
    );
    assert!(
        without.stderr.contains("hint: set spec.command"),
        "{}",
        without.transcript()
    );
}

/// The `stores:` of a GitOps values file, as the chart passes them: the manifest says one host,
/// the override another, and the run reads and writes the override's (the real PostgreSQL).
#[test]
fn store_overrides_point_a_postgres_store_at_another_host() {
    let (Some(url), Some(path)) = (postgres_url(), tools_path()) else {
        return;
    };
    let ctx = context();
    let (database, store) = fresh_database(&url, "dk_run_overrides");
    let port = database.get_ports()[0];
    python_package(
        &ctx,
        "counts",
        Some(
            "import os, psycopg\n\
             with psycopg.connect(os.environ['DK_STORE_DSN_WAREHOUSE']) as db:\n\
             \x20   db.execute('CREATE TABLE IF NOT EXISTS public.countries (country text, customers bigint)')\n\
             \x20   db.execute('TRUNCATE public.countries')\n\
             \x20   db.execute('INSERT INTO public.countries SELECT country, count(*) FROM public.customers GROUP BY country')\n",
        ),
    );
    // What dev's manifest says: a host and database that do not exist here.
    let dev = store
        .replace("host: 127.0.0.1", "host: db.dev.invalid")
        .replace(&format!("port: {port}"), "port: 1")
        .replace("database: dk_run_overrides", "dbname: dev_only");
    counts_on_postgres(&ctx, "counts", &dev);
    let overrides = format!(
        r#"{{"warehouse": {{"host": "127.0.0.1", "port": {port}, "database": "dk_run_overrides"}}}}"#
    );
    let env = [
        ("PATH", path.as_str()),
        ("PGPASSWORD", "not-needed-but-secret"),
        ("DK_STORE_OVERRIDES", overrides.as_str()),
    ];
    let result = run_with(&ctx, &env, &["run", "counts"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(!result.transcript().contains("not-needed-but-secret"));
    let mut client = database.connect(postgres::NoTls).expect("connect");
    let total: i64 = client
        .query_one("SELECT sum(customers)::bigint FROM public.countries", &[])
        .unwrap()
        .get(0);
    assert_eq!(total, 3);
    let events = recorded_events(&ctx, None);
    assert_eq!(event_types(&events), ["START", "COMPLETE"]);
    let complete = &events[1]["event"];
    for dataset in [&complete["inputs"][0], &complete["outputs"][0]] {
        assert_eq!(dataset["namespace"], format!("postgres://127.0.0.1:{port}"));
    }
    assert_eq!(
        complete["inputs"][0]["name"],
        "dk_run_overrides.public.customers"
    );
}

/// Overrides that cannot do what they say are refused before anything runs (exit 2), naming
/// the variable, the store and the key, never a value.
#[test]
fn store_overrides_refuse_secrets_unknown_stores_and_malformed_json() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    remote_postgres_output(&ctx, "demo");
    let password = ("WAREHOUSE_PASSWORD", "hunter2-very-secret");
    let refused = |overrides: &str, expected: &[&str]| {
        let result = run_with(
            &ctx,
            &[password, ("DK_STORE_OVERRIDES", overrides)],
            &["run", "demo", "--dry-run"],
        );
        assert_eq!(result.code, 2, "{overrides}: {}", result.transcript());
        for text in expected {
            assert!(
                result.stderr.contains(text),
                "{overrides}: missing {text}:\n{}",
                result.stderr
            );
        }
        assert!(result.stderr.contains("hint:"), "{}", result.stderr);
        assert!(!result.transcript().contains("s3cr3t-in-values"));
        assert!(!result.transcript().contains("hunter2-very-secret"));
    };
    refused(
        r#"{"warehouse": {"host": "s3cr3t-in-values""#,
        &["DK_STORE_OVERRIDES: not valid JSON"],
    );
    refused(
        r#"{"warehouse": "s3cr3t-in-values"}"#,
        &["DK_STORE_OVERRIDES: store 'warehouse': the override must be an object"],
    );
    refused(
        r#"{"warehouse": {"password": "s3cr3t-in-values"}}"#,
        &[
            "DK_STORE_OVERRIDES: store 'warehouse': `password` is a secret",
            "secrets:",
        ],
    );
    refused(
        r#"{"warehouse": {"api_token": "s3cr3t-in-values"}}"#,
        &["`api_token` is a secret"],
    );
    refused(
        r#"{"warehouse": {"hots": "db.prod.example.com"}}"#,
        &["`hots` is not a connection key of postgres stores"],
    );
    refused(
        r#"{"wharehouse": {"host": "db.prod.example.com"}}"#,
        &["store 'wharehouse' is not a store of this run (its stores: local-files, warehouse)"],
    );
    let result = run_with(
        &ctx,
        &[
            password,
            (
                "DK_STORE_OVERRIDES",
                r#"{"warehouse": {"host": "db.prod.example.com", "port": 6432}}"#,
            ),
        ],
        &["run", "demo", "--dry-run"],
    );
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert!(
        result
            .stdout
            .contains("DK_STORE_DSN_WAREHOUSE=postgresql://etl:***@db.prod.example.com:6432/shop"),
        "{}",
        result.stdout
    );
}

/// A CronJob's pod: no DK_NOMINAL_TIME, the schedule and timezone from the chart. dk takes the
/// latest time the schedule fired not after the start (pinned with DK_NOW) as the nominal time:
/// in the START event, in the pipeline's environment and in DK_CONTEXT.
#[test]
fn a_scheduled_run_computes_its_nominal_time() {
    let ctx = context();
    python_package(
        &ctx,
        "demo",
        Some(
            "import json, os\n\
             context = json.load(open(os.environ['DK_CONTEXT']))\n\
             seen = os.environ['DK_NOMINAL_TIME'] + ' ' + context['nominalTime']\n\
             open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'seen.txt'), 'w').write(seen)\n",
        ),
    );
    let sink = HttpSink::start();
    let url = sink.url();
    // 02:00 in Berlin on 26 November is 01:00 UTC; the pod starts 7 s later.
    let env = [
        ("DK_SCHEDULE", "0 2 * * *"),
        ("DK_TIMEZONE", "Europe/Berlin"),
        ("DK_NOW", "2026-11-26T01:00:07Z"),
        ("OPENLINEAGE_URL", url.as_str()),
    ];
    let result = run_with(&ctx, &env, &["run", "demo"]);
    assert_eq!(result.code, 0, "{}", result.transcript());
    assert_eq!(
        ctx.read("demo/seen.txt"),
        "2026-11-26T01:00:00Z 2026-11-26T01:00:00Z"
    );
    let validator = OpenLineageValidator::new();
    let received: Vec<Value> = sink.received().iter().map(|r| r.json()).collect();
    assert_eq!(received.len(), 2, "{received:#?}");
    for event in &received {
        validator.assert_valid(event);
    }
    assert_eq!(received[0]["eventType"], "START");
    assert_eq!(
        received[0]["run"]["facets"]["nominalTime"]["nominalStartTime"],
        "2026-11-26T01:00:00.000Z"
    );
    let events = recorded_events(&ctx, None);
    assert_eq!(
        events[0]["event"]["run"]["facets"]["nominalTime"]["nominalStartTime"],
        "2026-11-26T01:00:00.000Z"
    );

    // A scheduler that knows the planned time wins over the computation; without a timezone
    // the schedule is read in Etc/UTC.
    let given = run_with(
        &ctx,
        &[
            ("DK_SCHEDULE", "@hourly"),
            ("DK_NOMINAL_TIME", "2026-11-25T23:00:00Z"),
        ],
        &["run", "demo"],
    );
    assert_eq!(given.code, 0, "{}", given.transcript());
    assert_eq!(
        ctx.read("demo/seen.txt"),
        "2026-11-25T23:00:00Z 2026-11-25T23:00:00Z"
    );
    let utc = run_with(
        &ctx,
        &[
            ("DK_SCHEDULE", "@hourly"),
            ("DK_NOW", "2026-11-26T01:59:59Z"),
        ],
        &["run", "demo"],
    );
    assert_eq!(utc.code, 0, "{}", utc.transcript());
    assert_eq!(
        ctx.read("demo/seen.txt"),
        "2026-11-26T01:00:00Z 2026-11-26T01:00:00Z"
    );

    for (env, expected) in [
        (
            [("DK_SCHEDULE", "0 2 * *"), ("DK_TIMEZONE", "Etc/UTC")],
            "DK_SCHEDULE: cron `0 2 * *` does not parse",
        ),
        (
            [
                ("DK_SCHEDULE", "0 2 * * *"),
                ("DK_TIMEZONE", "Mars/Olympus"),
            ],
            "DK_TIMEZONE: `Mars/Olympus` is not an IANA timezone",
        ),
    ] {
        let refused = run_with(&ctx, &env, &["run", "demo"]);
        assert_eq!(refused.code, 2, "{}", refused.transcript());
        assert!(refused.stderr.contains(expected), "{}", refused.stderr);
        assert!(refused.stderr.contains("hint:"), "{}", refused.stderr);
    }
}

/// docs/orchestrators.md's crontab line, run as cron runs it (`/bin/sh -c`, `\%` unescaped):
/// the run nests under the cron job's run and carries the minute cron started it as its
/// nominal time.
#[test]
fn the_crontab_line_of_the_orchestrators_guide_nests_the_run_under_cron() {
    let ctx = context();
    python_package(&ctx, "demo", None);
    let guide = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/orchestrators.md"),
    )
    .expect("docs/orchestrators.md");
    let block = guide
        .split("```crontab\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a crontab block in docs/orchestrators.md");
    let entry = block
        .lines()
        .find(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .expect("a crontab entry");
    // Cron runs what follows the five time fields, with `%` written as `\%`.
    let command = entry
        .split_whitespace()
        .skip(5)
        .collect::<Vec<_>>()
        .join(" ")
        .replace("\\%", "%")
        .replace("/srv/pipelines", &ctx.work().display().to_string())
        .replace(
            "/var/log/dk-demo.log",
            &ctx.root().join("cron.log").display().to_string(),
        );
    let dk = std::path::Path::new(env!("CARGO_BIN_EXE_dk"));
    let before = chrono::Utc::now();
    let output = std::process::Command::new("/bin/sh")
        .args(["-c", &command])
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                dk.parent().unwrap().display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", ctx.home())
        .env("DK_SYSTEM_CONFIG", ctx.system_config())
        .env("NO_COLOR", "1")
        .current_dir(ctx.root())
        .output()
        .expect("run the crontab command");
    let after = chrono::Utc::now();
    let log = std::fs::read_to_string(ctx.root().join("cron.log")).unwrap_or_default();
    assert!(output.status.success(), "{command}\n{log}");
    assert!(log.contains("✓ demo succeeded"), "{log}");

    let events = recorded_events(&ctx, None);
    assert_eq!(event_types(&events), ["START", "COMPLETE"]);
    for entry in &events {
        let run = &entry["event"]["run"]["facets"];
        assert_eq!(run["parent"]["job"]["namespace"], "cron", "{run:#}");
        assert_eq!(run["parent"]["job"]["name"], "nightly-demo", "{run:#}");
        let parent = run["parent"]["run"]["runId"].as_str().unwrap();
        assert!(uuid::Uuid::parse_str(parent).is_ok(), "{parent}");
        let nominal = run["nominalTime"]["nominalStartTime"].as_str().unwrap();
        let nominal = chrono::DateTime::parse_from_rfc3339(nominal).unwrap();
        let minute = |time: chrono::DateTime<chrono::Utc>| time.timestamp() / 60 * 60;
        assert!(
            (minute(before)..=minute(after)).contains(&nominal.timestamp()),
            "{nominal} is not the minute the line ran ({before} .. {after})"
        );
    }
}
