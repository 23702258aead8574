//! The lineage web UI in headless Chromium (playwright-core, from `scripts/test-services`),
//! against stores filled by real `dk run`s: search, graph, PII badges, a failed run's error, the
//! dataset and governance pages, the sign-in page, the Content-Security-Policy and a hostile
//! name rendered as text; and the UI on the native dev stack's web port. Screenshots go to
//! target/test-artifacts/lineage-ui/.

mod common;

use std::path::PathBuf;

use serde_json::{Value, json};

use common::{context, http_get, http_request, lineage_server, run_ok, run_with, stop_server};
use dk_test::{TestContext, service};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ui/lineage_ui.js");

/// Node with playwright-core and Chromium, or `None` (and SKIPPED) without them.
fn browser() -> Option<String> {
    let node = service("DK_TEST_NODE", "Node.js for the browser tests")?;
    service("DK_TEST_CHROMIUM", "Chromium")?;
    service("DK_TEST_PLAYWRIGHT", "playwright-core")?;
    Some(node)
}

fn artifacts() -> PathBuf {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/test-artifacts/lineage-ui");
    std::fs::create_dir_all(&dir).expect("create the artifacts directory");
    dir
}

/// Runs the browser script with `config` and returns what it saw.
fn drive(node: &str, mut config: Value) -> Value {
    config["artifacts"] = json!(artifacts());
    let output = std::process::Command::new(node)
        .arg(SCRIPT)
        .arg(config.to_string())
        .output()
        .expect("run node");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_slice(&output.stdout).expect("the script prints JSON");
    // The page never broke its own policy nor threw.
    assert_eq!(seen["problems"], json!([]), "{seen:#}");
    seen
}

fn manifest(kind: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

fn file_dataset(ctx: &TestContext, dir: &str, name: &str, classification: &str, pii: bool) {
    ctx.write(
        format!("{dir}dataset/{name}.yaml"),
        manifest(
            "DataSet",
            name,
            &format!("  store: files\n  path: {name}.csv\n  format: csv\n  classification: {classification}\n  retention:\n    days: 30\n  schema:\n    - name: id\n      type: integer\n    - name: email\n      type: string\n      pii: {pii}\n"),
        ),
    );
}

fn files_store(ctx: &TestContext, dir: &str) {
    ctx.write(
        format!("{dir}store/files.yaml"),
        manifest(
            "Store",
            "files",
            "  connector: file\n  connection:\n    path: data\n",
        ),
    );
}

/// A generic-python package `name` reading `input` and writing `output`; `code` ends main.py.
fn package(ctx: &TestContext, name: &str, input: &str, output: &str, code: &str) {
    ctx.write(
        format!("{name}/dk.yaml"),
        manifest(
            "Transform",
            name,
            &format!("  runtime: generic-python\n  owner: data-team\n  description: The {name} step\n  inputs: [{{dataset: {input}}}]\n  outputs: [{{dataset: {output}}}]\n"),
        ),
    );
    ctx.write(
        format!("{name}/main.py"),
        format!("import sys\nprint('{name} ran')\n{code}\n"),
    );
}

const HOSTILE: &str = "<img src=x onerror=window.pwned=1>";

#[test]
fn the_web_ui_shows_runs_of_a_three_package_project_with_pii_and_renders_hostile_names_as_text() {
    let Some(node) = browser() else {
        return;
    };
    let ctx = context();
    ctx.write(".dk/.keep", "");
    files_store(&ctx, "");
    for (name, classification, pii) in [
        ("raw-customers", "confidential", true),
        ("customers", "confidential", true),
        ("customers-clean", "confidential", true),
        ("customer-stats", "internal", false),
    ] {
        file_dataset(&ctx, "", name, classification, pii);
    }
    ctx.write("data/raw-customers.csv", "id,email\n1,a@example.com\n");
    package(&ctx, "ingest", "raw-customers", "customers", "");
    package(&ctx, "clean", "customers", "customers-clean", "");
    package(
        &ctx,
        "report",
        "customers-clean",
        "customer-stats",
        "sys.exit('the stats table is locked')",
    );
    let scan = run_with(&ctx, &[], &["run", "--scan-dir", ".", "-o", "json"]);
    assert_eq!(scan.code, 1, "{}", scan.transcript());
    assert_eq!(scan.json()["failed"], 1, "{}", scan.transcript());

    let token = "ui-t0ken";
    let (server, base) = lineage_server(&ctx, &[("DK_LINEAGE_TOKEN", token)], &[]);
    let hostile = json!({
        "eventType": "COMPLETE", "eventTime": "2026-11-30T10:00:00Z",
        "run": {"runId": "01a22e4e-0000-7000-8000-0000000000aa"},
        "job": {"namespace": "default", "name": HOSTILE},
        "inputs": [], "outputs": [{"namespace": "default", "name": format!("{HOSTILE}-out")}],
        "producer": "https://example.com/attacker", "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
    });
    // Writes are refused without the token, so the attacker here is someone who has it (or a
    // server without a token): what matters is how the UI shows the name.
    let lineage = format!("{base}/api/v1/lineage");
    let bearer = format!("Bearer {token}");
    let json_type = ("Content-Type", "application/json");
    let posted = http_request(
        &lineage,
        "POST",
        &[("Authorization", &bearer), json_type],
        &hostile.to_string(),
    );
    assert!(posted.starts_with("HTTP/1.1 201"), "{posted}");
    let anonymous = http_request(&lineage, "POST", &[json_type], &hostile.to_string());
    assert!(anonymous.starts_with("HTTP/1.1 401"), "{anonymous}");
    // DNS rebinding: another host name is refused even with the right path.
    let rebound = http_request(&base, "GET", &[("Host", "attacker.example:80")], "");
    assert!(rebound.starts_with("HTTP/1.1 421"), "{rebound}");
    // The page itself needs no token (it holds no data); the data does.
    assert!(http_get(&format!("{base}/lineage/job/default/report")).starts_with("HTTP/1.1 200"));
    assert!(http_get(&format!("{base}/api/v1/ui/governance")).starts_with("HTTP/1.1 401"));

    let clean = ctx.work().join("data/customers-clean.csv");
    let clean_id = format!("dataset:file:{}", clean.display());
    let seen = drive(
        &node,
        json!({
            "mode": "full", "base": base, "token": token, "search": "repo",
            "job": {"namespace": "default", "name": "report"},
            "dataset": {"namespace": "file", "name": clean.display().to_string()},
            "expand": clean_id, "depth": 6,
            "hostile": {"namespace": "default", "name": HOSTILE},
        }),
    );
    assert!(stop_server(server).success());

    let csp = seen["headers"]["content-security-policy"].as_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(seen["headers"]["x-frame-options"], "DENY");
    assert_eq!(seen["signIn"], true, "the sign-in page comes first");
    assert_eq!(seen["wrongToken"], "That token was refused.");
    assert!(
        seen["url"]
            .as_str()
            .unwrap()
            .ends_with("/lineage/job/default/report"),
        "search opened the job's deep link: {}",
        seen["url"]
    );

    // Depth 2 around `report`: its input and output, and the job writing its input.
    let ids: Vec<&str> = seen["graph"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let stats_id = format!(
        "dataset:file:{}",
        ctx.work().join("data/customer-stats.csv").display()
    );
    for expected in [
        "job:default:report",
        "job:default:clean",
        &clean_id,
        &stats_id,
    ] {
        assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
    }
    let edges = seen["graph"]["edges"].as_array().unwrap();
    assert!(
        edges.contains(&json!([clean_id, "job:default:report"])),
        "{edges:?}"
    );
    assert!(
        edges.contains(&json!(["job:default:report", stats_id])),
        "{edges:?}"
    );
    let node = |id: &str| {
        seen["graph"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap()
            .clone()
    };
    let report = node("job:default:report");
    assert!(
        report["classes"].as_str().unwrap().contains("failed"),
        "{report}"
    );
    assert!(
        report["text"]
            .as_array()
            .unwrap()
            .contains(&json!("FAILED")),
        "{report}"
    );
    let clean_node = node(&clean_id);
    let badges = clean_node["text"].as_array().unwrap();
    assert!(
        badges.contains(&json!("PII 1")) && badges.contains(&json!("confidential")),
        "{clean_node}"
    );
    assert!(
        !node(&stats_id)["text"]
            .as_array()
            .unwrap()
            .contains(&json!("PII 1"))
    );

    // The failed run's error message, as the API has it, is in the run history.
    let runs = &seen["runs"];
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs[0]["failed"], true);
    assert_eq!(runs[0]["cells"][0], "FAILED");
    let error = runs[0]["cells"][4].as_str().unwrap();
    assert!(error.contains("exited with code 1"), "{error}");
    assert!(
        seen["meta"]
            .as_array()
            .unwrap()
            .contains(&json!("data-team")),
        "owner: {}",
        seen["meta"]
    );

    // Deeper: the whole chain; the expanded dataset lists its fields with PII marked.
    assert_eq!(
        seen["deep"]["nodes"].as_array().unwrap().len(),
        7,
        "{}",
        seen["deep"]
    );
    assert_eq!(
        seen["deep"]["fields"],
        json!([{"name": "id", "pii": false}, {"name": "email", "pii": true}])
    );

    let dataset = &seen["dataset"];
    assert_eq!(dataset["fields"][1]["cells"][0], "email");
    assert_eq!(dataset["fields"][1]["cells"][1], "string");
    assert_eq!(dataset["fields"][1]["pii"], true);
    assert_eq!(dataset["fields"][0]["pii"], false);
    assert_eq!(dataset["producers"], json!(["clean"]));
    assert_eq!(dataset["consumers"], json!(["report"]));
    assert_eq!(dataset["badges"], json!(["confidential", "PII 1"]));

    // Every PII dataset with its readers: raw → ingest, customers → clean, clean → report.
    let flows: Vec<(String, String)> = seen["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            (
                row[0]
                    .as_str()
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .to_owned(),
                row[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for (source, job) in [
        ("customers", "clean"),
        ("customers-clean", "report"),
        ("raw-customers", "ingest"),
    ] {
        assert!(
            flows.contains(&(source.to_owned(), job.to_owned())),
            "{flows:?}"
        );
    }

    let hostile = &seen["hostile"];
    assert_eq!(hostile["title"], HOSTILE);
    assert_eq!(hostile["images"], 0);
    assert_eq!(hostile["imagesAfterSearch"], 0);
    assert_eq!(hostile["pwned"], false);
    assert!(
        hostile["results"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains(HOSTILE)),
        "{hostile}"
    );
    assert_eq!(seen["darkBackground"], "rgb(20, 23, 27)", "the dark theme");
    for file in [
        "ui-graph.png",
        "ui-graph-dark.png",
        "ui-dataset.png",
        "ui-governance.png",
    ] {
        assert!(
            artifacts().join(file).metadata().unwrap().len() > 1000,
            "{file}"
        );
    }
}

#[test]
fn lineage_open_starts_browser_on_the_node_and_prints_the_url_without_one() {
    let ctx = context();
    run_ok(&ctx, &["init", "demo", "--runtime", "generic-python"], 0);
    run_ok(&ctx, &["run", "./demo"], 0);
    let seen = ctx.root().join("opened");
    common::fake_program(
        &ctx,
        "fake-browser",
        &format!("printf '%s' \"$1\" > {}", seen.display()),
    );
    let browser = ctx.root().join("bin/fake-browser").display().to_string();
    let opened = run_with(
        &ctx,
        &[("BROWSER", &browser)],
        &["lineage", "demo", "--open"],
    );
    assert_eq!(opened.code, 0, "{}", opened.transcript());
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        "http://localhost:3000/lineage/job/default/demo"
    );
    // The dev stack's web port as configured (a user who moved it was sent to :3000).
    run_ok(
        &ctx,
        &["config", "set", "dev.services.lineage.webPort", "23000"],
        0,
    );
    let moved = run_with(
        &ctx,
        &[("BROWSER", &browser)],
        &["lineage", "demo", "--open"],
    );
    assert_eq!(moved.code, 0, "{}", moved.transcript());
    assert_eq!(
        std::fs::read_to_string(&seen).unwrap(),
        "http://localhost:23000/lineage/job/default/demo"
    );
    let none = run_with(
        &ctx,
        &[("BROWSER", "/nonexistent/browser")],
        &[
            "lineage",
            "demo",
            "--open",
            "--ui",
            "http://127.0.0.1:5000/",
            "-o",
            "json",
        ],
    );
    assert_eq!(
        none.code,
        0,
        "a headless machine is not an error: {}",
        none.transcript()
    );
    assert_eq!(
        none.json(),
        json!({"url": "http://127.0.0.1:5000/lineage/job/default/demo", "opened": false})
    );
}

#[test]
fn the_native_dev_stack_serves_the_ui_on_its_web_port_with_the_package_graph() {
    let (Some(node), Some(stack_bin)) = (
        browser(),
        service("DK_TEST_STACK_BIN", "dev stack program (tansu)"),
    ) else {
        return;
    };
    let ctx = context();
    let ports: Vec<u16> = (0..6)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    for (key, port) in [
        "postgres.port",
        "s3.port",
        "s3.webPort",
        "kafka.port",
        "lineage.port",
        "lineage.webPort",
    ]
    .iter()
    .zip(&ports)
    {
        run_ok(
            &ctx,
            &[
                "config",
                "set",
                &format!("dev.services.{key}"),
                &port.to_string(),
            ],
            0,
        );
    }
    let web = ports[5];
    let path = format!("{stack_bin}:{}", std::env::var("PATH").unwrap_or_default());
    let env = [("PATH", path.as_str())];
    let stop = || run_with(&ctx, &env, &["dev", "down", "--volumes"]);
    let up = run_with(&ctx, &env, &["dev", "up", "--runtime", "native"]);
    if up.code != 0 {
        stop();
        panic!("{}", up.transcript());
    }
    let address = format!("http://localhost:{web}");
    assert!(
        up.stdout.contains(&address),
        "dk dev up prints the UI: {}",
        up.stdout
    );
    let status = run_with(&ctx, &env, &["dev", "status", "-o", "json"]);
    assert!(status.stdout.contains(&address), "{}", status.stdout);

    ctx.write(".dk/.keep", "");
    files_store(&ctx, "shop/");
    file_dataset(&ctx, "shop/", "signups", "confidential", true);
    file_dataset(&ctx, "shop/", "signup-stats", "internal", false);
    ctx.write("shop/data/signups.csv", "id,email\n1,a@example.com\n");
    package(&ctx, "shop", "signups", "signup-stats", "");
    let run = run_with(&ctx, &env, &["run", "shop"]);
    if run.code != 0 {
        stop();
        panic!("{}", run.transcript());
    }
    let seen = drive(
        &node,
        json!({"mode": "dev", "base": format!("http://127.0.0.1:{web}"), "job": {"namespace": "default", "name": "shop"}}),
    );
    let page = http_get(&format!(
        "http://127.0.0.1:{web}/api/v1/namespaces/default/jobs/shop"
    ));
    stop();
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let nodes = seen["graph"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    let signups = nodes
        .iter()
        .find(|n| n["text"][0] == "signups")
        .unwrap_or_else(|| panic!("{nodes:?}"));
    assert!(
        signups["text"]
            .as_array()
            .unwrap()
            .contains(&json!("PII 1")),
        "{signups}"
    );
    assert!(artifacts().join("ui-dev-stack.png").exists());
}
